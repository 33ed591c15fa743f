/*
 * store_row.c: rows to structs.  Text columns are copied into the caller's
 * arena; dates arrive as epoch milliseconds (store_stmt.c's MS()) or, in
 * binary results, as PostgreSQL stores them; tags and labels as JSON
 * arrays, which jansson reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpqtypes.h>

#include "store_internal.h"

/* A text column as an arena string, NULL for SQL NULL. */
const char *
store_col_str(struct cf_arena *a, const PGresult *r, int row, int col, int *oom)
{
	const char *v;

	if (PQgetisnull(r, row, col))
		return (NULL);
	v = cf_arena_memdup(a, PQgetvalue(r, row, col),
	    (size_t)PQgetlength(r, row, col));
	if (v == NULL)
		*oom = 1;
	return (v);
}

/* A text-format int8 column, 0 for NULL. */
int64_t
store_col_i64(const PGresult *r, int row, int col)
{

	if (PQgetisnull(r, row, col))
		return (0);
	return (strtoll(PQgetvalue(r, row, col), NULL, 10));
}

/* A binary-format integer column (int2, int4 or int8), 0 for NULL. */
int64_t
store_col_bin_int(const PGresult *r, int row, int col)
{
	const uint8_t *p = (const uint8_t *)PQgetvalue(r, row, col);
	int len = PQgetlength(r, row, col);
	uint64_t v = 0;
	int i;

	if (PQgetisnull(r, row, col))
		return (0);
	for (i = 0; i < len; i++)
		v = (v << 8) | p[i];
	if (len == 2)
		return ((int16_t)v);
	if (len == 4)
		return ((int32_t)v);
	return ((int64_t)v);
}

/*
 * The type OIDs of binary date columns (fixed in PostgreSQL's catalog,
 * pg_type.dat; libpq does not name them), and their epoch: 2000-01-01
 * UTC, in Unix epoch milliseconds.
 */
#define OID_INT8 20
#define OID_DATE 1082
#define OID_TIMESTAMPTZ 1184
#define PG_EPOCH_MS INT64_C(946684800000)

/*
 * A binary-format date column as epoch milliseconds, 0 for NULL: an int8
 * already in milliseconds, a timestamptz (microseconds since 2000, floored
 * to the millisecond as MS() does), or a date (its midnight UTC).
 */
static int64_t
col_bin_ms(const PGresult *r, int row, int col)
{
	int64_t v = store_col_bin_int(r, row, col);

	if (PQgetisnull(r, row, col))
		return (0);
	switch (PQftype(r, col)) {
	case OID_TIMESTAMPTZ:
		return ((v >= 0 ? v / 1000 : -((-v + 999) / 1000)) + PG_EPOCH_MS);
	case OID_DATE:
		return (v * 86400000 + PG_EPOCH_MS);
	default:
		return (v);
	}
}

/* [[key, value], ...] into ${out}'s tags; -1 if unreadable or no memory. */
static int
decode_tags(struct cf_arena *a, const char *json, size_t len,
    struct store_secret *out)
{
	json_t *arr, *t;
	struct store_tag *tags;
	size_t i, n;
	int rc = -1;

	if ((arr = json_loadb(json, len, 0, NULL)) == NULL ||
	    !json_is_array(arr))
		goto done;
	if ((n = json_array_size(arr)) == 0) {
		rc = 0;
		goto done;
	}
	if ((tags = cf_arena_alloc(a, n * sizeof(*tags))) == NULL)
		goto done;
	json_array_foreach(arr, i, t) {
		const char *k = json_string_value(json_array_get(t, 0));
		const char *v = json_string_value(json_array_get(t, 1));

		if (k == NULL || v == NULL ||
		    (tags[i].key = cf_arena_strdup(a, k)) == NULL ||
		    (tags[i].value = cf_arena_strdup(a, v)) == NULL)
			goto done;
	}
	out->tags = tags;
	out->n_tags = n;
	rc = 0;
done:
	json_decref(arr);
	return (rc);
}

int
store_decode_secret(struct cf_arena *a, const PGresult *r, int row,
    struct store_secret *out)
{
	int oom = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->uuid, sizeof(out->uuid), "%s", PQgetvalue(r, row, 0));
	out->name = store_col_str(a, r, row, 1, &oom);
	out->arn = store_col_str(a, r, row, 2, &oom);
	out->description = store_col_str(a, r, row, 3, &oom);
	out->kms_key_id = store_col_str(a, r, row, 4, &oom);
	out->created_ms = store_col_i64(r, row, 5);
	out->created_us = store_col_i64(r, row, 6);
	out->last_changed_ms = store_col_i64(r, row, 7);
	out->last_accessed_ms = store_col_i64(r, row, 8);
	out->deleted_ms = store_col_i64(r, row, 9);
	out->purge_after_ms = store_col_i64(r, row, 10);
	/* 't' in text results, "true" as text in binary ones. */
	out->rotation_enabled = PQgetisnull(r, row, 11) ? -1 :
	    PQgetvalue(r, row, 11)[0] == 't';
	out->rotation_lambda_arn = store_col_str(a, r, row, 12, &oom);
	out->rotation_rules = store_col_str(a, r, row, 13, &oom);
	out->last_rotated_ms = store_col_i64(r, row, 14);
	out->next_rotation_ms = store_col_i64(r, row, 15);
	out->owning_service = store_col_str(a, r, row, 16, &oom);
	out->resource_policy = store_col_str(a, r, row, 17, &oom);
	out->rotation_token = store_col_str(a, r, row, 19, &oom);
	out->rotation_step = PQgetisnull(r, row, 20) ? 0 :
	    atoi(PQgetvalue(r, row, 20));
	out->rotation_test_only = PQgetvalue(r, row, 21)[0] == 't';
	out->rotation_attempts = atoi(PQgetvalue(r, row, 22));
	out->rotation_error = store_col_str(a, r, row, 23, &oom);
	out->rotation_principal = store_col_str(a, r, row, 24, &oom);
	out->rotation_pins = store_col_str(a, r, row, 25, &oom);
	out->tags_present = PQgetvalue(r, row, 26)[0] == 't';
	if (!PQgetisnull(r, row, 18)) {
		out->tags_loaded = 1;
		if (decode_tags(a, PQgetvalue(r, row, 18),
		    (size_t)PQgetlength(r, row, 18), out))
			oom = 1;
	}
	return (oom ? -1 : 0);
}

int
store_decode_secrets(struct cf_arena *a, const PGresult *r,
    struct store_secret **out, size_t *n, struct cf_error *err)
{
	int i;

	*n = (size_t)PQntuples(r);
	*out = NULL;
	if (*n > 0 && (*out = cf_arena_alloc(a, *n * sizeof(**out))) == NULL)
		goto oom;
	for (i = 0; i < (int)*n; i++)
		if (store_decode_secret(a, r, i, &(*out)[i]))
			goto oom;
	return (0);

oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

/*
 * libpqtypes reads the array (PostgreSQL's binary array format; its text
 * format it refuses): a PGresult of one row per element, cleared here.
 */
int
store_col_labels(struct cf_arena *a, const PGresult *r, int row, int col,
    const char ***out, size_t *n)
{
	PGarray arr;
	PGtext t;
	int i, rc = -1;

	*out = NULL;
	*n = 0;
	memset(&arr, 0, sizeof(arr));
	if (!PQgetf(r, row, "%text[]", col, &arr) || arr.ndims > 1)
		goto done;
	*n = (size_t)PQntuples(arr.res);
	if (*n > 0 && (*out = cf_arena_alloc(a, *n * sizeof(char *))) == NULL)
		goto done;
	for (i = 0; i < (int)*n; i++)
		if (!PQgetf(arr.res, i, "%text", 0, &t) || t == NULL ||
		    ((*out)[i] = cf_arena_strdup(a, t)) == NULL)
			goto done;
	rc = 0;
done:
	PQclear(arr.res);
	return (rc);
}

int
store_decode_staged(struct cf_arena *a, const PGresult *r,
    struct store_secret *out)
{
	int oom = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->uuid, sizeof(out->uuid), "%s", PQgetvalue(r, 0, 0));
	out->name = store_col_str(a, r, 0, 1, &oom);
	out->arn = store_col_str(a, r, 0, 2, &oom);
	out->resource_policy = store_col_str(a, r, 0, 3, &oom);
	out->deleted_ms = col_bin_ms(r, 0, 4);
	out->last_accessed_ms = col_bin_ms(r, 0, 5);
	return (oom ? -1 : 0);
}

/* Decode binary-format version row ${row}, its columns from ${c} on. */
int
store_decode_version(struct cf_arena *a, const PGresult *r, int row,
    int c, struct store_version *v)
{
	int oom = 0;

	memset(v, 0, sizeof(*v));
	v->version_id = store_col_str(a, r, row, c, &oom);
	v->binary = store_col_bin_int(r, row, c + 1) == 2;
	v->empty = store_col_bin_int(r, row, c + 1) == 0;
	v->format = (uint32_t)store_col_bin_int(r, row, c + 2);
	v->kek_label = store_col_str(a, r, row, c + 3, &oom);
	v->iv = (const uint8_t *)store_col_str(a, r, row, c + 4, &oom);
	v->iv_len = (size_t)PQgetlength(r, row, c + 4);
	v->wrapped_dek = (const uint8_t *)store_col_str(a, r, row, c + 5, &oom);
	v->wrapped_dek_len = (size_t)PQgetlength(r, row, c + 5);
	v->ciphertext = (const uint8_t *)store_col_str(a, r, row, c + 6, &oom);
	v->ciphertext_len = (size_t)PQgetlength(r, row, c + 6);
	v->created_ms = col_bin_ms(r, row, c + 7);
	v->last_accessed_ms = col_bin_ms(r, row, c + 8);
	v->kek_version = (uint32_t)store_col_bin_int(r, row, c + 10);
	if (oom || store_col_labels(a, r, row, c + 9, &v->stages,
	    &v->n_stages))
		return (-1);
	return (0);
}

int
store_col_hex(struct cf_arena *a, const PGresult *r, int row, int col,
    const uint8_t **out, size_t *len)
{
	const char *t = PQgetvalue(r, row, col);
	size_t n = (size_t)PQgetlength(r, row, col);
	uint8_t *b;

	if (n % 2 != 0 || (b = cf_arena_alloc(a, n / 2 + 1)) == NULL ||
	    cf_hex_decode(t, n, CF_HEX_LOWER, b, n / 2) != CF_HEX_OK)
		return (-1);
	*out = b;
	*len = n / 2;
	return (0);
}
