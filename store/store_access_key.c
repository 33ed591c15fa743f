/*
 * store_access_key.c: access keys for AWS Signature Version 4
 * (migrations/0010_access_keys.sql).  The secret is a sealed envelope,
 * never plaintext; this file only moves its bytes.
 *
 * Written by administrators, so one-off parameterised statements.  The
 * envelope goes in as binary parameters, as a version's does; it comes
 * back as hex text (encode() in SQL), since one-off statements have text
 * results.
 */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

#define META_COLS "access_key_id, principal, status = 'Active', " \
	MS("created_date")

/* Row ${i} of ${r}, columns META_COLS, into ${k}. */
static int
decode_meta(struct cf_arena *a, const PGresult *r, int i,
    struct store_access_key *k)
{
	int oom = 0;

	memset(k, 0, sizeof(*k));
	k->access_key_id = store_col_str(a, r, i, 0, &oom);
	k->principal = store_col_str(a, r, i, 1, &oom);
	k->active = strcmp(PQgetvalue(r, i, 2), "t") == 0;
	k->created_ms = store_col_i64(r, i, 3);
	return (oom ? -1 : 0);
}

int
store_access_key_insert(struct store *s, const struct store_access_key *k,
    int64_t *created_ms, struct cf_error *err)
{
	const struct store_version *e = &k->sealed;
	char format[16], kv[16];
	const char *v[8] = { k->access_key_id, k->principal, format,
	    e->kek_label, (const char *)e->iv, (const char *)e->wrapped_dek,
	    (const char *)e->ciphertext, kv };
	int len[8] = { 0, 0, 0, 0, (int)e->iv_len, (int)e->wrapped_dek_len,
	    (int)e->ciphertext_len, 0 };
	int fmt[8] = { 0, 0, 0, 0, 1, 1, 1, 0 };
	PGresult *r;

	snprintf(format, sizeof(format), "%u", (unsigned)e->format);
	snprintf(kv, sizeof(kv), "%u", e->kek_version > 0 ? e->kek_version :
	    1);
	if ((r = store_exec_params(s, "INSERT INTO access_keys (access_key_id, "
	    "principal, format, kek_label, iv, wrapped_dek, ciphertext, "
	    "kek_version) VALUES ($1, $2, $3::int, $4, $5, $6, $7, $8::int) "
	    "RETURNING " MS("created_date"),
	    8, v, len, fmt, 0, PGRES_TUPLES_OK, "storing an access key",
	    err)) == NULL)
		return (-1);
	*created_ms = store_col_i64(r, 0, 0);
	PQclear(r);
	return (0);
}

int
store_access_keys_of(struct store *s, struct cf_arena *a,
    const char *principal, int lock, struct store_access_key **out,
    size_t *n, struct cf_error *err)
{
	const char *v[1] = { principal };
	PGresult *r;
	char *name;
	size_t len;
	int i, rows;

	*out = NULL;
	*n = 0;
	/*
	 * A principal's keys are counted before one is added: the lock (held
	 * to the end of the transaction) makes two creations for one
	 * principal take turns, so neither can pass the quota unseen.
	 */
	if (lock) {
		len = sizeof("coffer.access_keys:") + strlen(principal);
		if ((name = cf_arena_alloc(a, len)) == NULL) {
			cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
			return (-1);
		}
		snprintf(name, len, "coffer.access_keys:%s", principal);
		if (store_lock_name(s, name, err))
			return (-1);
	}
	if ((r = store_exec_params(s, "SELECT " META_COLS " FROM access_keys "
	    "WHERE principal = $1 ORDER BY created_date, access_key_id", 1, v,
	    NULL, NULL, !lock, PGRES_TUPLES_OK, "reading access keys",
	    err)) == NULL)
		return (-1);
	rows = PQntuples(r);
	if (rows > 0 && (*out = cf_arena_alloc(a, (size_t)rows *
	    sizeof(**out))) == NULL)
		goto oom;
	for (i = 0; i < rows; i++)
		if (decode_meta(a, r, i, &(*out)[i]))
			goto oom;
	*n = (size_t)rows;
	PQclear(r);
	return (0);
oom:
	PQclear(r);
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

enum store_lookup
store_access_key_get(struct store *s, struct cf_arena *a, const char *id,
    struct store_access_key *out, struct cf_error *err)
{
	const char *v[1] = { id };
	struct store_version *e = &out->sealed;
	PGresult *r;
	int oom = 0;

	if ((r = store_exec_params(s, "SELECT " META_COLS ", format, "
	    "kek_label, encode(iv, 'hex'), encode(wrapped_dek, 'hex'), "
	    "encode(ciphertext, 'hex'), kek_version FROM access_keys WHERE "
	    "access_key_id = $1", 1, v, NULL, NULL, 1, PGRES_TUPLES_OK, "reading an access key",
	    err)) == NULL)
		return (STORE_ERROR);
	if (PQntuples(r) == 0) {
		PQclear(r);
		return (STORE_NOT_FOUND);
	}
	if (decode_meta(a, r, 0, out))
		goto bad;
	e->version_id = out->access_key_id;
	e->format = (uint32_t)store_col_i64(r, 0, 4);
	e->kek_label = store_col_str(a, r, 0, 5, &oom);
	e->kek_version = (uint32_t)store_col_i64(r, 0, 9);
	if (oom || store_col_hex(a, r, 0, 6, &e->iv, &e->iv_len) ||
	    store_col_hex(a, r, 0, 7, &e->wrapped_dek, &e->wrapped_dek_len) ||
	    store_col_hex(a, r, 0, 8, &e->ciphertext, &e->ciphertext_len))
		goto bad;
	PQclear(r);
	return (STORE_FOUND);
bad:
	PQclear(r);
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (STORE_ERROR);
}

/* Run a change of one key; STORE_FOUND if it touched a row. */
static enum store_lookup
change_one(struct store *s, const char *sql, int n, const char *const *v,
    const char *what, struct cf_error *err)
{
	int rows;

	if (store_exec_rows(s, sql, n, v, what, &rows, err))
		return (STORE_ERROR);
	return (rows > 0 ? STORE_FOUND : STORE_NOT_FOUND);
}

enum store_lookup
store_access_key_set_status(struct store *s, const char *id, int active,
    struct cf_error *err)
{
	const char *v[2] = { id, active ? "Active" : "Inactive" };

	return (change_one(s, "UPDATE access_keys SET status = $2 WHERE "
	    "access_key_id = $1", 2, v, "changing an access key", err));
}

enum store_lookup
store_access_key_delete(struct store *s, const char *id,
    struct cf_error *err)
{
	const char *v[1] = { id };

	return (change_one(s, "DELETE FROM access_keys WHERE access_key_id = "
	    "$1", 1, v, "deleting an access key", err));
}
