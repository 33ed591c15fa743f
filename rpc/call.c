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
 * Plaintext: the response is packed into the arena and handed to gRPC as a
 * slice over that memory (no copy), so the arena, wiped when freed, holds
 * the only copies of request and response Coffer controls.  The arena is
 * freed when both the batch has completed and gRPC has released the slice
 * (a reference count: gRPC may release it from any thread).  gRPC's own
 * buffers (the received slices, HTTP/2 frames, TLS records) are beyond our
 * reach and cannot be wiped.
 */
#include "rpc_call.h"
#include "rpc_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>

#include "engine.h"

/* One call being answered; freed when the batch and the slice are done. */
struct call {
	enum rpc_tag_kind kind;		/* RPC_TAG_BATCH */
	grpc_call *gcall;
	struct cf_arena *arena;
	atomic_int refs;
	char request_id[RPC_UUID_LEN + 1];
	grpc_metadata initial_md;
	grpc_metadata trailing_md;
	size_t n_trailing;
	grpc_slice details;
	grpc_byte_buffer *response;
	int cancelled;
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
call_new(grpc_call *gcall)
{
	struct call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto err0;
	if ((c->arena = cf_arena_new()) == NULL)
		goto err1;
	if (rpc_uuid_v4(c->request_id))
		goto err2;
	c->kind = RPC_TAG_BATCH;
	c->gcall = gcall;
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

/* Fill ${ec}: who is calling, from where, under which request id. */
static int
call_identity(struct call *c, struct engine_call *ec, struct cf_error *err)
{
	char *peer;

	ec->principal = "anonymous";	/* until mTLS */
	ec->request_id = c->request_id;
	ec->arena = c->arena;
	peer = grpc_call_get_peer(c->gcall);
	ec->peer = cf_arena_strdup(c->arena, peer != NULL ? peer : "unknown");
	gpr_free(peer);
	if (ec->peer == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
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

int
rpc_call_serve(grpc_call *gcall, size_t method, grpc_byte_buffer *payload,
    struct engine_worker *w)
{
	struct cf_error err = {CF_OK, ""};
	struct engine_call ec;
	struct rpc_reply reply = {NULL, 0};
	struct call *c;
	uint8_t *req;
	size_t len;
	int ok = 0;

	/* A context for the call, which takes the call over. */
	if ((c = call_new(gcall)) == NULL) {
		call_refuse(gcall);
		return (0);
	}

	/* Copy the request where it can be wiped, then run the method. */
	if (call_identity(c, &ec, &err) == 0 &&
	    call_read(c->arena, payload, &req, &len, &err) == 0 &&
	    rpc_service_handle(method, w, &ec, req, len, &reply, &err) == 0)
		ok = 1;

	/* Reply; on failure ${err} says what the client sees. */
	return (call_reply(c, ok ? &reply : NULL, &err));
}

int
rpc_call_serve_unknown(grpc_call *gcall, grpc_slice method)
{
	struct cf_error err = {CF_OK, ""};
	struct call *c;
	char *path;

	if ((c = call_new(gcall)) == NULL) {
		call_refuse(gcall);
		return (0);
	}
	path = grpc_slice_to_c_string(method);
	cf_error_set(&err, CF_ERR_UNIMPLEMENTED, "unknown method %s", path);
	gpr_free(path);
	return (call_reply(c, NULL, &err));
}

void
rpc_call_done(void *tag)
{

	call_done(tag);
}
