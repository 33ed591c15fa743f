/*
 * ops_rotation.c: RotateSecret and CancelRotateSecret on the wire.
 */
#include "rpc_ops.h"

#include <string.h>

int
rpc_op_rotate_secret(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__RotateSecretRequest *m =
	    (const Coffer__V1__RotateSecretRequest *)pm;
	Coffer__V1__RotateSecretResponse *r;
	struct engine_rotate_req q;
	struct engine_rotate_resp p;

	memset(&q, 0, sizeof(q));
	q.secret_id = m->secret_id;
	q.client_request_token = m->client_request_token;
	q.rotation_lambda_arn = m->rotation_lambda_arn;
	if (m->rotation_rules != NULL) {
		q.has_rules = 1;
		q.rules.has_automatically_after_days =
		    m->rotation_rules->has_automatically_after_days;
		q.rules.automatically_after_days =
		    m->rotation_rules->automatically_after_days;
		q.rules.schedule_expression =
		    m->rotation_rules->schedule_expression;
		q.rules.duration = m->rotation_rules->duration;
	}
	q.has_rotate_immediately = m->has_rotate_immediately;
	q.rotate_immediately = m->rotate_immediately;
	if (engine_rotate_secret(w, c, &q, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__rotate_secret_response__init(r);
	r->arn = rpc_pb_str(p.arn);
	r->name = rpc_pb_str(p.name);
	r->version_id = rpc_pb_str(p.version_id);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_cancel_rotate_secret(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__CancelRotateSecretRequest *m =
	    (const Coffer__V1__CancelRotateSecretRequest *)pm;
	Coffer__V1__CancelRotateSecretResponse *r;
	struct engine_rotate_resp p;

	if (engine_cancel_rotate_secret(w, c, m->secret_id, &p, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__cancel_rotate_secret_response__init(r);
	r->arn = rpc_pb_str(p.arn);
	r->name = rpc_pb_str(p.name);
	r->version_id = rpc_pb_str(p.version_id);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}
