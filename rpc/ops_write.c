/*
 * ops_write.c: handlers of the operations that change secrets (and
 * GetRandomPassword, which makes one): request message -> engine struct ->
 * engine -> response message.  The engine validates every member; a handler
 * only converts.  See rpc_ops.h for the contract they share.
 */
#include "rpc_ops.h"

#include <string.h>

/* Encode a response that carries only an ARN and a name. */
static int
reply_arn_name(struct cf_arena *a, const char *arn, const char *name,
    ProtobufCMessage *m, char **m_arn, char **m_name, struct rpc_reply *out,
    struct cf_error *err)
{

	*m_arn = rpc_pb_str(arn);
	*m_name = rpc_pb_str(name);
	return (rpc_pb_encode(a, m, out, err));
}

int
rpc_op_create_secret(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__CreateSecretRequest *m =
	    (const Coffer__V1__CreateSecretRequest *)pm;
	Coffer__V1__CreateSecretResponse *r;
	struct engine_create_req q;
	struct engine_create_resp p;
	struct engine_tag *tags;

	/* Convert the request. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	if (rpc_pb_tags(c->arena, m->tags, m->n_tags, &tags, err))
		return (-1);
	rpc_pb_value_in(m->secret_string, m->has_secret_binary,
	    &m->secret_binary, &q.value);
	q.name = m->name;
	q.client_request_token = m->client_request_token;
	q.description = m->description;
	q.kms_key_id = m->kms_key_id;
	q.tags = tags;
	q.n_tags = m->n_tags;
	q.n_add_replica_regions = m->n_add_replica_regions;

	/* Create the secret, then encode the response. */
	if (engine_create_secret(w, c, &q, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__create_secret_response__init(r);
	r->version_id = rpc_pb_str(p.version_id);
	return (reply_arn_name(c->arena, p.arn, p.name, &r->base, &r->arn,
	    &r->name, out, err));
}

int
rpc_op_put_secret_value(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__PutSecretValueRequest *m =
	    (const Coffer__V1__PutSecretValueRequest *)pm;
	Coffer__V1__PutSecretValueResponse *r;
	struct engine_put_req q;
	struct engine_put_resp p;

	/* Convert the request. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	rpc_pb_value_in(m->secret_string, m->has_secret_binary,
	    &m->secret_binary, &q.value);
	q.secret_id = m->secret_id;
	q.client_request_token = m->client_request_token;
	q.version_stages = (const char *const *)m->version_stages;
	q.n_version_stages = m->n_version_stages;
	q.rotation_token = m->rotation_token;

	/* Store the new version, then encode the response. */
	if (engine_put_secret_value(w, c, &q, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__put_secret_value_response__init(r);
	r->version_id = rpc_pb_str(p.version_id);
	r->n_version_stages = p.n_stages;
	r->version_stages = rpc_pb_strv(p.stages);
	return (reply_arn_name(c->arena, p.arn, p.name, &r->base, &r->arn,
	    &r->name, out, err));
}

int
rpc_op_update_secret(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__UpdateSecretRequest *m =
	    (const Coffer__V1__UpdateSecretRequest *)pm;
	Coffer__V1__UpdateSecretResponse *r;
	struct engine_update_req q;
	struct engine_update_resp p;

	/* Convert the request. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	rpc_pb_value_in(m->secret_string, m->has_secret_binary,
	    &m->secret_binary, &q.value);
	q.secret_id = m->secret_id;
	q.client_request_token = m->client_request_token;
	q.description = m->description;
	q.kms_key_id = m->kms_key_id;

	/* Update, then encode the response. */
	if (engine_update_secret(w, c, &q, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__update_secret_response__init(r);
	r->version_id = rpc_pb_str(p.version_id);
	return (reply_arn_name(c->arena, p.arn, p.name, &r->base, &r->arn,
	    &r->name, out, err));
}

int
rpc_op_delete_secret(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__DeleteSecretRequest *m =
	    (const Coffer__V1__DeleteSecretRequest *)pm;
	Coffer__V1__DeleteSecretResponse *r;
	struct engine_delete_req q;
	struct engine_delete_resp p;

	/* Convert the request. */
	memset(&q, 0, sizeof(q));
	memset(&p, 0, sizeof(p));
	q.secret_id = m->secret_id;
	q.has_recovery_window_in_days = (m->has_recovery_window_in_days != 0);
	q.recovery_window_in_days = m->recovery_window_in_days;
	q.force_delete_without_recovery =
	    m->has_force_delete_without_recovery &&
	    m->force_delete_without_recovery;

	/* Schedule the deletion, then encode the response. */
	if (engine_delete_secret(w, c, &q, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__delete_secret_response__init(r);
	rpc_pb_date(&r->has_deletion_date, &r->deletion_date, p.deletion_date);
	return (reply_arn_name(c->arena, p.arn, p.name, &r->base, &r->arn,
	    &r->name, out, err));
}

int
rpc_op_restore_secret(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__RestoreSecretRequest *m =
	    (const Coffer__V1__RestoreSecretRequest *)pm;
	Coffer__V1__RestoreSecretResponse *r;
	const char *arn = NULL, *name = NULL;

	if (engine_restore_secret(w, c, m->secret_id, &arn, &name, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__restore_secret_response__init(r);
	return (reply_arn_name(c->arena, arn, name, &r->base, &r->arn,
	    &r->name, out, err));
}

int
rpc_op_update_secret_version_stage(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__UpdateSecretVersionStageRequest *m =
	    (const Coffer__V1__UpdateSecretVersionStageRequest *)pm;
	Coffer__V1__UpdateSecretVersionStageResponse *r;
	struct engine_stage_req q;
	const char *arn = NULL, *name = NULL;

	/* Move the label, then encode the response. */
	memset(&q, 0, sizeof(q));
	q.secret_id = m->secret_id;
	q.version_stage = m->version_stage;
	q.remove_from_version_id = m->remove_from_version_id;
	q.move_to_version_id = m->move_to_version_id;
	if (engine_update_secret_version_stage(w, c, &q, &arn, &name, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__update_secret_version_stage_response__init(r);
	return (reply_arn_name(c->arena, arn, name, &r->base, &r->arn,
	    &r->name, out, err));
}

int
rpc_op_tag_resource(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__TagResourceRequest *m =
	    (const Coffer__V1__TagResourceRequest *)pm;
	Coffer__V1__TagResourceResponse *r;
	struct engine_tag *tags;

	if (rpc_pb_tags(c->arena, m->tags, m->n_tags, &tags, err) ||
	    engine_tag_resource(w, c, m->secret_id, tags, m->n_tags, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__tag_resource_response__init(r);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_untag_resource(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__UntagResourceRequest *m =
	    (const Coffer__V1__UntagResourceRequest *)pm;
	Coffer__V1__UntagResourceResponse *r;

	if (engine_untag_resource(w, c, m->secret_id,
	    (const char *const *)m->tag_keys, m->n_tag_keys, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__untag_resource_response__init(r);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_get_random_password(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__GetRandomPasswordRequest *m =
	    (const Coffer__V1__GetRandomPasswordRequest *)pm;
	Coffer__V1__GetRandomPasswordResponse *r;
	struct cf_password_rules q;
	const char *password = NULL;

	/* Convert the request; an absent flag is false. */
	memset(&q, 0, sizeof(q));
	q.has_password_length = (m->has_password_length != 0);
	q.password_length = m->password_length;
	q.exclude_characters = m->exclude_characters;
	q.exclude_numbers = m->has_exclude_numbers && m->exclude_numbers;
	q.exclude_punctuation = m->has_exclude_punctuation &&
	    m->exclude_punctuation;
	q.exclude_uppercase = m->has_exclude_uppercase && m->exclude_uppercase;
	q.exclude_lowercase = m->has_exclude_lowercase && m->exclude_lowercase;
	q.include_space = m->has_include_space && m->include_space;
	q.has_require_each_included_type =
	    (m->has_require_each_included_type != 0);
	q.require_each_included_type = m->require_each_included_type;

	/* Generate; the password stays in the arena, wiped with it. */
	if (engine_get_random_password(w, c, &q, &password, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__get_random_password_response__init(r);
	r->random_password = rpc_pb_str(password);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

/*
 * ReplicateSecretToRegions, RemoveRegionsFromReplication and
 * StopReplicationToReplica: one handler, reading SecretId through the
 * message's descriptor; the engine answers that Coffer is one region.
 */
int
rpc_op_replication(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const ProtobufCFieldDescriptor *f;
	const char *secret_id = NULL;

	(void)out;
	f = protobuf_c_message_descriptor_get_field_by_name(pm->descriptor,
	    "secret_id");
	if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING)
		secret_id = *(char *const *)(const void *)((const char *)pm +
		    f->offset);
	return (engine_replication(w, c, secret_id, err));
}
