/*
 * store_version.c: the statements on versions and their labels (stages):
 * reading, inserting and filling a version, moving and removing labels,
 * the version pages of ListSecretVersionIds, counting and pruning.  Their
 * SQL is in store_stmt.c, their rows are decoded by store_row.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store_internal.h"

enum store_lookup
store_version_get(struct store *s, struct cf_arena *a, const char *uuid,
    const char *version_id, const char *stage, struct store_version *out,
    struct cf_error *err)
{
	const char *v[2] = { uuid, version_id ? version_id : stage };
	PGresult *r;
	enum store_lookup rc;

	if ((r = store_exec(s, version_id ? ST_VERSION_BY_ID :
	    ST_VERSION_BY_STAGE, 2, v, NULL, NULL, 1, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (STORE_ERROR);
	if (PQntuples(r) == 0)
		rc = STORE_NOT_FOUND;
	else if (store_decode_version(a, r, 0, 0, out)) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not decode a version");
		rc = STORE_ERROR;
	} else
		rc = STORE_FOUND;
	PQclear(r);
	return (rc);
}

/*
 * The parameters of a version row: $1 uuid, $2 version id, $3 value type,
 * $4 format, $5 KEK label, $6-$8 the envelope's byte strings (binary),
 * $9 its KEK version (also in ${kv}: ST_VERSION_ADD takes it as $13).
 * ${type}, ${format} and ${kv} are the caller's buffers.
 */
static void
version_params(const char *uuid, const struct store_version *ver,
    char type[4], char format[16], char kv[16], const char *v[9], int len[9],
    int fmt[9])
{

	snprintf(type, 4, "%d", ver->empty ? 0 : ver->binary ? 2 : 1);
	snprintf(format, 16, "%u", ver->format);
	snprintf(kv, 16, "%u", ver->kek_version > 0 ? ver->kek_version : 1);
	memset(len, 0, 9 * sizeof(*len));
	memset(fmt, 0, 9 * sizeof(*fmt));
	v[0] = uuid;
	v[1] = ver->version_id;
	v[2] = type;
	v[3] = format;
	v[4] = ver->kek_label;
	v[5] = ver->iv != NULL ? (const char *)ver->iv : "";
	len[5] = (int)ver->iv_len;
	v[6] = ver->wrapped_dek != NULL ? (const char *)ver->wrapped_dek : "";
	len[6] = (int)ver->wrapped_dek_len;
	v[7] = ver->ciphertext != NULL ? (const char *)ver->ciphertext : "";
	len[7] = (int)ver->ciphertext_len;
	fmt[5] = fmt[6] = fmt[7] = 1;
	v[8] = kv;
}

int
store_version_insert(struct store *s, const char *uuid,
    const struct store_version *ver, struct cf_error *err)
{
	char type[4], format[16], kv[16];
	const char *v[9];
	int len[9], fmt[9];

	version_params(uuid, ver, type, format, kv, v, len, fmt);
	return (store_command(s, ST_VERSION_INSERT, 9, v, len, fmt, err));
}

int
store_version_add(struct store *s, const char *uuid,
    const struct store_version *ver, const char *const *labels, size_t n,
    int current_if_none, int keep, int min_age_s, int max_labels,
    struct cf_error *err)
{
	char type[4], format[16], kv[16], k[16], age[16], lim[16];
	const char *v[14];
	int len[14], fmt[14];
	json_t *arr;
	char *json;
	size_t i;
	int rc;

	/* The labels as a JSON array: jansson quotes them, not us. */
	if ((arr = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, json_string(labels[i])) != 0) {
			json_decref(arr);
			goto oom;
		}
	json = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (json == NULL)
		goto oom;

	version_params(uuid, ver, type, format, kv, v, len, fmt);
	snprintf(k, sizeof(k), "%d", keep);
	snprintf(age, sizeof(age), "%d", min_age_s);
	v[8] = json;
	v[9] = k;
	v[10] = age;
	v[11] = current_if_none ? "true" : "false";
	v[12] = kv;
	snprintf(lim, sizeof(lim), "%d", max_labels);
	v[13] = lim;
	len[8] = len[9] = len[10] = len[11] = len[12] = len[13] = 0;
	fmt[8] = fmt[9] = fmt[10] = fmt[11] = fmt[12] = fmt[13] = 0;
	rc = store_hold_or_run(s, ST_VERSION_ADD, 14, v, len, fmt,
	    PGRES_TUPLES_OK, err);
	free(json);
	return (rc);
oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

int
store_put_unchanged(struct store *s, const char *uuid, const char *vid,
    const char *basis, enum store_basis kind, struct cf_error *err)
{
	const char *v[3] = { uuid, vid, basis };

	/* Held, so that they lead the pipeline that ends with the COMMIT. */
	if (!s->defer || !(s->in_tx || s->begin_pending)) {
		cf_error_set(err, CF_ERR_INTERNAL, "a write's basis is checked "
		    "only at the head of its held writes");
		return (-1);
	}
	if (store_hold(s, ST_PUT_LOCK, 1, v, NULL, NULL, PGRES_TUPLES_OK,
	    err))
		return (-1);
	return (store_hold(s, kind == STORE_BASIS_REKEY ? ST_REKEY_UNCHANGED :
	    ST_PUT_UNCHANGED, 3, v, NULL, NULL, PGRES_TUPLES_OK, err));
}

int
store_version_fill(struct store *s, const char *uuid,
    const struct store_version *ver, struct cf_error *err)
{
	char type[4], format[16], kv[16];
	const char *v[9];
	int len[9], fmt[9], rows;
	PGresult *r;

	version_params(uuid, ver, type, format, kv, v, len, fmt);
	if ((r = store_exec(s, ST_VERSION_FILL, 9, v, len, fmt, 0,
	    PGRES_COMMAND_OK, err)) == NULL)
		return (-1);
	rows = atoi(PQcmdTuples(r));
	PQclear(r);
	if (rows != 1) {
		cf_error_set(err, CF_ERR_INVALID_REQUEST, "version %.64s has a "
		    "value already", ver->version_id);
		return (-1);
	}
	return (0);
}

int
store_version_reseal(struct store *s, const char *uuid,
    const struct store_version *ver, struct cf_error *err)
{
	char type[4], format[16], kv[16];
	const char *v[9];
	int len[9], fmt[9];

	version_params(uuid, ver, type, format, kv, v, len, fmt);
	return (store_hold_or_run(s, ST_VERSION_RESEAL, 9, v, len, fmt,
	    PGRES_TUPLES_OK, err));
}

int
store_versions_sealed(struct store *s, struct cf_arena *a, const char *uuid,
    struct store_version **out, size_t *n, struct cf_error *err)
{
	const char *v[1] = { uuid };
	PGresult *r;
	int i, rows;

	*out = NULL;
	*n = 0;
	if ((r = store_exec(s, ST_VERSIONS_SEALED, 1, v, NULL, NULL, 1,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (-1);
	rows = PQntuples(r);
	if (rows > 0 && (*out = cf_arena_alloc(a, (size_t)rows *
	    sizeof(**out))) == NULL)
		goto bad;
	for (i = 0; i < rows; i++)
		if (store_decode_version(a, r, i, 0, &(*out)[i]))
			goto bad;
	PQclear(r);
	*n = (size_t)rows;
	return (0);
bad:
	PQclear(r);
	cf_error_set(err, CF_ERR_INTERNAL, "could not decode a version");
	return (-1);
}

int
store_stage_move(struct store *s, struct cf_arena *a, const char *uuid,
    const char *stage, const char *version_id, const char **out_prev,
    struct cf_error *err)
{
	const char *v[3] = { uuid, stage, version_id };
	PGresult *r;
	int oom = 0;

	if ((r = store_exec(s, ST_STAGE_MOVE, 3, v, NULL, NULL, 0,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (-1);
	*out_prev = PQntuples(r) ? store_col_str(a, r, 0, 0, &oom) : NULL;
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
}

int
store_pairs_stages(struct cf_arena *a, const struct store_pairs *p,
    struct store_stage **out, size_t **owner, size_t *n,
    struct cf_error *err)
{
	size_t i;

	*n = p->n;
	*owner = p->owner;
	*out = NULL;
	if (p->n == 0)
		return (0);
	if ((*out = cf_arena_alloc(a, p->n * sizeof(**out))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	for (i = 0; i < p->n; i++) {
		(*out)[i].version_id = p->first[i];
		(*out)[i].stage = p->second[i];
	}
	return (0);
}

int
store_version_page(struct store *s, struct cf_arena *a, const char *uuid,
    int include_deprecated, int64_t after_us, const char *after_vid,
    int limit, struct store_version_info **out, size_t *n,
    struct cf_error *err)
{
	char us[24], lim[16];
	const char *v[5];
	PGresult *r;
	int i, oom = 0;

	snprintf(us, sizeof(us), "%lld", (long long)after_us);
	snprintf(lim, sizeof(lim), "%d", limit);
	v[0] = uuid;
	v[1] = include_deprecated ? "true" : "false";
	if (after_vid == NULL) {
		v[2] = lim;
		r = store_exec(s, ST_VERSIONS_FIRST, 3, v, NULL, NULL, 1,
		    PGRES_TUPLES_OK, err);
	} else {
		v[2] = us;
		v[3] = after_vid;
		v[4] = lim;
		r = store_exec(s, ST_VERSIONS_AFTER, 5, v, NULL, NULL, 1,
		    PGRES_TUPLES_OK, err);
	}
	if (r == NULL)
		return (-1);
	*n = (size_t)PQntuples(r);
	*out = NULL;
	if (*n > 0 && (*out = cf_arena_alloc(a, *n * sizeof(**out))) == NULL)
		oom = 1;
	for (i = 0; !oom && i < (int)*n; i++) {
		struct store_version_info *e = &(*out)[i];

		e->version_id = store_col_str(a, r, i, 0, &oom);
		e->created_ms = store_col_bin_int(r, i, 1);
		e->created_us = store_col_bin_int(r, i, 2);
		e->last_accessed_ms = store_col_bin_int(r, i, 3);
		e->kek_label = store_col_str(a, r, i, 4, &oom);
		if (!oom && store_col_labels(a, r, i, 5, &e->stages,
		    &e->n_stages))
			oom = 1;
	}
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
}

enum store_lookup
store_version_exists(struct store *s, const char *uuid, const char *vid,
    struct cf_error *err)
{
	const char *v[2] = { uuid, vid };
	int64_t one;
	int found;

	if (store_scalar(s, ST_VERSION_EXISTS, 2, v, &one, &found, err))
		return (STORE_ERROR);
	return (found ? STORE_FOUND : STORE_NOT_FOUND);
}

enum store_lookup
store_stage_holder(struct store *s, struct cf_arena *a, const char *uuid,
    const char *stage, const char **out_vid, struct cf_error *err)
{
	const char *v[2] = { uuid, stage };
	PGresult *r;
	int oom = 0, found;

	if ((r = store_exec(s, ST_STAGE_HOLDER, 2, v, NULL, NULL, 0,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (STORE_ERROR);
	found = PQntuples(r) > 0;
	*out_vid = found ? store_col_str(a, r, 0, 0, &oom) : NULL;
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (STORE_ERROR);
	}
	return (found ? STORE_FOUND : STORE_NOT_FOUND);
}

int
store_stage_remove(struct store *s, const char *uuid, const char *stage,
    struct cf_error *err)
{
	const char *v[2] = { uuid, stage };

	return (store_command(s, ST_STAGE_REMOVE, 2, v, NULL, NULL, err));
}

int
store_stage_set(struct store *s, const char *uuid, const char *stage,
    const char *vid, int max_labels, struct cf_error *err)
{
	char lim[16];
	const char *v[4] = { uuid, stage, vid, lim };

	snprintf(lim, sizeof(lim), "%d", max_labels);
	return (store_hold_or_run(s, ST_STAGE_SET, 4, v, NULL, NULL,
	    PGRES_TUPLES_OK, err));
}

int
store_versions_settle(struct store *s, const char *uuid, int keep,
    int min_age_s, int *labels, struct cf_error *err)
{
	char k[16], age[16];
	const char *v[3] = { uuid, k, age };
	int64_t n;
	int found;

	snprintf(k, sizeof(k), "%d", keep);
	snprintf(age, sizeof(age), "%d", min_age_s);
	if (store_scalar(s, ST_VERSIONS_SETTLE, 3, v, &n, &found, err))
		return (-1);
	*labels = (int)n;
	return (0);
}
