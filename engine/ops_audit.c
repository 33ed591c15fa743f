/*
 * ops_audit.c: ListAuditEvents and VerifyAuditLog (audit/DESIGN.md).
 *
 * Verification reads every chain from the database page by page (each
 * page in an arena of its own, so a long chain never piles up in memory),
 * checks each event's hmac in the token and feeds the pure checker of
 * audit_record.c, and compares each chain's end with the head the token
 * recorded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "engine_internal.h"

#define AUDIT_DEFAULT_PAGE 100
#define AUDIT_MAX_PAGE 1000
#define VERIFY_PAGE 1000

/* ---- ListAuditEvents ------------------------------------------------------ */

/* "arn-prefix + name" then "-" and six characters, as a LIKE pattern. */
static const char *
name_pattern(struct engine_worker *w, struct cf_arena *a, const char *name)
{
	const char *pre = w->e->arn_prefix;
	char *out, *p;
	const char *s;

	if ((out = cf_arena_alloc(a, 2 * (strlen(pre) + strlen(name)) + 8)) ==
	    NULL)
		return (NULL);
	p = out;
	for (s = pre; *s != '\0'; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	for (s = name; *s != '\0'; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	memcpy(p, "-______", 8);
	return (out);
}

/* The cursor's key is "<chain id>:<seq>". */
static int
cursor_decode(struct engine_worker *w, const char *tok,
    struct store_audit_filter *f, struct cf_arena *a, struct cf_error *err)
{
	char key[65], *colon, *end;
	int64_t ms;

	if (engine_next_token_decode(tok, w->e->token_key->data, 'e', &ms, key,
	    err))
		return (-1);
	if ((colon = strchr(key, ':')) == NULL || colon - key != 36)
		goto bad;
	*colon = '\0';
	f->after_seq = strtoll(colon + 1, &end, 10);
	if (*end != '\0' || f->after_seq < 1)
		goto bad;
	if ((f->after_chain = cf_arena_strdup(a, key)) == NULL)
		return (engine_oom(err));
	f->after_ms = ms;
	f->has_after = 1;
	return (0);
bad:
	cf_error_set(err, CF_ERR_INVALID_NEXT_TOKEN,
	    "The NextToken value is invalid.");
	return (-1);
}

int
engine_list_audit_events(struct engine_worker *w,
    const struct engine_call *call, const struct engine_audit_list_req *req,
    struct engine_audit_list_resp *resp, struct cf_error *err)
{
	struct store_audit_filter f;
	const struct store_audit_row *last;
	char key[64];
	int limit, rc;

	memset(resp, 0, sizeof(*resp));
	memset(&f, 0, sizeof(f));
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);
	if (engine_check_max_results(req->has_max_results, req->max_results,
	    AUDIT_MAX_PAGE, err))
		return (-1);
	limit = req->has_max_results ? req->max_results : AUDIT_DEFAULT_PAGE;
	if (req->start_time < 0 || req->end_time < 0 || (req->start_time &&
	    req->end_time && req->end_time <= req->start_time)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "EndDate must be "
		    "after StartDate, and both positive.");
		return (-1);
	}

	/* Filters; a secret by ARN exactly, or by name under this server's
	 * ARN prefix (deleted secrets included). */
	if (req->secret_id != NULL) {
		if (engine_check_secret_id(req->secret_id, err))
			return (-1);
		if (strncmp(req->secret_id, "arn:", 4) == 0)
			f.secret_arn = req->secret_id;
		else if ((f.secret_like = name_pattern(w, call->arena,
		    req->secret_id)) == NULL)
			return (engine_oom(err));
	}
	f.principal = req->principal;
	f.operation = req->operation;
	f.outcome = req->outcome;
	f.start_ms = req->start_time;
	f.end_ms = req->end_time;
	if (req->next_token != NULL && cursor_decode(w, req->next_token, &f,
	    call->arena, err))
		return (-1);

	/* One more than asked for says whether there is a next page. */
	store_timeout_class(w->store, STORE_TIMEOUT_LIST);
	rc = store_audit_list(w->store, call->arena, &f, limit + 1,
	    &resp->events, &resp->n_events, err);
	store_timeout_class(w->store, STORE_TIMEOUT_DEFAULT);
	if (rc)
		return (-1);
	if (resp->n_events > (size_t)limit) {
		resp->n_events = (size_t)limit;
		last = &resp->events[limit - 1];
		snprintf(key, sizeof(key), "%s:%" PRId64, last->chain_id,
		    last->seq);
		if ((resp->next_token = engine_next_token_encode(call->arena,
		    w->e->token_key->data, 'e', last->time_ms, key)) == NULL)
			return (engine_oom(err));
	}
	return (0);
}

/* ---- VerifyAuditLog ----------------------------------------------------------- */

/* The anchor of a chain, if any, checked in the token: 0, or -1. */
static int
verify_anchor(struct engine_worker *w, struct audit_check *c,
    struct cf_error *err)
{
	uint8_t hash[AUDIT_HASH_LEN], mac[HSM_MAC_LEN];
	int64_t seq;
	int rc;

	if ((rc = store_audit_anchor(w->store, c->chain_id, &seq, hash, mac,
	    err)) != 1)
		return (rc);
	if ((rc = hsm_audit_mac_verify(w->hsm, hash, AUDIT_HASH_LEN, mac,
	    err)) == -1)
		return (-1);
	if (rc == 0) {
		/* An invented anchor: the chain then begins unexplained. */
		c->ok = 0;
		c->broken_seq = seq + 1;
		snprintf(c->reason, sizeof(c->reason), "the archive anchor at "
		    "event %" PRId64 " was not made from a real event (its "
		    "HMAC does not verify)", seq);
		return (0);
	}
	audit_check_anchor(c, seq, hash);
	return (0);
}

/* Walk one chain's events through the checker. */
static int
verify_walk(struct engine_worker *w, struct audit_check *c,
    struct cf_error *err)
{
	struct store_audit_row *rows;
	struct cf_arena *page;
	uint8_t after_hash[AUDIT_HASH_LEN];
	int64_t after_seq = 0;
	int have_after = 0, mac_ok;
	size_t n, i;

	do {
		if ((page = cf_arena_new()) == NULL)
			return (engine_oom(err));
		if (store_audit_scan(w->store, page, c->chain_id, after_seq,
		    have_after ? after_hash : NULL, VERIFY_PAGE, &rows, &n,
		    err)) {
			cf_arena_free(page);
			return (-1);
		}
		for (i = 0; i < n && c->ok; i++) {
			if ((mac_ok = hsm_audit_mac_verify(w->hsm, rows[i].hash,
			    AUDIT_HASH_LEN, rows[i].hmac, err)) == -1) {
				cf_arena_free(page);
				return (-1);
			}
			audit_check_row(c, &rows[i], mac_ok);
		}
		if (n > 0) {
			after_seq = rows[n - 1].seq;
			memcpy(after_hash, rows[n - 1].hash, AUDIT_HASH_LEN);
			have_after = 1;
		}
		cf_arena_free(page);
	} while (n == VERIFY_PAGE && c->ok);
	return (0);
}

/* The token's head of ${id}, or NULL. */
static const struct hsm_audit_head *
head_of(const struct hsm_audit_head *heads, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(heads[i].chain_id, id) == 0)
			return (&heads[i]);
	return (NULL);
}

/* Check one chain into ${out}. */
static int
verify_chain(struct engine_worker *w, const struct engine_call *call,
    const char *id, const struct hsm_audit_head *head,
    struct engine_audit_chain *out, struct cf_error *err)
{
	struct audit_check c;

	audit_check_init(&c, id, head, 1);
	if (verify_anchor(w, &c, err))
		return (-1);
	if (c.ok && verify_walk(w, &c, err))
		return (-1);
	audit_check_end(&c);

	memcpy(out->chain_id, c.chain_id, sizeof(out->chain_id));
	out->ok = c.ok;
	out->events = c.events;
	out->first_seq = c.first_seq;
	out->last_seq = c.last_seq;
	out->broken_seq = c.ok ? 0 : c.broken_seq;
	out->reason = c.ok ? NULL : cf_arena_strdup(call->arena, c.reason);
	out->head_in_token = head != NULL;
	out->head_seq = head != NULL ? head->seq : 0;
	out->anchored = c.anchored;
	if (!c.ok && out->reason == NULL)
		return (engine_oom(err));
	return (0);
}

int
engine_verify_audit(struct engine_worker *w, const struct engine_call *call,
    struct engine_audit_verify_resp *resp, struct cf_error *err)
{
	struct store_audit_chain *db = NULL;
	struct hsm_audit_head *heads = NULL;
	struct engine_audit_chain *out;
	size_t n_db = 0, n_heads = 0, n = 0, i, j;
	int rc = -1;

	memset(resp, 0, sizeof(*resp));
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);

	/* Every chain: the database's and the token's. */
	if (store_audit_chains(w->store, call->arena, &db, &n_db, err) ||
	    hsm_audit_heads(w->hsm, w->e->deployment, &heads, &n_heads, err))
		goto done;
	if ((out = cf_arena_alloc(call->arena, (n_db + n_heads + 1) *
	    sizeof(*out))) == NULL) {
		(void)engine_oom(err);
		goto done;
	}
	for (i = 0; i < n_db; i++)
		if (verify_chain(w, call, db[i].chain_id, head_of(heads,
		    n_heads, db[i].chain_id), &out[n++], err))
			goto done;

	/* A chain only the token knows: the database lost all of it. */
	for (j = 0; j < n_heads; j++) {
		for (i = 0; i < n_db; i++)
			if (strcmp(db[i].chain_id, heads[j].chain_id) == 0)
				break;
		if (i == n_db && verify_chain(w, call, heads[j].chain_id,
		    &heads[j], &out[n++], err))
			goto done;
	}

	resp->chains = out;
	resp->n_chains = n;
	resp->ok = 1;
	for (i = 0; i < n; i++) {
		resp->ok &= out[i].ok;
		resp->events += out[i].events;
	}
	rc = 0;
done:
	free(heads);
	return (rc);
}
