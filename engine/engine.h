/*
 * engine.h: the Secrets Manager rules, independent of the wire.
 *
 * The engine validates input, applies AWS Secrets Manager semantics
 * (names, ARNs, versions and staging labels, idempotency tokens) and drives
 * store/ (PostgreSQL) and hsm/ (the PKCS#11 token).  It knows nothing of
 * protobuf or gRPC: rpc/ converts messages to the structs below and back.
 *
 * Memory: every engine_* operation takes a struct engine_call whose arena
 * owns everything the response points to (strings, lists, plaintext); the
 * caller frees the arena (which wipes it) when the reply is sent.  Request
 * structs are borrowed and never modified.
 *
 * Errors: each operation returns 0, or -1 with ${err} set to the AWS
 * exception (cf_code) and an AWS-style message.  Nothing is half-written: an
 * operation either commits all its changes or none.
 */
#ifndef COFFER_ENGINE_H
#define COFFER_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cf.h"
#include "cf_audit_row.h"
#include "cf_password.h"
#include "rotator.h"

struct engine;
struct engine_worker;
struct hsm;

/*
 * The rotators' settings (rotator/rotator.h): exec: programs (struct
 * rotator_exec_config: the endpoint is set once the server listens, by
 * engine_set_rotator_endpoint, and the cancel flag is the engine's own;
 * server/rotators.c decides the user a program runs as) and the
 * PostgreSQL rotators (struct rotator_pg_config).
 */
struct engine_config {
	const char *pg_conninfo;	/* libpq conninfo */
	struct hsm *hsm;		/* borrowed; outlives the engine */
	const char *partition;		/* ARN partition, default "aws" */
	const char *region;		/* ARN region, default "local-1" */
	const char *account_id;		/* 12 digits, default "000000000000" */
	const char *default_kek_label;	/* the hsm_config kek_label */
	const char *admin_principal;	/* allowed everything; NULL: none */
	struct rotator_exec_config exec;
	struct rotator_pg_config pg;
	int authz_off;			/* no authorization (engine tests) */
	/* Bounds (0: none, or the built-in default where one is said). */
	int db_timeout_ms;		/* cofferd's own bound on the database
					   (store_set_deadline); 0: default */
	int statement_timeout_ms;	/* each statement of a request */
	int list_statement_timeout_ms;	/* ...of a listing or audit query */
	int audit_verify_max_events;	/* per VerifyAuditLog call; 0: 100000 */
	int audit_verify_max_ms;	/* per VerifyAuditLog call; 0: 10000 */
	int rewrap_rate;		/* envelopes rewrapped a second by
					   this server's scheduler; 0: 1000 */
};

/*
 * What a call's audit event needs from the engine (audit/DESIGN.md).  The
 * engine fills in the secret and version a call touched as it learns them
 * (copied into the call's arena: the event outlives the request), one
 * item per secret for BatchGetSecretValue.  Right before a change
 * commits, it asks ${change_event} for the change's event (0, or -1 with
 * its error set) and appends it to the change's own transaction
 * (audit_append), which then commits once: if the event cannot be made or
 * written the change is rolled back and the call fails, so no change is
 * ever visible without its event, and no event claims a change that did
 * not commit.
 */
struct audit_event;
struct engine_audit_item {
	const char *secret;		/* ARN, or the SecretId asked for */
	const char *version_id;		/* NULL if none */
	const char *outcome;		/* "OK" or the AWS exception name */
	const char *accessed_secret;	/* see engine_audit */
	const char *accessed_version;
};
struct engine_audit {
	const char *secret_arn;
	const char *version_id;
	const char *request_params;	/* JSON, set by rpc/; NULL: none */
	/*
	 * A read whose LastAccessedDate must become today (a new day): the
	 * secret's uuid and the version, written by the audit writer in the
	 * event's commit (audit_event.accessed_*), so that a read adds no
	 * commit of its own.  engine_audit_item moves them to its item.
	 */
	const char *accessed_secret;
	const char *accessed_version;
	/*
	 * CreateAccessKey's new key, which the change's event names among
	 * its request parameters (AccessKeyId): the request cannot, and an
	 * auditor asks which key a principal was given.  NULL: none.
	 */
	const char *made_key_id;
	struct engine_audit_item *items;
	size_t n_items;
	size_t cap_items;
	int (*change_event)(struct engine_audit *, struct audit_event *,
	    struct cf_error *);
	void *hook_arg;
	int recorded;			/* the change and its event committed */
};

/*
 * Who is calling; the arena receives every allocation of the call.
 * ${action} is the IAM action the operation needs
 * ("secretsmanager:GetSecretValue"); the auth_* members are condition
 * keys an operation sets on its copy of the call (NULL: absent).
 */
struct engine_call {
	const char *principal;		/* NULL: unauthenticated */
	const char *action;
	const char *auth_name;
	const char *auth_version_id;
	const char *auth_version_stage;
	const char *peer;
	const char *request_id;
	struct cf_arena *arena;
	struct engine_audit *audit;	/* NULL: not audited (tests) */
	/* GetSecretValue's read, made ahead with others; NULL: none. */
	const struct engine_read_ahead *ahead;
};

/* A secret value: SecretString (UTF-8 text) or SecretBinary (bytes). */
struct engine_value {
	int present;
	int binary;
	const uint8_t *data;
	size_t len;
	int conflict;		/* both SecretString and SecretBinary were sent */
};

struct engine_tag {
	const char *key;
	const char *value;
};

/* A version id and the staging labels on it. */
struct engine_version_stages {
	const char *version_id;
	const char **stages;
	size_t n_stages;
};

struct engine_rotation_rules {
	int has_automatically_after_days;
	int64_t automatically_after_days;
	const char *duration;			/* NULL: absent */
	const char *schedule_expression;	/* NULL: absent */
};

/*
 * Metadata of one secret, as DescribeSecret and ListSecrets report it.
 * Absent members: NULL strings, 0 dates, -1 rotation_enabled.
 */
struct engine_secret_meta {
	const char *arn;
	const char *name;
	const char *description;
	const char *kms_key_id;
	int rotation_enabled;
	const char *rotation_lambda_arn;
	int has_rotation_rules;
	struct engine_rotation_rules rotation_rules;
	int64_t last_rotated_date;
	int64_t last_changed_date;
	int64_t last_accessed_date;
	int64_t deleted_date;
	int64_t next_rotation_date;
	int64_t created_date;
	struct engine_tag *tags;
	size_t n_tags;
	/* Tags is a member even when empty: the secret has had tags (AWS). */
	int tags_present;
	struct engine_version_stages *versions;	/* labelled versions only */
	size_t n_versions;
	const char *owning_service;
	const char *primary_region;
	const char *rotation_principal;	/* Coffer's own: who configured it */
};

/* ---- lifecycle ---------------------------------------------------------- */

/*
 * engine_migrate(conninfo, out_applied, err):
 * Apply pending migrations (under an advisory lock, so several servers may
 * start at once).  Returns 0 with how many were applied in *${out_applied}
 * (unless NULL), or -1 with ${err} set.
 */
int engine_migrate(const char *, int *, struct cf_error *) CF_MUSTCHECK;

/*
 * engine_new(cfg, err):
 * Create the process-wide engine: apply pending migrations, and load (or,
 * on a new database, create from the token's randomness) the keys every
 * server shares.  ${cfg->hsm} is required.  NULL on error with ${err} set.
 */
struct engine *engine_new(const struct engine_config *, struct cf_error *)
    CF_MUSTCHECK;
void engine_free(struct engine *);

/*
 * engine_worker_new(e, err):
 * Per-thread state: a PostgreSQL connection with its statements prepared and
 * a token session.  A worker is used by one thread at a time.
 */
struct engine_worker *engine_worker_new(struct engine *, struct cf_error *)
    CF_MUSTCHECK;
void engine_worker_free(struct engine_worker *);

/*
 * engine_health(w):
 * 0 if the worker's database connection and token session answer and the
 * audit writer (engine_set_audit) accepts calls, else -1.  A database and
 * token check that passed less than a second ago is not repeated; the
 * audit's is asked every time.
 */
int engine_health(struct engine_worker *) CF_MUSTCHECK;

/*
 * engine_set_audit(e, audit):
 * The audit writer (borrowed; NULL: none) whose chain VerifyAuditLog
 * waits on and whose head lag engine_health() reports.  Set before the
 * workers start.
 */
struct audit;
void engine_set_audit(struct engine *, struct audit *);


/*
 * engine_authz_start(e, err):
 * Start the thread that listens for identity-policy changes, so that
 * compiled policies can be cached (engine/authz.c).  Without it every call
 * reads its caller's policies.  Stopped by engine_free().  0 or -1.
 */
int engine_authz_start(struct engine *, struct cf_error *) CF_MUSTCHECK;

/* ---- operations --------------------------------------------------------- */

struct engine_create_req {
	const char *name;
	const char *client_request_token;	/* NULL: absent */
	const char *description;
	const char *kms_key_id;
	struct engine_value value;
	const struct engine_tag *tags;
	size_t n_tags;
	size_t n_add_replica_regions;		/* replicas are refused */
};
struct engine_create_resp {
	const char *arn;
	const char *name;
	const char *version_id;			/* NULL when no value */
};
int engine_create_secret(struct engine_worker *, const struct engine_call *,
    const struct engine_create_req *, struct engine_create_resp *,
    struct cf_error *) CF_MUSTCHECK;

struct engine_get_req {
	const char *secret_id;
	const char *version_id;
	const char *version_stage;
};
struct engine_get_resp {
	const char *arn;
	const char *name;
	const char *version_id;
	struct engine_value value;		/* points into the arena */
	const char **stages;
	size_t n_stages;
	int64_t created_date;
};
int engine_get_secret_value(struct engine_worker *,
    const struct engine_call *, const struct engine_get_req *,
    struct engine_get_resp *, struct cf_error *) CF_MUSTCHECK;

/*
 * Reads read ahead.  A worker holding several GetSecretValue calls at once
 * reads all their secrets in one round trip (engine_read_ahead), before it
 * runs the calls one by one; each call, given its read
 * (engine_call.ahead), uses it instead of reading again.  Only the read is
 * shared: each call still checks its own input, authorizes its own caller
 * and opens its own value.  A read made ahead is made after its call
 * arrived and before it is answered, like the read the call would have
 * made itself.
 */
struct engine_ahead_got;		/* the read's rows (engine's own) */
struct engine_read_ahead {
	const char *secret_id;		/* as the request gave it */
	const char *version_stage;	/* NULL: AWSCURRENT */
	const char *version_id;		/* not NULL: this version */
	int describe;			/* DescribeSecret's read instead */
	struct cf_arena *arena;		/* the call's: the rows go there */
	struct engine_ahead_got *got;	/* set by engine_read_ahead; NULL: not read */
};

/*
 * engine_read_ahead(w, reads, n):
 * Read the secrets and versions of ${n} GetSecretValue calls (by label or
 * by VersionId), and the secrets and labels of DescribeSecret calls, in
 * one round trip on ${w}'s connection.  A read whose
 * input the call will refuse anyway (an invalid SecretId, VersionId or
 * VersionStage, another account's ARN), and a read that failed, keep got NULL: the call then reads on its
 * own, as without read-ahead, and reports what it finds.
 */
void engine_read_ahead(struct engine_worker *, struct engine_read_ahead *,
    size_t);

struct engine_put_req {
	const char *secret_id;
	const char *client_request_token;
	struct engine_value value;
	const char *const *version_stages;
	size_t n_version_stages;
	const char *rotation_token;
};
struct engine_put_resp {
	const char *arn;
	const char *name;
	const char *version_id;
	const char **stages;
	size_t n_stages;
};
int engine_put_secret_value(struct engine_worker *,
    const struct engine_call *, const struct engine_put_req *,
    struct engine_put_resp *, struct cf_error *) CF_MUSTCHECK;

int engine_describe_secret(struct engine_worker *, const struct engine_call *,
    const char *, struct engine_secret_meta *, struct cf_error *)
    CF_MUSTCHECK;

struct engine_filter {
	const char *key;
	const char *const *values;
	size_t n_values;
};
struct engine_list_req {
	int include_planned_deletion;
	int has_max_results;
	int32_t max_results;
	const char *next_token;
	const struct engine_filter *filters;
	size_t n_filters;
	const char *sort_order;			/* NULL, "asc" or "desc" */
};
struct engine_list_resp {
	struct engine_secret_meta *secrets;
	size_t n_secrets;
	const char *next_token;			/* NULL on the last page */
};
int engine_list_secrets(struct engine_worker *, const struct engine_call *,
    const struct engine_list_req *, struct engine_list_resp *,
    struct cf_error *) CF_MUSTCHECK;

struct engine_update_req {
	const char *secret_id;
	const char *client_request_token;
	const char *description;		/* NULL: unchanged */
	const char *kms_key_id;			/* NULL: unchanged; "": default */
	struct engine_value value;
};
struct engine_update_resp {
	const char *arn;
	const char *name;
	const char *version_id;			/* NULL when no new version */
};
int engine_update_secret(struct engine_worker *, const struct engine_call *,
    const struct engine_update_req *, struct engine_update_resp *,
    struct cf_error *) CF_MUSTCHECK;

struct engine_delete_req {
	const char *secret_id;
	int has_recovery_window_in_days;
	int64_t recovery_window_in_days;
	int force_delete_without_recovery;
};
struct engine_delete_resp {
	const char *arn;
	const char *name;
	int64_t deletion_date;
};
int engine_delete_secret(struct engine_worker *, const struct engine_call *,
    const struct engine_delete_req *, struct engine_delete_resp *,
    struct cf_error *) CF_MUSTCHECK;

/* RestoreSecret: ${out_arn} and ${out_name} point into the arena. */
int engine_restore_secret(struct engine_worker *, const struct engine_call *,
    const char *, const char **, const char **, struct cf_error *)
    CF_MUSTCHECK;

/*
 * engine_purge_due(w, audit, limit, out_purged, err):
 * Permanently delete up to ${limit} secrets whose recovery window has
 * passed.  Their wrapped data keys leave the live database, but the KEK
 * that wraps them stays, so backups of the database still hold openable
 * copies: this is deletion, not crypto-shredding.  Rows are
 * claimed with FOR UPDATE SKIP LOCKED so several servers share the work.
 * Each purge is an audit event (principal "cofferd", operation
 * "PurgeSecret", the secret's ARN) committed to ${audit} before the delete
 * commits; if it cannot be, nothing is deleted.  ${audit} NULL: not
 * audited (tests).
 */
struct audit;
int engine_purge_due(struct engine_worker *, struct audit *, int, int *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * Encryption keys (keks.c; issue 16): a KEK is a family of versions in the
 * token (hsm/DESIGN.md, "KEK versions").  ${key_id} is its label or
 * "alias/" and its label.  Account-level actions (coffer:RotateEncryptionKey,
 * coffer:DescribeEncryptionKey, coffer:DeleteEncryptionKeyVersion, on
 * "*"), audited.
 *
 * engine_rotate_encryption_key: make the next version in the token; new
 * envelopes are sealed under it on every server once notified, and the
 * rewrap moves the old ones.  *out: the new version.
 * engine_describe_encryption_key: its versions, what each still wraps, and
 * whether a rewrap is pending.
 * engine_delete_encryption_key_version: destroy an old version in the
 * token; refused (InvalidRequestException) for the current version or one
 * that still wraps anything.
 * engine_rewrap_due: move up to ${limit} envelopes under older versions
 * to their KEK's current one, in the token (claimed with FOR UPDATE SKIP
 * LOCKED: servers share the work); one audit event ("RewrapDataKeys",
 * principal "cofferd") per batch, durable before the rows change.
 */
struct engine_key_version {
	uint32_t version;
	int64_t created_ms;
	int64_t destroyed_ms;		/* 0: not destroyed */
	int64_t wrapped;		/* envelopes it wraps */
};
struct engine_key_info {
	const char *key_id;		/* the label */
	const char *state;		/* Enabled, PendingDeletion, Destroyed */
	int64_t deletion_ms;		/* when (to be) destroyed; 0: never */
	uint32_t current;
	int64_t created_ms;
	struct engine_key_version *versions;	/* oldest first */
	size_t n_versions;
	int rewrap_pending;
};
int engine_rotate_encryption_key(struct engine_worker *,
    const struct engine_call *, const char *, uint32_t *, struct cf_error *)
    CF_MUSTCHECK;
int engine_describe_encryption_key(struct engine_worker *,
    const struct engine_call *, const char *, struct engine_key_info *,
    struct cf_error *) CF_MUSTCHECK;
int engine_delete_encryption_key_version(struct engine_worker *,
    const struct engine_call *, const char *, const int64_t *,
    struct cf_error *) CF_MUSTCHECK;
int engine_rewrap_due(struct engine_worker *, struct audit *, int, int *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * KEKs for a tenant or a data class (migration 0015).
 * engine_create_encryption_key: make version 1 of a new KEK in the token
 * (ResourceExistsException if the label is, or ever was, used).
 * engine_schedule_key_deletion: PendingDeletion for ${days} (7-30; NULL:
 * 30) days, the date into *out_ms; from then on nothing is sealed or
 * opened under it (EncryptionFailure / DecryptionFailure), as KMS does;
 * refused for the default KEK.  engine_cancel_key_deletion: back to
 * Enabled.  engine_destroy_due_keys (the scheduler): every version of the
 * keys past their date destroyed in the token, each audited
 * ("DestroyEncryptionKey", principal "cofferd") before it is destroyed.
 */
int engine_create_encryption_key(struct engine_worker *,
    const struct engine_call *, const char *, struct cf_error *)
    CF_MUSTCHECK;
int engine_schedule_key_deletion(struct engine_worker *,
    const struct engine_call *, const char *, const int64_t *, int64_t *,
    struct cf_error *) CF_MUSTCHECK;
int engine_cancel_key_deletion(struct engine_worker *,
    const struct engine_call *, const char *, struct cf_error *)
    CF_MUSTCHECK;
int engine_destroy_due_keys(struct engine_worker *, struct audit *, int *,
    struct cf_error *) CF_MUSTCHECK;

struct engine_version_entry {
	const char *version_id;
	const char **stages;
	size_t n_stages;
	int64_t last_accessed_date;
	int64_t created_date;
	const char *kms_key_id;		/* "DefaultEncryptionKey" or the alias */
};
struct engine_list_versions_req {
	const char *secret_id;
	int has_max_results;
	int32_t max_results;
	const char *next_token;
	int include_deprecated;
};
struct engine_list_versions_resp {
	const char *arn;
	const char *name;
	struct engine_version_entry *versions;
	size_t n_versions;
	const char *next_token;
};
int engine_list_secret_version_ids(struct engine_worker *,
    const struct engine_call *, const struct engine_list_versions_req *,
    struct engine_list_versions_resp *, struct cf_error *) CF_MUSTCHECK;

struct engine_stage_req {
	const char *secret_id;
	const char *version_stage;
	const char *remove_from_version_id;
	const char *move_to_version_id;
};
int engine_update_secret_version_stage(struct engine_worker *,
    const struct engine_call *, const struct engine_stage_req *,
    const char **, const char **, struct cf_error *) CF_MUSTCHECK;

/* TagResource / UntagResource. */
int engine_tag_resource(struct engine_worker *, const struct engine_call *,
    const char *, const struct engine_tag *, size_t, struct cf_error *)
    CF_MUSTCHECK;
int engine_untag_resource(struct engine_worker *, const struct engine_call *,
    const char *, const char *const *, size_t, struct cf_error *)
    CF_MUSTCHECK;

/* The password lives in the arena (wiped with it). */
int engine_get_random_password(struct engine_worker *,
    const struct engine_call *, const struct cf_password_rules *,
    const char **, struct cf_error *) CF_MUSTCHECK;

struct engine_batch_req {
	const char *const *secret_ids;
	size_t n_secret_ids;
	const struct engine_filter *filters;
	size_t n_filters;
	int has_max_results;
	int32_t max_results;
	const char *next_token;
};
struct engine_batch_error {
	const char *secret_id;
	const char *error_code;
	const char *message;
};
struct engine_batch_resp {
	struct engine_get_resp *values;
	size_t n_values;
	struct engine_batch_error *errors;
	size_t n_errors;
	const char *next_token;
};
int engine_batch_get_secret_value(struct engine_worker *,
    const struct engine_call *, const struct engine_batch_req *,
    struct engine_batch_resp *, struct cf_error *) CF_MUSTCHECK;

/*
 * engine_replication(w, call, secret_id, err):
 * ReplicateSecretToRegions, RemoveRegionsFromReplication and
 * StopReplicationToReplica: a Coffer deployment is one region (PostgreSQL
 * replication makes the copies), so after resolving the secret each fails
 * with InvalidRequestException saying so.  Always returns -1.
 */
int engine_replication(struct engine_worker *, const struct engine_call *,
    const char *, struct cf_error *);

/* ---- the audit trail (ops_audit.c) ---------------------------------------- */

struct engine_audit_list_req {
	const char *secret_id;		/* ARN or name; NULL: any */
	const char *principal;
	const char *operation;
	const char *outcome;
	int64_t start_time;		/* ms; 0: none */
	int64_t end_time;
	int has_max_results;
	int32_t max_results;
	const char *next_token;
};
struct engine_audit_list_resp {
	struct cf_audit_row *events;	/* in the arena */
	size_t n_events;
	const char *next_token;
};
int engine_list_audit_events(struct engine_worker *,
    const struct engine_call *, const struct engine_audit_list_req *,
    struct engine_audit_list_resp *, struct cf_error *) CF_MUSTCHECK;

struct engine_audit_chain {
	char chain_id[37];
	int ok;
	int64_t events;
	int64_t first_seq;
	int64_t last_seq;
	int64_t broken_seq;
	const char *reason;
	int head_in_token;
	int64_t head_seq;
	int anchored;
};
struct engine_audit_verify_resp {
	int ok;
	int64_t events;
	struct engine_audit_chain *chains;
	size_t n_chains;
	const char *next_token;		/* NULL: every chain was walked */
};

/*
 * engine_verify_audit(w, call, next_token, resp, err):
 * Walk every chain (registered, present among the events, or known to the
 * token) and check each event's position, link, hash and the token's
 * HMAC, and each chain's end against the token's head.  A broken chain is
 * a result (resp->ok = 0), not an error.  One call does a bounded part
 * (audit_verify_max_events, audit_verify_max_ms); resp->next_token, passed
 * back as ${next_token}, goes on where it stopped, so a chain may be
 * reported in parts over several calls (its last part ends it).
 */
int engine_verify_audit(struct engine_worker *, const struct engine_call *,
    const char *, struct engine_audit_verify_resp *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * engine_rotate_audit_key(w, call, out, err): make the next version of
 * the token's audit key (*out); this process's audit lanes HMAC under it
 * at once, other processes' within about a second (audit/DESIGN.md,
 * "Audit key versions").  Old versions stay for verification.
 */
int engine_rotate_audit_key(struct engine_worker *, const struct engine_call *,
    uint32_t *, struct cf_error *) CF_MUSTCHECK;

/*
 * engine_export_audit_key_bundle(w, call, out, n, err): the escrowed
 * copies of every retired version of the audit key (older than the
 * newest in the token), wrapped for the auditors of audit_key_recipients,
 * in the call's arena (audit/DESIGN.md, "The auditor's bundle").  The
 * current version is never among them.
 */
struct engine_escrowed_key {
	uint32_t version;
	const char *recipient;		/* "sha256:<hex of DER SPKI>" */
	const char *mechanism;		/* "RSA-OAEP-SHA256", "RSA-OAEP-SHA1" */
	const uint8_t *wrapped;
	size_t wrapped_len;
	int64_t created_ms;
	uint8_t key_check[32];		/* the token's HMAC of
					   AUDIT_KEY_CHECK_MSG under it */
};
int engine_export_audit_key_bundle(struct engine_worker *,
    const struct engine_call *, struct engine_escrowed_key **, size_t *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * engine_metrics_write(e, out) (metrics.c): rotations by rotator kind and
 * outcome, secrets purged, the data-key cache's hits and misses, and the
 * token and database failures this process saw, for /metrics.
 */
struct cf_prom;
void engine_metrics_write(struct engine *, struct cf_prom *);


/* ---- policies (ops_policy.c) ---------------------------------------------- */

/*
 * PutResourcePolicy, GetResourcePolicy (*out_policy NULL when none),
 * DeleteResourcePolicy, as AWS has them.  A document must parse as a
 * resource policy (MalformedPolicyDocumentException); with ${block_public}
 * a policy open to everyone is refused (PublicPolicyException).
 */
int engine_put_resource_policy(struct engine_worker *,
    const struct engine_call *, const char *, const char *, int,
    const char **, const char **, struct cf_error *) CF_MUSTCHECK;
int engine_get_resource_policy(struct engine_worker *,
    const struct engine_call *, const char *, const char **, const char **,
    const char **, struct cf_error *) CF_MUSTCHECK;
int engine_delete_resource_policy(struct engine_worker *,
    const struct engine_call *, const char *, const char **, const char **,
    struct cf_error *) CF_MUSTCHECK;

/* ValidateResourcePolicy: findings as ValidationErrors. */
struct engine_validation_error {
	const char *check_name;
	const char *type;		/* ERROR, SECURITY_WARNING, ... */
	char *message;			/* "<location>: <message>" */
};
struct engine_validation {
	int passed;
	struct engine_validation_error *errors;
	size_t n_errors;
};
int engine_validate_resource_policy(struct engine_worker *,
    const struct engine_call *, const char *, const char *,
    struct engine_validation *, struct cf_error *) CF_MUSTCHECK;

/*
 * Identity policies: put (insert or replace; at most 20 per principal),
 * get, list (documents left NULL; principal NULL: all), delete.
 */
/*
 * Access keys for AWS Signature Version 4 (ops_access_key.c).  ${principal}
 * NULL means the caller's own.  CreateAccessKey's secret is in the call's
 * arena and is never stored or shown again.
 */
struct engine_access_key {
	const char *access_key_id;
	const char *principal;
	const char *status;		/* "Active" or "Inactive" */
	int64_t created_ms;
	const char *secret;		/* CreateAccessKey and
					   engine_access_key_open only */
};
int engine_create_access_key(struct engine_worker *,
    const struct engine_call *, const char *, struct engine_access_key *,
    struct cf_error *) CF_MUSTCHECK;
int engine_list_access_keys(struct engine_worker *,
    const struct engine_call *, const char *, struct engine_access_key **,
    size_t *, struct cf_error *) CF_MUSTCHECK;
int engine_update_access_key(struct engine_worker *,
    const struct engine_call *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;
int engine_delete_access_key(struct engine_worker *,
    const struct engine_call *, const char *, struct cf_error *)
    CF_MUSTCHECK;

/* What engine_access_key_open found. */
enum engine_key_lookup {
	ENGINE_KEY_ERROR = -1,		/* ${err} set */
	ENGINE_KEY_UNKNOWN,		/* no such key (or not a key's form) */
	ENGINE_KEY_INACTIVE,		/* exists, deactivated */
	ENGINE_KEY_ACTIVE		/* *out filled, secret included */
};

/*
 * engine_access_key_open(w, call, id, out, err):
 * Authentication, not an action: the key ${id}, and if it is active its
 * secret unsealed in the token into ${call}'s arena, for checking a
 * request's signature.  No authorization (the caller is not known yet)
 * and no audit event of its own: the call it authenticates has one.
 */
enum engine_key_lookup engine_access_key_open(struct engine_worker *,
    const struct engine_call *, const char *, struct engine_access_key *,
    struct cf_error *) CF_MUSTCHECK;

struct engine_identity_policy {
	const char *principal;
	const char *policy_name;
	const char *document;
	int64_t created_ms;
	int64_t updated_ms;
};
int engine_put_identity_policy(struct engine_worker *,
    const struct engine_call *, const char *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;
int engine_get_identity_policy(struct engine_worker *,
    const struct engine_call *, const char *, const char *,
    struct engine_identity_policy *, struct cf_error *) CF_MUSTCHECK;
/*
 * ListIdentityPolicies pages like ListSecrets: at most ${max_results}
 * (1..100, default 100) per call, and *out_next_token (NULL on the last
 * page) to ask for the next.
 */
struct engine_identity_policy_list_req {
	const char *principal;		/* NULL: every principal */
	int has_max_results;
	int32_t max_results;
	const char *next_token;		/* NULL: the first page */
};
int engine_list_identity_policies(struct engine_worker *,
    const struct engine_call *, const struct engine_identity_policy_list_req *,
    struct engine_identity_policy **, size_t *, const char **,
    struct cf_error *) CF_MUSTCHECK;
int engine_delete_identity_policy(struct engine_worker *,
    const struct engine_call *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;


/* ---- rotation (rotation_api.c, rotation_scheduler.c) --------------------- */

struct engine_rotate_req {
	const char *secret_id;
	const char *client_request_token;
	const char *rotation_lambda_arn;	/* NULL: the stored one */
	int has_rules;
	struct engine_rotation_rules rules;
	int has_rotate_immediately;
	int rotate_immediately;
};
struct engine_rotate_resp {
	const char *arn;
	const char *name;
	const char *version_id;		/* the pending version; NULL: none */
};

/*
 * RotateSecret: store the rotator and rules, put AWSPENDING on an empty
 * version named by the token and leave the steps to the scheduler (which
 * this wakes).  CancelRotateSecret: rotation off (rules and rotator kept),
 * the rotation in progress stopped; resp->version_id is its version, whose
 * AWSPENDING label the caller removes.
 */
int engine_rotate_secret(struct engine_worker *, const struct engine_call *,
    const struct engine_rotate_req *, struct engine_rotate_resp *,
    struct cf_error *) CF_MUSTCHECK;
int engine_cancel_rotate_secret(struct engine_worker *,
    const struct engine_call *, const char *, struct engine_rotate_resp *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * engine_set_rotator_endpoint(e, url): where exec: rotators call cofferd
 * ("http://127.0.0.1:PORT" or "127.0.0.1:PORT" for TLS).  0 or -1.
 */
int engine_set_rotator_endpoint(struct engine *, const char *);

/*
 * engine_cancel_rotators(e): cofferd is stopping: a running exec: rotator
 * is killed with its process group at once (its step fails, to be retried
 * by the next server), rather than when its time runs out.
 */
void engine_cancel_rotators(struct engine *);

/*
 * engine_rotation_start(e, audit, interval_s, purge_interval_s, err):
 * Start the scheduler thread: it runs due and pending rotations, looking
 * every ${interval_s} seconds and whenever RotateSecret asks (each step's
 * event goes to ${audit}; NULL: none), and purges secrets past their
 * recovery window every ${purge_interval_s} (and at once).  Several
 * servers share both without doing anything twice.
 * engine_rotation_stop(e, r) stops and joins it; NULL does nothing.
 */
struct engine_rotation;
struct audit;
struct engine_rotation *engine_rotation_start(struct engine *, struct audit *,
    int, int, struct cf_error *) CF_MUSTCHECK;
void engine_rotation_stop(struct engine *, struct engine_rotation *);

#endif /* !COFFER_ENGINE_H */
