/*
 * audit_lane.h: one audit chain and its writer (audit_lane.c); internal to
 * audit/.  audit_writer.c runs several and picks one per submission.
 */
#ifndef COFFER_AUDIT_LANE_H
#define COFFER_AUDIT_LANE_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "audit.h"
#include "cf_metrics.h"

struct lane;

/* What a process's lanes share (audit_writer.c's struct audit holds it). */
struct lane_shared {
	const atomic_uint *coming;	/* calls on their way to the queue
					   lanes (audit_call_begin); the
					   writer waits for them under load */
	const atomic_uint *mac_floor;	/* the audit key version this process
					   rotated to last (audit_key_rotated),
					   used at once */
	struct cf_hist batch[2];	/* events per commit: queue, change */
	struct cf_hist commit[2];	/* the commit's round trip, in us */
};

/*
 * lane_start(cfg, first, inline_only, shared, err):
 * Open the lane's own database connection and token sessions, start a new
 * chain (a random id), start its writer and head keeper, record
 * "ServerStart" in it (which registers the chain in audit_chains) and
 * wait until the token holds its head.  ${first}: the first lane of the
 * process, which also makes the monthly partitions and tidies superseded
 * heads in the token.  ${inline_only}: a change lane, which has no writer
 * thread and no queue: its holder appends events with lane_append.
 * ${shared}: what the process's lanes share, which outlives them.  NULL
 * with ${err} set if any of it fails.
 */
struct lane *lane_start(const struct audit_config *, int, int,
    struct lane_shared *, struct cf_error *) CF_MUSTCHECK;

/*
 * lane_queued(l): events waiting in ${l}'s queue now (for the metrics).
 */
size_t lane_queued(struct lane *);

/* lane_nudge(l): wake the writer to look again at what it waits for. */
void lane_nudge(struct lane *);

/* lane_stop(l): record "ServerStop", write what is queued, stop, free. */
void lane_stop(struct lane *);

/* How lane_submit queues. */
enum lane_submit_flags {
	LANE_REDO = 1,		/* re-record them as failed if their batch
				   fails */
	LANE_NOWAIT = 2,	/* return -1 instead of waiting for room */
	LANE_URGENT = 4,	/* a caller waits: commit without waiting
				   for company (audit_batch_wait_us) */
	LANE_SIGN = 8		/* the token HMACs each of them, wherever
				   they fall in their batch (ServerStart,
				   ServerStop) */
};

/*
 * lane_submit(l, ev, n, done, arg, flags):
 * Queue ${n} events committed together; ${done}(${arg}) is called on the
 * lane's writer thread once they are (or are not).  ${flags}: the
 * lane_submit_flags.  -1 (out of memory, stopping, full) means ${done} is
 * never called.
 */
int lane_submit(struct lane *, const struct audit_event *, size_t,
    audit_done_fn *, void *, unsigned) CF_MUSTCHECK;

/* lane_record(l, ev, n, err): lane_submit and wait for the commit. */
int lane_record(struct lane *, const struct audit_event *, size_t,
    struct cf_error *) CF_MUSTCHECK;

/*
 * lane_append(l, st, ev, n, err):
 * Chain ${n} events in change lane ${l}, insert them with ${st} in the
 * transaction ${st} has open (the caller's change) and commit it, in one
 * round trip.  The caller holds ${l} alone.  How the transaction ended:
 * committed (the chain moves on, and its head to the token), rolled back
 * (it does not), or unknown (the chain's end is read again before the
 * next); ${err} set unless committed.  The transaction is over either way.
 */
enum audit_txn_end lane_append(struct lane *, struct store *,
    const struct audit_event *, size_t, struct cf_error *) CF_MUSTCHECK;

/* lane_head_status(l, out): the lane's head keeper, now. */
void lane_head_status(struct lane *, struct audit_head_status *);

/*
 * lane_head_wait(l, seq, timeout_ms): 0 once the token holds the lane's
 * head at event ${seq} or later, -1 if not within ${timeout_ms}.
 */
int lane_head_wait(struct lane *, int64_t, int64_t) CF_MUSTCHECK;

/* lane_chain_id(l): the lane's chain. */
const char *lane_chain_id(const struct lane *);

#endif /* !COFFER_AUDIT_LANE_H */
