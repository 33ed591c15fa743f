/*
 * ops_policy.c: resource policies (coffer.v1.SecretsManager) and identity
 * policies (coffer.v1.IdentityPolicies) on the wire.
 */
#include "rpc_ops.h"

#include <string.h>

int
rpc_op_put_resource_policy(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__PutResourcePolicyRequest *m =
	    (const Coffer__V1__PutResourcePolicyRequest *)pm;
	Coffer__V1__PutResourcePolicyResponse *r;
	const char *arn = NULL, *name = NULL;

	if (engine_put_resource_policy(w, c, m->secret_id, m->resource_policy,
	    m->has_block_public_policy && m->block_public_policy, &arn, &name,
	    err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__put_resource_policy_response__init(r);
	r->arn = rpc_pb_str(arn);
	r->name = rpc_pb_str(name);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_get_resource_policy(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__GetResourcePolicyRequest *m =
	    (const Coffer__V1__GetResourcePolicyRequest *)pm;
	Coffer__V1__GetResourcePolicyResponse *r;
	const char *arn = NULL, *name = NULL, *policy = NULL;

	if (engine_get_resource_policy(w, c, m->secret_id, &arn, &name,
	    &policy, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__get_resource_policy_response__init(r);
	r->arn = rpc_pb_str(arn);
	r->name = rpc_pb_str(name);
	r->resource_policy = rpc_pb_str(policy);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_delete_resource_policy(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__DeleteResourcePolicyRequest *m =
	    (const Coffer__V1__DeleteResourcePolicyRequest *)pm;
	Coffer__V1__DeleteResourcePolicyResponse *r;
	const char *arn = NULL, *name = NULL;

	if (engine_delete_resource_policy(w, c, m->secret_id, &arn, &name,
	    err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__delete_resource_policy_response__init(r);
	r->arn = rpc_pb_str(arn);
	r->name = rpc_pb_str(name);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_validate_resource_policy(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__ValidateResourcePolicyRequest *m =
	    (const Coffer__V1__ValidateResourcePolicyRequest *)pm;
	Coffer__V1__ValidateResourcePolicyResponse *r;
	Coffer__V1__ValidationErrorsEntry *e, **pe = NULL;
	struct engine_validation v;
	size_t i;

	if (engine_validate_resource_policy(w, c, m->secret_id,
	    m->resource_policy, &v, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__validate_resource_policy_response__init(r);
	r->has_policy_validation_passed = 1;
	r->policy_validation_passed = v.passed != 0;
	if (v.n_errors > 0 && ((pe = rpc_pb_alloc(c->arena,
	    v.n_errors * sizeof(*pe), err)) == NULL || (e = rpc_pb_alloc(
	    c->arena, v.n_errors * sizeof(*e), err)) == NULL))
		return (-1);
	for (i = 0; i < v.n_errors; i++) {
		coffer__v1__validation_errors_entry__init(&e[i]);
		e[i].check_name = rpc_pb_str(v.errors[i].check_name);
		e[i].error_message = v.errors[i].message;
		pe[i] = &e[i];
	}
	r->validation_errors = pe;
	r->n_validation_errors = v.n_errors;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

/* ---- coffer.v1.IdentityPolicies ----------------------------------------- */

int
rpc_op_put_identity_policy(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__PutIdentityPolicyRequest *m =
	    (const Coffer__V1__PutIdentityPolicyRequest *)pm;
	Coffer__V1__PutIdentityPolicyResponse *r;

	if (engine_put_identity_policy(w, c, m->principal, m->policy_name,
	    m->policy_document, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__put_identity_policy_response__init(r);
	r->principal = m->principal;
	r->policy_name = m->policy_name;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_get_identity_policy(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__GetIdentityPolicyRequest *m =
	    (const Coffer__V1__GetIdentityPolicyRequest *)pm;
	Coffer__V1__GetIdentityPolicyResponse *r;
	struct engine_identity_policy p;

	if (engine_get_identity_policy(w, c, m->principal, m->policy_name, &p,
	    err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__get_identity_policy_response__init(r);
	r->principal = rpc_pb_str(p.principal);
	r->policy_name = rpc_pb_str(p.policy_name);
	r->policy_document = rpc_pb_str(p.document);
	rpc_pb_date(&r->has_created_date, &r->created_date, p.created_ms);
	rpc_pb_date(&r->has_updated_date, &r->updated_date, p.updated_ms);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_list_identity_policies(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__ListIdentityPoliciesRequest *m =
	    (const Coffer__V1__ListIdentityPoliciesRequest *)pm;
	Coffer__V1__ListIdentityPoliciesResponse *r;
	Coffer__V1__IdentityPolicyEntry *e = NULL, **pe = NULL;
	struct engine_identity_policy_list_req req = { m->principal,
	    m->has_max_results, m->max_results, m->next_token };
	struct engine_identity_policy *p;
	const char *next;
	size_t n, i;

	if (engine_list_identity_policies(w, c, &req, &p, &n, &next, err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__list_identity_policies_response__init(r);
	if (n > 0 && ((pe = rpc_pb_alloc(c->arena, n * sizeof(*pe), err)) ==
	    NULL || (e = rpc_pb_alloc(c->arena, n * sizeof(*e), err)) == NULL))
		return (-1);
	for (i = 0; i < n; i++) {
		coffer__v1__identity_policy_entry__init(&e[i]);
		e[i].principal = rpc_pb_str(p[i].principal);
		e[i].policy_name = rpc_pb_str(p[i].policy_name);
		rpc_pb_date(&e[i].has_updated_date, &e[i].updated_date,
		    p[i].updated_ms);
		pe[i] = &e[i];
	}
	r->policies = pe;
	r->n_policies = n;
	r->next_token = rpc_pb_str(next);
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_op_delete_identity_policy(struct engine_worker *w,
    const struct engine_call *c, const ProtobufCMessage *pm,
    struct rpc_reply *out, struct cf_error *err)
{
	const Coffer__V1__DeleteIdentityPolicyRequest *m =
	    (const Coffer__V1__DeleteIdentityPolicyRequest *)pm;
	Coffer__V1__DeleteIdentityPolicyResponse *r;

	if (engine_delete_identity_policy(w, c, m->principal, m->policy_name,
	    err))
		return (-1);
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	coffer__v1__delete_identity_policy_response__init(r);
	r->principal = m->principal;
	r->policy_name = m->policy_name;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}
