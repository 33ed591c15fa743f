/*
 * ops_audit.c: ListAuditEvents, VerifyAuditLog, RotateAuditKey and
 * ExportAuditKeyBundle (audit/DESIGN.md).
 *
 * Verification walks every chain with audit_verify_chain() (audit/
 * audit_verify.c), which `coffer audit verify --file` uses too: here its
 * events come from the database page by page (each page in an arena of
 * its own, so a long chain never piles up in memory), each event's hmac
 * is checked in the token, and each chain's end is compared with the head
 * the token recorded.  One call checks at most audit_verify_max_events
 * events for at most audit_verify_max_ms (about: the bound is looked at
 * between pages, and a part always ends at a signed event: past the bound
 * the walk goes on to the next one), then returns a NextToken naming the
 * chain and the event to go on after; the next call re-reads that event,
 * checks its hash and hmac, and continues the chain from it as from an
 * archive anchor.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cf_log.h"
#include "engine_internal.h"

#define AUDIT_DEFAULT_PAGE 100
#define AUDIT_MAX_PAGE 1000
#define VERIFY_HEAD_WAIT_MS 2000	/* for our own head to catch up */
#define VERIFY_IN_FLIGHT_MS 1000	/* beyond audit_head_max_lag */

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
	const struct cf_audit_row *last;
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

	/*
	 * Filters; a secret by ARN exactly (f.requested matches secret_arn
	 * too), or by name under this server's ARN prefix (deleted secrets
	 * included), and any call that asked for it by that SecretId, found
	 * or not (audit/DESIGN.md).
	 */
	if (req->secret_id != NULL) {
		if (engine_check_secret_id(req->secret_id, err))
			return (-1);
		f.requested = req->secret_id;
		if (strncmp(req->secret_id, "arn:", 4) != 0 &&
		    (f.secret_like = name_pattern(w, call->arena,
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
	enum hsm_mac_check rc;
	uint32_t version;
	int64_t seq;

	switch (store_audit_anchor(w->store, c->chain_id, &seq, hash, mac,
	    &version, err)) {
	case STORE_ERROR:
		return (-1);
	case STORE_NOT_FOUND:
		return (0);
	case STORE_FOUND:
		break;
	}
	if ((rc = hsm_audit_mac_verify(w->hsm, version, hash, AUDIT_HASH_LEN,
	    mac, err)) == HSM_MAC_ERROR)
		return (-1);
	/*
	 * An invented anchor (its hmac does not verify) is a finding: the
	 * chain then begins unexplained.  audit_anchors.hmac is NOT NULL, so
	 * an anchor always names a signed event.
	 */
	audit_check_anchor(c, seq, hash, version, rc == HSM_MAC_OK ?
	    AUDIT_MAC_OK : AUDIT_MAC_BAD);
	return (0);
}

/*
 * Go on with a chain where the previous call stopped, after event ${seq}:
 * that event, read again, must still hash to its hash and carry the
 * token's hmac (a call only ever stops at a signed event, audit_verify.c;
 * one without an hmac now is not the event it stopped at); its hash is
 * then where the chain continues (in ${hash}).
 */
static int
verify_resume(struct engine_worker *w, struct audit_check *c, int64_t seq,
    uint8_t *hash, int64_t *after_head_ms, struct cf_error *err)
{
	struct cf_audit_row *rows;
	struct cf_arena *a;
	uint8_t h[AUDIT_HASH_LEN];
	enum hsm_mac_check mac_ok = HSM_MAC_BAD;
	size_t n;

	if ((a = cf_arena_new()) == NULL)
		return (engine_oom(err));
	if (store_audit_scan(w->store, a, c->chain_id, seq, NULL, 1, &rows, &n,
	    err)) {
		cf_arena_free(a);
		return (-1);
	}
	if (n == 1 && rows[0].seq == seq && audit_row_hash(&rows[0], h) == 0 &&
	    memcmp(h, rows[0].hash, AUDIT_HASH_LEN) == 0 &&
	    !rows[0].hmac_absent && (mac_ok = hsm_audit_mac_verify(w->hsm, rows[0].mac_version,
	    rows[0].hash, AUDIT_HASH_LEN, rows[0].hmac, err)) == HSM_MAC_OK) {
		memcpy(hash, rows[0].hash, AUDIT_HASH_LEN);
		audit_check_anchor(c, seq, hash, rows[0].mac_version,
		    AUDIT_MAC_OK);

		/* The event after the token's head, if an earlier call saw it. */
		if (c->head_found && c->head_seq < seq) {
			if (store_audit_scan(w->store, a, c->chain_id,
			    c->head_seq + 1, NULL, 1, &rows, &n, err)) {
				cf_arena_free(a);
				return (-1);
			}
			if (n == 1 && rows[0].seq == c->head_seq + 1)
				*after_head_ms = rows[0].time_ms;
		}
	} else if (mac_ok != HSM_MAC_ERROR)
		audit_check_broken(c, seq, "event %" PRId64 ", where the "
		    "previous VerifyAuditLog call stopped, is missing or was "
		    "altered since", seq);
	cf_arena_free(a);
	return (mac_ok == HSM_MAC_ERROR ? -1 : 0);
}

/*
 * The database as audit_verify_chain()'s source: a chain's events in
 * (seq, hash) order from the start, or after the event whose hash is
 * ${after_hash} (the anchor of a resumed walk), a page at a time in an
 * arena of its own; each event's hmac checked in the token.
 */
struct db_source {
	struct engine_worker *w;
	const char *chain_id;
	int64_t after_seq;
	uint8_t after_hash[AUDIT_HASH_LEN];
	int have_after;
	struct cf_arena *page;		/* the rows last given out */
};

static int
db_fetch(void *arg, size_t want, const struct cf_audit_row **out,
    size_t *out_n, int *out_more, struct cf_error *err)
{
	struct db_source *d = arg;
	struct cf_audit_row *rows;
	size_t n;

	/* The last page is read; one row more says if others follow. */
	cf_arena_free(d->page);
	if ((d->page = cf_arena_new()) == NULL)
		return (engine_oom(err));
	if (store_audit_scan(d->w->store, d->page, d->chain_id, d->after_seq,
	    d->have_after ? d->after_hash : NULL, (int)want + 1, &rows, &n,
	    err))
		return (-1);
	*out_more = n > want;
	if (*out_more)
		n = want;
	if (n > 0) {
		d->after_seq = rows[n - 1].seq;
		memcpy(d->after_hash, rows[n - 1].hash, AUDIT_HASH_LEN);
		d->have_after = 1;
	}
	*out = rows;
	*out_n = n;
	return (0);
}

static int
db_mac(void *arg, const struct cf_audit_row *r, enum audit_mac *out,
    struct cf_error *err)
{
	struct db_source *d = arg;
	enum hsm_mac_check rc;

	/* An unsigned event: the token has nothing to check. */
	if (r->hmac_absent) {
		*out = AUDIT_MAC_ABSENT;
		return (0);
	}
	if ((rc = hsm_audit_mac_verify(d->w->hsm, r->mac_version, r->hash,
	    AUDIT_HASH_LEN, r->hmac, err)) == HSM_MAC_ERROR)
		return (-1);
	*out = rc == HSM_MAC_OK ? AUDIT_MAC_OK : AUDIT_MAC_BAD;
	return (0);
}

/* How many times the token's heads are read when a chain has none. */
#define VERIFY_HEAD_READS 3

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

/*
 * Check one chain into ${out}, from its start or (${resume_seq} > 0) after
 * that event, within ${b}; a chain cut short by the bound is not ended.
 */
static int
verify_chain(struct engine_worker *w, const struct engine_call *call,
    const struct audit_head_view *hv, const char *id,
    const struct hsm_audit_head *head, int64_t resume_seq,
    struct audit_bound *b, struct engine_audit_chain *out,
    struct cf_error *err)
{
	struct audit_check c;
	struct db_source d = { w, id, 0, { 0 }, 0, NULL };
	struct audit_source src = { db_fetch, db_mac, &d };
	int64_t after_head_ms = 0;
	int rc;

	if (head != NULL)
		audit_check_init(&c, id, AUDIT_HEAD_FOUND, head->seq,
		    head->hash);
	else
		audit_check_init(&c, id, AUDIT_HEAD_NONE, 0, NULL);
	if (resume_seq > 0 ? verify_resume(w, &c, resume_seq, d.after_hash,
	    &after_head_ms, err) : verify_anchor(w, &c, err))
		return (-1);

	/* A resumed walk goes on after the event the last call stopped at. */
	if (resume_seq > 0) {
		d.after_seq = resume_seq;
		d.have_after = 1;
	}
	rc = audit_verify_chain(&c, &src, hv, resume_seq > 0, after_head_ms, b,
	    err);
	cf_arena_free(d.page);
	if (rc)
		return (-1);

	memcpy(out->chain_id, c.chain_id, sizeof(out->chain_id));
	out->ok = c.ok;
	out->events = c.events;
	out->first_seq = c.first_seq;
	out->last_seq = c.last_seq;
	out->broken_seq = c.ok ? 0 : c.broken_seq;
	out->reason = c.ok ? NULL : cf_arena_strdup(call->arena, c.reason);
	out->head_in_token = head != NULL;
	out->head_seq = head != NULL ? head->seq : 0;
	out->anchored = c.anchored && resume_seq == 0;
	if (!c.ok && out->reason == NULL)
		return (engine_oom(err));
	return (0);
}

/* The continuation: the chain to go on with, and the event to go on after. */
static int
verify_cursor_decode(struct engine_worker *w, const char *tok, char *chain,
    int64_t *seq, struct cf_error *err)
{
	size_t i;

	if (engine_next_token_decode(tok, w->e->token_key->data, 'V', seq,
	    chain, err))
		return (-1);
	for (i = 0; chain[i] != '\0'; i++)
		if (strchr("0123456789abcdef-", chain[i]) == NULL)
			break;
	if (i != 36 || chain[i] != '\0' || *seq < 0) {
		cf_error_set(err, CF_ERR_INVALID_NEXT_TOKEN,
		    "The NextToken value is invalid.");
		return (-1);
	}
	return (0);
}

int
engine_verify_audit(struct engine_worker *w, const struct engine_call *call,
    const char *next_token, struct engine_audit_verify_resp *resp,
    struct cf_error *err)
{
	struct store_audit_chain *db = NULL;
	struct hsm_audit_head *heads = NULL;
	struct engine_audit_chain *out;
	struct audit_head_status st;
	struct audit_head_view hv = { NULL, 0, 0, 0 };
	struct audit_own_head *own;
	struct audit_bound b;
	char from[65] = "";
	int64_t from_seq = 0;
	size_t n_db = 0, n_heads = 0, n = 0, i, j;
	int rc = -1;

	memset(resp, 0, sizeof(*resp));
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);
	if (next_token != NULL && verify_cursor_decode(w, next_token, from,
	    &from_seq, err))
		return (-1);
	b.events_left = w->e->verify_max_events;
	b.deadline_ms = cf_mono_ms() + w->e->verify_max_ms;
	b.stop_seq = 0;
	store_timeout_class(w->store, STORE_TIMEOUT_LIST);

	/*
	 * Our own writers' heads first catch up with every event committed
	 * so far; what other writers commit meanwhile is in flight for
	 * audit_head_max_lag and a second.
	 */
	hv.in_flight_ms = AUDIT_HEAD_MAX_LAG_MS_DEFAULT + VERIFY_IN_FLIGHT_MS;
	if (w->e->audit != NULL) {
		audit_head_status(w->e->audit, &st);
		hv.n_own = audit_lanes(w->e->audit);
		if ((own = cf_arena_alloc(call->arena, hv.n_own *
		    sizeof(*own))) == NULL)
			return (engine_oom(err));
		audit_own_heads(w->e->audit, own, VERIFY_HEAD_WAIT_MS);
		hv.own = own;
		hv.in_flight_ms = st.max_lag_ms + VERIFY_IN_FLIGHT_MS;
	}

	/*
	 * Every chain: the database's and the token's.  A chain without a
	 * head is read again: a token that was changing its objects (a
	 * server starting and tidying, SoftHSM seeing another session's new
	 * object late) can hide one for a moment, and a head judged missing
	 * is a failure of the verification.
	 */
	if (store_audit_chains(w->store, call->arena, &db, &n_db, err))
		goto done;
	for (i = 0; i < VERIFY_HEAD_READS; i++) {
		free(heads);
		heads = NULL;
		if (hsm_audit_heads(w->hsm, w->e->deployment, &heads, &n_heads,
		    err))
			goto done;
		for (j = 0; j < n_db && head_of(heads, n_heads,
		    db[j].chain_id) != NULL; j++)
			;
		if (j == n_db)
			break;
	}
	hv.any_heads = n_heads > 0;
	if ((out = cf_arena_alloc(call->arena, (n_db + n_heads + 1) *
	    sizeof(*out))) == NULL) {
		(void)engine_oom(err);
		goto done;
	}

	/*
	 * The database's chains in chain id order, from where the previous
	 * call stopped; within the call's bound, after which the response
	 * says where to go on (a chain's event, or the next chain).
	 */
	for (i = 0; i < n_db; i++) {
		if (strcmp(db[i].chain_id, from) < 0)
			continue;
		if (verify_chain(w, call, &hv, db[i].chain_id, head_of(heads,
		    n_heads, db[i].chain_id), strcmp(db[i].chain_id, from) ==
		    0 ? from_seq : 0, &b, &out[n++], err))
			goto done;
		if (b.stop_seq == 0 && i + 1 < n_db && (b.events_left <= 0 ||
		    cf_mono_ms() >= b.deadline_ms)) {
			i++;
			break;
		}
		if (b.stop_seq != 0)
			break;
	}
	if (i < n_db) {
		if ((resp->next_token = engine_next_token_encode(call->arena,
		    w->e->token_key->data, 'V', b.stop_seq, db[i].chain_id)) ==
		    NULL) {
			(void)engine_oom(err);
			goto done;
		}
		j = n_heads;		/* the token's chains come last */
	} else
		j = 0;

	/* A chain only the token knows: the database lost all of it. */
	for (; j < n_heads; j++) {
		for (i = 0; i < n_db; i++)
			if (strcmp(db[i].chain_id, heads[j].chain_id) == 0)
				break;
		if (i == n_db && verify_chain(w, call, &hv, heads[j].chain_id,
		    &heads[j], 0, &b, &out[n++], err))
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
	store_timeout_class(w->store, STORE_TIMEOUT_DEFAULT);
	free(heads);
	return (rc);
}

/* ---- RotateAuditKey ---------------------------------------------------------- */

/* Record the wrapped copies of version ${version} in the transaction. */
static int
escrow_store(struct engine_worker *w, uint32_t version,
    const struct hsm_escrow *e, size_t n, struct cf_error *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (store_audit_escrow_add(w->store, version, e[i].recipient,
		    e[i].mechanism, e[i].wrapped, e[i].wrapped_len, err))
			return (-1);
	return (0);
}

int
engine_rotate_audit_key(struct engine_worker *w, const struct engine_call *call,
    uint32_t *out, struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct hsm_escrow *escrow = NULL;
	size_t n_escrow = 0;
	enum hsm_made made;
	uint32_t newest;

	*out = 0;
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);
	/*
	 * The token has no lock of its own: two servers rotating at once
	 * take turns on one in the database, so that each makes a version of
	 * its own.  The version is made in the token inside the transaction
	 * that carries this call's event, and so are the rows of its copies
	 * wrapped for auditors (audit_key_recipients); should the commit
	 * fail, the version exists anyway, without escrow, and the lanes
	 * find it (rotating again makes the next).
	 */
	if (store_begin(w->store, err) ||
	    store_lock_name(w->store, "coffer.audit_key", err) ||
	    engine_audit_keys_seal(w->hsm, w->store, err) ||
	    hsm_audit_key_newest(w->hsm, &newest, err))
		goto finish;
	if ((made = hsm_audit_key_version_create(w->hsm, newest + 1, &escrow,
	    &n_escrow, err)) != HSM_CREATED) {
		if (made == HSM_EXISTED)
			cf_error_set(err, CF_ERR_INTERNAL, "version %u of the "
			    "audit key appeared while it was made", newest + 1);
		goto finish;
	}
	if (escrow_store(w, newest + 1, escrow, n_escrow, err))
		goto finish;
	*out = newest + 1;
	end = ENGINE_TX_COMMIT;
finish:
	hsm_escrows_free(escrow, n_escrow);
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	/* This process's chains move to it at once, the others' in a second. */
	if (w->e->audit != NULL)
		audit_key_rotated(w->e->audit, *out);
	return (0);
}

int
engine_audit_keys_seal(struct hsm_session *hs,
    struct store *st, struct cf_error *err)
{
	uint32_t v[16];
	int64_t copies;
	size_t n, i;

	/*
	 * A version still extractable was being escrowed when its process
	 * died; the caller holds the audit key lock, so no rotation is
	 * halfway through it now.
	 */
	if (hsm_audit_keys_seal(hs, v, sizeof(v) / sizeof(v[0]), &n, err))
		return (-1);
	for (i = 0; i < n; i++) {
		if (store_audit_escrow_count(st, v[i], &copies, err))
			return (-1);
		if (copies == 0)
			cf_log(CF_LOG_WARN, "version %u of the audit key was "
			    "left extractable (its rotation stopped halfway) "
			    "and is now sealed; it has no escrow, so no "
			    "auditor's bundle will hold it", v[i]);
		else
			cf_log(CF_LOG_WARN, "version %u of the audit key was "
			    "left extractable (its rotation stopped halfway) "
			    "and is now sealed", v[i]);
	}
	return (0);
}

/* ---- ExportAuditKeyBundle ----------------------------------------------------- */

int
engine_export_audit_key_bundle(struct engine_worker *w,
    const struct engine_call *call, struct engine_escrowed_key **out,
    size_t *out_n, struct cf_error *err)
{
	struct engine_escrowed_key *k;
	struct store_audit_escrow *e;
	uint32_t newest;
	size_t n, i;

	*out = NULL;
	*out_n = 0;
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);
	/*
	 * Retired versions only: whoever holds the current one could write
	 * events a live chain would accept.  The token, not the table, says
	 * which version is current (a row of a newer one is not a reason).
	 */
	if (hsm_audit_key_newest(w->hsm, &newest, err) ||
	    store_audit_escrow_list(w->store, call->arena, newest, &e, &n,
	    err))
		return (-1);
	if ((k = cf_arena_alloc(call->arena, (n ? n : 1) * sizeof(*k))) ==
	    NULL)
		return (engine_oom(err));
	for (i = 0; i < n; i++) {
		/*
		 * The token vouches for each version's key (a row the
		 * database could forge would unwrap to another), once per
		 * version; a row of a version the token lacks fails the call.
		 */
		if (i > 0 && e[i].version == e[i - 1].version)
			memcpy(k[i].key_check, k[i - 1].key_check,
			    sizeof(k[i].key_check));
		else if (hsm_audit_mac(w->hsm, e[i].version,
		    (const uint8_t *)AUDIT_KEY_CHECK_MSG,
		    sizeof(AUDIT_KEY_CHECK_MSG) - 1, k[i].key_check, err))
			return (-1);
		k[i].version = e[i].version;
		k[i].recipient = e[i].recipient;
		k[i].mechanism = e[i].mechanism;
		k[i].wrapped = e[i].wrapped;
		k[i].wrapped_len = e[i].wrapped_len;
		k[i].created_ms = e[i].created_ms;
	}
	*out = k;
	*out_n = n;
	return (0);
}
