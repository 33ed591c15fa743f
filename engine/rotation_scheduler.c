/*
 * rotation_scheduler.c: the scheduler thread of each cofferd: it runs due
 * and interrupted rotations (rotation_lease.c) every rotation_interval and
 * whenever RotateSecret wakes it, and purges secrets past their recovery
 * window every purge_interval.  Both are claimed in the database with FOR
 * UPDATE SKIP LOCKED, so several servers share the work and none does a
 * piece of it twice.
 *
 * The thread has a worker of its own (a database connection and a token
 * session), so rotations never take a request worker.  Its lease owner
 * names this process (host:pid:random): a restarted server is another
 * owner and waits for the lease of its former self to run out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rotation_internal.h"
#include "cf_log.h"

#define ROT_LEASE_S 300			/* at least; renewed at each step */
#define PURGE_BATCH 100
#define REWRAP_BATCH 100
/* A round of rewraps yields to rotations and purges after this long. */
#define REWRAP_ROUND_MS 2000

struct engine_rotation {
	struct rotation_lease lease;	/* its worker, audit and owner */
	int interval_s;
	int purge_interval_s;
	int64_t next_purge_ms;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int kicked;
};

/* Purge until nothing is due; errors are reported and retried later. */
static void
purge_round(struct engine_rotation *r)
{
	struct cf_error err = { 0 };
	int n;

	do {
		if (engine_purge_due(r->lease.w, r->lease.audit, PURGE_BATCH,
		    &n, &err)) {
			cf_log(CF_LOG_ERROR, "purge: %s", err.msg);
			return;
		}
		if (n > 0)
			cf_log(CF_LOG_INFO, "purged %d secret(s) past their "
			    "recovery window", n);
	} while (n == PURGE_BATCH);
	/* KEKs past their deletion date, destroyed in the token. */
	if (engine_destroy_due_keys(r->lease.w, r->lease.audit, &n, &err))
		cf_log(CF_LOG_ERROR, "key destruction: %s", err.msg);
	else if (n > 0)
		cf_log(CF_LOG_INFO, "destroyed %d KMS key(s) past their "
		    "deletion date", n);
}

/*
 * Move envelopes under older KEK versions to the current ones, a batch at
 * a time at most rewrap_rate a second, for at most REWRAP_ROUND_MS (the
 * rest waits for the next round, which comes at once while there is
 * work).  Returns nonzero if work is left.
 */
static int
rewrap_round(struct engine_rotation *r)
{
	struct engine *e = r->lease.w->e;
	struct cf_error err = { 0 };
	int64_t start = cf_mono_ms(), spent, due;
	int n, total = 0;

	do {
		if (engine_rewrap_due(r->lease.w, r->lease.audit,
		    REWRAP_BATCH, &n, &err)) {
			cf_log(CF_LOG_ERROR, "rewrap: %s", err.msg);
			return (0);
		}
		total += n;
		/* The rate: this many envelopes take this long at least. */
		due = (int64_t)total * 1000 / e->rewrap_rate;
		if ((spent = cf_mono_ms() - start) < due)
			(void)nanosleep(&(struct timespec){ (due - spent) /
			    1000, (long)((due - spent) % 1000) * 1000000L },
			    NULL);
	} while (n == REWRAP_BATCH && cf_mono_ms() - start < REWRAP_ROUND_MS);
	if (total > 0)
		cf_log(CF_LOG_INFO, "rewrapped %d data key(s) under the "
		    "current KEK versions", total);
	return (n == REWRAP_BATCH);
}

/*
 * The scheduler: purges secrets past their recovery window every
 * purge_interval_s (claimed with FOR UPDATE SKIP LOCKED, so servers share
 * the work), and runs every due or pending rotation every interval_s and
 * whenever RotateSecret kicks it.
 */
static void *
rotation_main(void *arg)
{
	struct engine_rotation *r = arg;
	struct timespec until;
	int64_t now, wait_ms;
	int more;

	(void)pthread_setname_np(pthread_self(), "coffer-rotation");
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		r->kicked = 0;
		pthread_mutex_unlock(&r->mu);
		if ((now = cf_now_ms()) >= r->next_purge_ms) {
			purge_round(r);
			r->next_purge_ms = now + (int64_t)r->purge_interval_s *
			    1000;
		}
		/* Every due or interrupted rotation, under this lease. */
		engine_rotation_run_due(&r->lease);
		more = rewrap_round(r);
		pthread_mutex_lock(&r->mu);
		if (more)
			continue;
		wait_ms = (int64_t)r->interval_s * 1000;
		if (r->next_purge_ms - cf_now_ms() < wait_ms)
			wait_ms = r->next_purge_ms - cf_now_ms();
		if (wait_ms < 1)
			wait_ms = 1;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!r->stop && !r->kicked &&
		    pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&r->mu);
	return (NULL);
}

struct engine_rotation *
engine_rotation_start(struct engine *e, struct audit *audit, int interval_s,
    int purge_interval_s, struct cf_error *err)
{
	struct engine_rotation *r;
	char host[64];
	uint8_t b[4];
	char tag[2 * sizeof(b) + 1];

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		(void)engine_oom(err);
		return (NULL);
	}
	r->lease.audit = audit;
	r->interval_s = interval_s > 0 ? interval_s : 10;
	r->purge_interval_s = purge_interval_s > 0 ? purge_interval_s : 60;
	/* A step is an exec: program (bounded) or a login (10 s at most). */
	r->lease.lease_s = ROT_LEASE_S > 2 * e->exec.timeout_s + 60 ?
	    ROT_LEASE_S : 2 * e->exec.timeout_s + 60;
	if ((r->lease.w = engine_worker_new(e, err)) == NULL) {
		free(r);
		return (NULL);
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	if (hsm_random(r->lease.w->hsm, b, sizeof(b), err)) {
		engine_worker_free(r->lease.w);
		free(r);
		return (NULL);
	}
	cf_hex_encode(b, 4, tag);
	snprintf(r->lease.owner, sizeof(r->lease.owner), "%s:%d:%s", host,
	    (int)getpid(), tag);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->thread, NULL, rotation_main, r) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not start the "
		    "rotation thread");
		engine_worker_free(r->lease.w);
		free(r);
		return (NULL);
	}
	pthread_mutex_lock(&e->rot_mu);
	e->rotation = r;
	pthread_mutex_unlock(&e->rot_mu);
	return (r);
}

void
engine_rotation_kick(struct engine *e)
{
	struct engine_rotation *r;

	pthread_mutex_lock(&e->rot_mu);
	if ((r = e->rotation) != NULL) {
		pthread_mutex_lock(&r->mu);
		r->kicked = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
	pthread_mutex_unlock(&e->rot_mu);
}

void
engine_rotation_stop(struct engine *e, struct engine_rotation *r)
{

	if (r == NULL)
		return;
	pthread_mutex_lock(&e->rot_mu);
	e->rotation = NULL;
	pthread_mutex_unlock(&e->rot_mu);
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	engine_worker_free(r->lease.w);
	free(r);
}
