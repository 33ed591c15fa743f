/*
 * store_internal.h: what the files of store/ share.
 *
 * store.c	connections, transactions, timeouts, migrations, store_exec
 * store_pq.c	libpq calls bounded by cofferd's own deadline
 * store_stmt.c	the SQL of the prepared statements and the small runners
 * store_row.c	rows to structs
 * store_secret.c, store_version.c, store_tag.c, store_search.c,
 * store_audit.c, store_policy.c, store_rotation.c
 *		the statements of each table or concern
 * store_listen.c	the LISTEN connection
 */
#ifndef COFFER_STORE_INTERNAL_H
#define COFFER_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "store.h"

struct store_migration {
	const char *name;
	const char *sql;
};

/* Generated from the migrations directory; ends with { NULL, NULL }. */
extern const struct store_migration store_migrations[];

/* The prepared statements; their SQL is in store_stmt.c. */
enum store_stmt {
	ST_SECRET_BY_NAME,
	ST_SECRET_STAGES_BY_NAME,
	ST_SECRET_STAGES_BY_ARN,
	ST_SECRET_BY_NAME_LOCK,
	ST_VERSION_BY_NAME_ID,
	ST_VERSION_BY_ARN_ID,
	ST_PUT_BASIS_BY_NAME,
	ST_PUT_BASIS_BY_ARN,
	ST_REKEY_BASIS_BY_NAME,
	ST_REKEY_BASIS_BY_ARN,
	ST_PUT_LOCK,
	ST_PUT_UNCHANGED,
	ST_REKEY_UNCHANGED,
	ST_STAGE_STATE_BY_NAME,
	ST_STAGE_STATE_BY_ARN,
	ST_SECRET_BY_ARN,
	ST_SECRET_BY_ARN_LOCK,
	ST_SECRET_INSERT,
	ST_SECRET_TOUCH_CHANGED,
	ST_SECRET_SET_POLICY,
	ST_SECRET_TOUCH_ACCESSED,
	ST_VERSION_TOUCH_ACCESSED,
	ST_PAGE_ASC_FIRST,
	ST_PAGE_ASC_AFTER,
	ST_PAGE_DESC_FIRST,
	ST_PAGE_DESC_AFTER,
	ST_VERSION_BY_ID,
	ST_VERSION_BY_STAGE,
	ST_VERSION_INSERT,
	ST_STAGE_MOVE,
	ST_STAGES,
	ST_TAG_PUT,
	ST_TAGS,
	ST_SECRET_UPDATE_META,
	ST_SECRET_SCHEDULE_DELETE,
	ST_SECRET_RESTORE,
	ST_SECRET_DELETE,
	ST_PURGE_CLAIM,
	ST_PURGE_DELETE,
	ST_VERSIONS_FIRST,
	ST_VERSIONS_AFTER,
	ST_VERSION_EXISTS,
	ST_VERSION_FILL,
	ST_VERSION_RESEAL,
	ST_VERSIONS_SEALED,
	ST_STAGE_HOLDER,
	ST_STAGE_REMOVE,
	ST_STAGE_SET,
	ST_TAG_REMOVE,
	ST_TAGS_WITHIN,
	ST_SERVER_KEY,
	ST_STAGED_BY_NAME,
	ST_STAGED_BY_ARN,
	ST_VERSIONED_BY_NAME,
	ST_VERSIONED_BY_ARN,
	ST_SECRET_BY_UUID,
	ST_VERSIONS_SETTLE,
	ST_VERSION_ADD,
	ST_AUDIT_INSERT,
	ST_AUDIT_INSERT_TOUCH,
	ST__COUNT
};

struct store_stmt_def {
	const char *sql;
	int nparams;
};
extern const struct store_stmt_def store_stmt_defs[ST__COUNT];

struct store {
	PGconn *conn;
	char *conninfo;
	int in_tx;
	int begin_pending;	/* store_begin's BEGIN, not yet sent: it goes
				   with the transaction's first statement */
	int plain;		/* no prepared statements (the migrator) */
	int timeouts_on;	/* store_set_timeouts was called */
	int timeout_ms[STORE_TIMEOUT__COUNT];
	enum store_timeout_class tclass; /* what the next statement is */
	int timeout_now;	/* the session's statement_timeout; -1: unknown */
	int timeout_in_tx;	/* set inside the open transaction */
	int deadline_ms;	/* cofferd's own bound on a statement and a
				   connect (store_pq.c); 0: none */
	int timed_out;		/* the last statement missed it */
	int defer;		/* store_defer_writes: hold what can wait */
	int basis_changed;	/* the last failure was SQLSTATE CF003 */
	int64_t answered_ms;	/* cf_mono_ms of store_exec's last answer */
	struct store_held *held;	/* held changes, in order */
	size_t n_held, cap_held;
};

/* ---- store_held.c: changes sent with the next answer needed ------------- */

#define STORE_HELD_MAX_PARAMS 16

struct store_pq_query;

/* A change held back (store_defer_writes), with copies of its parameters. */
struct store_held {
	char name[16];		/* its prepared statement's name, "sN" */
	int n;
	const char *values[STORE_HELD_MAX_PARAMS];
	int lengths[STORE_HELD_MAX_PARAMS];
	int formats[STORE_HELD_MAX_PARAMS];
	ExecStatusType expect;	/* its status when it succeeds */
	char *copy;		/* the parameters' bytes */
	int64_t *scalar;	/* its one int8 answer goes here, once sent */
};

/*
 * store_hold(s, stmt, n, values, lengths, formats, expect, err):
 * Keep statement ${stmt} and a copy of its parameters, to be sent before
 * anything else the transaction sends.  0, or -1 with ${err}.
 */
int store_hold(struct store *, enum store_stmt, int, const char *const *,
    const int *, const int *, ExecStatusType, struct cf_error *);

/*
 * store_hold_scalar(s, stmt, n, values, out, err):
 * store_hold for a statement whose one answer, a text int8 in its first
 * row (0 if it returns none), the caller needs only after the commit: it
 * is written to *${out} when the statement is sent, which must outlive
 * the transaction.  0, or -1 with ${err}.
 */
int store_hold_scalar(struct store *, enum store_stmt, int,
    const char *const *, int64_t *, struct cf_error *);

/* What became of the held changes. */
enum store_held_end {
	STORE_HELD_SENT,	/* all ran; the tail's answers are the caller's */
	STORE_HELD_REFUSED,	/* the server refused BEGIN or one of them:
				   nothing after it ran, nothing committed */
	STORE_HELD_LOST		/* no answer: the connection or the deadline
				   went, with whatever the tail did */
};

/*
 * store_held_send(s, tail, ntail, tres, err):
 * The pending BEGIN, the held changes and then the ${ntail} queries of
 * ${tail} in one round trip; tres[i] is tail[i]'s answer when the held
 * ones were SENT (NULL otherwise).  ${err} is set unless SENT.  The held
 * changes are gone afterwards, whatever happened.
 */
enum store_held_end store_held_send(struct store *,
    const struct store_pq_query *, int, PGresult **, struct cf_error *);

/*
 * store_held_flush(s, err): send the held changes (and a pending BEGIN) on
 * their own, before a statement that does not go through store_exec.
 * 0, or -1 with ${err} (the transaction has failed: roll it back).
 */
int store_held_flush(struct store *, struct cf_error *);

/* store_held_drop(s): forget the held changes (the transaction ended). */
void store_held_drop(struct store *);

/* store_held_free(s): and the memory that held them. */
void store_held_free(struct store *);

/*
 * store_reopen(s, force, err): a connection lost (or, with ${force}, one
 * whose last answer said it was lost) outside a transaction is opened
 * again; inside one, that is an error (ServiceUnavailable).  0 or -1.
 */
int store_reopen(struct store *, int, struct cf_error *);

/*
 * store_conn_lost(res): nonzero if ${res} (NULL: no answer) says the
 * connection is gone (SQLSTATE class 08, or 57P: the server shut it).
 */
int store_conn_lost(const PGresult *);

/*
 * store_timeout_apply(s, reopen, err): give the session the
 * statement_timeout of the next statement's class (store.c).
 */
int store_timeout_apply(struct store *, int, struct cf_error *);

/*
 * store_pq_exec(s, sql), store_pq_exec_params(s, sql, n, values, lengths,
 *     formats, result_format), store_pq_exec_prepared(s, name, ...),
 * store_pq_prepare(s, name, sql, nparams):
 * PQexec, PQexecParams, PQexecPrepared and PQprepare on ${s}'s
 * connection, waited for at most s->deadline_ms.  A statement that misses
 * it closes the connection (s->conn NULL, s->timed_out set) and returns
 * NULL; store_fail then says so (ServiceUnavailable).
 */
PGresult *store_pq_exec(struct store *, const char *);
PGresult *store_pq_exec_params(struct store *, const char *, int,
    const char *const *, const int *, const int *, int);
PGresult *store_pq_exec_prepared(struct store *, const char *, int,
    const char *const *, const int *, const int *, int);
PGresult *store_pq_prepare(struct store *, const char *, const char *, int);

/*
 * store_pq_begin_prepared(s, name, n, values, lengths, formats,
 *     result_format, begun):
 * BEGIN and store_pq_exec_prepared's statement in one round trip (libpq's
 * pipeline mode): the statement's result, or BEGIN's if BEGIN failed;
 * *${begun} says whether the transaction is open.  Without a deadline,
 * or if libpq will not pipeline, the two are sent one after the other.
 */
PGresult *store_pq_begin_prepared(struct store *, const char *, int,
    const char *const *, const int *, const int *, int, int *);

/* One query of a pipeline: a prepared statement (${name}) or ${sql}. */
struct store_pq_query {
	const char *name;
	const char *sql;
	int n;
	const char *const *values;
	const int *lengths;
	const int *formats;
	int result_format;
};

/*
 * store_pq_pipeline(s, q, nq, res):
 * The queries ${q}[0..${nq}) in one round trip (libpq's pipeline mode, one
 * sync); res[i] is query i's result (NULL if none came).  After a query
 * fails the server skips the rest (PGRES_PIPELINE_ABORTED).  Without a
 * deadline, or if libpq will not pipeline, they run one after the other
 * up to the first that fails (the rest NULL).  0, or -1 when the deadline
 * passed (the connection is then closed, every res[i] NULL).
 */
int store_pq_pipeline(struct store *, const struct store_pq_query *, int,
    PGresult **);

/* store_tx_ended(s): the transaction ended by other means than COMMIT/ROLLBACK. */
void store_tx_ended(struct store *);

/*
 * store_just_answered(s): whether ${s}'s connection answered a statement
 * (store_exec) less than STORE_ANSWERED_MS ago.  A transaction that
 * begins right after such a read (a Put's basis, a Create's name) may
 * send its BEGIN with its COMMIT: the failure that a lone BEGIN is sent
 * first to catch, a connection that died while idle (a failover since
 * it was last used), has just been ruled out, and a connection that dies
 * in between leaves the outcome unknown, as one that dies after BEGIN
 * would.
 */
#define STORE_ANSWERED_MS 1000
int store_just_answered(const struct store *);

/*
 * store_begin_flush(s, err): send a pending BEGIN on its own, before a
 * statement that does not go through store_exec.  0, or -1 with ${err}.
 */
int store_begin_flush(struct store *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_exec(s, stmt, n, values, lengths, formats, binary, expect, err):
 * Run prepared statement ${stmt}; ${lengths}/${formats} may be NULL for all
 * text parameters.  Returns the result if its status is ${expect}, else
 * NULL with ${err} set (the result is cleared).  Reconnects first if the
 * connection was lost outside a transaction.
 */
PGresult *store_exec(struct store *, enum store_stmt, int,
    const char *const *, const int *, const int *, int, ExecStatusType,
    struct cf_error *);

/*
 * store_exec_params(s, sql, n, values, lengths, formats, may_retry, expect,
 *     what, err):
 * Run a one-off parameterised statement (text results); with ${may_retry}
 * it is run again once on a connection found dead outside a transaction.
 * NULL with ${err} set ("... while ${what}") unless the status is ${expect}.
 */
PGresult *store_exec_params(struct store *, const char *, int,
    const char *const *, const int *, const int *, int, ExecStatusType,
    const char *, struct cf_error *);

/* A timestamp column as milliseconds since the epoch (int8, text results). */
#define MS(c) "floor(extract(epoch FROM " c ") * 1000)::int8"

/*
 * store_exec_rows(s, sql, n, values, what, rows, err):
 * Run a one-off parameterised change (text parameters) inside the caller's
 * transaction, never retried; *${rows} (may be NULL) gets the number of
 * rows it touched.  0, or -1 with ${err} ("... while ${what}").
 */
int store_exec_rows(struct store *, const char *, int, const char *const *,
    const char *, int *, struct cf_error *);

/*
 * store_ready(s, err): reconnect (and prepare) if the connection is gone
 * and no transaction is open; 0, or -1 with ${err}.
 */
int store_ready(struct store *, struct cf_error *);

/*
 * store_exec_sql(s, sql, n, values, err): run a one-off parameterised query
 * (text parameters and results) that returns rows; NULL with ${err} set.
 */
PGresult *store_exec_sql(struct store *, const char *, int,
    const char *const *, struct cf_error *);

/* ---- store_stmt.c: running statements ---------------------------------- */

/*
 * store_hold_or_run(s, stmt, n, values, lengths, formats, expect, err): a
 * statement whose answer the caller does not read (its status ${expect}
 * is all it checks): held under store_defer_writes in a transaction, sent
 * now otherwise; 0 or -1.
 */
int store_hold_or_run(struct store *, enum store_stmt, int,
    const char *const *, const int *, const int *, ExecStatusType,
    struct cf_error *) CF_MUSTCHECK;

/* store_command(s, stmt, n, values, lengths, formats, err): a statement
 * that returns no rows (store_hold_or_run); 0 or -1. */
int store_command(struct store *, enum store_stmt, int, const char *const *,
    const int *, const int *, struct cf_error *);

/*
 * store_scalar(s, stmt, n, values, out, found, err): a query of at most one
 * row and one int8 column: *found says whether a row came, *out is its
 * value (0 if none).  0 or -1.
 */
int store_scalar(struct store *, enum store_stmt, int, const char *const *,
    int64_t *, int *, struct cf_error *);

/*
 * store_pairs(s, arena, stmt, uuids, n_uuids, out, err):
 * Run ${stmt}, whose one parameter is the uuid[] of ${uuids} and whose rows
 * are (uuid, a, b): ${out}->n rows, their a and b in ${out}->first and
 * ->second, the index in ${uuids} of each row's secret in ->owner (all in
 * the arena).  0 or -1.
 */
struct store_pairs {
	const char **first;
	const char **second;
	size_t *owner;
	size_t n;
};
int store_pairs(struct store *, struct cf_arena *, enum store_stmt,
    const char *const *, size_t, struct store_pairs *, struct cf_error *);

/*
 * store_pairs_two(s, arena, stmts, uuids, n_uuids, out, err):
 * store_pairs of two statements over the same secrets in one round trip
 * (one after the other inside a transaction).  0 or -1.
 */
int store_pairs_two(struct store *, struct cf_arena *,
    const enum store_stmt[2], const char *const *, size_t,
    struct store_pairs[2], struct cf_error *);

/* A store_pairs of ST_TAGS as tags, or of ST_STAGES as labels: 0 or -1. */
int store_pairs_tags(struct cf_arena *, const struct store_pairs *,
    struct store_tag **, size_t **, size_t *, struct cf_error *);
int store_pairs_stages(struct cf_arena *, const struct store_pairs *,
    struct store_stage **, size_t **, size_t *, struct cf_error *);

/* ---- store_row.c: rows to structs ---------------------------------------- */

/* The column list of a secret row (store_stmt.c) and how many there are. */
extern const char store_secret_cols[];
#define STORE_SECRET_NCOLS 27

/* store_col_str(arena, res, row, col, oom): a text column as an arena
 * string, NULL for SQL NULL; *${oom} set when out of memory. */
const char *store_col_str(struct cf_arena *, const PGresult *, int, int,
    int *);

/*
 * store_col_hex(arena, res, row, col, out, len): a bytea column sent as
 * encode(..., 'hex') text, decoded into ${arena}; 0, or -1 when it is not
 * hex or memory runs out.
 */
int store_col_hex(struct cf_arena *, const PGresult *, int, int,
    const uint8_t **, size_t *);

/* store_col_i64(res, row, col): a text-format int8 column, 0 for NULL. */
int64_t store_col_i64(const PGresult *, int, int);

/* store_col_bin_int(res, row, col): a binary-format int2, int4 or int8
 * column, 0 for NULL. */
int64_t store_col_bin_int(const PGresult *, int, int);

/* store_decode_secret(arena, res, row, out): row ${row}, a secret's
 * columns, into ${out}; 0, or -1 when out of memory. */
int store_decode_secret(struct cf_arena *, const PGresult *, int,
    struct store_secret *);

/*
 * store_decode_staged(arena, res, out): row 0 of GetSecretValue's read
 * (ST_STAGED_BY_*, ST_VERSIONED_BY_*), its STORE_STAGED_NCOLS secret
 * columns, into ${out}: uuid, name, ARN, resource policy, DeletedDate and LastAccessedDate; the
 * rest zero.  0, or -1 when out of memory.
 */
#define STORE_STAGED_NCOLS 6
int store_decode_staged(struct cf_arena *, const PGresult *,
    struct store_secret *);

/* store_decode_secrets(arena, res, out, n, err): every row of ${res}, a
 * secret each, into an arena array; 0, or -1 with ${err}. */
int store_decode_secrets(struct cf_arena *, const PGresult *,
    struct store_secret **, size_t *, struct cf_error *);

/* store_col_labels(arena, res, row, col, out, n): the text[] in column
 * ${col} of row ${row} (VERSION_LABELS) of a binary-format result, into an
 * arena list; 0 or -1 (out of memory, or not a one-dimensional array of
 * non-NULL strings).  ${res} must come from a connection store_connect
 * made (PQinitTypes: libpqtypes decodes the array). */
int store_col_labels(struct cf_arena *, const PGresult *, int, int,
    const char ***, size_t *);

/* store_decode_version(arena, res, row, col, out): the binary-format
 * version columns of row ${row} that start at ${col}; 0 or -1. */
int store_decode_version(struct cf_arena *, const PGresult *, int, int,
    struct store_version *);

/* store_quiet_notices(conn): the server's notices on ${conn} go nowhere. */
void store_quiet_notices(PGconn *);

/* store_fail(s, res, what, err): set ${err} from a failed result. */
void store_fail(struct store *, const PGresult *, const char *,
    struct cf_error *);

#endif /* !COFFER_STORE_INTERNAL_H */
