/*
 * rpc_internal.h: declarations shared by the files of rpc/, and by its unit
 * tests.  Not for other modules: they see rpc.h only.
 *
 * support.c	pure helpers (status mapping, listen-address policy, request
 *		ids, the wire pre-scan, the arena protobuf-c allocator); no
 *		gRPC calls, so unit tests link it alone
 * service.c	the method table and the decode/run/free path of a call
 * pb.c, ops_read.c, ops_write.c, ops_rotation.c, ops_policy.c, ops_audit.c
 *		one handler per operation (declared in rpc_ops.h)
 * audit_params.c  the request fields an audit event records
 * call.c	answering one gRPC call: request in, reply batch out (rpc_call.h)
 * json.c	answering one request in AWS's JSON protocol (rpc.h)
 * json_shape.c  its bodies <-> protobuf messages; pure, for the fuzzer
 * exchange.c	one request answered, whatever carried it (rpc_exchange.h)
 * server.c	the gRPC core server loop: one completion queue for every
 *		worker, and the long-call pool
 * refusals.c	audit summaries of refused handshakes (one per kind and
 *		interval)
 * accept_guard.c  accept that survives EMFILE, and the connection cap
 * tls.c	gRPC's TLS credentials and the client-certificate check
 *		(rpc_tls.h); the X.509 work in x509.c (rpc_x509.h), the only
 *		OpenSSL user of rpc/
 */
#ifndef COFFER_RPC_INTERNAL_H
#define COFFER_RPC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "cf.h"
#include "cf_metrics.h"

struct engine_call;
struct engine_worker;

/* Metadata keys Coffer sends. */
#define RPC_MD_REQUEST_ID "coffer-request-id"
#define RPC_MD_ERROR_TYPE "coffer-error-type"

/* ---- support.c ---------------------------------------------------------- */

/*
 * rpc_status_of(code):
 * The gRPC status that carries ${code} (design.md, "Errors").
 */
grpc_status_code rpc_status_of(enum cf_code);

/*
 * rpc_listen_check(addr, err):
 * 0 if ${addr} is "HOST:PORT" or "[V6]:PORT" with a loopback HOST
 * (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 or "localhost") and a port in
 * 0..65535; else -1 with ${err} set to CF_ERR_INVALID_PARAMETER.
 */
int rpc_listen_check(const char *, struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_wire_check(desc, buf, len, err):
 * Walk the serialized ${desc} message in ${buf} (nested messages included,
 * to a bounded depth) and check every string field as it is on the wire,
 * before protobuf-c turns it into a C string that would hide an embedded
 * NUL.  Returns 0, or -1 with ${err} set:
 *   CF_ERR_INVALID_PARAMETER "<Field> must not contain NUL characters"
 *   CF_ERR_VALIDATION "Invalid UTF-8 in <Field>"
 *   CF_ERR_INVALID_PARAMETER "could not decode the <Message> message"
 * <Field> is the field's name in the AWS spelling (secret_string becomes
 * SecretString).
 */
int rpc_wire_check(const ProtobufCMessageDescriptor *, const uint8_t *,
    size_t, struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_arena_allocator_init(pa, a):
 * Fill ${pa} with a protobuf-c allocator that takes every block from arena
 * ${a} (locked, never dumped, wiped when the arena is freed); its free()
 * does nothing.  Unpacked requests hold plaintext, and so do the buffers
 * protobuf-c uses while unpacking.
 */
void rpc_arena_allocator_init(ProtobufCAllocator *, struct cf_arena *);

/* ---- json_shape.c ------------------------------------------------------- */

/*
 * rpc_json_request_pack(desc, body, len, a, out, out_len, err):
 * The ${len}-byte JSON ${body} (AWS's shape of request ${desc}; empty is
 * "{}") as that protobuf message, packed into arena ${a}.  Members the
 * shape lacks are skipped, as AWS skips them.  0, or -1 with ${err}:
 * SerializationException for a body that is not the shape (not JSON, not
 * an object, a duplicate or mistyped member, bad base64),
 * InvalidParameterException "<Member> must not contain NUL characters".
 */
int rpc_json_request_pack(const ProtobufCMessageDescriptor *,
    const uint8_t *, size_t, struct cf_arena *, uint8_t **, size_t *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_json_reply_text(desc, buf, len, a, text, text_len, err):
 * The packed reply ${buf} (message ${desc}), unpacked into arena ${a}, as
 * AWS's JSON (dates in epoch seconds, bytes in base64): *${text} on the
 * heap, which the caller wipes and frees (cf_heap_wipe_free: it may hold
 * a value).  0, or -1 with ${err} (InternalServiceError).
 */
int rpc_json_reply_text(const ProtobufCMessageDescriptor *, const uint8_t *,
    size_t, struct cf_arena *, char **, size_t *, struct cf_error *)
    CF_MUSTCHECK;

/* ---- audit_params.c ----------------------------------------------------- */

/* The longest request parameters an audit event records, in bytes. */
#define RPC_AUDIT_PARAMS_MAX 8192

/*
 * rpc_audit_params(a, m):
 * The non-secret members of the decoded request ${m} (an allow-list: never
 * SecretString, SecretBinary, a token or a document) as one JSON object of
 * at most RPC_AUDIT_PARAMS_MAX bytes, in ${a}; "{}" if it has none.  NULL
 * if out of memory.  audit/DESIGN.md, "Request parameters".
 */
const char *rpc_audit_params(struct cf_arena *, const ProtobufCMessage *)
    CF_MUSTCHECK;

/*
 * rpc_audit_params_add(a, params, member, value):
 * ${params} (an object rpc_audit_params made; NULL is "{}") with the
 * string member "${member}":"${value}" after its others, in ${a}: what a
 * call made, which its request could not name (CreateAccessKey's
 * AccessKeyId).  A "Truncated":true stays last; a member that would take
 * the object past RPC_AUDIT_PARAMS_MAX is left out, and the object marked
 * so.  NULL if out of memory.
 */
const char *rpc_audit_params_add(struct cf_arena *, const char *,
    const char *, const char *) CF_MUSTCHECK;

/* ---- service.c ---------------------------------------------------------- */

/* A serialized reply; ${buf} lives in the call's arena. */
struct rpc_reply {
	uint8_t *buf;
	size_t len;
};

/*
 * rpc_service_not_serving(arena, out, err): a Health/Check answer of
 * NOT_SERVING into ${out}, for a health check whose own audit event could
 * not be written: the server cannot serve, and saying so tells nothing.
 */
int rpc_service_not_serving(struct cf_arena *, struct rpc_reply *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * metrics.c: rpc_metrics_begin() when a call arrives; rpc_metrics_end(
 * method, answered, outcome, us) when it is over (method SIZE_MAX: none
 * known; ${answered} 0: the client went away unanswered).
 * rpc_metrics_write is public (rpc.h).
 */
void rpc_metrics_begin(void);
void rpc_metrics_end(size_t, int, enum cf_code, int64_t);

/* rpc_service_count(): the number of methods the server registers. */
size_t rpc_service_count(void);

/* rpc_service_path(i): the path of method ${i}, "/pkg.Service/Method". */
const char *rpc_service_path(size_t);

/* gRPC's transport_security_type of a plaintext connection. */
#define RPC_TRANSPORT_INSECURE "insecure"

/* The principal of every plaintext call (allowed on loopback only). */
#define RPC_PRINCIPAL_PLAINTEXT "anonymous"

/* rpc_service_action(i): the IAM action method ${i} needs; NULL: none. */
const char *rpc_service_action(size_t);

/* rpc_service_op(i): the operation name of method ${i}, for the audit. */
const char *rpc_service_op(size_t);

/* What rpc_service_find_sm returns for a name it does not serve. */
#define RPC_SERVICE_NONE ((size_t)-1)

/*
 * The most calls a worker takes from the queue at once to make their
 * reads together (rpc_exchange_read_ahead): each worker has this many
 * requested calls waiting for each method with such a read, so that
 * calls already arrived are in the queue to be taken, not held in gRPC.
 */
#define RPC_AHEAD_MAX 16

/*
 * rpc_service_find_sm(op): the index of coffer.v1.SecretsManager's method
 * ${op} ("GetSecretValue"): AWS's operations, the ones AWS's JSON protocol
 * names in X-Amz-Target.  RPC_SERVICE_NONE for any other name, Coffer's
 * own services included (they are served over gRPC only).
 */
size_t rpc_service_find_sm(const char *);

/* rpc_service_request(i), rpc_service_response(i): method ${i}'s messages. */
const ProtobufCMessageDescriptor *rpc_service_request(size_t);
const ProtobufCMessageDescriptor *rpc_service_response(size_t);

/*
 * rpc_service_is_long(i): nonzero if method ${i} may run long (it scans
 * many rows or unwraps many keys: listings, audit queries and
 * verification, batch reads), so the server runs it on its long-call pool
 * rather than on a worker that short calls need.
 */
int rpc_service_is_long(size_t);

/*
 * rpc_service_decode(i, arena, req, len, out, err):
 * Check the ${len}-byte request ${req} of method ${i} on the wire
 * (rpc_wire_check) and decode it into ${arena}.  0 with *${out} set, or -1
 * with ${err} set to the failure the client should see.
 */
int rpc_service_decode(size_t, struct cf_arena *, const uint8_t *, size_t,
    ProtobufCMessage **, struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_service_ahead(i, m, a):
 * 1 if method ${i}, asked ${m} (decoded), makes a read engine_read_ahead
 * can make for it with others, which ${a} then names; else 0.
 */
struct engine_read_ahead;
int rpc_service_ahead(size_t, const ProtobufCMessage *,
    struct engine_read_ahead *);

/* rpc_service_has_ahead(i): nonzero if method ${i} may read ahead. */
int rpc_service_has_ahead(size_t);

/*
 * rpc_service_handle(i, w, call, req, len, decoded, out, err):
 * Decode the ${len}-byte request ${req} of method ${i} (unless ${decoded},
 * rpc_service_decode's result, is given), run it on engine worker ${w}
 * and serialize the response into ${out}, allocated in ${call->arena}.
 * Returns 0, or -1 with ${err} set to the failure the client should see.
 * ${req} is only read.
 */
int rpc_service_handle(size_t, struct engine_worker *,
    const struct engine_call *, const uint8_t *, size_t,
    const ProtobufCMessage *, struct rpc_reply *,
    struct cf_error *) CF_MUSTCHECK;

/* ---- server.c ---------------------------------------------------------- */

/* The audit writer and refusal counter a server's calls are recorded by. */
struct rpc_server;
struct audit *rpc_server_audit(const struct rpc_server *);
struct rpc_refusals *rpc_server_refusals(const struct rpc_server *);

/* ---- accept_guard.c ----------------------------------------------------- */

/*
 * rpc_accept_guard_init(max_connections, err):
 * Raise the open-file limit to its hard limit, keep a reserve descriptor
 * and set the connection cap (about ${max_connections} connections; 0: as
 * many as the limit allows), for cofferd's own accept4() (see
 * accept_guard.c).  Call once before the server listens.  Returns 0, or -1
 * with ${err}.
 */
int rpc_accept_guard_init(unsigned, struct cf_error *) CF_MUSTCHECK;

/* rpc_accept_guard_cap(): the descriptor number at which a new connection
 * is shed (-1 before rpc_accept_guard_init). */
long rpc_accept_guard_cap(void);

#endif /* !COFFER_RPC_INTERNAL_H */
