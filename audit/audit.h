/*
 * audit.h: the tamper-evident audit trail (audit/DESIGN.md).
 *
 * Two halves.  The pure core (coffer_audit_core: no database, no token)
 * owns the event and its checking: audit_hash.c is the canonical encoding
 * and hash of an event, audit_check.c the checker that takes a chain's
 * events one by one and names its first broken link, and audit_verify.c
 * the walk of one chain through the checker (audit_verify_chain), which
 * both cofferd's VerifyAuditLog and `coffer audit verify --file` use: the
 * caller supplies the events and the token's verdict on each hmac.  The
 * rows are struct cf_audit_row (common/cf_audit_row.h), which store/
 * fills.  The other half (coffer_audit) is cofferd's: audit_writer.c, the
 * writer, which spreads events over lanes (audit_lane.c), each a chain
 * with its own thread that chains and signs its events (HMAC in the
 * token), inserts each batch with one commit (group commit) and only then
 * tells the callers, so a response never leaves before its event is
 * durable; and audit_deploy.c, the deployment id that scopes the token's
 * heads.
 */
#ifndef COFFER_AUDIT_H
#define COFFER_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "cf.h"
#include "cf_audit_row.h"

struct hsm;
struct hsm_session;
struct store;

#define AUDIT_HASH_LEN CF_AUDIT_HASH_LEN

/* ---- the event hash (audit_hash.c, pure) ---------------------------------- */

/*
 * audit_row_hash(row, out):
 * SHA-256 of ${row}'s canonical encoding (every column but hash and hmac,
 * prev_hash included) into ${out}: format v3 when ${row->transport} (or
 * ${row->access_key_id}) is set (calls since migration 0013); else v1
 * when ${row->request_params} is NULL (every event before migration 0008,
 * cofferd's own events), v2 with them.  Returns 0, or -1 if libcrypto
 * fails.
 */
int audit_row_hash(const struct cf_audit_row *, uint8_t *) CF_MUSTCHECK;

/* ---- the chain checker (audit_check.c, pure) ------------------------------ */

/*
 * Walks one chain, fed its events in (seq, hash) order.  After
 * audit_check_end(), ${ok} says whether the chain verified; if not,
 * ${broken_seq} is the sequence number of the first broken link and
 * ${reason} says what is wrong with it.
 */
struct audit_check {
	char chain_id[CF_AUDIT_CHAIN_ID_LEN + 1];
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
	uint32_t last_mac_version;	/* of the event before; 0: none yet */
	int64_t macs_checked;		/* signed events whose hmac verified */
	int64_t covered;		/* events an hmac that verified covers:
					   the signed ones and the unsigned
					   ones before each */
	int64_t pending_from;		/* the first of the unsigned events
					   since the last signed one; 0: none */
};

/*
 * The longest run of consecutive unsigned events (hmac NULL) a chain may
 * hold: cofferd's writer signs at least every AUDIT_MAX_UNSIGNED + 1
 * events (audit/DESIGN.md, "Tamper evidence"), so a longer run is a
 * finding, and a bounded walk never goes more than this past its bound to
 * end at a signed event.
 */
#define AUDIT_MAX_UNSIGNED 1023

/* What the token said of a chain's head. */
enum audit_head {
	AUDIT_HEAD_NOT_ASKED,		/* no token (an offline check) */
	AUDIT_HEAD_NONE,		/* the token holds none for the chain */
	AUDIT_HEAD_FOUND		/* it holds one: seq and hash */
};

/* What the token said of an event's hmac. */
enum audit_mac {
	AUDIT_MAC_UNCHECKED,		/* no token */
	AUDIT_MAC_OK,			/* made with the token's audit key */
	AUDIT_MAC_BAD,			/* not */
	AUDIT_MAC_NO_KEY,		/* a key bundle without its version */
	AUDIT_MAC_ABSENT		/* the event has no hmac (NULL): a
					   later signed event's covers it */
};

/*
 * audit_check_init(c, chain_id, head, head_seq, head_hash):
 * Start checking ${chain_id}.  ${head} says whether the token was asked
 * for the chain's head and whether it has one; when it has (only then),
 * ${head_seq} and ${head_hash} are that head.
 */
void audit_check_init(struct audit_check *, const char *, enum audit_head,
    int64_t, const uint8_t *);

/*
 * audit_check_anchor(c, seq, hash, mac_version, mac):
 * The chain legitimately begins after event ${seq} (archived, or where an
 * earlier call stopped), whose hash was ${hash} and whose hmac version
 * ${mac_version} of the audit key made (0 is 1); ${mac} is the token's
 * verdict on that hmac.  AUDIT_MAC_OK, or AUDIT_MAC_UNCHECKED (offline,
 * an export that starts mid-chain), sets the anchor; any other verdict
 * is a finding at ${seq} + 1: an anchor must be a signed event that
 * cofferd wrote.
 */
void audit_check_anchor(struct audit_check *, int64_t, const uint8_t *,
    uint32_t, enum audit_mac);

/*
 * audit_check_row(c, row, mac):
 * The next event; ${mac} is the token's verdict on its hmac
 * (AUDIT_MAC_ABSENT, whatever ${mac} says, when ${row}->hmac_absent).  An
 * unsigned event is pending until the next signed event's hmac, which
 * covers it through prev_hash, verifies; a run of more than
 * AUDIT_MAX_UNSIGNED of them is a finding.
 */
void audit_check_row(struct audit_check *, const struct cf_audit_row *,
    enum audit_mac);

/*
 * audit_check_broken(c, seq, fmt, ...):
 * A finding the checker cannot see for itself (an invented anchor, an
 * event gone from where an earlier call stopped): the chain breaks at
 * ${seq}, for the reason ${fmt}.  Only the first finding is kept.
 */
void audit_check_broken(struct audit_check *, int64_t, const char *, ...)
    CF_PRINTF(3, 4);

/*
 * audit_check_end(c): no more events; checks the tail against the head,
 * and that no HMAC-less tail is left pending (covered by no HMAC).
 */
void audit_check_end(struct audit_check *);

/* ---- the walk of a chain (audit_verify.c, pure) --------------------------- */

/*
 * Where a walk's events come from.  fetch(arg, want, out, n, more, err)
 * gives the chain's next events in (seq, hash) order, at most ${want} of
 * them (${want} >= 1), in *${out} and *${n}, with *${more} nonzero if
 * others follow; the events stay valid until the next fetch.  mac(arg,
 * row, out, err) is the token's verdict on ${row}'s hmac; NULL when there
 * is no token (every event AUDIT_MAC_UNCHECKED).  Both return 0, or -1
 * with ${err} set, which ends the walk with an error (not a finding).
 */
struct audit_source {
	int (*fetch)(void *, size_t, const struct cf_audit_row **, size_t *,
	    int *, struct cf_error *);
	int (*mac)(void *, const struct cf_audit_row *, enum audit_mac *,
	    struct cf_error *);
	void *arg;
};

/*
 * A walk's bound, which may span several chains: the events it may still
 * check and the deadline on cf_mono_ms() (looked at between fetches).
 * When it runs out with more of a chain to read, ${stop_seq} is the last
 * event checked (0: the chain was walked to its end), always a signed
 * one: past the bound the walk goes on to the next signed event (at most
 * AUDIT_MAX_UNSIGNED more), so that the next call resumes from an event
 * whose hmac it can check.
 */
struct audit_bound {
	int64_t events_left;
	int64_t deadline_ms;
	int64_t stop_seq;
};

/* How many events a walk asks its source for at a time. */
#define AUDIT_VERIFY_PAGE 1000

/*
 * One chain this server writes (a lane, audit_writer.c) and the event its
 * head keeper had written up to when verification began (-1: it did not
 * catch up in time).
 */
struct audit_own_head {
	const char *chain_id;
	int64_t synced;
};

/*
 * What a server verifying online knows of the writers' heads
 * (audit/DESIGN.md, "Verification"): its own chains and how far their
 * heads caught up, how long another server's tail after its head may span
 * before it counts as a finding, and whether the token holds any head of
 * this deployment.
 */
struct audit_head_view {
	const struct audit_own_head *own;	/* NULL: no writer here */
	size_t n_own;
	int64_t in_flight_ms;
	int any_heads;
};

/*
 * audit_verify_chain(c, src, view, resumed, after_head_ms, b, err):
 * Walk the events of ${src} through ${c} (set up by audit_check_init and,
 * where the chain starts after an anchor, audit_check_anchor), within
 * ${b}.  When the bound does not cut the chain short, end it
 * (audit_check_end); with ${view} (online), first tell a lost head or an
 * unanchored tail in flight from a finding.  ${resumed} is nonzero when
 * the walk goes on from where an earlier call stopped, and
 * ${after_head_ms} the time of the event after the token's head if that
 * call saw it (else 0).  The verdict is in ${c}.  Returns 0, or -1 if the
 * source failed.
 */
int audit_verify_chain(struct audit_check *, const struct audit_source *,
    const struct audit_head_view *, int, int64_t, struct audit_bound *,
    struct cf_error *) CF_MUSTCHECK;

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
	unsigned lanes;			/* audit_lanes: queue lanes; 0: 1 */
	unsigned change_lanes;		/* change lanes; 0: 1 */
	int64_t batch_wait_us;		/* audit_batch_wait_us; 0: none */
	int db_timeout_ms;		/* store_set_deadline; 0: default */
};

/* The longest request_params an event keeps (longer: {"Truncated":true}). */
#define AUDIT_PARAMS_MAX 8192

/* The transports a call can arrive by (audit_events.transport). */
#define AUDIT_TRANSPORT_GRPC "grpc"
#define AUDIT_TRANSPORT_AWS_JSON "aws-json"

/* The longest access_key_id an event keeps (the column's CHECK). */
#define AUDIT_KEY_ID_MAX 128

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
	const char *transport;		/* AUDIT_TRANSPORT_*; NULL: cofferd's
					   own event (v1, v2), else v3 */
	const char *access_key_id;	/* the SigV4 key of an AWS_JSON call;
					   NULL if none */
	/*
	 * A read's only write, not part of the event: the secret (its uuid)
	 * and version whose LastAccessedDate becomes today with the event's
	 * commit (store_audit_insert).  NULL: none.
	 */
	const char *accessed_secret;
	const char *accessed_version;
};

/*
 * audit_start(cfg, err):
 * Start ${cfg->lanes} lanes for the events of reads and failures, each a
 * new chain (a random id, registered in audit_chains) with its own
 * thread, database connection and token sessions, and
 * ${cfg->change_lanes} change lanes (chains whose events changes append
 * in their own transactions: audit_append); make sure the monthly partitions exist; record
 * "ServerStart" in every chain and wait until the token holds each
 * chain's head.  NULL
 * with ${err} set if any of it fails: cofferd does not serve unaudited.
 */
struct audit *audit_start(const struct audit_config *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * audit_stop(a): record "ServerStop" in every chain, write everything
 * queued, stop the threads and free.  NULL does nothing.
 */
void audit_stop(struct audit *);

/*
 * audit_key_rotated(a, version): this process made version ${version} of
 * the token's audit key; every lane HMACs its next events under it (other
 * processes find it in the token within about a second).
 */
void audit_key_rotated(struct audit *, uint32_t);

/*
 * audit_metrics_write(a, out): the queue lanes' waiting events, and the
 * events per commit and the commits' round trips, for /metrics.
 */
struct cf_prom;
void audit_metrics_write(struct audit *, struct cf_prom *);

/* audit_lanes(a): how many chains this process writes. */
size_t audit_lanes(const struct audit *);

/*
 * audit_own_heads(a, out, timeout_ms):
 * For each of the audit_lanes(a) chains, in ${out}: its id and the event
 * its head keeper has written to the token, having waited (at most
 * ${timeout_ms} for them all) for every event committed before the call;
 * -1 for a chain whose head did not catch up.
 */
void audit_own_heads(struct audit *, struct audit_own_head *, int64_t);

/*
 * The completion of a submission: ${ok} is 1 once every event of it is
 * committed, 0 if they could not be (then ${err} says why).  Called on the
 * writer thread of the lane that took it; it must not block.
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
 * audit_call_begin(a), audit_call_end(a):
 * Bracket the work of a call whose outcome will be submitted to the queue
 * lanes (a worker serving it).  A queue lane under load waits, up to
 * audit_batch_wait_us after its last batch, for such calls to submit
 * before it commits: larger batches, fewer commits (audit/DESIGN.md,
 * "Lanes and group commit").  While none is under way it does not wait.
 * Every begin has its end; a miscount costs at most that wait, never an
 * event.
 */
void audit_call_begin(struct audit *);
void audit_call_end(struct audit *);

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

/* The fate of a change's transaction, which holds its audit event. */
enum audit_txn_end {
	AUDIT_TXN_COMMITTED,
	AUDIT_TXN_ROLLED_BACK,
	AUDIT_TXN_REFUSED,		/* rolled back: the change itself
					   failed before its event (a held
					   write: store_defer_writes) */
	AUDIT_TXN_UNKNOWN		/* the commit's answer was lost */
};

/*
 * audit_append(a, st, ev, n, err):
 * A change's events, in the change's own transaction (audit/DESIGN.md,
 * "Changes"): take a free change lane (waiting while all are held), chain
 * and sign the ${n} events in it, insert them with ${st} and commit
 * ${st}'s transaction, the INSERT and the COMMIT in one round trip: one
 * commit for the change and its events, so neither exists without the
 * other.  0 once committed; -1 with ${err} set (CF_ERR_UNAVAILABLE) when
 * not, or not known to be (the lane then reads its chain's end again),
 * or with the change's own error when one of its held writes failed
 * (nothing committed, the event not written).
 * The transaction is over either way.  Refused (as audit_head_check, and
 * rolled back) while a chain's head lags too long.
 */
int audit_append(struct audit *, struct store *, const struct audit_event *,
    size_t, struct cf_error *) CF_MUSTCHECK;

/*
 * How far the token's head of a chain lags (audit/DESIGN.md, "Heads in
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

/*
 * audit_head_status(a, out): the head keeper's state, now, of the chain
 * whose head has lagged longest.
 */
void audit_head_status(struct audit *, struct audit_head_status *);

/*
 * audit_head_check(a, err):
 * 0 while the token's head of every chain lags by at most
 * audit_head_max_lag;
 * beyond, -1 with ${err} set (CF_ERR_UNAVAILABLE): calls that need the
 * audit are refused (fail closed) until the head keeper catches up.
 */
int audit_head_check(struct audit *, struct cf_error *) CF_MUSTCHECK;

/* ---- the auditor's key bundle (audit_bundle.c, pure) --------------------- */

/*
 * An auditor's keyring: the audit key versions of an ExportAuditKeyBundle
 * that the auditor's RSA private key unwraps, for checking hmacs away
 * from the token (audit/DESIGN.md, "The auditor's bundle").
 */
struct audit_keyring;

#define AUDIT_RECIPIENT_MAX 71		/* "sha256:" and 64 hex digits */
#define AUDIT_OAEP_SHA256 "RSA-OAEP-SHA256"
#define AUDIT_OAEP_SHA1 "RSA-OAEP-SHA1"
/*
 * What a version's key check is the HMAC-SHA256 of (no event's hmac input,
 * which is a 32-byte hash, is this string).
 */
#define AUDIT_KEY_CHECK_MSG "coffer-audit-key-check"

/* Whether a bundle's entry was for this keyring's private key. */
enum audit_keyring_took {
	AUDIT_KEYRING_NOT_OURS,		/* another recipient's: skipped */
	AUDIT_KEYRING_TAKEN
};

/*
 * audit_keyring_new(path, out, err): a keyring for the RSA private key in
 * the PEM file ${path}, holding no version yet.  0, or -1 with ${err}.
 * audit_keyring_recipient(k): that key's name in a bundle, "sha256:" and
 * the hex SHA-256 of its public half's DER SubjectPublicKeyInfo.
 * audit_keyring_size(k): the versions it holds.
 * audit_keyring_free(k): wipe and free; NULL does nothing.
 */
int audit_keyring_new(const char *, struct audit_keyring **,
    struct cf_error *) CF_MUSTCHECK;
const char *audit_keyring_recipient(const struct audit_keyring *);
size_t audit_keyring_size(const struct audit_keyring *);
void audit_keyring_free(struct audit_keyring *);

/*
 * audit_keyring_add(k, version, recipient, mechanism, wrapped, len, check,
 *     out, err):
 * One entry of a bundle.  For another recipient, *${out} is
 * AUDIT_KEYRING_NOT_OURS and nothing happens; for ours the ${len} bytes at
 * ${wrapped} are unwrapped (RSA-OAEP, ${mechanism} AUDIT_OAEP_*) into
 * secret memory as ${version} (AUDIT_KEYRING_TAKEN), once its HMAC of
 * AUDIT_KEY_CHECK_MSG equals ${check} (AUDIT_HASH_LEN bytes, the token's).
 * 0, or -1 with ${err} (an entry that does not unwrap to a 256-bit key,
 * or to another key than the token's, a version twice).
 */
int audit_keyring_add(struct audit_keyring *, uint32_t, const char *,
    const char *, const uint8_t *, size_t, const uint8_t *,
    enum audit_keyring_took *, struct cf_error *) CF_MUSTCHECK;

/*
 * audit_keyring_check(k, row): the verdict on ${row}'s hmac under the
 * version it names: AUDIT_MAC_OK, AUDIT_MAC_BAD, AUDIT_MAC_NO_KEY when
 * the keyring does not hold that version (a finding, never a pass), or
 * AUDIT_MAC_ABSENT for an unsigned event.
 */
enum audit_mac audit_keyring_check(const struct audit_keyring *,
    const struct cf_audit_row *);

#endif /* !COFFER_AUDIT_H */
