/*
 * listener.c: the HTTPS listener of AWS's JSON protocol (awsapi.h).
 *
 * libmicrohttpd parses HTTP and runs TLS (GnuTLS); this file takes a
 * request's headers and body, authenticates it (sigv4.c, then the access
 * key's secret unsealed in the token by the engine) and hands it to
 * rpc_json_serve(), which answers it as the gRPC call of the same
 * operation would be answered.  Every request reaches rpc_json_serve,
 * refused or not, so that every one is recorded: a request that fails
 * authentication is counted with the refused handshakes (one audit
 * summary per peer and kind each interval), an authenticated one audited.
 *
 * What a request must be, in the order it is checked.  On its headers,
 * before any of its body is kept (precheck): POST / with no query (a
 * presigned URL is refused: it carries a credential that ends up in
 * logs), a Content-Length within AWSAPI_BODY_MAX, and an Authorization
 * header of the right form, scope and time.  Then its body: at most
 * AWSAPI_BODY_MAX bytes, within the listener's budget for all bodies
 * (BODIES_MAX).  Then a valid signature by an active access key; then
 * X-Amz-Target "secretsmanager.<Operation>" and Content-Type
 * application/x-amz-json-1.1.  The signature comes before the target so
 * that a caller without a key learns nothing but that.
 *
 * Plaintext: the body is read into locked, never-dumped memory
 * (cf_secret) and wiped when the request ends; the answer is wiped when
 * libmicrohttpd lets it go.  libmicrohttpd's and GnuTLS's own buffers
 * (the connection's read buffer, TLS records) are beyond our reach, as
 * gRPC's are on the other listener.
 */
#include "awsapi.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "awsapi_internal.h"
#include "engine.h"
#include "rpc.h"
#include "sigv4.h"

#define SERVICE "secretsmanager"
#define TARGET_PREFIX "secretsmanager."
#define CONTENT_TYPE "application/x-amz-json-1.1"
/* Headers kept for the signature: botocore sends about ten. */
#define MAX_HEADERS 64
/* How long a stop waits for requests being read or answered. */
#define STOP_GRACE_MS 10000
/*
 * The most bytes held for request bodies at once, all connections
 * together (128 bodies of the largest size): a body must be read before
 * its signature can be checked, so without it aws_max_connections peers
 * sending large bodies could make cofferd hold half a GiB.
 */
#define BODIES_MAX ((size_t)64 * 1024 * 1024)

struct awsapi {
	struct MHD_Daemon *mhd;
	struct engine *engine;
	struct rpc_server *rpc;
	char *region;
	int tls;			/* awsapi_tls_start's pair is ours */
	int port;
	atomic_int requests;		/* being read or answered */
	atomic_size_t bodies;		/* bytes held for bodies being read */

	/* Every thread's engine worker, freed once the threads are gone. */
	pthread_mutex_t lock;
	struct engine_worker **workers;
	size_t n_workers;
	size_t cap_workers;
};

/* This thread's engine worker (libmicrohttpd's pool threads only). */
static _Thread_local struct engine_worker *thread_worker;

/* One request being read. */
struct request {
	struct cf_secret *body;		/* locked; grows to the bound */
	size_t len;
	size_t reserved;		/* of the listener's body budget */
	int too_long;			/* more than AWSAPI_BODY_MAX came */
	int over_budget;		/* the budget had no room for it */
	int refused;			/* refused on its headers: ${why} */
	struct cf_error why;
};

/* ---- engine workers ------------------------------------------------------- */

/*
 * This thread's engine worker, made on its first request.  NULL with
 * ${err} set if it cannot be made (the database or token is down): the
 * request is answered ServiceUnavailable and the next one tries again.
 */
static struct engine_worker *
worker(struct awsapi *a, struct cf_error *err)
{
	struct engine_worker *w, **grown;
	size_t cap;

	if (thread_worker != NULL)
		return (thread_worker);
	if ((w = engine_worker_new(a->engine, err)) == NULL)
		return (NULL);
	pthread_mutex_lock(&a->lock);
	if (a->n_workers == a->cap_workers) {
		cap = a->cap_workers > 0 ? 2 * a->cap_workers : 8;
		if ((grown = realloc(a->workers, cap * sizeof(*grown))) ==
		    NULL) {
			pthread_mutex_unlock(&a->lock);
			engine_worker_free(w);
			cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
			return (NULL);
		}
		a->workers = grown;
		a->cap_workers = cap;
	}
	a->workers[a->n_workers++] = w;
	pthread_mutex_unlock(&a->lock);
	thread_worker = w;
	return (w);
}

/* ---- the request as received ---------------------------------------------- */

struct headers {
	struct sigv4_header h[MAX_HEADERS];
	size_t n;
	int overflow;
};

static enum MHD_Result
header_add(void *cls, enum MHD_ValueKind kind, const char *name,
    const char *value)
{
	struct headers *hs = cls;

	(void)kind;
	if (hs->n == MAX_HEADERS) {
		hs->overflow = 1;
		return (MHD_NO);
	}
	hs->h[hs->n].name = name;
	hs->h[hs->n].value = value != NULL ? value : "";
	hs->n++;
	return (MHD_YES);
}

/* The peer as gRPC names one, "ipv4:127.0.0.1:40000", into ${out}. */
static void
peer_of(struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	char host[INET6_ADDRSTRLEN];

	snprintf(out, n, "unknown");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET && inet_ntop(AF_INET,
	    &((const struct sockaddr_in *)(const void *)sa)->sin_addr, host,
	    sizeof(host)) != NULL)
		snprintf(out, n, "ipv4:%s:%u", host, ntohs(((const struct
		    sockaddr_in *)(const void *)sa)->sin_port));
	else if (sa->sa_family == AF_INET6 && inet_ntop(AF_INET6,
	    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, host,
	    sizeof(host)) != NULL)
		snprintf(out, n, "ipv6:[%s]:%u", host, ntohs(((const struct
		    sockaddr_in6 *)(const void *)sa)->sin6_port));
}

/* Take ${n} more bytes of the listener's body budget for ${r}. */
static int
budget_take(struct awsapi *a, struct request *r, size_t n)
{
	size_t held = atomic_load(&a->bodies);

	do {
		if (n > BODIES_MAX - held)
			return (-1);
	} while (!atomic_compare_exchange_weak(&a->bodies, &held, held + n));
	r->reserved += n;
	return (0);
}

/*
 * Append ${n} bytes to the body, growing it up to the bound.  A request
 * already refused, too long or over the budget keeps nothing: the rest
 * of its body is read and dropped.
 */
static int
body_append(struct awsapi *a, struct request *r, const char *data, size_t n)
{
	struct cf_secret *grown;
	size_t cap, had;

	if (r->refused || r->too_long || r->over_budget)
		return (0);
	if (n > AWSAPI_BODY_MAX - r->len) {
		r->too_long = 1;
		return (0);
	}
	if (r->body == NULL || r->len + n > r->body->len) {
		had = r->body != NULL ? r->body->len : 0;
		for (cap = had > 0 ? had : 4096; cap < r->len + n; cap *= 2)
			continue;
		if (cap > AWSAPI_BODY_MAX)
			cap = AWSAPI_BODY_MAX;
		if (budget_take(a, r, cap - had)) {
			r->over_budget = 1;
			return (0);
		}
		if ((grown = cf_secret_new(cap)) == NULL)
			return (-1);
		if (r->len > 0)
			memcpy(grown->data, r->body->data, r->len);
		cf_secret_free(r->body);
		r->body = grown;
	}
	memcpy(r->body->data + r->len, data, n);
	r->len += n;
	return (0);
}

/* ---- authentication ------------------------------------------------------- */

/* The code that carries a SigV4 verdict. */
static enum cf_code
verdict_code(enum sigv4_verdict v)
{

	switch (v) {
	case SIGV4_MISSING:
		return (CF_ERR_MISSING_AUTH);
	case SIGV4_INCOMPLETE:
		return (CF_ERR_INCOMPLETE_SIGNATURE);
	case SIGV4_UNKNOWN_KEY:
		return (CF_ERR_UNRECOGNIZED_CLIENT);
	default:
		return (CF_ERR_INVALID_SIGNATURE);
	}
}

/*
 * Who signed ${sr}: the principal of an active access key whose secret
 * gives the signature sent, copied into ${principal}.  0, or -1 with
 * ${why} saying how authentication failed (or that the database or token
 * could not be asked).
 */
static int
authenticate(struct awsapi *a, struct engine_worker *w,
    const struct sigv4_request *sr, const char *peer, char *principal,
    size_t n, char *key_id, size_t key_id_n, struct cf_error *why)
{
	struct engine_access_key key;
	struct engine_call ec;
	struct sigv4_auth auth;
	enum sigv4_verdict v;
	char msg[512];
	int rc = -1;

	if ((v = sigv4_parse(sr, a->region, SERVICE, time(NULL), &auth, msg,
	    sizeof(msg))) != SIGV4_OK) {
		cf_error_set(why, verdict_code(v), "%s", msg);
		return (-1);
	}
	snprintf(key_id, key_id_n, "%s", auth.access_key_id);

	/* The key's secret, unsealed into an arena wiped at the end. */
	memset(&ec, 0, sizeof(ec));
	ec.peer = peer;
	ec.request_id = "";
	if ((ec.arena = cf_arena_new()) == NULL) {
		cf_error_set(why, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	switch (engine_access_key_open(w, &ec, auth.access_key_id, &key,
	    why)) {
	case ENGINE_KEY_ERROR:
		goto out;
	case ENGINE_KEY_UNKNOWN:
	case ENGINE_KEY_INACTIVE:
		/* AWS's words; whether the key exists is not said. */
		cf_error_set(why, CF_ERR_UNRECOGNIZED_CLIENT, "The security "
		    "token included in the request is invalid.");
		goto out;
	case ENGINE_KEY_ACTIVE:
		break;
	}
	if ((v = sigv4_check(sr, &auth, (const uint8_t *)key.secret,
	    strlen(key.secret), msg, sizeof(msg))) != SIGV4_OK) {
		cf_error_set(why, verdict_code(v), "%s", msg);
		goto out;
	}
	if ((size_t)snprintf(principal, n, "%s", key.principal) >= n) {
		cf_error_set(why, CF_ERR_INTERNAL, "principal too long");
		goto out;
	}
	rc = 0;
out:
	cf_arena_free(ec.arena);
	return (rc);
}

/* ---- one request ---------------------------------------------------------- */

static void
answer_free(void *buf)
{

	cf_heap_wipe_free(buf);
}

/* Send ${ans}; the body is the response's from here on. */
static enum MHD_Result
send_answer(struct MHD_Connection *c, struct rpc_json_answer *ans)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (ans->body != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback(
		    ans->body_len, ans->body, answer_free);
	else
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		cf_heap_wipe_free(ans->body);
		return (MHD_NO);
	}
	(void)MHD_add_response_header(resp, "Content-Type", CONTENT_TYPE);
	(void)MHD_add_response_header(resp, "x-amzn-RequestId",
	    ans->request_id);
	if (ans->error_type != NULL)
		(void)MHD_add_response_header(resp, "x-amzn-ErrorType",
		    ans->error_type);
	rc = MHD_queue_response(c, (unsigned)ans->http_status, resp);
	MHD_destroy_response(resp);
	return (rc);
}

/*
 * The operation X-Amz-Target names, into ${op}; "" if it names none of
 * Secrets Manager's (the rpc layer then says UnknownOperationException).
 */
static void
target_op(const char *target, char *op, size_t n)
{

	op[0] = '\0';
	if (target != NULL && strncmp(target, TARGET_PREFIX,
	    sizeof(TARGET_PREFIX) - 1) == 0)
		snprintf(op, n, "%s", target + sizeof(TARGET_PREFIX) - 1);
}

/*
 * ${c}'s headers as the signature check takes them, with ${r}'s body so
 * far.  Header names and values are libmicrohttpd's, valid while the
 * request is.
 */
static void
request_of(struct MHD_Connection *c, const char *url, const char *method,
    const struct request *r, struct headers *hs, struct sigv4_request *sr)
{

	memset(hs, 0, sizeof(*hs));
	(void)MHD_get_connection_values(c, MHD_HEADER_KIND, header_add, hs);
	memset(sr, 0, sizeof(*sr));
	sr->method = method;
	sr->path = url;
	sr->query = "";
	sr->headers = hs->h;
	sr->nheaders = hs->n;
	sr->body = r->body != NULL ? r->body->data : (const uint8_t *)"";
	sr->body_len = r->len;
}

/*
 * What can be refused on the headers alone, before any of the body is
 * kept: not POST /, a query string, too many headers, a Content-Length
 * over the bound, and an Authorization header that is malformed, for
 * another scope or outside the clock window (sigv4_parse needs no body
 * and no secret).  0, or -1 with ${why} set.
 */
static int
precheck(struct awsapi *a, struct MHD_Connection *c, const char *url,
    const char *method, const struct request *r, struct cf_error *why)
{
	struct sigv4_request sr;
	struct sigv4_auth auth;
	struct headers hs;
	enum sigv4_verdict v;
	const char *cl;
	char msg[512];

	request_of(c, url, method, r, &hs, &sr);
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (strcmp(method, "POST") != 0 || strcmp(url, "/") != 0)
		cf_error_set(why, CF_ERR_UNKNOWN_OPERATION, "Secrets Manager "
		    "answers POST / only");
	else if (MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, NULL,
	    NULL) > 0)
		cf_error_set(why, CF_ERR_INCOMPLETE_SIGNATURE, "Coffer "
		    "accepts Signature Version 4 in the Authorization header "
		    "only: the request has a query string (a presigned URL?)");
	else if (hs.overflow)
		cf_error_set(why, CF_ERR_INCOMPLETE_SIGNATURE, "The request "
		    "has more than %d headers", MAX_HEADERS);
	else if (cl != NULL && strtoull(cl, NULL, 10) > AWSAPI_BODY_MAX)
		cf_error_set(why, CF_ERR_SERIALIZATION, "The request body is "
		    "longer than %d bytes", AWSAPI_BODY_MAX);
	else if ((v = sigv4_parse(&sr, a->region, SERVICE, time(NULL), &auth,
	    msg, sizeof(msg))) != SIGV4_OK)
		cf_error_set(why, verdict_code(v), "%s", msg);
	else
		return (0);
	return (-1);
}

/* A request fully read: authenticate it, run it, answer. */
static enum MHD_Result
serve(struct awsapi *a, struct MHD_Connection *c, const char *url,
    const char *method, struct request *r)
{
	struct rpc_json_request jr;
	struct rpc_json_answer ans;
	struct sigv4_request sr;
	struct headers hs;
	struct engine_worker *w = NULL;
	struct cf_error why = { CF_OK, "" };
	const char *target, *ctype;
	char peer[80], principal[1024], key_id[129], op[128];
	int refused = 1, authenticated = 0;

	request_of(c, url, method, r, &hs, &sr);
	peer_of(c, peer, sizeof(peer));
	target = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Amz-Target");
	ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Content-Type");
	target_op(target, op, sizeof(op));
	key_id[0] = '\0';

	if (r->refused)
		why = r->why;
	else if (r->too_long)
		cf_error_set(&why, CF_ERR_SERIALIZATION, "The request body is "
		    "longer than %d bytes", AWSAPI_BODY_MAX);
	else if (r->over_budget)
		cf_error_set(&why, CF_ERR_THROTTLING, "Rate exceeded: too "
		    "many request bodies are being read; retry");
	else if ((w = worker(a, &why)) == NULL)
		;	/* ServiceUnavailable: said in why */
	else if (authenticate(a, w, &sr, peer, principal, sizeof(principal),
	    key_id, sizeof(key_id), &why) == 0)
		refused = 0, authenticated = 1;

	/* Authenticated: the target and the body's type, then the call. */
	if (!refused && (ctype == NULL || strcasecmp(ctype, CONTENT_TYPE) !=
	    0)) {
		cf_error_set(&why, CF_ERR_SERIALIZATION, "Content-Type must "
		    "be %s", CONTENT_TYPE);
		refused = 1;
	}
	/*
	 * A refused request still goes through rpc_json_serve, to be
	 * recorded.  One refused after authentication keeps its principal
	 * and key id: it is audited as that caller's.
	 */
	memset(&jr, 0, sizeof(jr));
	jr.operation = op[0] != '\0' ? op : (target != NULL ? target :
	    "unknown");
	jr.principal = authenticated ? principal : NULL;
	jr.access_key_id = authenticated ? key_id : NULL;
	jr.peer = peer;
	jr.body = sr.body;
	jr.body_len = sr.body_len;
	jr.refused = refused ? &why : NULL;
	rpc_json_serve(a->rpc, w, &jr, &ans);
	return (send_answer(c, &ans));
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **req_cls)
{
	struct awsapi *a = cls;
	struct request *r = *req_cls;

	(void)version;
	/* The headers are in: make the request's state. */
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return (MHD_NO);
		*req_cls = r;
		atomic_fetch_add(&a->requests, 1);
		r->refused = precheck(a, c, url, method, r, &r->why) != 0;
		return (MHD_YES);
	}
	/* Part of the body. */
	if (*data_size > 0) {
		if (body_append(a, r, data, *data_size))
			return (MHD_NO);
		*data_size = 0;
		return (MHD_YES);
	}
	/* All of it. */
	return (serve(a, c, url, method, r));
}

/* The request is over (answered, or the connection went away). */
static void
completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode code)
{
	struct awsapi *a = cls;
	struct request *r = *req_cls;

	(void)c;
	(void)code;
	if (r == NULL)
		return;
	cf_secret_free(r->body);
	atomic_fetch_sub(&a->bodies, r->reserved);
	free(r);
	*req_cls = NULL;
	atomic_fetch_sub(&a->requests, 1);
}

/* ---- the listener --------------------------------------------------------- */

struct awsapi *
awsapi_start(const struct awsapi_config *cfg, struct cf_error *err)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	awsapi_cert_fn *cert;
	struct awsapi *a;

	if (cf_listen_address(cfg->listen, "aws_listen", &ss, err))
		return (NULL);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto nomem;
	pthread_mutex_init(&a->lock, NULL);
	atomic_init(&a->requests, 0);
	atomic_init(&a->bodies, 0);
	a->engine = cfg->engine;
	a->rpc = cfg->rpc;
	if ((a->region = strdup(cfg->region)) == NULL)
		goto nomem;
	/* The certificate and key asked for on each handshake (tls.c). */
	if ((cert = awsapi_tls_start(cfg->tls_cert_pem, cfg->tls_key_pem,
	    err)) == NULL) {
		awsapi_stop(a);
		return (NULL);
	}
	a->tls = 1;

	/*
	 * A pool of threads each polling its connections with epoll; TLS
	 * 1.2 and 1.3 only; idle and stalled connections (a client that
	 * sends half a request) closed after the timeout.
	 */
	a->mhd = MHD_start_daemon(MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL, NULL, handler, a,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, cert,
	    MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
	    MHD_OPTION_THREAD_POOL_SIZE, cfg->workers > 0 ? cfg->workers : 1,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections > 0 ?
	    cfg->max_connections : 1024,
	    MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s > 0 ?
	    cfg->timeout_s : 60,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, a,
	    MHD_OPTION_END);
	if (a->mhd == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "could not serve "
		    "aws_listen %s (address in use, or the certificate or key "
		    "is unusable)", cfg->listen);
		awsapi_stop(a);
		return (NULL);
	}
	di = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
	a->port = di != NULL ? (int)di->port : 0;
	return (a);

nomem:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	awsapi_stop(a);
	return (NULL);
}

int
awsapi_port(const struct awsapi *a)
{

	return (a->port);
}

void
awsapi_stop(struct awsapi *a)
{
	MHD_socket listen_fd;
	size_t i;

	if (a == NULL)
		return;
	/*
	 * Accept nothing more, give the requests being read or answered time
	 * to send their replies (idle keep-alive connections hold none), then
	 * close everything.
	 */
	if (a->mhd != NULL) {
		listen_fd = MHD_quiesce_daemon(a->mhd);
		for (i = 0; i < STOP_GRACE_MS / 10 &&
		    atomic_load(&a->requests) > 0; i++)
			(void)nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
		MHD_stop_daemon(a->mhd);
		/* Ours to close once the threads that polled it are gone. */
		if (listen_fd != MHD_INVALID_SOCKET)
			(void)close(listen_fd);
	}
	for (i = 0; i < a->n_workers; i++)
		engine_worker_free(a->workers[i]);
	free(a->workers);
	/* After the daemon: its sessions may use any pair till they end. */
	if (a->tls)
		awsapi_tls_stop();
	free(a->region);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
