/*
 * store_secret.c: the statements on secrets, versions, labels and tags, and
 * the conversion of their rows to structs.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store_internal.h"

/* Epoch milliseconds (and microseconds) of a timestamptz column. */
#define MS(c) "floor(extract(epoch FROM " c ") * 1000)::int8"
#define US(c) "floor(extract(epoch FROM " c ") * 1000000)::int8"

/*
 * The columns of a secret row, qualified by ${p}; ${t} is "" or "::text"
 * (text casts let a binary-format result carry them as text, so one
 * decoder reads both); ${tags} is TAGS_JSON(p) or "NULL::text".
 */
#define SECRET_COLS_PT(p, t, tags) \
	p "uuid::text, " p "name, " p "arn, " p "description, " \
	p "kms_key_id, " MS(p "created_date") t ", " \
	US(p "created_date") t ", " MS(p "last_changed_date") t ", " \
	MS("(" p "last_accessed_date::timestamp AT TIME ZONE 'UTC')") t ", " \
	MS(p "deleted_date") t ", " MS(p "purge_after") t ", " \
	p "rotation_enabled::text, " p "rotation_lambda_arn, " \
	p "rotation_rules::text, " MS(p "last_rotated_date") t ", " \
	MS(p "next_rotation_date") t ", " p "owning_service, " \
	p "resource_policy, " tags ", " p "rotation_token, " \
	p "rotation_step::text, " p "rotation_test_only::text, " \
	p "rotation_attempts::text, " p "rotation_error, " \
	p "rotation_principal, " p "rotation_pins::text"
/*
 * The secret's tags as [[key, value], ...], which authorization needs: read
 * with every lookup of one secret.  Pages leave them out (NULL): the engine
 * reads the tags of a whole page in one query.
 */
#define TAGS_JSON(p) "(SELECT coalesce(json_agg(json_build_array(g.key, " \
	"g.value) ORDER BY g.position), '[]')::text FROM tags g " \
	"WHERE g.secret_uuid = " p "uuid)"
#define SECRET_COLS_P(p, t) SECRET_COLS_PT(p, t, TAGS_JSON(p))
#define SECRET_COLS SECRET_COLS_P("", "")
#define PAGE_COLS SECRET_COLS_PT("", "", "NULL::text")
#define N_SECRET_COLS 26

#define VERSION_COLS \
	"v.version_id, v.value_type, v.format, v.kek_label, v.iv, " \
	"v.wrapped_dek, v.ciphertext, " MS("v.created_date") ", " \
	MS("(v.last_accessed_date::timestamp AT TIME ZONE 'UTC')") ", " \
	"(SELECT coalesce(json_agg(l.stage ORDER BY l.stage), '[]')::text " \
	"FROM version_stages l WHERE l.secret_uuid = v.secret_uuid " \
	"AND l.version_id = v.version_id)"

const char store_secret_cols[] = PAGE_COLS;

/* A secret and the version carrying label $2, in one round trip. */
#define SECRET_AND_STAGE(key) "SELECT " SECRET_COLS_P("s.", "::text") ", " \
	VERSION_COLS " FROM secrets s LEFT JOIN version_stages l " \
	"ON l.secret_uuid = s.uuid AND l.stage = $2 " \
	"LEFT JOIN secret_versions v ON v.secret_uuid = l.secret_uuid " \
	"AND v.version_id = l.version_id WHERE s." key " = $1"

#define CURSOR "('epoch'::timestamptz + $2::int8 * interval '1 microsecond')"

const struct store_stmt_def store_stmt_defs[ST__COUNT] = {
	[ST_SECRET_BY_NAME] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE name = $1", 1 },
	[ST_SECRET_BY_NAME_LOCK] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE name = $1 FOR UPDATE", 1 },
	[ST_SECRET_BY_ARN] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE arn = $1", 1 },
	[ST_SECRET_BY_UUID] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE uuid = $1::uuid", 1 },
	[ST_SECRET_BY_ARN_LOCK] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE arn = $1 FOR UPDATE", 1 },
	[ST_SECRET_INSERT] = { "INSERT INTO secrets "
	    "(uuid, name, arn, description, kms_key_id) "
	    "VALUES ($1, $2, $3, $4, $5)", 5 },
	[ST_SECRET_TOUCH_CHANGED] = { "UPDATE secrets "
	    "SET last_changed_date = now() WHERE uuid = $1", 1 },
	[ST_SECRET_TOUCH_ACCESSED] = { "UPDATE secrets SET last_accessed_date "
	    "= (now() AT TIME ZONE 'UTC')::date WHERE uuid = $1 AND "
	    "last_accessed_date IS DISTINCT FROM (now() AT TIME ZONE 'UTC')::date",
	    1 },
	[ST_VERSION_TOUCH_ACCESSED] = { "UPDATE secret_versions SET "
	    "last_accessed_date = (now() AT TIME ZONE 'UTC')::date "
	    "WHERE secret_uuid = $1 AND version_id = $2 AND last_accessed_date "
	    "IS DISTINCT FROM (now() AT TIME ZONE 'UTC')::date", 2 },
	[ST_PAGE_ASC_FIRST] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR deleted_date IS NULL) "
	    "ORDER BY created_date, uuid LIMIT $2", 2 },
	[ST_PAGE_ASC_AFTER] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR deleted_date IS NULL) AND (created_date, uuid) > ("
	    CURSOR ", $3::uuid) ORDER BY created_date, uuid LIMIT $4", 4 },
	[ST_PAGE_DESC_FIRST] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR deleted_date IS NULL) "
	    "ORDER BY created_date DESC, uuid DESC LIMIT $2", 2 },
	[ST_PAGE_DESC_AFTER] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR deleted_date IS NULL) AND (created_date, uuid) < ("
	    CURSOR ", $3::uuid) ORDER BY created_date DESC, uuid DESC LIMIT $4",
	    4 },
	[ST_VERSION_BY_ID] = { "SELECT " VERSION_COLS " FROM secret_versions v "
	    "WHERE v.secret_uuid = $1 AND v.version_id = $2", 2 },
	[ST_VERSION_BY_STAGE] = { "SELECT " VERSION_COLS
	    " FROM version_stages s JOIN secret_versions v "
	    "ON v.secret_uuid = s.secret_uuid AND v.version_id = s.version_id "
	    "WHERE s.secret_uuid = $1 AND s.stage = $2", 2 },
	[ST_VERSION_INSERT] = { "INSERT INTO secret_versions (secret_uuid, "
	    "version_id, value_type, format, kek_label, iv, wrapped_dek, "
	    "ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 8 },
	[ST_STAGE_MOVE] = { "WITH old AS (SELECT version_id FROM version_stages "
	    "WHERE secret_uuid = $1 AND stage = $2), "
	    "ins AS (INSERT INTO version_stages (secret_uuid, stage, version_id) "
	    "VALUES ($1, $2, $3) ON CONFLICT (secret_uuid, stage) "
	    "DO UPDATE SET version_id = EXCLUDED.version_id) "
	    "SELECT version_id FROM old", 3 },
	[ST_STAGES] = { "SELECT s.secret_uuid::text, s.version_id, s.stage "
	    "FROM version_stages s JOIN secret_versions v "
	    "ON v.secret_uuid = s.secret_uuid AND v.version_id = s.version_id "
	    "WHERE s.secret_uuid = ANY ($1::uuid[]) "
	    "ORDER BY s.secret_uuid, v.created_date, s.version_id, s.stage", 1 },
	[ST_TAG_PUT] = { "INSERT INTO tags (secret_uuid, key, value, position) "
	    "VALUES ($1, $2, $3, (SELECT coalesce(max(position), 0) + 1 "
	    "FROM tags WHERE secret_uuid = $1)) ON CONFLICT (secret_uuid, key) "
	    "DO UPDATE SET value = EXCLUDED.value", 3 },
	[ST_TAGS] = { "SELECT secret_uuid::text, key, value FROM tags "
	    "WHERE secret_uuid = ANY ($1::uuid[]) "
	    "ORDER BY secret_uuid, position", 1 },
	[ST_SECRET_UPDATE_META] = { "UPDATE secrets SET "
	    "description = CASE WHEN $2 THEN $3 ELSE description END, "
	    "kms_key_id = CASE WHEN $4 THEN $5 ELSE kms_key_id END, "
	    "last_changed_date = now() WHERE uuid = $1", 5 },
	[ST_SECRET_SCHEDULE_DELETE] = { "UPDATE secrets SET deleted_date = "
	    "now(), purge_after = now() + $2::int * interval '1 day' "
	    "WHERE uuid = $1 RETURNING " MS("purge_after"), 2 },
	[ST_SECRET_RESTORE] = { "UPDATE secrets SET deleted_date = NULL, "
	    "purge_after = NULL WHERE uuid = $1", 1 },
	[ST_SECRET_DELETE] = { "DELETE FROM secrets WHERE uuid = $1", 1 },
	[ST_PURGE_CLAIM] = { "SELECT uuid, arn FROM secrets WHERE "
	    "purge_after <= now() ORDER BY purge_after LIMIT $1 "
	    "FOR UPDATE SKIP LOCKED", 1 },
	[ST_PURGE_DELETE] = { "DELETE FROM secrets WHERE uuid = "
	    "ANY($1::uuid[])", 1 },
	[ST_VERSIONS_FIRST] = { "SELECT v.version_id, " MS("v.created_date")
	    ", " US("v.created_date") ", "
	    MS("(v.last_accessed_date::timestamp AT TIME ZONE 'UTC')") ", "
	    "v.kek_label, (SELECT coalesce(json_agg(l.stage ORDER BY l.stage), "
	    "'[]')::text FROM version_stages l WHERE l.secret_uuid = "
	    "v.secret_uuid AND l.version_id = v.version_id) "
	    "FROM secret_versions v WHERE v.secret_uuid = $1 AND ($2 OR EXISTS "
	    "(SELECT 1 FROM version_stages l WHERE l.secret_uuid = v.secret_uuid "
	    "AND l.version_id = v.version_id)) "
	    "ORDER BY v.created_date, v.version_id LIMIT $3", 3 },
	[ST_VERSIONS_AFTER] = { "SELECT v.version_id, " MS("v.created_date")
	    ", " US("v.created_date") ", "
	    MS("(v.last_accessed_date::timestamp AT TIME ZONE 'UTC')") ", "
	    "v.kek_label, (SELECT coalesce(json_agg(l.stage ORDER BY l.stage), "
	    "'[]')::text FROM version_stages l WHERE l.secret_uuid = "
	    "v.secret_uuid AND l.version_id = v.version_id) "
	    "FROM secret_versions v WHERE v.secret_uuid = $1 AND ($2 OR EXISTS "
	    "(SELECT 1 FROM version_stages l WHERE l.secret_uuid = v.secret_uuid "
	    "AND l.version_id = v.version_id)) AND (v.created_date, v.version_id)"
	    " > ('epoch'::timestamptz + $3::int8 * interval '1 microsecond', $4) "
	    "ORDER BY v.created_date, v.version_id LIMIT $5", 5 },
	[ST_VERSION_EXISTS] = { "SELECT 1 FROM secret_versions "
	    "WHERE secret_uuid = $1 AND version_id = $2", 2 },
	[ST_STAGE_HOLDER] = { "SELECT version_id FROM version_stages "
	    "WHERE secret_uuid = $1 AND stage = $2", 2 },
	[ST_STAGE_REMOVE] = { "DELETE FROM version_stages "
	    "WHERE secret_uuid = $1 AND stage = $2", 2 },
	[ST_LABEL_COUNT] = { "SELECT count(*) FROM version_stages "
	    "WHERE secret_uuid = $1", 1 },
	[ST_VERSIONS_PRUNE] = { "DELETE FROM secret_versions WHERE secret_uuid "
	    "= $1 AND version_id IN (SELECT v.version_id FROM secret_versions v "
	    "WHERE v.secret_uuid = $1 AND v.created_date < now() - $3::int * "
	    "interval '1 second' AND NOT EXISTS (SELECT 1 FROM version_stages l "
	    "WHERE l.secret_uuid = v.secret_uuid AND l.version_id = v.version_id)"
	    " ORDER BY v.created_date LIMIT greatest((SELECT count(*) FROM "
	    "secret_versions c WHERE c.secret_uuid = $1) - $2::int, 0))", 3 },
	[ST_TAG_REMOVE] = { "DELETE FROM tags WHERE secret_uuid = $1 "
	    "AND key = $2", 2 },
	[ST_TAG_COUNT] = { "SELECT count(*) FROM tags WHERE secret_uuid = $1",
	    1 },
	[ST_STAGED_BY_NAME] = { SECRET_AND_STAGE("name"), 2 },
	[ST_STAGED_BY_ARN] = { SECRET_AND_STAGE("arn"), 2 },
	[ST_SERVER_KEY] = { "WITH ins AS (INSERT INTO server_keys (name, key) "
	    "VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING key) "
	    "SELECT key FROM ins UNION ALL SELECT key FROM server_keys "
	    "WHERE name = $1 LIMIT 1", 2 },
	/* A whole batch of audit events in one statement (store_audit.c). */
	[ST_AUDIT_INSERT] = { "INSERT INTO audit_events (chain_id, seq, "
	    "event_time, request_id, principal, peer, operation, secret_arn, "
	    "version_id, outcome, prev_hash, hash, hmac, request_params) "
	    "SELECT c, s, to_timestamp(t::double precision / 1000), r, p, pe, "
	    "o, a, v, oc, ph, h, m, rp FROM unnest($1::uuid[], $2::bigint[], "
	    "$3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], "
	    "$8::text[], $9::text[], $10::text[], $11::bytea[], $12::bytea[], "
	    "$13::bytea[], $14::text[]) "
	    "AS x(c, s, t, r, p, pe, o, a, v, oc, ph, h, m, rp)", 14 },
};

/* ---- row decoding -------------------------------------------------------- */

/* A text column as an arena string, NULL for SQL NULL. */
static const char *
col_str(struct cf_arena *a, const PGresult *r, int row, int col, int *oom)
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
static int64_t
col_i64(const PGresult *r, int row, int col)
{

	if (PQgetisnull(r, row, col))
		return (0);
	return (strtoll(PQgetvalue(r, row, col), NULL, 10));
}

/* A binary-format integer column of ${size} bytes, 0 for NULL. */
static int64_t
col_bin_int(const PGresult *r, int row, int col)
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

static int
decode_secret(struct cf_arena *a, const PGresult *r, int row,
    struct store_secret *out)
{
	int oom = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->uuid, sizeof(out->uuid), "%s", PQgetvalue(r, row, 0));
	out->name = col_str(a, r, row, 1, &oom);
	out->arn = col_str(a, r, row, 2, &oom);
	out->description = col_str(a, r, row, 3, &oom);
	out->kms_key_id = col_str(a, r, row, 4, &oom);
	out->created_ms = col_i64(r, row, 5);
	out->created_us = col_i64(r, row, 6);
	out->last_changed_ms = col_i64(r, row, 7);
	out->last_accessed_ms = col_i64(r, row, 8);
	out->deleted_ms = col_i64(r, row, 9);
	out->purge_after_ms = col_i64(r, row, 10);
	/* 't' in text results, "true" as text in binary ones. */
	out->rotation_enabled = PQgetisnull(r, row, 11) ? -1 :
	    PQgetvalue(r, row, 11)[0] == 't';
	out->rotation_lambda_arn = col_str(a, r, row, 12, &oom);
	out->rotation_rules = col_str(a, r, row, 13, &oom);
	out->last_rotated_ms = col_i64(r, row, 14);
	out->next_rotation_ms = col_i64(r, row, 15);
	out->owning_service = col_str(a, r, row, 16, &oom);
	out->resource_policy = col_str(a, r, row, 17, &oom);
	out->rotation_token = col_str(a, r, row, 19, &oom);
	out->rotation_step = PQgetisnull(r, row, 20) ? 0 :
	    atoi(PQgetvalue(r, row, 20));
	out->rotation_test_only = PQgetvalue(r, row, 21)[0] == 't';
	out->rotation_attempts = atoi(PQgetvalue(r, row, 22));
	out->rotation_error = col_str(a, r, row, 23, &oom);
	out->rotation_principal = col_str(a, r, row, 24, &oom);
	out->rotation_pins = col_str(a, r, row, 25, &oom);
	if (!PQgetisnull(r, row, 18)) {
		out->tags_loaded = 1;
		if (decode_tags(a, PQgetvalue(r, row, 18),
		    (size_t)PQgetlength(r, row, 18), out))
			oom = 1;
	}
	return (oom ? -1 : 0);
}

/* Parse a JSON array of strings into an arena list. */
static int
decode_labels(struct cf_arena *a, const char *json, size_t len,
    const char ***out, size_t *n)
{
	json_t *arr;
	size_t i;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if ((arr = json_loadb(json, len, 0, NULL)) == NULL ||
	    !json_is_array(arr))
		goto done;
	*n = json_array_size(arr);
	if (*n > 0 && (*out = cf_arena_alloc(a, *n * sizeof(char *))) == NULL)
		goto done;
	for (i = 0; i < *n; i++)
		if (((*out)[i] = cf_arena_strdup(a,
		    json_string_value(json_array_get(arr, i)))) == NULL)
			goto done;
	rc = 0;
done:
	json_decref(arr);
	return (rc);
}

/* Decode a binary-format version row whose columns start at ${c}. */
static int
decode_version(struct cf_arena *a, const PGresult *r, int c,
    struct store_version *v)
{
	int oom = 0;

	memset(v, 0, sizeof(*v));
	v->version_id = col_str(a, r, 0, c, &oom);
	v->binary = col_bin_int(r, 0, c + 1) == 2;
	v->empty = col_bin_int(r, 0, c + 1) == 0;
	v->format = (uint32_t)col_bin_int(r, 0, c + 2);
	v->kek_label = col_str(a, r, 0, c + 3, &oom);
	v->iv = (const uint8_t *)col_str(a, r, 0, c + 4, &oom);
	v->iv_len = (size_t)PQgetlength(r, 0, c + 4);
	v->wrapped_dek = (const uint8_t *)col_str(a, r, 0, c + 5, &oom);
	v->wrapped_dek_len = (size_t)PQgetlength(r, 0, c + 5);
	v->ciphertext = (const uint8_t *)col_str(a, r, 0, c + 6, &oom);
	v->ciphertext_len = (size_t)PQgetlength(r, 0, c + 6);
	v->created_ms = col_bin_int(r, 0, c + 7);
	v->last_accessed_ms = col_bin_int(r, 0, c + 8);
	if (oom || decode_labels(a, PQgetvalue(r, 0, c + 9),
	    (size_t)PQgetlength(r, 0, c + 9), &v->stages, &v->n_stages))
		return (-1);
	return (0);
}

/* ---- secrets --------------------------------------------------------------- */

static int
secret_lookup(struct store *s, struct cf_arena *a, enum store_stmt st,
    const char *key, struct store_secret *out, struct cf_error *err)
{
	const char *v[1] = { key };
	PGresult *r;
	int rc;

	if ((r = store_exec(s, st, 1, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (-1);
	if (PQntuples(r) == 0)
		rc = 0;
	else if (decode_secret(a, r, 0, out)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		rc = -1;
	} else
		rc = 1;
	PQclear(r);
	return (rc);
}

int
store_secret_by_uuid(struct store *s, struct cf_arena *a, const char *uuid,
    struct store_secret *out, struct cf_error *err)
{

	return (secret_lookup(s, a, ST_SECRET_BY_UUID, uuid, out, err));
}

int
store_secret_by_name(struct store *s, struct cf_arena *a, const char *name,
    int for_update, struct store_secret *out, struct cf_error *err)
{

	return (secret_lookup(s, a, for_update ? ST_SECRET_BY_NAME_LOCK :
	    ST_SECRET_BY_NAME, name, out, err));
}

int
store_secret_by_arn(struct store *s, struct cf_arena *a, const char *arn,
    int for_update, struct store_secret *out, struct cf_error *err)
{

	return (secret_lookup(s, a, for_update ? ST_SECRET_BY_ARN_LOCK :
	    ST_SECRET_BY_ARN, arn, out, err));
}

/* Run a statement that returns no rows. */
static int
command(struct store *s, enum store_stmt st, int n, const char *const *v,
    const int *len, const int *fmt, struct cf_error *err)
{
	PGresult *r;

	if ((r = store_exec(s, st, n, v, len, fmt, 0, PGRES_COMMAND_OK,
	    err)) == NULL)
		return (-1);
	PQclear(r);
	return (0);
}

int
store_secret_insert(struct store *s, const struct store_secret *sec,
    struct cf_error *err)
{
	const char *v[5] = { sec->uuid, sec->name, sec->arn, sec->description,
	    sec->kms_key_id };

	return (command(s, ST_SECRET_INSERT, 5, v, NULL, NULL, err));
}

int
store_secret_touch_changed(struct store *s, const char *uuid,
    struct cf_error *err)
{
	const char *v[1] = { uuid };

	return (command(s, ST_SECRET_TOUCH_CHANGED, 1, v, NULL, NULL, err));
}

int
store_touch_accessed(struct store *s, const char *uuid, const char *vid,
    struct cf_error *err)
{
	const char *v[2] = { uuid, vid };

	if (command(s, ST_SECRET_TOUCH_ACCESSED, 1, v, NULL, NULL, err))
		return (-1);
	return (command(s, ST_VERSION_TOUCH_ACCESSED, 2, v, NULL, NULL, err));
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
store_decode_secrets(struct cf_arena *a, const PGresult *r,
    struct store_secret **out, size_t *n, struct cf_error *err)
{
	int i;

	*n = (size_t)PQntuples(r);
	*out = NULL;
	if (*n > 0 && (*out = cf_arena_alloc(a, *n * sizeof(**out))) == NULL)
		goto oom;
	for (i = 0; i < (int)*n; i++)
		if (decode_secret(a, r, i, &(*out)[i]))
			goto oom;
	return (0);

oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

/* ---- versions and labels -------------------------------------------------- */

int
store_version_get(struct store *s, struct cf_arena *a, const char *uuid,
    const char *version_id, const char *stage, struct store_version *out,
    struct cf_error *err)
{
	const char *v[2] = { uuid, version_id ? version_id : stage };
	PGresult *r;
	int rc;

	if ((r = store_exec(s, version_id ? ST_VERSION_BY_ID :
	    ST_VERSION_BY_STAGE, 2, v, NULL, NULL, 1, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (-1);
	if (PQntuples(r) == 0)
		rc = 0;
	else if (decode_version(a, r, 0, out)) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not decode a version");
		rc = -1;
	} else
		rc = 1;
	PQclear(r);
	return (rc);
}

/*
 * The parameters of a version row: $1 uuid, $2 version id, $3 value type,
 * $4 format, $5 KEK label, $6-$8 the envelope's byte strings (binary).
 * ${type} and ${format} are the caller's buffers.
 */
static void
version_params(const char *uuid, const struct store_version *ver,
    char type[4], char format[16], const char *v[8], int len[8], int fmt[8])
{

	snprintf(type, 4, "%d", ver->empty ? 0 : ver->binary ? 2 : 1);
	snprintf(format, 16, "%u", ver->format);
	memset(len, 0, 8 * sizeof(*len));
	memset(fmt, 0, 8 * sizeof(*fmt));
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
}

int
store_version_insert(struct store *s, const char *uuid,
    const struct store_version *ver, struct cf_error *err)
{
	char type[4], format[16];
	const char *v[8];
	int len[8], fmt[8];

	version_params(uuid, ver, type, format, v, len, fmt);
	return (command(s, ST_VERSION_INSERT, 8, v, len, fmt, err));
}

int
store_version_fill(struct store *s, const char *uuid,
    const struct store_version *ver, struct cf_error *err)
{
	char type[4], format[16];
	const char *v[8];
	int len[8], fmt[8], rows;
	PGresult *r;

	version_params(uuid, ver, type, format, v, len, fmt);
	if ((r = store_exec_params(s, "UPDATE secret_versions SET value_type = "
	    "$3::smallint, format = $4::int, kek_label = $5, iv = $6, "
	    "wrapped_dek = $7, ciphertext = $8 WHERE secret_uuid = $1::uuid "
	    "AND version_id = $2 AND value_type = 0", 8, v, len, fmt, 0,
	    PGRES_COMMAND_OK, "filling a pending version", err)) == NULL)
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
	*out_prev = PQntuples(r) ? col_str(a, r, 0, 0, &oom) : NULL;
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
}

/* Build the text form of a uuid[] parameter: {u1,u2,...}. */
static char *
uuid_array(struct cf_arena *a, const char *const *uuids, size_t n)
{
	char *buf, *p;
	size_t i;

	if ((buf = cf_arena_alloc(a, 3 + n * 37)) == NULL)
		return (NULL);
	p = buf;
	*p++ = '{';
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%.36s", i ? "," : "", uuids[i]);
	*p++ = '}';
	*p = '\0';
	return (buf);
}

/* Index of ${uuid} in ${uuids}. */
static size_t
owner_of(const char *uuid, const char *const *uuids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(uuids[i], uuid) == 0)
			return (i);
	return (0);
}

/* Run a per-secret list query whose rows are (uuid, a, b). */
static int
pairs(struct store *s, struct cf_arena *a, enum store_stmt st,
    const char *const *uuids, size_t n_uuids, const char ***first,
    const char ***second, size_t **owner, size_t *n, struct cf_error *err)
{
	const char *v[1];
	PGresult *r;
	size_t i;
	int oom = 0;

	*n = 0;
	if (n_uuids == 0)
		return (0);
	if ((v[0] = uuid_array(a, uuids, n_uuids)) == NULL)
		goto oom;
	if ((r = store_exec(s, st, 1, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (-1);
	*n = (size_t)PQntuples(r);
	if (*n == 0) {
		PQclear(r);
		return (0);
	}
	*first = cf_arena_alloc(a, *n * sizeof(char *));
	*second = cf_arena_alloc(a, *n * sizeof(char *));
	*owner = cf_arena_alloc(a, *n * sizeof(size_t));
	if (*first == NULL || *second == NULL || *owner == NULL) {
		PQclear(r);
		goto oom;
	}
	for (i = 0; i < *n; i++) {
		(*owner)[i] = owner_of(PQgetvalue(r, (int)i, 0), uuids,
		    n_uuids);
		(*first)[i] = col_str(a, r, (int)i, 1, &oom);
		(*second)[i] = col_str(a, r, (int)i, 2, &oom);
	}
	PQclear(r);
	if (oom)
		goto oom;
	return (0);
oom:
	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

int
store_stages(struct store *s, struct cf_arena *a, const char *const *uuids,
    size_t n_uuids, struct store_stage **out, size_t **owner, size_t *n,
    struct cf_error *err)
{
	const char **vid = NULL, **stage = NULL;
	size_t i;

	if (pairs(s, a, ST_STAGES, uuids, n_uuids, &vid, &stage, owner, n,
	    err))
		return (-1);
	if (*n == 0)
		return (0);
	if ((*out = cf_arena_alloc(a, *n * sizeof(**out))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	for (i = 0; i < *n; i++) {
		(*out)[i].version_id = vid[i];
		(*out)[i].stage = stage[i];
	}
	return (0);
}

int
store_tags_put(struct store *s, const char *uuid, const struct store_tag *t,
    size_t n, struct cf_error *err)
{
	const char *v[3];
	size_t i;

	for (i = 0; i < n; i++) {
		v[0] = uuid;
		v[1] = t[i].key;
		v[2] = t[i].value;
		if (command(s, ST_TAG_PUT, 3, v, NULL, NULL, err))
			return (-1);
	}
	return (0);
}

int
store_tags(struct store *s, struct cf_arena *a, const char *const *uuids,
    size_t n_uuids, struct store_tag **out, size_t **owner, size_t *n,
    struct cf_error *err)
{
	const char **key = NULL, **value = NULL;
	size_t i;

	if (pairs(s, a, ST_TAGS, uuids, n_uuids, &key, &value, owner, n, err))
		return (-1);
	if (*n == 0)
		return (0);
	if ((*out = cf_arena_alloc(a, *n * sizeof(**out))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	for (i = 0; i < *n; i++) {
		(*out)[i].key = key[i];
		(*out)[i].value = value[i];
	}
	return (0);
}

/* ---- issue 3: lifecycle, versions, labels, tags ------------------------------ */

/* Run a one-row, one-column query; *out is the int8 value (0 if no row). */
static int
scalar(struct store *s, enum store_stmt st, int n, const char *const *v,
    int64_t *out, int *found, struct cf_error *err)
{
	PGresult *r;

	if ((r = store_exec(s, st, n, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (-1);
	*found = PQntuples(r) > 0;
	*out = *found ? col_i64(r, 0, 0) : 0;
	PQclear(r);
	return (0);
}

int
store_secret_update_meta(struct store *s, const char *uuid, int set_desc,
    const char *desc, int set_kms, const char *kms, struct cf_error *err)
{
	const char *v[5] = { uuid, set_desc ? "true" : "false", desc,
	    set_kms ? "true" : "false", kms };

	return (command(s, ST_SECRET_UPDATE_META, 5, v, NULL, NULL, err));
}

int
store_secret_schedule_delete(struct store *s, const char *uuid, int days,
    int64_t *out_purge_ms, struct cf_error *err)
{
	char d[16];
	const char *v[2] = { uuid, d };
	int found;

	snprintf(d, sizeof(d), "%d", days);
	return (scalar(s, ST_SECRET_SCHEDULE_DELETE, 2, v, out_purge_ms,
	    &found, err));
}

int
store_secret_restore(struct store *s, const char *uuid, struct cf_error *err)
{
	const char *v[1] = { uuid };

	return (command(s, ST_SECRET_RESTORE, 1, v, NULL, NULL, err));
}

int
store_secret_delete(struct store *s, const char *uuid, struct cf_error *err)
{
	const char *v[1] = { uuid };

	return (command(s, ST_SECRET_DELETE, 1, v, NULL, NULL, err));
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
		items[i].arn = col_str(a, r, i, 1, &oom);
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
	rc = command(s, ST_PURGE_DELETE, 1, v, NULL, NULL, err);
	free(list);
	return (rc);
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
		r = store_exec(s, ST_VERSIONS_FIRST, 3, v, NULL, NULL, 0,
		    PGRES_TUPLES_OK, err);
	} else {
		v[2] = us;
		v[3] = after_vid;
		v[4] = lim;
		r = store_exec(s, ST_VERSIONS_AFTER, 5, v, NULL, NULL, 0,
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

		e->version_id = col_str(a, r, i, 0, &oom);
		e->created_ms = col_i64(r, i, 1);
		e->created_us = col_i64(r, i, 2);
		e->last_accessed_ms = col_i64(r, i, 3);
		e->kek_label = col_str(a, r, i, 4, &oom);
		if (!oom && decode_labels(a, PQgetvalue(r, i, 5),
		    (size_t)PQgetlength(r, i, 5), &e->stages, &e->n_stages))
			oom = 1;
	}
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
}

int
store_version_exists(struct store *s, const char *uuid, const char *vid,
    struct cf_error *err)
{
	const char *v[2] = { uuid, vid };
	int64_t one;
	int found;

	if (scalar(s, ST_VERSION_EXISTS, 2, v, &one, &found, err))
		return (-1);
	return (found);
}

int
store_stage_holder(struct store *s, struct cf_arena *a, const char *uuid,
    const char *stage, const char **out_vid, struct cf_error *err)
{
	const char *v[2] = { uuid, stage };
	PGresult *r;
	int oom = 0, found;

	if ((r = store_exec(s, ST_STAGE_HOLDER, 2, v, NULL, NULL, 0,
	    PGRES_TUPLES_OK, err)) == NULL)
		return (-1);
	found = PQntuples(r) > 0;
	*out_vid = found ? col_str(a, r, 0, 0, &oom) : NULL;
	PQclear(r);
	if (oom) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (found);
}

int
store_stage_remove(struct store *s, const char *uuid, const char *stage,
    struct cf_error *err)
{
	const char *v[2] = { uuid, stage };

	return (command(s, ST_STAGE_REMOVE, 2, v, NULL, NULL, err));
}

/* The count(*) that statement ${st} gives for one secret. */
static int
count_of(struct store *s, enum store_stmt st, const char *uuid, int *out,
    struct cf_error *err)
{
	const char *v[1] = { uuid };
	int64_t n;
	int found;

	if (scalar(s, st, 1, v, &n, &found, err))
		return (-1);
	*out = (int)n;
	return (0);
}

int
store_label_count(struct store *s, const char *uuid, int *out,
    struct cf_error *err)
{

	return (count_of(s, ST_LABEL_COUNT, uuid, out, err));
}

int
store_versions_prune(struct store *s, const char *uuid, int keep,
    int min_age_s, struct cf_error *err)
{
	char k[16], age[16];
	const char *v[3] = { uuid, k, age };

	snprintf(k, sizeof(k), "%d", keep);
	snprintf(age, sizeof(age), "%d", min_age_s);
	return (command(s, ST_VERSIONS_PRUNE, 3, v, NULL, NULL, err));
}

int
store_tags_remove(struct store *s, const char *uuid, const char *const *keys,
    size_t n, struct cf_error *err)
{
	const char *v[2];
	size_t i;

	for (i = 0; i < n; i++) {
		v[0] = uuid;
		v[1] = keys[i];
		if (command(s, ST_TAG_REMOVE, 2, v, NULL, NULL, err))
			return (-1);
	}
	return (0);
}

int
store_tag_count(struct store *s, const char *uuid, int *out,
    struct cf_error *err)
{

	return (count_of(s, ST_TAG_COUNT, uuid, out, err));
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

int
store_secret_staged(struct store *s, struct cf_arena *a, const char *key,
    int by_arn, const char *stage, struct store_secret *sec,
    struct store_version *ver, int *has_version, struct cf_error *err)
{
	const char *v[2] = { key, stage };
	PGresult *r;
	int rc = 1;

	if ((r = store_exec(s, by_arn ? ST_STAGED_BY_ARN : ST_STAGED_BY_NAME,
	    2, v, NULL, NULL, 1, PGRES_TUPLES_OK, err)) == NULL)
		return (-1);
	*has_version = 0;
	if (PQntuples(r) == 0)
		rc = 0;
	else if (decode_secret(a, r, 0, sec) ||
	    (!PQgetisnull(r, 0, N_SECRET_COLS) &&
	    decode_version(a, r, N_SECRET_COLS, ver))) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		rc = -1;
	} else
		*has_version = !PQgetisnull(r, 0, N_SECRET_COLS);
	PQclear(r);
	return (rc);
}
