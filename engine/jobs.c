/*
 * jobs.c: the background work of a cofferd — purging secrets whose
 * recovery window has passed.  One thread with its own database connection
 * and token session wakes every interval and claims due rows with
 * FOR UPDATE SKIP LOCKED, so several servers share the work and none does
 * it twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

#define PURGE_BATCH 100

struct engine_jobs {
	struct engine_worker *w;
	int interval_s;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* Purge until nothing is due; errors are reported and retried later. */
static void
purge_round(struct engine_jobs *j)
{
	struct cf_error err = { 0 };
	int n;

	do {
		if (engine_purge_due(j->w, PURGE_BATCH, &n, &err)) {
			fprintf(stderr, "cofferd: purge: %s\n", err.msg);
			return;
		}
		if (n > 0)
			fprintf(stderr, "cofferd: purged %d secret(s) past their "
			    "recovery window\n", n);
	} while (n == PURGE_BATCH);
}

static void *
jobs_main(void *arg)
{
	struct engine_jobs *j = arg;
	struct timespec until;

	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		pthread_mutex_unlock(&j->mu);
		purge_round(j);
		pthread_mutex_lock(&j->mu);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += j->interval_s;
		while (!j->stop && pthread_cond_timedwait(&j->cv, &j->mu,
		    &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&j->mu);
	return (NULL);
}

struct engine_jobs *
engine_jobs_start(struct engine *e, int interval_s, struct cf_error *err)
{
	struct engine_jobs *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	j->interval_s = interval_s > 0 ? interval_s : 60;
	if ((j->w = engine_worker_new(e, err)) == NULL) {
		free(j);
		return (NULL);
	}
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	if (pthread_create(&j->thread, NULL, jobs_main, j) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL,
		    "could not start the background job thread");
		engine_worker_free(j->w);
		free(j);
		return (NULL);
	}
	return (j);
}

void
engine_jobs_stop(struct engine_jobs *j)
{

	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	engine_worker_free(j->w);
	free(j);
}
