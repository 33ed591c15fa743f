/*
 * ops.c: CreateSecret, GetSecretValue, DescribeSecret and ListSecrets with
 * AWS Secrets Manager semantics (spec sections 2 and 4); PutSecretValue is
 * in ops_put.c.
 *
 * Writes run in one transaction that locks the secret's row before it
 * changes anything, so two servers racing on one secret serialize and
 * AWSCURRENT/AWSPREVIOUS always move together.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define MSG_SCHEDULED "You can't create this secret because a secret with " \
	"this name is already scheduled for deletion."

/* ---- CreateSecret ------------------------------------------------------- */

static int
create_check(const struct engine_create_req *req, struct cf_error *err)
{

	if (engine_check_name(req->name, err))
		return (-1);
	if (req->client_request_token == NULL) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_NEED_TOKEN);
		return (-1);
	}
	if (engine_check_token(req->client_request_token, err) ||
	    engine_check_description(req->description, err) ||
	    engine_check_kms_key_id(req->kms_key_id, err) ||
	    engine_check_value(&req->value, err) ||
	    engine_check_tags(req->tags, req->n_tags, err))
		return (-1);
	if (req->n_add_replica_regions > 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_ONE_REGION);
		return (-1);
	}
	return (0);
}

/*
 * The name is taken.  A retry of the same create (same token, same value)
 * succeeds with the existing version.  The same token with another value
 * is the token's error, as AWS words it ("You can't use
 * ClientRequestToken ..."); anything else is that the name exists.
 */
static int
create_existing(struct engine_worker *w, const struct engine_call *call,
    const struct engine_create_req *req, const struct store_secret *sec,
    struct engine_create_resp *resp, struct cf_error *err)
{
	struct store_version v;
	enum engine_token_version rc;

	engine_audit_at(call, sec->arn, NULL);
	if (sec->deleted_ms != 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_SCHEDULED);
		return (-1);
	}
	if (req->value.present) {
		rc = engine_version_for_token(w, call, sec,
		    req->client_request_token, &req->value, &v, err);
		if (rc == ENGINE_TOKEN_ERROR)
			return (-1);
		if (rc == ENGINE_TOKEN_RETRY) {
			resp->arn = sec->arn;
			resp->name = sec->name;
			resp->version_id = v.version_id;
			return (0);
		}
	}
	cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "The operation failed "
	    "because the secret %.512s already exists.", req->name);
	return (-1);
}

/*
 * The first version of a secret this transaction creates: AWSCURRENT, its
 * only label, nothing to prune and nothing to ask back, so the statement
 * is held with the secret's INSERT (store_defer_writes).
 */
static int
create_first_version(struct engine_worker *w, const struct engine_call *call,
    const struct store_secret *sec, const char *vid,
    const struct engine_value *val, struct cf_error *err)
{
	const char *labels[1] = { STAGE_CURRENT };
	struct store_version v;

	if (engine_seal(w, sec->uuid, vid, sec->kms_key_id, val, &v,
	    call->arena, err))
		return (-1);
	return (store_version_add(w->store, sec->uuid, &v, labels, 1, 1,
	    ENGINE_MAX_VERSIONS, ENGINE_PRUNE_AGE, ENGINE_MAX_LABELS, err));
}

/* One attempt at CreateSecret, in one transaction. */
static int
create_once(struct engine_worker *w, const struct engine_call *call,
    const struct engine_create_req *req, struct engine_create_resp *resp,
    struct cf_error *err)
{
	enum engine_tx_end end = ENGINE_TX_ROLLBACK;
	struct store_secret sec = { 0 };
	struct store_tag *tags = NULL;
	size_t i;
	enum store_lookup rc;

	/*
	 * The name, looked up outside any transaction: free, the usual
	 * case, the value is sealed before the transaction begins (BEGIN
	 * goes with the held writes, the event and the COMMIT), and a name
	 * another server takes meanwhile fails the commit.  Taken, it is
	 * looked up again with its row locked (an idempotent retry or an
	 * error), and, purged meanwhile, created in that transaction.
	 */
	rc = store_secret_by_name(w->store, call->arena, req->name, 0, &sec,
	    err);
	if (rc == STORE_ERROR)
		return (-1);
	if (store_begin(w->store, err))
		return (-1);
	if (rc == STORE_FOUND)
		rc = store_secret_by_name(w->store, call->arena, req->name, 1,
		    &sec, err);
	if (rc == STORE_ERROR)
		goto finish;
	if (rc == STORE_FOUND) {
		engine_audit_at(call, sec.arn, NULL);
		if (engine_authorize(w, call, NULL, &sec, NULL, req->name,
		    err) || engine_kek_usable(w, call, req->kms_key_id, err) ||
		    create_existing(w, call, req, &sec, resp, err))
			goto finish;
		return (engine_finish(w, call, ENGINE_TX_COMMIT, err));
	}

	/* A new secret row with a fresh ARN suffix (nothing of a purged one). */
	memset(&sec, 0, sizeof(sec));
	if (engine_random_uuid(w, sec.uuid, err))
		goto finish;
	sec.name = req->name;
	sec.description = req->description;
	sec.kms_key_id = (req->kms_key_id && *req->kms_key_id) ?
	    req->kms_key_id : NULL;
	if ((sec.arn = engine_arn_new(w, call->arena, req->name, err)) == NULL)
		goto finish;
	engine_audit_at(call, sec.arn, req->value.present ?
	    req->client_request_token : NULL);
	/* It has no tags yet: nothing for authorization to read. */
	sec.tags_loaded = 1;
	if (engine_authorize(w, call, NULL, &sec, NULL, req->name, err) ||
	    engine_kek_usable(w, call, req->kms_key_id, err))
		goto finish;

	/*
	 * Allowed: the secret, its tags and its first version (AWSCURRENT)
	 * are held and sent with the event and the COMMIT, one round trip;
	 * the value is sealed before any of them is sent.  A name another
	 * server took meanwhile fails the commit ("duplicate row", and
	 * engine_create_secret tries again).
	 */
	store_defer_writes(w->store);
	if (store_secret_insert(w->store, &sec, err))
		goto finish;
	if (req->n_tags > 0) {
		if ((tags = cf_arena_alloc(call->arena,
		    req->n_tags * sizeof(*tags))) == NULL) {
			(void)engine_oom(err);
			goto finish;
		}
		for (i = 0; i < req->n_tags; i++) {
			tags[i].key = req->tags[i].key;
			tags[i].value = req->tags[i].value ?
			    req->tags[i].value : "";
		}
		if (store_tags_put(w->store, sec.uuid, tags, req->n_tags, err))
			goto finish;
	}
	if (req->value.present && create_first_version(w, call, &sec,
	    req->client_request_token, &req->value, err))
		goto finish;
	end = ENGINE_TX_COMMIT;
finish:
	if (engine_finish(w, call, end, err) != ENGINE_TX_COMMITTED)
		return (-1);

	resp->arn = sec.arn;
	resp->name = sec.name;
	resp->version_id = req->value.present ? req->client_request_token :
	    NULL;
	return (0);
}

int
engine_create_secret(struct engine_worker *w, const struct engine_call *call,
    const struct engine_create_req *req, struct engine_create_resp *resp,
    struct cf_error *err)
{
	int attempt;

	memset(resp, 0, sizeof(*resp));
	/* The KmsKeyId is looked up only once the caller is authorized
	 * (create_once): its existence is nobody else's business. */
	if (create_check(req, err))
		return (-1);

	/*
	 * Another server may create the same name between our lookup and our
	 * insert; then the unique index refuses ours and one more attempt
	 * sees the winner (and treats a same-token retry as a success).
	 */
	for (attempt = 0; attempt < 2; attempt++) {
		if (create_once(w, call, req, resp, err) == 0)
			return (0);
		if (err->code != CF_ERR_RESOURCE_EXISTS ||
		    strncmp(err->msg, "duplicate row", 13) != 0)
			return (-1);
	}
	cf_error_set(err, CF_ERR_RESOURCE_EXISTS, "The operation failed "
	    "because the secret %.512s already exists.", req->name);
	return (-1);
}

/* ---- GetSecretValue -------------------------------------------------------- */

/* Midnight UTC of today, in epoch milliseconds. */
static int64_t
today_ms(void)
{
	int64_t now = cf_now_ms();

	return (now - now % 86400000);
}

/*
 * Set the LastAccessedDate of ${uuid}'s version ${vid} to today: by the
 * audit writer in the read's event commit when there is one, else now.
 */
static int
touch_accessed(struct engine_worker *w, const struct engine_call *call,
    const char *uuid, const char *vid, struct cf_error *err)
{
	struct engine_audit *a = call->audit;

	if (w->e->audit == NULL || a == NULL)
		return (store_touch_accessed(w->store, uuid, vid, err));
	if ((a->accessed_secret = cf_arena_strdup(call->arena, uuid)) == NULL ||
	    (a->accessed_version = cf_arena_strdup(call->arena, vid)) == NULL)
		return (engine_oom(err));
	return (0);
}

int
engine_get_secret_value(struct engine_worker *w, const struct engine_call *call,
    const struct engine_get_req *req, struct engine_get_resp *resp,
    struct cf_error *err)
{
	struct engine_call c = *call;
	struct store_secret sec;
	struct store_version v;
	const char *stage;
	enum store_lookup rc;
	int has;

	memset(resp, 0, sizeof(*resp));
	if ((req->version_id && engine_check_version_id(req->version_id,
	    "versionId", err)) || (req->version_stage &&
	    engine_check_stage(req->version_stage, "versionStage", err)))
		return (-1);
	/* As AWS: VersionStage is in the context only when it was given. */
	c.auth_version_id = req->version_id;
	c.auth_version_stage = req->version_stage;
	call = &c;
	stage = req->version_stage ? req->version_stage : STAGE_CURRENT;
	/*
	 * The secret and its version in one round trip: by VersionId
	 * (checked against VersionStage below, if given), else by label.
	 */
	if (engine_resolve_read(w, call, req->secret_id, stage,
	    req->version_id, &sec, &v, &has, err))
		return (-1);
	rc = has ? STORE_FOUND : STORE_NOT_FOUND;
	/* A rotation's pending version before createSecret has no value. */
	if (rc == STORE_FOUND && v.empty)
		rc = STORE_NOT_FOUND;
	engine_audit_at(call, sec.arn, rc == STORE_FOUND ? v.version_id :
	    NULL);
	if (sec.deleted_ms != 0) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_DELETED);
		return (-1);
	}
	if (rc == STORE_NOT_FOUND && req->version_id) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "Secrets Manager "
		    "can't find the specified secret value for VersionId: "
		    "%.64s", req->version_id);
		return (-1);
	}
	if (rc == STORE_NOT_FOUND) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND, "Secrets Manager "
		    "can't find the specified secret value for staging label: "
		    "%.256s", stage);
		return (-1);
	}
	if (req->version_id && req->version_stage &&
	    !engine_has_stage(v.stages, v.n_stages, req->version_stage)) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "You provided a "
		    "VersionStage that is not associated to the provided "
		    "VersionId.");
		return (-1);
	}

	if (engine_open(w, call, sec.uuid, &v, &resp->value, err))
		return (-1);

	/*
	 * LastAccessedDate has date resolution: write only on a new day, and
	 * when the call is audited, with its event (no commit of its own).
	 */
	if ((sec.last_accessed_ms != today_ms() ||
	    v.last_accessed_ms != today_ms()) &&
	    touch_accessed(w, call, sec.uuid, v.version_id, err))
		return (-1);

	resp->arn = sec.arn;
	resp->name = sec.name;
	resp->version_id = v.version_id;
	resp->stages = v.stages;
	resp->n_stages = v.n_stages;
	resp->created_date = v.created_ms;
	return (0);
}
/* ---- DescribeSecret and ListSecrets --------------------------------------- */

/*
 * Labels read with the secrets they belong to (DescribeSecret's one
 * secret, a ListSecrets page's rows): pair i is of secret owner[i], and
 * each secret's pairs are together, in store_page_meta's order.
 */
struct meta_labels {
	struct store_stage *stages;
	size_t *owner;
	size_t n;
};

/*
 * Fill ${out[i]} from ${secs[i]}, which carry their tags (DescribeSecret's
 * lookup reads them, a ListSecrets page's authorization too), and the
 * labels ${given} read with them.
 */
static int
fill_meta(const struct engine_call *call, const struct store_secret *secs,
    size_t n, const struct meta_labels *given,
    struct engine_secret_meta *out, struct cf_error *err)
{
	const struct store_stage *st = given->stages;
	const size_t *sowner = given->owner;
	size_t ns = given->n, i, j, k;
	struct engine_version_stages *vs;

	for (i = 0; i < n; i++) {
		const struct store_secret *s = &secs[i];
		struct engine_secret_meta *m = &out[i];

		memset(m, 0, sizeof(*m));
		m->arn = s->arn;
		m->name = s->name;
		m->description = s->description;
		m->kms_key_id = s->kms_key_id;
		m->rotation_enabled = s->rotation_enabled;
		m->rotation_lambda_arn = s->rotation_lambda_arn;
		if (s->rotation_rules != NULL && engine_rules_decode(
		    call->arena, s->rotation_rules, &m->rotation_rules) == 0)
			m->has_rotation_rules = 1;
		m->last_rotated_date = s->last_rotated_ms;
		m->last_changed_date = s->last_changed_ms;
		m->last_accessed_date = s->last_accessed_ms;
		m->deleted_date = s->purge_after_ms;
		m->next_rotation_date = s->next_rotation_ms;
		m->created_date = s->created_ms;
		m->owning_service = s->owning_service;
		m->rotation_principal = s->rotation_principal;

		/* Tags of this secret, in insertion order. */
		if (!s->tags_loaded) {
			cf_error_set(err, CF_ERR_INTERNAL, "a secret's tags "
			    "were not read with it");
			return (-1);
		}
		m->n_tags = s->n_tags;
		if (m->n_tags > 0 && (m->tags = cf_arena_alloc(call->arena,
		    m->n_tags * sizeof(*m->tags))) == NULL)
			return (engine_oom(err));
		for (j = 0; j < m->n_tags; j++) {
			m->tags[j].key = s->tags[j].key;
			m->tags[j].value = s->tags[j].value;
		}
		m->tags_present = s->tags_present || m->n_tags > 0;

		/* Labels, grouped by version (rows come grouped). */
		for (j = 0; j < ns; j++)
			if (sowner[j] == i && (j == 0 || sowner[j - 1] != i ||
			    strcmp(st[j].version_id, st[j - 1].version_id)))
				m->n_versions++;
		if (m->n_versions > 0 && (m->versions = cf_arena_alloc(
		    call->arena, m->n_versions * sizeof(*vs))) == NULL)
			return (engine_oom(err));
		for (j = 0, k = 0, vs = NULL; j < ns; j++) {
			if (sowner[j] != i)
				continue;
			if (j == 0 || sowner[j - 1] != i ||
			    strcmp(st[j].version_id, st[j - 1].version_id)) {
				vs = &m->versions[k++];
				vs->version_id = st[j].version_id;
				vs->stages = cf_arena_alloc(call->arena,
				    ENGINE_MAX_LABELS * 2 * sizeof(char *));
				if (vs->stages == NULL)
					return (engine_oom(err));
			}
			if (vs->n_stages < ENGINE_MAX_LABELS * 2)
				vs->stages[vs->n_stages++] = st[j].stage;
		}
	}
	return (0);
}

int
engine_describe_secret(struct engine_worker *w, const struct engine_call *call,
    const char *secret_id, struct engine_secret_meta *out,
    struct cf_error *err)
{
	struct store_secret sec;
	struct meta_labels labels;

	/* The secret and its labels in one statement. */
	if (engine_resolve_with_stages(w, call, secret_id, &sec,
	    &labels.stages, &labels.n, err))
		return (-1);
	/* All of one secret, the first. */
	if ((labels.owner = cf_arena_alloc(call->arena, (labels.n + 1) *
	    sizeof(*labels.owner))) == NULL)
		return (engine_oom(err));
	memset(labels.owner, 0, (labels.n + 1) * sizeof(*labels.owner));
	return (fill_meta(call, &sec, 1, &labels, out, err));
}

static int
list_check(const struct engine_list_req *req, struct cf_error *err)
{

	if (engine_check_max_results(req->has_max_results,
	    req->max_results, 100, err))
		return (-1);
	if (req->sort_order != NULL && strcmp(req->sort_order, "asc") != 0 &&
	    strcmp(req->sort_order, "desc") != 0) {
		engine_invalid(err, "sortOrder", req->sort_order, "satisfy "
		    "enum value set: [asc, desc]");
		return (-1);
	}
	if (req->next_token != NULL && (strlen(req->next_token) < 1 ||
	    strlen(req->next_token) > 4096)) {
		cf_error_set(err, CF_ERR_INVALID_NEXT_TOKEN,
		    "The NextToken value is invalid.");
		return (-1);
	}
	return (0);
}

/*
 * ListSecrets lists only the secrets the caller may describe (AWS lists
 * them all), and nothing it may not describe may shape what it sees:
 *
 * - A page is the next MaxResults visible secrets after the cursor; the
 *   engine reads the store in batches until it has one more than that (to
 *   know whether a next page exists) or the store has no more rows.  The
 *   cursor names the last secret *returned*.  So the pages, their number
 *   and their tokens are a function of the visible secrets alone: a caller
 *   learns nothing from paging about secrets it may not describe, however
 *   it chooses MaxResults and filters.
 * - The token is encrypted (engine_next_token_seal), and bound to the
 *   principal, the filters and the order.
 *
 * There is deliberately no cap on the rows scanned per call.  Any cap that
 * ends a page early makes page boundaries depend on how many hidden secrets
 * match the filters, i.e. on their names and tags, which is exactly the
 * leak.  The work of one call is therefore bounded by the rows matching the
 * filters, which is also what PostgreSQL reads for a filter matching
 * nothing; memory is bounded by the batch: rows are read into a scratch
 * arena and only the visible ones are copied out.  (The time a call takes
 * still grows with the hidden rows it passes over.)
 */
#define LIST_BATCH 256		/* rows read per query after the first */

/* Append ${s} to ${b} (when not NULL) as a 4-byte length and its bytes. */
static void
ctx_put(uint8_t *b, size_t *len, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (b != NULL) {
		b[*len] = (uint8_t)(n >> 24);
		b[*len + 1] = (uint8_t)(n >> 16);
		b[*len + 2] = (uint8_t)(n >> 8);
		b[*len + 3] = (uint8_t)n;
		if (n > 0)
			memcpy(b + *len + 4, s, n);
	}
	*len += 4 + n;
}

/*
 * The context a ListSecrets cursor is bound to: the principal, whether
 * deleted secrets are listed and the filters (the order is the token's
 * kind).  In ${a}; 0, or -1 if out of memory.
 */
static int
list_context(const struct engine_call *call, const struct engine_list_req *req,
    const struct store_filter *sf, struct cf_arena *a, uint8_t **out,
    size_t *out_len)
{
	uint8_t *b = NULL;
	char head[48];
	size_t len = 0, i, j;
	int pass;

	/* Measure, then write. */
	for (pass = 0; pass < 2; pass++) {
		len = 0;
		ctx_put(b, &len, call->principal);
		ctx_put(b, &len, req->include_planned_deletion ? "all" : "live");
		for (i = 0; i < req->n_filters; i++) {
			snprintf(head, sizeof(head), "%d/%zu", (int)sf[i].key,
			    sf[i].n_values);
			ctx_put(b, &len, head);
			for (j = 0; j < sf[i].n_values; j++)
				ctx_put(b, &len, sf[i].values[j]);
		}
		if (pass == 0 && (b = cf_arena_alloc(a, len)) == NULL)
			return (-1);
	}
	*out = b;
	*out_len = len;
	return (0);
}

/* Hand each of ${secs} its tags (one query's rows, in insertion order). */
static int
give_tags(struct cf_arena *a, struct store_secret *secs, size_t n,
    const struct store_tag *tags, const size_t *owner, size_t nt)
{
	struct store_tag *byrow = NULL;
	size_t *at, i;

	if ((at = cf_arena_alloc(a, (n + 1) * sizeof(*at))) == NULL ||
	    (nt > 0 && (byrow = cf_arena_alloc(a, nt * sizeof(*byrow))) ==
	    NULL))
		return (-1);
	for (i = 0; i < n; i++)
		secs[i].n_tags = 0;
	for (i = 0; i < nt; i++)
		secs[owner[i]].n_tags++;
	for (i = 0; i < n; i++) {
		at[i + 1] = at[i] + secs[i].n_tags;
		secs[i].tags = byrow + at[i];
		secs[i].tags_loaded = 1;
	}
	for (i = 0; i < nt; i++)
		byrow[at[owner[i]]++] = tags[i];
	return (0);
}

/*
 * A copy of ${src} in ${a}, with the tags it was authorized with (so the
 * page shows those, and fill_meta need not read them again).
 */
static int
keep_row(struct cf_arena *a, const struct store_secret *src,
    struct store_secret *dst)
{
	const char **str[] = { &dst->name, &dst->arn, &dst->description,
	    &dst->kms_key_id, &dst->rotation_lambda_arn, &dst->rotation_rules,
	    &dst->owning_service, &dst->resource_policy, &dst->rotation_token,
	    &dst->rotation_error };
	struct store_tag *tags = NULL;
	size_t i;

	*dst = *src;
	for (i = 0; i < sizeof(str) / sizeof(str[0]); i++)
		if (*str[i] != NULL &&
		    (*str[i] = cf_arena_strdup(a, *str[i])) == NULL)
			return (-1);
	if (src->n_tags > 0 && (tags = cf_arena_alloc(a, src->n_tags *
	    sizeof(*tags))) == NULL)
		return (-1);
	for (i = 0; i < src->n_tags; i++)
		if ((tags[i].key = cf_arena_strdup(a, src->tags[i].key)) ==
		    NULL || (tags[i].value = cf_arena_strdup(a,
		    src->tags[i].value)) == NULL)
			return (-1);
	dst->tags = tags;
	return (0);
}

/*
 * Add to ${labels} (in ${a}) the pairs of the batch rows kept on the page:
 * of the batch's ${n} pairs ${st}, pair i is of batch row ${owner}[i],
 * which is page row ${kept_as}[owner[i]], or SIZE_MAX when not kept.
 */
static int
keep_labels(struct cf_arena *a, const struct store_stage *st,
    const size_t *owner, size_t n, const size_t *kept_as,
    struct meta_labels *labels)
{
	struct store_stage *grown;
	size_t *grown_owner, i, m = 0;

	for (i = 0; i < n; i++)
		m += kept_as[owner[i]] != SIZE_MAX;
	if (m == 0)
		return (0);
	/* One batch's more: an arena has no realloc. */
	if ((grown = cf_arena_alloc(a, (labels->n + m) * sizeof(*grown))) ==
	    NULL || (grown_owner = cf_arena_alloc(a, (labels->n + m) *
	    sizeof(*grown_owner))) == NULL)
		return (-1);
	if (labels->n > 0) {
		memcpy(grown, labels->stages, labels->n * sizeof(*grown));
		memcpy(grown_owner, labels->owner,
		    labels->n * sizeof(*grown_owner));
	}
	for (i = 0; i < n; i++) {
		if (kept_as[owner[i]] == SIZE_MAX)
			continue;
		grown[labels->n].version_id = cf_arena_strdup(a,
		    st[i].version_id);
		grown[labels->n].stage = cf_arena_strdup(a, st[i].stage);
		if (grown[labels->n].version_id == NULL ||
		    grown[labels->n].stage == NULL)
			return (-1);
		grown_owner[labels->n++] = kept_as[owner[i]];
	}
	labels->stages = grown;
	labels->owner = grown_owner;
	return (0);
}

/*
 * Read the rows after the cursor (${after} NULL: from the start) in
 * batches and keep in ${out} (copied into the call's arena) the first
 * ${want} that the caller may describe, or all of them if fewer; their
 * number in *${n_out}.
 */
static int
list_scan(struct engine_worker *w, const struct engine_call *call,
    const struct engine_list_req *req, const struct store_filter *sf,
    int desc, int64_t after_us, const char *after, size_t want,
    struct store_secret *out, struct meta_labels *labels, size_t *n_out,
    struct cf_error *err)
{
	struct engine_call sc = *call;
	struct cf_arena *scratch = NULL;
	struct store_secret *secs;
	struct store_tag *tags;
	struct store_stage *st;
	struct cf_error one;
	const char **uuids;
	size_t *towner, *sowner, *kept_as, nt, ns, n, i, k = 0;
	char cur[65];
	int batch = (int)want, rc = -1;

	memset(labels, 0, sizeof(*labels));

	if (after != NULL)
		snprintf(cur, sizeof(cur), "%s", after);
	for (;;) {
		/* A batch of rows in a scratch arena, with their tags. */
		cf_arena_free(scratch);
		if ((scratch = cf_arena_new()) == NULL)
			goto oom;
		sc.arena = scratch;
		if (req->n_filters == 0 ? store_secret_page(w->store, scratch,
		    req->include_planned_deletion, desc, after_us,
		    after ? cur : NULL, batch, &secs, &n, err) :
		    store_secret_search(w->store, scratch, sf, req->n_filters,
		    req->include_planned_deletion, desc, after_us,
		    after ? cur : NULL, batch, &secs, &n, err))
			goto done;
		if (n == 0)
			break;
		if ((uuids = cf_arena_alloc(scratch, n * sizeof(*uuids))) ==
		    NULL)
			goto oom;
		for (i = 0; i < n; i++)
			uuids[i] = secs[i].uuid;
		/* Their labels in the same round trip, for the rows kept. */
		if (store_page_meta(w->store, scratch, uuids, n, &tags,
		    &towner, &nt, &st, &sowner, &ns, err))
			goto done;
		if (give_tags(scratch, secs, n, tags, towner, nt))
			goto oom;

		/* Keep what DescribeSecret allows, until there are enough. */
		if ((kept_as = cf_arena_alloc(scratch, n * sizeof(*kept_as))) ==
		    NULL)
			goto oom;
		for (i = 0; i < n; i++) {
			kept_as[i] = SIZE_MAX;
			if (k == want)
				continue;
			if (engine_authorize(w, &sc,
			    "secretsmanager:DescribeSecret", &secs[i], NULL,
			    NULL, &one) == 0) {
				kept_as[i] = k;
				if (keep_row(call->arena, &secs[i], &out[k++]))
					goto oom;
			} else if (one.code != CF_ERR_ACCESS_DENIED) {
				*err = one;
				goto done;
			}
		}
		if (keep_labels(call->arena, st, sowner, ns, kept_as, labels))
			goto oom;
		if (k == want || n < (size_t)batch)
			break;

		/* On from the last row read. */
		after_us = secs[n - 1].created_us;
		after = cur;
		snprintf(cur, sizeof(cur), "%s", secs[n - 1].uuid);
		batch = LIST_BATCH;
	}
	*n_out = k;
	rc = 0;
	goto done;
oom:
	(void)engine_oom(err);
done:
	cf_arena_free(scratch);
	return (rc);
}

/*
 * The page of engine_list_secrets: up to ${limit} + 1 rows into ${secs},
 * the token for the next page, and each secret's metadata in ${resp}.
 */
static int
list_page(struct engine_worker *w, const struct engine_call *call,
    const struct engine_list_req *req, const struct store_filter *sf,
    int desc, int64_t after_us, const char *after, int limit,
    struct store_secret *secs, struct engine_list_resp *resp,
    const uint8_t *ctx, size_t ctx_len, struct cf_error *err)
{
	struct meta_labels labels;
	size_t n;

	if (list_scan(w, call, req, sf, desc, after_us, after,
	    (size_t)limit + 1, secs, &labels, &n, err))
		return (-1);
	if (n > (size_t)limit) {
		n = (size_t)limit;
		resp->next_token = engine_next_token_seal(call->arena,
		    w->e->token_key->data, desc ? 'd' : 'a', ctx, ctx_len,
		    secs[n - 1].created_us, secs[n - 1].uuid);
		if (resp->next_token == NULL)
			return (engine_oom(err));
	}
	if (n > 0 && (resp->secrets = cf_arena_alloc(call->arena,
	    n * sizeof(*resp->secrets))) == NULL)
		return (engine_oom(err));
	/* The row past the page, if any, brought labels of its own. */
	while (labels.n > 0 && labels.owner[labels.n - 1] >= n)
		labels.n--;
	if (fill_meta(call, secs, n, &labels, resp->secrets, err))
		return (-1);
	resp->n_secrets = n;
	return (0);
}

int
engine_list_secrets(struct engine_worker *w, const struct engine_call *call,
    const struct engine_list_req *req, struct engine_list_resp *resp,
    struct cf_error *err)
{
	struct store_secret *secs = NULL;
	struct store_filter *sf = NULL;
	uint8_t *ctx = NULL;
	size_t ctx_len = 0;
	char after[65];
	int64_t after_us = 0;
	int desc, limit, rc;

	memset(resp, 0, sizeof(*resp));
	if (list_check(req, err) ||
	    engine_authorize(w, call, NULL, NULL, NULL, NULL, err))
		return (-1);
	if (req->n_filters > 0 && ((sf = cf_arena_alloc(call->arena,
	    req->n_filters * sizeof(*sf))) == NULL))
		return (engine_oom(err));
	if (engine_check_filters(req->filters, req->n_filters, sf, err))
		return (-1);
	desc = req->sort_order != NULL && strcmp(req->sort_order, "desc") == 0;
	limit = req->has_max_results ? req->max_results : ENGINE_DEFAULT_PAGE;

	/* A token is good only for this caller, order and these filters. */
	if (list_context(call, req, sf, call->arena, &ctx, &ctx_len))
		return (engine_oom(err));
	if (req->next_token != NULL && engine_next_token_open(
	    req->next_token, w->e->token_key->data, desc ? 'd' : 'a', ctx,
	    ctx_len, &after_us, after, err))
		return (-1);

	/*
	 * One visible row more than the page tells whether another exists.
	 * The whole listing, the page's tags and labels too, runs under
	 * list_statement_timeout_ms: switching back for those cost two
	 * round trips of SET statement_timeout per page, and a long worker
	 * that serves page after page now sets it once.
	 */
	if ((secs = cf_arena_alloc(call->arena, ((size_t)limit + 1) *
	    sizeof(*secs))) == NULL)
		return (engine_oom(err));
	store_timeout_class(w->store, STORE_TIMEOUT_LIST);
	rc = list_page(w, call, req, sf, desc, after_us,
	    req->next_token ? after : NULL, limit, secs, resp, ctx, ctx_len,
	    err);
	store_timeout_class(w->store, STORE_TIMEOUT_DEFAULT);
	return (rc);
}

/* ---- replication --------------------------------------------------------- */

int
engine_replication(struct engine_worker *w, const struct engine_call *call,
    const char *secret_id, struct cf_error *err)
{
	struct store_secret sec;

	if (engine_resolve(w, call, secret_id, 0, &sec, err) == 0)
		cf_error_set(err, CF_ERR_INVALID_REQUEST, MSG_ONE_REGION);
	return (-1);
}
