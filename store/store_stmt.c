/*
 * store_stmt.c: the SQL of the prepared statements (enum store_stmt,
 * store_internal.h) and the column lists their rows come in, which the
 * decoders of store_row.c read by position; and the four small ways the
 * other files run them: no rows, one number, a count, (uuid, a, b) rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* Epoch milliseconds (and microseconds) of a timestamptz column. */
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
	p "rotation_principal, " p "rotation_pins::text, " \
	p "tags_present::text"
/*
 * The secret's tags as [[key, value], ...], which authorization may need
 * and DescribeSecret shows: read with the lookups of one secret by name or
 * ARN.  Pages and GetSecretValue's read leave them out (NULL): the engine
 * reads them when it needs them, a whole page's in one query.
 */
#define TAGS_JSON(p) "(SELECT coalesce(json_agg(json_build_array(g.key, " \
	"g.value) ORDER BY g.position), '[]')::text FROM tags g " \
	"WHERE g.secret_uuid = " p "uuid)"
#define SECRET_COLS_P(p, t) SECRET_COLS_PT(p, t, TAGS_JSON(p))
#define SECRET_COLS SECRET_COLS_P("", "")
#define PAGE_COLS SECRET_COLS_PT("", "", "NULL::text")

/*
 * The labels of version v, as a text[] (store_col_labels).  An array, not
 * json_agg(...)::text: building and printing the JSON was a quarter of
 * GetSecretValue's backend CPU (docs/performance.md).
 */
#define VERSION_LABELS \
	"ARRAY(SELECT l.stage FROM version_stages l WHERE l.secret_uuid = " \
	"v.secret_uuid AND l.version_id = v.version_id ORDER BY l.stage)"
/* A version (binary results; dates as stored: store_decode_version). */
#define VERSION_COLS \
	"v.version_id, v.value_type, v.format, v.kek_label, v.iv, " \
	"v.wrapped_dek, v.ciphertext, v.created_date, v.last_accessed_date, " \
	VERSION_LABELS ", v.kek_version"

/* Whether secret k has a version labelled AWSCURRENT (and as an int4). */
#define CURRENT_EXISTS \
	"EXISTS (SELECT 1 FROM version_stages c WHERE c.secret_uuid = " \
	"k.uuid AND c.stage = 'AWSCURRENT')"
#define HAS_CURRENT CURRENT_EXISTS "::int4"

/*
 * What a Put's basis digests (migration 0022, coffer_put_digest): the
 * secret k's columns, and x, its tags and whether it has AWSCURRENT and
 * version $2, computed once.  The read before the seal and the check
 * after the lock both use these two: the basis has one definition.
 */
#define PUT_STATE_FROM "FROM secrets k CROSS JOIN LATERAL (SELECT " \
	TAGS_JSON("k.") " AS tags, " CURRENT_EXISTS " AS hc, EXISTS (SELECT " \
	"1 FROM secret_versions v WHERE v.secret_uuid = k.uuid AND " \
	"v.version_id = $2) AS hv) x "
#define PUT_DIGEST "coffer_put_digest(k.name, k.arn, k.kms_key_id, " \
	"k.deleted_date IS NOT NULL, k.resource_policy, k.rotation_enabled, " \
	"k.rotation_rules, k.owning_service, x.tags, x.hc, x.hv)"
/*
 * What a change of the secret k's KMS key reseals, digested: each version
 * with a value, by its id, with its envelope's key, key version and
 * wrapped data key (a row's text form quotes every field, so two sets
 * never share a text).  A version added, filled, resealed, rewrapped or
 * removed changes it; a read touching LastAccessedDate, a label moving or
 * one added do not.
 */
#define VERSIONS_DIGEST "(SELECT sha256(convert_to(coalesce(string_agg(" \
	"ROW(r.version_id, r.kek_label, r.kek_version, r.wrapped_dek)::text, " \
	"',' ORDER BY r.version_id), ''), 'UTF8')) FROM secret_versions r " \
	"WHERE r.secret_uuid = k.uuid AND r.value_type <> 0)"
/* UpdateSecret with a KmsKeyId: a Put's basis, and the versions it reseals. */
#define REKEY_DIGEST PUT_DIGEST " || " VERSIONS_DIGEST
/*
 * The read before a write seals, by name or ARN (${key}): the secret with
 * its tags, whether version $2 exists, whether the secret has AWSCURRENT,
 * and the basis (${digest}, in hex).
 */
#define BASIS(key, digest) "SELECT " SECRET_COLS_PT("k.", "", "x.tags") \
	", x.hv::int4, x.hc::int4, encode(" digest ", 'hex') " \
	PUT_STATE_FROM "WHERE k." key " = $1"
/* The check after the lock: the basis computed again against $3. */
#define UNCHANGED(digest) "SELECT coffer_put_same((SELECT " digest " " \
	PUT_STATE_FROM "WHERE k.uuid = $1::uuid), decode($3, 'hex'))"

const char store_secret_cols[] = PAGE_COLS;

/*
 * A secret and the version carrying label $2, in one round trip: the read
 * of GetSecretValue.  Only the columns that read uses (STORE_STAGED_NCOLS
 * of the secret, store_decode_staged), dates as they are stored (binary
 * results: no extract() per column): PostgreSQL spends about 2 µs on each
 * column it sends, and the whole secret row made this statement cost
 * ~77 µs of backend CPU against ~57 (docs/performance.md).  Without the
 * tags: only a policy that could look at them needs them
 * (policy_reads_tags), and then the engine reads them.
 */
#define SECRET_AND_STAGE(key) "SELECT s.uuid::text, s.name, s.arn, " \
	"s.resource_policy, s.deleted_date, s.last_accessed_date, " \
	VERSION_COLS " FROM secrets s LEFT JOIN version_stages l " \
	"ON l.secret_uuid = s.uuid AND l.stage = $2 " \
	"LEFT JOIN secret_versions v ON v.secret_uuid = l.secret_uuid " \
	"AND v.version_id = l.version_id WHERE s." key " = $1"
/* The same read for a GetSecretValue by VersionId ($2). */
#define SECRET_AND_VERSION(key) "SELECT s.uuid::text, s.name, s.arn, " \
	"s.resource_policy, s.deleted_date, s.last_accessed_date, " \
	VERSION_COLS " FROM secrets s LEFT JOIN secret_versions v " \
	"ON v.secret_uuid = s.uuid AND v.version_id = $2 " \
	"WHERE s." key " = $1"

/* The audit batch: one row per element of sixteen arrays. */
#define AUDIT_INSERT "INSERT INTO audit_events (chain_id, seq, " \
	"event_time, request_id, principal, peer, operation, secret_arn, " \
	"version_id, outcome, prev_hash, hash, hmac, request_params, " \
	"transport, access_key_id, mac_key_version) " \
	"SELECT c, s, to_timestamp(t::double precision / 1000), r, p, pe, " \
	"o, a, v, oc, ph, h, m, rp, tr, ak, mk FROM unnest($1::uuid[], " \
	"$2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], " \
	"$7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[], " \
	"$12::bytea[], $13::bytea[], $14::text[], $15::text[], " \
	"$16::text[], $17::int[]) " \
	"AS x(c, s, t, r, p, pe, o, a, v, oc, ph, h, m, rp, tr, ak, mk)"

/* LastAccessedDate has date resolution, in UTC. */
#define TODAY "(now() AT TIME ZONE 'UTC')::date"

/*
 * Versions of secret $1 without labels past ${keep} of them and ${age} s
 * old, oldest first; ${more}: versions the statement adds, which its
 * snapshot does not see.  The count first, alone, as a one-time filter:
 * a secret with no more than ${keep} versions (nearly every Put) then
 * costs the count only, not also a scan of all its versions for the
 * DELETE to join with an empty list (62 -> 29 buffers for a secret of 31
 * versions, docs/performance.md).
 */
#define VERSION_COUNT "(SELECT count(*) FROM secret_versions c WHERE "  \
	    "c.secret_uuid = $1)"
#define PRUNE_P(keep, age, more) "DELETE FROM secret_versions WHERE "  \
	    "secret_uuid = $1 AND " VERSION_COUNT more " > " keep "::int "  \
	    "AND version_id IN (SELECT v.version_id FROM "  \
	    "secret_versions v WHERE v.secret_uuid = $1 AND v.created_date < "  \
	    "now() - " age "::int * interval '1 second' AND NOT EXISTS (SELECT 1 "  \
	    "FROM version_stages l WHERE l.secret_uuid = v.secret_uuid AND "  \
	    "l.version_id = v.version_id) ORDER BY v.created_date LIMIT "  \
	    "greatest(" VERSION_COUNT more " - " keep "::int, 0))"
#define PRUNE PRUNE_P("$2", "$3", "")

/*
 * A new version (the columns of ST_VERSION_INSERT, its KEK version as $13), its labels (the
 * JSON array $9, plus AWSCURRENT if $12 and the secret has none; taken
 * from whichever versions had them; AWSPREVIOUS to the version that had
 * AWSCURRENT when AWSCURRENT moves and AWSPREVIOUS is not among them),
 * the prune ($10 kept, $11 s), LastChangedDate; then the secret's label
 * count afterwards (an error, SQLSTATE CF001, past $14: migration 0019):
 * PutSecretValue's whole change in one round trip.  All parts see the statement's snapshot: the count adds
 * the labels it set to those it left alone, the prune counts the new
 * version, and a version that loses its last label here is pruned by a
 * later write.  (Foreign keys are checked at the statement's end, when
 * the version the labels point to exists.)
 */
#define VERSION_ADD "WITH ins AS (INSERT INTO secret_versions (secret_uuid, " \
	"version_id, value_type, format, kek_label, iv, wrapped_dek, " \
	"ciphertext, kek_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, " \
	"$13)), " \
	"cur AS (SELECT version_id FROM version_stages WHERE secret_uuid = $1 " \
	"AND stage = 'AWSCURRENT'), " \
	"lab AS (SELECT x AS stage FROM json_array_elements_text($9::json) " \
	"AS x UNION SELECT 'AWSCURRENT' WHERE $12::bool AND NOT EXISTS " \
	"(SELECT 1 FROM cur)), " \
	"mv AS (INSERT INTO version_stages (secret_uuid, stage, version_id) " \
	"SELECT $1, stage, $2 FROM lab UNION ALL SELECT $1, 'AWSPREVIOUS', " \
	"cur.version_id FROM cur WHERE cur.version_id <> $2 AND EXISTS " \
	"(SELECT 1 FROM lab WHERE stage = 'AWSCURRENT') AND NOT EXISTS " \
	"(SELECT 1 FROM lab WHERE stage = 'AWSPREVIOUS') ON CONFLICT " \
	"(secret_uuid, stage) DO UPDATE SET version_id = EXCLUDED.version_id " \
	"RETURNING stage), " \
	"p AS (" PRUNE_P("$10", "$11", " + 1") "), " \
	"c AS (UPDATE secrets SET last_changed_date = now() WHERE uuid = $1) " \
	"SELECT coffer_labels_within((SELECT count(*) FROM version_stages " \
	"WHERE secret_uuid = $1 AND stage NOT IN (SELECT stage FROM mv)) + " \
	"(SELECT count(*) FROM mv), $14)"

/* A version's new envelope: the columns of ST_VERSION_INSERT. */
#define ENVELOPE_SET "UPDATE secret_versions SET value_type = $3::smallint, " \
	"format = $4::int, kek_label = $5, iv = $6, wrapped_dek = $7, " \
	"ciphertext = $8, kek_version = $9::int WHERE secret_uuid = $1::uuid " \
	"AND version_id = $2 AND "

/* The label's holder, and version $3's existence and value, of secret k. */
#define STAGE_STATE "(SELECT l.version_id FROM version_stages l WHERE " \
	"l.secret_uuid = k.uuid AND l.stage = $2), " \
	"(v.version_id IS NOT NULL)::int4, (v.value_type = 0)::int4"
#define STAGE_STATE_JOIN "LEFT JOIN secret_versions v ON v.secret_uuid = " \
	"k.uuid AND v.version_id = $3::text"

/*
 * UpdateSecretVersionStage's change, in one statement: label $2 onto
 * version $3 (AWSCURRENT moving brings AWSPREVIOUS to the version that had
 * it), or off its version when $3 is NULL; LastChangedDate; and for a move
 * the label count afterwards against the quota $4 (SQLSTATE CF001 past
 * it, migration 0019), as VERSION_ADD counts: the labels it set plus
 * those it left alone, all under the statement's snapshot.  It reports
 * nothing the engine needs, so it is held and sent with the audit event
 * and the COMMIT.  The caller holds the secret's row lock, and moves a
 * label only onto a version that does not carry it.
 */
#define STAGE_SET "WITH old AS (SELECT version_id FROM version_stages " \
	"WHERE secret_uuid = $1 AND stage = $2), " \
	"rm AS (DELETE FROM version_stages WHERE $3::text IS NULL AND " \
	"secret_uuid = $1 AND stage = $2), " \
	"mv AS (INSERT INTO version_stages (secret_uuid, stage, version_id) " \
	"SELECT $1, $2, $3::text WHERE $3::text IS NOT NULL UNION ALL " \
	"SELECT $1, 'AWSPREVIOUS', old.version_id FROM old WHERE $3::text IS " \
	"NOT NULL AND $2 = 'AWSCURRENT' AND old.version_id <> $3::text " \
	"ON CONFLICT (secret_uuid, stage) DO UPDATE SET version_id = " \
	"EXCLUDED.version_id RETURNING stage), " \
	"c AS (UPDATE secrets SET last_changed_date = now() WHERE uuid = $1) " \
	"SELECT coffer_labels_within(CASE WHEN $3::text IS NULL THEN 0 ELSE " \
	"(SELECT count(*) FROM version_stages WHERE secret_uuid = $1 AND " \
	"stage NOT IN (SELECT stage FROM mv)) + (SELECT count(*) FROM mv) END, " \
	"$4::int)"

/*
 * DescribeSecret's read: a secret (SECRET_COLS, once: OFFSET 0 keeps the
 * tags' aggregate out of the join) and one row per (version, label) pair,
 * ordered as ST_STAGES orders one secret's; a secret without labels is
 * one row with NULL pairs.
 */
#define SECRET_AND_STAGES(key) "SELECT k.*, l.version_id, l.stage FROM " \
	"(SELECT " SECRET_COLS ", uuid AS k_uuid FROM secrets WHERE " key \
	" = $1 OFFSET 0) k LEFT JOIN LATERAL (SELECT x.version_id, x.stage, " \
	"v.created_date FROM version_stages x JOIN secret_versions v ON " \
	"v.secret_uuid = x.secret_uuid AND v.version_id = x.version_id " \
	"WHERE x.secret_uuid = k.k_uuid OFFSET 0) l ON true " \
	"ORDER BY l.created_date, l.version_id, l.stage"

#define CURSOR "('epoch'::timestamptz + $2::int8 * interval '1 microsecond')"

/*
 * A page: the first rows of secrets_created_key, or for live secrets
 * ($1 false) of secrets_live_created_key, never a sort (issue 14).
 *
 * The order is by the table's columns: a bare "uuid" in ORDER BY would
 * name the output column "uuid" (PAGE_COLS' uuid::text), as PostgreSQL
 * resolves ORDER BY names against the output list first; sorted as text,
 * no index gives the order and every plan sorts, reading a whole run of
 * one created_date (a bulk load: all of it) or every live secret.  Live
 * is the boolean "live", not "deleted_date IS NULL": without statistics
 * PostgreSQL guesses the latter keeps 0.5 % of the rows, and for fewer
 * rows than a page it reads and sorts them all (migrations/0009).
 */
#define PAGE_ASC " ORDER BY secrets.created_date, secrets.uuid"
#define PAGE_DESC " ORDER BY secrets.created_date DESC, secrets.uuid DESC"

const struct store_stmt_def store_stmt_defs[ST__COUNT] = {
	[ST_SECRET_BY_NAME] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE name = $1", 1 },
	/*
	 * The locked lookups of a change leave the tags out (NULL, like a
	 * page's rows): no change shows them, and authorization reads them
	 * only when a policy could look at them (ctx_tags).  Their json_agg
	 * was backend CPU in every write.
	 */
	[ST_SECRET_BY_NAME_LOCK] = { "SELECT " PAGE_COLS
	    " FROM secrets WHERE name = $1 FOR UPDATE", 1 },
	[ST_SECRET_STAGES_BY_NAME] = { SECRET_AND_STAGES("name"), 1 },
	[ST_SECRET_STAGES_BY_ARN] = { SECRET_AND_STAGES("arn"), 1 },
	[ST_SECRET_BY_ARN] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE arn = $1", 1 },
	[ST_SECRET_BY_UUID] = { "SELECT " SECRET_COLS
	    " FROM secrets WHERE uuid = $1::uuid", 1 },
	[ST_SECRET_BY_ARN_LOCK] = { "SELECT " PAGE_COLS
	    " FROM secrets WHERE arn = $1 FOR UPDATE", 1 },
	[ST_SECRET_INSERT] = { "INSERT INTO secrets "
	    "(uuid, name, arn, description, kms_key_id) "
	    "VALUES ($1, $2, $3, $4, $5)", 5 },
	[ST_SECRET_TOUCH_CHANGED] = { "UPDATE secrets "
	    "SET last_changed_date = now() WHERE uuid = $1", 1 },
	[ST_SECRET_SET_POLICY] = { "UPDATE secrets SET resource_policy = $2, "
	    "last_changed_date = now() WHERE uuid = $1::uuid", 2 },
	[ST_SECRET_TOUCH_ACCESSED] = { "UPDATE secrets SET last_accessed_date "
	    "= (now() AT TIME ZONE 'UTC')::date WHERE uuid = $1 AND "
	    "last_accessed_date IS DISTINCT FROM (now() AT TIME ZONE 'UTC')::date",
	    1 },
	[ST_VERSION_TOUCH_ACCESSED] = { "UPDATE secret_versions SET "
	    "last_accessed_date = (now() AT TIME ZONE 'UTC')::date "
	    "WHERE secret_uuid = $1 AND version_id = $2 AND last_accessed_date "
	    "IS DISTINCT FROM (now() AT TIME ZONE 'UTC')::date", 2 },
	[ST_PAGE_ASC_FIRST] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR live)" PAGE_ASC " LIMIT $2", 2 },
	[ST_PAGE_ASC_AFTER] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR live) AND (created_date, uuid) > ("
	    CURSOR ", $3::uuid)" PAGE_ASC " LIMIT $4", 4 },
	[ST_PAGE_DESC_FIRST] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR live)" PAGE_DESC " LIMIT $2", 2 },
	[ST_PAGE_DESC_AFTER] = { "SELECT " PAGE_COLS " FROM secrets "
	    "WHERE ($1 OR live) AND (created_date, uuid) < ("
	    CURSOR ", $3::uuid)" PAGE_DESC " LIMIT $4", 4 },
	[ST_VERSION_BY_ID] = { "SELECT " VERSION_COLS " FROM secret_versions v "
	    "WHERE v.secret_uuid = $1 AND v.version_id = $2", 2 },
	/*
	 * Version $2 of the secret named (or with ARN) $1: sent right after
	 * that secret's locked lookup, in the same round trip
	 * (store_secret_lock_with_version), so it sees the secret the lookup
	 * locked.
	 */
	/*
	 * PutSecretValue's second lookup, after the row lock (its own
	 * statement, so its snapshot sees what the lock's last holder
	 * committed): whether the secret has AWSCURRENT, and the version
	 * its ClientRequestToken names (NULLs if none).  One row, none if
	 * there is no such secret.
	 */
	[ST_VERSION_BY_NAME_ID] = { "SELECT " HAS_CURRENT ", " VERSION_COLS
	    " FROM (SELECT uuid FROM secrets WHERE name = $1) k LEFT JOIN "
	    "secret_versions v ON v.secret_uuid = k.uuid AND "
	    "v.version_id = $2", 2 },
	[ST_VERSION_BY_ARN_ID] = { "SELECT " HAS_CURRENT ", " VERSION_COLS
	    " FROM (SELECT uuid FROM secrets WHERE arn = $1) k LEFT JOIN "
	    "secret_versions v ON v.secret_uuid = k.uuid AND "
	    "v.version_id = $2", 2 },
	/*
	 * PutSecretValue's read before it seals (store_secret_put_basis), one
	 * statement, so one snapshot for all of it.
	 */
	[ST_PUT_BASIS_BY_NAME] = { BASIS("name", PUT_DIGEST), 2 },
	[ST_PUT_BASIS_BY_ARN] = { BASIS("arn", PUT_DIGEST), 2 },
	/*
	 * ...and UpdateSecret's, moving a secret to another KMS key ($2 the
	 * new value's version, NULL without one).
	 */
	[ST_REKEY_BASIS_BY_NAME] = { BASIS("name", REKEY_DIGEST), 2 },
	[ST_REKEY_BASIS_BY_ARN] = { BASIS("arn", REKEY_DIGEST), 2 },
	/*
	 * The first two statements of that Put's transaction: the row lock,
	 * then, in a statement of its own (a snapshot taken after the lock),
	 * the basis of a Put of version $2 compared with $3 (SQLSTATE CF003 if
	 * it changed or the secret is gone: migration 0022).
	 */
	[ST_PUT_LOCK] = { "SELECT 1 FROM secrets WHERE uuid = $1::uuid "
	    "FOR UPDATE", 1 },
	[ST_PUT_UNCHANGED] = { UNCHANGED(PUT_DIGEST), 3 },
	[ST_REKEY_UNCHANGED] = { UNCHANGED(REKEY_DIGEST), 3 },
	/*
	 * UpdateSecretVersionStage's second statement, after the lock: which
	 * version carries label $2, and whether version $3 (NULL: none named)
	 * exists and has a value.  One row when the secret exists.
	 */
	[ST_STAGE_STATE_BY_NAME] = { "SELECT " STAGE_STATE
	    " FROM (SELECT uuid FROM secrets WHERE name = $1) k " STAGE_STATE_JOIN,
	    3 },
	[ST_STAGE_STATE_BY_ARN] = { "SELECT " STAGE_STATE
	    " FROM (SELECT uuid FROM secrets WHERE arn = $1) k " STAGE_STATE_JOIN,
	    3 },
	[ST_VERSION_BY_STAGE] = { "SELECT " VERSION_COLS
	    " FROM version_stages s JOIN secret_versions v "
	    "ON v.secret_uuid = s.secret_uuid AND v.version_id = s.version_id "
	    "WHERE s.secret_uuid = $1 AND s.stage = $2", 2 },
	[ST_VERSION_INSERT] = { "INSERT INTO secret_versions (secret_uuid, "
	    "version_id, value_type, format, kek_label, iv, wrapped_dek, "
	    "ciphertext, kek_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
	    "$9)", 9 },
	[ST_VERSION_ADD] = { VERSION_ADD, 14 },
	[ST_STAGE_MOVE] = { "WITH old AS (SELECT version_id FROM version_stages "
	    "WHERE secret_uuid = $1 AND stage = $2), "
	    "ins AS (INSERT INTO version_stages (secret_uuid, stage, version_id) "
	    "VALUES ($1, $2, $3) ON CONFLICT (secret_uuid, stage) "
	    "DO UPDATE SET version_id = EXCLUDED.version_id) "
	    "SELECT version_id FROM old", 3 },
	/*
	 * The labels of a page's secrets, oldest version first.  One secret
	 * at a time (LATERAL, kept apart by OFFSET 0, without which the
	 * planner flattens it into the join it was), so that each is an
	 * index lookup whatever the planner knows: with `= ANY ($1)` over
	 * the join, a custom plan on tables never analyzed hash-joined every
	 * version and every label (integration.store_plans,
	 * test_page_labels_without_statistics).
	 */
	[ST_STAGES] = { "SELECT l.secret_uuid::text, l.version_id, l.stage "
	    "FROM (SELECT DISTINCT unnest($1::uuid[]) AS id) u CROSS JOIN "
	    "LATERAL (SELECT s.secret_uuid, s.version_id, s.stage, "
	    "v.created_date FROM version_stages s JOIN secret_versions v "
	    "ON v.secret_uuid = s.secret_uuid AND v.version_id = s.version_id "
	    "WHERE s.secret_uuid = u.id OFFSET 0) l "
	    "ORDER BY l.secret_uuid, l.created_date, l.version_id, l.stage", 1 },
	/* A tag, and the mark that the secret has had one (0011). */
	[ST_TAG_PUT] = { "WITH mark AS (UPDATE secrets SET tags_present = true "
	    "WHERE uuid = $1 AND NOT tags_present) "
	    "INSERT INTO tags (secret_uuid, key, value, position) "
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
	    "v.kek_label, " VERSION_LABELS " "
	    "FROM secret_versions v WHERE v.secret_uuid = $1 AND ($2 OR EXISTS "
	    "(SELECT 1 FROM version_stages l WHERE l.secret_uuid = v.secret_uuid "
	    "AND l.version_id = v.version_id)) "
	    "ORDER BY v.created_date, v.version_id LIMIT $3", 3 },
	[ST_VERSIONS_AFTER] = { "SELECT v.version_id, " MS("v.created_date")
	    ", " US("v.created_date") ", "
	    MS("(v.last_accessed_date::timestamp AT TIME ZONE 'UTC')") ", "
	    "v.kek_label, " VERSION_LABELS " "
	    "FROM secret_versions v WHERE v.secret_uuid = $1 AND ($2 OR EXISTS "
	    "(SELECT 1 FROM version_stages l WHERE l.secret_uuid = v.secret_uuid "
	    "AND l.version_id = v.version_id)) AND (v.created_date, v.version_id)"
	    " > ('epoch'::timestamptz + $3::int8 * interval '1 microsecond', $4) "
	    "ORDER BY v.created_date, v.version_id LIMIT $5", 5 },
	[ST_VERSION_EXISTS] = { "SELECT 1 FROM secret_versions "
	    "WHERE secret_uuid = $1 AND version_id = $2", 2 },
	/*
	 * A version's envelope replaced: the value a pending rotation's
	 * version receives (ST_VERSION_FILL; its caller counts the rows), or
	 * a value sealed again under the secret's new KMS key
	 * (ST_VERSION_RESEAL).  The reseal is held with the change it belongs
	 * to, after the checks under the row lock that the version is there
	 * (store_put_unchanged): it reports nothing, so it cannot count its
	 * rows, and fails instead (SQLSTATE CF003, coffer_put_same) if it
	 * touched none.
	 */
	[ST_VERSION_FILL] = { ENVELOPE_SET "value_type = 0", 9 },
	[ST_VERSION_RESEAL] = { "WITH u AS (" ENVELOPE_SET "value_type <> 0 "
	    "RETURNING 1) SELECT coffer_put_same(CASE WHEN EXISTS (SELECT 1 "
	    "FROM u) THEN NULL ELSE '\\x00'::bytea END, NULL)", 9 },
	[ST_VERSIONS_SEALED] = { "SELECT " VERSION_COLS " FROM secret_versions "
	    "v WHERE v.secret_uuid = $1 AND v.value_type <> 0 "
	    "ORDER BY v.created_date, v.version_id", 1 },
	[ST_STAGE_HOLDER] = { "SELECT version_id FROM version_stages "
	    "WHERE secret_uuid = $1 AND stage = $2", 2 },
	[ST_STAGE_REMOVE] = { "DELETE FROM version_stages "
	    "WHERE secret_uuid = $1 AND stage = $2", 2 },
	[ST_STAGE_SET] = { STAGE_SET, 4 },
	/*
	 * After a new version: prune, mark the secret
	 * changed, and count its labels, in one round trip.  The count sees
	 * the statement's snapshot, before the prune: the prune takes only
	 * versions without labels, so the count is the same.
	 */
	[ST_VERSIONS_SETTLE] = { "WITH p AS (" PRUNE "), c AS (UPDATE secrets "
	    "SET last_changed_date = now() WHERE uuid = $1) SELECT count(*) "
	    "FROM version_stages WHERE secret_uuid = $1", 3 },
	[ST_TAG_REMOVE] = { "DELETE FROM tags WHERE secret_uuid = $1 "
	    "AND key = $2", 2 },
	/*
	 * The tag quota $2 after TagResource's tags: SQLSTATE CF002 past it
	 * (migration 0021), so that it can be held with them.
	 */
	[ST_TAGS_WITHIN] = { "SELECT coffer_tags_within((SELECT count(*) "
	    "FROM tags WHERE secret_uuid = $1), $2::int)", 2 },
	[ST_STAGED_BY_NAME] = { SECRET_AND_STAGE("name"), 2 },
	[ST_STAGED_BY_ARN] = { SECRET_AND_STAGE("arn"), 2 },
	[ST_VERSIONED_BY_NAME] = { SECRET_AND_VERSION("name"), 2 },
	[ST_VERSIONED_BY_ARN] = { SECRET_AND_VERSION("arn"), 2 },
	[ST_SERVER_KEY] = { "WITH ins AS (INSERT INTO server_keys (name, key) "
	    "VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING key) "
	    "SELECT key FROM ins UNION ALL SELECT key FROM server_keys "
	    "WHERE name = $1 LIMIT 1", 2 },
	/* A whole batch of audit events in one statement (store_audit.c). */
	/*
	 * With reads' LastAccessedDate: the data-modifying CTEs run with the
	 * INSERT, in its transaction.  FOR NO KEY UPDATE (what the UPDATE
	 * takes) SKIP LOCKED: never wait for a change that holds the row
	 * (it may be waiting for this very batch), and do not conflict with
	 * the KEY SHARE locks of foreign-key checks.
	 */
	[ST_AUDIT_INSERT_TOUCH] = { "WITH t AS (SELECT * FROM "
	    "unnest($18::uuid[], $19::text[]) AS t(su, vi)), "
	    "ts AS (UPDATE secrets s SET last_accessed_date = " TODAY " "
	    "WHERE s.uuid IN (SELECT x.uuid FROM secrets x WHERE x.uuid IN "
	    "(SELECT su FROM t) AND x.last_accessed_date IS DISTINCT FROM "
	    TODAY " FOR NO KEY UPDATE SKIP LOCKED)), "
	    "tv AS (UPDATE secret_versions v SET last_accessed_date = " TODAY " "
	    "WHERE (v.secret_uuid, v.version_id) IN (SELECT y.secret_uuid, "
	    "y.version_id FROM secret_versions y JOIN t ON y.secret_uuid = t.su "
	    "AND y.version_id = t.vi WHERE y.last_accessed_date IS DISTINCT "
	    "FROM " TODAY " FOR NO KEY UPDATE OF y SKIP LOCKED)) "
	    AUDIT_INSERT, 19 },
	[ST_AUDIT_INSERT] = { AUDIT_INSERT, 17 },
};

/* ---- running them ------------------------------------------------------- */

int
store_hold_or_run(struct store *s, enum store_stmt st, int n,
    const char *const *v, const int *len, const int *fmt,
    ExecStatusType expect, struct cf_error *err)
{
	PGresult *r;

	/* It reports nothing back: it can wait (store_held.c). */
	if (s->defer && (s->in_tx || s->begin_pending))
		return (store_hold(s, st, n, v, len, fmt, expect, err));
	if ((r = store_exec(s, st, n, v, len, fmt, 0, expect, err)) == NULL)
		return (-1);
	PQclear(r);
	return (0);
}

/* Run a statement that returns no rows. */
int
store_command(struct store *s, enum store_stmt st, int n, const char *const *v,
    const int *len, const int *fmt, struct cf_error *err)
{

	return (store_hold_or_run(s, st, n, v, len, fmt, PGRES_COMMAND_OK,
	    err));
}

/* Run a one-row, one-column query; *out is the int8 value (0 if no row). */
int
store_scalar(struct store *s, enum store_stmt st, int n, const char *const *v,
    int64_t *out, int *found, struct cf_error *err)
{
	PGresult *r;

	if ((r = store_exec(s, st, n, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (-1);
	*found = PQntuples(r) > 0;
	*out = *found ? store_col_i64(r, 0, 0) : 0;
	PQclear(r);
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

/* The rows (uuid, a, b) of a per-secret list query, by secret. */
static int
pairs_decode(struct cf_arena *a, PGresult *r, const char *const *uuids,
    size_t n_uuids, struct store_pairs *out, struct cf_error *err)
{
	size_t i;
	int oom = 0;

	out->n = (size_t)PQntuples(r);
	if (out->n == 0)
		return (0);
	out->first = cf_arena_alloc(a, out->n * sizeof(char *));
	out->second = cf_arena_alloc(a, out->n * sizeof(char *));
	out->owner = cf_arena_alloc(a, out->n * sizeof(size_t));
	if (out->first == NULL || out->second == NULL || out->owner == NULL)
		oom = 1;
	for (i = 0; !oom && i < out->n; i++) {
		out->owner[i] = owner_of(PQgetvalue(r, (int)i, 0), uuids,
		    n_uuids);
		out->first[i] = store_col_str(a, r, (int)i, 1, &oom);
		out->second[i] = store_col_str(a, r, (int)i, 2, &oom);
	}
	if (oom) {
		out->n = 0;
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	return (0);
}

/* Run a per-secret list query whose rows are (uuid, a, b). */
int
store_pairs(struct store *s, struct cf_arena *a, enum store_stmt st,
    const char *const *uuids, size_t n_uuids, struct store_pairs *out,
    struct cf_error *err)
{
	const char *v[1];
	PGresult *r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n_uuids == 0)
		return (0);
	if ((v[0] = uuid_array(a, uuids, n_uuids)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	if ((r = store_exec(s, st, 1, v, NULL, NULL, 0, PGRES_TUPLES_OK,
	    err)) == NULL)
		return (-1);
	rc = pairs_decode(a, r, uuids, n_uuids, out, err);
	PQclear(r);
	return (rc);
}

int
store_pairs_two(struct store *s, struct cf_arena *a, const enum store_stmt st[2],
    const char *const *uuids, size_t n_uuids, struct store_pairs out[2],
    struct cf_error *err)
{
	struct store_pq_query q[2];
	PGresult *r[2] = { NULL, NULL };
	char names[2][16];
	const char *v[1];
	int i, rc = -1;

	memset(out, 0, 2 * sizeof(*out));
	if (n_uuids == 0)
		return (0);
	/* A pipeline cannot carry a BEGIN or held changes: one by one. */
	if (s->in_tx || s->begin_pending || s->n_held > 0)
		return (store_pairs(s, a, st[0], uuids, n_uuids, &out[0], err) ||
		    store_pairs(s, a, st[1], uuids, n_uuids, &out[1], err) ?
		    -1 : 0);
	if ((v[0] = uuid_array(a, uuids, n_uuids)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	if (store_reopen(s, 0, err) || store_timeout_apply(s, 1, err))
		return (-1);
	for (i = 0; i < 2; i++) {
		snprintf(names[i], sizeof(names[i]), "s%d", (int)st[i]);
		q[i] = (struct store_pq_query){ .name = names[i], .n = 1,
		    .values = v };
	}
	if (store_pq_pipeline(s, q, 2, r)) {
		store_fail(s, NULL, "reading a page's tags and labels", err);
		return (-1);
	}
	for (i = 0; i < 2; i++)
		if (r[i] == NULL || PQresultStatus(r[i]) != PGRES_TUPLES_OK) {
			store_fail(s, r[i], "reading a page's tags and labels",
			    err);
			goto done;
		}
	if (pairs_decode(a, r[0], uuids, n_uuids, &out[0], err) == 0 &&
	    pairs_decode(a, r[1], uuids, n_uuids, &out[1], err) == 0)
		rc = 0;
done:
	PQclear(r[0]);
	PQclear(r[1]);
	return (rc);
}
