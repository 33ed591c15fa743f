/*
 * rpc_call.h: answering one gRPC call (call.c), for the server loop
 * (server.c).  Private to rpc/.
 *
 * Every tag rpc/ gives gRPC points at a struct whose first member is an
 * enum rpc_tag_kind, so a worker knows what completed.
 */
#ifndef COFFER_RPC_CALL_H
#define COFFER_RPC_CALL_H

#include <stddef.h>

#include <grpc/grpc.h>

struct audit;
struct cf_error;
struct engine_worker;
struct rpc_refusals;

enum rpc_tag_kind {
	RPC_TAG_METHOD,		/* a registered method's requested call */
	RPC_TAG_UNKNOWN,	/* the unregistered requested call */
	RPC_TAG_BATCH,		/* a call's reply batch */
	RPC_TAG_AUDITED,	/* a call's events are committed (or not):
				   its reply may go */
	RPC_TAG_SHUTDOWN	/* the server finished shutting down */
};

/*
 * rpc_call_serve(gcall, method, payload, w, audit, refusals):
 * Answer ${gcall}, a call of method ${method} of the service table whose
 * request is ${payload} (NULL if the client sent none; it stays the
 * caller's): run it on engine worker ${w} and start the reply batch on the
 * call's queue, once its audit event is committed (${audit}; NULL: not
 * audited).  A call without identity (a client without a certificate,
 * let through for the health check) is not audited on its own: it is
 * counted in ${refusals} and answered at once.  Takes ${gcall} over.
 * Returns 1 if a batch was started or will be, in which case exactly one
 * RPC_TAG_BATCH completion follows and must be passed to rpc_call_done()
 * (before it, for an audited call, one RPC_TAG_AUDITED completion, to be
 * passed to rpc_call_audited()); 0 if not.
 */
int rpc_call_serve(grpc_call *, size_t, grpc_byte_buffer *,
    struct engine_worker *, struct audit *, struct rpc_refusals *);

/*
 * A worker holding several calls at once serves them in two steps, so that
 * their reads go to PostgreSQL together (rpc_exchange_read_ahead):
 * rpc_call_accept(gcall, method, payload, audit, refusals) takes each
 * call over as rpc_call_serve() would and reads its request (NULL only
 * when out of memory: the call was then refused, and returns as 0 from
 * rpc_call_serve); rpc_call_read_ahead(calls, n, w) makes their reads;
 * rpc_call_run(call, w) runs each, and returns as rpc_call_serve().
 */
struct call;
struct call *rpc_call_accept(grpc_call *, size_t, grpc_byte_buffer *,
    struct audit *, struct rpc_refusals *);
void rpc_call_read_ahead(struct call *const *, size_t,
    struct engine_worker *);
int rpc_call_run(struct call *, struct engine_worker *);

/*
 * rpc_call_serve_unknown(gcall, method, audit, refusals):
 * Answer ${gcall}, a call of the unregistered ${method}, with UNIMPLEMENTED
 * "unknown method <path>".  Takes ${gcall} over; returns as
 * rpc_call_serve() does.
 */
int rpc_call_serve_unknown(grpc_call *, grpc_slice, struct audit *,
    struct rpc_refusals *);

/*
 * rpc_call_refuse(gcall, method, why, audit, refusals):
 * Answer ${gcall}, a call of method ${method}, with the error ${why}
 * without running it (the long-call pool is full, or the call's deadline
 * passed while it waited), audited as any failed call is.  Takes ${gcall}
 * over; returns as rpc_call_serve() does.
 */
int rpc_call_refuse(grpc_call *, size_t, const struct cf_error *,
    struct audit *, struct rpc_refusals *);

/*
 * rpc_call_done(tag):
 * The reply batch tagged ${tag} completed (successfully or not): release
 * the call and, once gRPC has let go of the response too, its arena.
 */
void rpc_call_done(void *);

/*
 * rpc_call_audited(tag):
 * An RPC_TAG_AUDITED completion: the call's audit events are committed
 * (or could not be), so send its reply (or ServiceUnavailable).  The
 * lane's writer only posts this completion; the reply leaves from the
 * worker that takes it, so that no writer thread sends replies.
 */
void rpc_call_audited(void *);

#endif /* !COFFER_RPC_CALL_H */
