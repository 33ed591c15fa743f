/*
 * exchange.c: one request answered, whatever carried it.  See
 * rpc_exchange.h; audit/DESIGN.md says what each event holds.
 *
 * No reply leaves before the call's event is durable.  A change's event is
 * written in its own transaction (engine_commit asks change_event for it
 * and appends it with audit_append), so the change and its event commit
 * together, before the reply.  Every other call (reads, failures, unknown
 * methods) hands its event(s) to the writer, and the transport goes on to
 * its next call; the writer calls back once they are committed or could
 * not be, and only then does the transport send the answer
 * (rpc_exchange_result).  A call without identity (only a client without
 * a certificate, let through by health_without_cert) is not audited by
 * itself: it is counted (refusals.c), summarised in the audit trail once
 * per interval, and answered at once, so that it never waits on the audit
 * queue.
 */
#include "rpc_exchange.h"

#include <string.h>

#include "cf_log.h"
#include "rpc_tls.h"

_Static_assert(RPC_AUDIT_PARAMS_MAX <= AUDIT_PARAMS_MAX,
    "the writer keeps every request's parameters whole");

int
rpc_exchange_init(struct rpc_exchange *x, struct audit *audit,
    struct rpc_refusals *refusals)
{

	memset(x, 0, sizeof(*x));
	if ((x->arena = cf_arena_new()) == NULL)
		return (-1);
	if (cf_uuid_random(x->request_id)) {
		cf_arena_free(x->arena);
		x->arena = NULL;
		return (-1);
	}
	x->audit = audit;
	x->refusals = refusals;
	x->start_ms = cf_now_ms();
	x->start_us = cf_mono_us();
	x->op = "unknown";
	x->method = SIZE_MAX;
	x->audit_ok = 1;
	rpc_metrics_begin();
	return (0);
}

void
rpc_exchange_cleanup(struct rpc_exchange *x)
{

	if (x->arena == NULL)
		return;
	rpc_metrics_end(x->method, x->answered, x->answer, cf_mono_us() -
	    x->start_us);
	cf_arena_free(x->arena);
	x->arena = NULL;
}

/* The call's event, with ${outcome}; the secret and version as known. */
static void
event(const struct rpc_exchange *x, const char *outcome,
    struct audit_event *ev)
{

	memset(ev, 0, sizeof(*ev));
	ev->time_ms = x->start_ms;
	ev->request_id = x->request_id;
	ev->principal = x->principal != NULL ? x->principal :
	    "unauthenticated";
	ev->peer = x->peer != NULL ? x->peer : "unknown";
	ev->operation = x->op;
	ev->secret_arn = x->ea.secret_arn;
	ev->version_id = x->ea.version_id;
	ev->request_params = x->ea.request_params;
	ev->transport = x->transport;
	ev->access_key_id = x->access_key_id;
	ev->outcome = outcome;
}

/*
 * engine_commit's hook: the change's event, committed with the change.  A
 * CreateAccessKey's parameters gain the key it made; they keep it for a
 * second event, should the commit's outcome be unknown (the key may be
 * there).
 */
static int
change_event(struct engine_audit *ea, struct audit_event *ev,
    struct cf_error *err)
{
	struct rpc_exchange *x = ea->hook_arg;
	const char *params;

	if (ea->made_key_id != NULL) {
		if ((params = rpc_audit_params_add(x->arena,
		    ea->request_params, "AccessKeyId", ea->made_key_id)) ==
		    NULL) {
			cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
			return (-1);
		}
		ea->request_params = params;
		ea->made_key_id = NULL;
	}
	event(x, "OK", ev);
	return (0);
}

/* UNAUTHENTICATED for a call without identity to a method that needs one. */
static int
authenticated(const struct rpc_exchange *x, const char *action,
    struct cf_error *err)
{

	if (x->principal != NULL || action == NULL)
		return (0);
	cf_error_set(err, CF_ERR_UNAUTHENTICATED, "The request carried no "
	    "client certificate: Coffer identifies callers by mutual TLS.");
	return (-1);
}

/*
 * Every call but the health check needs the audit: refused while the
 * token's head of the chain lags beyond audit_head_max_lag (fail closed).
 */
static int
audit_open(const struct rpc_exchange *x, const char *action,
    struct cf_error *err)
{

	if (x->audit == NULL || action == NULL)
		return (0);
	return (audit_head_check(x->audit, err));
}

void
rpc_exchange_run(struct rpc_exchange *x, size_t method,
    struct engine_worker *w, const uint8_t *req, size_t len,
    const struct cf_error *unread)
{
	struct engine_call ec;

	x->op = rpc_service_op(method);
	x->method = method;
	memset(&ec, 0, sizeof(ec));
	ec.action = rpc_service_action(method);
	ec.principal = x->principal;
	ec.request_id = x->request_id;
	ec.arena = x->arena;
	ec.peer = x->peer != NULL ? x->peer : "unknown";
	ec.audit = x->audit != NULL ? &x->ea : NULL;
	ec.ahead = x->has_ahead ? &x->ahead : NULL;
	x->ea.change_event = change_event;
	x->ea.hook_arg = x;
	if (authenticated(x, ec.action, &x->err) == 0 &&
	    audit_open(x, ec.action, &x->err) == 0) {
		if (unread != NULL)
			x->err = *unread;
		else if (rpc_service_handle(method, w, &ec, req, len,
		    x->decoded, &x->reply, &x->err) == 0)
			x->ok = 1;
	}
}

void
rpc_exchange_read_ahead(struct rpc_exchange *const *xs,
    const size_t *methods, const uint8_t *const *reqs, const size_t *lens,
    size_t n, struct engine_worker *w)
{
	struct engine_read_ahead reads[RPC_AHEAD_MAX];
	struct rpc_exchange *at[RPC_AHEAD_MAX];
	struct cf_error scratch;
	size_t i, m = 0;

	for (i = 0; i < n && m < RPC_AHEAD_MAX; i++) {
		struct rpc_exchange *x = xs[i];

		/* (A request that does not decode fails when it runs.) */
		if (x->principal == NULL || reqs[i] == NULL ||
		    rpc_service_decode(methods[i], x->arena, reqs[i], lens[i],
		    &x->decoded, &scratch))
			continue;
		memset(&reads[m], 0, sizeof(reads[m]));
		if (!rpc_service_ahead(methods[i], x->decoded, &reads[m]))
			continue;
		reads[m].arena = x->arena;
		at[m++] = x;
	}
	if (m == 0)
		return;
	engine_read_ahead(w, reads, m);
	for (i = 0; i < m; i++) {
		at[i]->ahead = reads[i];
		at[i]->has_ahead = 1;
	}
}

void
rpc_exchange_fail(struct rpc_exchange *x, size_t method, const char *op,
    const struct cf_error *err)
{
	const char *copy = cf_arena_strdup(x->arena, op);

	x->op = copy != NULL ? copy : "unknown";
	x->method = method;
	x->ok = 0;
	x->err = *err;
}

/* The writer's verdict, on its thread: keep it, tell the transport. */
static void
audited(void *arg, int ok, const struct cf_error *aerr)
{
	struct rpc_exchange *x = arg;

	x->audit_ok = ok;
	if (!ok)
		x->audit_err = *aerr;
	x->done(x->done_arg);
}

/* The outcome's name: OK or the AWS exception of the call's error. */
static const char *
outcome(const struct rpc_exchange *x)
{

	return (x->ok ? "OK" : cf_code_name(x->err.code != CF_OK ?
	    x->err.code : CF_ERR_INTERNAL));
}

enum rpc_recorded
rpc_exchange_record(struct rpc_exchange *x, void (*done)(void *), void *arg)
{
	struct audit_event one, *ev = &one;
	size_t n = 1, i;

	/*
	 * No identity (a client let through for the health check): counted,
	 * not audited one by one, so that it never waits on the audit queue.
	 */
	if (x->principal == NULL && x->refusals != NULL) {
		(void)rpc_refusals_add(x->refusals, x->peer, "unauthenticated",
		    x->op, outcome(x));
		return (RPC_RECORDED_NOW);
	}

	/* Not audited (a benchmark's configuration), or already recorded. */
	if (x->audit == NULL || (x->ea.recorded && x->ok))
		return (RPC_RECORDED_NOW);

	/*
	 * A failed call, or a read: its outcome.  (A change whose commit
	 * failed after its event was recorded gets this second event, which
	 * says how the call really ended.)  BatchGetSecretValue has one
	 * event per secret.
	 */
	if (x->ok && x->ea.n_items > 0) {
		n = x->ea.n_items;
		if ((ev = cf_arena_alloc(x->arena, n * sizeof(*ev))) == NULL)
			goto fail;
		for (i = 0; i < n; i++) {
			event(x, x->ea.items[i].outcome, &ev[i]);
			ev[i].secret_arn = x->ea.items[i].secret;
			ev[i].version_id = x->ea.items[i].version_id;
			ev[i].accessed_secret = x->ea.items[i].accessed_secret;
			ev[i].accessed_version =
			    x->ea.items[i].accessed_version;
		}
	} else {
		event(x, outcome(x), &one);
		/* A read's LastAccessedDate, with its event. */
		if (x->ok) {
			one.accessed_secret = x->ea.accessed_secret;
			one.accessed_version = x->ea.accessed_version;
		}
	}
	x->done = done;
	x->done_arg = arg;
	if (audit_submit(x->audit, ev, n, audited, x) == 0)
		return (RPC_RECORDED_LATER);
fail:
	x->audit_ok = 0;
	cf_error_set(&x->audit_err, CF_ERR_UNAVAILABLE, "could not record "
	    "the audit event");
	return (RPC_RECORDED_NOW);
}

/*
 * A line for the operator about the call just answered: a failure of the
 * service (InternalServiceError, ServiceUnavailable) at error and warn,
 * every call at debug (an access log, off by default).  The operation is
 * the method table's name, never the path a client sent.
 */
static void
log_answer(const struct rpc_exchange *x, const struct cf_error *err)
{
	struct cf_log_call lc;

	lc.request_id = x->request_id;
	lc.operation = x->method < rpc_service_count() ?
	    rpc_service_op(x->method) : "Unknown";
	lc.principal = x->principal;
	lc.outcome = x->answer == CF_OK ? "OK" : cf_code_name(x->answer);
	if (x->answer == CF_ERR_INTERNAL || x->answer == CF_ERR_UNAVAILABLE)
		cf_log_call(x->answer == CF_ERR_INTERNAL ? CF_LOG_ERROR :
		    CF_LOG_WARN, &lc, "%s", err->msg);
	else
		cf_log_call(CF_LOG_DEBUG, &lc, "answered in %lld us",
		    (long long)(cf_mono_us() - x->start_us));
}

/* The reply to send, or NULL and the error to answer with. */
static const struct rpc_reply *
answer(struct rpc_exchange *x, const struct cf_error **err)
{
	struct cf_error e = { CF_OK, "" };

	*err = &x->err;
	if (x->audit_ok)
		return (x->ok ? &x->reply : NULL);

	/*
	 * A health check whose event could not be written answers
	 * NOT_SERVING, as the protocol says, rather than an error.
	 */
	if (strcmp(x->op, "Health/Check") == 0 &&
	    rpc_service_not_serving(x->arena, &x->reply, &e) == 0)
		return (&x->reply);
	*err = &x->audit_err;
	return (NULL);
}

const struct rpc_reply *
rpc_exchange_result(struct rpc_exchange *x, const struct cf_error **err)
{
	const struct rpc_reply *r = answer(x, err);

	/* What the caller is told is what the metrics count. */
	x->answered = 1;
	x->answer = r != NULL ? CF_OK : (*err)->code != CF_OK ? (*err)->code :
	    CF_ERR_INTERNAL;
	log_answer(x, *err);
	return (r);
}
