/*
 * refusals.c: refused handshakes and unauthenticated calls, counted and
 * audited as one summary event per peer and kind per interval.
 *
 * A client without an acceptable certificate costs the server nothing
 * durable per attempt: if each refusal were an audit row, a flood of
 * handshakes would become a flood of HMAC'd inserts and fill the audit
 * queue that authenticated callers wait on.  So a refusal is only counted
 * here, in a small fixed table keyed by (peer, principal, operation,
 * outcome); a thread of its own submits one event per entry every interval
 * with audit_submit_nowait, which never waits: when the audit queue is
 * full the summary is dropped, counted, and said on stderr.  The table
 * holds RPC_REFUSALS_MAX entries; what does not fit is counted in one
 * more entry whose principal is "(others)", so an interval never yields
 * more than RPC_REFUSALS_MAX + 1 events, whatever the names claimed.
 *
 * The handle is shared by the server and its TLS verifier, which gRPC may
 * keep (and call) after the server is gone; it is reference counted, and
 * once closed by the server it counts nothing more.
 */
#include "rpc_internal.h"
#include "cf_log.h"
#include "rpc_tls.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

#define RPC_REFUSALS_MAX 64

struct entry {
	char peer[80];
	char principal[RPC_REFUSAL_NAME_MAX];
	char operation[80];
	char outcome[48];
	uint64_t count;
	int64_t first_ms;
};

struct rpc_refusals {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned refs;
	int closed;			/* the server is gone: count nothing */
	struct audit *audit;		/* NULL: counted, not audited */
	unsigned interval_s;
	struct entry e[RPC_REFUSALS_MAX];
	size_t n;
	struct entry others;
	uint64_t dropped;		/* summaries the audit queue refused */
	pthread_t thread;
	int running;
};

/* One summary event and its strings, freed by the writer's callback. */
struct summary {
	struct audit_event ev;
	char request_id[CF_UUID_LEN + 1];
	char peer[128];
	struct entry e;
};

static void
summary_done(void *arg, int ok, const struct cf_error *err)
{

	(void)ok;
	(void)err;
	free(arg);
}

/* The host of a gRPC peer string: "ipv4:1.2.3.4:567" -> "ipv4:1.2.3.4". */
static void
peer_host(char *out, size_t size, const char *peer)
{
	const char *colon = strrchr(peer, ':');
	size_t n = strlen(peer), i;

	if ((strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) ==
	    0) && colon != NULL && colon > peer + 4 && colon[1] != '\0') {
		for (i = 1; colon[i] >= '0' && colon[i] <= '9'; i++)
			continue;
		if (colon[i] == '\0')
			n = (size_t)(colon - peer);
	}
	snprintf(out, size, "%.*s", (int)n, peer);
}

/* Submit the events of ${e}; returns the refusals dropped. */
static uint64_t
submit_all(struct audit *a, const struct entry *e, size_t n)
{
	struct summary *s;
	uint64_t dropped = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (a == NULL || (s = calloc(1, sizeof(*s))) == NULL) {
			dropped += e[i].count;
			continue;
		}
		s->e = e[i];
		if (cf_uuid_random(s->request_id)) {
			free(s);
			dropped += e[i].count;
			continue;
		}
		snprintf(s->peer, sizeof(s->peer), "%s; count=%" PRIu64,
		    s->e.peer, s->e.count);
		s->ev.time_ms = s->e.first_ms;
		s->ev.request_id = s->request_id;
		s->ev.principal = s->e.principal;
		s->ev.peer = s->peer;
		s->ev.operation = s->e.operation;
		s->ev.outcome = s->e.outcome;
		if (audit_submit_nowait(a, &s->ev, 1, summary_done, s)) {
			free(s);
			dropped += e[i].count;
		}
	}
	return (dropped);
}

/* Take the table's counts and submit them; called with ${r->mu} held. */
static void
flush_locked(struct rpc_refusals *r)
{
	struct entry *e;
	size_t n = r->n;
	uint64_t dropped;

	if (n == 0 && r->others.count == 0 && r->dropped == 0)
		return;

	/* Take the counts; adders go on meanwhile with an empty table. */
	if ((e = malloc((n + 1) * sizeof(*e))) == NULL)
		return;			/* kept for the next interval */
	memcpy(e, r->e, n * sizeof(*e));
	if (r->others.count > 0)
		e[n++] = r->others;
	r->n = 0;
	memset(&r->others, 0, sizeof(r->others));
	dropped = r->dropped;
	r->dropped = 0;
	pthread_mutex_unlock(&r->mu);

	/* One event per entry, none of them waited for. */
	dropped += submit_all(r->audit, e, n);
	if (dropped > 0)
		cf_log(CF_LOG_ERROR, "the audit queue is full: %" PRIu64
		    " refused handshakes or unauthenticated calls are not on "
		    "record", dropped);
	free(e);
	pthread_mutex_lock(&r->mu);
}

static void *
refusals_main(void *arg)
{
	struct rpc_refusals *r = arg;
	struct timespec until;

	(void)pthread_setname_np(pthread_self(), "coffer-refusals");
	pthread_mutex_lock(&r->mu);
	while (!r->closed) {
		/* Sleep out the interval (or until the server closes). */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += r->interval_s;
		while (!r->closed && pthread_cond_timedwait(&r->cv, &r->mu,
		    &until) != ETIMEDOUT)
			continue;
		flush_locked(r);
	}
	pthread_mutex_unlock(&r->mu);
	return (NULL);
}

struct rpc_refusals *
rpc_refusals_new(struct audit *audit, unsigned interval_s,
    struct cf_error *err)
{
	struct rpc_refusals *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->refs = 1;
	r->audit = audit;
	r->interval_s = interval_s > 0 ? interval_s :
	    RPC_REFUSAL_INTERVAL_DEFAULT;
	if (pthread_create(&r->thread, NULL, refusals_main, r) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the "
		    "refusal counter's thread");
		rpc_refusals_unref(r);
		return (NULL);
	}
	r->running = 1;
	return (r);
}

void
rpc_refusals_ref(struct rpc_refusals *r)
{

	pthread_mutex_lock(&r->mu);
	r->refs++;
	pthread_mutex_unlock(&r->mu);
}

void
rpc_refusals_unref(struct rpc_refusals *r)
{
	unsigned left;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	left = --r->refs;
	pthread_mutex_unlock(&r->mu);
	if (left > 0)
		return;
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int
rpc_refusals_add(struct rpc_refusals *r, const char *peer,
    const char *principal, const char *operation, const char *outcome)
{
	struct entry k, *e = NULL;
	size_t i;
	int first = 0;

	/* The key, as it will be stored (truncated alike). */
	memset(&k, 0, sizeof(k));
	peer_host(k.peer, sizeof(k.peer), peer != NULL ? peer : "unknown");
	snprintf(k.principal, sizeof(k.principal), "%s", principal);
	snprintf(k.operation, sizeof(k.operation), "%s", operation);
	snprintf(k.outcome, sizeof(k.outcome), "%s", outcome);
	k.first_ms = cf_now_ms();

	/* Count it: in its entry, a new one, or with the others. */
	pthread_mutex_lock(&r->mu);
	if (r->closed)
		goto out;
	for (i = 0; i < r->n && e == NULL; i++)
		if (strcmp(r->e[i].peer, k.peer) == 0 &&
		    strcmp(r->e[i].principal, k.principal) == 0 &&
		    strcmp(r->e[i].operation, k.operation) == 0 &&
		    strcmp(r->e[i].outcome, k.outcome) == 0)
			e = &r->e[i];
	if (e == NULL && r->n < RPC_REFUSALS_MAX) {
		e = &r->e[r->n++];
		*e = k;
	} else if (e == NULL) {
		e = &r->others;
		if (e->count == 0) {
			*e = k;
			snprintf(e->peer, sizeof(e->peer), "(others)");
			snprintf(e->principal, sizeof(e->principal),
			    "(others)");
		}
	}
	first = e->count++ == 0;
out:
	pthread_mutex_unlock(&r->mu);
	return (first);
}

void
rpc_refusals_close(struct rpc_refusals *r)
{

	if (r == NULL)
		return;

	/* Stop counting; the thread submits what it has and exits. */
	pthread_mutex_lock(&r->mu);
	r->closed = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->running)
		pthread_join(r->thread, NULL);
	r->running = 0;
	rpc_refusals_unref(r);
}
