/*
 * audit.h: the tamper-evident audit trail (audit/DESIGN.md).
 *
 * Two halves.  audit_record.c is pure: the canonical encoding and hash of
 * an event, and the checker that walks a chain and names its first broken
 * link; cofferd's VerifyAuditLog and `coffer audit verify` on an export
 * file both use it.  audit_writer.c is cofferd's single writer thread: it
 * takes events from every worker, chains and signs them (HMAC in the
 * token), inserts each batch with one commit (group commit) and only then
 * tells the callers, so a response never leaves before its event is
 * durable.
 */
#ifndef COFFER_AUDIT_H
#define COFFER_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "cf.h"
#include "hsm.h"
#include "store.h"

#define AUDIT_HASH_LEN 32

/* ---- records and checking (audit_record.c, pure) ------------------------- */

/*
 * audit_row_hash(row, out):
 * SHA-256 of ${row}'s canonical encoding (every column but hash and hmac,
 * prev_hash included) into ${out}: format v1 when ${row->request_params}
 * is NULL (every event before migration 0008), v2 with them.  Returns 0,
 * or -1 if libcrypto fails.
 */
int audit_row_hash(const struct cf_audit_row *, uint8_t *) CF_MUSTCHECK;

/*
 * Walks one chain, fed its events in (seq, hash) order.  After
 * audit_check_end(), ${ok} says whether the chain verified; if not,
 * ${broken_seq} is the sequence number of the first broken link and
 * ${reason} says what is wrong with it.
 */
struct audit_check {
	char chain_id[37];
	int ok;
	int64_t broken_seq;
	char reason[256];
	int64_t events;
	int64_t first_seq;
	int64_t last_seq;
	int head_known;			/* the token's head was consulted */
	int head_found;			/* ...and it has one for this chain */
	int head_matched;		/* the event at the head's seq matched */
	int64_t head_seq;
	uint8_t head_hash[AUDIT_HASH_LEN];
	int anchored;
	int64_t anchor_seq;
	uint8_t anchor_hash[AUDIT_HASH_LEN];
	int64_t next_seq;		/* 0: nothing seen yet */
	uint8_t last_hash[AUDIT_HASH_LEN];
	int macs_checked;
};

/*
 * audit_check_init(c, chain_id, head):
 * Start checking ${chain_id}.  ${head} is the token's head of the chain,
 * NULL when the token has none; pass head_known = 0 when the token was not
 * consulted at all (an offline check without a token).
 */
void audit_check_init(struct audit_check *, const char *,
    const struct hsm_audit_head *, int);

/*
 * audit_check_anchor(c, seq, hash):
 * The chain legitimately begins after event ${seq} (archived), whose hash
 * was ${hash}; the caller has checked the anchor's hmac in the token.
 */
void audit_check_anchor(struct audit_check *, int64_t, const uint8_t *);

/*
 * audit_check_row(c, row, mac_ok):
 * The next event.  ${mac_ok} is 1 if its hmac verified in the token, 0 if
 * it did not, -1 if it was not checked (no token).
 */
void audit_check_row(struct audit_check *, const struct cf_audit_row *,
    int);

/* audit_check_end(c): no more events; checks the tail against the head. */
void audit_check_end(struct audit_check *);

/* ---- the deployment (audit_deploy.c) -------------------------------------- */

#define AUDIT_DEPLOYMENT_LEN 32		/* hex characters */

/*
 * audit_deployment(st, hs, out, err):
 * This database's deployment id (made on first use) as 32 hex characters
 * and a NUL in ${out}.  Returns 0 or -1.
 */
int audit_deployment(struct store *, struct hsm_session *, char *,
    struct cf_error *) CF_MUSTCHECK;

/* ---- the writer (audit_writer.c) ------------------------------------------ */

struct audit;

/* audit_head_max_lag's default, in milliseconds. */
#define AUDIT_HEAD_MAX_LAG_MS_DEFAULT (5 * 1000LL)

struct audit_config {
	const char *conninfo;		/* cofferd's role: INSERT, SELECT */
	struct hsm *hsm;		/* borrowed */
	int64_t head_max_lag_ms;	/* audit_head_max_lag; 0: 5 s */
	int db_timeout_ms;		/* store_set_deadline; 0: default */
};

/* The longest request_params an event keeps (longer: {"Truncated":true}). */
#define AUDIT_PARAMS_MAX 8192

/* One event as a caller hands it in; strings are copied. */
struct audit_event {
	int64_t time_ms;
	const char *request_id;
	const char *principal;
	const char *peer;
	const char *operation;
	const char *secret_arn;		/* NULL if none */
	const char *version_id;		/* NULL if none */
	const char *outcome;		/* "OK" or the AWS exception name */
	const char *request_params;	/* JSON object; NULL if none (v1) */
};

/*
 * audit_start(cfg, err):
 * Open the writer's own database connection and token session, start a
 * new chain (a random id, registered in audit_chains), make sure the
 * monthly partitions exist, start the thread and record "ServerStart".
 * NULL with ${err} set if any of it fails: cofferd does not serve
 * unaudited.
 */
struct audit *audit_start(const struct audit_config *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * audit_stop(a): record "ServerStop", write everything queued, stop the
 * thread and free.  NULL does nothing.
 */
void audit_stop(struct audit *);

/* audit_chain_id(a): this process's chain. */
const char *audit_chain_id(const struct audit *);

/*
 * The completion of a submission: ${ok} is 1 once every event of it is
 * committed, 0 if they could not be (then ${err} says why).  Called on the
 * writer thread; it must not block.
 */
typedef void audit_done_fn(void *, int, const struct cf_error *);

/*
 * audit_submit(a, ev, n, done, arg):
 * Queue ${n} events that are committed together, and call ${done}(${arg})
 * when they are (or are not).  Events that fail are recorded again later
 * with the outcome ServiceUnavailable, since their caller's client was
 * told so.  Blocks while the queue is full.  Returns 0,
 * or -1 (out of memory, or stopping) in which case ${done} is not called.
 */
int audit_submit(struct audit *, const struct audit_event *, size_t,
    audit_done_fn *, void *) CF_MUSTCHECK;

/*
 * audit_submit_nowait(a, ev, n, done, arg):
 * audit_submit for events nobody waits on (summaries of refused
 * handshakes): never blocks on a full queue, returns -1 instead (then, as
 * when out of memory or stopping, ${done} is not called), and a failed
 * batch is not re-recorded.
 */
int audit_submit_nowait(struct audit *, const struct audit_event *, size_t,
    audit_done_fn *, void *) CF_MUSTCHECK;

/*
 * audit_record(a, ev, n, err):
 * audit_submit and wait: 0 once the events are committed, else -1 with
 * ${err} set (CF_ERR_UNAVAILABLE).  Unlike audit_submit, a failure is not
 * re-recorded: the caller, who learns of it, records how its call ended.
 * Refused (as audit_head_check) while the token's head lags too long.
 */
int audit_record(struct audit *, const struct audit_event *, size_t,
    struct cf_error *) CF_MUSTCHECK;

/*
 * How far the token's head of the chain lags (audit/DESIGN.md, "Heads in
 * the token"): ${lag_ms} is how long committed events have waited for the
 * token to record them (0: it holds the newest head).
 */
struct audit_head_status {
	int64_t chain_seq;		/* the newest committed event */
	int64_t token_seq;		/* the head the token holds */
	int64_t lag_ms;
	int64_t max_lag_ms;		/* audit_head_max_lag */
	int64_t failures;		/* consecutive failed writes */
};

/* audit_head_status(a, out): the head keeper's state, now. */
void audit_head_status(struct audit *, struct audit_head_status *);

/*
 * audit_head_check(a, err):
 * 0 while the token's head lags the chain by at most audit_head_max_lag;
 * beyond, -1 with ${err} set (CF_ERR_UNAVAILABLE): calls that need the
 * audit are refused (fail closed) until the head keeper catches up.
 */
int audit_head_check(struct audit *, struct cf_error *) CF_MUSTCHECK;

/*
 * audit_head_wait(a, seq, timeout_ms):
 * Wait until the token holds the head at event ${seq} or later: 0, or -1
 * if it does not within ${timeout_ms}.
 */
int audit_head_wait(struct audit *, int64_t, int64_t) CF_MUSTCHECK;

#endif /* !COFFER_AUDIT_H */
