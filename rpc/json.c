/*
 * json.c: answering one request in AWS's JSON protocol (rpc.h,
 * "AWS's JSON protocol").  awsapi/ carries the bytes and decides who is
 * calling; this file is the JSON part of the exchange, as call.c is the
 * gRPC part.
 *
 * A request is AWS's JSON shape of one coffer.v1.SecretsManager
 * operation.  It becomes that operation's protobuf request through
 * shape/ (the same mapping the CLI speaks) and runs through the exchange
 * (exchange.c) exactly as a gRPC call does: the wire check, validation,
 * authorization and the audit are the gRPC path's own, so no rule exists
 * twice.  The reply goes the other way, with timestamps as AWS's
 * fractional epoch seconds.
 *
 * The thread waits for the audit writer's verdict (a condition variable)
 * before it has an answer: a result whose event is not durable is never
 * sent, over this transport as over gRPC.
 *
 * Plaintext: the packed request, its decoding, the reply and its decoding
 * live in the exchange's arena (locked, never dumped, wiped).  The JSON
 * trees and the answer's text are on the heap, which cofferd has jansson
 * wipe when it frees (server/main.c); the answer is the caller's to wipe
 * (cf_heap_wipe_free).
 */
#include "rpc.h"
#include "rpc_exchange.h"
#include "rpc_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shape.h"

/* The writer's verdict, waited for by the request's thread. */
struct verdict {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void
verdict_done(void *arg)
{
	struct verdict *v = arg;

	pthread_mutex_lock(&v->lock);
	v->done = 1;
	pthread_cond_signal(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

/* The status AWS sends with ${code} (aws-secrets-manager-spec.md, 1.4). */
int
rpc_json_http_status(enum cf_code code)
{

	switch (code) {
	case CF_OK:
		return (200);
	case CF_ERR_INTERNAL:
		return (500);
	case CF_ERR_UNAVAILABLE:
		return (503);
	case CF_ERR_MISSING_AUTH:
		return (403);
	default:
		return (400);
	}
}

/* JSON text of ${j} on the heap, into ${a}; -1 if out of memory. */
static int
dump(json_t *j, struct rpc_json_answer *a)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);

	if (n == 0 || (a->body = malloc(n)) == NULL)
		return (-1);
	a->body_len = json_dumpb(j, a->body, n, JSON_COMPACT);
	return (0);
}

/* The answer for ${err}: AWS's error body. */
static void
answer_error(const struct cf_error *err, struct rpc_json_answer *a)
{
	enum cf_code code = err->code != CF_OK ? err->code : CF_ERR_INTERNAL;
	const char *msg = err->code != CF_OK ? err->msg : "internal error";
	json_t *j;

	a->http_status = rpc_json_http_status(code);
	a->error_type = cf_code_name(code);
	j = json_pack("{s:s, s:s}", "__type", a->error_type, "message", msg);
	if (j == NULL || dump(j, a)) {
		/* Nothing to say it with: the status and type still say it. */
		a->body = NULL;
		a->body_len = 0;
	}
	json_decref(j);
}

/* The answer for a reply of method ${method}: its JSON shape. */
static void
answer_reply(struct rpc_exchange *x, size_t method,
    const struct rpc_reply *reply, struct rpc_json_answer *a)
{
	const struct shape_opts wire = { .wire_dates = 1 };
	struct cf_error err;
	ProtobufCAllocator alloc;
	ProtobufCMessage *m;
	json_t *j = NULL;

	rpc_arena_allocator_init(&alloc, x->arena);
	if ((m = protobuf_c_message_unpack(rpc_service_response(method),
	    &alloc, reply->len, reply->buf)) == NULL ||
	    (j = shape_message_to_json(m, &wire)) == NULL || dump(j, a)) {
		json_decref(j);
		cf_error_set(&err, CF_ERR_INTERNAL, "could not encode the "
		    "response");
		answer_error(&err, a);
		return;
	}
	json_decref(j);
	a->http_status = 200;
	a->error_type = NULL;
}

/*
 * The request's JSON as method ${method}'s protobuf request, packed into
 * ${x}'s arena.  0, or -1 with ${err} set: SerializationException when the
 * body is not the operation's shape (as AWS answers), and the wire check's
 * own error for a NUL in a string.
 */
static int
request_pack(struct rpc_exchange *x, size_t method, const uint8_t *body,
    size_t len, uint8_t **out, size_t *out_len, struct cf_error *err)
{
	const struct shape_opts wire = { .wire_dates = 1,
	    .ignore_unknown = 1 };
	ProtobufCMessage *m = NULL;
	json_error_t jerr;
	json_t *j;
	char msg[512];
	int rc = -1, shaped;

	/*
	 * An empty body is an operation without members, as "{}" is.  The
	 * parser's message is not repeated: it quotes the text near the
	 * error, which may be a value.  A \u0000 is let through the parser
	 * so that shape/ refuses it in the gRPC path's words.
	 */
	j = len == 0 ? json_object() : json_loadb((const char *)body, len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (j == NULL || !json_is_object(j)) {
		cf_error_set(err, CF_ERR_SERIALIZATION, j == NULL ? "The "
		    "request body is not valid JSON (line %d, column %d)" :
		    "The request body must be a JSON object", j == NULL ?
		    jerr.line : 0, j == NULL ? jerr.column : 0);
		goto out;
	}
	if ((m = shape_message_new(rpc_service_request(method))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if ((shaped = shape_json_to_message(m, j, &wire, msg,
	    sizeof(msg))) != 0) {
		cf_error_set(err, shaped == SHAPE_NUL ?
		    CF_ERR_INVALID_PARAMETER : CF_ERR_SERIALIZATION, "%s",
		    msg);
		goto out;
	}
	*out_len = protobuf_c_message_get_packed_size(m);
	if ((*out = cf_arena_alloc(x->arena, *out_len > 0 ? *out_len : 1)) ==
	    NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto out;
	}
	(void)protobuf_c_message_pack(m, *out);
	rc = 0;
out:
	if (m != NULL)
		shape_message_free(m);
	json_decref(j);
	return (rc);
}

void
rpc_json_serve(struct rpc_server *s, struct engine_worker *w,
    const struct rpc_json_request *req, struct rpc_json_answer *a)
{
	struct verdict v = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0 };
	const struct rpc_reply *reply;
	const struct cf_error *err;
	struct rpc_exchange x;
	struct cf_error e;
	uint8_t *packed = NULL;
	size_t method, len = 0;

	memset(a, 0, sizeof(*a));
	if (rpc_exchange_init(&x, rpc_server_audit(s),
	    rpc_server_refusals(s))) {
		cf_error_set(&e, CF_ERR_INTERNAL, "out of memory");
		answer_error(&e, a);
		return;
	}
	memcpy(a->request_id, x.request_id, sizeof(a->request_id));
	x.principal = req->principal != NULL ?
	    cf_arena_strdup(x.arena, req->principal) : NULL;
	x.peer = req->peer != NULL ? cf_arena_strdup(x.arena, req->peer) :
	    NULL;

	/*
	 * Refused before it ran: authentication failed, or no such
	 * operation.  Recorded like a gRPC call refused (a caller without
	 * identity is counted, not audited one by one).
	 */
	method = rpc_service_find_sm(req->operation);
	if (req->refused != NULL) {
		rpc_exchange_fail(&x, req->operation, req->refused);
	} else if (method == RPC_SERVICE_NONE) {
		cf_error_set(&e, CF_ERR_UNKNOWN_OPERATION, "Secrets Manager "
		    "has no operation %.100s", req->operation);
		rpc_exchange_fail(&x, req->operation, &e);
	} else if (request_pack(&x, method, req->body, req->body_len,
	    &packed, &len, &e)) {
		rpc_exchange_run(&x, method, w, NULL, 0, &e);
	} else {
		rpc_exchange_run(&x, method, w, packed, len, NULL);
	}

	/* Record, and wait until the events are durable (or could not be). */
	if (rpc_exchange_record(&x, verdict_done, &v) == RPC_RECORDED_LATER) {
		pthread_mutex_lock(&v.lock);
		while (!v.done)
			pthread_cond_wait(&v.cond, &v.lock);
		pthread_mutex_unlock(&v.lock);
	}
	pthread_mutex_destroy(&v.lock);
	pthread_cond_destroy(&v.cond);

	if ((reply = rpc_exchange_result(&x, &err)) != NULL)
		answer_reply(&x, method, reply, a);
	else
		answer_error(err, a);
	rpc_exchange_cleanup(&x);
}
