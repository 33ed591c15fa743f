/*
 * json.c: answering one request in AWS's JSON protocol (rpc.h,
 * "AWS's JSON protocol").  awsapi/ carries the bytes and decides who is
 * calling; this file is the JSON part of the exchange, as call.c is the
 * gRPC part.
 *
 * A request is AWS's JSON shape of one coffer.v1.SecretsManager
 * operation.  It becomes that operation's protobuf request through
 * shape/ (json_shape.c: the mapping the CLI speaks) and runs through the
 * exchange (exchange.c) exactly as a gRPC call does: the wire check,
 * validation, authorization and the audit are the gRPC path's own, so no
 * rule exists twice.  The reply goes the other way, with timestamps as AWS's
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
	struct cf_error err;

	if (rpc_json_reply_text(rpc_service_response(method), reply->buf,
	    reply->len, x->arena, &a->body, &a->body_len, &err)) {
		answer_error(&err, a);
		return;
	}
	a->http_status = 200;
	a->error_type = NULL;
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
	x.transport = AUDIT_TRANSPORT_AWS_JSON;
	x.access_key_id = req->access_key_id != NULL ?
	    cf_arena_strdup(x.arena, req->access_key_id) : NULL;

	/*
	 * Refused before it ran: authentication failed, or no such
	 * operation.  Recorded like a gRPC call refused (a caller without
	 * identity is counted, not audited one by one).
	 */
	method = rpc_service_find_sm(req->operation);
	if (req->refused != NULL) {
		rpc_exchange_fail(&x, method, req->operation, req->refused);
	} else if (method == RPC_SERVICE_NONE) {
		cf_error_set(&e, CF_ERR_UNKNOWN_OPERATION, "Secrets Manager "
		    "has no operation %.100s", req->operation);
		rpc_exchange_fail(&x, method, req->operation, &e);
	} else if (rpc_json_request_pack(rpc_service_request(method),
	    req->body, req->body_len, x.arena, &packed, &len, &e)) {
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
