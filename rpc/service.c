/*
 * service.c: the method table of coffer.v1.SecretsManager and
 * grpc.health.v1.Health, and the one path every call takes through it.
 *
 * A call is checked on the wire (rpc_wire_check: embedded NULs and
 * invalid UTF-8 in string fields), decoded into the call's arena (requests
 * carry plaintext: locked, never dumped, wiped when the call ends) and
 * handed to its method's handler.
 */
#include "rpc_ops.h"

#include <string.h>

#include "grpc/health/v1/health.pb-c.h"

struct method {
	const char *op;
	const char *action;		/* IAM action; NULL: none needed */
	const char *path;
	const ProtobufCMessageDescriptor *request;
	const ProtobufCMessageDescriptor *response;
	rpc_op_fn *run;
	int is_long;			/* runs on the long-call pool */
	rpc_ahead_fn *ahead;		/* its read made ahead; NULL: none */
};

/* grpc.health.v1.Health/Check: this worker's database and token. */
static int
op_health_check(struct engine_worker *w, const struct engine_call *c,
    const ProtobufCMessage *pm, struct rpc_reply *out, struct cf_error *err)
{
	const Grpc__Health__V1__HealthCheckRequest *m =
	    (const Grpc__Health__V1__HealthCheckRequest *)pm;
	Grpc__Health__V1__HealthCheckResponse *r;
	const char *service = m->service != NULL ? m->service : "";

	/* The server as a whole, or the one service it has. */
	if (strcmp(service, "") != 0 &&
	    strcmp(service, "coffer.v1.SecretsManager") != 0) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND,
		    "unknown service \"%s\"", service);
		return (-1);
	}

	/* Serving if this worker's database and token answer. */
	if ((r = rpc_pb_alloc(c->arena, sizeof(*r), err)) == NULL)
		return (-1);
	grpc__health__v1__health_check_response__init(r);
	r->status = engine_health(w) == 0 ?
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING :
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	return (rpc_pb_encode(c->arena, &r->base, out, err));
}

int
rpc_service_not_serving(struct cf_arena *arena, struct rpc_reply *out,
    struct cf_error *err)
{
	Grpc__Health__V1__HealthCheckResponse *r;

	if ((r = rpc_pb_alloc(arena, sizeof(*r), err)) == NULL)
		return (-1);
	grpc__health__v1__health_check_response__init(r);
	r->status =
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	return (rpc_pb_encode(arena, &r->base, out, err));
}

#define SM_PATH(op) "/coffer.v1.SecretsManager/" #op
/* ${m}: the messages' common stem, get_secret_value for ...Request. */
#define MSGS(m) &coffer__v1__##m##_request__descriptor, \
	&coffer__v1__##m##_response__descriptor
#define SM(op, m, fn) { #op, "secretsmanager:" #op, SM_PATH(op), \
	MSGS(m), fn, 0, NULL }
#define SM_AHEAD(op, m, fn, ahead) { #op, "secretsmanager:" #op, \
	SM_PATH(op), MSGS(m), fn, 0, ahead }
#define SM_LONG(op, m, fn) { #op, "secretsmanager:" #op, SM_PATH(op), \
	MSGS(m), fn, 1, NULL }
#define COFFER(svc, op, m, fn) { #op, "coffer:" #op, \
	"/coffer.v1." #svc "/" #op, MSGS(m), fn, 0, NULL }
#define COFFER_LONG(svc, op, m, fn) { #op, "coffer:" #op, \
	"/coffer.v1." #svc "/" #op, MSGS(m), fn, 1, NULL }

static const struct method methods[] = {
	SM_LONG(BatchGetSecretValue, batch_get_secret_value,
	    rpc_op_batch_get_secret_value),
	SM(CancelRotateSecret, cancel_rotate_secret,
	    rpc_op_cancel_rotate_secret),
	SM(CreateSecret, create_secret, rpc_op_create_secret),
	SM(DeleteResourcePolicy, delete_resource_policy,
	    rpc_op_delete_resource_policy),
	SM(DeleteSecret, delete_secret, rpc_op_delete_secret),
	SM_AHEAD(DescribeSecret, describe_secret, rpc_op_describe_secret,
	    rpc_ahead_describe_secret),
	SM(GetRandomPassword, get_random_password,
	    rpc_op_get_random_password),
	SM(GetResourcePolicy, get_resource_policy,
	    rpc_op_get_resource_policy),
	SM_AHEAD(GetSecretValue, get_secret_value, rpc_op_get_secret_value,
	    rpc_ahead_get_secret_value),
	SM(ListSecretVersionIds, list_secret_version_ids,
	    rpc_op_list_secret_version_ids),
	SM_LONG(ListSecrets, list_secrets, rpc_op_list_secrets),
	SM(PutResourcePolicy, put_resource_policy,
	    rpc_op_put_resource_policy),
	SM(PutSecretValue, put_secret_value, rpc_op_put_secret_value),
	SM(RemoveRegionsFromReplication, remove_regions_from_replication,
	    rpc_op_replication),
	SM(ReplicateSecretToRegions, replicate_secret_to_regions,
	    rpc_op_replication),
	SM(RestoreSecret, restore_secret, rpc_op_restore_secret),
	SM(RotateSecret, rotate_secret, rpc_op_rotate_secret),
	SM(StopReplicationToReplica, stop_replication_to_replica,
	    rpc_op_replication),
	SM(TagResource, tag_resource, rpc_op_tag_resource),
	SM(UntagResource, untag_resource, rpc_op_untag_resource),
	SM(UpdateSecret, update_secret, rpc_op_update_secret),
	SM(UpdateSecretVersionStage, update_secret_version_stage,
	    rpc_op_update_secret_version_stage),
	SM(ValidateResourcePolicy, validate_resource_policy,
	    rpc_op_validate_resource_policy),
	COFFER_LONG(Audit, ListAuditEvents, list_audit_events,
	    rpc_op_list_audit_events),
	COFFER_LONG(Audit, VerifyAuditLog, verify_audit_log,
	    rpc_op_verify_audit_log),
	COFFER(Audit, RotateAuditKey, rotate_audit_key,
	    rpc_op_rotate_audit_key),
	COFFER(Audit, ExportAuditKeyBundle, export_audit_key_bundle,
	    rpc_op_export_audit_key_bundle),
	COFFER(IdentityPolicies, PutIdentityPolicy, put_identity_policy,
	    rpc_op_put_identity_policy),
	COFFER(IdentityPolicies, GetIdentityPolicy, get_identity_policy,
	    rpc_op_get_identity_policy),
	COFFER(IdentityPolicies, ListIdentityPolicies,
	    list_identity_policies, rpc_op_list_identity_policies),
	COFFER(IdentityPolicies, DeleteIdentityPolicy,
	    delete_identity_policy, rpc_op_delete_identity_policy),
	COFFER(AccessKeys, CreateAccessKey, create_access_key,
	    rpc_op_create_access_key),
	COFFER(AccessKeys, ListAccessKeys, list_access_keys,
	    rpc_op_list_access_keys),
	COFFER(AccessKeys, UpdateAccessKey, update_access_key,
	    rpc_op_update_access_key),
	COFFER(AccessKeys, DeleteAccessKey, delete_access_key,
	    rpc_op_delete_access_key),
	COFFER(EncryptionKeys, RotateEncryptionKey, rotate_encryption_key,
	    rpc_op_rotate_encryption_key),
	COFFER(EncryptionKeys, DescribeEncryptionKey, describe_encryption_key,
	    rpc_op_describe_encryption_key),
	COFFER(EncryptionKeys, DeleteEncryptionKeyVersion,
	    delete_encryption_key_version,
	    rpc_op_delete_encryption_key_version),
	COFFER(EncryptionKeys, CreateEncryptionKey, create_encryption_key,
	    rpc_op_create_encryption_key),
	COFFER(EncryptionKeys, ScheduleKeyDeletion, schedule_key_deletion,
	    rpc_op_schedule_key_deletion),
	COFFER(EncryptionKeys, CancelKeyDeletion, cancel_key_deletion,
	    rpc_op_cancel_key_deletion),
	/* Health answers anyone who completed the handshake. */
	{ "Health/Check", NULL, "/grpc.health.v1.Health/Check",
	    &grpc__health__v1__health_check_request__descriptor,
	    &grpc__health__v1__health_check_response__descriptor,
	    op_health_check, 0, NULL },
};

size_t
rpc_service_count(void)
{

	return (sizeof(methods) / sizeof(methods[0]));
}

const char *
rpc_service_path(size_t i)
{

	return (i < rpc_service_count() ? methods[i].path : NULL);
}

const char *
rpc_service_action(size_t i)
{

	return (i < rpc_service_count() ? methods[i].action : NULL);
}

const char *
rpc_service_op(size_t i)
{

	return (i < rpc_service_count() ? methods[i].op : "unknown");
}

size_t
rpc_service_find_sm(const char *op)
{
	size_t i;

	for (i = 0; i < rpc_service_count(); i++)
		if (strncmp(methods[i].path, SM_PATH(), sizeof(SM_PATH()) - 1)
		    == 0 && strcmp(methods[i].op, op) == 0)
			return (i);
	return (RPC_SERVICE_NONE);
}

const ProtobufCMessageDescriptor *
rpc_service_request(size_t i)
{

	return (methods[i].request);
}

const ProtobufCMessageDescriptor *
rpc_service_response(size_t i)
{

	return (methods[i].response);
}

int
rpc_service_is_long(size_t i)
{

	return (i < rpc_service_count() && methods[i].is_long);
}

int
rpc_service_decode(size_t i, struct cf_arena *arena, const uint8_t *req,
    size_t len, ProtobufCMessage **out, struct cf_error *err)
{
	const struct method *mt = &methods[i];
	ProtobufCAllocator alloc;

	/* Check the strings on the wire, then decode into the arena. */
	rpc_arena_allocator_init(&alloc, arena);
	if (rpc_wire_check(mt->request, req, len, err))
		return (-1);
	if ((*out = protobuf_c_message_unpack(mt->request, &alloc, len,
	    req)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "could not decode the %s message", mt->request->short_name);
		return (-1);
	}
	return (0);
}

int
rpc_service_ahead(size_t i, const ProtobufCMessage *m,
    struct engine_read_ahead *a)
{

	return (i < rpc_service_count() && methods[i].ahead != NULL &&
	    methods[i].ahead(m, a));
}

int
rpc_service_has_ahead(size_t i)
{

	return (i < rpc_service_count() && methods[i].ahead != NULL);
}

int
rpc_service_handle(size_t i, struct engine_worker *w,
    const struct engine_call *c, const uint8_t *req, size_t len,
    const ProtobufCMessage *decoded, struct rpc_reply *out,
    struct cf_error *err)
{
	const struct method *mt = &methods[i];
	ProtobufCMessage *m;

	if (decoded == NULL) {
		if (rpc_service_decode(i, c->arena, req, len, &m, err))
			return (-1);
		decoded = m;
	}

	/* What the caller asked for, for the audit event (never a value). */
	if (c->audit != NULL && (c->audit->request_params =
	    rpc_audit_params(c->arena, decoded)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}

	/* Run it; the request stays in the arena until the call ends. */
	return (mt->run(w, c, decoded, out, err));
}
