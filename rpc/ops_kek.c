/*
 * ops_kek.c: KEK versions (coffer.v1.EncryptionKeys) on the wire: rotate,
 * describe, and destroy an old version (engine/keks.c).
 */
#include "rpc_ops.h"

int
rpc_op_rotate_encryption_key(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__RotateEncryptionKeyRequest *m =
	    (const Coffer__V1__RotateEncryptionKeyRequest *)pm;
	Coffer__V1__RotateEncryptionKeyResponse *r;
	uint32_t version;

	if (engine_rotate_encryption_key(w, c, m->key_id, &version, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__rotate_encryption_key_response__init(r);
	r->key_id = rpc_pb_str(m->key_id);
	r->has_version = 1;
	r->version = version;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_describe_encryption_key(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__DescribeEncryptionKeyRequest *m =
	    (const Coffer__V1__DescribeEncryptionKeyRequest *)pm;
	Coffer__V1__DescribeEncryptionKeyResponse *r;
	Coffer__V1__EncryptionKeyVersion *v = NULL, **pv = NULL;
	struct engine_key_info info;
	size_t i, n;

	if (engine_describe_encryption_key(w, c, m->key_id, &info, err))
		return (-1);
	n = info.n_versions;
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL ||
	    (n > 0 && ((pv = rpc_pb_alloc(c->arena, n * sizeof(*pv), err)) ==
	    NULL || (v = rpc_pb_alloc(c->arena, n * sizeof(*v), err)) ==
	    NULL)))
		return (-1);
	coffer__v1__describe_encryption_key_response__init(r);
	r->key_id = rpc_pb_str(info.key_id);
	r->has_current_version = 1;
	r->current_version = info.current;
	rpc_pb_date(&r->has_created_date, &r->created_date, info.created_ms);
	r->has_rewrap_pending = 1;
	r->rewrap_pending = info.rewrap_pending != 0;
	r->key_state = rpc_pb_str(info.state);
	rpc_pb_date(&r->has_deletion_date, &r->deletion_date,
	    info.deletion_ms);
	for (i = 0; i < n; i++) {
		coffer__v1__encryption_key_version__init(&v[i]);
		v[i].has_version = 1;
		v[i].version = info.versions[i].version;
		rpc_pb_date(&v[i].has_created_date, &v[i].created_date,
		    info.versions[i].created_ms);
		v[i].has_wrapped_version_count = 1;
		v[i].wrapped_version_count = info.versions[i].wrapped;
		rpc_pb_date(&v[i].has_destroyed_date, &v[i].destroyed_date,
		    info.versions[i].destroyed_ms);
		pv[i] = &v[i];
	}
	r->versions = pv;
	r->n_versions = n;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_delete_encryption_key_version(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__DeleteEncryptionKeyVersionRequest *m =
	    (const Coffer__V1__DeleteEncryptionKeyVersionRequest *)pm;
	Coffer__V1__DeleteEncryptionKeyVersionResponse *r;

	if (engine_delete_encryption_key_version(w, c, m->key_id,
	    m->has_version ? &m->version : NULL, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__delete_encryption_key_version_response__init(r);
	r->key_id = rpc_pb_str(m->key_id);
	r->has_version = 1;
	r->version = m->version;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_create_encryption_key(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__CreateEncryptionKeyRequest *m =
	    (const Coffer__V1__CreateEncryptionKeyRequest *)pm;
	Coffer__V1__CreateEncryptionKeyResponse *r;

	if (engine_create_encryption_key(w, c, m->key_id, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__create_encryption_key_response__init(r);
	r->key_id = rpc_pb_str(m->key_id);
	r->has_version = 1;
	r->version = 1;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_schedule_key_deletion(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__ScheduleKeyDeletionRequest *m =
	    (const Coffer__V1__ScheduleKeyDeletionRequest *)pm;
	Coffer__V1__ScheduleKeyDeletionResponse *r;
	int64_t when;

	if (engine_schedule_key_deletion(w, c, m->key_id,
	    m->has_pending_window_in_days ? &m->pending_window_in_days : NULL,
	    &when, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__schedule_key_deletion_response__init(r);
	r->key_id = rpc_pb_str(m->key_id);
	rpc_pb_date(&r->has_deletion_date, &r->deletion_date, when);
	r->key_state = rpc_pb_str("PendingDeletion");
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_cancel_key_deletion(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__CancelKeyDeletionRequest *m =
	    (const Coffer__V1__CancelKeyDeletionRequest *)pm;
	Coffer__V1__CancelKeyDeletionResponse *r;

	if (engine_cancel_key_deletion(w, c, m->key_id, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__cancel_key_deletion_response__init(r);
	r->key_id = rpc_pb_str(m->key_id);
	r->key_state = rpc_pb_str("Enabled");
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}
