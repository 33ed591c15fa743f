/*
 * trim.c: give memory that gRPC's buffers no longer use back to the system.
 *
 * A flood of large requests (many streams each holding most of a message)
 * makes gRPC allocate hundreds of megabytes of small read buffers.  When
 * the streams end, the memory is free but the allocator keeps it: measured
 * on 2d87228 with glibc's malloc, 1,000 half-sent 1 MiB requests took
 * cofferd from 22 MB to 1 GB of RSS and left it at 1 GB after they closed.
 * The resource quota (rpc/server.c) bounds the peak; this thread returns
 * what is left afterwards: every TRIM_INTERVAL_MS, if more than TRIM_SLACK
 * bytes sit free in the heap, it hands the free pages back.  With tcmalloc
 * (alloc.c) that is MallocExtension_ReleaseFreeMemory(): tcmalloc gives
 * pages back only as later frees come, and after a flood none come.  With
 * glibc's malloc it is malloc_trim(0), which takes each arena's lock
 * briefly.  Either costs a pass over the allocator's free lists, which is
 * why it only runs when there is something to return.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#ifdef COFFER_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#elif defined(__GLIBC__)
#include <malloc.h>
#endif

#include "server_internal.h"

#define TRIM_INTERVAL_MS 5000
#define TRIM_SLACK ((size_t)32 << 20)

struct server_trim {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
};

/* Return free heap pages to the system if there are enough of them. */
static void
trim_once(void)
{
#ifdef COFFER_TCMALLOC
	size_t free_bytes = 0;

	if (MallocExtension_GetNumericProperty("tcmalloc.pageheap_free_bytes",
	    &free_bytes) && free_bytes > TRIM_SLACK)
		MallocExtension_ReleaseFreeMemory();
#elif defined(__GLIBC__)
	struct mallinfo2 mi = mallinfo2();

	if (mi.fordblks > TRIM_SLACK)
		(void)malloc_trim(0);
#endif
}

static void *
trim_main(void *arg)
{
	struct server_trim *t = arg;
	struct timespec at;

	(void)pthread_setname_np(pthread_self(), "coffer-trim");
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += TRIM_INTERVAL_MS / 1000;
		while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock,
		    &at) == 0)
			continue;
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->lock);
		trim_once();
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return (NULL);
}

struct server_trim *
server_trim_start(void)
{
	struct server_trim *t;
	pthread_condattr_t ca;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t->thread, NULL, trim_main, t) != 0) {
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return (NULL);
	}
	return (t);
}

void
server_trim_stop(struct server_trim *t)
{

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
