/*
 * ops_batch.c: BatchGetSecretValue — up to 20 secrets by id, or a page of
 * secrets chosen by ListSecrets filters, each read at AWSCURRENT.  A secret
 * that cannot be read becomes an entry of Errors; only a failure of the
 * service itself (database or token down) fails the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* Errors that concern one secret rather than the whole call. */
static int
per_secret(enum cf_code code)
{

	switch (code) {
	case CF_ERR_RESOURCE_NOT_FOUND:
	case CF_ERR_INVALID_REQUEST:
	case CF_ERR_INVALID_PARAMETER:
	case CF_ERR_VALIDATION:
	case CF_ERR_DECRYPTION_FAILURE:
	case CF_ERR_ACCESS_DENIED:
		return (1);
	default:
		return (0);
	}
}

static int
batch_check(const struct engine_batch_req *req, struct cf_error *err)
{

	if (req->n_secret_ids > 0 && req->n_filters > 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Either "
		    "'SecretIdList' or 'Filters' must be provided, but not "
		    "both.");
		return (-1);
	}
	if (req->n_secret_ids == 0 && req->n_filters == 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Either "
		    "'SecretIdList' or 'Filters' must be provided.");
		return (-1);
	}
	if (req->has_max_results && req->n_filters == 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "'Filters' not "
		    "specified. 'Filters' must also be specified when "
		    "'MaxResults' is provided.");
		return (-1);
	}
	if (req->n_secret_ids > 20) {
		engine_invalid(err, "secretIdList", NULL, "have length less "
		    "than or equal to 20");
		return (-1);
	}
	if (engine_check_max_results(req->has_max_results,
	    req->max_results, 20, err))
		return (-1);
	return (0);
}

/*
 * Read one secret, with the read made ahead for it (${ahead}); a
 * per-secret failure becomes an Errors entry.
 */
static int
read_one(struct engine_worker *w, const struct engine_call *call,
    const char *id, const struct engine_read_ahead *ahead,
    struct engine_batch_resp *resp, struct cf_error *err)
{
	struct engine_get_req g = { id, NULL, NULL };
	struct engine_call c = *call;
	struct engine_batch_error *e;
	struct cf_error one = { 0 };

	/* Each secret needs GetSecretValue, as in AWS. */
	c.action = "secretsmanager:GetSecretValue";
	c.ahead = ahead;
	if (engine_get_secret_value(w, &c, &g,
	    &resp->values[resp->n_values], &one) == 0) {
		resp->n_values++;
		return (engine_audit_item(call,
		    resp->values[resp->n_values - 1].arn,
		    resp->values[resp->n_values - 1].version_id, "OK", err));
	}
	if (!per_secret(one.code)) {
		*err = one;
		return (-1);
	}
	if (engine_audit_item(call, id, NULL, cf_code_name(one.code), err))
		return (-1);
	e = &resp->errors[resp->n_errors++];
	e->secret_id = id;
	e->error_code = cf_code_name(one.code);
	if ((e->message = cf_arena_strdup(call->arena, one.msg)) == NULL)
		return (engine_oom(err));
	return (0);
}

int
engine_batch_get_secret_value(struct engine_worker *w,
    const struct engine_call *call, const struct engine_batch_req *req,
    struct engine_batch_resp *resp, struct cf_error *err)
{
	struct engine_list_req lr = { 0 };
	struct engine_list_resp list;
	struct engine_call lc = *call;
	struct engine_read_ahead *reads;
	size_t i, n;

	memset(resp, 0, sizeof(*resp));
	if (batch_check(req, err) ||
	    engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);

	/* By filters: a page of ListSecrets (20 at most), then each value. */
	if (req->n_filters > 0) {
		lr.filters = req->filters;
		lr.n_filters = req->n_filters;
		lr.has_max_results = 1;
		lr.max_results = req->has_max_results ? req->max_results : 20;
		lr.next_token = req->next_token;
		/* Filters need ListSecrets too. */
		lc.action = "secretsmanager:ListSecrets";
		if (engine_list_secrets(w, &lc, &lr, &list, err))
			return (-1);
		resp->next_token = list.next_token;
		n = list.n_secrets;
	} else
		n = req->n_secret_ids;

	resp->values = cf_arena_alloc(call->arena,
	    (n ? n : 1) * sizeof(*resp->values));
	resp->errors = cf_arena_alloc(call->arena,
	    (n ? n : 1) * sizeof(*resp->errors));
	reads = cf_arena_alloc(call->arena, (n ? n : 1) * sizeof(*reads));
	if (resp->values == NULL || resp->errors == NULL || reads == NULL)
		return (engine_oom(err));

	/*
	 * Every secret's read in one round trip (engine_read_ahead), then
	 * each secret as a GetSecretValue of its own: its own authorization,
	 * its own value opened, its own audit item.
	 */
	memset(reads, 0, (n ? n : 1) * sizeof(*reads));
	for (i = 0; i < n; i++) {
		reads[i].secret_id = req->n_filters > 0 ?
		    list.secrets[i].arn : req->secret_ids[i];
		reads[i].arena = call->arena;
	}
	engine_read_ahead(w, reads, n);
	for (i = 0; i < n; i++)
		if (read_one(w, call, reads[i].secret_id, &reads[i], resp,
		    err))
			return (-1);
	return (0);
}
