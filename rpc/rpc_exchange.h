/*
 * rpc_exchange.h: one request answered, whatever carried it (exchange.c).
 * Private to rpc/.
 *
 * A transport (call.c for gRPC, json.c for AWS's JSON protocol) gives an
 * exchange its own name, the caller's identity and the request's bytes;
 * the exchange runs the method through the service table, records the
 * audit event(s), which name the transport, and holds the result until
 * they are durable.  The transport only moves bytes: no rule of identity,
 * authorization, auditing or failure exists twice.
 *
 * The exchange owns the call's arena (locked, never dumped, wiped when
 * freed): the request, its decoding and the response live there.
 */
#ifndef COFFER_RPC_EXCHANGE_H
#define COFFER_RPC_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "engine.h"
#include "rpc_internal.h"

struct rpc_refusals;

struct rpc_exchange {
	struct cf_arena *arena;
	char request_id[CF_UUID_LEN + 1];
	const char *op;			/* the operation, for the event */
	size_t method;			/* its index; SIZE_MAX: none known */
	int64_t start_ms;
	int64_t start_us;		/* monotonic, for the metrics */
	int answered;			/* rpc_exchange_result was asked */
	enum cf_code answer;		/* ...and what it said */
	const char *principal;		/* NULL: no identity */
	const char *peer;
	const char *transport;		/* AUDIT_TRANSPORT_*, for the event */
	const char *access_key_id;	/* SigV4's key; NULL: none */

	struct audit *audit;		/* NULL: not audited (benchmarks) */
	struct rpc_refusals *refusals;	/* counts calls without identity */
	struct engine_audit ea;

	/* Read ahead (rpc_exchange_read_ahead): the request decoded, and
	 * its read when it has one. */
	ProtobufCMessage *decoded;
	int has_ahead;
	struct engine_read_ahead ahead;

	/* The result, held back until the events are durable. */
	int ok;
	struct rpc_reply reply;
	struct cf_error err;
	int audit_ok;			/* the writer's verdict */
	struct cf_error audit_err;
	void (*done)(void *);		/* rpc_exchange_record's callback */
	void *done_arg;
};

/*
 * rpc_exchange_init(x, audit, refusals):
 * A fresh exchange: its arena, a request id, the clock.  0, or -1 when out
 * of memory or random bytes (nothing to free then).
 */
int rpc_exchange_init(struct rpc_exchange *, struct audit *,
    struct rpc_refusals *) CF_MUSTCHECK;

/* rpc_exchange_cleanup(x): wipe and free its arena. */
void rpc_exchange_cleanup(struct rpc_exchange *);

/*
 * rpc_exchange_run(x, method, w, req, len, unread):
 * Run ${len} bytes at ${req} (in x's arena) as method ${method} of the
 * service table on engine worker ${w}, as x->principal (set by the
 * transport; NULL: none) from x->peer.  Every method but the health check
 * needs an identity and an open audit (fail closed); those are checked
 * first, and then ${unread}, when not NULL, is why the transport could not
 * read the request (${req} is then unused).  The result is in x->ok,
 * x->reply, x->err.
 */
void rpc_exchange_run(struct rpc_exchange *, size_t, struct engine_worker *,
    const uint8_t *, size_t, const struct cf_error *);

/*
 * rpc_exchange_read_ahead(xs, methods, reqs, lens, n, w):
 * Before running them, make the reads of the ${n} calls ${xs} (method
 * methods[i], reqs[i] of lens[i] bytes in its arena; NULL: unread) that
 * engine_read_ahead can make together, in one round trip on ${w}: only
 * for calls with an identity (no database work for a caller the call
 * will refuse), of a method with such a read (GetSecretValue by label).
 * Each request is decoded here once, and rpc_exchange_run uses that
 * decode.  A call whose read was not made reads on its own.
 */
void rpc_exchange_read_ahead(struct rpc_exchange *const *, const size_t *,
    const uint8_t *const *, const size_t *, size_t, struct engine_worker *);

/*
 * rpc_exchange_fail(x, method, op, err):
 * The call is not run (refused, or an unknown operation): its outcome is
 * ${err}, under operation ${op} (copied), which is method ${method} of
 * the table (RPC_SERVICE_NONE: none, and the metrics say "Unknown").
 */
void rpc_exchange_fail(struct rpc_exchange *, size_t, const char *,
    const struct cf_error *);

/* What rpc_exchange_record did. */
enum rpc_recorded {
	RPC_RECORDED_NOW,		/* answer at once: nothing to wait for
					   (or recording failed, said in x) */
	RPC_RECORDED_LATER		/* ${done} will be called, on the
					   writer's thread, once the events
					   are committed or could not be */
};

/*
 * rpc_exchange_record(x, done, arg):
 * Record the call's outcome: counted (no identity), already committed
 * with its change, or handed to the audit writer, which calls ${done}(
 * ${arg}) after setting x->audit_ok.  Never blocks.
 */
enum rpc_recorded rpc_exchange_record(struct rpc_exchange *,
    void (*)(void *), void *);

/*
 * rpc_exchange_result(x, err):
 * The answer once recorded: the reply to send, or NULL with *${err}
 * pointing at the error (the call's, or the audit's: a result whose event
 * was not written is never sent).  A health check whose event failed
 * answers NOT_SERVING.
 */
const struct rpc_reply *rpc_exchange_result(struct rpc_exchange *,
    const struct cf_error **);

#endif /* !COFFER_RPC_EXCHANGE_H */
