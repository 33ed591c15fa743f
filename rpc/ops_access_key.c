/*
 * ops_access_key.c: access keys (coffer.v1.AccessKeys) on the wire.  The
 * secret of a new key is in the call's arena, as every response is, and
 * leaves only in CreateAccessKey's response.
 */
#include "rpc_ops.h"

int
rpc_op_create_access_key(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__CreateAccessKeyRequest *m =
	    (const Coffer__V1__CreateAccessKeyRequest *)pm;
	Coffer__V1__CreateAccessKeyResponse *r;
	Coffer__V1__AccessKey *k;
	struct engine_access_key key;

	if (engine_create_access_key(w, c, m->principal, &key, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL ||
	    (k = rpc_pb_alloc(c->arena, sizeof(*k), err)) == NULL)
		return (-1);
	coffer__v1__create_access_key_response__init(r);
	coffer__v1__access_key__init(k);
	k->principal = rpc_pb_str(key.principal);
	k->access_key_id = rpc_pb_str(key.access_key_id);
	k->status = rpc_pb_str(key.status);
	k->secret_access_key = rpc_pb_str(key.secret);
	rpc_pb_date(&k->has_create_date, &k->create_date, key.created_ms);
	r->access_key = k;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_list_access_keys(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__ListAccessKeysRequest *m =
	    (const Coffer__V1__ListAccessKeysRequest *)pm;
	Coffer__V1__ListAccessKeysResponse *r;
	Coffer__V1__AccessKeyMetadata *e = NULL, **pe = NULL;
	struct engine_access_key *keys;
	size_t n, i;

	if (engine_list_access_keys(w, c, m->principal, &keys, &n, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__list_access_keys_response__init(r);
	if (n > 0 && ((pe = rpc_pb_alloc(c->arena, n * sizeof(*pe), err)) ==
	    NULL || (e = rpc_pb_alloc(c->arena, n * sizeof(*e), err)) == NULL))
		return (-1);
	for (i = 0; i < n; i++) {
		coffer__v1__access_key_metadata__init(&e[i]);
		e[i].principal = rpc_pb_str(keys[i].principal);
		e[i].access_key_id = rpc_pb_str(keys[i].access_key_id);
		e[i].status = rpc_pb_str(keys[i].status);
		rpc_pb_date(&e[i].has_create_date, &e[i].create_date,
		    keys[i].created_ms);
		pe[i] = &e[i];
	}
	r->access_key_metadata = pe;
	r->n_access_key_metadata = n;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_update_access_key(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__UpdateAccessKeyRequest *m =
	    (const Coffer__V1__UpdateAccessKeyRequest *)pm;
	Coffer__V1__UpdateAccessKeyResponse *r;

	if (engine_update_access_key(w, c, m->access_key_id, m->status, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__update_access_key_response__init(r);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_delete_access_key(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__DeleteAccessKeyRequest *m =
	    (const Coffer__V1__DeleteAccessKeyRequest *)pm;
	Coffer__V1__DeleteAccessKeyResponse *r;

	if (engine_delete_access_key(w, c, m->access_key_id, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__delete_access_key_response__init(r);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}
