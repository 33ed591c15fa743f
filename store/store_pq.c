/*
 * store_pq.c: every statement under a deadline of cofferd's own.
 *
 * statement_timeout is the server's to enforce: a database that is frozen
 * (SIGSTOP, a hung disk, a network that drops packets without a reset)
 * enforces nothing, and libpq's blocking calls then wait for ever, health
 * checks included.  So the store sends each statement with libpq's
 * asynchronous calls and waits for the answer in poll() with a deadline
 * (db_timeout).  A statement that misses it closes the connection (a
 * statement still in flight leaves it unusable) and fails with
 * ServiceUnavailable; the next call reconnects, and connect_timeout bounds
 * that too.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

/*
 * How long the statement about to be sent may take: db_timeout, or its
 * class's statement_timeout and a second if that is longer (a listing may
 * run 30 s; the server cancels it first, with a clearer error).
 */
static int64_t
deadline_ms(const struct store *s)
{
	int64_t d = s->deadline_ms;

	if (s->timeouts_on && s->timeout_ms[s->tclass] > 0 &&
	    (int64_t)s->timeout_ms[s->tclass] + 1000 > d)
		d = (int64_t)s->timeout_ms[s->tclass] + 1000;
	return (d);
}

/* Give up on the connection: it missed the deadline. */
static PGresult *
missed(struct store *s)
{

	PQfinish(s->conn);
	s->conn = NULL;
	s->timed_out = 1;
	return (NULL);
}

/*
 * Wait until ${s}'s socket is ready for ${events} or the deadline
 * ${deadline} (cf_mono_ms) passes.  Returns 0 when ready, -1 past it.
 */
static int
wait_socket(struct store *s, short events, int64_t deadline)
{
	struct pollfd p;
	int64_t left;
	int n;

	p.fd = PQsocket(s->conn);
	p.events = events;
	for (;;) {
		if ((left = deadline - cf_mono_ms()) <= 0)
			return (-1);
		p.revents = 0;
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return (0);
		if (n < 0 && errno != EINTR)
			return (0);	/* let libpq find the error */
	}
}

/*
 * The answer to the statement just sent on ${s}: its last result, as
 * PQexec gives it.  NULL when the deadline passed (the connection is then
 * closed) or libpq could not even make an error result.
 */
static PGresult *
await(struct store *s, int sent)
{
	PGresult *r, *last = NULL;
	int64_t deadline = cf_mono_ms() + deadline_ms(s);
	int f;

	/* Nothing was sent: libpq's error, as a result. */
	if (!sent)
		return (PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR));

	/* Flush what the non-blocking send left in libpq's buffer. */
	while ((f = PQflush(s->conn)) == 1)
		if (wait_socket(s, POLLOUT | POLLIN, deadline))
			return (missed(s));
	if (f == -1)
		return (PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR));

	/* Read results until libpq says there are no more. */
	for (;;) {
		while (PQisBusy(s->conn)) {
			if (wait_socket(s, POLLIN, deadline)) {
				PQclear(last);
				return (missed(s));
			}
			if (!PQconsumeInput(s->conn))
				break;
		}
		if ((r = PQgetResult(s->conn)) == NULL)
			break;
		PQclear(last);
		last = r;
		if (PQstatus(s->conn) == CONNECTION_BAD)
			break;
	}
	return (last != NULL ? last :
	    PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR));
}

/* Nonzero if statements on ${s} are sent asynchronously, with a deadline. */
static int
bounded(struct store *s)
{

	s->timed_out = 0;
	if (s->deadline_ms <= 0 || s->conn == NULL ||
	    PQstatus(s->conn) != CONNECTION_OK)
		return (0);
	if (!PQisnonblocking(s->conn) && PQsetnonblocking(s->conn, 1) != 0)
		return (0);
	return (1);
}

PGresult *
store_pq_exec(struct store *s, const char *sql)
{

	if (!bounded(s))
		return (PQexec(s->conn, sql));
	return (await(s, PQsendQuery(s->conn, sql)));
}

PGresult *
store_pq_exec_params(struct store *s, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats,
    int result_format)
{

	if (!bounded(s))
		return (PQexecParams(s->conn, sql, n, NULL, values, lengths,
		    formats, result_format));
	return (await(s, PQsendQueryParams(s->conn, sql, n, NULL, values,
	    lengths, formats, result_format)));
}

PGresult *
store_pq_exec_prepared(struct store *s, const char *name, int n,
    const char *const *values, const int *lengths, const int *formats,
    int result_format)
{

	if (!bounded(s))
		return (PQexecPrepared(s->conn, name, n, values, lengths,
		    formats, result_format));
	return (await(s, PQsendQueryPrepared(s->conn, name, n, values,
	    lengths, formats, result_format)));
}

PGresult *
store_pq_prepare(struct store *s, const char *name, const char *sql,
    int nparams)
{

	if (!bounded(s))
		return (PQprepare(s->conn, name, sql, nparams, NULL));
	return (await(s, PQsendPrepare(s->conn, name, sql, nparams, NULL)));
}

/*
 * Leave pipeline mode; a connection that cannot (results left unread, a
 * broken one) is closed, and the next statement reconnects.
 */
static void
pipeline_leave(struct store *s)
{

	if (PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF &&
	    PQexitPipelineMode(s->conn) != 1) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
}

/*
 * The results of the ${nq} queries of the pipeline just sent, then its sync:
 * res[i] the first result of query i (NULL if none came).  -1 when the
 * deadline passed (the connection is then closed, nothing kept).
 */
static int
await_pipeline(struct store *s, PGresult **res, int nq)
{
	PGresult *r;
	int64_t deadline = cf_mono_ms() + deadline_ms(s);
	int f, i, q = 0;

	for (i = 0; i < nq; i++)
		res[i] = NULL;
	while ((f = PQflush(s->conn)) == 1)
		if (wait_socket(s, POLLOUT | POLLIN, deadline)) {
			(void)missed(s);
			return (-1);
		}
	if (f == -1) {
		pipeline_leave(s);
		return (0);
	}

	/* Each query's result then a NULL; then the sync's result. */
	for (;;) {
		while (PQisBusy(s->conn)) {
			if (wait_socket(s, POLLIN, deadline)) {
				for (i = 0; i < nq; i++) {
					PQclear(res[i]);
					res[i] = NULL;
				}
				(void)missed(s);
				return (-1);
			}
			if (!PQconsumeInput(s->conn))
				break;
		}
		if ((r = PQgetResult(s->conn)) == NULL) {
			if (PQstatus(s->conn) == CONNECTION_BAD || ++q > nq)
				break;
			continue;
		}
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (q < nq && res[q] == NULL)
			res[q] = r;
		else
			PQclear(r);
		if (PQstatus(s->conn) == CONNECTION_BAD)
			break;
	}
	pipeline_leave(s);
	return (0);
}

/* Send query ${q} into the pipeline (or, unbounded, nothing). */
static int
send_one(struct store *s, const struct store_pq_query *q)
{

	if (q->name != NULL)
		return (PQsendQueryPrepared(s->conn, q->name, q->n, q->values,
		    q->lengths, q->formats, q->result_format));
	return (PQsendQueryParams(s->conn, q->sql, q->n, NULL, q->values,
	    q->lengths, q->formats, q->result_format));
}

/* Run query ${q} on its own (no deadline, or no pipeline). */
static PGresult *
exec_one(struct store *s, const struct store_pq_query *q)
{

	if (q->name != NULL)
		return (store_pq_exec_prepared(s, q->name, q->n, q->values,
		    q->lengths, q->formats, q->result_format));
	return (store_pq_exec_params(s, q->sql, q->n, q->values, q->lengths,
	    q->formats, q->result_format));
}

static int
succeeded(const PGresult *r)
{

	return (PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK);
}

int
store_pq_pipeline(struct store *s, const struct store_pq_query *q, int nq,
    PGresult **res)
{
	int i;

	for (i = 0; i < nq; i++)
		res[i] = NULL;
	if (bounded(s) && PQenterPipelineMode(s->conn) == 1) {
		for (i = 0; i < nq; i++)
			if (!send_one(s, &q[i]))
				break;
		if (i == nq && PQpipelineSync(s->conn))
			return (await_pipeline(s, res, nq));
		pipeline_leave(s);
		res[0] = PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR);
		return (0);
	}

	/* One after the other, up to the first that fails. */
	for (i = 0; i < nq; i++) {
		res[i] = exec_one(s, &q[i]);
		if (s->timed_out) {
			while (i >= 0)
				PQclear(res[i--]);
			for (i = 0; i < nq; i++)
				res[i] = NULL;
			return (-1);
		}
		if (!succeeded(res[i]))
			break;
	}
	return (0);
}

PGresult *
store_pq_begin_prepared(struct store *s, const char *name, int n,
    const char *const *values, const int *lengths, const int *formats,
    int result_format, int *begun)
{
	struct store_pq_query q[2] = {
		{ .sql = "BEGIN" },
		{ .name = name, .n = n, .values = values, .lengths = lengths,
		  .formats = formats, .result_format = result_format },
	};
	PGresult *res[2];

	*begun = 0;
	if (store_pq_pipeline(s, q, 2, res))
		return (NULL);
	*begun = res[0] != NULL && PQresultStatus(res[0]) == PGRES_COMMAND_OK;
	if (!*begun) {
		/* BEGIN's failure; the statement was not run. */
		PQclear(res[1]);
		return (res[0] != NULL ? res[0] :
		    PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR));
	}
	PQclear(res[0]);
	return (res[1] != NULL ? res[1] :
	    PQmakeEmptyPGresult(s->conn, PGRES_FATAL_ERROR));
}
