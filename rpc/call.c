/*
 * call.c: answering one gRPC call.
 *
 * A call gets a context with its own arena and request id.  The request is
 * copied out of gRPC's slices into the arena, run through the service
 * table, and the reply goes out in one batch: initial metadata (with
 * coffer-request-id), the response message and the status, or on failure
 * the status the error maps to with coffer-error-type in the trailing
 * metadata.  The batch completes on the call's queue, where the server loop
 * hands it to rpc_call_done().
 *
 * Audit (audit/DESIGN.md): no reply leaves before the call's event is
 * committed.  A change's event is written in its own transaction
 * (engine_commit asks call_change_event for it and appends it with
 * audit_append), so the change and its event commit together, before the
 * reply.  Every other call
 * (reads, failures, unknown methods) submits its event(s) to the writer
 * and goes on to the next call; the writer's callback posts the call back
 * to the queue (RPC_TAG_AUDITED), and whichever worker takes it starts
 * the reply batch.  If the event cannot be written, the client
 * gets ServiceUnavailable instead of the result.  A call without identity
 * (only a client without a certificate, let through by
 * health_without_cert) is not audited by itself: it is counted
 * (refusals.c), summarised in the audit trail once per interval, and
 * answered at once, so that it never waits on the audit queue.
 *
 * Plaintext: the call's arena is locked, never-dumped memory (common/cf.h),
 * and every buffer of ours that may hold a value comes from it: the copy of
 * the request, protobuf-c's decode of it (service.c), the response message
 * and its strings, and the packed response, which is handed to gRPC as a
 * slice over that memory (no copy).  The arena is wiped and freed when both
 * the batch has completed and gRPC has released the slice (a reference
 * count: gRPC may release it from any thread).  gRPC's own buffers (the
 * received slices, HTTP/2 frames, TLS records) are beyond our reach: they
 * are neither locked nor wiped.
 */
#include "rpc_call.h"
#include "rpc_internal.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "audit.h"
#include "engine.h"
#include "rpc_tls.h"

/* One call being answered; freed when the batch and the slice are done. */
struct call {
	enum rpc_tag_kind kind;		/* RPC_TAG_BATCH */
	enum rpc_tag_kind audited;	/* RPC_TAG_AUDITED */
	grpc_call *gcall;
	struct cf_arena *arena;
	atomic_int refs;
	char request_id[CF_UUID_LEN + 1];
	grpc_metadata initial_md;
	grpc_metadata trailing_md;
	size_t n_trailing;
	grpc_slice details;
	grpc_byte_buffer *response;
	int cancelled;

	/* What the audit event needs, and the result it holds back. */
	struct audit *audit;		/* NULL: not audited (benchmarks) */
	struct rpc_refusals *refusals;	/* counts calls without identity */
	const char *op;
	int64_t start_ms;
	struct engine_audit ea;
	struct rpc_reply reply;
	struct cf_error err;
	int ok;
	const char *peer;
	const char *principal;

	/* The writer's verdict on the call's events (call_audited). */
	int audit_ok;
	struct cf_error audit_err;
};

static void
call_unref(struct call *c)
{

	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	cf_arena_free(c->arena);
	free(c);
}

/* The response slice is gone: gRPC may call this from any thread. */
static void
call_slice_done(void *arg)
{

	call_unref(arg);
}

/* Release what the reply batch used, then our reference. */
static void
call_done(struct call *c)
{

	grpc_call_unref(c->gcall);
	if (c->response != NULL)
		grpc_byte_buffer_destroy(c->response);
	grpc_slice_unref(c->details);
	grpc_slice_unref(c->initial_md.key);
	grpc_slice_unref(c->initial_md.value);
	if (c->n_trailing > 0) {
		grpc_slice_unref(c->trailing_md.key);
		grpc_slice_unref(c->trailing_md.value);
	}
	call_unref(c);
}

/* Refuse ${gcall} when not even a call context can be made. */
static void
call_refuse(grpc_call *gcall)
{

	(void)grpc_call_cancel_with_status(gcall,
	    GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
	grpc_call_unref(gcall);
}

/* A context for ${gcall}, which it takes over; NULL if out of memory. */
static struct call *
call_new(grpc_call *gcall, struct audit *audit)
{
	struct call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto err0;
	if ((c->arena = cf_arena_new()) == NULL)
		goto err1;
	if (cf_uuid_random(c->request_id))
		goto err2;
	c->kind = RPC_TAG_BATCH;
	c->audited = RPC_TAG_AUDITED;
	c->gcall = gcall;
	c->audit = audit;
	c->start_ms = cf_now_ms();
	atomic_init(&c->refs, 1);
	c->details = grpc_empty_slice();
	c->initial_md.key = grpc_slice_from_static_string(RPC_MD_REQUEST_ID);
	c->initial_md.value = grpc_slice_from_copied_string(c->request_id);

	/* Success! */
	return (c);

err2:
	cf_arena_free(c->arena);
err1:
	free(c);
err0:
	/* Failure! */
	return (NULL);
}

/* ---- audit ------------------------------------------------------------------ */

_Static_assert(RPC_AUDIT_PARAMS_MAX <= AUDIT_PARAMS_MAX,
    "the writer keeps every request's parameters whole");

/* The call's event, with ${outcome}; the secret and version as known. */
static void
call_event(const struct call *c, const char *outcome, struct audit_event *ev)
{

	memset(ev, 0, sizeof(*ev));
	ev->time_ms = c->start_ms;
	ev->request_id = c->request_id;
	ev->principal = c->principal != NULL ? c->principal :
	    "unauthenticated";
	ev->peer = c->peer != NULL ? c->peer : "unknown";
	ev->operation = c->op;
	ev->secret_arn = c->ea.secret_arn;
	ev->version_id = c->ea.version_id;
	ev->request_params = c->ea.request_params;
	ev->outcome = outcome;
}

/* engine_commit's hook: the change's event, committed with the change. */
static void
call_change_event(struct engine_audit *ea, struct audit_event *ev)
{
	struct call *c = ea->hook_arg;

	call_event(c, "OK", ev);
}

/* The first value of property ${name} of ${ctx}, copied; NULL if none. */
static const char *
auth_property(struct cf_arena *a, const grpc_auth_context *ctx,
    const char *name)
{
	grpc_auth_property_iterator it;
	const grpc_auth_property *p;

	it = grpc_auth_context_find_properties_by_name(ctx, name);
	if ((p = grpc_auth_property_iterator_next(&it)) == NULL ||
	    p->value == NULL || p->value_length == 0)
		return (NULL);
	return (cf_arena_memdup(a, p->value, p->value_length));
}

/* Is the first value of property ${name} of ${ctx} exactly ${value}? */
static int
auth_property_is(const grpc_auth_context *ctx, const char *name,
    const char *value)
{
	grpc_auth_property_iterator it;
	const grpc_auth_property *p;

	it = grpc_auth_context_find_properties_by_name(ctx, name);
	return ((p = grpc_auth_property_iterator_next(&it)) != NULL &&
	    p->value != NULL && p->value_length == strlen(value) &&
	    memcmp(p->value, value, p->value_length) == 0);
}

/* The principal of a certificate without a SPIFFE ID: "cn:" and its CN. */
#define CN_PREFIX "cn:"

static const char *
cn_principal(struct cf_arena *a, const char *cn)
{
	size_t n = strlen(cn);
	char *p;

	if ((p = cf_arena_alloc(a, sizeof(CN_PREFIX) + n)) == NULL)
		return (NULL);
	memcpy(p, CN_PREFIX, sizeof(CN_PREFIX) - 1);
	memcpy(p + sizeof(CN_PREFIX) - 1, cn, n + 1);
	return (p);
}

/*
 * Who is calling.  Over TLS, the verified client certificate's SPIFFE ID
 * (its one URI SAN, a valid spiffe:// ID), or for a certificate without a
 * URI SAN "cn:" and its subject CN, a namespace of its own so that no CN
 * equals a SPIFFE ID; NULL when the client sent no certificate (tls.c has
 * already refused, at the handshake, one that does not chain to the
 * client CA or names no usable identity; a URI SAN gRPC did not take for
 * a SPIFFE ID also gives NULL, never the CN).  Over plaintext, which the
 * server allows only on loopback and only when configured to, every
 * caller is "anonymous".  Anything else is NULL: no identity.
 */
static const char *
call_principal(struct call *c)
{
	static const char type[] = GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME;
	grpc_auth_context *ctx;
	const char *who = NULL, *cn;

	if ((ctx = grpc_call_auth_context(c->gcall)) == NULL)
		return (NULL);
	if (auth_property_is(ctx, type, RPC_TRANSPORT_INSECURE))
		who = RPC_PRINCIPAL_PLAINTEXT;
	else if ((auth_property_is(ctx, type,
	    GRPC_TLS_TRANSPORT_SECURITY_TYPE) || auth_property_is(ctx, type,
	    GRPC_SSL_TRANSPORT_SECURITY_TYPE)) &&
	    grpc_auth_context_peer_is_authenticated(ctx) &&
	    (who = auth_property(c->arena, ctx,
	    GRPC_PEER_SPIFFE_ID_PROPERTY_NAME)) == NULL &&
	    auth_property(c->arena, ctx, GRPC_PEER_URI_PROPERTY_NAME) == NULL &&
	    (cn = auth_property(c->arena, ctx, GRPC_X509_CN_PROPERTY_NAME)) !=
	    NULL)
		who = cn_principal(c->arena, cn);
	grpc_auth_context_release(ctx);
	return (who);
}

/* Fill ${ec}: who is calling, from where, under which request id. */
static int
call_identity(struct call *c, struct engine_call *ec, struct cf_error *err)
{
	char *peer;

	c->principal = call_principal(c);
	peer = grpc_call_get_peer(c->gcall);
	c->peer = cf_arena_strdup(c->arena, peer != NULL ? peer : "unknown");
	gpr_free(peer);
	ec->principal = c->principal;
	ec->request_id = c->request_id;
	ec->arena = c->arena;
	ec->peer = c->peer;
	ec->audit = c->audit != NULL ? &c->ea : NULL;
	c->ea.change_event = call_change_event;
	c->ea.hook_arg = c;
	if (ec->peer == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
}

/* UNAUTHENTICATED for a call without identity to a method that needs one. */
static int
call_authenticated(const struct call *c, const char *action,
    struct cf_error *err)
{

	if (c->principal != NULL || action == NULL)
		return (0);
	cf_error_set(err, CF_ERR_UNAUTHENTICATED, "The request carried no "
	    "client certificate: Coffer identifies callers by mutual TLS.");
	return (-1);
}

/* Copy the request out of gRPC's slices into ${a}, where it can be wiped. */
static int
call_read(struct cf_arena *a, grpc_byte_buffer *bb, uint8_t **out,
    size_t *out_len, struct cf_error *err)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	uint8_t *buf;
	size_t n = 0, len;

	if (bb == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "the request carried no message");
		return (-1);
	}
	len = grpc_byte_buffer_length(bb);
	if ((buf = cf_arena_alloc(a, len > 0 ? len : 1)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	if (!grpc_byte_buffer_reader_init(&r, bb)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "could not read the request message");
		return (-1);
	}
	while (grpc_byte_buffer_reader_next(&r, &s)) {
		/* The reader decompresses; never write past what we sized. */
		if (GRPC_SLICE_LENGTH(s) > len - n) {
			grpc_slice_unref(s);
			grpc_byte_buffer_reader_destroy(&r);
			cf_error_set(err, CF_ERR_INVALID_PARAMETER,
			    "could not read the request message");
			return (-1);
		}
		memcpy(buf + n, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
		n += GRPC_SLICE_LENGTH(s);
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_reader_destroy(&r);
	*out = buf;
	*out_len = n;
	return (0);
}

/* The response message over arena memory: no copy gRPC would keep. */
static void
call_set_response(struct call *c, const struct rpc_reply *reply)
{
	grpc_slice s;

	if (reply->len == 0) {
		s = grpc_empty_slice();
	} else {
		atomic_fetch_add(&c->refs, 1);
		s = grpc_slice_new_with_user_data(reply->buf, reply->len,
		    call_slice_done, c);
	}
	c->response = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
}

/* The status, message and trailing metadata that carry ${err}. */
static grpc_status_code
call_set_error(struct call *c, const struct cf_error *err)
{
	enum cf_code code = err->code;
	const char *msg = err->msg;

	/* A failure that forgot to say why is still a failure. */
	if (code == CF_OK) {
		code = CF_ERR_INTERNAL;
		msg = "internal error";
	}
	c->details = grpc_slice_from_copied_string(msg);
	c->trailing_md.key = grpc_slice_from_static_string(RPC_MD_ERROR_TYPE);
	c->trailing_md.value = grpc_slice_from_static_string(cf_code_name(code));
	c->n_trailing = 1;
	return (rpc_status_of(code));
}

/*
 * Send the reply: ${reply} if it is not NULL, else the status ${err} maps to
 * with the AWS exception name in trailing metadata.  The batch completes on
 * the call's queue (RPC_TAG_BATCH), where rpc_call_done() releases
 * everything.  Returns 1 if the batch started, 0 if not (the call is then
 * released already).
 */
static int
call_reply(struct call *c, const struct rpc_reply *reply,
    const struct cf_error *err)
{
	grpc_op ops[4];
	size_t n = 0;
	grpc_status_code status = GRPC_STATUS_OK;

	memset(ops, 0, sizeof(ops));
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[n].data.send_initial_metadata.count = 1;
	ops[n++].data.send_initial_metadata.metadata = &c->initial_md;
	if (reply != NULL) {
		call_set_response(c, reply);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->response;
	} else {
		status = call_set_error(c, err);
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = status;
	ops[n].data.send_status_from_server.status_details = &c->details;
	ops[n].data.send_status_from_server.trailing_metadata_count =
	    c->n_trailing;
	ops[n++].data.send_status_from_server.trailing_metadata =
	    &c->trailing_md;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;

	/* If the batch cannot start, no completion will come. */
	if (grpc_call_start_batch(c->gcall, ops, n, c, NULL) != GRPC_CALL_OK) {
		call_done(c);
		return (0);
	}
	return (1);
}

/* Send the held result, or the audit failure (rpc_call_audited). */
static void
call_reply_audited(struct call *c)
{
	struct cf_error e = { CF_OK, "" };

	/*
	 * A health check whose event could not be written answers
	 * NOT_SERVING, as the protocol says, rather than an error.
	 */
	if (!c->audit_ok && c->op != NULL &&
	    strcmp(c->op, "Health/Check") == 0 &&
	    rpc_service_not_serving(c->arena, &c->reply, &e) == 0)
		(void)call_reply(c, &c->reply, &e);
	else if (!c->audit_ok)
		(void)call_reply(c, NULL, &c->audit_err);
	else
		(void)call_reply(c, c->ok ? &c->reply : NULL, &c->err);
}

/*
 * The writer's answer, on the lane's thread: keep it and hand the call
 * back to the workers with an empty batch on its queue, which completes
 * at once (RPC_TAG_AUDITED).  Packing and sending the reply is a worker's
 * job: on the writer's thread it made the writer the one thread every
 * audited read passed through (issue 14's measurements).
 */
static void
call_audited(void *arg, int ok, const struct cf_error *aerr)
{
	struct call *c = arg;

	c->audit_ok = ok;
	if (!ok)
		c->audit_err = *aerr;
	if (grpc_call_start_batch(c->gcall, NULL, 0, &c->audited, NULL) !=
	    GRPC_CALL_OK)
		/* Not expected: then the writer sends the reply itself. */
		call_reply_audited(c);
}

void
rpc_call_audited(void *tag)
{

	call_reply_audited((struct call *)((char *)tag -
	    offsetof(struct call, audited)));
}

/*
 * Record the call's outcome, then reply (from the writer's callback).
 * Returns as call_reply() does: 1 when a reply batch has started or will
 * start from the callback.
 */
static int
call_finish(struct call *c)
{
	struct audit_event one, *ev = &one;
	struct cf_error err = { CF_OK, "" };
	const char *outcome;
	size_t n = 1, i;

	/*
	 * No identity (a client let through for the health check): counted,
	 * not audited one by one, so that it never waits on the audit queue.
	 */
	if (c->principal == NULL && c->refusals != NULL) {
		outcome = c->ok ? "OK" : cf_code_name(c->err.code != CF_OK ?
		    c->err.code : CF_ERR_INTERNAL);
		(void)rpc_refusals_add(c->refusals, c->peer, "unauthenticated",
		    c->op, outcome);
		return (call_reply(c, c->ok ? &c->reply : NULL, &c->err));
	}

	/* Not audited (a benchmark's configuration), or already recorded. */
	if (c->audit == NULL || (c->ea.recorded && c->ok))
		return (call_reply(c, c->ok ? &c->reply : NULL, &c->err));

	/*
	 * A failed call, or a read: its outcome.  (A change whose commit
	 * failed after its event was recorded gets this second event, which
	 * says how the call really ended.)  BatchGetSecretValue has one
	 * event per secret.
	 */
	outcome = c->ok ? "OK" : cf_code_name(c->err.code != CF_OK ?
	    c->err.code : CF_ERR_INTERNAL);
	if (c->ok && c->ea.n_items > 0) {
		n = c->ea.n_items;
		if ((ev = cf_arena_alloc(c->arena, n * sizeof(*ev))) == NULL)
			goto fail;
		for (i = 0; i < n; i++) {
			call_event(c, c->ea.items[i].outcome, &ev[i]);
			ev[i].secret_arn = c->ea.items[i].secret;
			ev[i].version_id = c->ea.items[i].version_id;
			ev[i].accessed_secret = c->ea.items[i].accessed_secret;
			ev[i].accessed_version =
			    c->ea.items[i].accessed_version;
		}
	} else {
		call_event(c, outcome, &one);
		/* A read's LastAccessedDate, with its event. */
		if (c->ok) {
			one.accessed_secret = c->ea.accessed_secret;
			one.accessed_version = c->ea.accessed_version;
		}
	}
	if (audit_submit(c->audit, ev, n, call_audited, c) == 0)
		return (1);
fail:
	cf_error_set(&err, CF_ERR_UNAVAILABLE, "could not record the audit "
	    "event");
	return (call_reply(c, NULL, &err));
}

/*
 * Every call but the health check needs the audit: refused while the
 * token's head of the chain lags beyond audit_head_max_lag (fail closed).
 */
static int
call_audit_open(const struct call *c, const char *action,
    struct cf_error *err)
{

	if (c->audit == NULL || action == NULL)
		return (0);
	return (audit_head_check(c->audit, err));
}

int
rpc_call_serve(grpc_call *gcall, size_t method, grpc_byte_buffer *payload,
    struct engine_worker *w, struct audit *audit,
    struct rpc_refusals *refusals)
{
	struct engine_call ec;
	struct call *c;
	uint8_t *req;
	size_t len;

	/* A context for the call, which takes the call over. */
	if ((c = call_new(gcall, audit)) == NULL) {
		call_refuse(gcall);
		return (0);
	}
	c->op = rpc_service_op(method);
	c->refusals = refusals;

	/*
	 * Copy the request where it can be wiped, then run the method; every
	 * method but the health check needs an identity.
	 */
	memset(&ec, 0, sizeof(ec));
	ec.action = rpc_service_action(method);
	if (call_identity(c, &ec, &c->err) == 0 &&
	    call_authenticated(c, ec.action, &c->err) == 0 &&
	    call_audit_open(c, ec.action, &c->err) == 0 &&
	    call_read(c->arena, payload, &req, &len, &c->err) == 0 &&
	    rpc_service_handle(method, w, &ec, req, len, &c->reply,
	    &c->err) == 0)
		c->ok = 1;

	/* Record, then reply; on failure ${c->err} says what the client sees. */
	return (call_finish(c));
}

int
rpc_call_refuse(grpc_call *gcall, size_t method, const struct cf_error *why,
    struct audit *audit, struct rpc_refusals *refusals)
{
	struct engine_call ec;
	struct call *c;

	if ((c = call_new(gcall, audit)) == NULL) {
		call_refuse(gcall);
		return (0);
	}
	c->op = rpc_service_op(method);
	c->refusals = refusals;
	c->err = *why;
	memset(&ec, 0, sizeof(ec));
	(void)call_identity(c, &ec, &c->err);
	return (call_finish(c));
}

int
rpc_call_serve_unknown(grpc_call *gcall, grpc_slice method,
    struct audit *audit, struct rpc_refusals *refusals)
{
	struct engine_call ec;
	struct call *c;
	char *path;

	if ((c = call_new(gcall, audit)) == NULL) {
		call_refuse(gcall);
		return (0);
	}
	c->refusals = refusals;
	memset(&ec, 0, sizeof(ec));
	path = grpc_slice_to_c_string(method);
	c->op = cf_arena_strdup(c->arena, path);
	cf_error_set(&c->err, CF_ERR_UNIMPLEMENTED, "unknown method %.200s",
	    path);
	gpr_free(path);
	if (c->op == NULL)
		c->op = "unknown";
	(void)call_identity(c, &ec, &c->err);
	return (call_finish(c));
}

void
rpc_call_done(void *tag)
{

	call_done(tag);
}
