/*
 * ops_read.c: handlers of the operations that read secrets and their
 * metadata.  GetSecretValue and BatchGetSecretValue put plaintext into the
 * response; it lives in the call's arena only, and is wiped with it.  See
 * rpc_ops.h for the contract the handlers share.
 */
#include "rpc_ops.h"

#include <string.h>

/* Nested messages of a secret's metadata (DescribeSecret, ListSecrets). */
struct meta_parts {
	Coffer__V1__Tag **tags;
	Coffer__V1__VersionStagesEntry **versions;
	Coffer__V1__RotationRulesType *rules;
};

/* ---- values ------------------------------------------------------------- */

/* Fill a SecretValueEntry (BatchGetSecretValue) from ${p}. */
static int
value_entry(struct cf_arena *a, const struct engine_get_resp *p,
    Coffer__V1__SecretValueEntry *e, struct cf_error *err)
{

	coffer__v1__secret_value_entry__init(e);
	e->arn = rpc_pb_str(p->arn);
	e->name = rpc_pb_str(p->name);
	e->version_id = rpc_pb_str(p->version_id);
	e->n_version_stages = p->n_stages;
	e->version_stages = rpc_pb_strv(p->stages);
	rpc_pb_date(&e->has_created_date, &e->created_date, p->created_date);
	return (rpc_pb_value_out(a, &p->value, &e->has_secret_binary,
	    &e->secret_binary, &e->secret_string, err));
}

int
rpc_op_get_secret_value(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__GetSecretValueRequest *m =
	    (const Coffer__V1__GetSecretValueRequest *)pm;
	Coffer__V1__GetSecretValueResponse *r;
	struct engine_get_req q;
	struct engine_get_resp p;

	/* Read the value. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	q.secret_id = m->secret_id;
	q.version_id = m->version_id;
	q.version_stage = m->version_stage;
	if (engine_get_secret_value(w, c, &q, &p, err))
		return (-1);

	/* Encode the response. */
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__get_secret_value_response__init(r);
	r->arn = rpc_pb_str(p.arn);
	r->name = rpc_pb_str(p.name);
	r->version_id = rpc_pb_str(p.version_id);
	r->n_version_stages = p.n_stages;
	r->version_stages = rpc_pb_strv(p.stages);
	rpc_pb_date(&r->has_created_date, &r->created_date, p.created_date);
	if (rpc_pb_value_out(c->arena, &p.value, &r->has_secret_binary,
	    &r->secret_binary, &r->secret_string, err))
		return (-1);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

/* A GetSecretValue reads what engine_read_ahead reads. */
int
rpc_ahead_get_secret_value(const ProtobufCMessage *pm,
    struct engine_read_ahead *a)
{
	const Coffer__V1__GetSecretValueRequest *m =
	    (const Coffer__V1__GetSecretValueRequest *)pm;

	a->secret_id = m->secret_id;
	a->version_stage = m->version_stage;
	a->version_id = m->version_id;
	return (a->secret_id != NULL);
}

/* The per-secret errors of a BatchGetSecretValue page. */
static int
batch_errors(struct cf_arena *a, const struct engine_batch_resp *p,
    Coffer__V1__BatchGetSecretValueResponse *r, struct cf_error *err)
{
	Coffer__V1__APIErrorType *e;
	size_t i, n = p->n_errors;

	if (n == 0)
		return (0);
	if ((r->errors = rpc_pb_alloc(a, n * sizeof(*r->errors), err)) ==
	    NULL || (e = rpc_pb_alloc(a, n * sizeof(*e), err)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		coffer__v1__apierror_type__init(&e[i]);
		e[i].secret_id = rpc_pb_str(p->errors[i].secret_id);
		e[i].error_code = rpc_pb_str(p->errors[i].error_code);
		e[i].message = rpc_pb_str(p->errors[i].message);
		r->errors[i] = &e[i];
	}
	r->n_errors = n;
	return (0);
}

/* The values of a BatchGetSecretValue page. */
static int
batch_values(struct cf_arena *a, const struct engine_batch_resp *p,
    Coffer__V1__BatchGetSecretValueResponse *r, struct cf_error *err)
{
	Coffer__V1__SecretValueEntry *e;
	size_t i, n = p->n_values;

	if (n == 0)
		return (0);
	if ((r->secret_values = rpc_pb_alloc(a, n * sizeof(*r->secret_values),
	    err)) == NULL || (e = rpc_pb_alloc(a, n * sizeof(*e), err)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		if (value_entry(a, &p->values[i], &e[i], err))
			return (-1);
		r->secret_values[i] = &e[i];
	}
	r->n_secret_values = n;
	return (0);
}

int
rpc_op_batch_get_secret_value(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__BatchGetSecretValueRequest *m =
	    (const Coffer__V1__BatchGetSecretValueRequest *)pm;
	Coffer__V1__BatchGetSecretValueResponse *r;
	struct engine_batch_req q;
	struct engine_batch_resp p;
	struct engine_filter *filters;

	/* Convert the request. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	if (rpc_pb_filters(c->arena, m->filters, m->n_filters, &filters, err))
		return (-1);
	q.secret_ids = (const char *const *)m->secret_id_list;
	q.n_secret_ids = m->n_secret_id_list;
	q.filters = filters;
	q.n_filters = m->n_filters;
	q.has_max_results = (m->has_max_results != 0);
	q.max_results = m->max_results;
	q.next_token = m->next_token;

	/* Read the page, then encode it. */
	if (engine_batch_get_secret_value(w, c, &q, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__batch_get_secret_value_response__init(r);
	r->next_token = rpc_pb_str(p.next_token);
	if (batch_values(c->arena, &p, r, err) ||
	    batch_errors(c->arena, &p, r, err))
		return (-1);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

/* ---- metadata ----------------------------------------------------------- */

static int
meta_tags(struct cf_arena *a, const struct engine_secret_meta *s,
    struct meta_parts *mp, struct cf_error *err)
{
	Coffer__V1__Tag *t;
	size_t i;

	if (s->n_tags == 0)
		return (0);
	if ((mp->tags = rpc_pb_alloc(a, s->n_tags * sizeof(*mp->tags),
	    err)) == NULL ||
	    (t = rpc_pb_alloc(a, s->n_tags * sizeof(*t), err)) == NULL)
		return (-1);
	for (i = 0; i < s->n_tags; i++) {
		coffer__v1__tag__init(&t[i]);
		t[i].key = rpc_pb_str(s->tags[i].key);
		t[i].value = rpc_pb_str(s->tags[i].value);
		mp->tags[i] = &t[i];
	}
	return (0);
}

static int
meta_versions(struct cf_arena *a, const struct engine_secret_meta *s,
    struct meta_parts *mp, struct cf_error *err)
{
	Coffer__V1__VersionStagesEntry *v;
	size_t i, n = s->n_versions;

	if (n == 0)
		return (0);
	if ((mp->versions = rpc_pb_alloc(a, n * sizeof(*mp->versions),
	    err)) == NULL || (v = rpc_pb_alloc(a, n * sizeof(*v), err)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		coffer__v1__version_stages_entry__init(&v[i]);
		v[i].version_id = rpc_pb_str(s->versions[i].version_id);
		v[i].n_version_stages = s->versions[i].n_stages;
		v[i].version_stages = rpc_pb_strv(s->versions[i].stages);
		mp->versions[i] = &v[i];
	}
	return (0);
}

static int
meta_rules(struct cf_arena *a, const struct engine_secret_meta *s,
    struct meta_parts *mp, struct cf_error *err)
{
	const struct engine_rotation_rules *rr = &s->rotation_rules;

	if (!s->has_rotation_rules)
		return (0);
	if ((mp->rules = rpc_pb_alloc(a, sizeof(*mp->rules), err)) == NULL)
		return (-1);
	coffer__v1__rotation_rules_type__init(mp->rules);
	mp->rules->has_automatically_after_days =
	    (rr->has_automatically_after_days != 0);
	mp->rules->automatically_after_days = rr->automatically_after_days;
	mp->rules->duration = rpc_pb_str(rr->duration);
	mp->rules->schedule_expression = rpc_pb_str(rr->schedule_expression);
	return (0);
}

/* Build the nested messages of ${s} in ${a}. */
static int
meta_parts_build(struct cf_arena *a, const struct engine_secret_meta *s,
    struct meta_parts *mp, struct cf_error *err)
{

	memset(mp, 0, sizeof(*mp));
	if (meta_tags(a, s, mp, err) || meta_versions(a, s, mp, err) ||
	    meta_rules(a, s, mp, err))
		return (-1);
	return (0);
}

/*
 * DescribeSecretResponse and SecretListEntry carry the same members (the
 * versions under different names), in two generated structs: one macro
 * fills either, so the two can never drift apart.
 */
#define META_SET(r, s, mp, n_versions_field, versions_field) do {	\
	(r)->arn = rpc_pb_str((s)->arn);					\
	(r)->name = rpc_pb_str((s)->name);					\
	(r)->description = rpc_pb_str((s)->description);			\
	(r)->kms_key_id = rpc_pb_str((s)->kms_key_id);			\
	(r)->has_rotation_enabled = ((s)->rotation_enabled != -1);		\
	(r)->rotation_enabled = ((s)->rotation_enabled == 1);		\
	(r)->rotation_lambda_arn = rpc_pb_str((s)->rotation_lambda_arn);	\
	(r)->rotation_rules = (mp)->rules;					\
	rpc_pb_date(&(r)->has_last_rotated_date, &(r)->last_rotated_date,	\
	    (s)->last_rotated_date);						\
	rpc_pb_date(&(r)->has_last_changed_date, &(r)->last_changed_date,	\
	    (s)->last_changed_date);						\
	rpc_pb_date(&(r)->has_last_accessed_date,				\
	    &(r)->last_accessed_date, (s)->last_accessed_date);		\
	rpc_pb_date(&(r)->has_deleted_date, &(r)->deleted_date,		\
	    (s)->deleted_date);						\
	rpc_pb_date(&(r)->has_next_rotation_date,				\
	    &(r)->next_rotation_date, (s)->next_rotation_date);		\
	rpc_pb_date(&(r)->has_created_date, &(r)->created_date,		\
	    (s)->created_date);						\
	(r)->n_tags = (s)->n_tags;						\
	(r)->tags = (mp)->tags;						\
	(r)->n_versions_field = (s)->n_versions;				\
	(r)->versions_field = (mp)->versions;				\
	(r)->owning_service = rpc_pb_str((s)->owning_service);		\
	(r)->primary_region = rpc_pb_str((s)->primary_region);		\
} while (0)

static void
describe_set(Coffer__V1__DescribeSecretResponse *r,
    const struct engine_secret_meta *s, const struct meta_parts *mp)
{

	META_SET(r, s, mp, n_version_ids_to_stages, version_ids_to_stages);
	/* Tags: [] once every tag is gone; absent if it never had one. */
	r->has_tags_present = (s->tags_present != 0);
	r->tags_present = (s->tags_present != 0);
	/* Coffer's own member: who configured rotation (its steps run so). */
	r->rotation_principal = rpc_pb_str(s->rotation_principal);
}

static void
list_entry_set(Coffer__V1__SecretListEntry *r,
    const struct engine_secret_meta *s, const struct meta_parts *mp)
{

	META_SET(r, s, mp, n_secret_versions_to_stages,
	    secret_versions_to_stages);
}

int
rpc_op_describe_secret(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__DescribeSecretRequest *m =
	    (const Coffer__V1__DescribeSecretRequest *)pm;
	Coffer__V1__DescribeSecretResponse *r;
	struct engine_secret_meta s;
	struct meta_parts mp;

	/* Look the secret up, then encode the response. */
	memset(&s, 0, sizeof(s));
	if (engine_describe_secret(w, c, m->secret_id, &s, err))
		return (-1);
	if (meta_parts_build(c->arena, &s, &mp, err) ||
	    (r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__describe_secret_response__init(r);
	describe_set(r, &s, &mp);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

/* A DescribeSecret reads what engine_read_ahead reads. */
int
rpc_ahead_describe_secret(const ProtobufCMessage *pm,
    struct engine_read_ahead *a)
{
	const Coffer__V1__DescribeSecretRequest *m =
	    (const Coffer__V1__DescribeSecretRequest *)pm;

	a->secret_id = m->secret_id;
	a->describe = 1;
	return (a->secret_id != NULL);
}

/* Encode a ListSecrets page. */
static int
list_reply(struct cf_arena *a, const struct engine_list_resp *p,
    struct rpc_reply *out, struct cf_error *err)
{
	Coffer__V1__ListSecretsResponse *r;
	Coffer__V1__SecretListEntry *e = NULL;
	struct meta_parts mp;
	size_t i, n = p->n_secrets;

	if ((r = rpc_pb_alloc(a, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__list_secrets_response__init(r);
	if (n > 0 &&
	    ((r->secret_list = rpc_pb_alloc(a, n * sizeof(*r->secret_list),
	    err)) == NULL || (e = rpc_pb_alloc(a, n * sizeof(*e), err)) == NULL))
		return (-1);
	for (i = 0; i < n; i++) {
		if (meta_parts_build(a, &p->secrets[i], &mp, err))
			return (-1);
		coffer__v1__secret_list_entry__init(&e[i]);
		list_entry_set(&e[i], &p->secrets[i], &mp);
		r->secret_list[i] = &e[i];
	}
	r->n_secret_list = n;
	r->next_token = rpc_pb_str(p->next_token);
	return (rpc_pb_encode(a, &r->base, out, err));
}

int
rpc_op_list_secrets(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__ListSecretsRequest *m =
	    (const Coffer__V1__ListSecretsRequest *)pm;
	struct engine_list_req q;
	struct engine_list_resp p;
	struct engine_filter *filters;

	/* Convert the request. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	if (rpc_pb_filters(c->arena, m->filters, m->n_filters, &filters, err))
		return (-1);
	q.include_planned_deletion = m->has_include_planned_deletion &&
	    m->include_planned_deletion;
	q.has_max_results = (m->has_max_results != 0);
	q.max_results = m->max_results;
	q.next_token = m->next_token;
	q.filters = filters;
	q.n_filters = m->n_filters;
	q.sort_order = m->sort_order;

	/* List, then encode the page. */
	if (engine_list_secrets(w, c, &q, &p, err))
		return (-1);
	return (list_reply(c->arena, &p, out, err));
}

/* ---- versions ----------------------------------------------------------- */

/* One entry of ListSecretVersionIds. */
static void
version_entry(const struct engine_version_entry *v,
    Coffer__V1__SecretVersionsListEntry *e)
{

	coffer__v1__secret_versions_list_entry__init(e);
	e->version_id = rpc_pb_str(v->version_id);
	e->n_version_stages = v->n_stages;
	e->version_stages = rpc_pb_strv(v->stages);
	rpc_pb_date(&e->has_last_accessed_date, &e->last_accessed_date,
	    v->last_accessed_date);
	rpc_pb_date(&e->has_created_date, &e->created_date, v->created_date);
	if (v->kms_key_id != NULL) {
		/* The repeated member has one element: the entry's own. */
		e->n_kms_key_ids = 1;
		e->kms_key_ids = rpc_pb_strv(&v->kms_key_id);
	}
}

int
rpc_op_list_secret_version_ids(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__ListSecretVersionIdsRequest *m =
	    (const Coffer__V1__ListSecretVersionIdsRequest *)pm;
	Coffer__V1__ListSecretVersionIdsResponse *r;
	Coffer__V1__SecretVersionsListEntry *e = NULL;
	struct engine_list_versions_req q;
	struct engine_list_versions_resp p;
	size_t i;

	/* List the versions. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	q.secret_id = m->secret_id;
	q.has_max_results = (m->has_max_results != 0);
	q.max_results = m->max_results;
	q.next_token = m->next_token;
	q.include_deprecated = m->has_include_deprecated &&
	    m->include_deprecated;
	if (engine_list_secret_version_ids(w, c, &q, &p, err))
		return (-1);

	/* Encode the page. */
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__list_secret_version_ids_response__init(r);
	if (p.n_versions > 0 &&
	    ((r->versions = rpc_pb_alloc(c->arena,
	    p.n_versions * sizeof(*r->versions), err)) == NULL ||
	    (e = rpc_pb_alloc(c->arena, p.n_versions * sizeof(*e), err)) ==
	    NULL))
		return (-1);
	for (i = 0; i < p.n_versions; i++) {
		version_entry(&p.versions[i], &e[i]);
		r->versions[i] = &e[i];
	}
	r->n_versions = p.n_versions;
	r->next_token = rpc_pb_str(p.next_token);
	r->arn = rpc_pb_str(p.arn);
	r->name = rpc_pb_str(p.name);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}
