/*
 * server.c: the gRPC C core server loop.
 *
 * One completion queue, polled by N workers.  Each worker is a thread with
 * its own engine_worker (a PostgreSQL connection and a token session).  The
 * queue has N requested calls pending per registered method, plus N
 * unregistered requests so that unknown methods get UNIMPLEMENTED at once
 * instead of hanging until their deadline.  Whichever worker takes an
 * arrival from the queue answers it (call.c), which starts one reply batch,
 * and re-posts the request.  The batch completes later on the same queue,
 * where any worker releases the call's memory.
 *
 * Reads read ahead: a method with a read engine_read_ahead can make for
 * several calls at once (GetSecretValue, DescribeSecret) has RPC_AHEAD_MAX
 * requested calls per worker instead of one.  A worker that takes such a
 * call also takes the queue's other events that are already there (never
 * waiting for more), up to RPC_AHEAD_MAX such calls; it accepts them all,
 * has their reads made in one round trip (rpc_call_read_ahead), then runs
 * them one by one.  Other events met on the way are handled as they come.
 * PostgreSQL then wakes once for many reads and the worker waits once
 * (issue 14: 4,400 -> 10,400 GetSecretValue/s with h2load on 2 cores,
 * docs/performance.md).
 *
 * Why one queue: with a queue per worker, gRPC binds an arriving call to
 * one of the queues that have a request pending for its method, busy
 * worker or not, and a short call waited behind a long one while another
 * worker sat idle.  On one queue an arrival goes to whichever worker asks
 * next.
 *
 * Long calls (the methods service.c marks long: verify, audit queries,
 * listings, batch reads) do not run on the workers at all: a worker hands
 * them to a small pool of their own (long_workers threads, each with its
 * own engine_worker, and a queue of at most long_queue calls), so that
 * however many of them arrive, short calls keep every worker.  A long call
 * that finds the queue full is refused with ThrottlingException, and one
 * whose deadline passed while it waited is answered with
 * RequestTimeoutException without being run; both are audited.
 *
 * Accounting: n_pending counts requests posted and not yet completed;
 * n_inflight counts calls taken from the queue whose reply batch has not
 * completed (or that are still being answered, or wait in the long queue).
 * An arrival is counted in flight before it stops being pending, so the
 * two are never both zero while a call is still to be answered.
 *
 * Shutdown: rpc_server_stop() only sets a flag.  rpc_server_wait() then
 * calls grpc_server_shutdown_and_notify: every pending requested call fails
 * and in-flight calls go on; after the grace period it cancels what is
 * left.  The workers keep polling meanwhile (gRPC's I/O needs it).  Once
 * the server's shutdown is complete and nothing is pending or in flight,
 * the first worker to see it shuts the queue down (nothing more can be
 * started on it), and every worker drains it and exits; the long pool is
 * told to stop once its queue is empty.  A worker with nothing pending
 * polls with a short timeout to notice the end; in normal operation
 * requests are always pending and it waits without one.
 */
#include "rpc.h"
#include "rpc_call.h"
#include "cf_log.h"
#include "rpc_internal.h"
#include "rpc_tls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "audit.h"
#include "engine.h"

/*
 * The largest request accepted.  The largest a client can legitimately
 * send is a CreateSecret with a 64 KiB value, 50 tags and a description
 * (under 200 KiB even in 4-byte UTF-8), or a 20,480-character policy.  A
 * smaller cap bounds what one half-sent stream makes gRPC buffer.
 */
#define RPC_MAX_REQUEST_BYTES (256 * 1024)

/*
 * Defaults of the limits against abuse (struct rpc_config).  Keepalive
 * pings every 2 minutes find peers that vanished without a FIN; one
 * unanswered for 20 s ends the connection.
 */
#define RPC_MAX_CONNECTIONS_DEFAULT 4096
#define RPC_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000
#define RPC_MAX_STREAMS_DEFAULT 100
#define RPC_MAX_TRANSPORT_MIB_DEFAULT 256
#define RPC_MAX_CONNECTION_AGE_MS_DEFAULT (3600 * 1000)
#define RPC_MAX_CONNECTION_AGE_GRACE_MS_DEFAULT (60 * 1000)
#define RPC_KEEPALIVE_MS (120 * 1000)
#define RPC_KEEPALIVE_TIMEOUT_MS (20 * 1000)

/* How often an idle worker looks for the end of the server's shutdown. */
#define RPC_SHUTDOWN_POLL_MS 100

/*
 * Defaults of the long-call pool (struct rpc_config).  The queue is a bound
 * on abuse, not a rate limit: a client with a few hundred listings in
 * flight (coffer-bench runs 64) must wait, not be throttled; each queued
 * call holds only its small request, and the transport quota bounds those.
 */
#define RPC_LONG_QUEUE_DEFAULT 1024

/* The verdict rpc_server_start gives its workers. */
enum start_verdict { START_PENDING, START_GO, START_ABORT };

enum srv_state { SRV_NEW, SRV_RUNNING, SRV_STOPPED, SRV_FAILED };

/* What a thread does: take calls from the queue, or run long ones. */
enum worker_role { ROLE_QUEUE, ROLE_LONG };

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

/* A long call waiting for the long pool; it owns the call and payload. */
struct long_job {
	grpc_call *call;
	size_t method;
	grpc_byte_buffer *payload;
	gpr_timespec deadline;
	struct long_job *next;
};

struct worker {
	struct rpc_server *srv;
	enum worker_role role;
	struct engine_worker *ew;
	pthread_t thread;
	int joinable;
	struct cf_error err;		/* why engine_worker_new failed */
};

struct rpc_server {
	grpc_server *server;
	grpc_resource_quota *quota;	/* gRPC's memory for connections */
	grpc_completion_queue *cq;	/* every worker polls it */
	int cq_drained;			/* shut down and drained */
	atomic_int cq_closing;		/* a worker has shut it down */
	grpc_completion_queue *shutdown_cq;
	enum rpc_tag_kind shutdown_tag;
	void **methods;			/* registered method handles */
	size_t n_methods;
	struct slot *slots;		/* (n_methods + 1) per queue worker */
	size_t n_slots;
	struct worker *workers;		/* queue workers, then long workers */
	unsigned n_workers;
	unsigned n_long;
	struct engine *engine;
	struct audit *audit;
	struct rpc_refusals *refusals;	/* TLS only; NULL over plaintext */
	struct rpc_tls *tls;		/* TLS only: what the files reload */
	int port;
	unsigned grace_ms;
	enum srv_state state;
	atomic_int shutdown_done;	/* the shutdown notification came */
	atomic_long n_pending;		/* requests posted, not completed */
	atomic_long n_inflight;		/* calls taken, replies not completed */

	/* The long pool's queue. */
	pthread_mutex_t long_lock;
	pthread_cond_t long_cond;
	struct long_job *long_head;
	struct long_job *long_tail;
	unsigned long_queued;
	unsigned long_max;
	int long_stop;

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
 * then stays idle and the other slots serve its method.  (After the
 * server's shutdown has begun, gRPC accepts the request and fails it
 * through the queue.)
 */
static void
slot_post(struct rpc_server *srv, struct slot *s)
{
	grpc_call_error rc;

	slot_cleanup(s);
	slot_init(s, s->kind, s->method);
	atomic_fetch_add(&srv->n_pending, 1);
	if (s->kind == RPC_TAG_METHOD)
		rc = grpc_server_request_registered_call(srv->server,
		    srv->methods[s->method], &s->call, &s->deadline, &s->md,
		    &s->payload, srv->cq, srv->cq, s);
	else
		rc = grpc_server_request_call(srv->server, &s->call,
		    &s->details, &s->md, srv->cq, srv->cq, s);
	if (rc != GRPC_CALL_OK)
		atomic_fetch_sub(&srv->n_pending, 1);
}

/* ---- the queue's end ---------------------------------------------------- */

/*
 * Once the server's shutdown is complete and no request is pending and no
 * call in flight, nothing more can be started on the queue: shut it down
 * (once; any thread may find the moment).
 */
static void
queue_close_if_idle(struct rpc_server *srv)
{

	if (!atomic_load(&srv->shutdown_done) ||
	    atomic_load(&srv->n_pending) != 0 ||
	    atomic_load(&srv->n_inflight) != 0)
		return;
	if (atomic_exchange(&srv->cq_closing, 1) == 0)
		grpc_completion_queue_shutdown(srv->cq);
}

/* A call taken from the queue was answered with ${batches} (0 or 1). */
static void
call_answered(struct rpc_server *srv, int batches)
{

	if (batches == 0)
		atomic_fetch_sub(&srv->n_inflight, 1);
}

/* ---- the long pool ------------------------------------------------------ */

/*
 * Queue the long call in ${s} for the long pool, which takes the call and
 * its payload over; if the queue is full, refuse it here.  Returns the
 * batches started here (as rpc_call_serve).
 */
static int
long_submit(struct rpc_server *srv, struct slot *s)
{
	struct cf_error why = { CF_OK, "" };
	struct long_job *j;

	/* A job that owns the call and its request. */
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		cf_error_set(&why, CF_ERR_THROTTLING, "Rate exceeded: out of "
		    "memory for long-running calls");
		goto refuse;
	}
	j->call = s->call;
	j->method = s->method;
	j->payload = s->payload;
	j->deadline = s->deadline;

	/* Into the queue, unless it is full. */
	pthread_mutex_lock(&srv->long_lock);
	if (srv->long_queued >= srv->long_max) {
		pthread_mutex_unlock(&srv->long_lock);
		free(j);
		cf_error_set(&why, CF_ERR_THROTTLING, "Rate exceeded: %u "
		    "long-running calls (listings, audit queries, batch "
		    "reads) are already waiting; retry later (long_queue)",
		    srv->long_max);
		goto refuse;
	}
	if (srv->long_tail != NULL)
		srv->long_tail->next = j;
	else
		srv->long_head = j;
	srv->long_tail = j;
	srv->long_queued++;
	pthread_cond_signal(&srv->long_cond);
	pthread_mutex_unlock(&srv->long_lock);
	s->payload = NULL;

	/* Success!  (Its batch will be started by the long pool.) */
	return (1);

refuse:
	return (rpc_call_refuse(s->call, s->method, &why, srv->audit,
	    srv->refusals));
}

/* The next long call, or NULL once told to stop with the queue empty. */
static struct long_job *
long_next(struct rpc_server *srv)
{
	struct long_job *j;

	pthread_mutex_lock(&srv->long_lock);
	while (srv->long_head == NULL && !srv->long_stop)
		pthread_cond_wait(&srv->long_cond, &srv->long_lock);
	if ((j = srv->long_head) != NULL) {
		if ((srv->long_head = j->next) == NULL)
			srv->long_tail = NULL;
		srv->long_queued--;
	}
	pthread_mutex_unlock(&srv->long_lock);
	return (j);
}

/*
 * Serve a call on ${w}, telling the audit that its event is on the way
 * (so that a queue lane under load waits for it: group commit).
 */
static int
serve_audited(struct rpc_server *srv, struct worker *w, grpc_call *call,
    size_t method, grpc_byte_buffer *payload)
{
	int n;

	if (srv->audit != NULL)
		audit_call_begin(srv->audit);
	n = rpc_call_serve(call, method, payload, w->ew, srv->audit,
	    srv->refusals);
	if (srv->audit != NULL)
		audit_call_end(srv->audit);
	return (n);
}

/* Run one long call on ${w}, unless its caller gave up waiting. */
static void
long_run(struct worker *w, struct long_job *j)
{
	struct rpc_server *srv = w->srv;
	struct cf_error why = { CF_OK, "" };
	int n;

	if (gpr_time_cmp(j->deadline, gpr_now(j->deadline.clock_type)) < 0) {
		cf_error_set(&why, CF_ERR_TIMEOUT, "the call's deadline "
		    "passed while it waited for a long-call worker");
		n = rpc_call_refuse(j->call, j->method, &why, srv->audit,
		    srv->refusals);
	} else
		n = serve_audited(srv, w, j->call, j->method, j->payload);
	if (j->payload != NULL)
		grpc_byte_buffer_destroy(j->payload);
	free(j);
	call_answered(srv, n);
	queue_close_if_idle(srv);
}

/* Tell the long pool to stop once its queue is empty. */
static void
long_stop(struct rpc_server *srv)
{

	pthread_mutex_lock(&srv->long_lock);
	srv->long_stop = 1;
	pthread_cond_broadcast(&srv->long_cond);
	pthread_mutex_unlock(&srv->long_lock);
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

/* Handle one event of the queue on worker ${w}. */
static void
worker_event(struct worker *w, grpc_event ev)
{
	struct rpc_server *srv = w->srv;
	enum rpc_tag_kind *kind = ev.tag;
	struct slot *s;
	int n;

	/* A call's events are committed: its reply goes from here. */
	if (*kind == RPC_TAG_AUDITED) {
		rpc_call_audited(ev.tag);
		return;
	}

	/* A reply batch finished (or failed: the call is gone either way). */
	if (*kind == RPC_TAG_BATCH) {
		rpc_call_done(ev.tag);
		atomic_fetch_sub(&srv->n_inflight, 1);
		return;
	}

	/* A requested call failed: the server is shutting down. */
	s = ev.tag;
	if (!ev.success) {
		atomic_fetch_sub(&srv->n_pending, 1);
		return;
	}

	/* A new call: in flight before it stops being pending. */
	atomic_fetch_add(&srv->n_inflight, 1);
	atomic_fetch_sub(&srv->n_pending, 1);

	/* Long calls go to their pool; the rest are served here. */
	if (s->kind == RPC_TAG_METHOD && srv->n_long > 0 &&
	    rpc_service_is_long(s->method))
		n = long_submit(srv, s);
	else if (s->kind == RPC_TAG_METHOD)
		n = serve_audited(srv, w, s->call, s->method, s->payload);
	else
		n = rpc_call_serve_unknown(s->call, s->details.method,
		    srv->audit, srv->refusals);
	call_answered(srv, n);

	/* Then ask for the next one. */
	s->call = NULL;
	slot_post(srv, s);
}

/* No deadline while requests are pending, a short one when shutting down. */
static gpr_timespec
worker_deadline(const struct rpc_server *srv)
{

	if (atomic_load(&srv->n_pending) > 0)
		return (gpr_inf_future(GPR_CLOCK_REALTIME));
	return (gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	    gpr_time_from_millis(RPC_SHUTDOWN_POLL_MS, GPR_TIMESPAN)));
}

/* Is ${ev} a new call whose read a worker makes with others'? */
static int
reads_ahead(const struct rpc_server *srv, grpc_event ev)
{
	const enum rpc_tag_kind *kind = ev.tag;
	const struct slot *s = ev.tag;

	return (ev.success && *kind == RPC_TAG_METHOD &&
	    rpc_service_has_ahead(s->method) &&
	    !(srv->n_long > 0 && rpc_service_is_long(s->method)));
}

/*
 * Serve the calls in ${slots} (new calls that read ahead) together: take
 * each over and ask for the next call in its slot, make their reads in one
 * round trip, then run them one by one.  Each is on its way to the audit
 * from the moment it is taken (group commit waits for it).
 */
static void
serve_ahead(struct worker *w, struct slot *const *slots, size_t n)
{
	struct rpc_server *srv = w->srv;
	struct call *calls[RPC_AHEAD_MAX];
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		atomic_fetch_add(&srv->n_inflight, 1);
		atomic_fetch_sub(&srv->n_pending, 1);
		if ((calls[m] = rpc_call_accept(slots[i]->call,
		    slots[i]->method, slots[i]->payload, srv->audit,
		    srv->refusals)) != NULL) {
			if (srv->audit != NULL)
				audit_call_begin(srv->audit);
			m++;
		} else
			call_answered(srv, 0);
		slots[i]->call = NULL;
		slot_post(srv, slots[i]);
	}
	if (m > 1)
		rpc_call_read_ahead(calls, m, w->ew);
	for (i = 0; i < m; i++) {
		call_answered(srv, rpc_call_run(calls[i], w->ew));
		if (srv->audit != NULL)
			audit_call_end(srv->audit);
	}
}

/*
 * A new call that reads ahead, ${first}, came: take with it those of the
 * queue's events that are already there (without waiting for more), up to
 * RPC_AHEAD_MAX calls that read ahead, and serve those together.  Other
 * events met on the way are handled as they come.
 */
static void
worker_take_ahead(struct worker *w, grpc_event first)
{
	struct rpc_server *srv = w->srv;
	struct slot *slots[RPC_AHEAD_MAX];
	size_t n = 0;
	grpc_event ev;

	slots[n++] = first.tag;
	while (n < RPC_AHEAD_MAX) {
		ev = grpc_completion_queue_next(srv->cq,
		    gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		if (reads_ahead(srv, ev))
			slots[n++] = ev.tag;
		else
			worker_event(w, ev);
	}
	serve_ahead(w, slots, n);
}

/* A queue worker: serve what the queue brings until it is drained. */
static void
worker_serve_queue(struct worker *w)
{
	struct rpc_server *srv = w->srv;
	grpc_event ev;

	for (;;) {
		ev = grpc_completion_queue_next(srv->cq, worker_deadline(srv),
		    NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE && reads_ahead(srv, ev))
			worker_take_ahead(w, ev);
		else if (ev.type == GRPC_OP_COMPLETE)
			worker_event(w, ev);
		queue_close_if_idle(srv);
	}
}

/* A long worker: run long calls until told to stop. */
static void
worker_serve_long(struct worker *w)
{
	struct long_job *j;

	while ((j = long_next(w->srv)) != NULL)
		long_run(w, j);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	/* Named, so that a busy one is told apart (bench/run, top -H). */
	(void)pthread_setname_np(pthread_self(), w->role == ROLE_QUEUE ?
	    "coffer-worker" : "coffer-long");

	/* This thread's database connection and token session. */
	w->ew = engine_worker_new(w->srv->engine, &w->err);
	if (!worker_report(w, w->ew != NULL))
		goto done;
	if (w->role == ROLE_QUEUE)
		worker_serve_queue(w);
	else
		worker_serve_long(w);

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

/* The threads: queue workers first, then the long pool. */
static unsigned
threads_count(const struct rpc_server *srv)
{

	return (srv->n_workers + srv->n_long);
}

/* Create the queue, the slots and the workers' records. */
static int
workers_new(struct rpc_server *srv, struct cf_error *err)
{
	unsigned i;
	size_t k, m, j, base;

	/* One queue for every worker; the server must know it. */
	srv->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(srv->server, srv->cq, NULL);

	/*
	 * As many requests per method as queue workers; for a method whose
	 * reads a worker makes together, RPC_AHEAD_MAX per worker, so that
	 * that many of its calls can be waiting in the queue.
	 */
	base = (size_t)srv->n_workers * (srv->n_methods + 1);
	srv->n_slots = base;
	for (m = 0; m < srv->n_methods; m++)
		if (rpc_service_has_ahead(m))
			srv->n_slots += (size_t)srv->n_workers *
			    (RPC_AHEAD_MAX - 1);
	if ((srv->slots = calloc(srv->n_slots, sizeof(*srv->slots))) == NULL)
		goto oom;
	for (k = 0; k < base; k++) {
		if (k % (srv->n_methods + 1) < srv->n_methods)
			slot_init(&srv->slots[k], RPC_TAG_METHOD,
			    k % (srv->n_methods + 1));
		else
			slot_init(&srv->slots[k], RPC_TAG_UNKNOWN, 0);
	}
	for (m = 0; m < srv->n_methods; m++)
		if (rpc_service_has_ahead(m))
			for (j = 0; j < (size_t)srv->n_workers *
			    (RPC_AHEAD_MAX - 1); j++)
				slot_init(&srv->slots[k++], RPC_TAG_METHOD, m);

	/* The threads' records. */
	if ((srv->workers = calloc(threads_count(srv),
	    sizeof(*srv->workers))) == NULL)
		goto oom;
	for (i = 0; i < threads_count(srv); i++) {
		srv->workers[i].srv = srv;
		srv->workers[i].role = i < srv->n_workers ? ROLE_QUEUE :
		    ROLE_LONG;
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
 * Bind the listen address: TLS with the server's certificate, requiring
 * of every client a certificate that chains to the client CA and names
 * one usable identity (tls.c: refused at the handshake otherwise, and
 * counted; with health_without_cert a client without one gets through
 * and call.c serves it the health check only).  Plaintext only when
 * configured, and only on loopback.
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
		if ((srv->refusals = rpc_refusals_new(cfg->audit,
		    cfg->refusal_interval_s, err)) == NULL ||
		    (creds = rpc_tls_server_credentials(cfg->tls_cert_pem,
		    cfg->tls_key_pem, cfg->tls_client_ca_pem,
		    cfg->health_without_cert, srv->refusals, &srv->tls,
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
 * on concurrent calls per connection, keepalive pings that find dead
 * peers, the memory quota, and a maximum connection age: after it the
 * connection is asked to go away (GOAWAY: clients reconnect, which also
 * spreads them again over several servers behind a load balancer), and
 * after a grace it is closed, so that a stream sent slowly or never
 * finished cannot hold its buffers for longer than age + grace.
 */
static grpc_server *
server_create(const struct rpc_config *cfg, grpc_resource_quota *quota)
{
	grpc_arg args[9];
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
	int_arg(&args[7], GRPC_ARG_MAX_CONNECTION_AGE_MS,
	    cfg->max_connection_age_ms > 0 ? (int)cfg->max_connection_age_ms :
	    RPC_MAX_CONNECTION_AGE_MS_DEFAULT);
	int_arg(&args[8], GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
	    cfg->max_connection_age_grace_ms > 0 ?
	    (int)cfg->max_connection_age_grace_ms :
	    RPC_MAX_CONNECTION_AGE_GRACE_MS_DEFAULT);
	args[6].type = GRPC_ARG_POINTER;
	args[6].key = (char *)(uintptr_t)GRPC_ARG_RESOURCE_QUOTA;
	args[6].value.pointer.p = quota;
	args[6].value.pointer.vtable = grpc_resource_quota_arg_vtable();
	cargs.num_args = sizeof(args) / sizeof(args[0]);
	cargs.args = args;
	return (grpc_server_create(&cargs, NULL));
}

/*
 * gRPC's own log lines, as cofferd's (log_format, log_level, the rate
 * limit), so that a JSON log stays JSON.  gRPC prints only errors unless
 * GRPC_VERBOSITY says otherwise.
 */
static void
grpc_log(gpr_log_func_args *a)
{
	const char *file = strrchr(a->file, '/');

	cf_log(a->severity == GPR_LOG_SEVERITY_ERROR ? CF_LOG_ERROR :
	    a->severity == GPR_LOG_SEVERITY_INFO ? CF_LOG_INFO : CF_LOG_DEBUG,
	    "grpc: %s (%s:%d)", a->message, file != NULL ? file + 1 : a->file,
	    a->line);
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
	pthread_mutex_init(&srv->long_lock, NULL);
	pthread_cond_init(&srv->long_cond, NULL);
	srv->engine = cfg->engine;
	srv->audit = cfg->audit;
	srv->n_workers = cfg->workers;
	srv->n_long = cfg->long_workers > 0 ? cfg->long_workers :
	    (cfg->workers + 1) / 2;
	srv->long_max = cfg->long_queue > 0 ? cfg->long_queue :
	    RPC_LONG_QUEUE_DEFAULT;
	srv->grace_ms = cfg->grace_ms > 0 ? cfg->grace_ms : RPC_GRACE_MS_DEFAULT;
	srv->shutdown_tag = RPC_TAG_SHUTDOWN;
	atomic_init(&srv->shutdown_done, 0);
	atomic_init(&srv->cq_closing, 0);
	atomic_init(&srv->n_pending, 0);
	atomic_init(&srv->n_inflight, 0);
	gpr_set_log_function(grpc_log);
	grpc_init();
	srv->quota = grpc_resource_quota_create("cofferd");
	grpc_resource_quota_resize(srv->quota, (size_t)(cfg->max_transport_mib > 0 ?
	    cfg->max_transport_mib : RPC_MAX_TRANSPORT_MIB_DEFAULT) << 20);
	srv->server = server_create(cfg, srv->quota);
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

struct audit *
rpc_server_audit(const struct rpc_server *srv)
{

	return (srv->audit);
}

struct rpc_refusals *
rpc_server_refusals(const struct rpc_server *srv)
{

	return (srv->refusals);
}

/* Join every worker thread that was started. */
static void
workers_join(struct rpc_server *srv)
{
	unsigned i;

	/*
	 * The queue workers first: they exit once nothing is in flight, so
	 * the long pool's queue is empty by then (or it never served).
	 */
	for (i = 0; i < threads_count(srv); i++) {
		if (i == srv->n_workers)
			long_stop(srv);
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
	ok = (srv->n_failed == 0 && spawned == threads_count(srv));
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

	for (i = 0; i < threads_count(srv); i++) {
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
	size_t k;

	if (srv->state != SRV_NEW) {
		cf_error_set(err, CF_ERR_INTERNAL, "server already started");
		goto err0;
	}

	/* Spawn the workers; each opens its engine_worker. */
	for (i = 0; i < threads_count(srv); i++) {
		if (pthread_create(&srv->workers[i].thread, NULL, worker_main,
		    &srv->workers[i]) != 0) {
			cf_error_set(err, CF_ERR_INTERNAL,
			    "could not start worker thread %u", i);
			break;
		}
		srv->workers[i].joinable = 1;
	}

	/* All ready: start listening, ask for calls, then let them serve. */
	if (!workers_ready(srv, i))
		goto err1;
	grpc_server_start(srv->server);
	for (k = 0; k < srv->n_slots; k++)
		slot_post(srv, &srv->slots[k]);
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

	/* Drain the server; the workers drain the queue and exit. */
	server_shutdown(srv);
	workers_join(srv);
	srv->cq_drained = 1;
	srv->state = SRV_STOPPED;
}

/* Free the slots, the queue and the long calls never run. */
static void
workers_free(struct rpc_server *srv)
{
	struct long_job *j;
	size_t k;

	if (srv->slots != NULL)
		for (k = 0; k < srv->n_slots; k++)
			slot_cleanup(&srv->slots[k]);
	free(srv->slots);
	if (srv->cq != NULL && srv->cq_drained)
		grpc_completion_queue_destroy(srv->cq);
	else
		cq_destroy(srv->cq);
	while ((j = srv->long_head) != NULL) {
		srv->long_head = j->next;
		grpc_call_unref(j->call);
		if (j->payload != NULL)
			grpc_byte_buffer_destroy(j->payload);
		free(j);
	}
	free(srv->workers);
}

void
rpc_server_free(struct rpc_server *srv)
{
	struct rpc_tls *tls;

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

	/*
	 * The server before the queues it knows.  The TLS verifier may outlive
	 * it; once the refusals are closed, a late handshake counts nothing.
	 */
	grpc_server_destroy(srv->server);
	grpc_resource_quota_unref(srv->quota);
	rpc_refusals_close(srv->refusals);
	workers_free(srv);
	cq_destroy(srv->shutdown_cq);
	free(srv->methods);
	pthread_cond_destroy(&srv->long_cond);
	pthread_mutex_destroy(&srv->long_lock);
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	tls = srv->tls;
	free(srv);
	grpc_shutdown();
	/* Last: gRPC's certificate provider reads them until it is gone. */
	rpc_tls_free(tls);
}

int
rpc_server_tls_update(struct rpc_server *srv, const char *cert_pem,
    const char *key_pem, const char *client_ca_pem, struct cf_error *err)
{

	if (srv->tls == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "the server does "
		    "not serve TLS");
		return (-1);
	}
	return (rpc_tls_update(srv->tls, cert_pem, key_pem, client_ca_pem,
	    err));
}
