/*
 * ops_policy.c: resource policies (Put/Get/Delete/ValidateResourcePolicy,
 * as AWS has them) and identity policies (Coffer's IdentityPolicies
 * service; IAM holds them in AWS).
 *
 * A document is parsed before it is stored, so what is stored always
 * compiles; MalformedPolicyDocumentException names the first problem and
 * where it is.  Identity-policy changes notify every server (migration
 * 0005's trigger) and drop this process's cache at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "engine_internal.h"
#include "policy.h"

#define POLICY_NAME_MAX 128

/* Parse ${doc} as ${kind}; the compiled policy, or NULL with ${err}. */
static struct policy *
parse_doc(const char *doc, enum policy_kind kind, struct cf_error *err)
{

	if (doc == NULL || *doc == '\0') {
		cf_error_set(err, CF_ERR_MALFORMED_POLICY, "the policy document "
		    "must be 1 to %d characters long", POLICY_MAX_CHARS);
		return (NULL);
	}
	return (policy_parse(doc, strlen(doc), kind, err));
}

int
engine_put_resource_policy(struct engine_worker *w,
    const struct engine_call *call, const char *secret_id, const char *doc,
    int block_public, const char **out_arn, const char **out_name,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_secret sec;
	struct policy *p;
	int pub;

	if (engine_check_secret_id(secret_id, err))
		return (-1);
	if ((p = parse_doc(doc, POLICY_RESOURCE, err)) == NULL)
		return (-1);
	pub = policy_is_public(p);
	policy_free(p);
	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, secret_id, &sec, err))
		goto finish;
	if (block_public && pub) {
		cf_error_set(err, CF_ERR_PUBLIC_POLICY, "This resource policy "
		    "grants public access to the secret; BlockPublicPolicy "
		    "refuses it.");
		goto finish;
	}
	/* Decided: the change is held and sent with the event and COMMIT. */
	store_defer_writes(w->store);
	if (store_secret_set_policy(w->store, sec.uuid, doc, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	*out_arn = sec.arn;
	*out_name = sec.name;
	return (0);
}

int
engine_get_resource_policy(struct engine_worker *w,
    const struct engine_call *call, const char *secret_id,
    const char **out_arn, const char **out_name, const char **out_policy,
    struct cf_error *err)
{
	struct store_secret sec;

	if (engine_resolve(w, call, secret_id, 0, &sec, err))
		return (-1);
	*out_arn = sec.arn;
	*out_name = sec.name;
	*out_policy = sec.resource_policy;
	return (0);
}

int
engine_delete_resource_policy(struct engine_worker *w,
    const struct engine_call *call, const char *secret_id,
    const char **out_arn, const char **out_name, struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_secret sec;

	if (store_begin(w->store, err))
		return (-1);
	if (engine_resolve_live(w, call, secret_id, &sec, err))
		goto finish;
	/* Decided: the change is held and sent with the event and COMMIT. */
	store_defer_writes(w->store);
	if (sec.resource_policy != NULL &&
	    store_secret_set_policy(w->store, sec.uuid, NULL, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	*out_arn = sec.arn;
	*out_name = sec.name;
	return (0);
}

int
engine_validate_resource_policy(struct engine_worker *w,
    const struct engine_call *call, const char *secret_id, const char *doc,
    struct engine_validation *out, struct cf_error *err)
{
	struct policy_findings *f = NULL;
	const struct policy_finding *pf;
	struct store_secret sec;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (secret_id != NULL) {
		if (engine_resolve(w, call, secret_id, 0, &sec, err))
			return (-1);
	} else if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);
	if (doc == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "You must provide "
		    "a ResourcePolicy.");
		return (-1);
	}
	if (policy_validate(doc, strlen(doc), POLICY_RESOURCE, &f))
		return (engine_oom(err));
	n = policy_findings_count(f);
	out->passed = policy_findings_passed(f);
	if (n > 0 && (out->errors = cf_arena_alloc(call->arena,
	    n * sizeof(*out->errors))) == NULL) {
		policy_findings_free(f);
		return (engine_oom(err));
	}
	for (i = 0; i < n; i++) {
		pf = policy_findings_get(f, i);
		out->errors[i].check_name = cf_arena_strdup(call->arena,
		    pf->check);
		out->errors[i].type = policy_finding_type_name(pf->type);
		if ((out->errors[i].message = cf_arena_alloc(call->arena,
		    sizeof(pf->location) + sizeof(pf->message) + 3)) != NULL)
			snprintf(out->errors[i].message, sizeof(pf->location) +
			    sizeof(pf->message) + 3, "%s%s%s", pf->location,
			    pf->location[0] != '\0' ? ": " : "", pf->message);
		if (out->errors[i].check_name == NULL ||
		    out->errors[i].message == NULL) {
			policy_findings_free(f);
			return (engine_oom(err));
		}
	}
	out->n_errors = n;
	policy_findings_free(f);
	return (0);
}

/* ---- identity policies -------------------------------------------------- */

/* A policy name: IAM's [\w+=,.@-]{1,128}. */
static int
check_policy_name(const char *s, struct cf_error *err)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (s == NULL) {
		engine_missing(err, "policyName");
		return (-1);
	}
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    strchr("_+=,.@-", s[i]) != NULL))
			break;
	if (n < 1 || n > POLICY_NAME_MAX || i < n) {
		engine_invalid(err, "policyName", NULL, "have length between 1 "
		    "and %d and match [\\w+=,.@-]+", POLICY_NAME_MAX);
		return (-1);
	}
	return (0);
}

/* ResourceNotFoundException for a policy that is not there; returns -1. */
static int
no_such_policy(const char *principal, const char *name, struct cf_error *err)
{

	cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "Principal %.256s has no "
	    "identity policy named %.128s.", principal, name);
	return (-1);
}

int
engine_put_identity_policy(struct engine_worker *w,
    const struct engine_call *call, const char *principal, const char *name,
    const char *doc, struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_identity_policy *rows, one;
	struct policy *p;
	enum store_lookup rc;
	size_t n;

	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    engine_check_principal(principal, err) || check_policy_name(name, err))
		return (-1);
	if ((p = parse_doc(doc, POLICY_IDENTITY, err)) == NULL)
		return (-1);
	policy_free(p);
	if (store_begin(w->store, err))
		return (-1);
	if (store_identity_policy_list(w->store, call->arena, principal, NULL,
	    NULL, ENGINE_MAX_IDENTITY_POLICIES, &rows, &n, err) ||
	    (rc = store_identity_policy_get(w->store, call->arena, principal,
	    name, &one, err)) == STORE_ERROR)
		goto finish;
	if (rc == STORE_NOT_FOUND && n >= ENGINE_MAX_IDENTITY_POLICIES) {
		cf_error_set(err, CF_ERR_LIMIT_EXCEEDED, "A principal can have "
		    "at most %d identity policies.",
		    ENGINE_MAX_IDENTITY_POLICIES);
		goto finish;
	}
	if (store_identity_policy_put(w->store, principal, name, doc, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	engine_policies_changed(w->e);
	return (0);
}

int
engine_get_identity_policy(struct engine_worker *w,
    const struct engine_call *call, const char *principal, const char *name,
    struct engine_identity_policy *out, struct cf_error *err)
{
	struct store_identity_policy row;
	enum store_lookup rc;

	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    engine_check_principal(principal, err) || check_policy_name(name, err))
		return (-1);
	if ((rc = store_identity_policy_get(w->store, call->arena, principal,
	    name, &row, err)) == STORE_ERROR)
		return (-1);
	if (rc == STORE_NOT_FOUND)
		return (no_such_policy(principal, name, err));
	out->principal = row.principal;
	out->policy_name = row.policy_name;
	out->document = row.document;
	out->created_ms = row.created_ms;
	out->updated_ms = row.updated_ms;
	return (0);
}

/*
 * The ListIdentityPolicies cursor: the last row's key (principal, name),
 * longer than engine_next_token_encode's keys, travels in hex before a
 * "."; the MAC'd token after it holds the SHA-256 of that key, so the key
 * cannot be edited either.
 */
static const char *
cursor_encode(struct engine_worker *w, struct cf_arena *a,
    const struct store_identity_policy *last)
{
	size_t pl = strlen(last->principal), nl = strlen(last->policy_name);
	size_t klen = pl + 1 + nl;
	char *key, *out, *mac, digest[ENGINE_TOKEN_DIGEST_HEX + 1];

	if ((key = cf_arena_alloc(a, klen + 1)) == NULL)
		return (NULL);
	memcpy(key, last->principal, pl);
	key[pl] = '\n';
	memcpy(key + pl + 1, last->policy_name, nl);
	if (engine_next_token_digest(key, klen, digest) != ENGINE_DIGEST_OK ||
	    (mac = engine_next_token_encode(a, w->e->token_key->data, 'i', 0,
	    digest)) == NULL ||
	    (out = cf_arena_alloc(a, 2 * klen + 1 + strlen(mac) + 1)) == NULL)
		return (NULL);
	cf_hex_encode((const uint8_t *)key, klen, out);
	out[2 * klen] = '.';
	memcpy(out + 2 * klen + 1, mac, strlen(mac) + 1);
	return (out);
}

/* Decode a cursor into the principal and name it points after. */
static int
cursor_decode(struct engine_worker *w, struct cf_arena *a, const char *tok,
    const char **out_principal, const char **out_name, struct cf_error *err)
{
	char digest[ENGINE_TOKEN_DIGEST_HEX + 1];
	char want[ENGINE_TOKEN_DIGEST_HEX + 1], *key, *nl;
	const char *dot = strchr(tok, '.');
	size_t klen;
	int64_t zero;
	struct cf_error ignored;

	if (dot == NULL || (dot - tok) % 2 != 0 || dot == tok ||
	    (size_t)(dot - tok) > 2 * (ENGINE_PRINCIPAL_MAX + 1 + POLICY_NAME_MAX))
		goto bad;
	klen = (size_t)(dot - tok) / 2;
	if (engine_next_token_decode(dot + 1, w->e->token_key->data, 'i',
	    &zero, digest, err))
		return (-1);
	if ((key = cf_arena_alloc(a, klen + 1)) == NULL)
		return (engine_oom(err));
	if (cf_hex_decode(tok, 2 * klen, CF_HEX_ANY_CASE, (uint8_t *)key,
	    klen) != CF_HEX_OK)
		goto bad;
	key[klen] = '\0';
	if (engine_next_token_digest(key, klen, want) != ENGINE_DIGEST_OK ||
	    !engine_next_token_digest_equal(want, digest) ||
	    (nl = strchr(key, '\n')) == NULL || strlen(key) != klen)
		goto bad;
	*nl = '\0';
	if (engine_check_principal(key, &ignored) || check_policy_name(nl + 1,
	    &ignored))
		goto bad;
	*out_principal = key;
	*out_name = nl + 1;
	return (0);

bad:
	cf_error_set(err, CF_ERR_INVALID_NEXT_TOKEN,
	    "The NextToken value is invalid.");
	return (-1);
}

int
engine_list_identity_policies(struct engine_worker *w,
    const struct engine_call *call,
    const struct engine_identity_policy_list_req *req,
    struct engine_identity_policy **out, size_t *n,
    const char **out_next_token, struct cf_error *err)
{
	const char *principal = req->principal, *after_p = NULL,
	    *after_n = NULL;
	struct store_identity_policy *rows;
	size_t i;
	int limit, rc;

	*out = NULL;
	*n = 0;
	*out_next_token = NULL;
	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    (principal != NULL && engine_check_principal(principal, err)) ||
	    engine_check_max_results(req->has_max_results, req->max_results,
	    ENGINE_DEFAULT_PAGE, err))
		return (-1);
	limit = req->has_max_results ? req->max_results : ENGINE_DEFAULT_PAGE;
	if (req->next_token != NULL && cursor_decode(w, call->arena,
	    req->next_token, &after_p, &after_n, err))
		return (-1);

	/* One row more than the page says whether another page exists. */
	store_timeout_class(w->store, STORE_TIMEOUT_LIST);
	rc = store_identity_policy_list(w->store, call->arena, principal,
	    after_p, after_n, limit + 1, &rows, n, err);
	store_timeout_class(w->store, STORE_TIMEOUT_DEFAULT);
	if (rc)
		return (-1);
	if (*n > (size_t)limit) {
		*n = (size_t)limit;
		if ((*out_next_token = cursor_encode(w, call->arena,
		    &rows[limit - 1])) == NULL)
			return (engine_oom(err));
	}
	if (*n > 0 && (*out = cf_arena_alloc(call->arena,
	    *n * sizeof(**out))) == NULL)
		return (engine_oom(err));
	for (i = 0; i < *n; i++) {
		(*out)[i].principal = rows[i].principal;
		(*out)[i].policy_name = rows[i].policy_name;
		(*out)[i].document = NULL;
		(*out)[i].created_ms = rows[i].created_ms;
		(*out)[i].updated_ms = rows[i].updated_ms;
	}
	return (0);
}

int
engine_delete_identity_policy(struct engine_worker *w,
    const struct engine_call *call, const char *principal, const char *name,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	enum store_lookup rc;

	if (engine_authorize(w, call, NULL, NULL, NULL, NULL, err) ||
	    engine_check_principal(principal, err) || check_policy_name(name, err))
		return (-1);
	if (store_begin(w->store, err))
		return (-1);
	if ((rc = store_identity_policy_delete(w->store, principal, name,
	    err)) == STORE_ERROR)
		goto finish;
	if (rc == STORE_NOT_FOUND) {
		(void)no_such_policy(principal, name, err);
		goto finish;
	}
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);
	engine_policies_changed(w->e);
	return (0);
}
