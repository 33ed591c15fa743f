/*
 * store_secret.c: the statements on secrets as a whole: lookups, pages,
 * creation, metadata, deletion and restoring, the purge, the shared server
 * keys, and a secret read with the version carrying a label.  Their SQL is
 * in store_stmt.c, their rows are decoded by store_row.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

static enum store_lookup
secret_lookup(struct store *s, struct cf_arena *a, enum store_stmt st,
    const char *key, struct store_secret *out, struct cf_error *err)
{
	const char *v[1] = { key };
	PGresult *r;
	enum store_lookup rc;

	if ((r = store_exec(s, st, 1, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (STORE_ERROR);
	if (PQntuples(r) == 0)
		rc = STORE_NOT_FOUND;
	else if (store_decode_secret(a, r, 0, out)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		rc = STORE_ERROR;
	} else
		rc = STORE_FOUND;
	PQclear(r);
	return (rc);
}

/*
 * Send ${q}[0] (a locked lookup) and ${q}[1] (what the change needs to
 * know of the secret once it is locked) as one pipeline, with the
 * transaction's BEGIN if it is pending, into ${r}: 0, or -1 with ${err}.
 * As store_exec does for a transaction's first statement: a connection
 * that died unnoticed since its last use fails the BEGIN, nothing was
 * done, and the pair is sent once more on a new one.
 */
static int
locked_pair(struct store *s, struct store_pq_query q[2], PGresult *r[2],
    struct cf_error *err)
{
	int attempt, fresh;

	for (attempt = 0; attempt < 2; attempt++) {
		fresh = s->begin_pending && s->n_held == 0;
		switch (store_held_send(s, q, 2, r, err)) {
		case STORE_HELD_SENT:
			return (0);
		case STORE_HELD_REFUSED:
			return (-1);
		case STORE_HELD_LOST:
			if (!fresh || s->in_tx || s->timed_out || attempt > 0)
				return (-1);
			s->begin_pending = 1;
			if (store_reopen(s, 1, err))
				return (-1);
			break;
		}
	}
	return (-1);
}

/*
 * The pair's results: STORE_FOUND when both found the secret under the
 * lock, STORE_NOT_FOUND when neither did, STORE_ERROR with ${err}.
 */
static enum store_lookup
locked_pair_found(struct store *s, PGresult *r[2], const char *what,
    struct cf_error *err)
{

	if (PQresultStatus(r[0]) != PGRES_TUPLES_OK) {
		store_fail(s, r[0], "looking up a secret", err);
		return (STORE_ERROR);
	}
	if (PQresultStatus(r[1]) != PGRES_TUPLES_OK) {
		store_fail(s, r[1], what, err);
		return (STORE_ERROR);
	}
	if (PQntuples(r[0]) == 0 || PQntuples(r[1]) == 0)
		return (STORE_NOT_FOUND);
	return (STORE_FOUND);
}

enum store_lookup
store_secret_lock_with_version(struct store *s, struct cf_arena *a,
    const char *key, int by_arn, const char *vid, struct store_secret *sec,
    struct store_version *ver, int *has_version, int *has_current,
    struct cf_error *err)
{
	const char *v[2] = { key, vid };
	char n1[16], n2[16];
	struct store_pq_query q[2] = {
		{ .name = n1, .n = 1, .values = v },
		{ .name = n2, .n = 2, .values = v, .result_format = 1 },
	};
	PGresult *r[2] = { NULL, NULL };
	enum store_lookup rc;

	*has_version = 0;
	*has_current = 0;
	snprintf(n1, sizeof(n1), "s%d", (int)(by_arn ? ST_SECRET_BY_ARN_LOCK :
	    ST_SECRET_BY_NAME_LOCK));
	snprintf(n2, sizeof(n2), "s%d", (int)(by_arn ? ST_VERSION_BY_ARN_ID :
	    ST_VERSION_BY_NAME_ID));
	if (locked_pair(s, q, r, err))
		return (STORE_ERROR);
	if ((rc = locked_pair_found(s, r, "looking up a version", err)) !=
	    STORE_FOUND)
		goto done;
	rc = STORE_ERROR;
	*has_version = !PQgetisnull(r[1], 0, 1);
	if (store_decode_secret(a, r[0], 0, sec) || (*has_version &&
	    store_decode_version(a, r[1], 0, 1, ver))) {
		*has_version = 0;
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto done;
	}
	*has_current = store_col_bin_int(r[1], 0, 0) != 0;
	rc = STORE_FOUND;
done:
	PQclear(r[0]);
	PQclear(r[1]);
	return (rc);
}

enum store_lookup
store_secret_put_basis(struct store *s, struct cf_arena *a, const char *key,
    int by_arn, enum store_basis kind, const char *vid,
    struct store_secret *sec, int *has_version, int *has_current,
    const char **basis, struct cf_error *err)
{
	static const enum store_stmt st[2][2] = {
		[STORE_BASIS_PUT] = { ST_PUT_BASIS_BY_NAME, ST_PUT_BASIS_BY_ARN },
		[STORE_BASIS_REKEY] = { ST_REKEY_BASIS_BY_NAME,
		    ST_REKEY_BASIS_BY_ARN },
	};
	const char *v[2] = { key, vid };
	enum store_lookup rc = STORE_FOUND;
	PGresult *r;
	int oom = 0;

	*has_version = 0;
	*has_current = 0;
	*basis = NULL;
	if ((r = store_exec(s, st[kind][by_arn != 0], 2, v, NULL, NULL, 0,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (STORE_ERROR);
	if (PQntuples(r) == 0) {
		PQclear(r);
		return (STORE_NOT_FOUND);
	}
	if (store_decode_secret(a, r, 0, sec) ||
	    (*basis = store_col_str(a, r, 0, STORE_SECRET_NCOLS + 2,
	    &oom)) == NULL || oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		rc = STORE_ERROR;
	} else {
		*has_version = atoi(PQgetvalue(r, 0, STORE_SECRET_NCOLS)) != 0;
		*has_current = atoi(PQgetvalue(r, 0,
		    STORE_SECRET_NCOLS + 1)) != 0;
	}
	PQclear(r);
	return (rc);
}

int
store_page_meta(struct store *s, struct cf_arena *a, const char *const *uuids,
    size_t n_uuids, struct store_tag **tags, size_t **towner, size_t *nt,
    struct store_stage **stages, size_t **sowner, size_t *ns,
    struct cf_error *err)
{
	static const enum store_stmt st[2] = { ST_TAGS, ST_STAGES };
	struct store_pairs p[2];

	*nt = *ns = 0;
	if (store_pairs_two(s, a, st, uuids, n_uuids, p, err) ||
	    store_pairs_tags(a, &p[0], tags, towner, nt, err) ||
	    store_pairs_stages(a, &p[1], stages, sowner, ns, err))
		return (-1);
	return (0);
}

/*
 * Decode DescribeSecret's read (ST_SECRET_STAGES_BY_*): STORE_FOUND,
 * STORE_NOT_FOUND (no rows), or STORE_ERROR when out of memory.
 */
static enum store_lookup
with_stages_decode(struct cf_arena *a, const PGresult *r,
    struct store_secret *sec, struct store_stage **stages, size_t *n)
{
	int i, rows, oom = 0;

	*stages = NULL;
	*n = 0;
	if ((rows = PQntuples(r)) == 0)
		return (STORE_NOT_FOUND);
	/* The secret's columns repeat on every row; its pairs follow them. */
	if (store_decode_secret(a, r, 0, sec) || (!PQgetisnull(r, 0,
	    STORE_SECRET_NCOLS + 1) && (*stages = cf_arena_alloc(a,
	    (size_t)rows * sizeof(**stages))) == NULL))
		return (STORE_ERROR);
	for (i = 0; !oom && i < rows; i++) {
		if (PQgetisnull(r, i, STORE_SECRET_NCOLS + 1))
			continue;
		(*stages)[*n].version_id = store_col_str(a, r, i,
		    STORE_SECRET_NCOLS + 1, &oom);
		(*stages)[(*n)++].stage = store_col_str(a, r, i,
		    STORE_SECRET_NCOLS + 2, &oom);
	}
	return (oom ? STORE_ERROR : STORE_FOUND);
}

enum store_lookup
store_secret_with_stages(struct store *s, struct cf_arena *a, const char *key,
    int by_arn, struct store_secret *sec, struct store_stage **stages,
    size_t *n, struct cf_error *err)
{
	const char *v[1] = { key };
	enum store_lookup rc;
	PGresult *r;

	*stages = NULL;
	*n = 0;
	if ((r = store_exec(s, by_arn ? ST_SECRET_STAGES_BY_ARN :
	    ST_SECRET_STAGES_BY_NAME, 1, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (STORE_ERROR);
	if ((rc = with_stages_decode(a, r, sec, stages, n)) == STORE_ERROR)
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	PQclear(r);
	return (rc);
}

enum store_lookup
store_secret_lock_stage(struct store *s, struct cf_arena *a, const char *key,
    int by_arn, const char *stage, const char *vid, struct store_secret *sec,
    struct store_stage_state *out, struct cf_error *err)
{
	const char *v[3] = { key, stage, vid };
	char n1[16], n2[16];
	struct store_pq_query q[2] = {
		{ .name = n1, .n = 1, .values = v },
		{ .name = n2, .n = 3, .values = v, .result_format = 1 },
	};
	PGresult *r[2] = { NULL, NULL };
	enum store_lookup rc;
	int oom = 0;

	memset(out, 0, sizeof(*out));
	snprintf(n1, sizeof(n1), "s%d", (int)(by_arn ? ST_SECRET_BY_ARN_LOCK :
	    ST_SECRET_BY_NAME_LOCK));
	snprintf(n2, sizeof(n2), "s%d", (int)(by_arn ? ST_STAGE_STATE_BY_ARN :
	    ST_STAGE_STATE_BY_NAME));
	if (locked_pair(s, q, r, err))
		return (STORE_ERROR);
	if ((rc = locked_pair_found(s, r, "looking up a label", err)) !=
	    STORE_FOUND)
		goto done;
	out->holder = PQgetisnull(r[1], 0, 0) ? NULL :
	    store_col_str(a, r[1], 0, 0, &oom);
	out->version_exists = store_col_bin_int(r[1], 0, 1) != 0;
	out->version_empty = store_col_bin_int(r[1], 0, 2) != 0;
	if (oom || store_decode_secret(a, r[0], 0, sec)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		rc = STORE_ERROR;
	}
done:
	PQclear(r[0]);
	PQclear(r[1]);
	return (rc);
}

enum store_lookup
store_secret_by_uuid(struct store *s, struct cf_arena *a, const char *uuid,
    struct store_secret *out, struct cf_error *err)
{

	return (secret_lookup(s, a, ST_SECRET_BY_UUID, uuid, out, err));
}

enum store_lookup
store_secret_by_name(struct store *s, struct cf_arena *a, const char *name,
    int for_update, struct store_secret *out, struct cf_error *err)
{

	return (secret_lookup(s, a, for_update ? ST_SECRET_BY_NAME_LOCK :
	    ST_SECRET_BY_NAME, name, out, err));
}

enum store_lookup
store_secret_by_arn(struct store *s, struct cf_arena *a, const char *arn,
    int for_update, struct store_secret *out, struct cf_error *err)
{

	return (secret_lookup(s, a, for_update ? ST_SECRET_BY_ARN_LOCK :
	    ST_SECRET_BY_ARN, arn, out, err));
}

int
store_secret_insert(struct store *s, const struct store_secret *sec,
    struct cf_error *err)
{
	const char *v[5] = { sec->uuid, sec->name, sec->arn, sec->description,
	    sec->kms_key_id };

	return (store_command(s, ST_SECRET_INSERT, 5, v, NULL, NULL, err));
}

int
store_secret_touch_changed(struct store *s, const char *uuid,
    struct cf_error *err)
{
	const char *v[1] = { uuid };

	return (store_command(s, ST_SECRET_TOUCH_CHANGED, 1, v, NULL, NULL,
	    err));
}

int
store_touch_accessed(struct store *s, const char *uuid, const char *vid,
    struct cf_error *err)
{
	const char *v[2] = { uuid, vid };

	if (store_command(s, ST_SECRET_TOUCH_ACCESSED, 1, v, NULL, NULL, err))
		return (-1);
	return (store_command(s, ST_VERSION_TOUCH_ACCESSED, 2, v, NULL, NULL,
	    err));
}

int
store_secret_page(struct store *s, struct cf_arena *a, int include_deleted,
    int descending, int64_t after_us, const char *after_uuid, int limit,
    struct store_secret **out, size_t *n, struct cf_error *err)
{
	char us[24], lim[16];
	const char *v[4];
	enum store_stmt st;
	PGresult *r;
	int np, rc;

	/* Pick the statement for the direction and whether a cursor is set. */
	snprintf(us, sizeof(us), "%lld", (long long)after_us);
	snprintf(lim, sizeof(lim), "%d", limit);
	v[0] = include_deleted ? "true" : "false";
	if (after_uuid == NULL) {
		st = descending ? ST_PAGE_DESC_FIRST : ST_PAGE_ASC_FIRST;
		v[1] = lim;
		np = 2;
	} else {
		st = descending ? ST_PAGE_DESC_AFTER : ST_PAGE_ASC_AFTER;
		v[1] = us;
		v[2] = after_uuid;
		v[3] = lim;
		np = 4;
	}
	if ((r = store_exec(s, st, np, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (-1);

	rc = store_decode_secrets(a, r, out, n, err);
	PQclear(r);
	return (rc);
}

int
store_secret_update_meta(struct store *s, const char *uuid, int set_desc,
    const char *desc, int set_kms, const char *kms, struct cf_error *err)
{
	const char *v[5] = { uuid, set_desc ? "true" : "false", desc,
	    set_kms ? "true" : "false", kms };

	return (store_command(s, ST_SECRET_UPDATE_META, 5, v, NULL, NULL, err));
}

int
store_secret_schedule_delete(struct store *s, const char *uuid, int days,
    int64_t *out_purge_ms, struct cf_error *err)
{
	char d[16];
	const char *v[2] = { uuid, d };
	int found;

	snprintf(d, sizeof(d), "%d", days);
	/* Its date is the answer's, not the event's: it can wait. */
	if (s->defer && (s->in_tx || s->begin_pending))
		return (store_hold_scalar(s, ST_SECRET_SCHEDULE_DELETE, 2, v,
		    out_purge_ms, err));
	return (store_scalar(s, ST_SECRET_SCHEDULE_DELETE, 2, v, out_purge_ms,
	    &found, err));
}

int
store_secret_restore(struct store *s, const char *uuid, struct cf_error *err)
{
	const char *v[1] = { uuid };

	return (store_command(s, ST_SECRET_RESTORE, 1, v, NULL, NULL, err));
}

int
store_secret_delete(struct store *s, const char *uuid, struct cf_error *err)
{
	const char *v[1] = { uuid };

	return (store_command(s, ST_SECRET_DELETE, 1, v, NULL, NULL, err));
}

int
store_purge_claim(struct store *s, struct cf_arena *a, int limit,
    struct store_purge_item **out, size_t *out_n, struct cf_error *err)
{
	char l[16];
	const char *v[1] = { l };
	struct store_purge_item *items;
	PGresult *r;
	int i, n, oom = 0;

	snprintf(l, sizeof(l), "%d", limit);
	if ((r = store_exec(s, ST_PURGE_CLAIM, 1, v, NULL, NULL, 0,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (-1);
	n = PQntuples(r);
	if ((items = cf_arena_alloc(a, (size_t)(n ? n : 1) *
	    sizeof(*items))) == NULL)
		oom = 1;
	for (i = 0; !oom && i < n; i++) {
		snprintf(items[i].uuid, sizeof(items[i].uuid), "%s",
		    PQgetvalue(r, i, 0));
		items[i].arn = store_col_str(a, r, i, 1, &oom);
	}
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	*out = items;
	*out_n = (size_t)n;
	return (0);
}

int
store_purge_delete(struct store *s, const struct store_purge_item *items,
    size_t n, struct cf_error *err)
{
	const char *v[1];
	char *list, *p;
	size_t i;
	int rc;

	/* A uuid[] literal: "{u1,u2,...}" (uuids need no quoting). */
	if ((list = malloc(n * 37 + 3)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	p = list;
	*p++ = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, items[i].uuid, strlen(items[i].uuid));
		p += strlen(items[i].uuid);
	}
	*p++ = '}';
	*p = '\0';
	v[0] = list;
	rc = store_command(s, ST_PURGE_DELETE, 1, v, NULL, NULL, err);
	free(list);
	return (rc);
}

int
store_server_key(struct store *s, const char *name, const uint8_t *candidate,
    size_t len, uint8_t *out, struct cf_error *err)
{
	const char *v[2] = { name, (const char *)candidate };
	int lens[2] = { 0, (int)len }, fmts[2] = { 0, 1 };
	PGresult *r;
	int rc = -1;

	if ((r = store_exec(s, ST_SERVER_KEY, 2, v, lens, fmts, 1,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (-1);
	if (PQntuples(r) == 1 && (size_t)PQgetlength(r, 0, 0) == len) {
		memcpy(out, PQgetvalue(r, 0, 0), len);
		explicit_bzero(PQgetvalue(r, 0, 0), len);
		rc = 0;
	} else
		cf_error_set(err, CF_ERR_INTERNAL, "server key \"%s\" is missing "
		    "or has the wrong length", name);
	PQclear(r);
	return (rc);
}

/* Decode the row of a staged read (r, 0 rows: no such secret). */
static enum store_lookup
staged_decode(struct cf_arena *a, PGresult *r, struct store_secret *sec,
    struct store_version *ver, int *has_version)
{

	*has_version = 0;
	if (PQntuples(r) == 0)
		return (STORE_NOT_FOUND);
	if (store_decode_staged(a, r, sec) ||
	    (!PQgetisnull(r, 0, STORE_STAGED_NCOLS) &&
	    store_decode_version(a, r, 0, STORE_STAGED_NCOLS, ver)))
		return (STORE_ERROR);
	*has_version = !PQgetisnull(r, 0, STORE_STAGED_NCOLS);
	return (STORE_FOUND);
}

/*
 * The statement of a staged read: DescribeSecret's if ${with_stages}, else
 * by label, or by VersionId if ${vid}.
 */
static enum store_stmt
staged_stmt(int by_arn, int with_stages, const char *vid)
{

	if (with_stages)
		return (by_arn ? ST_SECRET_STAGES_BY_ARN :
		    ST_SECRET_STAGES_BY_NAME);
	if (vid != NULL)
		return (by_arn ? ST_VERSIONED_BY_ARN : ST_VERSIONED_BY_NAME);
	return (by_arn ? ST_STAGED_BY_ARN : ST_STAGED_BY_NAME);
}

enum store_lookup
store_secret_staged(struct store *s, struct cf_arena *a, const char *key,
    int by_arn, const char *stage, const char *vid, struct store_secret *sec,
    struct store_version *ver, int *has_version, struct cf_error *err)
{
	const char *v[2] = { key, vid != NULL ? vid : stage };
	PGresult *r;
	enum store_lookup rc;

	if ((r = store_exec(s, staged_stmt(by_arn, 0, vid), 2, v, NULL, NULL, 1,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (STORE_ERROR);
	if ((rc = staged_decode(a, r, sec, ver, has_version)) == STORE_ERROR)
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	PQclear(r);
	return (rc);
}

/* At most this many reads go in one pipeline; more take several. */
#define STAGED_PIPELINE_MAX 32

void
store_secrets_staged(struct store *s, struct store_staged_read *reads,
    size_t n)
{
	struct store_pq_query q[STAGED_PIPELINE_MAX];
	const char *v[STAGED_PIPELINE_MAX][2];
	char names[STAGED_PIPELINE_MAX][16];
	PGresult *res[STAGED_PIPELINE_MAX];
	struct cf_error err;
	size_t i, k, m;

	for (i = 0; i < n; i++)
		reads[i].rc = STORE_ERROR;
	/* A statement in a pipeline cannot carry a BEGIN or held changes. */
	if (s->in_tx || s->begin_pending || s->n_held > 0 ||
	    store_reopen(s, 0, &err) || store_timeout_apply(s, 1, &err))
		return;
	for (k = 0; k < n; k += m) {
		m = n - k < STAGED_PIPELINE_MAX ? n - k : STAGED_PIPELINE_MAX;
		for (i = 0; i < m; i++) {
			const struct store_staged_read *r = &reads[k + i];

			snprintf(names[i], sizeof(names[i]), "s%d",
			    (int)staged_stmt(r->by_arn, r->with_stages,
			    r->vid));
			v[i][0] = r->key;
			v[i][1] = r->vid != NULL ? r->vid : r->stage;
			/* DescribeSecret's read: one parameter, text. */
			q[i] = (struct store_pq_query){ .name = names[i],
			    .n = r->with_stages ? 1 : 2, .values = v[i],
			    .result_format = !r->with_stages };
		}
		/* A missed deadline closed the connection: no more. */
		if (store_pq_pipeline(s, q, (int)m, res))
			return;
		for (i = 0; i < m; i++) {
			struct store_staged_read *r = &reads[k + i];

			if (res[i] != NULL &&
			    PQresultStatus(res[i]) == PGRES_TUPLES_OK)
				r->rc = r->with_stages ? with_stages_decode(
				    r->arena, res[i], &r->sec, &r->stages,
				    &r->n_stages) : staged_decode(r->arena,
				    res[i], &r->sec, &r->ver, &r->has_version);
			PQclear(res[i]);
		}
	}
}
