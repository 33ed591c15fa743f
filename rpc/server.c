/*
 * server.c: the gRPC C core server loop.
 *
 * N workers, each a thread with its own completion queue and engine_worker
 * (a PostgreSQL connection and a token session).  Each queue has one
 * requested call pending per registered method, plus one unregistered
 * request so that unknown methods get UNIMPLEMENTED at once instead of
 * hanging until their deadline.  When a call arrives the worker answers it
 * synchronously (call.c), which starts one reply batch, and requests the
 * next call of that method.  The batch completes later on the same queue;
 * the call's memory is released then.  Nothing on this path takes a lock.
 *
 * Shutdown: rpc_server_stop() only sets a flag.  rpc_server_wait() then
 * calls grpc_server_shutdown_and_notify: every pending requested call fails
 * and in-flight calls go on; after the grace period it cancels what is
 * left.  The workers keep polling meanwhile (gRPC's I/O needs it).  Once
 * the server's shutdown is complete, a worker shuts its own queue down as
 * soon as none of its requests is pending and none of its replies is in
 * flight: only it knows that nothing more will be started on the queue (a
 * call still being handled when the server's shutdown completes needs its
 * reply batch).  It drains the queue and exits; rpc_server_wait joins it.
 * A worker with nothing pending polls with a short timeout to notice the
 * end of the shutdown; in normal operation it always has requests pending
 * and waits without a timeout.
 */
#include "rpc.h"
#include "rpc_call.h"
#include "rpc_internal.h"
#include "rpc_tls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "engine.h"

/*
 * The largest request accepted.  A secret value is at most 64 KiB and a
 * policy 20 KiB; the rest of any request is small.
 */
#define RPC_MAX_REQUEST_BYTES (1024 * 1024)

/*
 * Defaults of the limits against abuse (struct rpc_config).  Keepalive
 * pings every 2 minutes find peers that vanished without a FIN; one
 * unanswered for 20 s ends the connection.
 */
#define RPC_MAX_CONNECTIONS_DEFAULT 4096
#define RPC_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
#define RPC_MAX_STREAMS_DEFAULT 100
#define RPC_KEEPALIVE_MS (120 * 1000)
#define RPC_KEEPALIVE_TIMEOUT_MS (20 * 1000)

/* How often an idle worker looks for the end of the server's shutdown. */
#define RPC_SHUTDOWN_POLL_MS 100

/* The verdict rpc_server_start gives its workers. */
enum start_verdict { START_PENDING, START_GO, START_ABORT };

enum srv_state { SRV_NEW, SRV_RUNNING, SRV_STOPPED, SRV_FAILED };

/* One requested call, re-posted after each arrival. */
struct slot {
	enum rpc_tag_kind kind;
	size_t method;			/* RPC_TAG_METHOD: index in the table */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;	/* RPC_TAG_METHOD */
	grpc_call_details details;	/* RPC_TAG_UNKNOWN */
};

struct worker {
	struct rpc_server *srv;
	grpc_completion_queue *cq;
	int cq_drained;			/* shut down and drained by the worker */
	struct engine_worker *ew;
	pthread_t thread;
	int joinable;
	struct slot *slots;		/* n_methods + 1 */
	size_t n_pending;		/* slots with a request posted */
	size_t n_replies;		/* reply batches not yet completed */
	struct cf_error err;		/* why engine_worker_new failed */
};

struct rpc_server {
	grpc_server *server;
	grpc_completion_queue *shutdown_cq;
	enum rpc_tag_kind shutdown_tag;
	void **methods;			/* registered method handles */
	size_t n_methods;
	struct worker *workers;
	unsigned n_workers;
	struct engine *engine;
	struct audit *audit;
	int port;
	unsigned grace_ms;
	enum srv_state state;
	atomic_int shutdown_done;	/* the shutdown notification came */

	/* Start-up handshake and the stop request; never on the hot path. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned n_ready;
	unsigned n_failed;
	enum start_verdict verdict;
	int stop_requested;
};

/* ---- requested calls ---------------------------------------------------- */

static void
slot_init(struct slot *s, enum rpc_tag_kind kind, size_t method)
{

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->method = method;
	grpc_metadata_array_init(&s->md);
	grpc_call_details_init(&s->details);
}

static void
slot_cleanup(struct slot *s)
{

	grpc_metadata_array_destroy(&s->md);
	grpc_call_details_destroy(&s->details);
	if (s->payload != NULL)
		grpc_byte_buffer_destroy(s->payload);
	s->payload = NULL;
}

/*
 * Ask for the next call into ${s}.  This fails only on misuse; the slot
 * then stays idle and the other workers' queues serve its method.  (After
 * the server's shutdown has begun, gRPC accepts the request and fails it
 * through the queue.)
 */
static void
slot_post(struct worker *w, struct slot *s)
{
	grpc_server *gs = w->srv->server;
	grpc_call_error rc;

	slot_cleanup(s);
	slot_init(s, s->kind, s->method);
	if (s->kind == RPC_TAG_METHOD)
		rc = grpc_server_request_registered_call(gs,
		    w->srv->methods[s->method], &s->call, &s->deadline, &s->md,
		    &s->payload, w->cq, w->cq, s);
	else
		rc = grpc_server_request_call(gs, &s->call, &s->details,
		    &s->md, w->cq, w->cq, s);
	if (rc == GRPC_CALL_OK)
		w->n_pending++;
}

/* ---- workers ------------------------------------------------------------ */

/* Report whether this worker is ready; 1 if it should serve. */
static int
worker_report(struct worker *w, int ok)
{
	struct rpc_server *srv = w->srv;
	int go;

	pthread_mutex_lock(&srv->lock);
	if (ok)
		srv->n_ready++;
	else
		srv->n_failed++;
	pthread_cond_broadcast(&srv->cond);
	while (ok && srv->verdict == START_PENDING)
		pthread_cond_wait(&srv->cond, &srv->lock);
	go = ok && srv->verdict == START_GO;
	pthread_mutex_unlock(&srv->lock);
	return (go);
}

/* Handle one event of this worker's queue. */
static void
worker_event(struct worker *w, grpc_event ev)
{
	enum rpc_tag_kind *kind = ev.tag;
	struct slot *s;

	/* A reply batch finished (or failed: the call is gone either way). */
	if (*kind == RPC_TAG_BATCH) {
		w->n_replies--;
		rpc_call_done(ev.tag);
		return;
	}

	/* A requested call failed: the server is shutting down. */
	s = ev.tag;
	w->n_pending--;
	if (!ev.success)
		return;

	/* A new call: serve it, then ask for the next one. */
	if (s->kind == RPC_TAG_METHOD)
		w->n_replies += (size_t)rpc_call_serve(s->call, s->method,
		    s->payload, w->ew, w->srv->audit);
	else
		w->n_replies += (size_t)rpc_call_serve_unknown(s->call,
		    s->details.method, w->srv->audit);
	s->call = NULL;
	slot_post(w, s);
}

/* No deadline while requests are pending, a short one when shutting down. */
static gpr_timespec
worker_deadline(const struct worker *w)
{

	if (w->n_pending > 0)
		return (gpr_inf_future(GPR_CLOCK_REALTIME));
	return (gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_millis(RPC_SHUTDOWN_POLL_MS, GPR_TIMESPAN)));
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	grpc_event ev;
	size_t i;
	int closing = 0;

	/* This thread's database connection and token session. */
	w->ew = engine_worker_new(w->srv->engine, &w->err);
	if (!worker_report(w, w->ew != NULL))
		goto done;

	/* Pre-post one requested call per method, one for unknown ones. */
	for (i = 0; i <= w->srv->n_methods; i++)
		slot_post(w, &w->slots[i]);

	/* Serve until the queue is shut down and drained. */
	for (;;) {
		ev = grpc_completion_queue_next(w->cq, worker_deadline(w),
		    NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			worker_event(w, ev);

		/* Server gone, nothing pending or in flight: nothing can come. */
		if (!closing && w->n_pending == 0 && w->n_replies == 0 &&
		    atomic_load(&w->srv->shutdown_done)) {
			grpc_completion_queue_shutdown(w->cq);
			closing = 1;
		}
	}
	w->cq_drained = 1;

done:
	engine_worker_free(w->ew);
	w->ew = NULL;
	return (NULL);
}

/* ---- the server --------------------------------------------------------- */

/* Shut ${cq} down, drain it and destroy it. */
static void
cq_destroy(grpc_completion_queue *cq)
{
	grpc_event ev;

	if (cq == NULL)
		return;
	grpc_completion_queue_shutdown(cq);
	do {
		ev = grpc_completion_queue_next(cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	} while (ev.type != GRPC_QUEUE_SHUTDOWN);
	grpc_completion_queue_destroy(cq);
}

/* A queue only for the shutdown notification: it need not poll. */
static grpc_completion_queue *
cq_new_shutdown(void)
{
	grpc_completion_queue_attributes attr;

	memset(&attr, 0, sizeof(attr));
	attr.version = 1;
	attr.cq_completion_type = GRPC_CQ_NEXT;
	attr.cq_polling_type = GRPC_CQ_NON_POLLING;
	return (grpc_completion_queue_create(
	    grpc_completion_queue_factory_lookup(&attr), &attr, NULL));
}

/* Create the queues and slots of every worker. */
static int
workers_new(struct rpc_server *srv, struct cf_error *err)
{
	struct worker *w;
	unsigned i;
	size_t k;

	if ((srv->workers = calloc(srv->n_workers, sizeof(*w))) == NULL)
		goto oom;
	for (i = 0; i < srv->n_workers; i++) {
		w = &srv->workers[i];
		w->srv = srv;
		w->cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(srv->server, w->cq, NULL);
		if ((w->slots = calloc(srv->n_methods + 1, sizeof(*w->slots))) ==
		    NULL)
			goto oom;
		for (k = 0; k < srv->n_methods; k++)
			slot_init(&w->slots[k], RPC_TAG_METHOD, k);
		slot_init(&w->slots[k], RPC_TAG_UNKNOWN, 0);
	}
	return (0);

oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

/* Register every method of the table with the server. */
static int
methods_register(struct rpc_server *srv, struct cf_error *err)
{
	size_t i;

	srv->n_methods = rpc_service_count();
	if ((srv->methods = calloc(srv->n_methods, sizeof(void *))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	for (i = 0; i < srv->n_methods; i++) {
		srv->methods[i] = grpc_server_register_method(srv->server,
		    rpc_service_path(i), NULL,
		    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		if (srv->methods[i] == NULL) {
			cf_error_set(err, CF_ERR_INTERNAL,
			    "could not register method %s",
			    rpc_service_path(i));
			return (-1);
		}
	}
	return (0);
}

/*
 * Bind the listen address: TLS with the server's certificate, asking every
 * client for a certificate that must chain to the client CA (tls.c: a
 * client without one gets through the handshake and is refused per call,
 * with UNAUTHENTICATED and an audit event; one with a certificate of
 * another CA is refused at the handshake, and audited).  Plaintext only
 * when configured, and only on loopback.
 */
static int
server_bind(struct rpc_server *srv, const struct rpc_config *cfg,
    struct cf_error *err)
{
	grpc_server_credentials *creds;
	const char *addr = cfg->listen;

	if (cfg->plaintext) {
		if (rpc_listen_check(addr, err))
			return (-1);
		creds = grpc_insecure_server_credentials_create();
	} else {
		if (cfg->tls_cert_pem == NULL || cfg->tls_key_pem == NULL ||
		    cfg->tls_client_ca_pem == NULL) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "TLS needs "
			    "a server certificate, its key and a client CA "
			    "(tls_cert, tls_key, tls_client_ca); plaintext "
			    "needs plaintext = on and a loopback address");
			return (-1);
		}
		if ((creds = rpc_tls_server_credentials(cfg->tls_cert_pem,
		    cfg->tls_key_pem, cfg->tls_client_ca_pem, cfg->audit,
		    err)) == NULL)
			return (-1);
	}
	srv->port = grpc_server_add_http2_port(srv->server, addr, creds);
	grpc_server_credentials_release(creds);
	if (srv->port == 0) {
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "could not listen on \"%s\" (address in use?)", addr);
		return (-1);
	}
	return (0);
}

/* Set ${arg} to the integer argument ${key} = ${value}. */
static void
int_arg(grpc_arg *arg, const char *key, int value)
{

	arg->type = GRPC_ARG_INTEGER;
	arg->key = (char *)(uintptr_t)key;
	arg->value.integer = value;
}

/*
 * The gRPC server, with SO_REUSEPORT off so that a second server on the same
 * port fails instead of silently sharing it, a cap on request size, and the
 * limits that keep an abusive peer from holding a connection or memory: a
 * handshake deadline (a TCP connection that never speaks is closed), a cap
 * on concurrent calls per connection, and keepalive pings that find dead
 * peers.
 */
static grpc_server *
server_create(const struct rpc_config *cfg)
{
	grpc_arg args[6];
	grpc_channel_args cargs;

	memset(args, 0, sizeof(args));
	int_arg(&args[0], GRPC_ARG_ALLOW_REUSEPORT, 0);
	int_arg(&args[1], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
	    RPC_MAX_REQUEST_BYTES);
	int_arg(&args[2], GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
	    cfg->handshake_timeout_ms > 0 ? (int)cfg->handshake_timeout_ms :
	    RPC_HANDSHAKE_TIMEOUT_MS_DEFAULT);
	int_arg(&args[3], GRPC_ARG_MAX_CONCURRENT_STREAMS,
	    cfg->max_streams > 0 ? (int)cfg->max_streams :
	    RPC_MAX_STREAMS_DEFAULT);
	int_arg(&args[4], GRPC_ARG_KEEPALIVE_TIME_MS, RPC_KEEPALIVE_MS);
	int_arg(&args[5], GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
	    RPC_KEEPALIVE_TIMEOUT_MS);
	cargs.num_args = sizeof(args) / sizeof(args[0]);
	cargs.args = args;
	return (grpc_server_create(&cargs, NULL));
}

struct rpc_server *
rpc_server_new(const struct rpc_config *cfg, struct cf_error *err)
{
	struct rpc_server *srv;

	/* Check the configuration. */
	if (cfg->workers == 0 || cfg->engine == NULL || cfg->listen == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER,
		    "rpc configuration needs a listen address, an engine and "
		    "at least one worker");
		goto err0;
	}

	/* Descriptors: as many as allowed, a reserve, the connection cap. */
	if (rpc_accept_guard_init(cfg->max_connections > 0 ?
	    cfg->max_connections : RPC_MAX_CONNECTIONS_DEFAULT, err))
		goto err0;

	/* The handle, and gRPC. */
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err0;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	srv->engine = cfg->engine;
	srv->audit = cfg->audit;
	srv->n_workers = cfg->workers;
	srv->grace_ms = cfg->grace_ms > 0 ? cfg->grace_ms : RPC_GRACE_MS_DEFAULT;
	srv->shutdown_tag = RPC_TAG_SHUTDOWN;
	atomic_init(&srv->shutdown_done, 0);
	grpc_init();
	srv->server = server_create(cfg);
	srv->shutdown_cq = cq_new_shutdown();
	grpc_server_register_completion_queue(srv->server, srv->shutdown_cq,
	    NULL);

	/* Methods, queues and the port. */
	if (methods_register(srv, err) || workers_new(srv, err) ||
	    server_bind(srv, cfg, err))
		goto err1;

	/* Success! */
	return (srv);

err1:
	rpc_server_free(srv);
err0:
	/* Failure! */
	return (NULL);
}

int
rpc_server_port(const struct rpc_server *srv)
{

	return (srv->port);
}

/* Join every worker thread that was started. */
static void
workers_join(struct rpc_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->n_workers; i++) {
		if (!srv->workers[i].joinable)
			continue;
		pthread_join(srv->workers[i].thread, NULL);
		srv->workers[i].joinable = 0;
	}
}

/* Wait until ${spawned} workers have reported; 1 if all are ready. */
static int
workers_ready(struct rpc_server *srv, unsigned spawned)
{
	int ok;

	pthread_mutex_lock(&srv->lock);
	while (srv->n_ready + srv->n_failed < spawned)
		pthread_cond_wait(&srv->cond, &srv->lock);
	ok = (srv->n_failed == 0 && spawned == srv->n_workers);
	pthread_mutex_unlock(&srv->lock);
	return (ok);
}

static void
workers_verdict(struct rpc_server *srv, enum start_verdict v)
{

	pthread_mutex_lock(&srv->lock);
	srv->verdict = v;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

/* The first worker's failure, for the caller of rpc_server_start. */
static void
workers_error(struct rpc_server *srv, struct cf_error *err)
{
	unsigned i;

	for (i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i].err.code != CF_OK) {
			*err = srv->workers[i].err;
			return;
		}
	}
}

int
rpc_server_start(struct rpc_server *srv, struct cf_error *err)
{
	unsigned i;

	if (srv->state != SRV_NEW) {
		cf_error_set(err, CF_ERR_INTERNAL, "server already started");
		goto err0;
	}

	/* Spawn the workers; each opens its engine_worker. */
	for (i = 0; i < srv->n_workers; i++) {
		if (pthread_create(&srv->workers[i].thread, NULL, worker_main,
		    &srv->workers[i]) != 0) {
			cf_error_set(err, CF_ERR_INTERNAL,
			    "could not start worker thread %u", i);
			break;
		}
		srv->workers[i].joinable = 1;
	}

	/* All ready: start listening, then let them serve. */
	if (!workers_ready(srv, i))
		goto err1;
	grpc_server_start(srv->server);
	srv->state = SRV_RUNNING;
	workers_verdict(srv, START_GO);

	/* Success! */
	return (0);

err1:
	workers_verdict(srv, START_ABORT);
	workers_join(srv);
	workers_error(srv, err);
	srv->state = SRV_FAILED;
err0:
	/* Failure! */
	return (-1);
}

void
rpc_server_stop(struct rpc_server *srv)
{

	pthread_mutex_lock(&srv->lock);
	srv->stop_requested = 1;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

/* Stop accepting, give in-flight calls the grace period, then cancel. */
static void
server_shutdown(struct rpc_server *srv)
{
	gpr_timespec deadline;
	grpc_event ev;

	grpc_server_shutdown_and_notify(srv->server, srv->shutdown_cq,
	    &srv->shutdown_tag);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_millis(srv->grace_ms, GPR_TIMESPAN));
	ev = grpc_completion_queue_next(srv->shutdown_cq, deadline, NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		grpc_server_cancel_all_calls(srv->server);
		ev = grpc_completion_queue_next(srv->shutdown_cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	}
	atomic_store(&srv->shutdown_done, 1);
}

void
rpc_server_wait(struct rpc_server *srv)
{

	if (srv->state != SRV_RUNNING)
		return;

	/* Wait for rpc_server_stop. */
	pthread_mutex_lock(&srv->lock);
	while (!srv->stop_requested)
		pthread_cond_wait(&srv->cond, &srv->lock);
	pthread_mutex_unlock(&srv->lock);

	/* Drain the server; the workers drain their queues and exit. */
	server_shutdown(srv);
	workers_join(srv);
	srv->state = SRV_STOPPED;
}

int
rpc_server_run(struct rpc_server *srv, struct cf_error *err)
{

	if (rpc_server_start(srv, err))
		return (-1);
	rpc_server_wait(srv);
	return (0);
}

/* Free the workers' slots and queues. */
static void
workers_free(struct rpc_server *srv)
{
	struct worker *w;
	unsigned i;
	size_t k;

	if (srv->workers == NULL)
		return;
	for (i = 0; i < srv->n_workers; i++) {
		w = &srv->workers[i];
		if (w->slots != NULL)
			for (k = 0; k <= srv->n_methods; k++)
				slot_cleanup(&w->slots[k]);
		free(w->slots);
		if (w->cq_drained)
			grpc_completion_queue_destroy(w->cq);
		else
			cq_destroy(w->cq);
	}
	free(srv->workers);
}

void
rpc_server_free(struct rpc_server *srv)
{

	if (srv == NULL)
		return;

	/* A running server is stopped and drained first. */
	if (srv->state == SRV_RUNNING) {
		rpc_server_stop(srv);
		rpc_server_wait(srv);
	}

	/* A server that never ran still needs its shutdown notification. */
	if (srv->state == SRV_NEW || srv->state == SRV_FAILED) {
		grpc_server_shutdown_and_notify(srv->server, srv->shutdown_cq,
		    &srv->shutdown_tag);
		(void)grpc_completion_queue_next(srv->shutdown_cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	}

	/* The server before the queues it knows. */
	grpc_server_destroy(srv->server);
	workers_free(srv);
	cq_destroy(srv->shutdown_cq);
	free(srv->methods);
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	grpc_shutdown();
}
