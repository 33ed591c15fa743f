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
 * What the call does, its audit and the rule that no reply leaves before
 * its event is durable are the exchange's (exchange.c), shared with every
 * transport; this file is the gRPC part: who is calling (the
 * certificate), the bytes in and out, and the reply batch.  A call that is
 * not answered at once is posted back to the queue by the writer's
 * callback (an empty batch, RPC_TAG_AUDITED), and the worker that takes it
 * sends the reply: the writer never packs or sends a reply.
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
#include "rpc_exchange.h"
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
	struct rpc_exchange x;		/* the request, its result, its arena */
	atomic_int refs;
	grpc_metadata initial_md;
	grpc_metadata trailing_md;
	size_t n_trailing;
	grpc_slice details;
	grpc_byte_buffer *response;
	int cancelled;

	/* The request, between rpc_call_accept and rpc_call_run. */
	size_t method;
	uint8_t *req;			/* in the arena; NULL: unread */
	size_t len;
	struct cf_error unread;		/* why, when unread */
};

static void
call_unref(struct call *c)
{

	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	rpc_exchange_cleanup(&c->x);
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
call_new(grpc_call *gcall, struct audit *audit,
    struct rpc_refusals *refusals)
{
	struct call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	if (rpc_exchange_init(&c->x, audit, refusals)) {
		free(c);
		return (NULL);
	}
	c->x.transport = AUDIT_TRANSPORT_GRPC;	/* named in its event */
	c->kind = RPC_TAG_BATCH;
	c->audited = RPC_TAG_AUDITED;
	c->gcall = gcall;
	atomic_init(&c->refs, 1);
	c->details = grpc_empty_slice();
	c->initial_md.key = grpc_slice_from_static_string(RPC_MD_REQUEST_ID);
	c->initial_md.value = grpc_slice_from_copied_string(c->x.request_id);
	return (c);
}

/* ---- identity --------------------------------------------------------------- */

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
	    (who = auth_property(c->x.arena, ctx,
	    GRPC_PEER_SPIFFE_ID_PROPERTY_NAME)) == NULL &&
	    auth_property(c->x.arena, ctx, GRPC_PEER_URI_PROPERTY_NAME) == NULL &&
	    (cn = auth_property(c->x.arena, ctx, GRPC_X509_CN_PROPERTY_NAME)) !=
	    NULL)
		who = cn_principal(c->x.arena, cn);
	grpc_auth_context_release(ctx);
	return (who);
}

/* Who is calling, and from where: the exchange's identity. */
static void
call_identity(struct call *c)
{
	const char *copy = NULL;
	char *peer;

	c->x.principal = call_principal(c);
	if ((peer = grpc_call_get_peer(c->gcall)) != NULL)
		copy = cf_arena_strdup(c->x.arena, peer);
	gpr_free(peer);
	c->x.peer = copy != NULL ? copy : "unknown";
}

/* ---- bytes in and out ------------------------------------------------------- */

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

/* Send the answer, once recorded (rpc_call_audited, or at once). */
static int
call_answer(struct call *c)
{
	const struct cf_error *err;
	const struct rpc_reply *reply = rpc_exchange_result(&c->x, &err);

	return (call_reply(c, reply, err));
}

/*
 * The writer's answer, on the lane's thread: hand the call back to the
 * workers with an empty batch on its queue, which completes at once
 * (RPC_TAG_AUDITED).  Packing and sending the reply is a worker's job: on
 * the writer's thread it made the writer the one thread every audited
 * read passed through (issue 14's measurements).
 */
static void
call_audited(void *arg)
{
	struct call *c = arg;

	if (grpc_call_start_batch(c->gcall, NULL, 0, &c->audited, NULL) !=
	    GRPC_CALL_OK)
		/* Not expected: then the writer sends the reply itself. */
		(void)call_answer(c);
}

void
rpc_call_audited(void *tag)
{

	(void)call_answer((struct call *)((char *)tag -
	    offsetof(struct call, audited)));
}

/*
 * Record the call's outcome, then reply (now, or from the writer's
 * callback).  Returns as call_reply() does: 1 when a reply batch has
 * started or will start from the callback.
 */
static int
call_finish(struct call *c)
{

	if (rpc_exchange_record(&c->x, call_audited, c) ==
	    RPC_RECORDED_LATER)
		return (1);
	return (call_answer(c));
}

struct call *
rpc_call_accept(grpc_call *gcall, size_t method, grpc_byte_buffer *payload,
    struct audit *audit, struct rpc_refusals *refusals)
{
	struct call *c;

	/* A context for the call, which takes the call over. */
	if ((c = call_new(gcall, audit, refusals)) == NULL) {
		call_refuse(gcall);
		return (NULL);
	}

	/* Copy the request where it can be wiped. */
	call_identity(c);
	c->method = method;
	if (call_read(c->x.arena, payload, &c->req, &c->len, &c->unread))
		c->req = NULL;
	return (c);
}

void
rpc_call_read_ahead(struct call *const *calls, size_t n,
    struct engine_worker *w)
{
	struct rpc_exchange *xs[RPC_AHEAD_MAX];
	const uint8_t *reqs[RPC_AHEAD_MAX];
	size_t methods[RPC_AHEAD_MAX], lens[RPC_AHEAD_MAX], i;

	if (n > RPC_AHEAD_MAX)
		n = RPC_AHEAD_MAX;
	for (i = 0; i < n; i++) {
		xs[i] = &calls[i]->x;
		methods[i] = calls[i]->method;
		reqs[i] = calls[i]->req;
		lens[i] = calls[i]->len;
	}
	rpc_exchange_read_ahead(xs, methods, reqs, lens, n, w);
}

int
rpc_call_run(struct call *c, struct engine_worker *w)
{

	/* Run the method; record, then reply (the exchange says what). */
	rpc_exchange_run(&c->x, c->method, w, c->req, c->len,
	    c->req != NULL ? NULL : &c->unread);
	return (call_finish(c));
}

int
rpc_call_serve(grpc_call *gcall, size_t method, grpc_byte_buffer *payload,
    struct engine_worker *w, struct audit *audit,
    struct rpc_refusals *refusals)
{
	struct call *c;

	if ((c = rpc_call_accept(gcall, method, payload, audit, refusals)) ==
	    NULL)
		return (0);
	return (rpc_call_run(c, w));
}

int
rpc_call_refuse(grpc_call *gcall, size_t method, const struct cf_error *why,
    struct audit *audit, struct rpc_refusals *refusals)
{
	struct call *c;

	if ((c = call_new(gcall, audit, refusals)) == NULL) {
		call_refuse(gcall);
		return (0);
	}
	call_identity(c);
	rpc_exchange_fail(&c->x, method, rpc_service_op(method), why);
	return (call_finish(c));
}

int
rpc_call_serve_unknown(grpc_call *gcall, grpc_slice method,
    struct audit *audit, struct rpc_refusals *refusals)
{
	struct cf_error err;
	struct call *c;
	char *path;

	if ((c = call_new(gcall, audit, refusals)) == NULL) {
		call_refuse(gcall);
		return (0);
	}
	call_identity(c);
	path = grpc_slice_to_c_string(method);
	cf_error_set(&err, CF_ERR_UNIMPLEMENTED, "unknown method %.200s",
	    path);
	rpc_exchange_fail(&c->x, RPC_SERVICE_NONE, path, &err);
	gpr_free(path);
	return (call_finish(c));
}

void
rpc_call_done(void *tag)
{

	call_done(tag);
}
