/*
 * store_kek.c: KEK versions in PostgreSQL (migration 0014): which version
 * new envelopes are sealed under, each version's life, and the envelopes
 * still wrapped under an older one (the rewrap's work, claimed with FOR
 * UPDATE SKIP LOCKED so that servers share it).
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The columns a KEK row is read with (kek_rows). */
#define KEK_COLS "k.label, k.current_version, (SELECT count(*) FROM " \
	"encryption_key_versions v WHERE v.label = k.label AND " \
	"v.destroyed_date IS NOT NULL), k.state"

/* Decode ${r}'s KEK_COLS rows into ${a}, then clear ${r}. */
static int
kek_rows(struct cf_arena *a, PGresult *r, struct store_kek **out, size_t *n,
    struct cf_error *err)
{
	struct store_kek *k = NULL;
	int i, oom = 0;

	*n = (size_t)PQntuples(r);
	if (*n > 0 && (k = cf_arena_alloc(a, *n * sizeof(*k))) == NULL)
		oom = 1;
	for (i = 0; !oom && i < (int)*n; i++) {
		k[i].label = store_col_str(a, r, i, 0, &oom);
		k[i].current = (uint32_t)store_col_i64(r, i, 1);
		k[i].n_destroyed = (uint32_t)store_col_i64(r, i, 2);
		k[i].state = store_col_str(a, r, i, 3, &oom);
	}
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	*out = k;
	return (0);
}

int
store_kek_all(struct store *s, struct cf_arena *a, struct store_kek **out,
    size_t *n, struct cf_error *err)
{
	PGresult *r;

	if ((r = store_exec_params(s, "SELECT " KEK_COLS " FROM "
	    "encryption_keys k", 0, NULL, NULL, NULL, 1, PGRES_TUPLES_OK,
	    "reading the KEKs", err)) == NULL)
		return (-1);
	return (kek_rows(a, r, out, n, err));
}

int
store_kek_register(struct store *s, const char *label, struct cf_error *err)
{
	const char *v[1] = { label };

	return (store_exec_rows(s, "WITH k AS (INSERT INTO encryption_keys "
	    "(label) VALUES ($1) ON CONFLICT (label) DO NOTHING RETURNING "
	    "label) INSERT INTO encryption_key_versions (label, version) "
	    "SELECT label, 1 FROM k", 1, v, "registering a KEK", NULL, err));
}

int
store_kek_rotate(struct store *s, const char *label, uint32_t *out,
    struct cf_error *err)
{
	const char *v[1] = { label };
	PGresult *r;

	if ((r = store_exec_params(s, "WITH k AS (UPDATE encryption_keys SET "
	    "current_version = current_version + 1 WHERE label = $1 RETURNING "
	    "current_version) INSERT INTO encryption_key_versions (label, "
	    "version) SELECT $1, current_version FROM k RETURNING version", 1,
	    v, NULL, NULL, 0, PGRES_TUPLES_OK, "rotating a KEK", err)) == NULL)
		return (-1);
	if (PQntuples(r) != 1) {
		PQclear(r);
		cf_error_set(err, CF_ERR_INTERNAL, "KEK %.64s is not registered",
		    label);
		return (-1);
	}
	*out = (uint32_t)store_col_i64(r, 0, 0);
	PQclear(r);
	return (0);
}

/* A KEK's versions and what each wraps (store_kek_describe). */
#define KEK_DESCRIBE "SELECT k.current_version, " MS("k.created_date") \
	", v.version, " MS("v.created_date") ", " MS("v.destroyed_date") \
	", (SELECT count(*) FROM secret_versions sv WHERE sv.kek_label = " \
	"v.label AND sv.kek_version = v.version AND sv.value_type <> 0) + " \
	"(SELECT count(*) FROM access_keys ak WHERE ak.kek_label = v.label " \
	"AND ak.kek_version = v.version), v.destroyed_date IS NOT NULL, " \
	"k.state, " MS("k.deletion_date") " FROM encryption_keys k JOIN " \
	"encryption_key_versions v ON v.label = k.label WHERE k.label = $1 " \
	"ORDER BY v.version"

enum store_lookup
store_kek_describe(struct store *s, struct cf_arena *a, const char *label,
    int lock, struct store_kek_info *out, struct cf_error *err)
{
	const char *v[1] = { label };
	PGresult *r;
	int i, n, oom = 0;

	/*
	 * Each version and the envelopes it still wraps: versions of
	 * secrets (a pending rotation's empty row wraps nothing) and access
	 * keys.  With ${lock}, the KEK's row is locked until the transaction
	 * ends, so a rotation cannot run beside what the caller does.
	 */
	if ((r = store_exec_params(s, lock ? KEK_DESCRIBE " FOR UPDATE OF k" :
	    KEK_DESCRIBE, 1, v, NULL, NULL, !lock, PGRES_TUPLES_OK,
	    "describing a KEK", err)) == NULL)
		return (STORE_ERROR);
	if ((n = PQntuples(r)) == 0) {
		PQclear(r);
		return (STORE_NOT_FOUND);
	}
	memset(out, 0, sizeof(*out));
	out->current = (uint32_t)store_col_i64(r, 0, 0);
	out->created_ms = store_col_i64(r, 0, 1);
	out->state = store_col_str(a, r, 0, 7, &oom);
	out->deletion_ms = store_col_i64(r, 0, 8);
	if (!oom && (out->versions = cf_arena_alloc(a, (size_t)n *
	    sizeof(*out->versions))) == NULL)
		oom = 1;
	for (i = 0; !oom && i < n; i++) {
		out->versions[i].version = (uint32_t)store_col_i64(r, i, 2);
		out->versions[i].created_ms = store_col_i64(r, i, 3);
		out->versions[i].destroyed_ms = store_col_i64(r, i, 4);
		out->versions[i].wrapped = store_col_i64(r, i, 5);
		out->versions[i].destroyed = PQgetvalue(r, i, 6)[0] == 't';
		if (out->versions[i].version < out->current &&
		    out->versions[i].wrapped > 0)
			out->rewrap_pending = 1;
	}
	out->n_versions = (size_t)n;
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (STORE_ERROR);
	}
	return (STORE_FOUND);
}

int
store_kek_destroyed(struct store *s, const char *label, uint32_t version,
    struct cf_error *err)
{
	char ver[16];
	const char *v[2] = { label, ver };

	snprintf(ver, sizeof(ver), "%u", version);
	return (store_exec_rows(s, "UPDATE encryption_key_versions SET "
	    "destroyed_date = now() WHERE label = $1 AND version = $2::int AND "
	    "destroyed_date IS NULL", 2, v, "recording a destroyed KEK", NULL,
	    err));
}

/* Decode claimed rows (the columns of claim_sql) into ${it} from ${at}. */
static int
claim_rows(struct cf_arena *a, const PGresult *r, struct store_rewrap_item *it,
    int access_key)
{
	int i, oom = 0;

	for (i = 0; !oom && i < PQntuples(r); i++) {
		it[i].access_key = access_key;
		it[i].owner = store_col_str(a, r, i, 0, &oom);
		it[i].version_id = store_col_str(a, r, i, 1, &oom);
		it[i].kek_label = store_col_str(a, r, i, 2, &oom);
		it[i].kek_version = (uint32_t)store_col_i64(r, i, 3);
		it[i].to_version = (uint32_t)store_col_i64(r, i, 5);
		if (!oom && store_col_hex(a, r, i, 4, &it[i].wrapped,
		    &it[i].wrapped_len))
			oom = 1;
	}
	return (oom ? -1 : 0);
}

int
store_rewrap_claim(struct store *s, struct cf_arena *a, int limit,
    struct store_rewrap_item **out, size_t *n, struct cf_error *err)
{
	static const char *const sql[2] = {
		"SELECT x.secret_uuid::text, x.version_id, x.kek_label, "
		"x.kek_version, encode(x.wrapped_dek, 'hex'), k.current_version "
		"FROM secret_versions x JOIN encryption_keys k ON k.label = "
		"x.kek_label WHERE x.kek_version < k.current_version AND "
		"k.state = 'Enabled' AND "
		"x.value_type <> 0 LIMIT $1::int FOR UPDATE OF x SKIP LOCKED",
		"SELECT x.access_key_id, '', x.kek_label, x.kek_version, "
		"encode(x.wrapped_dek, 'hex'), k.current_version FROM access_keys "
		"x JOIN encryption_keys k ON k.label = x.kek_label WHERE "
		"k.state = 'Enabled' AND x.kek_version < k.current_version LIMIT $1::int FOR UPDATE OF x "
		"SKIP LOCKED",
	};
	struct store_rewrap_item *it;
	PGresult *r;
	char l[16];
	const char *v[1] = { l };
	size_t got = 0;
	int pass, rc;

	/*
	 * Envelopes under an older version than their KEK's current one,
	 * secret versions first, then access keys; locked, and skipped by
	 * every other server's claim until this transaction ends.
	 */
	*out = NULL;
	*n = 0;
	if ((it = cf_arena_alloc(a, (size_t)limit * sizeof(*it))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	for (pass = 0; pass < 2 && got < (size_t)limit; pass++) {
		snprintf(l, sizeof(l), "%d", limit - (int)got);
		if ((r = store_exec_params(s, sql[pass], 1, v, NULL, NULL, 0,
		    PGRES_TUPLES_OK, "claiming envelopes to rewrap", err)) ==
		    NULL)
			return (-1);
		rc = claim_rows(a, r, it + got, pass);
		got += (size_t)PQntuples(r);
		PQclear(r);
		if (rc) {
			cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
			return (-1);
		}
	}
	*out = it;
	*n = got;
	return (0);
}

int
store_rewrap_update(struct store *s, const struct store_rewrap_item *it,
    struct cf_error *err)
{
	char ver[16], *hex;
	const char *v[4];
	int rows = 0, rc;

	if ((hex = malloc(2 * it->wrapped_len + 1)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	cf_hex_encode(it->wrapped, it->wrapped_len, hex);
	snprintf(ver, sizeof(ver), "%u", it->to_version);
	v[0] = it->owner;
	v[1] = hex;
	v[2] = ver;
	v[3] = it->version_id;
	rc = it->access_key ? store_exec_rows(s, "UPDATE access_keys SET "
	    "wrapped_dek = decode($2, 'hex'), kek_version = $3::int WHERE "
	    "access_key_id = $1", 3, v, "rewrapping an access key", &rows,
	    err) : store_exec_rows(s, "UPDATE secret_versions SET wrapped_dek = "
	    "decode($2, 'hex'), kek_version = $3::int WHERE secret_uuid = "
	    "$1::uuid AND version_id = $4", 4, v, "rewrapping a version",
	    &rows, err);
	free(hex);
	if (rc == 0 && rows != 1) {
		cf_error_set(err, CF_ERR_INTERNAL, "a claimed envelope is gone");
		return (-1);
	}
	return (rc);
}

enum store_lookup
store_kek_create(struct store *s, const char *label, struct cf_error *err)
{
	const char *v[1] = { label };
	int rows = 0;

	if (store_exec_rows(s, "WITH k AS (INSERT INTO encryption_keys "
	    "(label) VALUES ($1) ON CONFLICT (label) DO NOTHING RETURNING "
	    "label) INSERT INTO encryption_key_versions (label, version) "
	    "SELECT label, 1 FROM k", 1, v, "creating a KEK", &rows, err))
		return (STORE_ERROR);
	return (rows == 1 ? STORE_NOT_FOUND : STORE_FOUND);
}

enum store_lookup
store_kek_schedule(struct store *s, const char *label, int days,
    int64_t *out_ms, struct cf_error *err)
{
	char d[16];
	const char *v[2] = { label, d };
	PGresult *r;
	enum store_lookup rc = STORE_NOT_FOUND;

	snprintf(d, sizeof(d), "%d", days);
	if ((r = store_exec_params(s, "UPDATE encryption_keys SET state = "
	    "'PendingDeletion', deletion_date = now() + $2::int * interval "
	    "'1 day' WHERE label = $1 AND state = 'Enabled' RETURNING "
	    MS("deletion_date"), 2, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    "scheduling a KEK's deletion", err)) == NULL)
		return (STORE_ERROR);
	if (PQntuples(r) == 1) {
		*out_ms = store_col_i64(r, 0, 0);
		rc = STORE_FOUND;
	}
	PQclear(r);
	return (rc);
}

enum store_lookup
store_kek_cancel(struct store *s, const char *label, struct cf_error *err)
{
	const char *v[1] = { label };
	int rows = 0;

	if (store_exec_rows(s, "UPDATE encryption_keys SET state = 'Enabled', "
	    "deletion_date = NULL WHERE label = $1 AND state = "
	    "'PendingDeletion'", 1, v, "cancelling a KEK's deletion", &rows,
	    err))
		return (STORE_ERROR);
	return (rows == 1 ? STORE_FOUND : STORE_NOT_FOUND);
}

int
store_kek_due(struct store *s, struct cf_arena *a, int limit,
    struct store_kek **out, size_t *n, struct cf_error *err)
{
	char l[16];
	const char *v[1] = { l };
	PGresult *r;

	snprintf(l, sizeof(l), "%d", limit);
	if ((r = store_exec_params(s, "SELECT " KEK_COLS " FROM "
	    "encryption_keys k WHERE k.state = 'PendingDeletion' AND "
	    "k.deletion_date <= now() ORDER BY k.deletion_date LIMIT $1::int "
	    "FOR UPDATE SKIP LOCKED", 1, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    "claiming KEKs due for destruction", err)) == NULL)
		return (-1);
	return (kek_rows(a, r, out, n, err));
}

int
store_kek_mark_destroyed(struct store *s, const char *label,
    struct cf_error *err)
{
	const char *v[1] = { label };

	return (store_exec_rows(s, "WITH k AS (UPDATE encryption_keys SET "
	    "state = 'Destroyed', deletion_date = now() WHERE label = $1) "
	    "UPDATE encryption_key_versions SET destroyed_date = now() WHERE "
	    "label = $1 AND destroyed_date IS NULL", 1, v, "recording a "
	    "destroyed KEK", NULL, err));
}
