/*
 * store.h: PostgreSQL, seen from the engine.
 *
 * One struct store is one libpq connection with its statements prepared; a
 * worker thread owns one.  Every statement is parameterised.  The store
 * knows rows and transactions, not Secrets Manager rules: the engine decides
 * what to write, the store writes it.
 *
 * Strings and byte strings returned in structs live in the caller's arena.
 * Lookups return an enum store_lookup (STORE_FOUND, STORE_NOT_FOUND, or
 * STORE_ERROR with ${err} set); other functions return 0 or -1.  A lost
 * connection gives CF_ERR_UNAVAILABLE; the next call tries to reconnect.
 */
#ifndef COFFER_STORE_H
#define COFFER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cf.h"
#include "cf_audit_row.h"

struct store;

/*
 * What a lookup found.  Callers compare against the names; the values are
 * fixed only so that a result may travel through an int.
 */
enum store_lookup {
	STORE_ERROR = -1,		/* ${err} set */
	STORE_NOT_FOUND = 0,
	STORE_FOUND = 1
};

/* A (version, label) pair and a (key, value) tag. */
struct store_stage {
	const char *version_id;
	const char *stage;
};
struct store_tag {
	const char *key;
	const char *value;
};

/* A row of the secrets table.  Absent values: NULL strings, 0 dates. */
struct store_secret {
	char uuid[37];
	const char *name;
	const char *arn;
	const char *description;
	const char *kms_key_id;
	int64_t created_ms;
	int64_t created_us;		/* exact, for paging */
	int64_t last_changed_ms;
	int64_t last_accessed_ms;	/* midnight UTC of the access day */
	int64_t deleted_ms;
	int64_t purge_after_ms;
	int rotation_enabled;		/* -1: never configured */
	const char *rotation_lambda_arn;
	const char *rotation_rules;	/* JSON text or NULL */
	int64_t last_rotated_ms;
	int64_t next_rotation_ms;
	const char *owning_service;
	const char *resource_policy;	/* the document, or NULL */
	/* The tags in order; read by lookups of one secret, not by pages. */
	const struct store_tag *tags;
	size_t n_tags;
	int tags_loaded;
	int tags_present;		/* has had a tag (migration 0011) */
	/* A rotation in progress (migrations/0006_rotation.sql). */
	const char *rotation_token;	/* its pending version, or NULL */
	int rotation_step;		/* next step, 1-4; 0: none */
	int rotation_test_only;
	int rotation_attempts;
	const char *rotation_error;	/* the last failure, or NULL */
	/* Who configured it, and what it may touch (migration 0007). */
	const char *rotation_principal;	/* NULL: configured before 0007 */
	const char *rotation_pins;	/* JSON text, or NULL */
};

/* A row of secret_versions, with the labels on it. */
struct store_version {
	const char *version_id;
	int binary;			/* 0: SecretString, 1: SecretBinary */
	int empty;			/* no value yet: a pending rotation's */
	uint32_t format;
	const char *kek_label;
	uint32_t kek_version;		/* of kek_label; 0 is 1 */
	const uint8_t *iv;
	size_t iv_len;
	const uint8_t *wrapped_dek;
	size_t wrapped_dek_len;
	const uint8_t *ciphertext;
	size_t ciphertext_len;
	int64_t created_ms;
	int64_t last_accessed_ms;
	const char **stages;		/* sorted */
	size_t n_stages;
};

/* ---- connection and schema ------------------------------------------------ */

/*
 * store_connect(conninfo, err):
 * Connect and prepare statements.  The schema must be migrated first
 * (store_migrate).  NULL with ${err} (CF_ERR_UNAVAILABLE) on failure.
 */
struct store *store_connect(const char *, struct cf_error *) CF_MUSTCHECK;
void store_free(struct store *);

/*
 * store_migrate(conninfo, out_applied, err):
 * Apply the embedded migrations/ in order, each in its own transaction and
 * recorded in schema_migrations, under a session advisory lock so that
 * several servers may run it at once.  Returns 0 with the number applied
 * in *${out_applied} (unless NULL), or -1 with ${err} set.
 */
int store_migrate(const char *, int *, struct cf_error *) CF_MUSTCHECK;

/*
 * Statement timeouts, per request class.  store_set_timeouts(s, def, list)
 * makes every statement of ${s} run under PostgreSQL's statement_timeout:
 * ${def} milliseconds for ordinary work, ${list} for listings and audit
 * queries (0: no limit).  store_timeout_class(s, c) says which class the
 * statements from now on belong to; it costs one SET when the class
 * changes, issued with the next statement.  A statement cancelled by its
 * timeout fails with CF_ERR_TIMEOUT (RequestTimeoutException).  Without
 * store_set_timeouts, the role's and server's settings apply.
 */
enum store_timeout_class {
	STORE_TIMEOUT_DEFAULT = 0,
	STORE_TIMEOUT_LIST,
	STORE_TIMEOUT__COUNT
};
void store_set_timeouts(struct store *, int, int);

/*
 * store_set_deadline(s, ms): cofferd's own bound on each statement of ${s}
 * and on a reconnect (db_timeout; default STORE_DEADLINE_MS_DEFAULT; 0:
 * none), which holds even when the database is frozen and enforces
 * nothing: a statement that misses it fails with CF_ERR_UNAVAILABLE ("the
 * database did not answer within ...") and the connection is reopened by
 * the next call.  A statement of a class whose statement_timeout is longer
 * gets that and a second.
 */
#define STORE_DEADLINE_MS_DEFAULT 10000
void store_set_deadline(struct store *, int);
void store_timeout_class(struct store *, enum store_timeout_class);

/*
 * store_unavailable_total(): how many database calls of this process have
 * failed for want of the database (unreachable, timed out, not accepting
 * connections), for /metrics.
 */
uint64_t store_unavailable_total(void);

/* store_ping(s): 0 if the connection answers "SELECT 1", else -1. */
int store_ping(struct store *) CF_MUSTCHECK;

/* Transactions.  store_rollback is safe to call outside one. */
int store_begin(struct store *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_defer_writes(s):
 * Until the open transaction ends, the changes that report nothing back
 * (store_secret_insert, store_tags_put, store_tags_remove, the updates
 * of a secret's row, store_version_add without its outputs, ...) are held
 * and sent with the next statement that needs an answer, or with the
 * COMMIT and the audit event: one round trip for all of them.  A held
 * change that fails makes that statement or the commit fail with its
 * own error, and nothing of the transaction is kept.  For a caller that
 * has decided the change may happen: its errors now come later.
 */
void store_defer_writes(struct store *);
/*
 * store_lock_name(s, name, err): a lock on the text ${name} (an advisory
 * lock on its hash), held until the transaction ends: for what has no row
 * to lock, so that two servers doing it take turns.
 */
int store_lock_name(struct store *, const char *, struct cf_error *)
    CF_MUSTCHECK;
int store_commit(struct store *, struct cf_error *) CF_MUSTCHECK;
void store_rollback(struct store *);

/* ---- secrets ------------------------------------------------------------- */

/*
 * store_secret_by_name / store_secret_by_arn (s, arena, key, for_update,
 *     out, err):
 * Find a secret by exact name or exact ARN; with ${for_update} the row is
 * locked until the transaction ends (so two servers serialize on it).
 * STORE_FOUND, STORE_NOT_FOUND or STORE_ERROR.
 */
enum store_lookup store_secret_by_name(struct store *, struct cf_arena *,
    const char *, int, struct store_secret *, struct cf_error *)
    CF_MUSTCHECK;
enum store_lookup store_secret_by_arn(struct store *, struct cf_arena *,
    const char *, int, struct store_secret *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_secret_insert(s, sec, err):
 * Insert a new secret row from ${sec} (uuid, name, arn, description,
 * kms_key_id are used; dates are set to now).  A name or ARN already taken
 * gives CF_ERR_RESOURCE_EXISTS.
 */
int store_secret_insert(struct store *, const struct store_secret *,
    struct cf_error *) CF_MUSTCHECK;

/* store_secret_touch_changed(s, uuid, err): LastChangedDate = now. */
int store_secret_touch_changed(struct store *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_touch_accessed(s, uuid, version_id, err):
 * Set the secret's and the version's LastAccessedDate to today (UTC) where
 * it is not today already.
 */
int store_touch_accessed(struct store *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_secret_page(s, arena, include_deleted, descending, after_us,
 *     after_uuid, limit, out, n, err):
 * Up to ${limit} secrets in (created_date, uuid) order, ascending or
 * descending, strictly after the cursor (after_uuid NULL: from the start).
 */
int store_secret_page(struct store *, struct cf_arena *, int, int, int64_t,
    const char *, int, struct store_secret **, size_t *, struct cf_error *)
    CF_MUSTCHECK;

/* The ListSecrets filter keys (spec 2.12). */
enum store_filter_key {
	SF_DESCRIPTION,
	SF_NAME,
	SF_TAG_KEY,
	SF_TAG_VALUE,
	SF_PRIMARY_REGION,
	SF_OWNING_SERVICE,
	SF_ALL
};

/* One filter; a value that starts with '!' negates. */
struct store_filter {
	enum store_filter_key key;
	const char *const *values;
	size_t n_values;
};

/*
 * store_secret_search(s, arena, filters, n_filters, include_deleted,
 *     descending, after_us, after_uuid, limit, out, n, err):
 * store_secret_page with filters: name, tag-key, tag-value and
 * owning-service are case-sensitive prefixes; description and all match the
 * start of any word, ignoring case; primary-region matches nothing (Coffer
 * secrets are not replicas).  In one filter, any positive value may match
 * and no negated value may; filters combine with AND.  Every value is a
 * query parameter.
 */
int store_secret_search(struct store *, struct cf_arena *,
    const struct store_filter *, size_t, int, int, int64_t, const char *,
    int, struct store_secret **, size_t *, struct cf_error *) CF_MUSTCHECK;

/* ---- versions and labels --------------------------------------------------- */

/*
 * store_version_get(s, arena, uuid, version_id, stage, out, err):
 * The version ${version_id} of secret ${uuid}, or (version_id NULL) the
 * version that carries label ${stage}, with its labels.  STORE_FOUND,
 * STORE_NOT_FOUND or STORE_ERROR.
 */
enum store_lookup store_version_get(struct store *, struct cf_arena *,
    const char *, const char *, const char *, struct store_version *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_secret_staged(s, arena, key, by_arn, stage, vid, sec, ver, has_ver,
 *     err):
 * GetSecretValue's read in one round trip: the secret with exact name (or
 * ARN) ${key} and the version that carries ${stage}, or version ${vid} if
 * that is not NULL (*has_ver 0 if none).
 * Of the secret only what that read uses: uuid, name, ARN, resource
 * policy, DeletedDate and LastAccessedDate (the rest zero); without its
 * tags (sec->tags_loaded 0: store_tags reads them if a policy needs them).  STORE_FOUND, STORE_NOT_FOUND (no such secret) or
 * STORE_ERROR.
 */
enum store_lookup store_secret_staged(struct store *, struct cf_arena *,
    const char *, int, const char *, const char *, struct store_secret *,
    struct store_version *, int *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_secrets_staged(s, reads, n):
 * store_secret_staged (or, for a read with_stages, store_secret_with_stages)
 * for ${n} reads at once, in one round trip (libpq's pipeline mode, one
 * sync): what a worker holding several GetSecretValue and DescribeSecret
 * calls sends PostgreSQL for all of them (rpc/ and engine/, "Reads read
 * ahead").  Each read's outcome is its own: reads[i].rc is STORE_FOUND,
 * STORE_NOT_FOUND or STORE_ERROR, its rows decoded into reads[i].arena.
 * Only between transactions with nothing held back; otherwise, or if the
 * connection cannot be opened, every rc is STORE_ERROR and nothing was
 * sent.  A read that fails makes PostgreSQL skip the ones after it in the
 * pipeline: those are STORE_ERROR too.  The caller reads a STORE_ERROR
 * read again on its own, where it learns why.
 */
struct store_staged_read {
	struct cf_arena *arena;		/* the call's */
	const char *key;		/* exact name, or ARN if by_arn */
	int by_arn;
	const char *stage;
	const char *vid;		/* not NULL: this version, not ${stage} */
	int with_stages;		/* DescribeSecret's read instead */
	enum store_lookup rc;		/* the rest: as store_secret_staged */
	struct store_secret sec;
	struct store_version ver;
	int has_version;
	struct store_stage *stages;	/* with_stages: as */
	size_t n_stages;		/* store_secret_with_stages */
};
void store_secrets_staged(struct store *, struct store_staged_read *,
    size_t);

/*
 * store_secret_lock_with_version(s, arena, key, by_arn, vid, sec, ver,
 *     has_version, has_current, err):
 * store_secret_by_name (or _by_arn) for update, version ${vid} of that
 * secret, and whether the secret has AWSCURRENT, in one round trip with
 * the transaction's BEGIN if it is pending: PutSecretValue's lookup, its
 * ClientRequestToken's check, and what decides whether the new version
 * becomes current.  *${has_version}: the version exists (then in
 * *${ver}); *${has_current}: some version of the secret has AWSCURRENT
 * (read once the row is locked, so it holds until the transaction ends).
 * STORE_FOUND, STORE_NOT_FOUND (no such secret) or STORE_ERROR.
 */
enum store_lookup store_secret_lock_with_version(struct store *,
    struct cf_arena *, const char *, int, const char *,
    struct store_secret *, struct store_version *, int *, int *,
    struct cf_error *) CF_MUSTCHECK;

/* What a write sealed before its transaction depends on (its basis). */
enum store_basis {
	STORE_BASIS_PUT,	/* a new version (migration 0022) */
	STORE_BASIS_REKEY,	/* ...and every version it reseals */
};

/*
 * store_secret_put_basis(s, arena, key, by_arn, kind, vid, sec,
 *     has_version, has_current, basis, err):
 * The read of a write that seals before its transaction (migration 0022):
 * store_secret_by_name (or _by_arn; not locked, tags included), whether
 * version ${vid} exists and whether the secret has AWSCURRENT, and
 * *${basis}, the digest of everything the write's outcome depends on
 * (hex, in ${arena}), all from one statement's snapshot.  For a new
 * version (STORE_BASIS_PUT: PutSecretValue, UpdateSecret with a value),
 * the secret's state; for UpdateSecret moving the secret to another KMS
 * key (STORE_BASIS_REKEY; ${vid} NULL unless a value comes with it),
 * also each version with a value and its envelope, which the call seals
 * again.  Sent on its own,
 * outside any transaction.  STORE_FOUND, STORE_NOT_FOUND or STORE_ERROR.
 */
enum store_lookup store_secret_put_basis(struct store *, struct cf_arena *,
    const char *, int, enum store_basis, const char *, struct store_secret *,
    int *, int *, const char **, struct cf_error *) CF_MUSTCHECK;

/*
 * store_put_unchanged(s, uuid, vid, basis, kind, err):
 * Hold, as the transaction's first two statements, the lock of secret
 * ${uuid}'s row and then the check that its basis of ${kind} (for
 * version ${vid}) is still ${basis} (store_secret_put_basis).  When it
 * is not, the pipeline stops there, nothing is written, and
 * store_basis_changed says so.  The caller has called store_begin and
 * store_defer_writes.
 */
int store_put_unchanged(struct store *, const char *, const char *,
    const char *, enum store_basis, struct cf_error *) CF_MUSTCHECK;

/*
 * store_basis_changed(s): whether the last statement that failed on ${s}
 * since store_begin failed because store_put_unchanged's basis had
 * changed (SQLSTATE CF003).  Nothing was kept; the error in hand is not
 * the caller's to report.
 */
int store_basis_changed(const struct store *);

/* store_version_insert(s, uuid, v, err): insert ${v} (labels ignored). */
int store_version_insert(struct store *, const char *,
    const struct store_version *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_page_meta(s, arena, uuids, n_uuids, tags, towner, nt, stages,
 *     sowner, ns, err):
 * store_tags of the given secrets, and every (version, label) pair of them
 * ordered by secret, then version creation, then label (*${sowner}[i]:
 * the index into ${uuids}), in one round trip: a ListSecrets page's
 * metadata.  0 or -1.
 */
int store_page_meta(struct store *, struct cf_arena *, const char *const *,
    size_t, struct store_tag **, size_t **, size_t *, struct store_stage **,
    size_t **, size_t *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_secret_with_stages(s, arena, key, by_arn, sec, stages, n, err):
 * store_secret_by_name (or _by_arn if ${by_arn}, not locked) and every
 * (version, label) pair of that secret, oldest version first, then by
 * label, in one statement: DescribeSecret's read.  STORE_FOUND,
 * STORE_NOT_FOUND or STORE_ERROR.
 */
enum store_lookup store_secret_with_stages(struct store *, struct cf_arena *,
    const char *, int, struct store_secret *, struct store_stage **, size_t *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_secret_lock_stage(s, arena, key, by_arn, stage, vid, sec, state,
 *     err):
 * store_secret_lock_with_version's round trip for UpdateSecretVersionStage:
 * the secret for update and, read once the row is locked, which version
 * carries ${stage} and whether version ${vid} (NULL: none) exists and has
 * a value.  STORE_FOUND, STORE_NOT_FOUND (no such secret) or STORE_ERROR.
 */
struct store_stage_state {
	const char *holder;		/* the version carrying the label, or NULL */
	int version_exists;		/* ${vid} is a version of the secret */
	int version_empty;		/* ... a pending rotation's, without a value */
};
enum store_lookup store_secret_lock_stage(struct store *, struct cf_arena *,
    const char *, int, const char *, const char *, struct store_secret *,
    struct store_stage_state *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_version_add(s, uuid, v, labels, n, current_if_none, keep,
 *     min_age_s, max_labels, err):
 * A new version in one round trip: insert ${v}; put each of the ${n}
 * ${labels} on it (and AWSCURRENT if ${current_if_none} and the secret
 * has none), taking them from whichever versions had them, and, when
 * AWSCURRENT moves and AWSPREVIOUS is not among them, AWSPREVIOUS on the
 * version that had AWSCURRENT; then what store_versions_settle does (a
 * version that loses its last label here is pruned by a later write).
 * More than ${max_labels} labels across the secret's versions afterwards
 * fails it (CF_ERR_LIMIT_EXCEEDED, AWS's message), in the statement:
 * held, it fails the commit.  It reports nothing back, so under
 * store_defer_writes it is held.  The caller holds the secret's row lock
 * (and knows whether the secret has AWSCURRENT:
 * store_secret_lock_with_version).
 */
int store_version_add(struct store *, const char *,
    const struct store_version *, const char *const *, size_t, int, int,
    int, int, struct cf_error *) CF_MUSTCHECK;

/*
 * store_stage_move(s, arena, uuid, stage, version_id, out_prev, err):
 * Put label ${stage} on ${version_id}, taking it from whichever version had
 * it; *out_prev is that version (NULL if none).  The caller holds the
 * secret's row lock.
 */
int store_stage_move(struct store *, struct cf_arena *, const char *,
    const char *, const char *, const char **, struct cf_error *)
    CF_MUSTCHECK;

/* ---- tags -------------------------------------------------------------------- */

/*
 * store_tags_put(s, uuid, tags, n, err): insert or overwrite tags in order,
 * and mark the secret as having had tags (tags_present, for good).
 */
int store_tags_put(struct store *, const char *, const struct store_tag *,
    size_t, struct cf_error *) CF_MUSTCHECK;

/*
 * store_tags(s, arena, uuids, n_uuids, out, out_owner, n, err):
 * The tags of the given secrets in insertion order; out_owner as above.
 */
int store_tags(struct store *, struct cf_arena *, const char *const *,
    size_t, struct store_tag **, size_t **, size_t *, struct cf_error *)
    CF_MUSTCHECK;

/* ---- lifecycle, version pages, label and tag counts, server keys ----------- */

/*
 * store_secret_update_meta(s, uuid, set_desc, desc, set_kms, kms, err):
 * Change the description and/or KMS key id (NULL stores SQL NULL).
 */
int store_secret_update_meta(struct store *, const char *, int, const char *,
    int, const char *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_secret_schedule_delete(s, uuid, days, out_purge_ms, err):
 * Mark the secret deleted now, to be purged ${days} days from now; the
 * purge date in *${out_purge_ms}.  Under store_defer_writes it is held and
 * the date is set when it is sent (with the COMMIT at the latest), so
 * ${out_purge_ms} must outlive the transaction.
 */
int store_secret_schedule_delete(struct store *, const char *, int,
    int64_t *, struct cf_error *) CF_MUSTCHECK;

/* store_secret_restore(s, uuid, err): clear the deletion mark. */
int store_secret_restore(struct store *, const char *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_secret_delete(s, uuid, err):
 * Delete the secret now, with its versions (and so their wrapped data
 * keys), labels and tags.
 */
int store_secret_delete(struct store *, const char *, struct cf_error *)
    CF_MUSTCHECK;

/* A secret whose recovery window has passed. */
struct store_purge_item {
	char uuid[37];
	const char *arn;		/* in the caller's arena */
};

/*
 * store_purge_claim(s, arena, limit, out, out_n, err):
 * Inside the caller's transaction, lock up to ${limit} secrets whose purge
 * time has passed, skipping rows another server has locked, and list them
 * in ${*out} (${arena}).  Returns 0 or -1.
 */
int store_purge_claim(struct store *, struct cf_arena *, int,
    struct store_purge_item **, size_t *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_purge_delete(s, items, n, err):
 * Delete the ${n} claimed secrets (their versions, wrapped keys, labels
 * and tags go with them).  Returns 0 or -1.
 */
int store_purge_delete(struct store *, const struct store_purge_item *,
    size_t, struct cf_error *) CF_MUSTCHECK;

/* ---- KEK versions (store_kek.c; migration 0014) ---------------------------- */

/* A KEK family: the version new envelopes take; versions destroyed. */
struct store_kek {
	const char *label;
	uint32_t current;
	uint32_t n_destroyed;
	const char *state;		/* Enabled, PendingDeletion, Destroyed */
};

/* One version of a KEK, and how many envelopes it still wraps. */
struct store_kek_version {
	uint32_t version;
	int64_t created_ms;
	int64_t destroyed_ms;		/* 0: not destroyed */
	int destroyed;
	int64_t wrapped;		/* secret versions and access keys */
};

struct store_kek_info {
	uint32_t current;
	int64_t created_ms;
	const char *state;		/* Enabled, PendingDeletion, Destroyed */
	int64_t deletion_ms;		/* when (to be) destroyed; 0: never */
	struct store_kek_version *versions;	/* oldest first */
	size_t n_versions;
	int rewrap_pending;		/* an older version wraps something */
};

/* An envelope to move to its KEK's current version. */
struct store_rewrap_item {
	int access_key;			/* 0: a secret version */
	const char *owner;		/* the secret's uuid, or the key's id */
	const char *version_id;		/* "" for an access key */
	const char *kek_label;
	uint32_t kek_version;
	uint32_t to_version;
	const uint8_t *wrapped;
	size_t wrapped_len;
};

/*
 * store_kek_all: every registered KEK (a label not registered is at
 * version 1).  store_kek_register: register ${label} at version 1 unless
 * it is.  store_kek_rotate: its current version + 1, recorded, into *out
 * (the row locked till the transaction ends).  store_kek_describe: its
 * versions with what each wraps (${lock}: FOR UPDATE of the KEK's row);
 * STORE_NOT_FOUND if not registered.  store_kek_destroyed: record version
 * ${version} destroyed.  store_rewrap_claim: up to ${limit} envelopes under
 * an older version than their KEK's current one, locked (FOR UPDATE SKIP
 * LOCKED).  store_rewrap_update: store one item's new wrapping
 * (it->wrapped, under it->to_version).
 */
int store_kek_all(struct store *, struct cf_arena *, struct store_kek **,
    size_t *, struct cf_error *) CF_MUSTCHECK;
int store_kek_register(struct store *, const char *, struct cf_error *)
    CF_MUSTCHECK;
int store_kek_rotate(struct store *, const char *, uint32_t *,
    struct cf_error *) CF_MUSTCHECK;
enum store_lookup store_kek_describe(struct store *, struct cf_arena *,
    const char *, int, struct store_kek_info *, struct cf_error *)
    CF_MUSTCHECK;
int store_kek_destroyed(struct store *, const char *, uint32_t,
    struct cf_error *) CF_MUSTCHECK;
int store_rewrap_claim(struct store *, struct cf_arena *, int,
    struct store_rewrap_item **, size_t *, struct cf_error *) CF_MUSTCHECK;
int store_rewrap_update(struct store *, const struct store_rewrap_item *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * KEKs made and destroyed on request (migration 0015).
 * store_kek_create: register ${label} new (STORE_FOUND: it was already).
 * store_kek_schedule: Enabled -> PendingDeletion in ${days} days, the date
 * into *${out_ms}; store_kek_cancel: PendingDeletion -> Enabled; both
 * STORE_NOT_FOUND when the key is not in the state they start from.
 * store_kek_due: up to ${limit} keys past their deletion date, locked
 * (FOR UPDATE SKIP LOCKED), with their current version.
 * store_kek_mark_destroyed: the key and every version destroyed.
 */
enum store_lookup store_kek_create(struct store *, const char *,
    struct cf_error *) CF_MUSTCHECK;
enum store_lookup store_kek_schedule(struct store *, const char *, int,
    int64_t *, struct cf_error *) CF_MUSTCHECK;
enum store_lookup store_kek_cancel(struct store *, const char *,
    struct cf_error *) CF_MUSTCHECK;
int store_kek_due(struct store *, struct cf_arena *, int, struct store_kek **,
    size_t *, struct cf_error *) CF_MUSTCHECK;
int store_kek_mark_destroyed(struct store *, const char *, struct cf_error *)
    CF_MUSTCHECK;

/* A version as ListSecretVersionIds reports it (no envelope). */
struct store_version_info {
	const char *version_id;
	int64_t created_ms;
	int64_t created_us;
	int64_t last_accessed_ms;
	const char *kek_label;
	const char **stages;
	size_t n_stages;
};

/*
 * store_version_page(s, arena, uuid, include_deprecated, after_us,
 *     after_vid, limit, out, n, err):
 * Versions of a secret oldest first, strictly after the cursor
 * (after_vid NULL: from the start); without ${include_deprecated} only
 * versions that carry a label.
 */
int store_version_page(struct store *, struct cf_arena *, const char *, int,
    int64_t, const char *, int, struct store_version_info **, size_t *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_version_exists(s, uuid, vid, err): STORE_FOUND, STORE_NOT_FOUND or
 * STORE_ERROR.
 */
enum store_lookup store_version_exists(struct store *, const char *,
    const char *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_stage_holder(s, arena, uuid, stage, out_vid, err):
 * The version that carries ${stage} (STORE_FOUND), or none
 * (STORE_NOT_FOUND, *out_vid NULL), or STORE_ERROR.
 */
enum store_lookup store_stage_holder(struct store *, struct cf_arena *,
    const char *, const char *, const char **, struct cf_error *)
    CF_MUSTCHECK;

/* store_stage_remove(s, uuid, stage, err): take ${stage} off its version. */
int store_stage_remove(struct store *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_stage_set(s, uuid, stage, vid, max_labels, err):
 * UpdateSecretVersionStage's change in one statement: ${stage} onto ${vid}
 * (which must not carry it; AWSCURRENT brings AWSPREVIOUS to the version
 * that had it), or off its version when ${vid} is NULL, and LastChangedDate.
 * A move that leaves more than ${max_labels} labels across the secret's
 * versions fails it (CF_ERR_LIMIT_EXCEEDED, AWS's message).  It reports
 * nothing back, so under store_defer_writes it is held, and then fails the
 * commit.  The caller holds the secret's row lock.
 */
int store_stage_set(struct store *, const char *, const char *, const char *,
    int, struct cf_error *) CF_MUSTCHECK;

/*
 * store_versions_settle(s, uuid, keep, min_age_s, labels, err):
 * After a new version, in one round trip: delete versions without labels,
 * oldest first, older than ${min_age_s} seconds, while the secret has
 * more than ${keep} versions; then store_secret_touch_changed; and in
 * *${labels} store_label_count.
 */
int store_versions_settle(struct store *, const char *, int, int, int *,
    struct cf_error *) CF_MUSTCHECK;

/* store_tags_remove(s, uuid, keys, n, err): delete tags; missing is fine. */
int store_tags_remove(struct store *, const char *, const char *const *,
    size_t, struct cf_error *) CF_MUSTCHECK;

/*
 * store_tags_within(s, uuid, max_tags, err): fails (CF_ERR_INVALID_PARAMETER,
 * "A secret can have at most ${max_tags} tags; ...") when the secret has
 * more tags than that.  It reports nothing back, so under
 * store_defer_writes it is held with the tags it checks, and then fails
 * the commit.
 */
int store_tags_within(struct store *, const char *, int, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_server_key(s, name, candidate, len, out, err):
 * The shared key ${name}: inserted as ${candidate} if no server made it
 * before, then read back (so every server ends up with the same bytes).
 * ${out} receives ${len} bytes.  0 or -1.
 */
int store_server_key(struct store *, const char *, const uint8_t *, size_t,
    uint8_t *, struct cf_error *) CF_MUSTCHECK;

/* ---- the audit trail (store_audit.c) -------------------------------------- */

/*
 * The rows are audit's (struct cf_audit_row, common/cf_audit_row.h): the
 * store only moves them between the database and its callers.
 */

/*
 * A secret version a read returned, whose LastAccessedDate (and its
 * secret's) becomes today with the read's audit event: a read's only
 * write, folded into the audit batch's commit instead of a commit of its
 * own (issue 14).
 */
struct store_touch {
	const char *secret_uuid;
	const char *version_id;
};

/*
 * store_audit_insert(s, rows, n, touches, n_touches, err):
 * Insert ${n} rows in one statement (one transaction, one commit), which
 * also sets the LastAccessedDate of the ${n_touches} ${touches} to today
 * where it is not already: rows another transaction holds locked are
 * skipped (never waited for: a change holds its secret's row while it
 * waits for its own event), and the next read of that secret tries again.
 * Never retried: after a lost connection the caller cannot know whether
 * the rows landed, and must find out (store_audit_head).  Returns 0 or
 * -1.
 */
int store_audit_insert(struct store *, const struct cf_audit_row *,
    size_t, const struct store_touch *, size_t, struct cf_error *)
    CF_MUSTCHECK;

/* How a transaction ended (store_audit_insert_commit). */
enum store_tx_end {
	STORE_TX_COMMITTED,
	STORE_TX_ROLLED_BACK,
	STORE_TX_REFUSED,		/* rolled back: a held change failed
					   (store_defer_writes), and the error
					   is that change's own */
	STORE_TX_UNKNOWN		/* the answer was lost: it may have */
};

/*
 * store_audit_insert_commit(s, rows, n, err):
 * Insert ${n} rows into the open transaction and commit it, in one round
 * trip (libpq's pipeline mode): a change's events and the change, durable
 * together.  Returns how the transaction ended; ${err} is set unless
 * STORE_TX_COMMITTED.  Either way the transaction is over.  Never retried
 * (as store_audit_insert).
 */
enum store_tx_end store_audit_insert_commit(struct store *,
    const struct cf_audit_row *, size_t, struct cf_error *) CF_MUSTCHECK;

/* store_audit_chain_new(s, chain_id, server, err): register a chain. */
int store_audit_chain_new(struct store *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/* store_audit_partitions(s, months, err): make the monthly partitions. */
int store_audit_partitions(struct store *, int, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_audit_head(s, chain_id, seq, hash, err):
 * The last event of a chain: STORE_FOUND (with *seq and ${hash}),
 * STORE_NOT_FOUND if the chain has none, STORE_ERROR.
 */
enum store_lookup store_audit_head(struct store *, const char *, int64_t *,
    uint8_t *, struct cf_error *) CF_MUSTCHECK;

/* A chain the database knows of: registered, with events, or both. */
struct store_audit_chain {
	char chain_id[37];
	int registered;
	int has_events;
};

/* store_audit_chains(s, arena, out, n, err): every chain, sorted by id. */
int store_audit_chains(struct store *, struct cf_arena *,
    struct store_audit_chain **, size_t *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_audit_scan(s, arena, chain_id, after_seq, after_hash, limit, out,
 *     n, err):
 * The next ${limit} events of a chain in (seq, hash) order after
 * (${after_seq}, ${after_hash}); ${after_hash} NULL starts at ${after_seq}
 * inclusive.  Duplicated seqs come out one after the other.
 */
int store_audit_scan(struct store *, struct cf_arena *, const char *,
    int64_t, const uint8_t *, int, struct cf_audit_row **, size_t *,
    struct cf_error *) CF_MUSTCHECK;

/* ---- store_escrow.c: audit key versions wrapped for auditors ---------- */

/*
 * store_audit_escrow_add(s, version, recipient, mechanism, wrapped, len,
 *     err):
 * Record version ${version} of the audit key wrapped for ${recipient}, in
 * the caller's transaction (the rotation's).  0, or -1 with ${err}.
 */
int store_audit_escrow_add(struct store *, uint32_t, const char *,
    const char *, const uint8_t *, size_t, struct cf_error *) CF_MUSTCHECK;

/* One escrowed version, as store_audit_escrow_list returns it (in ${a}). */
struct store_audit_escrow {
	uint32_t version;
	const char *recipient;
	const char *mechanism;
	uint8_t *wrapped;
	size_t wrapped_len;
	int64_t created_ms;
};

/*
 * store_audit_escrow_list(s, a, below, out, n, err): every escrowed copy
 * of the versions older than ${below}, by version then recipient, in ${a}.
 * store_audit_escrow_count(s, version, out, err): how many copies of
 * ${version} there are.  0, or -1 with ${err}.
 */
int store_audit_escrow_list(struct store *, struct cf_arena *, uint32_t,
    struct store_audit_escrow **, size_t *, struct cf_error *) CF_MUSTCHECK;
int store_audit_escrow_count(struct store *, uint32_t, int64_t *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_audit_anchor(s, chain_id, seq, hash, hmac, mac_version, err):
 * The newest archiving anchor of a chain, with the audit key version that
 * made its hmac: STORE_FOUND, STORE_NOT_FOUND (none) or STORE_ERROR.
 */
enum store_lookup store_audit_anchor(struct store *, const char *, int64_t *,
    uint8_t *, uint8_t *, uint32_t *, struct cf_error *) CF_MUSTCHECK;

/* ListAuditEvents: every member optional (NULL / 0). */
struct store_audit_filter {
	const char *secret_arn;		/* exact */
	const char *secret_like;	/* LIKE pattern on secret_arn */
	const char *requested;		/* ...or the SecretId (Name) asked for */
	const char *principal;
	const char *operation;
	const char *outcome;
	int64_t start_ms;		/* inclusive */
	int64_t end_ms;			/* exclusive */
	int has_after;			/* the cursor: after this event */
	int64_t after_ms;
	const char *after_chain;
	int64_t after_seq;
};

/*
 * store_audit_list(s, arena, f, limit, out, n, err): in time order.  The
 * secret members select events matching any of them: secret_arn exactly,
 * secret_arn LIKE secret_like, or an event that asked for ${requested}
 * (its request_params' SecretId or Name, or a BatchGetSecretValue item's
 * secret_arn, which holds the SecretId asked for when it failed).
 */
int store_audit_list(struct store *, struct cf_arena *,
    const struct store_audit_filter *, int, struct cf_audit_row **,
    size_t *, struct cf_error *) CF_MUSTCHECK;


/* ---- policies (store_policy.c) --------------------------------------------- */

/* A row of identity_policies. */
struct store_identity_policy {
	const char *principal;
	const char *policy_name;
	const char *document;
	int64_t created_ms;
	int64_t updated_ms;
};

/*
 * store_identity_policies(s, a, principal, out, n, err):
 * Every policy attached to ${principal} (document included), by name.
 * store_identity_policy_list(s, a, principal, after_principal, after_name,
 *     limit, out, n, err) does the same without documents, for one
 * principal or (NULL) for all of them, by principal and name: at most
 * ${limit} rows after (${after_principal}, ${after_name}) (NULL: from the
 * start).
 */
int store_identity_policies(struct store *, struct cf_arena *, const char *,
    struct store_identity_policy **, size_t *, struct cf_error *)
    CF_MUSTCHECK;
int store_identity_policy_list(struct store *, struct cf_arena *,
    const char *, const char *, const char *, int,
    struct store_identity_policy **, size_t *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_identity_policy_get(s, a, principal, name, out, err): STORE_FOUND,
 * STORE_NOT_FOUND or STORE_ERROR.
 */
enum store_lookup store_identity_policy_get(struct store *, struct cf_arena *,
    const char *, const char *, struct store_identity_policy *,
    struct cf_error *) CF_MUSTCHECK;

/* store_identity_policy_put(s, principal, name, doc, err): insert or replace. */
int store_identity_policy_put(struct store *, const char *, const char *,
    const char *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_identity_policy_delete(s, principal, name, err): STORE_FOUND (and
 * deleted), STORE_NOT_FOUND (no such policy) or STORE_ERROR.
 */
enum store_lookup store_identity_policy_delete(struct store *, const char *,
    const char *, struct cf_error *) CF_MUSTCHECK;

/* store_secret_set_policy(s, uuid, doc, err): set (NULL: remove) it. */
int store_secret_set_policy(struct store *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/* ---- access keys (store_access_key.c) ---------------------------------- */

/*
 * A row of access_keys.  ${sealed} is the secret's envelope (its
 * version_id is the key's id, the binding's second half); only
 * store_access_key_get fills it.
 */
struct store_access_key {
	const char *access_key_id;
	const char *principal;
	int active;			/* status 'Active' */
	int64_t created_ms;
	struct store_version sealed;
};

/*
 * store_access_key_insert(s, k, created_ms, err): add ${k}, envelope
 * included; *${created_ms} gets its CreateDate.
 */
int store_access_key_insert(struct store *, const struct store_access_key *,
    int64_t *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_access_keys_of(s, a, principal, lock, out, n, err):
 * ${principal}'s keys, oldest first, without their envelopes.  With
 * ${lock} (inside a transaction), first wait for and hold until its end
 * a lock on the principal's keys, so that counting them and adding one
 * cannot interleave with another server doing the same.
 */
int store_access_keys_of(struct store *, struct cf_arena *, const char *,
    int, struct store_access_key **, size_t *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_access_key_get(s, a, id, out, err): key ${id} with its envelope:
 * STORE_FOUND, STORE_NOT_FOUND or STORE_ERROR.
 */
enum store_lookup store_access_key_get(struct store *, struct cf_arena *,
    const char *, struct store_access_key *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_access_key_set_status(s, id, active, err),
 * store_access_key_delete(s, id, err): STORE_FOUND (done),
 * STORE_NOT_FOUND (no such key) or STORE_ERROR.
 */
enum store_lookup store_access_key_set_status(struct store *, const char *,
    int, struct cf_error *) CF_MUSTCHECK;
enum store_lookup store_access_key_delete(struct store *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/* ---- listening (store_listen.c) ------------------------------------------- */

/*
 * A connection that LISTENs on one channel.  store_listen(conninfo,
 * channel, err) connects and listens (NULL with ${err}); store_listener_wait
 * (l, timeout_ms) waits for notifications: STORE_LISTEN_NOTIFIED when at
 * least one came (all pending ones are consumed), STORE_LISTEN_TIMEOUT when
 * none did, STORE_LISTEN_LOST when the connection is lost (free it and
 * listen again).
 */
enum store_listen_wait {
	STORE_LISTEN_LOST = -1,
	STORE_LISTEN_TIMEOUT = 0,
	STORE_LISTEN_NOTIFIED = 1
};
struct store_listener;
struct store_listener *store_listen(const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;
enum store_listen_wait store_listener_wait(struct store_listener *, int);
void store_listener_free(struct store_listener *);


/* ---- rotation (store_rotation.c) -------------------------------------------- */

/*
 * store_rotation_configure(s, uuid, enabled, lambda, rules_json, next_ms,
 * err): set RotationEnabled; the rotator and rules when not NULL (else kept);
 * NextRotationDate (next_ms <= 0: none).
 */
int store_rotation_configure(struct store *, const char *, int, const char *,
    const char *, int64_t, struct cf_error *) CF_MUSTCHECK;

/*
 * store_rotation_pin(s, uuid, principal, pins_json, err): record who
 * configured the rotation and what its steps may touch (NULL pins: none).
 */
int store_rotation_pin(struct store *, const char *, const char *,
    const char *, struct cf_error *) CF_MUSTCHECK;

/* store_rotation_begin(s, uuid, token, step, test_only, err): start one. */
int store_rotation_begin(struct store *, const char *, const char *, int, int,
    struct cf_error *) CF_MUSTCHECK;

/* store_rotation_cancel(s, uuid, err): rotation off, none in progress. */
int store_rotation_cancel(struct store *, const char *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * A rotation lease, as the functions that take or use one find it.
 */
enum store_lease {
	STORE_LEASE_ERROR = -1,		/* ${err} set */
	STORE_LEASE_NONE = 0,		/* none to take, or it is gone */
	STORE_LEASE_HELD = 1
};

/*
 * store_rotation_claim(s, owner, lease_s, uuid, err):
 * Take a lease of ${lease_s} seconds, as ${owner}, on one secret whose
 * rotation is due or in progress and not leased (FOR UPDATE SKIP LOCKED:
 * two servers never take the same).  STORE_LEASE_HELD with *uuid,
 * STORE_LEASE_NONE if none is due, STORE_LEASE_ERROR.
 */
enum store_lease store_rotation_claim(struct store *, const char *, int,
    char[37], struct cf_error *) CF_MUSTCHECK;

/*
 * Under ${owner}'s lease on rotation ${token} (each returns
 * STORE_LEASE_HELD if the lease and rotation were still there,
 * STORE_LEASE_NONE if not, STORE_LEASE_ERROR on error):
 * store_rotation_step: the next step to run, the lease renewed for
 *     ${lease_s} seconds;
 * store_rotation_done: none in progress; LastRotatedDate now if ${rotated};
 *     NextRotationDate next_ms (<= 0: kept); lease released.
 */
enum store_lease store_rotation_step(struct store *, const char *,
    const char *, const char *, int, int, struct cf_error *) CF_MUSTCHECK;
enum store_lease store_rotation_done(struct store *, const char *,
    const char *, const char *, int, int64_t, struct cf_error *)
    CF_MUSTCHECK;

/*
 * store_rotation_failed(s, uuid, token, owner, retry_s, why, err): count a
 * failure, retry in ${retry_s} seconds, release the lease.
 * store_rotation_release(s, uuid, owner, next_ms, err): release the lease
 * (and move NextRotationDate when next_ms > 0).
 * store_rotation_touched(s, uuid, next_ms, err): a manual change of the
 * value counts as a rotation: LastRotatedDate now, NextRotationDate next_ms.
 */
int store_rotation_failed(struct store *, const char *, const char *,
    const char *, int, const char *, struct cf_error *) CF_MUSTCHECK;
int store_rotation_release(struct store *, const char *, const char *,
    int64_t, struct cf_error *) CF_MUSTCHECK;
int store_rotation_touched(struct store *, const char *, int64_t,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_secret_by_uuid(s, a, uuid, out, err): STORE_FOUND, STORE_NOT_FOUND
 * or STORE_ERROR (no tags read).
 */
enum store_lookup store_secret_by_uuid(struct store *, struct cf_arena *,
    const char *, struct store_secret *, struct cf_error *) CF_MUSTCHECK;

/*
 * store_version_fill(s, uuid, ver, err): give the empty (pending) version
 * ${ver->version_id} its sealed value.  InvalidRequestException if it has
 * one.  store_version_drop_empty(s, uuid, vid, err): delete it if empty.
 */
int store_version_fill(struct store *, const char *,
    const struct store_version *, struct cf_error *) CF_MUSTCHECK;
int store_version_drop_empty(struct store *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * store_versions_sealed(s, a, uuid, out, n, err): every version of secret
 * ${uuid} that has a value, envelope and labels, oldest first.
 * store_version_reseal(s, uuid, ver, err): replace the envelope of the
 * version ${ver->version_id}, which has a value (UpdateSecret moving a
 * secret to another KMS key).  Under store_defer_writes it is held; sent,
 * it fails (as a changed basis: store_basis_changed) if no such version
 * has a value.
 */
int store_versions_sealed(struct store *, struct cf_arena *, const char *,
    struct store_version **, size_t *, struct cf_error *) CF_MUSTCHECK;
int store_version_reseal(struct store *, const char *,
    const struct store_version *, struct cf_error *) CF_MUSTCHECK;

#endif /* !COFFER_STORE_H */
