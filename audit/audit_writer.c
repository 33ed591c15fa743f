/*
 * audit_writer.c: cofferd's audit writer, a set of lanes.
 *
 * Each lane (audit_lane.c) is one chain with its own thread, database
 * connection, token session and group commit.  A submission goes to one
 * lane, taken in turn, so the hashing, the token HMACs, the INSERTs and
 * their fsyncs of many calls run side by side instead of through one
 * thread (audit/DESIGN.md, "Lanes").  Changes do not queue: each holds a
 * change lane of its own for the moment it appends its event to its own
 * transaction and commits (audit_append), so that a change and its event
 * make one commit.  A call's events stay together in
 * one lane; the order of events of different calls was never more than
 * the order they reached the writer, and across lanes it is given by
 * event_time.  The fail-closed bound applies to the worst lane: while any
 * lane's chain is unanchored too long, audited calls are refused.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit.h"
#include "audit_lane.h"
#include "store.h"

/*
 * lanes[0, n_queue) take submissions; lanes[n_queue, n) are change lanes,
 * each held by one change at a time (held[i - n_queue]).
 */
struct audit {
	size_t n;
	size_t n_queue;
	atomic_uint next;		/* the lane the next submission takes */
	atomic_uint coming;		/* calls between audit_call_begin, _end */
	atomic_uint mac_floor;		/* audit_key_rotated's version */
	struct lane_shared shared;	/* the lanes': the two above, stats */
	pthread_mutex_t mu;		/* held[] */
	pthread_cond_t freed;
	unsigned next_change;
	unsigned char *held;
	struct lane *lanes[];
};

/* The next lane, in turn. */
static struct lane *
pick(struct audit *a)
{

	return (a->lanes[atomic_fetch_add(&a->next, 1) % a->n_queue]);
}

int
audit_append(struct audit *a, struct store *st, const struct audit_event *ev,
    size_t n, struct cf_error *err)
{
	size_t n_change = a->n - a->n_queue, i, k;
	char why[sizeof(err->msg)];
	enum audit_txn_end end;

	if (audit_head_check(a, err)) {
		store_rollback(st);
		return (-1);
	}

	/* A free change lane, in turn; while none is, wait for one. */
	pthread_mutex_lock(&a->mu);
	for (;;) {
		for (k = 0; k < n_change; k++) {
			i = (a->next_change + k) % n_change;
			if (!a->held[i])
				break;
		}
		if (k < n_change)
			break;
		pthread_cond_wait(&a->freed, &a->mu);
	}
	a->held[i] = 1;
	a->next_change = (unsigned)(i + 1);
	pthread_mutex_unlock(&a->mu);

	end = lane_append(a->lanes[a->n_queue + i], st, ev, n, err);
	pthread_mutex_lock(&a->mu);
	a->held[i] = 0;
	pthread_cond_signal(&a->freed);
	pthread_mutex_unlock(&a->mu);
	if (end == AUDIT_TXN_COMMITTED)
		return (0);
	/* The change's own failure (a held write): its error stands. */
	if (end == AUDIT_TXN_REFUSED)
		return (-1);
	/* The caller sees a service problem. */
	if (err->code != CF_ERR_UNAVAILABLE) {
		snprintf(why, sizeof(why), "%s", err->msg);
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not record the "
		    "audit event: %s", why);
	}
	return (-1);
}

void
audit_call_begin(struct audit *a)
{

	atomic_fetch_add(&a->coming, 1);
}

void
audit_call_end(struct audit *a)
{
	size_t i;

	/* The last one: a lane waiting for company need wait no more. */
	if (atomic_fetch_sub(&a->coming, 1) == 1)
		for (i = 0; i < a->n_queue; i++)
			lane_nudge(a->lanes[i]);
}

int
audit_submit(struct audit *a, const struct audit_event *ev, size_t n,
    audit_done_fn *done, void *arg)
{

	return (lane_submit(pick(a), ev, n, done, arg, LANE_REDO));
}

int
audit_submit_nowait(struct audit *a, const struct audit_event *ev, size_t n,
    audit_done_fn *done, void *arg)
{

	return (lane_submit(pick(a), ev, n, done, arg, LANE_NOWAIT));
}

int
audit_record(struct audit *a, const struct audit_event *ev, size_t n,
    struct cf_error *err)
{

	/* A change waits for its event: not while a tail is unanchored. */
	if (audit_head_check(a, err))
		return (-1);
	return (lane_record(pick(a), ev, n, err));
}

void
audit_head_status(struct audit *a, struct audit_head_status *out)
{
	struct audit_head_status st;
	size_t i;

	/* The lane whose chain has waited longest for the token. */
	lane_head_status(a->lanes[0], out);
	for (i = 1; i < a->n; i++) {
		lane_head_status(a->lanes[i], &st);
		if (st.lag_ms > out->lag_ms)
			*out = st;
	}
}

int
audit_head_check(struct audit *a, struct cf_error *err)
{
	struct audit_head_status st;

	audit_head_status(a, &st);
	if (st.lag_ms <= st.max_lag_ms)
		return (0);
	cf_error_set(err, CF_ERR_UNAVAILABLE, "the token has not recorded the "
	    "audit chain's head for %" PRId64 " ms (events %" PRId64 "..%"
	    PRId64 " unanchored; audit_head_max_lag is %" PRId64 " s): "
	    "refusing audited calls until the token is back", st.lag_ms,
	    st.token_seq + 1, st.chain_seq, st.max_lag_ms / 1000);
	return (-1);
}

void
audit_key_rotated(struct audit *a, uint32_t version)
{
	unsigned cur = atomic_load(&a->mac_floor);

	/* Only ever up: two rotations may report out of order. */
	while (cur < version && !atomic_compare_exchange_weak(&a->mac_floor,
	    &cur, version))
		;
}

void
audit_metrics_write(struct audit *a, struct cf_prom *out)
{
	static const char *const kind[2] = { "lane=\"queue\"",
	    "lane=\"change\"" };
	size_t i, queued = 0;
	int k;

	for (i = 0; i < a->n_queue; i++)
		queued += lane_queued(a->lanes[i]);
	cf_prom_family(out, "coffer_audit_queue_events", "gauge", "Audit "
	    "events waiting for their lane's next commit (reads' answers "
	    "wait with them).");
	cf_prom_value(out, "coffer_audit_queue_events", NULL, queued);
	cf_prom_family(out, "coffer_audit_batch_events", "histogram", "Audit "
	    "events per commit: a queue lane's group commit, or a change's "
	    "own transaction.");
	for (k = 0; k < 2; k++)
		cf_prom_hist(out, "coffer_audit_batch_events", kind[k],
		    &a->shared.batch[k], &cf_hist_sizes);
	cf_prom_family(out, "coffer_audit_commit_seconds", "histogram", "The "
	    "round trip of an audit commit (INSERT and COMMIT, fsync "
	    "included).");
	for (k = 0; k < 2; k++)
		cf_prom_hist(out, "coffer_audit_commit_seconds", kind[k],
		    &a->shared.commit[k], &cf_hist_seconds);
}

size_t
audit_lanes(const struct audit *a)
{

	return (a->n);
}

void
audit_own_heads(struct audit *a, struct audit_own_head *out,
    int64_t timeout_ms)
{
	struct audit_head_status st;
	int64_t end = cf_now_ms() + timeout_ms, left;
	size_t i;

	/*
	 * Each lane's keeper catches up with what its chain committed so far
	 * (the lanes wait side by side: the timeout is for them all).
	 */
	for (i = 0; i < a->n; i++) {
		lane_head_status(a->lanes[i], &st);
		out[i].chain_id = lane_chain_id(a->lanes[i]);
		out[i].synced = st.chain_seq;
	}
	for (i = 0; i < a->n; i++) {
		left = end - cf_now_ms();
		if (lane_head_wait(a->lanes[i], out[i].synced,
		    left > 0 ? left : 0))
			out[i].synced = -1;
	}
}

struct audit *
audit_start(const struct audit_config *cfg, struct cf_error *err)
{
	struct audit *a;
	size_t q = cfg->lanes > 0 ? cfg->lanes : 1;
	size_t c = cfg->change_lanes > 0 ? cfg->change_lanes : 1, i;

	if ((a = calloc(1, sizeof(*a) + (q + c) * sizeof(a->lanes[0]))) ==
	    NULL || (a->held = calloc(c, 1)) == NULL) {
		free(a);
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	atomic_init(&a->next, 0);
	atomic_init(&a->coming, 0);
	atomic_init(&a->mac_floor, 0);
	a->shared.coming = &a->coming;
	a->shared.mac_floor = &a->mac_floor;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->freed, NULL);
	a->n_queue = q;
	for (i = 0; i < q + c; i++) {
		if ((a->lanes[i] = lane_start(cfg, i == 0, i >= q,
		    &a->shared, err)) == NULL) {
			audit_stop(a);
			return (NULL);
		}
		a->n = i + 1;
	}
	return (a);
}

void
audit_stop(struct audit *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		lane_stop(a->lanes[i]);
	pthread_cond_destroy(&a->freed);
	pthread_mutex_destroy(&a->mu);
	free(a->held);
	free(a);
}
