/*
 * rpc_pool.h: a queue of calls for a pool of threads of their own.
 *
 * A queue worker hands a call that should not hold it to a pool: long
 * calls (listings, audit queries, batch reads), which scan and unwrap a
 * lot, and changes, which wait for their commit's fsync.  The pool's
 * threads take the calls in order.  The queue is bounded: a call that
 * finds it full is refused by the caller of rpc_pool_push.
 */
#ifndef COFFER_RPC_POOL_H
#define COFFER_RPC_POOL_H

#include <pthread.h>
#include <stddef.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

/* A call waiting for a pool's thread; it owns the call and its payload. */
struct rpc_job {
	grpc_call *call;
	size_t method;
	grpc_byte_buffer *payload;
	gpr_timespec deadline;
	struct rpc_job *next;
};

struct rpc_pool {
	const char *name;		/* its threads' name, "coffer-long" */
	const char *calls;		/* what it runs, for the refusal */
	const char *setting;		/* the setting bounding its queue */
	unsigned threads;		/* 0: no pool, the queue serves all */
	unsigned max;			/* calls waiting at most */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rpc_job *head, *tail;
	unsigned queued;
	int stop;
};

/* What rpc_pool_push did with a call. */
enum rpc_pool_push {
	RPC_POOL_QUEUED,		/* the pool owns the call now */
	RPC_POOL_FULL,			/* ${max} calls wait already */
	RPC_POOL_NO_MEMORY
};

/*
 * rpc_pool_init(p, name, calls, setting, threads, max):
 * An empty pool of ${threads} threads (started by the server) whose queue
 * holds at most ${max} calls.  ${name}, ${calls} and ${setting} are
 * static strings.
 */
void rpc_pool_init(struct rpc_pool *, const char *, const char *,
    const char *, unsigned, unsigned);

/*
 * rpc_pool_push(p, call, method, payload, deadline):
 * Queue a call for the pool.  RPC_POOL_QUEUED: the pool owns ${call} and
 * ${payload}; otherwise the caller still does.
 */
enum rpc_pool_push rpc_pool_push(struct rpc_pool *, grpc_call *, size_t,
    grpc_byte_buffer *, gpr_timespec);

/*
 * rpc_pool_next(p):
 * The next call, waiting for one; NULL once told to stop and empty.  The
 * caller owns the job (free it with free(); its call and payload are the
 * caller's to answer and release).
 */
struct rpc_job *rpc_pool_next(struct rpc_pool *);

/* rpc_pool_stop(p): its threads end once its queue is empty. */
void rpc_pool_stop(struct rpc_pool *);

/*
 * rpc_pool_destroy(p):
 * Release the calls still queued (a server that never served them) and
 * the pool's lock.
 */
void rpc_pool_destroy(struct rpc_pool *);

#endif
