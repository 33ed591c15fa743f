/*
 * audit_lane.c: one audit chain and the thread that writes it (group
 * commit), with its head keeper.
 *
 * cofferd runs several lanes side by side (audit_writer.c picks one per
 * submission), so that no one thread is a serial stage every audited call
 * passes through (audit/DESIGN.md, "Lanes and group commit").  A queue
 * lane's submitters queue submissions (the events of one call) and either
 * wait (lane_record: the server's own events, a purge's, a failed
 * rotation step's) or go on and are called back (lane_submit: a read's
 * reply is then sent by the worker the callback hands it to).  A change
 * lane has no queue and no writer thread: the change that holds it
 * appends its event to its own transaction and commits both in one round
 * trip (lane_append).  A queue lane's writer takes
 * everything queued, chains it (seq, prev_hash, hash), has the token HMAC
 * the hash of the batch's last event (and of the few others sign_batch()
 * names; the rest keep hmac NULL, covered through prev_hash by the next
 * signed one), inserts the batch in one statement (one commit, one fsync
 * for all of them), then calls every submission back.  The chain is only
 * ever touched by that one thread (or the change lane's one holder), so
 * it needs no lock.  A second thread keeps the token's head of the chain
 * up to date: writing a token object costs as much as a batch, so it runs
 * beside the writer and writes the newest committed head at most every
 * HEAD_EVERY_MS, and once more when cofferd stops (audit/DESIGN.md,
 * "Heads in the token", says what that lag means).
 *
 * A batch that fails is failed to all its callers.  Since a lost
 * connection can hide a commit that did happen, the writer then re-reads
 * its chain's head before the next batch, and records each failed event
 * again with the outcome ServiceUnavailable, so that an event which did
 * land is followed by the truth about its call.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cf_log.h"
#include "audit_lane.h"
#include "hsm.h"
#include "store.h"

#define MAX_BATCH 1024			/* events per INSERT */
#define MAX_QUEUED 16384		/* events waiting; submitters block */
#define MAX_REDO 8192			/* failed events kept to re-record */
#define MAX_FIELD 2048			/* bytes kept of any one string */
#define PARTITION_EVERY_MS (6 * 3600 * 1000LL)
#define PARTITION_RETRY_MS (60 * 1000LL)
#define OUTCOME_FAILED "ServiceUnavailable"
#define FIRST_HEAD_WAIT_MS 30000	/* for the ServerStart event's head */
#define HEAD_EVERY_MS 20		/* the head keeper's pace under load */
#define HEAD_RETRY_MS 100		/* ...and while the token fails */
#define HEAD_LOG_EVERY_MS (10 * 1000LL)	/* a failing token, logged again */
#define HEAD_STOP_TRIES 10		/* last head, when stopping */
#define MAC_CHECK_MS 1000		/* the token's newest audit key, looked
					   up at most this often */

/* One call's events, with their strings in one block. */
struct sub {
	struct sub *next;
	size_t n;
	struct audit_event *ev;
	audit_done_fn *done;		/* NULL: a re-recorded failure */
	void *arg;
	int redo;			/* re-record as failed if it fails */
	int sign;			/* LANE_SIGN: HMAC every event of it */
};

struct lane {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* the queue is not empty, or stop */
	pthread_cond_t room;		/* the queue has room */
	struct sub *head, **tail;
	size_t queued;			/* events in the queue */
	int stopping;

	/* Group commit: take() waits for company while there is load. */
	int64_t batch_wait_us;		/* audit_batch_wait_us; 0: never */
	struct lane_shared *shared;	/* the process's (audit_writer.c) */
	int urgent;			/* a lane_record waits in the queue */
	size_t last_subs;		/* submissions in the last batch */
	struct timespec last_take;	/* CLOCK_MONOTONIC */
	pthread_t thread;
	int running;

	/* The writer's own; no lock. */
	struct store *store;
	struct hsm_session *hs;
	uint32_t mac_version;		/* the audit key version in use */
	int64_t mac_checked_ms;		/* cf_mono_ms of the last look */
	char chain_id[37];
	char deployment[AUDIT_DEPLOYMENT_LEN + 1];
	char server[128];
	int64_t seq;
	uint8_t last_hash[AUDIT_HASH_LEN];
	int resync;
	int registered;
	int inline_only;		/* a change lane: no writer thread */
	int64_t pending_seq;		/* lane_append's, until it commits */
	uint8_t pending_hash[AUDIT_HASH_LEN];
	struct sub *redo, **redo_tail;
	size_t n_redo;
	int64_t partitions_due;
	struct cf_audit_row rows[MAX_BATCH];
	uint8_t must_sign[MAX_BATCH];	/* rows[i] is signed, wherever */
	struct store_touch touches[MAX_BATCH];

	/* The head keeper: the newest committed head, for the token. */
	pthread_mutex_t head_mu;
	pthread_cond_t head_cv;		/* dirty, stopping, or the token moved */
	struct hsm_audit_head kp_head;	/* the newest committed head */
	int head_dirty;			/* ...not yet handed to the token */
	int64_t dirty_ms;		/* since when it is dirty */
	int64_t unanchored_ms;		/* oldest commit the token lacks; 0 */
	int64_t token_seq;		/* the head the token holds */
	int64_t max_lag_ms;		/* audit_head_max_lag */
	int64_t failures;		/* consecutive failed writes */
	int64_t logged_ms;		/* when a failure was last logged */
	int closed;			/* failing closed (logged once) */
	int head_stopping;
	pthread_t head_thread;
	int head_running;
	struct hsm_session *head_hs;
};

static void
sub_free(struct sub *s)
{

	free(s);
}

/* Copy ${s} (or NULL) into ${*p}, at most ${max} bytes, as UTF-8. */
static const char *
copy_at_most(char **p, const char *s, size_t max)
{
	char *out = *p;
	size_t n, i;

	if (s == NULL)
		return (NULL);
	n = strnlen(s, max);
	memcpy(out, s, n);
	out[n] = '\0';
	/* Text columns take UTF-8 only: other bytes become '?'. */
	if (!cf_utf8_valid((const uint8_t *)out, n))
		for (i = 0; i < n; i++)
			if ((unsigned char)out[i] >= 0x80)
				out[i] = '?';
	*p += n + 1;
	return (out);
}

/* Copy ${s} (or NULL) into ${*p}, at most MAX_FIELD bytes, as UTF-8. */
static const char *
copy_field(char **p, const char *s)
{

	return (copy_at_most(p, s, MAX_FIELD));
}

static size_t
field_len(const char *s)
{

	return (s != NULL ? strnlen(s, MAX_FIELD) + 1 : 0);
}

/* The request parameters: whole, or (too long to be whole) a marker. */
static const char *
params_of(const char *s)
{

	if (s != NULL && strnlen(s, AUDIT_PARAMS_MAX + 1) > AUDIT_PARAMS_MAX)
		return ("{\"Truncated\":true}");
	return (s);
}

/*
 * The access key id an event keeps: only with the transport that has one
 * (AWS's JSON protocol), and at most AUDIT_KEY_ID_MAX bytes, so that the
 * row always passes the table's CHECKs (a real key id is at most 128
 * characters of [A-Z0-9]: the cut is never met).
 */
static size_t
key_id_len(const struct audit_event *ev)
{

	if (ev->access_key_id == NULL || ev->transport == NULL ||
	    strcmp(ev->transport, AUDIT_TRANSPORT_AWS_JSON) != 0)
		return (0);
	return (strnlen(ev->access_key_id, AUDIT_KEY_ID_MAX) + 1);
}

/* A submission holding copies of ${ev}. */
static struct sub *
sub_new(const struct audit_event *ev, size_t n, audit_done_fn *done,
    void *arg)
{
	struct sub *s;
	size_t i, size = 0;
	char *p;

	for (i = 0; i < n; i++)
		size += field_len(ev[i].request_id) +
		    field_len(ev[i].principal) + field_len(ev[i].peer) +
		    field_len(ev[i].operation) + field_len(ev[i].secret_arn) +
		    field_len(ev[i].version_id) + field_len(ev[i].outcome) +
		    field_len(ev[i].accessed_secret) +
		    field_len(ev[i].accessed_version) +
		    field_len(ev[i].transport) + key_id_len(&ev[i]) +
		    (params_of(ev[i].request_params) != NULL ?
		    strlen(params_of(ev[i].request_params)) + 1 : 0);
	if ((s = malloc(sizeof(*s) + n * sizeof(*s->ev) + size)) == NULL)
		return (NULL);
	s->next = NULL;
	s->n = n;
	s->ev = (struct audit_event *)(s + 1);
	s->done = done;
	s->arg = arg;
	p = (char *)(s->ev + n);
	for (i = 0; i < n; i++) {
		s->ev[i].time_ms = ev[i].time_ms;
		s->ev[i].request_id = copy_field(&p, ev[i].request_id);
		s->ev[i].principal = copy_field(&p, ev[i].principal);
		s->ev[i].peer = copy_field(&p, ev[i].peer);
		s->ev[i].operation = copy_field(&p, ev[i].operation);
		s->ev[i].secret_arn = copy_field(&p, ev[i].secret_arn);
		s->ev[i].version_id = copy_field(&p, ev[i].version_id);
		s->ev[i].outcome = copy_field(&p, ev[i].outcome);
		s->ev[i].accessed_secret = copy_field(&p, ev[i].accessed_secret);
		s->ev[i].accessed_version = copy_field(&p,
		    ev[i].accessed_version);
		s->ev[i].request_params = NULL;
		if (params_of(ev[i].request_params) != NULL) {
			s->ev[i].request_params = p;
			strcpy(p, params_of(ev[i].request_params));
			p += strlen(p) + 1;
		}
		s->ev[i].transport = copy_field(&p, ev[i].transport);
		s->ev[i].access_key_id = key_id_len(&ev[i]) > 0 ?
		    copy_at_most(&p, ev[i].access_key_id, AUDIT_KEY_ID_MAX) :
		    NULL;
	}
	return (s);
}

/* ---- the batch ------------------------------------------------------------------ */

/*
 * The audit key version to HMAC the next events with: the newest in the
 * token, looked up at most every MAC_CHECK_MS (so another server's
 * rotate-audit-key reaches this chain within about a second), at once
 * when this process rotated it, and never an older one than the chain
 * used last: verification holds a chain to that (audit/DESIGN.md, "Audit
 * key versions").  A failed look keeps the version in use (the HMAC
 * itself then says whether the token answers); 0, or -1 with ${err} when
 * there is none yet.
 */
static int
mac_version_fresh(struct lane *l, struct cf_error *err)
{
	uint32_t v, floor = atomic_load(l->shared->mac_floor);
	int64_t now = cf_mono_ms();

	if (floor > l->mac_version)
		l->mac_version = floor;
	if (l->mac_version != 0 && now - l->mac_checked_ms < MAC_CHECK_MS)
		return (0);
	if (hsm_audit_key_newest(l->hs, &v, err))
		return (l->mac_version != 0 ? 0 : -1);
	l->mac_checked_ms = now;
	if (v > l->mac_version)
		l->mac_version = v;
	return (0);
}

/*
 * Chain event ${ev} as row ${i} (seq, prev_hash, hash; unsigned until
 * sign_row); ${outcome} overrides if set.
 */
static int
chain_one(struct lane *l, size_t i, const struct audit_event *ev,
    const char *outcome, int64_t *seq, uint8_t *hash, struct cf_error *err)
{
	struct cf_audit_row *r = &l->rows[i];

	memcpy(r->chain_id, l->chain_id, sizeof(r->chain_id));
	r->seq = ++*seq;
	r->time_ms = ev->time_ms;
	r->request_id = ev->request_id ? ev->request_id : "";
	r->principal = ev->principal ? ev->principal : "";
	r->peer = ev->peer ? ev->peer : "";
	r->operation = ev->operation ? ev->operation : "";
	r->secret_arn = ev->secret_arn;
	r->version_id = ev->version_id;
	r->outcome = outcome ? outcome : (ev->outcome ? ev->outcome : "");
	r->request_params = ev->request_params;
	r->transport = ev->transport;
	r->access_key_id = ev->access_key_id;
	memcpy(r->prev_hash, hash, AUDIT_HASH_LEN);
	if (audit_row_hash(r, r->hash)) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not hash an audit "
		    "event");
		return (-1);
	}
	/* The version in use, signed or not: a chain never goes back. */
	r->mac_version = l->mac_version;
	memset(r->hmac, 0, AUDIT_HASH_LEN);
	r->hmac_absent = 1;
	l->must_sign[i] = 0;
	memcpy(hash, r->hash, AUDIT_HASH_LEN);
	return (0);
}

/* Have the token HMAC row ${i}'s hash. */
static int
sign_row(struct lane *l, size_t i, struct cf_error *err)
{
	struct cf_audit_row *r = &l->rows[i];

	if (hsm_audit_mac(l->hs, r->mac_version, r->hash, AUDIT_HASH_LEN,
	    r->hmac, err))
		return (-1);
	r->hmac_absent = 0;
	return (0);
}

/* The UTC calendar month of ${ms} (months since year 0). */
static int64_t
utc_month(int64_t ms)
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return (0);
	return ((int64_t)tm.tm_year * 12 + tm.tm_mon);
}

/*
 * HMAC the rows [0, ${n}) of one batch where the chain needs it
 * (audit/DESIGN.md, "Tamper evidence"): every event is chained and
 * hashed, but the token signs only (a) the batch's last event, so that a
 * committed batch always ends signed and the token's head is always at a
 * signed event; (b) an event whose successor falls in another UTC month,
 * so that archiving a monthly partition can anchor at a signed event;
 * (c) an event that would otherwise follow AUDIT_MAX_UNSIGNED unsigned
 * ones; and (d) the rows must_sign marks (the server's own events;
 * lane_append signs every event of a change lane itself).  A signed
 * event's hmac covers the unsigned ones before it through prev_hash.
 */
static int
sign_batch(struct lane *l, size_t n, struct cf_error *err)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		if (i + 1 == n || l->must_sign[i] || run == AUDIT_MAX_UNSIGNED ||
		    utc_month(l->rows[i].time_ms) !=
		    utc_month(l->rows[i + 1].time_ms)) {
			if (sign_row(l, i, err))
				return (-1);
			run = 0;
		} else
			run++;
	}
	return (0);
}

/* After a failure: where does the chain really end? */
static int
resync(struct lane *l, struct store *st, struct cf_error *err)
{
	enum store_lookup rc;

	if ((rc = store_audit_head(st, l->chain_id, &l->seq,
	    l->last_hash, err)) == STORE_ERROR)
		return (-1);
	if (rc == STORE_NOT_FOUND) {
		l->seq = 0;
		memset(l->last_hash, 0, AUDIT_HASH_LEN);
	}
	l->resync = 0;
	return (0);
}

/* Monthly partitions ahead of time; a failure is retried, not fatal. */
static void
partitions(struct lane *l, int64_t now)
{
	struct cf_error err = { CF_OK, "" };

	if (now < l->partitions_due)
		return;
	if (store_audit_partitions(l->store, 3, &err)) {
		cf_log(CF_LOG_ERROR, "audit: %s", err.msg);
		l->partitions_due = now + PARTITION_RETRY_MS;
		return;
	}
	l->partitions_due = now + PARTITION_EVERY_MS;
}

/* Hand the newest committed head to the head keeper. */
static void
move_head(struct lane *l)
{
	int64_t now = cf_now_ms();

	pthread_mutex_lock(&l->head_mu);
	memcpy(l->kp_head.chain_id, l->chain_id, sizeof(l->kp_head.chain_id));
	l->kp_head.seq = l->seq;
	memcpy(l->kp_head.hash, l->last_hash, AUDIT_HASH_LEN);
	if (!l->head_dirty)
		l->dirty_ms = now;
	if (l->unanchored_ms == 0)
		l->unanchored_ms = now;
	l->head_dirty = 1;
	pthread_cond_broadcast(&l->head_cv);
	pthread_mutex_unlock(&l->head_mu);
}

/*
 * Write ${hd} to the token; after a failure, reopen the keeper's session
 * (the token may have gone and come back, taking the session and its
 * handles) and try once more.  hsm_audit_head_put() never forks the head.
 */
static int
head_write(struct lane *l, const struct hsm_audit_head *hd,
    struct cf_error *err)
{
	struct cf_error again = { CF_OK, "" };

	if (hsm_audit_head_put(l->head_hs, l->deployment, hd, err) == 0)
		return (0);
	if (hsm_session_reopen(l->head_hs, &again) ||
	    hsm_audit_head_put(l->head_hs, l->deployment, hd, &again)) {
		*err = again;
		return (-1);
	}
	return (0);
}

/*
 * After a write of ${hd} (taken when the head had been dirty since
 * ${took_ms}): account for it and log, rate-limited.  Under head_mu.
 */
static void
head_account(struct lane *l, const struct hsm_audit_head *hd,
    int64_t took_ms, int ok, const struct cf_error *err)
{
	int64_t now = cf_now_ms(), lag;

	if (ok) {
		if (l->failures > 0 || l->closed)
			cf_log(CF_LOG_INFO, "audit: the token holds the "
			    "audit chain head again (event %" PRId64 ") after "
			    "%" PRId64 " failed writes%s", hd->seq,
			    l->failures, l->closed ? "; serving audited "
			    "calls again" : "");
		l->token_seq = hd->seq;
		l->unanchored_ms = l->head_dirty ? l->dirty_ms : 0;
		l->failures = 0;
		l->closed = 0;
		pthread_cond_broadcast(&l->head_cv);
		return;
	}

	/* Not written: it stays to be written, with its age. */
	l->head_dirty = 1;
	l->dirty_ms = took_ms;
	l->failures++;
	lag = l->unanchored_ms != 0 ? now - l->unanchored_ms : 0;
	if (l->failures == 1 || now - l->logged_ms >= HEAD_LOG_EVERY_MS) {
		cf_log(CF_LOG_ERROR, "audit: could not write the audit "
		    "chain head to the token (%" PRId64 " tries): %s; the "
		    "token's head (event %" PRId64 ") lags the chain (event %"
		    PRId64 ") by %" PRId64 " ms", l->failures, err->msg,
		    l->token_seq, l->kp_head.seq, lag);
		l->logged_ms = now;
	}
	if (!l->closed && lag > l->max_lag_ms) {
		cf_log(CF_LOG_ERROR, "audit: the token's audit chain head "
		    "lags by more than audit_head_max_lag (%" PRId64 " ms): "
		    "refusing audited calls until the token is back",
		    l->max_lag_ms);
		l->closed = 1;
	}
}

/*
 * The head keeper: write the newest head to the token, until stopped;
 * while the token fails, try again every HEAD_RETRY_MS (audit/DESIGN.md,
 * "Heads in the token").
 */
static void *
head_keeper(void *arg)
{
	struct lane *l = arg;
	struct timespec pace = { 0, HEAD_EVERY_MS * 1000000L };
	struct timespec retry = { 0, HEAD_RETRY_MS * 1000000L };
	struct cf_error err;
	struct hsm_audit_head hd;
	int64_t took_ms;
	int ok, stop_tries = 0;

	(void)pthread_setname_np(pthread_self(), "coffer-auditkp");
	pthread_mutex_lock(&l->head_mu);
	for (;;) {
		while (!l->head_dirty && !l->head_stopping)
			pthread_cond_wait(&l->head_cv, &l->head_mu);
		if (!l->head_dirty)
			break;
		if (l->head_stopping && stop_tries++ >= HEAD_STOP_TRIES) {
			cf_log(CF_LOG_WARN, "audit: stopping with the "
			    "token's audit chain head at event %" PRId64 ", "
			    "behind the chain (event %" PRId64 ")",
			    l->token_seq, l->kp_head.seq);
			break;
		}
		hd = l->kp_head;
		took_ms = l->dirty_ms;
		l->head_dirty = 0;
		pthread_mutex_unlock(&l->head_mu);

		/* The events are durable already; a failure is retried. */
		memset(&err, 0, sizeof(err));
		ok = head_write(l, &hd, &err) == 0;
		pthread_mutex_lock(&l->head_mu);
		head_account(l, &hd, took_ms, ok, &err);
		pthread_mutex_unlock(&l->head_mu);

		/* A token write per batch would cost as much as the batch. */
		if (!ok || !l->head_stopping)
			(void)nanosleep(ok ? &pace : &retry, NULL);
		pthread_mutex_lock(&l->head_mu);
	}
	pthread_mutex_unlock(&l->head_mu);
	return (NULL);
}

/*
 * Write the re-recorded failures (first) and the submissions ${subs} as
 * one batch.  Returns 0 if it committed, -1 with ${err} if not.
 */
static int
write_batch(struct lane *l, struct sub *subs, struct cf_error *err)
{
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t seq, t0;
	size_t n = 0, room = MAX_BATCH, i, nt = 0;
	struct sub *s, *redo_end;

	if (l->resync && resync(l, l->store, err))
		return (-1);
	partitions(l, cf_now_ms());

	/* take() never hands over more than MAX_BATCH events. */
	for (s = subs; s != NULL; s = s->next)
		room -= s->n;
	if (mac_version_fresh(l, err))
		return (-1);

	/* Chain every event: old failures first, as room allows. */
	seq = l->seq;
	memcpy(hash, l->last_hash, AUDIT_HASH_LEN);
	for (s = l->redo; s != NULL && s->n <= room; s = s->next) {
		room -= s->n;
		for (i = 0; i < s->n; i++)
			if (chain_one(l, n++, &s->ev[i], OUTCOME_FAILED, &seq,
			    hash, err))
				goto fail;
	}
	redo_end = s;
	for (s = subs; s != NULL; s = s->next)
		for (i = 0; i < s->n; i++) {
			if (chain_one(l, n, &s->ev[i], NULL, &seq, hash,
			    err))
				goto fail;
			l->must_sign[n++] = (uint8_t)s->sign;
			/* A read's LastAccessedDate, in the same commit. */
			if (s->ev[i].accessed_secret != NULL &&
			    s->ev[i].accessed_version != NULL) {
				l->touches[nt].secret_uuid =
				    s->ev[i].accessed_secret;
				l->touches[nt++].version_id =
				    s->ev[i].accessed_version;
			}
		}

	if (sign_batch(l, n, err))
		goto fail;

	/* One statement, one commit. */
	t0 = cf_mono_us();
	if (store_audit_insert(l->store, l->rows, n, l->touches, nt, err))
		goto fail;
	cf_hist_observe(&l->shared->commit[0], &cf_hist_seconds,
	    (uint64_t)(cf_mono_us() - t0));
	cf_hist_observe(&l->shared->batch[0], &cf_hist_sizes, n);
	l->seq = seq;
	memcpy(l->last_hash, hash, AUDIT_HASH_LEN);
	while ((s = l->redo) != redo_end) {
		l->redo = s->next;
		l->n_redo -= s->n;
		sub_free(s);
	}
	if (l->redo == NULL)
		l->redo_tail = &l->redo;

	/* The chain is known once it has an event (audit/DESIGN.md). */
	if (!l->registered && store_audit_chain_new(l->store, l->chain_id,
	    l->server, err) == 0)
		l->registered = 1;
	memset(err, 0, sizeof(*err));

	/* Success! */
	return (0);

fail:
	/* The chain in memory is unchanged; the database may not be. */
	l->resync = 1;
	/* Failure! */
	return (-1);
}

/* Keep a failed submission to record its failure later (bounded). */
static void
redo_add(struct lane *l, struct sub *s)
{
	struct sub *old;

	s->done = NULL;
	s->next = NULL;
	*l->redo_tail = s;
	l->redo_tail = &s->next;
	l->n_redo += s->n;
	while (l->n_redo > MAX_REDO && (old = l->redo) != NULL &&
	    old != s) {
		l->redo = old->next;
		l->n_redo -= old->n;
		cf_log(CF_LOG_ERROR, "audit: dropping the record of a "
		    "failed call (request %s): too many unrecorded",
		    old->ev[0].request_id ? old->ev[0].request_id : "?");
		sub_free(old);
	}
}

/*
 * Whether to wait for more submissions before taking a batch.  Each
 * batch costs PostgreSQL a statement, a commit and an fsync whatever its
 * size; a writer that takes whatever is queued the moment it is free
 * commits as often as it can, and on a machine where PostgreSQL shares
 * the cores those commits cost the reads themselves (2 cores: batches of
 * 2.3 events and 6,400 DescribeSecret/s; waiting for up to 1 ms since
 * the last batch was taken: 8.5 events and 7,400/s; docs/performance.md).
 * Only under load, which the last batch shows by holding more than one
 * call, and only while some call is on its way (a worker is serving it):
 * a lone call, or the last of a burst, never waits.
 */
static int
should_wait(const struct lane *l)
{

	return (l->batch_wait_us > 0 && l->last_subs > 1 && !l->stopping &&
	    !l->urgent && l->queued < MAX_BATCH && atomic_load(l->shared->coming) > 0);
}

/* ${t} plus ${us} microseconds. */
static struct timespec
ts_add_us(struct timespec t, int64_t us)
{

	t.tv_sec += (time_t)(us / 1000000);
	t.tv_nsec += (long)(us % 1000000) * 1000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return (t);
}

/* Take up to MAX_BATCH events' worth of submissions; NULL when stopped. */
static struct sub *
take(struct lane *l)
{
	struct sub *first, *s, **end;
	struct timespec until;
	size_t n;

	pthread_mutex_lock(&l->mu);
	while (l->head == NULL && !l->stopping)
		pthread_cond_wait(&l->work, &l->mu);

	/* Company, until audit_batch_wait after the last take. */
	until = ts_add_us(l->last_take, l->batch_wait_us);
	while (should_wait(l) &&
	    pthread_cond_timedwait(&l->work, &l->mu, &until) == 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &l->last_take);

	first = l->head;
	end = &l->head;
	n = l->n_redo;
	l->last_subs = 0;
	for (s = l->head; s != NULL && (s == first || n + s->n <= MAX_BATCH);
	    s = s->next) {
		n += s->n;
		l->last_subs++;
		end = &s->next;
	}
	if (first != NULL) {
		l->head = *end;
		*end = NULL;
		if (l->head == NULL) {
			l->tail = &l->head;
			l->urgent = 0;	/* (else it may still be queued) */
		}
		for (s = first; s != NULL; s = s->next)
			l->queued -= s->n;
		pthread_cond_broadcast(&l->room);
	}
	pthread_mutex_unlock(&l->mu);
	return (first);
}

static void *
writer(void *arg)
{
	struct lane *l = arg;
	struct cf_error err;
	struct sub *subs, *s, *next;
	char why[sizeof(err.msg)];
	int ok;

	(void)pthread_setname_np(pthread_self(), "coffer-audit");
	while ((subs = take(l)) != NULL) {
		memset(&err, 0, sizeof(err));
		ok = write_batch(l, subs, &err) == 0;
		if (!ok && err.code != CF_ERR_UNAVAILABLE) {
			/*
			 * The caller sees a service problem, not ours.  (The
			 * reason is copied first: formatting err.msg into
			 * itself printed the prefix twice.)
			 */
			cf_log(CF_LOG_ERROR, "audit: %s", err.msg);
			snprintf(why, sizeof(why), "%s", err.msg);
			cf_error_set(&err, CF_ERR_UNAVAILABLE, "could not record "
			    "the audit event: %s", why);
		}

		/* Answer every caller, then move the token's head. */
		for (s = subs; s != NULL; s = next) {
			next = s->next;
			if (s->done != NULL)
				s->done(s->arg, ok, &err);
			if (ok || !s->redo)
				sub_free(s);
			else
				redo_add(l, s);
		}
		if (ok)
			move_head(l);
	}

	/* Stopping: a last try for failures not yet on record. */
	if (l->redo != NULL) {
		memset(&err, 0, sizeof(err));
		if (write_batch(l, NULL, &err) == 0)
			move_head(l);
		else
			cf_log(CF_LOG_ERROR, "audit: %zu failed calls could "
			    "not be recorded: %s", l->n_redo, err.msg);
	}
	return (NULL);
}

/* ---- the lane's interface (audit_lane.h) ---------------------------------------- */

int
lane_submit(struct lane *l, const struct audit_event *ev, size_t n,
    audit_done_fn *done, void *arg, unsigned flags)
{
	struct sub *s;
	int nowait = (flags & LANE_NOWAIT) != 0;

	if (n == 0 || n > MAX_BATCH || (s = sub_new(ev, n, done, arg)) == NULL)
		return (-1);
	s->redo = (flags & LANE_REDO) != 0;
	s->sign = (flags & LANE_SIGN) != 0;
	pthread_mutex_lock(&l->mu);
	while (!nowait && l->queued >= MAX_QUEUED && !l->stopping)
		pthread_cond_wait(&l->room, &l->mu);
	if (l->stopping || l->queued >= MAX_QUEUED) {
		pthread_mutex_unlock(&l->mu);
		sub_free(s);
		return (-1);
	}
	/*
	 * Wake the writer when there is something to take; while it waits
	 * for company, only a full batch (or audit_call_end) ends the wait.
	 */
	if (flags & LANE_URGENT)
		l->urgent = 1;
	if (l->head == NULL || l->queued + n >= MAX_BATCH ||
	    (flags & LANE_URGENT))
		pthread_cond_signal(&l->work);
	*l->tail = s;
	l->tail = &s->next;
	l->queued += n;
	pthread_mutex_unlock(&l->mu);
	return (0);
}

/* A waiter of lane_record. */
struct wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int ok;
	struct cf_error err;
};

static void
wait_done(void *arg, int ok, const struct cf_error *err)
{
	struct wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->ok = ok;
	if (!ok)
		w->err = *err;
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* lane_record, with lane_submit's ${flags} besides LANE_URGENT. */
static int
record(struct lane *l, const struct audit_event *ev, size_t n,
    unsigned flags, struct cf_error *err)
{
	struct wait w;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	/* The waiting caller knows it failed, and records how it ended. */
	if (lane_submit(l, ev, n, wait_done, &w, LANE_URGENT | flags)) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not queue the "
		    "audit event");
		w.done = 1;
	} else {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		if (!w.ok)
			*err = w.err;
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return (w.ok ? 0 : -1);
}

int
lane_record(struct lane *l, const struct audit_event *ev, size_t n,
    struct cf_error *err)
{

	return (record(l, ev, n, 0, err));
}

void
lane_head_status(struct lane *l, struct audit_head_status *out)
{
	int64_t now = cf_now_ms();

	pthread_mutex_lock(&l->head_mu);
	out->chain_seq = l->kp_head.seq;
	out->token_seq = l->token_seq;
	out->lag_ms = l->unanchored_ms != 0 ? now - l->unanchored_ms : 0;
	out->max_lag_ms = l->max_lag_ms;
	out->failures = l->failures;
	pthread_mutex_unlock(&l->head_mu);
}

int
lane_head_wait(struct lane *l, int64_t seq, int64_t timeout_ms)
{
	struct timespec until;
	int64_t end = cf_now_ms() + timeout_ms, left;
	int rc;

	pthread_mutex_lock(&l->head_mu);
	while ((rc = l->token_seq >= seq ? 0 : -1) != 0 &&
	    (left = end - cf_now_ms()) > 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		left = left < 100 ? left : 100;
		until.tv_nsec += (long)(left % 1000) * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&l->head_cv, &l->head_mu, &until);
	}
	pthread_mutex_unlock(&l->head_mu);
	return (rc);
}

const char *
lane_chain_id(const struct lane *l)
{

	return (l->chain_id);
}

/* A random UUID (version 4) from the token. */
static int
chain_uuid(struct hsm_session *hs, char *out, struct cf_error *err)
{
	uint8_t b[16];

	if (hsm_random(hs, b, sizeof(b), err))
		return (-1);
	cf_uuid_format(b, out);
	return (0);
}

/* The fate of the transaction lane_append's events were in. */
static void
append_end(struct lane *l, enum audit_txn_end end)
{

	switch (end) {
	case AUDIT_TXN_COMMITTED:
		l->seq = l->pending_seq;
		memcpy(l->last_hash, l->pending_hash, AUDIT_HASH_LEN);
		move_head(l);
		break;
	case AUDIT_TXN_UNKNOWN:
		/* It may have landed: read the chain's end before the next. */
		l->resync = 1;
		break;
	case AUDIT_TXN_ROLLED_BACK:
	case AUDIT_TXN_REFUSED:
		break;
	}
}

enum audit_txn_end
lane_append(struct lane *l, struct store *st, const struct audit_event *ev,
    size_t n, struct cf_error *err)
{
	enum audit_txn_end end = AUDIT_TXN_ROLLED_BACK;
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t seq, t0;
	struct sub *s;
	size_t i;

	/* Copies, bounded and made UTF-8 as queued events are. */
	if (n == 0 || n > MAX_BATCH || (s = sub_new(ev, n, NULL, NULL)) ==
	    NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not copy the audit "
		    "event");
		store_rollback(st);
		return (AUDIT_TXN_ROLLED_BACK);
	}

	/* After an unknown outcome: where the chain ends, as st sees it. */
	if ((l->resync && resync(l, st, err)) || mac_version_fresh(l, err))
		goto rollback;
	seq = l->seq;
	memcpy(hash, l->last_hash, AUDIT_HASH_LEN);
	/* A change's events are few (one): each is signed. */
	for (i = 0; i < n; i++)
		if (chain_one(l, i, &s->ev[i], NULL, &seq, hash, err) ||
		    sign_row(l, i, err))
			goto rollback;
	l->pending_seq = seq;
	memcpy(l->pending_hash, hash, AUDIT_HASH_LEN);

	/* The events and the change, committed together in one round trip. */
	t0 = cf_mono_us();
	switch (store_audit_insert_commit(st, l->rows, n, err)) {
	case STORE_TX_COMMITTED:
		end = AUDIT_TXN_COMMITTED;
		cf_hist_observe(&l->shared->commit[1], &cf_hist_seconds,
		    (uint64_t)(cf_mono_us() - t0));
		cf_hist_observe(&l->shared->batch[1], &cf_hist_sizes, n);
		break;
	case STORE_TX_ROLLED_BACK:
		end = AUDIT_TXN_ROLLED_BACK;
		break;
	case STORE_TX_REFUSED:
		end = AUDIT_TXN_REFUSED;
		break;
	case STORE_TX_UNKNOWN:
		end = AUDIT_TXN_UNKNOWN;
		break;
	}
	goto done;
rollback:
	store_rollback(st);
done:
	append_end(l, end);
	explicit_bzero(l->rows, n * sizeof(l->rows[0]));
	sub_free(s);
	return (end);
}

/*
 * A lifecycle event of the server itself, in this lane's chain: through
 * the queue, or for a change lane appended on its own connection, in a
 * transaction of its own.
 */
static int
server_event(struct lane *l, const char *op, struct cf_error *err)
{
	struct audit_event ev = { 0 };

	ev.time_ms = cf_now_ms();
	ev.request_id = l->chain_id;
	ev.principal = "cofferd";
	ev.peer = l->server;
	ev.operation = op;
	ev.outcome = "OK";
	if (!l->inline_only)
		return (record(l, &ev, 1, LANE_SIGN, err));
	if (store_begin(l->store, err) ||
	    lane_append(l, l->store, &ev, 1, err) != AUDIT_TXN_COMMITTED)
		return (-1);
	if (!l->registered && store_audit_chain_new(l->store, l->chain_id,
	    l->server, err) == 0)
		l->registered = 1;
	return (0);
}

size_t
lane_queued(struct lane *l)
{
	size_t n;

	pthread_mutex_lock(&l->mu);
	n = l->queued + l->n_redo;
	pthread_mutex_unlock(&l->mu);
	return (n);
}

void
lane_nudge(struct lane *l)
{

	pthread_mutex_lock(&l->mu);
	pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->mu);
}

struct lane *
lane_start(const struct audit_config *cfg, int first, int inline_only,
    struct lane_shared *shared, struct cf_error *err)
{
	struct lane *l;
	pthread_condattr_t ca;
	char host[64];
	int n;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&l->room, NULL);
	l->batch_wait_us = cfg->batch_wait_us;
	l->shared = shared;
	pthread_mutex_init(&l->head_mu, NULL);
	pthread_cond_init(&l->head_cv, NULL);
	l->tail = &l->head;
	l->redo_tail = &l->redo;
	l->inline_only = inline_only;
	l->max_lag_ms = cfg->head_max_lag_ms > 0 ? cfg->head_max_lag_ms :
	    AUDIT_HEAD_MAX_LAG_MS_DEFAULT;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(l->server, sizeof(l->server), "%s:%ld", host, (long)getpid());

	/* Its own connection and token sessions; a new chain. */
	if ((l->store = store_connect(cfg->conninfo, err)) == NULL ||
	    (l->hs = hsm_session_new(cfg->hsm, err)) == NULL ||
	    (l->head_hs = hsm_session_new(cfg->hsm, err)) == NULL ||
	    chain_uuid(l->hs, l->chain_id, err) ||
	    audit_deployment(l->store, l->hs, l->deployment, err))
		goto fail;
	if (cfg->db_timeout_ms > 0)
		store_set_deadline(l->store, cfg->db_timeout_ms);
	if (first && store_audit_partitions(l->store, 3, err))
		goto fail;
	l->partitions_due = cf_now_ms() + PARTITION_EVERY_MS;

	/*
	 * One head object per chain: forks seen now go (newest wins).  Only
	 * before the first lane starts: the others' heads are not made yet.
	 */
	if (first) {
		if (hsm_audit_heads_tidy(l->head_hs, l->deployment, &n, err))
			goto fail;
		if (n > 0)
			cf_log(CF_LOG_INFO, "audit: destroyed %d "
			    "superseded audit chain head%s in the token", n,
			    n == 1 ? "" : "s");
	}

	/* The threads, then the first event: the chain must work now. */
	if ((errno = pthread_create(&l->head_thread, NULL, head_keeper, l)) !=
	    0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the audit "
		    "head keeper");
		goto fail;
	}
	l->head_running = 1;
	if (!inline_only && (errno = pthread_create(&l->thread, NULL, writer,
	    l)) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the audit "
		    "writer");
		goto fail;
	}
	l->running = 1;
	if (server_event(l, "ServerStart", err))
		goto fail;
	if (!l->registered) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not register the "
		    "audit chain");
		goto fail;
	}

	/*
	 * The token holds the chain's head before any call is served, so a
	 * chain with events but no head is never a crash's doing (a server
	 * killed in its first moments): only a forged chain or a changed
	 * deployment look like that.
	 */
	if (lane_head_wait(l, 1, FIRST_HEAD_WAIT_MS)) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the token did not record "
		    "the audit chain's first head within %d s",
		    FIRST_HEAD_WAIT_MS / 1000);
		goto fail;
	}

	/* Success! */
	return (l);

fail:
	lane_stop(l);
	/* Failure! */
	return (NULL);
}

void
lane_stop(struct lane *l)
{
	struct cf_error err = { CF_OK, "" };
	struct sub *s;

	if (l == NULL)
		return;
	if (l->running) {
		if (l->registered && server_event(l, "ServerStop", &err))
			cf_log(CF_LOG_ERROR, "audit: %s", err.msg);
		pthread_mutex_lock(&l->mu);
		l->stopping = 1;
		pthread_cond_broadcast(&l->work);
		pthread_cond_broadcast(&l->room);
		pthread_mutex_unlock(&l->mu);
		if (!l->inline_only)
			pthread_join(l->thread, NULL);
	}
	if (l->head_running) {
		/* The last head is written before the keeper goes. */
		pthread_mutex_lock(&l->head_mu);
		l->head_stopping = 1;
		pthread_cond_signal(&l->head_cv);
		pthread_mutex_unlock(&l->head_mu);
		pthread_join(l->head_thread, NULL);
	}
	while ((s = l->head) != NULL) {
		l->head = s->next;
		sub_free(s);
	}
	while ((s = l->redo) != NULL) {
		l->redo = s->next;
		sub_free(s);
	}
	hsm_session_free(l->head_hs);
	hsm_session_free(l->hs);
	store_free(l->store);
	pthread_cond_destroy(&l->head_cv);
	pthread_mutex_destroy(&l->head_mu);
	pthread_cond_destroy(&l->room);
	pthread_cond_destroy(&l->work);
	pthread_mutex_destroy(&l->mu);
	explicit_bzero(l->rows, sizeof(l->rows));
	free(l);
}
