/*
 * pool.c: a bounded queue of calls for a pool of threads (rpc_pool.h).
 *
 * One mutex and one condition variable per pool: a push is a few hundred
 * nanoseconds against calls that take a millisecond or more (a commit's
 * fsync, a listing's scan), so the queue is never what a pool waits on.
 */
#include "rpc_pool.h"

#include <stdlib.h>

#include <grpc/byte_buffer.h>

void
rpc_pool_init(struct rpc_pool *p, const char *name, const char *calls,
    const char *setting, unsigned threads, unsigned max)
{

	p->name = name;
	p->calls = calls;
	p->setting = setting;
	p->threads = threads;
	p->max = max;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->head = p->tail = NULL;
	p->queued = 0;
	p->stop = 0;
}

enum rpc_pool_push
rpc_pool_push(struct rpc_pool *p, grpc_call *call, size_t method,
    grpc_byte_buffer *payload, gpr_timespec deadline)
{
	struct rpc_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return (RPC_POOL_NO_MEMORY);
	j->call = call;
	j->method = method;
	j->payload = payload;
	j->deadline = deadline;

	pthread_mutex_lock(&p->lock);
	if (p->queued >= p->max) {
		pthread_mutex_unlock(&p->lock);
		free(j);
		return (RPC_POOL_FULL);
	}
	if (p->tail != NULL)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	p->queued++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return (RPC_POOL_QUEUED);
}

struct rpc_job *
rpc_pool_next(struct rpc_pool *p)
{
	struct rpc_job *j;

	pthread_mutex_lock(&p->lock);
	while (p->head == NULL && !p->stop)
		pthread_cond_wait(&p->cond, &p->lock);
	if ((j = p->head) != NULL) {
		if ((p->head = j->next) == NULL)
			p->tail = NULL;
		p->queued--;
	}
	pthread_mutex_unlock(&p->lock);
	return (j);
}

void
rpc_pool_stop(struct rpc_pool *p)
{

	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void
rpc_pool_destroy(struct rpc_pool *p)
{
	struct rpc_job *j;

	while ((j = p->head) != NULL) {
		p->head = j->next;
		grpc_call_unref(j->call);
		if (j->payload != NULL)
			grpc_byte_buffer_destroy(j->payload);
		free(j);
	}
	p->tail = NULL;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}
