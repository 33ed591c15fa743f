/*
 * store.c: the PostgreSQL connection of one worker, its prepared statements,
 * transactions and the migration runner.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpqtypes.h>

#include "store_internal.h"

/* Any 64-bit constant will do; all servers must use the same one. */
#define MIGRATION_LOCK_KEY "7165431098451227648"

/*
 * Did ${res} fail because the connection is gone?  libpq's own errors (a
 * write to a closed socket, say) carry no SQLSTATE and may come before it
 * marks the connection bad; the server's say 08xxx or 57Pxx.
 */
int
store_conn_lost(const PGresult *res)
{
	const char *state;

	if (res == NULL || PQresultStatus(res) != PGRES_FATAL_ERROR)
		return (res == NULL);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return (state == NULL || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0);
}

/*
 * Nonzero for the SQLSTATEs of a database that cannot serve now through no
 * fault of the request: insufficient resources (53: a full disk, out of
 * memory, too many connections) and system errors (58: I/O).  A caller may
 * retry later, so they are ServiceUnavailable, not an internal error.
 */
static int
cannot_serve(const char *state)
{

	return (strncmp(state, "53", 2) == 0 || strncmp(state, "58", 2) == 0);
}

/* Failures that left the database unreachable, for /metrics. */
static atomic_uint_fast64_t unavailable;

uint64_t
store_unavailable_total(void)
{

	return (atomic_load_explicit(&unavailable, memory_order_relaxed));
}

/*
 * The error a statement raised on purpose, by its SQLSTATE: the quotas
 * that held statements check themselves (coffer_labels_within, migration
 * 0019; coffer_tags_within, 0021), whose message is the one to give.
 */
static enum cf_code
own_error(const char *state)
{

	if (strcmp(state, "CF001") == 0)
		return (CF_ERR_LIMIT_EXCEEDED);
	if (strcmp(state, "CF002") == 0)
		return (CF_ERR_INVALID_PARAMETER);
	return (CF_OK);
}

void
store_fail(struct store *s, const PGresult *res, const char *what,
    struct cf_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	char buf[300];
	size_t n;

	/* Keep the first line of the server's message, without its newline. */
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(s->conn);
	snprintf(buf, sizeof(buf), "%s", msg ? msg : "unknown error");
	n = strcspn(buf, "\n");
	buf[n] = '\0';

	/* Not a failure of the call: its caller tries the other way. */
	s->basis_changed = state != NULL && strcmp(state, "CF003") == 0;
	if (s->timed_out)
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the database did not "
		    "answer within %d ms while %s", s->deadline_ms, what);
	else if (PQstatus(s->conn) != CONNECTION_OK || store_conn_lost(res))
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "database unavailable while %s: %s", what, buf);
	else if (state != NULL && strcmp(state, "57014") == 0 &&
	    s->timeout_now > 0)
		cf_error_set(err, CF_ERR_TIMEOUT, "the request took longer "
		    "than its %d ms bound while %s; narrow it (more selective "
		    "filters, a smaller MaxResults)", s->timeout_now, what);
	else if (state != NULL && strcmp(state, "57014") == 0)
		cf_error_set(err, CF_ERR_TIMEOUT, "the database cancelled the "
		    "query while %s", what);
	else if (state != NULL && cannot_serve(state))
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "database cannot serve while %s: %s", what, buf);
	else if (state != NULL && own_error(state) != CF_OK &&
	    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) != NULL)
		/* A quota a held statement checks itself: its own words. */
		cf_error_set(err, own_error(state), "%s",
		    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	else if (state != NULL && strcmp(state, "23505") == 0)
		cf_error_set(err, CF_ERR_RESOURCE_EXISTS,
		    "duplicate row while %s", what);
	else if (state != NULL && (strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0))
		cf_error_set(err, CF_ERR_THROTTLING,
		    "concurrent update while %s, retry: %s", what, buf);
	else
		cf_error_set(err, CF_ERR_INTERNAL, "database error while %s: %s",
		    what, buf);
	if (err != NULL && err->code == CF_ERR_UNAVAILABLE)
		atomic_fetch_add_explicit(&unavailable, 1,
		    memory_order_relaxed);
}

int
store_just_answered(const struct store *s)
{

	return (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK &&
	    s->answered_ms != 0 &&
	    cf_mono_ms() - s->answered_ms < STORE_ANSWERED_MS);
}

int
store_basis_changed(const struct store *s)
{

	return (s->basis_changed);
}

/* Server notices (e.g. "already exists, skipping") are not errors. */
static void
quiet(void *arg, const char *message)
{

	(void)arg;
	(void)message;
}

void
store_quiet_notices(PGconn *conn)
{

	/*
	 * libpq's default prints them on stderr, outside the log's format
	 * (a JSON log would get a line that is not JSON).
	 */
	if (conn != NULL)
		PQsetNoticeProcessor(conn, quiet, NULL);
}

/* Prepare every statement on a fresh connection. */
static int
prepare_all(struct store *s, struct cf_error *err)
{
	PGresult *res;
	char name[16];
	int i;

	for (i = 0; i < ST__COUNT; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		res = store_pq_prepare(s, name, store_stmt_defs[i].sql,
		    store_stmt_defs[i].nparams);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			store_fail(s, res, "preparing statements", err);
			PQclear(res);
			return (-1);
		}
		PQclear(res);
	}
	return (0);
}

static int connect_db(struct store *, struct cf_error *);

/*
 * Give the session the statement_timeout of the class the next statement
 * belongs to, if it has another.  A SET inside a transaction is undone by
 * its rollback, so the transaction's end forgets what the session has.  A
 * connection found dead outside a transaction is reopened (${reopen}),
 * which sets the timeout itself.
 */
int
store_timeout_apply(struct store *s, int reopen, struct cf_error *err)
{
	int want = s->timeout_ms[s->tclass], ok;
	char sql[64];
	PGresult *res;

	if (!s->timeouts_on || s->timeout_now == want)
		return (0);
	snprintf(sql, sizeof(sql), "SET statement_timeout = %d", want);
	res = store_pq_exec(s, sql);
	if ((ok = PQresultStatus(res) == PGRES_COMMAND_OK) == 0) {
		/* (Not after a missed deadline: as retry() says.) */
		if (reopen && !s->in_tx && !s->timed_out &&
		    (PQstatus(s->conn) != CONNECTION_OK || store_conn_lost(res))) {
			PQclear(res);
			return (connect_db(s, err));
		}
		store_fail(s, res, "setting statement_timeout", err);
	}
	PQclear(res);
	if (!ok)
		return (-1);
	s->timeout_now = want;
	s->timeout_in_tx |= s->in_tx;
	return (0);
}

/* The transaction ended: a SET made inside it may have been undone. */
static void
timeout_tx_end(struct store *s)
{

	if (s->timeout_in_tx)
		s->timeout_now = -1;
	s->timeout_in_tx = 0;
}

void
store_set_deadline(struct store *s, int ms)
{

	s->deadline_ms = ms < 0 ? 0 : ms;
}

void
store_set_timeouts(struct store *s, int def_ms, int list_ms)
{

	s->timeouts_on = 1;
	s->timeout_ms[STORE_TIMEOUT_DEFAULT] = def_ms < 0 ? 0 : def_ms;
	s->timeout_ms[STORE_TIMEOUT_LIST] = list_ms < 0 ? 0 : list_ms;
	s->timeout_now = -1;
}

void
store_timeout_class(struct store *s, enum store_timeout_class c)
{

	s->tclass = c;
}

/*
 * libpq's connection options that come before the caller's conninfo (which
 * may override them): TCP keepalives and a TCP user timeout, so a database
 * host that vanished (powered off, cut off by a firewall) is noticed in
 * about a minute instead of the kernel's two hours.
 */
static const char *const conn_keys[] = { "keepalives", "keepalives_idle",
    "keepalives_interval", "keepalives_count", "tcp_user_timeout",
    "connect_timeout", "dbname", NULL };
static const char *const conn_defaults[] = { "1", "30", "10", "3", "60000",
    NULL };

/* Open (or reopen) the connection and prepare statements. */
/*
 * Why a connection failed, on one line.  With several hosts in the
 * conninfo (a primary and its standbys) libpq writes one line per host
 * tried, each with its hint on an indented line; an operator needs all of
 * them, so the lines are joined with "; " rather than cut at the first.
 */
static void
connect_error(const PGconn *conn, struct cf_error *err)
{
	const char *msg = conn != NULL ? PQerrorMessage(conn) : "out of memory";
	char buf[400];
	size_t n = 0;

	for (; *msg != '\0' && n + 3 < sizeof(buf); msg++) {
		if (*msg == '\n' || *msg == '\t') {
			while (msg[1] == '\n' || msg[1] == '\t')
				msg++;
			if (n > 0 && msg[1] != '\0') {
				buf[n++] = ';';
				buf[n++] = ' ';
			}
			continue;
		}
		buf[n++] = *msg;
	}
	buf[n] = '\0';
	cf_error_set(err, CF_ERR_UNAVAILABLE,
	    "could not connect to the database: %s", buf);
}

static int
connect_db(struct store *s, struct cf_error *err)
{
	const char *values[sizeof(conn_keys) / sizeof(conn_keys[0])];
	char connect_s[16];
	size_t i;

	/*
	 * connect_timeout bounds a connect as the deadline bounds a statement
	 * (libpq counts whole seconds, and 1 would be too short to mean it).
	 */
	snprintf(connect_s, sizeof(connect_s), "%d", s->deadline_ms > 0 ?
	    (s->deadline_ms + 999) / 1000 < 2 ? 2 : (s->deadline_ms + 999) /
	    1000 : 0);
	for (i = 0; conn_keys[i + 1] != NULL; i++)
		values[i] = conn_defaults[i] != NULL ? conn_defaults[i] :
		    connect_s;
	values[i++] = s->conninfo;
	values[i] = NULL;
	if (s->conn == NULL) {
		s->conn = PQconnectdbParams(conn_keys, values, 1);
		/*
		 * libpqtypes reads arrays (store_col_labels) from this
		 * connection's results: its handlers ride on an event
		 * procedure, registered on each new PGconn (whatever its
		 * status) and kept by PQreset.
		 */
		if (s->conn != NULL && !PQinitTypes(s->conn)) {
			cf_error_set(err, CF_ERR_INTERNAL, "libpqtypes: %s",
			    PQgeterror());
			PQfinish(s->conn);
			s->conn = NULL;
			return (-1);
		}
	} else
		PQreset(s->conn);
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		connect_error(s->conn, err);
		return (-1);
	}
	s->in_tx = 0;
	s->timeout_now = -1;
	s->timeout_in_tx = 0;
	store_quiet_notices(s->conn);
	if (store_timeout_apply(s, 0, err))
		return (-1);
	return (s->plain ? 0 : prepare_all(s, err));
}

struct store *
store_connect(const char *conninfo, struct cf_error *err)
{
	struct store *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto err0;
	if ((s->conninfo = strdup(conninfo)) == NULL)
		goto err1;
	s->deadline_ms = STORE_DEADLINE_MS_DEFAULT;
	if (connect_db(s, err))
		goto err2;

	/* Success! */
	return (s);

err2:
	store_free(s);
	return (NULL);
err1:
	free(s);
err0:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	/* Failure! */
	return (NULL);
}

void
store_free(struct store *s)
{

	if (s == NULL)
		return;
	if (s->conn != NULL)
		PQfinish(s->conn);
	store_held_free(s);
	free(s->conninfo);
	free(s);
}

/*
 * A connection that died since its last use (a restarted server, a killed
 * backend) is only noticed when a statement fails.  Outside a transaction
 * nothing was lost: reconnect, and return 1 so the caller runs the
 * statement once more (with *res cleared; NULL if reconnecting failed).
 */
static int
retry(struct store *s, PGresult **res, ExecStatusType expect,
    struct cf_error *err)
{

	/* (A statement that missed the deadline is not tried again.) */
	if (PQresultStatus(*res) == expect || s->in_tx || s->timed_out ||
	    (PQstatus(s->conn) == CONNECTION_OK && !store_conn_lost(*res)))
		return (0);
	PQclear(*res);
	*res = NULL;
	if (connect_db(s, err) == 0)
		*res = PQmakeEmptyPGresult(s->conn, PGRES_EMPTY_QUERY);
	return (1);
}

int
store_reopen(struct store *s, int force, struct cf_error *err)
{

	if (!force && PQstatus(s->conn) == CONNECTION_OK)
		return (0);
	if (s->in_tx) {
		cf_error_set(err, CF_ERR_UNAVAILABLE,
		    "database connection lost during a transaction");
		return (-1);
	}
	return (connect_db(s, err));
}

int
store_ready(struct store *s, struct cf_error *err)
{

	if (s->n_held > 0)
		return (store_held_flush(s, err));
	if (s->begin_pending)
		return (store_begin_flush(s, err));
	return (store_reopen(s, 0, err));
}

/*
 * A prepared statement; the transaction's first carries its BEGIN along
 * (store_begin): one round trip instead of two.
 */
static PGresult *
send_prepared(struct store *s, const char *name, int n,
    const char *const *values, const int *lengths, const int *formats,
    int binary)
{
	PGresult *res;
	int begun;

	if (!s->begin_pending)
		return (store_pq_exec_prepared(s, name, n, values, lengths,
		    formats, binary));
	res = store_pq_begin_prepared(s, name, n, values, lengths, formats,
	    binary, &begun);
	if (begun) {
		s->begin_pending = 0;
		s->in_tx = 1;
	}
	return (res);
}

PGresult *
store_exec(struct store *s, enum store_stmt stmt, int n,
    const char *const *values, const int *lengths, const int *formats,
    int binary, ExecStatusType expect, struct cf_error *err)
{
	PGresult *res;
	char name[16];

	/* A connection lost between transactions is reopened here. */
	if (store_reopen(s, 0, err) || store_timeout_apply(s, 1, err))
		return (NULL);

	snprintf(name, sizeof(name), "s%d", (int)stmt);
	/* Held changes go first, in the same round trip. */
	if (s->n_held > 0) {
		struct store_pq_query q = { .name = name, .n = n,
		    .values = values, .lengths = lengths, .formats = formats,
		    .result_format = binary };

		if (store_held_send(s, &q, 1, &res, err) != STORE_HELD_SENT)
			return (NULL);
		if (PQresultStatus(res) != expect) {
			store_fail(s, res, "running a query", err);
			PQclear(res);
			return (NULL);
		}
		return (res);
	}
	res = send_prepared(s, name, n, values, lengths, formats, binary);

	/* (A pending BEGIN that did not get through is sent again too.) */
	if (retry(s, &res, expect, err)) {
		if (res == NULL)
			return (NULL);
		PQclear(res);
		res = send_prepared(s, name, n, values, lengths, formats,
		    binary);
	}
	if (PQresultStatus(res) != expect) {
		store_fail(s, res, "running a query", err);
		PQclear(res);
		return (NULL);
	}
	s->answered_ms = cf_mono_ms();
	return (res);
}

PGresult *
store_exec_params(struct store *s, const char *sql, int n,
    const char *const *values, const int *lengths, const int *formats,
    int may_retry, ExecStatusType expect, const char *what,
    struct cf_error *err)
{
	PGresult *res;

	if (store_held_flush(s, err) || store_begin_flush(s, err))
		return (NULL);
	if (PQstatus(s->conn) != CONNECTION_OK && !s->in_tx &&
	    connect_db(s, err))
		return (NULL);
	if (store_timeout_apply(s, may_retry, err))
		return (NULL);
	res = store_pq_exec_params(s, sql, n, values, lengths, formats, 0);
	if (may_retry && retry(s, &res, expect, err)) {
		if (res == NULL)
			return (NULL);
		PQclear(res);
		res = store_pq_exec_params(s, sql, n, values, lengths,
		    formats, 0);
	}
	if (PQresultStatus(res) != expect) {
		store_fail(s, res, what, err);
		PQclear(res);
		return (NULL);
	}
	return (res);
}

int
store_exec_rows(struct store *s, const char *sql, int n,
    const char *const *values, const char *what, int *rows,
    struct cf_error *err)
{
	PGresult *res;

	if ((res = store_exec_params(s, sql, n, values, NULL, NULL, 0,
	    PGRES_COMMAND_OK, what, err)) == NULL)
		return (-1);
	if (rows != NULL)
		*rows = atoi(PQcmdTuples(res));
	PQclear(res);
	return (0);
}

PGresult *
store_exec_sql(struct store *s, const char *sql, int n,
    const char *const *values, struct cf_error *err)
{

	return (store_exec_params(s, sql, n, values, NULL, NULL, 1,
	    PGRES_TUPLES_OK, "searching secrets", err));
}

/* Run a parameterless command on a connection. */
static int
simple(struct store *s, const char *sql, struct cf_error *err)
{
	PGresult *res;
	int rc = 0;

	if (PQstatus(s->conn) != CONNECTION_OK && !s->in_tx &&
	    connect_db(s, err))
		return (-1);
	if (store_timeout_apply(s, 1, err))
		return (-1);
	res = store_pq_exec(s, sql);
	if (strncmp(sql, "SELECT", 6) == 0 ?
	    retry(s, &res, PGRES_TUPLES_OK, err) :
	    retry(s, &res, PGRES_COMMAND_OK, err)) {
		if (res == NULL)
			return (-1);
		PQclear(res);
		res = store_pq_exec(s, sql);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		store_fail(s, res, "running a command", err);
		rc = -1;
	}
	PQclear(res);
	return (rc);
}

int
store_ping(struct store *s)
{
	struct cf_error err;

	if (store_begin_flush(s, &err))
		return (-1);
	return (simple(s, "SELECT 1", &err));
}

int
store_begin(struct store *s, struct cf_error *err)
{

	/*
	 * Not sent yet: the transaction's first statement takes it along
	 * (send_prepared), or store_begin_flush sends it alone.
	 */
	(void)err;
	s->begin_pending = 1;
	s->basis_changed = 0;
	return (0);
}

int
store_begin_flush(struct store *s, struct cf_error *err)
{

	if (!s->begin_pending)
		return (0);
	s->begin_pending = 0;
	if (simple(s, "BEGIN", err))
		return (-1);
	s->in_tx = 1;
	return (0);
}

int
store_lock_name(struct store *s, const char *name, struct cf_error *err)
{
	const char *v[1] = { name };
	PGresult *r;

	if ((r = store_exec_params(s, "SELECT pg_advisory_xact_lock("
	    "hashtextextended($1, 0))", 1, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    "taking a lock", err)) == NULL)
		return (-1);
	PQclear(r);
	return (0);
}

int
store_commit(struct store *s, struct cf_error *err)
{
	int rc;

	/* Held changes and the COMMIT: one round trip (BEGIN first). */
	if (s->n_held > 0) {
		struct store_pq_query q = { .sql = "COMMIT" };
		PGresult *res;

		if (store_begin_flush(s, err)) {
			store_rollback(s);
			return (-1);
		}

		switch (store_held_send(s, &q, 1, &res, err)) {
		case STORE_HELD_SENT:
			rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
			if (rc)
				store_fail(s, res, "committing", err);
			PQclear(res);
			store_tx_ended(s);
			return (rc);
		case STORE_HELD_REFUSED:
			store_rollback(s);
			return (-1);
		case STORE_HELD_LOST:
			store_tx_ended(s);
			return (-1);
		}
	}

	/* Nothing was sent: nothing to commit. */
	if (s->begin_pending) {
		store_tx_ended(s);
		return (0);
	}
	rc = simple(s, "COMMIT", err);
	store_tx_ended(s);
	return (rc);
}

void
store_tx_ended(struct store *s)
{

	s->begin_pending = 0;
	s->in_tx = 0;
	timeout_tx_end(s);
	store_held_drop(s);
}

void
store_rollback(struct store *s)
{
	PGresult *res;

	s->begin_pending = 0;
	store_held_drop(s);
	if (!s->in_tx)
		return;
	s->in_tx = 0;
	timeout_tx_end(s);
	if (PQstatus(s->conn) != CONNECTION_OK)
		return;
	res = store_pq_exec(s, "ROLLBACK");
	PQclear(res);
}

/* Has migration ${name} been applied?  STORE_FOUND if so. */
static enum store_lookup
migration_applied(struct store *s, const char *name, struct cf_error *err)
{
	const char *v[1] = { name };
	PGresult *res;
	enum store_lookup found;

	res = PQexecParams(s->conn,
	    "SELECT 1 FROM schema_migrations WHERE version = $1",
	    1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		store_fail(s, res, "reading schema_migrations", err);
		PQclear(res);
		return (STORE_ERROR);
	}
	found = PQntuples(res) > 0 ? STORE_FOUND : STORE_NOT_FOUND;
	PQclear(res);
	return (found);
}

/* Apply one migration and record it, in one transaction. */
static int
migration_apply(struct store *s, const struct store_migration *m,
    struct cf_error *err)
{
	const char *v[1] = { m->name };
	PGresult *res;

	if (store_begin(s, err) || store_begin_flush(s, err))
		return (-1);
	res = PQexec(s->conn, m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		store_fail(s, res, "applying a migration", err);
		snprintf(err->msg + strlen(err->msg),
		    sizeof(err->msg) - strlen(err->msg), " (%s)%s", m->name,
		    strstr(err->msg, "permission denied") != NULL ||
		    strstr(err->msg, "must be owner") != NULL ?
		    "; run `cofferd migrate` as the database owner "
		    "(admin_database)" : "");
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	res = PQexecParams(s->conn,
	    "INSERT INTO schema_migrations (version) VALUES ($1)",
	    1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		store_fail(s, res, "recording a migration", err);
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	return (store_commit(s, err));

fail:
	store_rollback(s);
	return (-1);
}

int
store_migrate(const char *conninfo, int *out_applied, struct cf_error *err)
{
	struct store s = { .plain = 1 };
	const struct store_migration *m;
	enum store_lookup rc;
	int applied = 0;

	/* A plain connection: the statements need the schema we create. */
	s.conn = PQconnectdb(conninfo);
	if (s.conn != NULL)
		store_quiet_notices(s.conn);
	if (PQstatus(s.conn) != CONNECTION_OK) {
		connect_error(s.conn, err);
		goto fail;
	}

	/* Serialize with other servers migrating the same database. */
	if (simple(&s, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", err))
		goto fail;
	/* (cofferd's own role may not CREATE: only make the table if missing.) */
	if (simple(&s, "DO $$ BEGIN IF to_regclass('schema_migrations') IS NULL "
	    "THEN CREATE TABLE schema_migrations ("
	    "version text PRIMARY KEY, "
	    "applied_at timestamptz NOT NULL DEFAULT now()); END IF; END $$",
	    err))
		goto unlock;

	/* Apply, in order, what is not recorded yet. */
	for (m = store_migrations; m->name != NULL; m++) {
		if ((rc = migration_applied(&s, m->name, err)) == STORE_ERROR)
			goto unlock;
		if (rc == STORE_FOUND)
			continue;
		if (migration_apply(&s, m, err))
			goto unlock;
		applied++;
	}

	(void)simple(&s, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", err);
	PQfinish(s.conn);
	if (out_applied != NULL)
		*out_applied = applied;

	/* Success! */
	return (0);

unlock:
	/* Closing the session releases the advisory lock as well. */
fail:
	PQfinish(s.conn);
	/* Failure! */
	return (-1);
}
