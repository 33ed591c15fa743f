/*
 * store_audit.c: the audit tables (migrations/0004_audit.sql).
 *
 * A batch goes in with one prepared statement whose seventeen parameters
 * are arrays (one element per event) that unnest() turns into rows: one
 * parse for the life of the connection, whatever the batch size.  Times are epoch
 * milliseconds both ways, exactly (timestamptz keeps microseconds).
 * ListAuditEvents' query is assembled from fixed fragments like
 * store_search.c's: every value is a parameter.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define COLS 17			/* of the events */
#define TOUCH_COLS 2		/* of the reads' LastAccessedDate */
#define MAX_ROWS 4096
#define ROW_COLS "chain_id, seq, " \
	"(extract(epoch FROM event_time) * 1000)::bigint, request_id, " \
	"principal, peer, operation, secret_arn, version_id, outcome, " \
	"prev_hash, hash, hmac, request_params, transport, access_key_id, " \
	"mac_key_version"

/* Decode a bytea in text (hex) form into exactly ${n} bytes. */
static int
unhex(const char *s, uint8_t *out, size_t n)
{

	if (strncmp(s, "\\x", 2) != 0 || cf_hex_decode(s + 2, strlen(s + 2),
	    CF_HEX_ANY_CASE, out, n) != CF_HEX_OK)
		return (-1);
	return (0);
}

/* A text column into the arena; NULL stays NULL. */
static const char *
col(struct cf_arena *a, const PGresult *res, int r, int c, int *oom)
{
	const char *v;

	if (PQgetisnull(res, r, c))
		return (NULL);
	if ((v = cf_arena_strdup(a, PQgetvalue(res, r, c))) == NULL)
		*oom = 1;
	return (v);
}

/* Decode rows of ROW_COLS into an arena array. */
static int
decode_rows(struct cf_arena *a, const PGresult *res,
    struct cf_audit_row **out, size_t *out_n, struct cf_error *err)
{
	struct cf_audit_row *rows;
	int n = PQntuples(res), i, oom = 0;

	if ((rows = cf_arena_alloc(a, (size_t)(n ? n : 1) * sizeof(*rows))) ==
	    NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		struct cf_audit_row *r = &rows[i];

		snprintf(r->chain_id, sizeof(r->chain_id), "%s",
		    PQgetvalue(res, i, 0));
		r->seq = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		r->time_ms = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		r->request_id = col(a, res, i, 3, &oom);
		r->principal = col(a, res, i, 4, &oom);
		r->peer = col(a, res, i, 5, &oom);
		r->operation = col(a, res, i, 6, &oom);
		r->secret_arn = col(a, res, i, 7, &oom);
		r->version_id = col(a, res, i, 8, &oom);
		r->outcome = col(a, res, i, 9, &oom);
		r->request_params = col(a, res, i, 13, &oom);
		r->transport = col(a, res, i, 14, &oom);
		r->access_key_id = col(a, res, i, 15, &oom);
		r->mac_version = (uint32_t)strtoul(PQgetvalue(res, i, 16), NULL,
		    10);
		if (oom)
			goto oom;
		/* hmac NULL: an unsigned event (migration 0018). */
		r->hmac_absent = PQgetisnull(res, i, 12);
		if (unhex(PQgetvalue(res, i, 10), r->prev_hash, 32) ||
		    unhex(PQgetvalue(res, i, 11), r->hash, 32) ||
		    (!r->hmac_absent &&
		    unhex(PQgetvalue(res, i, 12), r->hmac, 32))) {
			cf_error_set(err, CF_ERR_INTERNAL,
			    "malformed hash in audit event %s/%" PRId64,
			    r->chain_id, r->seq);
			return (-1);
		}
	}
	*out = rows;
	*out_n = (size_t)n;
	return (0);
oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

/* A growing text buffer for the array literals. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	char *grown;
	size_t cap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((grown = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* One element of a text[] literal: NULL, or quoted with \ and " escaped. */
static void
put_elem(struct buf *b, const char *v, int first)
{
	const char *q;

	if (!first)
		put(b, ",", 1);
	if (v == NULL) {
		put(b, "NULL", 4);
		return;
	}
	put(b, "\"", 1);
	for (q = v; *q != '\0'; q = v) {
		v += strcspn(v, "\\\"");
		put(b, q, (size_t)(v - q));
		if (*v == '\0')
			break;
		put(b, "\\", 1);
		put(b, v++, 1);
	}
	put(b, "\"", 1);
}

/* One bytea element of a bytea[] literal: "\\x..." (the \ escaped). */
static void
put_bytes(struct buf *b, const uint8_t *p, size_t n, int first)
{
	char hex[3];
	size_t i;

	put(b, first ? "\"\\\\x" : ",\"\\\\x", first ? 4 : 5);
	for (i = 0; i < n; i++) {
		cf_hex_encode(p + i, 1, hex);
		put(b, hex, 2);
	}
	put(b, "\"", 1);
}

/*
 * The parameters of the audit INSERT for ${n} rows and ${n_touches}
 * touches: seventeen array literals, one per column, one element per row;
 * and two for the touches (secret, version), one element per touch.  The
 * statement in *${st}, the values in ${v} (free with free_cols).
 */
static int
audit_cols(const struct cf_audit_row *rows, size_t n,
    const struct store_touch *touches, size_t n_touches,
    struct buf *col, const char **v, enum store_stmt *st, int *ncols,
    struct cf_error *err)
{
	char num[24];
	size_t i;
	int c;

	*st = n_touches > 0 ? ST_AUDIT_INSERT_TOUCH : ST_AUDIT_INSERT;
	*ncols = n_touches > 0 ? COLS + TOUCH_COLS : COLS;
	memset(col, 0, (COLS + TOUCH_COLS) * sizeof(*col));
	if (n > MAX_ROWS || n_touches > MAX_ROWS) {
		cf_error_set(err, CF_ERR_INTERNAL, "audit batch too large");
		return (-1);
	}
	for (c = 0; c < *ncols; c++)
		put(&col[c], "{", 1);
	for (i = 0; i < n; i++) {
		const struct cf_audit_row *r = &rows[i];

		put_elem(&col[0], r->chain_id, i == 0);
		snprintf(num, sizeof(num), "%" PRId64, r->seq);
		put_elem(&col[1], num, i == 0);
		snprintf(num, sizeof(num), "%" PRId64, r->time_ms);
		put_elem(&col[2], num, i == 0);
		put_elem(&col[3], r->request_id, i == 0);
		put_elem(&col[4], r->principal, i == 0);
		put_elem(&col[5], r->peer, i == 0);
		put_elem(&col[6], r->operation, i == 0);
		put_elem(&col[7], r->secret_arn, i == 0);
		put_elem(&col[8], r->version_id, i == 0);
		put_elem(&col[9], r->outcome, i == 0);
		put_bytes(&col[10], r->prev_hash, 32, i == 0);
		put_bytes(&col[11], r->hash, 32, i == 0);
		if (r->hmac_absent)
			put_elem(&col[12], NULL, i == 0);
		else
			put_bytes(&col[12], r->hmac, 32, i == 0);
		put_elem(&col[13], r->request_params, i == 0);
		put_elem(&col[14], r->transport, i == 0);
		put_elem(&col[15], r->access_key_id, i == 0);
		snprintf(num, sizeof(num), "%u", r->mac_version > 0 ?
		    r->mac_version : 1);
		put_elem(&col[16], num, i == 0);
	}
	for (i = 0; i < n_touches; i++) {
		put_elem(&col[COLS], touches[i].secret_uuid, i == 0);
		put_elem(&col[COLS + 1], touches[i].version_id, i == 0);
	}
	for (c = 0; c < *ncols; c++) {
		put(&col[c], "}", 1);
		if (col[c].oom) {
			cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
			return (-1);
		}
		v[c] = col[c].p;
	}
	return (0);
}

static void
free_cols(struct buf *col)
{
	int c;

	for (c = 0; c < COLS + TOUCH_COLS; c++)
		free(col[c].p);
}

int
store_audit_insert(struct store *s, const struct cf_audit_row *rows,
    size_t n, const struct store_touch *touches, size_t n_touches,
    struct cf_error *err)
{
	struct buf col[COLS + TOUCH_COLS];
	const char *v[COLS + TOUCH_COLS];
	enum store_stmt st;
	char name[16];
	PGresult *res;
	int ncols, rc = -1;

	if (n == 0)
		return (0);
	if (audit_cols(rows, n, touches, n_touches, col, v, &st, &ncols, err))
		goto done;

	/* One prepared statement, never retried (see store.h). */
	if (store_ready(s, err))
		goto done;
	snprintf(name, sizeof(name), "s%d", (int)st);
	res = store_pq_exec_prepared(s, name, ncols, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		store_fail(s, res, "writing audit events", err);
	else
		rc = 0;
	PQclear(res);
done:
	free_cols(col);
	return (rc);
}

enum store_tx_end
store_audit_insert_commit(struct store *s, const struct cf_audit_row *rows,
    size_t n, struct cf_error *err)
{
	struct buf col[COLS + TOUCH_COLS];
	const char *v[COLS + TOUCH_COLS];
	enum store_stmt st;
	enum store_tx_end end = STORE_TX_ROLLED_BACK;
	char name[16];
	struct store_pq_query q[2] = { { 0 }, { .sql = "COMMIT" } };
	PGresult *res[2];
	int ncols;

	/*
	 * Held changes go in the same round trip.  A BEGIN not sent yet (a
	 * transaction of nothing but its events: a change lane's ServerStart
	 * and ServerStop) goes first on its own, where a connection that
	 * died unnoticed (a failover since the lane last wrote) is reopened
	 * and the BEGIN sent again: with the COMMIT in the same pipeline, an
	 * unanswered one could not be sent again.  Not after a read that
	 * has just been answered on this connection (a Put sealed before
	 * its transaction, a Create): BEGIN goes with the rest.
	 */
	if (n == 0 || audit_cols(rows, n, NULL, 0, col, v, &st, &ncols, err) ||
	    (!store_just_answered(s) && store_begin_flush(s, err))) {
		store_rollback(s);
		goto done;
	}
	snprintf(name, sizeof(name), "s%d", (int)st);
	q[0].name = name;
	q[0].n = ncols;
	q[0].values = v;
	switch (store_held_send(s, q, 2, res, err)) {
	case STORE_HELD_SENT:
		break;
	case STORE_HELD_REFUSED:
		/* Nothing after the refused change ran: no event, no commit. */
		store_rollback(s);
		end = STORE_TX_REFUSED;
		goto done;
	case STORE_HELD_LOST:
		store_tx_ended(s);
		end = STORE_TX_UNKNOWN;
		goto done;
	}
	if (PQresultStatus(res[0]) != PGRES_COMMAND_OK) {
		/*
		 * The INSERT failed, so COMMIT never ran (the pipeline was
		 * aborted): the transaction is open and failed, and ends
		 * here.  Without an answer at all, it may have committed.
		 */
		store_fail(s, res[0], "writing audit events", err);
		end = res[0] == NULL || s->conn == NULL ||
		    PQstatus(s->conn) != CONNECTION_OK ? STORE_TX_UNKNOWN :
		    STORE_TX_ROLLED_BACK;
		if (end == STORE_TX_ROLLED_BACK)
			store_rollback(s);
		else
			store_tx_ended(s);
	} else if (PQresultStatus(res[1]) != PGRES_COMMAND_OK) {
		/* A refused COMMIT rolls back; a lost answer may not have. */
		store_fail(s, res[1], "committing", err);
		end = res[1] == NULL || s->conn == NULL ||
		    PQstatus(s->conn) != CONNECTION_OK ? STORE_TX_UNKNOWN :
		    STORE_TX_ROLLED_BACK;
		store_tx_ended(s);
	} else {
		end = STORE_TX_COMMITTED;
		store_tx_ended(s);
	}
	PQclear(res[0]);
	PQclear(res[1]);
done:
	free_cols(col);
	return (end);
}

int
store_audit_chain_new(struct store *s, const char *chain, const char *server,
    struct cf_error *err)
{
	const char *v[2] = { chain, server };
	PGresult *res;

	res = store_exec_params(s, "INSERT INTO audit_chains (chain_id, server) "
	    "VALUES ($1::uuid, $2)", 2, v, NULL, NULL, 1, PGRES_COMMAND_OK,
	    "registering an audit chain", err);
	if (res == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

int
store_audit_partitions(struct store *s, int months, struct cf_error *err)
{
	char m[16];
	const char *v[1] = { m };
	PGresult *res;

	snprintf(m, sizeof(m), "%d", months);
	res = store_exec_params(s, "SELECT coffer_audit_ensure_partitions($1)",
	    1, v, NULL, NULL, 1, PGRES_TUPLES_OK,
	    "making audit partitions", err);
	if (res == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

enum store_lookup
store_audit_head(struct store *s, const char *chain, int64_t *seq,
    uint8_t *hash, struct cf_error *err)
{
	const char *v[1] = { chain };
	PGresult *res;
	enum store_lookup rc;

	res = store_exec_params(s, "SELECT seq, hash FROM audit_events "
	    "WHERE chain_id = $1::uuid ORDER BY seq DESC LIMIT 1", 1, v, NULL,
	    NULL, 1, PGRES_TUPLES_OK, "reading an audit chain head", err);
	if (res == NULL)
		return (STORE_ERROR);
	rc = PQntuples(res) > 0 ? STORE_FOUND : STORE_NOT_FOUND;
	if (rc == STORE_FOUND) {
		*seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (unhex(PQgetvalue(res, 0, 1), hash, 32)) {
			cf_error_set(err, CF_ERR_INTERNAL,
			    "malformed hash at the head of audit chain %s",
			    chain);
			rc = STORE_ERROR;
		}
	}
	PQclear(res);
	return (rc);
}

int
store_audit_chains(struct store *s, struct cf_arena *a,
    struct store_audit_chain **out, size_t *out_n, struct cf_error *err)
{
	struct store_audit_chain *c;
	PGresult *res;
	int n, i;

	/*
	 * Registered chains, and every chain_id among the events found with
	 * a loose index scan (one index probe per chain, not a full scan).
	 */
	res = store_exec_params(s,
	    "WITH RECURSIVE ev AS ("
	    " (SELECT chain_id FROM audit_events ORDER BY chain_id LIMIT 1)"
	    " UNION ALL"
	    " SELECT (SELECT e.chain_id FROM audit_events e"
	    "   WHERE e.chain_id > ev.chain_id ORDER BY e.chain_id LIMIT 1)"
	    " FROM ev WHERE ev.chain_id IS NOT NULL) "
	    "SELECT coalesce(r.chain_id, ev.chain_id), r.chain_id IS NOT NULL, "
	    " ev.chain_id IS NOT NULL "
	    "FROM audit_chains r FULL JOIN (SELECT chain_id FROM ev "
	    " WHERE chain_id IS NOT NULL) ev ON ev.chain_id = r.chain_id "
	    "ORDER BY 1", 0, NULL, NULL, NULL, 1, PGRES_TUPLES_OK,
	    "listing audit chains", err);
	if (res == NULL)
		return (-1);
	n = PQntuples(res);
	if ((c = cf_arena_alloc(a, (size_t)(n ? n : 1) * sizeof(*c))) == NULL) {
		PQclear(res);
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	for (i = 0; i < n; i++) {
		snprintf(c[i].chain_id, sizeof(c[i].chain_id), "%s",
		    PQgetvalue(res, i, 0));
		c[i].registered = PQgetvalue(res, i, 1)[0] == 't';
		c[i].has_events = PQgetvalue(res, i, 2)[0] == 't';
	}
	PQclear(res);
	*out = c;
	*out_n = (size_t)n;
	return (0);
}

int
store_audit_scan(struct store *s, struct cf_arena *a, const char *chain,
    int64_t after_seq, const uint8_t *after_hash, int limit,
    struct cf_audit_row **out, size_t *out_n, struct cf_error *err)
{
	char seq[24], lim[16];
	const char *v[4] = { chain, seq, lim, (const char *)after_hash };
	int len[4] = { 0, 0, 0, 32 }, fmt[4] = { 0, 0, 0, 1 };
	PGresult *res;
	int rc;

	snprintf(seq, sizeof(seq), "%" PRId64, after_seq);
	snprintf(lim, sizeof(lim), "%d", limit);
	if (after_hash != NULL)
		res = store_exec_params(s, "SELECT " ROW_COLS " FROM "
		    "audit_events WHERE chain_id = $1::uuid AND "
		    "(seq, hash) > ($2::bigint, $4::bytea) "
		    "ORDER BY seq, hash LIMIT $3::int", 4, v, len, fmt, 1,
		    PGRES_TUPLES_OK, "reading an audit chain", err);
	else
		res = store_exec_params(s, "SELECT " ROW_COLS " FROM "
		    "audit_events WHERE chain_id = $1::uuid AND seq >= $2 "
		    "ORDER BY seq, hash LIMIT $3::int", 3, v, NULL, NULL, 1,
		    PGRES_TUPLES_OK, "reading an audit chain", err);
	if (res == NULL)
		return (-1);
	rc = decode_rows(a, res, out, out_n, err);
	PQclear(res);
	return (rc);
}

enum store_lookup
store_audit_anchor(struct store *s, const char *chain, int64_t *seq,
    uint8_t *hash, uint8_t *hmac, uint32_t *mac_version, struct cf_error *err)
{
	const char *v[1] = { chain };
	PGresult *res;
	enum store_lookup rc;

	res = store_exec_params(s, "SELECT seq, hash, hmac, mac_key_version "
	    "FROM audit_anchors "
	    "WHERE chain_id = $1::uuid ORDER BY seq DESC LIMIT 1", 1, v, NULL,
	    NULL, 1, PGRES_TUPLES_OK, "reading audit anchors", err);
	if (res == NULL)
		return (STORE_ERROR);
	rc = PQntuples(res) > 0 ? STORE_FOUND : STORE_NOT_FOUND;
	if (rc == STORE_FOUND) {
		*seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*mac_version = (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL,
		    10);
		if (unhex(PQgetvalue(res, 0, 1), hash, 32) ||
		    unhex(PQgetvalue(res, 0, 2), hmac, 32)) {
			cf_error_set(err, CF_ERR_INTERNAL,
			    "malformed audit anchor of chain %s", chain);
			rc = STORE_ERROR;
		}
	}
	PQclear(res);
	return (rc);
}

int
store_audit_list(struct store *s, struct cf_arena *a,
    const struct store_audit_filter *f, int limit,
    struct cf_audit_row **out, size_t *out_n, struct cf_error *err)
{
	char sql[2048], nums[5][24];
	const char *v[12];
	size_t len;
	PGresult *res;
	int n = 0, rc;

	len = (size_t)snprintf(sql, sizeof(sql),
	    "SELECT " ROW_COLS " FROM audit_events WHERE true");
#define ADD(cond, val) do {						\
	v[n++] = (val);							\
	len += (size_t)snprintf(sql + len, sizeof(sql) - len, cond, n);	\
} while (0)
	/* The secret: by its ARN, or by what a call asked for. */
	if (f->secret_arn != NULL || f->secret_like != NULL ||
	    f->requested != NULL) {
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
		    " AND (false");
		if (f->secret_arn != NULL)
			ADD(" OR secret_arn = $%d", f->secret_arn);
		if (f->secret_like != NULL)
			ADD(" OR secret_arn LIKE $%d", f->secret_like);
		if (f->requested != NULL) {
			v[n++] = f->requested;
			len += (size_t)snprintf(sql + len, sizeof(sql) - len,
			    " OR secret_arn = $%d OR "
			    "coffer_audit_requested_secret(request_params) = $%d",
			    n, n);
		}
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ")");
	}
	if (f->principal != NULL)
		ADD(" AND principal = $%d", f->principal);
	if (f->operation != NULL)
		ADD(" AND operation = $%d", f->operation);
	if (f->outcome != NULL)
		ADD(" AND outcome = $%d", f->outcome);
	if (f->start_ms != 0) {
		snprintf(nums[0], 24, "%" PRId64, f->start_ms);
		ADD(" AND event_time >= to_timestamp($%d::double precision / "
		    "1000)", nums[0]);
	}
	if (f->end_ms != 0) {
		snprintf(nums[1], 24, "%" PRId64, f->end_ms);
		ADD(" AND event_time < to_timestamp($%d::double precision / "
		    "1000)", nums[1]);
	}
	if (f->has_after) {
		snprintf(nums[2], 24, "%" PRId64, f->after_ms);
		snprintf(nums[3], 24, "%" PRId64, f->after_seq);
		v[n++] = nums[2];
		v[n++] = f->after_chain;
		v[n++] = nums[3];
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
		    " AND (event_time, chain_id, seq) > (to_timestamp($%d::"
		    "double precision / 1000), $%d::uuid, $%d::bigint)",
		    n - 2, n - 1, n);
	}
#undef ADD
	snprintf(nums[4], 24, "%d", limit);
	v[n++] = nums[4];
	snprintf(sql + len, sizeof(sql) - len,
	    " ORDER BY event_time, chain_id, seq LIMIT $%d::int", n);
	res = store_exec_params(s, sql, n, v, NULL, NULL, 1, PGRES_TUPLES_OK,
	    "listing audit events", err);
	if (res == NULL)
		return (-1);
	rc = decode_rows(a, res, out, out_n, err);
	PQclear(res);
	return (rc);
}
