/*
 * store_held.c: changes held back and sent with the transaction's next
 * statement that needs an answer, or with its COMMIT.
 *
 * A write that reports nothing back (a secret's INSERT, its tags, the
 * first version of a new secret) need not cost a round trip of its own:
 * once the engine has decided the change may happen (store_defer_writes),
 * such statements are copied here and sent in one libpq pipeline with
 * whatever comes next, usually the audit event and the COMMIT
 * (store_audit_insert_commit).  Order is kept: nothing runs before a
 * held statement that was held before it.  If a held statement fails,
 * the server skips the rest of the pipeline, so the COMMIT never runs and
 * nothing of the transaction is kept; the failure is the statement's own
 * (a duplicate name is still "duplicate row", ResourceExists).  A write
 * whose one answer the caller needs only after the commit (DeleteSecret's
 * purge date) is held the same way, its answer written back when it is
 * sent (store_hold_scalar).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

void
store_defer_writes(struct store *s)
{

	s->defer = 1;
}

int
store_hold(struct store *s, enum store_stmt st, int n,
    const char *const *values, const int *lengths, const int *formats,
    ExecStatusType expect, struct cf_error *err)
{
	struct store_held *h, *grown;
	size_t size = 0, len[STORE_HELD_MAX_PARAMS], cap;
	char *p;
	int i;

	if (n > STORE_HELD_MAX_PARAMS) {
		cf_error_set(err, CF_ERR_INTERNAL, "statement %d has too many "
		    "parameters to hold", (int)st);
		return (-1);
	}
	if (s->n_held == s->cap_held) {
		cap = s->cap_held ? s->cap_held * 2 : 8;
		if ((grown = realloc(s->held, cap * sizeof(*grown))) == NULL)
			goto oom;
		s->held = grown;
		s->cap_held = cap;
	}
	for (i = 0; i < n; i++) {
		len[i] = values[i] == NULL ? 0 : lengths != NULL && formats !=
		    NULL && formats[i] == 1 ? (size_t)lengths[i] :
		    strlen(values[i]) + 1;
		size += len[i];
	}
	h = &s->held[s->n_held];
	memset(h, 0, sizeof(*h));
	if ((h->copy = malloc(size ? size : 1)) == NULL)
		goto oom;
	for (i = 0, p = h->copy; i < n; p += len[i], i++) {
		h->values[i] = values[i] == NULL ? NULL : p;
		if (values[i] != NULL)
			memcpy(p, values[i], len[i]);
		h->lengths[i] = lengths != NULL ? lengths[i] : 0;
		h->formats[i] = formats != NULL ? formats[i] : 0;
	}
	snprintf(h->name, sizeof(h->name), "s%d", (int)st);
	h->n = n;
	h->expect = expect;
	s->n_held++;
	return (0);
oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

int
store_hold_scalar(struct store *s, enum store_stmt st, int n,
    const char *const *values, int64_t *out, struct cf_error *err)
{

	if (store_hold(s, st, n, values, NULL, NULL, PGRES_TUPLES_OK, err))
		return (-1);
	s->held[s->n_held - 1].scalar = out;
	return (0);
}

int
store_held_flush(struct store *s, struct cf_error *err)
{

	if (s->n_held == 0)
		return (0);
	return (store_held_send(s, NULL, 0, NULL, err) == STORE_HELD_SENT ?
	    0 : -1);
}

void
store_held_drop(struct store *s)
{
	size_t i;

	for (i = 0; i < s->n_held; i++)
		free(s->held[i].copy);
	s->n_held = 0;
	s->defer = 0;
}

void
store_held_free(struct store *s)
{

	store_held_drop(s);
	free(s->held);
	s->held = NULL;
	s->cap_held = 0;
}

/* No answer, or one that says the connection went. */
static int
lost(const struct store *s, const PGresult *res)
{

	return (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK ||
	    store_conn_lost(res));
}

enum store_held_end
store_held_send(struct store *s, const struct store_pq_query *tail,
    int ntail, PGresult **tres, struct cf_error *err)
{
	struct store_pq_query *q;
	PGresult **res;
	enum store_held_end end = STORE_HELD_SENT;
	int nq, k = 0, i, begin = s->begin_pending;
	size_t h;

	for (i = 0; i < ntail; i++)
		tres[i] = NULL;
	nq = begin + (int)s->n_held + ntail;
	q = calloc((size_t)nq, sizeof(*q));
	res = calloc((size_t)nq, sizeof(*res));
	if (q == NULL || res == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		end = STORE_HELD_REFUSED;
		goto done;
	}
	if (store_reopen(s, 0, err) || store_timeout_apply(s, 0, err)) {
		end = STORE_HELD_LOST;
		goto done;
	}
	if (begin)
		q[k++].sql = "BEGIN";
	for (h = 0; h < s->n_held; h++, k++) {
		q[k].name = s->held[h].name;
		q[k].n = s->held[h].n;
		q[k].values = s->held[h].values;
		q[k].lengths = s->held[h].lengths;
		q[k].formats = s->held[h].formats;
	}
	for (i = 0; i < ntail; i++)
		q[k++] = tail[i];

	if (store_pq_pipeline(s, q, nq, res)) {
		store_fail(s, NULL, "sending a change", err);
		end = STORE_HELD_LOST;
		goto done;
	}

	/* BEGIN, then every held statement, must have gone through. */
	k = 0;
	if (begin) {
		if (res[0] == NULL || PQresultStatus(res[0]) !=
		    PGRES_COMMAND_OK) {
			store_fail(s, res[0], "beginning a transaction", err);
			end = lost(s, res[0]) ? STORE_HELD_LOST :
			    STORE_HELD_REFUSED;
			goto done;
		}
		s->begin_pending = 0;
		s->in_tx = 1;
		k = 1;
	}
	for (h = 0; h < s->n_held; h++, k++)
		if (res[k] == NULL || PQresultStatus(res[k]) !=
		    s->held[h].expect) {
			store_fail(s, res[k], "writing a change", err);
			/*
			 * An answer is an error the server gave: the rest
			 * was skipped and nothing committed.  No answer: the
			 * connection went, and with it, perhaps after a
			 * COMMIT, the transaction.
			 */
			end = lost(s, res[k]) ? STORE_HELD_LOST :
			    STORE_HELD_REFUSED;
			goto done;
		} else if (s->held[h].scalar != NULL)
			*s->held[h].scalar = PQntuples(res[k]) > 0 ?
			    store_col_i64(res[k], 0, 0) : 0;
	for (i = 0; i < ntail; i++, k++) {
		tres[i] = res[k];
		res[k] = NULL;
	}
done:
	if (res != NULL)
		for (i = 0; i < nq; i++)
			PQclear(res[i]);
	free(res);
	free(q);
	/* Sent or failed, they are not held any more. */
	for (h = 0; h < s->n_held; h++)
		free(s->held[h].copy);
	s->n_held = 0;
	return (end);
}
