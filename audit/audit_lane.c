/*
 * audit_writer.c: cofferd's one audit writer thread (group commit).
 *
 * Workers queue submissions (the events of one call) and either wait
 * (audit_record: a change whose transaction stays open until its event is
 * durable) or go on and are called back (audit_submit: a read's reply is
 * sent from the callback).  The writer takes everything queued, chains it
 * (seq, prev_hash, hash), has the token HMAC each hash, inserts the batch
 * in one statement (one commit, one fsync for all of them), then calls
 * every submission back.  The chain is only ever touched by this thread,
 * so it needs no lock.  A second thread keeps the token's head of the
 * chain up to date: writing a token object costs as much as a batch, so
 * it runs beside the writer and writes the newest committed head at most
 * every HEAD_EVERY_MS, and once more when cofferd stops (audit/DESIGN.md,
 * "Heads in the token", says what that lag means).
 *
 * A batch that fails is failed to all its callers, whose changes roll
 * back.  Since a lost connection can hide a commit that did happen, the
 * writer then re-reads its chain's head before the next batch, and
 * records each failed event again with the outcome ServiceUnavailable, so
 * that an event which did land is followed by the truth about its call.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
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

/* One call's events, with their strings in one block. */
struct sub {
	struct sub *next;
	size_t n;
	struct audit_event *ev;
	audit_done_fn *done;		/* NULL: a re-recorded failure */
	void *arg;
	int redo;			/* re-record as failed if it fails */
};

struct audit {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* the queue is not empty, or stop */
	pthread_cond_t room;		/* the queue has room */
	struct sub *head, **tail;
	size_t queued;			/* events in the queue */
	int stopping;
	pthread_t thread;
	int running;

	/* The writer's own; no lock. */
	struct store *store;
	struct hsm_session *hs;
	char chain_id[37];
	char deployment[AUDIT_DEPLOYMENT_LEN + 1];
	char server[128];
	int64_t seq;
	uint8_t last_hash[AUDIT_HASH_LEN];
	int resync;
	int registered;
	struct sub *redo, **redo_tail;
	size_t n_redo;
	int64_t partitions_due;
	struct cf_audit_row rows[MAX_BATCH];

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

/* Copy ${s} (or NULL) into ${*p}, at most MAX_FIELD bytes, as UTF-8. */
static const char *
copy_field(char **p, const char *s)
{
	char *out = *p;
	size_t n, i;

	if (s == NULL)
		return (NULL);
	n = strnlen(s, MAX_FIELD);
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
		s->ev[i].request_params = NULL;
		if (params_of(ev[i].request_params) != NULL) {
			s->ev[i].request_params = p;
			strcpy(p, params_of(ev[i].request_params));
			p += strlen(p) + 1;
		}
	}
	return (s);
}

/* ---- the batch ------------------------------------------------------------------ */

/* Chain and sign event ${ev} as row ${i}; ${outcome} overrides if set. */
static int
chain_one(struct audit *a, size_t i, const struct audit_event *ev,
    const char *outcome, int64_t *seq, uint8_t *hash, struct cf_error *err)
{
	struct cf_audit_row *r = &a->rows[i];

	memcpy(r->chain_id, a->chain_id, sizeof(r->chain_id));
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
	memcpy(r->prev_hash, hash, AUDIT_HASH_LEN);
	if (audit_row_hash(r, r->hash)) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not hash an audit "
		    "event");
		return (-1);
	}
	if (hsm_audit_mac(a->hs, r->hash, AUDIT_HASH_LEN, r->hmac, err))
		return (-1);
	memcpy(hash, r->hash, AUDIT_HASH_LEN);
	return (0);
}

/* After a failure: where does the chain really end? */
static int
resync(struct audit *a, struct cf_error *err)
{
	enum store_lookup rc;

	if ((rc = store_audit_head(a->store, a->chain_id, &a->seq,
	    a->last_hash, err)) == STORE_ERROR)
		return (-1);
	if (rc == STORE_NOT_FOUND) {
		a->seq = 0;
		memset(a->last_hash, 0, AUDIT_HASH_LEN);
	}
	a->resync = 0;
	return (0);
}

/* Monthly partitions ahead of time; a failure is retried, not fatal. */
static void
partitions(struct audit *a, int64_t now)
{
	struct cf_error err = { CF_OK, "" };

	if (now < a->partitions_due)
		return;
	if (store_audit_partitions(a->store, 3, &err)) {
		fprintf(stderr, "cofferd: audit: %s\n", err.msg);
		a->partitions_due = now + PARTITION_RETRY_MS;
		return;
	}
	a->partitions_due = now + PARTITION_EVERY_MS;
}

/* Hand the newest committed head to the head keeper. */
static void
move_head(struct audit *a)
{
	int64_t now = cf_now_ms();

	pthread_mutex_lock(&a->head_mu);
	memcpy(a->kp_head.chain_id, a->chain_id, sizeof(a->kp_head.chain_id));
	a->kp_head.seq = a->seq;
	memcpy(a->kp_head.hash, a->last_hash, AUDIT_HASH_LEN);
	if (!a->head_dirty)
		a->dirty_ms = now;
	if (a->unanchored_ms == 0)
		a->unanchored_ms = now;
	a->head_dirty = 1;
	pthread_cond_broadcast(&a->head_cv);
	pthread_mutex_unlock(&a->head_mu);
}

/*
 * Write ${hd} to the token; after a failure, reopen the keeper's session
 * (the token may have gone and come back, taking the session and its
 * handles) and try once more.  hsm_audit_head_put() never forks the head.
 */
static int
head_write(struct audit *a, const struct hsm_audit_head *hd,
    struct cf_error *err)
{
	struct cf_error again = { CF_OK, "" };

	if (hsm_audit_head_put(a->head_hs, a->deployment, hd, err) == 0)
		return (0);
	if (hsm_session_reopen(a->head_hs, &again) ||
	    hsm_audit_head_put(a->head_hs, a->deployment, hd, &again)) {
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
head_account(struct audit *a, const struct hsm_audit_head *hd,
    int64_t took_ms, int ok, const struct cf_error *err)
{
	int64_t now = cf_now_ms(), lag;

	if (ok) {
		if (a->failures > 0 || a->closed)
			fprintf(stderr, "cofferd: audit: the token holds the "
			    "audit chain head again (event %" PRId64 ") after "
			    "%" PRId64 " failed writes%s\n", hd->seq,
			    a->failures, a->closed ? "; serving audited "
			    "calls again" : "");
		a->token_seq = hd->seq;
		a->unanchored_ms = a->head_dirty ? a->dirty_ms : 0;
		a->failures = 0;
		a->closed = 0;
		pthread_cond_broadcast(&a->head_cv);
		return;
	}

	/* Not written: it stays to be written, with its age. */
	a->head_dirty = 1;
	a->dirty_ms = took_ms;
	a->failures++;
	lag = a->unanchored_ms != 0 ? now - a->unanchored_ms : 0;
	if (a->failures == 1 || now - a->logged_ms >= HEAD_LOG_EVERY_MS) {
		fprintf(stderr, "cofferd: audit: could not write the audit "
		    "chain head to the token (%" PRId64 " tries): %s; the "
		    "token's head (event %" PRId64 ") lags the chain (event %"
		    PRId64 ") by %" PRId64 " ms\n", a->failures, err->msg,
		    a->token_seq, a->kp_head.seq, lag);
		a->logged_ms = now;
	}
	if (!a->closed && lag > a->max_lag_ms) {
		fprintf(stderr, "cofferd: audit: the token's audit chain head "
		    "lags by more than audit_head_max_lag (%" PRId64 " ms): "
		    "refusing audited calls until the token is back\n",
		    a->max_lag_ms);
		a->closed = 1;
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
	struct audit *a = arg;
	struct timespec pace = { 0, HEAD_EVERY_MS * 1000000L };
	struct timespec retry = { 0, HEAD_RETRY_MS * 1000000L };
	struct cf_error err;
	struct hsm_audit_head hd;
	int64_t took_ms;
	int ok, stop_tries = 0;

	(void)pthread_setname_np(pthread_self(), "coffer-auditkp");
	pthread_mutex_lock(&a->head_mu);
	for (;;) {
		while (!a->head_dirty && !a->head_stopping)
			pthread_cond_wait(&a->head_cv, &a->head_mu);
		if (!a->head_dirty)
			break;
		if (a->head_stopping && stop_tries++ >= HEAD_STOP_TRIES) {
			fprintf(stderr, "cofferd: audit: stopping with the "
			    "token's audit chain head at event %" PRId64 ", "
			    "behind the chain (event %" PRId64 ")\n",
			    a->token_seq, a->kp_head.seq);
			break;
		}
		hd = a->kp_head;
		took_ms = a->dirty_ms;
		a->head_dirty = 0;
		pthread_mutex_unlock(&a->head_mu);

		/* The events are durable already; a failure is retried. */
		memset(&err, 0, sizeof(err));
		ok = head_write(a, &hd, &err) == 0;
		pthread_mutex_lock(&a->head_mu);
		head_account(a, &hd, took_ms, ok, &err);
		pthread_mutex_unlock(&a->head_mu);

		/* A token write per batch would cost as much as the batch. */
		if (!ok || !a->head_stopping)
			(void)nanosleep(ok ? &pace : &retry, NULL);
		pthread_mutex_lock(&a->head_mu);
	}
	pthread_mutex_unlock(&a->head_mu);
	return (NULL);
}

/*
 * Write the re-recorded failures (first) and the submissions ${subs} as
 * one batch.  Returns 0 if it committed, -1 with ${err} if not.
 */
static int
write_batch(struct audit *a, struct sub *subs, struct cf_error *err)
{
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t seq;
	size_t n = 0, room = MAX_BATCH, i;
	struct sub *s, *redo_end;

	if (a->resync && resync(a, err))
		return (-1);
	partitions(a, cf_now_ms());

	/* take() never hands over more than MAX_BATCH events. */
	for (s = subs; s != NULL; s = s->next)
		room -= s->n;

	/* Chain every event: old failures first, as room allows. */
	seq = a->seq;
	memcpy(hash, a->last_hash, AUDIT_HASH_LEN);
	for (s = a->redo; s != NULL && s->n <= room; s = s->next) {
		room -= s->n;
		for (i = 0; i < s->n; i++)
			if (chain_one(a, n++, &s->ev[i], OUTCOME_FAILED, &seq,
			    hash, err))
				goto fail;
	}
	redo_end = s;
	for (s = subs; s != NULL; s = s->next)
		for (i = 0; i < s->n; i++)
			if (chain_one(a, n++, &s->ev[i], NULL, &seq, hash,
			    err))
				goto fail;

	/* One statement, one commit. */
	if (store_audit_insert(a->store, a->rows, n, err))
		goto fail;
	a->seq = seq;
	memcpy(a->last_hash, hash, AUDIT_HASH_LEN);
	while ((s = a->redo) != redo_end) {
		a->redo = s->next;
		a->n_redo -= s->n;
		sub_free(s);
	}
	if (a->redo == NULL)
		a->redo_tail = &a->redo;

	/* The chain is known once it has an event (audit/DESIGN.md). */
	if (!a->registered && store_audit_chain_new(a->store, a->chain_id,
	    a->server, err) == 0)
		a->registered = 1;
	memset(err, 0, sizeof(*err));

	/* Success! */
	return (0);

fail:
	/* The chain in memory is unchanged; the database may not be. */
	a->resync = 1;
	/* Failure! */
	return (-1);
}

/* Keep a failed submission to record its failure later (bounded). */
static void
redo_add(struct audit *a, struct sub *s)
{
	struct sub *old;

	s->done = NULL;
	s->next = NULL;
	*a->redo_tail = s;
	a->redo_tail = &s->next;
	a->n_redo += s->n;
	while (a->n_redo > MAX_REDO && (old = a->redo) != NULL &&
	    old != s) {
		a->redo = old->next;
		a->n_redo -= old->n;
		fprintf(stderr, "cofferd: audit: dropping the record of a "
		    "failed call (request %s): too many unrecorded\n",
		    old->ev[0].request_id ? old->ev[0].request_id : "?");
		sub_free(old);
	}
}

/* Take up to MAX_BATCH events' worth of submissions; NULL when stopped. */
static struct sub *
take(struct audit *a)
{
	struct sub *first, *s, **end;
	size_t n;

	pthread_mutex_lock(&a->mu);
	while (a->head == NULL && !a->stopping)
		pthread_cond_wait(&a->work, &a->mu);
	first = a->head;
	end = &a->head;
	n = a->n_redo;
	for (s = a->head; s != NULL && (s == first || n + s->n <= MAX_BATCH);
	    s = s->next) {
		n += s->n;
		end = &s->next;
	}
	if (first != NULL) {
		a->head = *end;
		*end = NULL;
		if (a->head == NULL)
			a->tail = &a->head;
		for (s = first; s != NULL; s = s->next)
			a->queued -= s->n;
		pthread_cond_broadcast(&a->room);
	}
	pthread_mutex_unlock(&a->mu);
	return (first);
}

static void *
writer(void *arg)
{
	struct audit *a = arg;
	struct cf_error err;
	struct sub *subs, *s, *next;
	char why[sizeof(err.msg)];
	int ok;

	(void)pthread_setname_np(pthread_self(), "coffer-audit");
	while ((subs = take(a)) != NULL) {
		memset(&err, 0, sizeof(err));
		ok = write_batch(a, subs, &err) == 0;
		if (!ok && err.code != CF_ERR_UNAVAILABLE) {
			/*
			 * The caller sees a service problem, not ours.  (The
			 * reason is copied first: formatting err.msg into
			 * itself printed the prefix twice.)
			 */
			fprintf(stderr, "cofferd: audit: %s\n", err.msg);
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
				redo_add(a, s);
		}
		if (ok)
			move_head(a);
	}

	/* Stopping: a last try for failures not yet on record. */
	if (a->redo != NULL) {
		memset(&err, 0, sizeof(err));
		if (write_batch(a, NULL, &err) == 0)
			move_head(a);
		else
			fprintf(stderr, "cofferd: audit: %zu failed calls could "
			    "not be recorded: %s\n", a->n_redo, err.msg);
	}
	return (NULL);
}

/* ---- the interface ---------------------------------------------------------------- */

/*
 * Queue a submission; ${redo}: re-record its failure (audit_submit);
 * ${nowait}: fail instead of waiting for room (audit_submit_nowait).
 */
static int
submit(struct audit *a, const struct audit_event *ev, size_t n,
    audit_done_fn *done, void *arg, int redo, int nowait)
{
	struct sub *s;

	if (n == 0 || n > MAX_BATCH || (s = sub_new(ev, n, done, arg)) == NULL)
		return (-1);
	s->redo = redo;
	pthread_mutex_lock(&a->mu);
	while (!nowait && a->queued >= MAX_QUEUED && !a->stopping)
		pthread_cond_wait(&a->room, &a->mu);
	if (a->stopping || a->queued >= MAX_QUEUED) {
		pthread_mutex_unlock(&a->mu);
		sub_free(s);
		return (-1);
	}
	*a->tail = s;
	a->tail = &s->next;
	a->queued += n;
	pthread_cond_signal(&a->work);
	pthread_mutex_unlock(&a->mu);
	return (0);
}

int
audit_submit(struct audit *a, const struct audit_event *ev, size_t n,
    audit_done_fn *done, void *arg)
{

	return (submit(a, ev, n, done, arg, 1, 0));
}

int
audit_submit_nowait(struct audit *a, const struct audit_event *ev, size_t n,
    audit_done_fn *done, void *arg)
{

	return (submit(a, ev, n, done, arg, 0, 1));
}

/* A waiter of audit_record. */
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

/* Submit and wait for the commit (audit_record, server events). */
static int
record(struct audit *a, const struct audit_event *ev, size_t n,
    struct cf_error *err)
{
	struct wait w;

	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	/* The waiting caller knows it failed, and records how it ended. */
	if (submit(a, ev, n, wait_done, &w, 0, 0)) {
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
audit_record(struct audit *a, const struct audit_event *ev, size_t n,
    struct cf_error *err)
{

	/* A change waits for its event: not while the tail is unanchored. */
	if (audit_head_check(a, err))
		return (-1);
	return (record(a, ev, n, err));
}

void
audit_head_status(struct audit *a, struct audit_head_status *out)
{
	int64_t now = cf_now_ms();

	pthread_mutex_lock(&a->head_mu);
	out->chain_seq = a->kp_head.seq;
	out->token_seq = a->token_seq;
	out->lag_ms = a->unanchored_ms != 0 ? now - a->unanchored_ms : 0;
	out->max_lag_ms = a->max_lag_ms;
	out->failures = a->failures;
	pthread_mutex_unlock(&a->head_mu);
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

int
audit_head_wait(struct audit *a, int64_t seq, int64_t timeout_ms)
{
	struct timespec until;
	int64_t end = cf_now_ms() + timeout_ms, left;
	int rc;

	pthread_mutex_lock(&a->head_mu);
	while ((rc = a->token_seq >= seq ? 0 : -1) != 0 &&
	    (left = end - cf_now_ms()) > 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		left = left < 100 ? left : 100;
		until.tv_nsec += (long)(left % 1000) * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&a->head_cv, &a->head_mu, &until);
	}
	pthread_mutex_unlock(&a->head_mu);
	return (rc);
}

const char *
audit_chain_id(const struct audit *a)
{

	return (a->chain_id);
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

/* A lifecycle event of the server itself. */
static int
server_event(struct audit *a, const char *op, struct cf_error *err)
{
	struct audit_event ev = { 0 };

	ev.time_ms = cf_now_ms();
	ev.request_id = a->chain_id;
	ev.principal = "cofferd";
	ev.peer = a->server;
	ev.operation = op;
	ev.outcome = "OK";
	return (record(a, &ev, 1, err));
}

struct audit *
audit_start(const struct audit_config *cfg, struct cf_error *err)
{
	struct audit *a;
	char host[64];
	int n;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->room, NULL);
	pthread_mutex_init(&a->head_mu, NULL);
	pthread_cond_init(&a->head_cv, NULL);
	a->tail = &a->head;
	a->redo_tail = &a->redo;
	a->max_lag_ms = cfg->head_max_lag_ms > 0 ? cfg->head_max_lag_ms :
	    AUDIT_HEAD_MAX_LAG_MS_DEFAULT;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(a->server, sizeof(a->server), "%s:%ld", host, (long)getpid());

	/* Its own connection and token session; a new chain. */
	if ((a->store = store_connect(cfg->conninfo, err)) == NULL ||
	    (a->hs = hsm_session_new(cfg->hsm, err)) == NULL ||
	    (a->head_hs = hsm_session_new(cfg->hsm, err)) == NULL ||
	    chain_uuid(a->hs, a->chain_id, err) ||
	    audit_deployment(a->store, a->hs, a->deployment, err))
		goto fail;
	if (cfg->db_timeout_ms > 0)
		store_set_deadline(a->store, cfg->db_timeout_ms);
	if (store_audit_partitions(a->store, 3, err))
		goto fail;
	a->partitions_due = cf_now_ms() + PARTITION_EVERY_MS;

	/* One head object per chain: forks seen now go (newest wins). */
	if (hsm_audit_heads_tidy(a->head_hs, a->deployment, &n, err))
		goto fail;
	if (n > 0)
		fprintf(stderr, "cofferd: audit: destroyed %d superseded audit "
		    "chain head%s in the token\n", n, n == 1 ? "" : "s");

	/* The threads, then the first event: the chain must work now. */
	if ((errno = pthread_create(&a->head_thread, NULL, head_keeper, a)) !=
	    0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the audit "
		    "head keeper");
		goto fail;
	}
	a->head_running = 1;
	if ((errno = pthread_create(&a->thread, NULL, writer, a)) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the audit "
		    "writer");
		goto fail;
	}
	a->running = 1;
	if (server_event(a, "ServerStart", err))
		goto fail;
	if (!a->registered) {
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
	if (audit_head_wait(a, 1, FIRST_HEAD_WAIT_MS)) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the token did not record "
		    "the audit chain's first head within %d s",
		    FIRST_HEAD_WAIT_MS / 1000);
		goto fail;
	}

	/* Success! */
	return (a);

fail:
	audit_stop(a);
	/* Failure! */
	return (NULL);
}

void
audit_stop(struct audit *a)
{
	struct cf_error err = { CF_OK, "" };
	struct sub *s;

	if (a == NULL)
		return;
	if (a->running) {
		if (a->registered && server_event(a, "ServerStop", &err))
			fprintf(stderr, "cofferd: audit: %s\n", err.msg);
		pthread_mutex_lock(&a->mu);
		a->stopping = 1;
		pthread_cond_broadcast(&a->work);
		pthread_cond_broadcast(&a->room);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	if (a->head_running) {
		/* The last head is written before the keeper goes. */
		pthread_mutex_lock(&a->head_mu);
		a->head_stopping = 1;
		pthread_cond_signal(&a->head_cv);
		pthread_mutex_unlock(&a->head_mu);
		pthread_join(a->head_thread, NULL);
	}
	while ((s = a->head) != NULL) {
		a->head = s->next;
		sub_free(s);
	}
	while ((s = a->redo) != NULL) {
		a->redo = s->next;
		sub_free(s);
	}
	hsm_session_free(a->head_hs);
	hsm_session_free(a->hs);
	store_free(a->store);
	pthread_cond_destroy(&a->head_cv);
	pthread_mutex_destroy(&a->head_mu);
	pthread_cond_destroy(&a->room);
	pthread_cond_destroy(&a->work);
	pthread_mutex_destroy(&a->mu);
	explicit_bzero(a->rows, sizeof(a->rows));
	free(a);
}
