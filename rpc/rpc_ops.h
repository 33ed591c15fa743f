/*
 * rpc_ops.h: the operation handlers of rpc/ and the protobuf <-> engine
 * helpers they share.  Private to rpc/ (service.c, pb.c, ops_*.c).
 *
 * Every handler has the type rpc_op_fn: it receives the decoded request
 * (already checked by rpc_wire_check), converts it to the engine's structs,
 * runs the engine and encodes the response into ${call->arena}.  Returns 0,
 * or -1 with ${err} set.  Handlers only read the request, which lives in
 * the same arena; the response may point into it.
 *
 * Protobuf-c wants non-const pointers in messages it only reads when
 * packing; rpc_pb_str() and rpc_pb_strv() drop the qualifier for that.
 */
#ifndef COFFER_RPC_OPS_H
#define COFFER_RPC_OPS_H

#include <stdint.h>

#include "coffer/v1/secrets_manager.pb-c.h"
#include "engine.h"
#include "rpc_internal.h"

typedef int rpc_op_fn(struct engine_worker *, const struct engine_call *,
    const ProtobufCMessage *, struct rpc_reply *, struct cf_error *);

/*
 * A method whose read can be made ahead (engine_read_ahead) has an
 * rpc_ahead_fn: from the decoded request it fills ${a}'s secret_id and
 * version_stage, and says whether the call makes that read (1) or not (0).
 */
typedef int rpc_ahead_fn(const ProtobufCMessage *, struct engine_read_ahead *);

/* ---- pb.c --------------------------------------------------------------- */

static inline char *
rpc_pb_str(const char *s)
{

	return ((char *)(uintptr_t)s);
}

static inline char **
rpc_pb_strv(const char *const *v)
{

	return ((char **)(uintptr_t)v);
}

/* rpc_pb_alloc(a, n, err): ${n} zeroed bytes of ${a}, or NULL and ${err}. */
void *rpc_pb_alloc(struct cf_arena *, size_t, struct cf_error *)
    CF_MUSTCHECK;

/* rpc_pb_date(has, dst, v): an optional date; engine dates of 0: absent. */
void rpc_pb_date(protobuf_c_boolean *, int64_t *, int64_t);

/* rpc_pb_encode(a, m, out, err): serialize ${m} into ${a}. */
int rpc_pb_encode(struct cf_arena *, const ProtobufCMessage *,
    struct rpc_reply *, struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_pb_value_in(str, has_bin, bin, v):
 * SecretString ${str} (NULL: absent) or SecretBinary as an engine value;
 * both at once set ${v->conflict} for the engine to refuse.
 */
void rpc_pb_value_in(const char *, protobuf_c_boolean,
    const ProtobufCBinaryData *, struct engine_value *);

/*
 * rpc_pb_value_out(a, v, has_bin, bin, str, err):
 * Put the engine value ${v} into a response's secret_binary or
 * secret_string (copied into ${a} to add the NUL protobuf-c needs).
 */
int rpc_pb_value_out(struct cf_arena *, const struct engine_value *,
    protobuf_c_boolean *, ProtobufCBinaryData *, char **, struct cf_error *)
    CF_MUSTCHECK;

/* rpc_pb_filters(a, f, n, out, err): request filters as engine filters. */
int rpc_pb_filters(struct cf_arena *, Coffer__V1__Filter *const *, size_t,
    struct engine_filter **, struct cf_error *) CF_MUSTCHECK;

/* rpc_pb_tags(a, t, n, out, err): request tags as engine tags. */
int rpc_pb_tags(struct cf_arena *, Coffer__V1__Tag *const *, size_t,
    struct engine_tag **, struct cf_error *) CF_MUSTCHECK;

/* ---- ops_read.c --------------------------------------------------------- */

rpc_op_fn rpc_op_get_secret_value;
rpc_ahead_fn rpc_ahead_get_secret_value;
rpc_op_fn rpc_op_batch_get_secret_value;
rpc_op_fn rpc_op_describe_secret;
rpc_ahead_fn rpc_ahead_describe_secret;
rpc_op_fn rpc_op_list_secrets;
rpc_op_fn rpc_op_list_secret_version_ids;

/* ---- ops_write.c -------------------------------------------------------- */

rpc_op_fn rpc_op_create_secret;
rpc_op_fn rpc_op_put_secret_value;
rpc_op_fn rpc_op_update_secret;
rpc_op_fn rpc_op_delete_secret;
rpc_op_fn rpc_op_restore_secret;
rpc_op_fn rpc_op_update_secret_version_stage;
rpc_op_fn rpc_op_tag_resource;
rpc_op_fn rpc_op_untag_resource;
rpc_op_fn rpc_op_get_random_password;
rpc_op_fn rpc_op_replication;

/* ---- ops_audit.c: coffer.v1.Audit --------------------------------------- */
rpc_op_fn rpc_op_list_audit_events;
rpc_op_fn rpc_op_verify_audit_log;
rpc_op_fn rpc_op_rotate_audit_key;
rpc_op_fn rpc_op_export_audit_key_bundle;

/* ---- ops_rotation.c ------------------------------------------------------ */
rpc_op_fn rpc_op_rotate_secret;
rpc_op_fn rpc_op_cancel_rotate_secret;

/* ---- ops_policy.c: resource and identity policies ------------------------ */
rpc_op_fn rpc_op_put_resource_policy;
rpc_op_fn rpc_op_get_resource_policy;
rpc_op_fn rpc_op_delete_resource_policy;
rpc_op_fn rpc_op_validate_resource_policy;
rpc_op_fn rpc_op_put_identity_policy;
rpc_op_fn rpc_op_get_identity_policy;
rpc_op_fn rpc_op_list_identity_policies;
rpc_op_fn rpc_op_delete_identity_policy;

/* ---- ops_access_key.c: access keys for the AWS endpoint ------------------ */
rpc_op_fn rpc_op_create_access_key;
rpc_op_fn rpc_op_list_access_keys;
rpc_op_fn rpc_op_update_access_key;
rpc_op_fn rpc_op_delete_access_key;

/* ---- ops_kek.c: KEK versions ------------------------------------------------- */
rpc_op_fn rpc_op_rotate_encryption_key;
rpc_op_fn rpc_op_describe_encryption_key;
rpc_op_fn rpc_op_delete_encryption_key_version;
rpc_op_fn rpc_op_create_encryption_key;
rpc_op_fn rpc_op_schedule_key_deletion;
rpc_op_fn rpc_op_cancel_key_deletion;

#endif /* !COFFER_RPC_OPS_H */
