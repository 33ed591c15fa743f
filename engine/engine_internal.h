/*
 * engine_internal.h: what the engine's files share, and the pure functions
 * the unit tests call directly.
 */
#ifndef COFFER_ENGINE_INTERNAL_H
#define COFFER_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine.h"
#include "hsm.h"
#include "next_token.h"
#include "store.h"

#define ENGINE_MAX_VALUE 65536		/* bytes, SecretString and SecretBinary */
#define ENGINE_MAX_NAME 512
#define ENGINE_MAX_SECRET_ID 2048
#define ENGINE_MAX_DESCRIPTION 2048
#define ENGINE_MAX_LABELS 20
#define ENGINE_MAX_TAGS 50
#define ENGINE_DEFAULT_PAGE 100
#define ENGINE_MAX_IDENTITY_POLICIES 20	/* per principal */
#define ENGINE_PRINCIPAL_MAX 1024	/* characters of a principal */
#define ENGINE_HEALTH_TTL_MS 1000	/* a passed health check stands */

#define ENGINE_MAX_VERSIONS 100		/* before unlabeled ones are pruned */
#define ENGINE_PRUNE_AGE (24 * 3600)	/* ...and only when this old (s) */

#define STAGE_CURRENT "AWSCURRENT"
#define STAGE_PREVIOUS "AWSPREVIOUS"

#define MSG_NOT_FOUND "Secrets Manager can't find the specified secret."
#define MSG_ONE_REGION "Replication is not available: a Coffer deployment " \
	"is a single region whose database is replicated by PostgreSQL."
#define MSG_NEED_TOKEN "You must provide a ClientRequestToken value. " \
	"We recommend a UUID-type value."
#define MSG_DELETED "You can't perform this operation on the secret " \
	"because it was marked for deletion."

#define ENGINE_ROTATOR_KINDS 4	/* enum rotator_kind's values */

/* The calls that seal before their transaction. */
enum engine_sealed_op {
	ENGINE_SEALED_PUT,		/* PutSecretValue */
	ENGINE_SEALED_UPDATE,		/* UpdateSecret with a value */
	ENGINE_SEALED_REKEY,		/* ...with a KmsKeyId (a value or not) */
	ENGINE_SEALED_OPS
};

struct engine {
	char *conninfo;
	struct hsm *hsm;
	char arn_prefix[256];		/* arn:aws:secretsmanager:R:A:secret: */
	char kms_arn_prefix[256];	/* arn:aws:kms:R:A:alias/ */
	char default_kek[HSM_LABEL_MAX + 1];
	struct cf_secret *token_key;	/* NextToken cursors' server key */
	char deployment[33];		/* scopes the token's audit heads */
	struct engine_authz *authz;	/* authz.c */
	struct rotator_exec_config exec;	/* exec: rotators (copies) */
	int exec_cancel;		/* engine_cancel_rotators (atomic) */
	struct rotator_pg_config pg;	/* PostgreSQL rotators (copies) */
	pthread_mutex_t rot_mu;		/* guards rotation and exec.endpoint */
	struct engine_rotation *rotation; /* the scheduler, once started */
	int authz_off;			/* engine_config.authz_off */
	struct audit *audit;		/* engine_set_audit; NULL: none */
	int timeout_ms, list_timeout_ms; /* engine_config's statement bounds */
	int db_timeout_ms;		/* engine_config.db_timeout_ms */
	int verify_max_events, verify_max_ms; /* ...and VerifyAuditLog's */
	struct engine_keks *keks;	/* keks.c: KEK versions in use */
	int rewrap_rate;		/* envelopes a second, per server */
	/* metrics.c: rotations by rotator kind (last: not understood) and
	 * outcome (0 failed, 1 OK); secrets purged. */
	atomic_uint_fast64_t rotations[ENGINE_ROTATOR_KINDS + 1][2];
	atomic_uint_fast64_t purged;
	/* read_ahead.c: reads made ahead, their round trips, and the reads
	 * their calls used (the rest they made again on their own). */
	atomic_uint_fast64_t ahead_reads;
	atomic_uint_fast64_t ahead_trips;
	atomic_uint_fast64_t ahead_used;
	/* ops_put.c: values sealed before their transaction, by call
	 * (enum engine_sealed_op) and whether their basis held (0: changed,
	 * run again under the lock; 1: held). */
	atomic_uint_fast64_t sealed_first[ENGINE_SEALED_OPS][2];
};

struct engine_worker {
	struct engine *e;
	struct store *store;
	struct hsm_session *hsm;
	struct authz_cache *authz;	/* this worker's compiled policies */
	int64_t health_ok_ms;		/* when engine_health last passed */
};

/* ---- validate.c (pure) ---------------------------------------------------- */

/*
 * engine_invalid(err, field, value, constraint, ...):
 * Set ${err} to ValidationException in AWS's one sentence for a broken
 * constraint of the service model: "1 validation error detected: Value
 * 'v' at 'field' failed to satisfy constraint: Member must <constraint>"
 * (${constraint} a printf format).  ${value} NULL withholds the value (a
 * secret, a token, a list) but keeps the word: "Value at 'field' ...".
 * Every ValidationException of that shape is made here.
 */
void engine_invalid(struct cf_error *, const char *, const char *,
    const char *, ...) CF_PRINTF(4, 5);

/*
 * engine_missing(err, field): ${err} set to ValidationException for a
 * required member left out: "1 validation error detected: Value null at
 * 'field' failed to satisfy constraint: Member must not be null".
 */
void engine_missing(struct cf_error *, const char *);

/* Each returns 0, or -1 with ${err} set to AWS's exception and wording. */
int engine_check_name(const char *, struct cf_error *);
int engine_check_secret_id(const char *, struct cf_error *);
int engine_check_token(const char *, struct cf_error *);
int engine_check_version_id(const char *, const char *, struct cf_error *);
int engine_check_stage(const char *, const char *, struct cf_error *);
int engine_check_description(const char *, struct cf_error *);
int engine_check_value(const struct engine_value *, struct cf_error *);
int engine_check_tags(const struct engine_tag *, size_t, struct cf_error *);
int engine_check_kms_key_id(const char *, struct cf_error *);
int engine_check_tag_key(const char *, const char *, struct cf_error *);
/*
 * engine_check_principal(p, err): a principal is 1-1024 characters without
 * control characters; 0, or -1 with ValidationException.
 */
int engine_check_principal(const char *, struct cf_error *);

/* engine_check_max_results(has, v, max, err): 1 <= v <= max when given. */
int engine_check_max_results(int, int32_t, int32_t, struct cf_error *);

/*
 * engine_check_filters(f, n, out, err):
 * Validate ListSecrets filters (spec 2.12 and 3) and translate them for the
 * store into ${out} (n entries).
 */
int engine_check_filters(const struct engine_filter *, size_t,
    struct store_filter *, struct cf_error *);

/*
 * engine_arn_suffix_like(resource):
 * Nonzero if ${resource} ends in "-" and six ASCII letters or digits, which
 * AWS takes as a complete ARN rather than a partial one.
 */
int engine_arn_suffix_like(const char *);

/*
 * engine_put_labels(requested, n, first_version, out, n_out, err):
 * The labels a new version receives from PutSecretValue: the requested ones
 * (deduplicated, order kept) or AWSCURRENT when none were given; the first
 * version of a secret always gets AWSCURRENT.  ${out} must hold
 * ENGINE_MAX_LABELS + 1 entries.  -1 with ValidationException when more
 * than ENGINE_MAX_LABELS labels or an invalid label are given.
 */
int engine_put_labels(const char *const *, size_t, int, const char **,
    size_t *, struct cf_error *);

/* ---- password.c (pure but for the random source) ------------------------- */

/* A random source: fill ${buf} with ${n} bytes; 0 or -1 with ${err}. */
typedef int engine_rand_fn(void *, uint8_t *, size_t, struct cf_error *);

/*
 * engine_password_alphabet(req, alphabet, class_of, n, required, err):
 * The characters ${req} allows (NUL-terminated, at most 96), the class of
 * each (0 lower, 1 upper, 2 digit, 3 punctuation, 4 space), and the bit set
 * of classes a password must contain.  -1 if nothing is left.
 */
int engine_password_alphabet(const struct cf_password_rules *, char *,
    uint8_t *, size_t *, int *, struct cf_error *);

/*
 * engine_password_generate(req, fn, ctx, out, err):
 * Write a password per ${req} (AWS defaults) into ${out}, which holds 4097
 * bytes.  Returns 0, or -1 with ValidationException / InvalidParameter-
 * Exception as AWS has them.
 */
int engine_password_generate(const struct cf_password_rules *,
    engine_rand_fn *, void *, char *, struct cf_error *);

/* ---- engine.c ---------------------------------------------------------------- */

/*
 * engine_classify(w, id, key): how SecretId ${id} is looked up — by name
 * (*key the name, also for a partial ARN), by exact ARN, or not at all (an
 * ARN of another partition, region or account).  ${id} is validated.
 */
enum engine_id_kind { ENGINE_ID_NAME, ENGINE_ID_ARN, ENGINE_ID_FOREIGN };
enum engine_id_kind engine_classify(struct engine_worker *, const char *,
    const char **);

/*
 * engine_resolve(w, call, secret_id, for_update, out, err):
 * Find a secret by name, full ARN or partial ARN, per AWS's rules.
 * 0 when found; -1 with ResourceNotFoundException or another error.
 */
int engine_resolve(struct engine_worker *, const struct engine_call *,
    const char *, int, struct store_secret *, struct cf_error *);

/* engine_random_uuid(w, out, err): a random UUID v4 from the token. */
int engine_random_uuid(struct engine_worker *, char[37], struct cf_error *);

/* engine_arn_new(w, arena, name, err): an ARN with a fresh 6-char suffix. */
char *engine_arn_new(struct engine_worker *, struct cf_arena *, const char *,
    struct cf_error *);

/* engine_kek_label(kms_key_id): the token KEK label, NULL for default. */
const char *engine_kek_label(const char *);

/*
 * Seal a value for a version; open one (plaintext goes to the arena);
 * seal a stored version again under another KMS key (engine_reseal: the
 * plaintext wiped before it returns).
 */
int engine_seal(struct engine_worker *, const char *, const char *,
    const char *, const struct engine_value *, struct store_version *,
    struct cf_arena *, struct cf_error *);
int engine_open(struct engine_worker *, const struct engine_call *,
    const char *, const struct store_version *, struct engine_value *,
    struct cf_error *);
int engine_reseal(struct engine_worker *, const char *,
    const struct store_version *, const char *, struct store_version *,
    struct cf_arena *, struct cf_error *);

/* engine_has_stage(stages, n, stage): is ${stage} among ${stages}? */
int engine_has_stage(const char *const *, size_t, const char *);

/*
 * engine_put_version(w, call, sec, vid, value, labels, n, fill, err):
 * Seal ${value} as version ${vid} of ${sec}, store it and move ${labels}
 * onto it (AWSCURRENT brings AWSPREVIOUS along); enforce the 20-label
 * quota and prune old unlabeled versions.  Or, with ${fill}, the value
 * of the existing empty version ${vid} (a rotation's pending one).  The
 * caller holds the row lock and has put AWSCURRENT in ${labels} if the
 * secret has none (engine_put_labels): the first value is current.  A
 * new version's statement reports nothing back, so it is held
 * (store_defer_writes) and sent with the event and the COMMIT.
 */
int engine_put_version(struct engine_worker *, const struct engine_call *,
    const struct store_secret *, const char *, const struct engine_value *,
    const char *const *, size_t, int, struct cf_error *);

/*
 * engine_version_for_token(w, call, sec, token, value, out, err):
 * Does ${token} already name a version of ${sec}?
 */
enum engine_token_version {
	ENGINE_TOKEN_ERROR = -1,	/* ${err} set, including
					   ResourceExistsException when it
					   holds another value */
	ENGINE_TOKEN_NEW = 0,		/* no */
	ENGINE_TOKEN_RETRY = 1,		/* yes, holding the same value (a
					   retry; *out is that version) */
	ENGINE_TOKEN_EMPTY = 2		/* yes, empty (a rotation's pending
					   version, to fill) */
};
enum engine_token_version engine_version_for_token(struct engine_worker *,
    const struct engine_call *, const struct store_secret *, const char *,
    const struct engine_value *, struct store_version *, struct cf_error *);

/*
 * engine_token_version_read(w, call, sec, token, value, has, v, err):
 * engine_version_for_token for a version already read with the secret's
 * locked lookup (engine_resolve_live_version): *${v} if ${has}.
 */
enum engine_token_version engine_token_version_read(struct engine_worker *,
    const struct engine_call *, const struct store_secret *, const char *,
    const struct engine_value *, int, struct store_version *,
    struct cf_error *);

/*
 * engine_resolve_with_stages(w, call, id, out, stages, n, err):
 * engine_resolve without a lock, and every (version, label) pair of the
 * secret read in the same statement (DescribeSecret); nothing of them is
 * told before the caller is authorized.
 */
int engine_resolve_with_stages(struct engine_worker *,
    const struct engine_call *, const char *, struct store_secret *,
    struct store_stage **, size_t *, struct cf_error *);

/*
 * engine_resolve_live(w, call, id, out, err):
 * engine_resolve with the row locked, failing with InvalidRequestException
 * when the secret is scheduled for deletion.  Call inside a transaction.
 */
int engine_resolve_live(struct engine_worker *, const struct engine_call *,
    const char *, struct store_secret *, struct cf_error *);

/*
 * engine_resolve_read(w, call, id, stage, vid, out, ver, has_version, err):
 * GetSecretValue's read: engine_resolve without a lock (of the secret only
 * what store_secret_staged reads), and the secret's version ${vid}, or if
 * that is NULL the version labelled ${stage}, in one round trip, or none
 * when the call's read was made ahead (engine_ahead_get).  *${has_version}
 * says whether there is such a version (then in *${ver}).  Nothing of
 * either is told before the caller is authorized.
 */
int engine_resolve_read(struct engine_worker *, const struct engine_call *,
    const char *, const char *, const char *, struct store_secret *,
    struct store_version *, int *, struct cf_error *);

/*
 * engine_resolve_live_version(w, call, id, vid, out, ver, has_version,
 *     has_current, err):
 * engine_resolve_live, and version ${vid} of the secret and whether the
 * secret has AWSCURRENT, read in the same round trip (PutSecretValue's
 * ClientRequestToken, and whether its new version becomes current):
 * *${has_version} says whether the version exists (then in *${ver}).
 * Nothing of either is told before the caller is authorized.
 */
int engine_resolve_live_version(struct engine_worker *,
    const struct engine_call *, const char *, const char *,
    struct store_secret *, struct store_version *, int *, int *,
    struct cf_error *);

/*
 * engine_resolve_put_basis(w, call, id, kind, vid, out, has_version,
 *     has_current, basis, err):
 * What engine_resolve_live_version learns, without the lock and outside
 * any transaction, and the basis of ${kind} (store_secret_put_basis): of
 * a Put of version ${vid} (NULL: none), and for a new KMS key of every
 * version it seals again; all from one
 * snapshot, which the write's transaction checks again under the lock
 * (store_put_unchanged).  The version itself is not read: a Put whose
 * token names one runs under the lock.  Nothing is told before the
 * caller is authorized.
 */
int engine_resolve_put_basis(struct engine_worker *,
    const struct engine_call *, const char *, enum store_basis, const char *,
    struct store_secret *, int *, int *, const char **, struct cf_error *);

/* Envelopes sealed again under a secret's new KMS key. */
struct engine_resealed {
	struct store_version *v;		/* in the call's arena */
	size_t n;
};

/*
 * engine_reseal_prepare(w, call, sec, prior, out, err):
 * Every version of ${sec} with a value not yet under its KMS key (the new
 * one, in ${sec}) sealed again under it, as AWS re-encrypts a secret's
 * versions when its key changes; token work only, the envelopes in
 * *${out}.  A version in ${prior} (NULL: none) keeps the envelope made
 * there: a version's value never changes.
 * engine_reseal_store(w, sec, moved, err): those envelopes written (held
 * under store_defer_writes).
 */
int engine_reseal_prepare(struct engine_worker *, const struct engine_call *,
    const struct store_secret *, const struct engine_resealed *,
    struct engine_resealed *, struct cf_error *);
int engine_reseal_store(struct engine_worker *, const struct store_secret *,
    const struct engine_resealed *, struct cf_error *);

/*
 * What engine_seal_first writes: version ${vid} holding ${value}, and
 * for UpdateSecret a description and a new KMS key (every version sealed
 * again under it; ${value} NULL and ${vid} NULL for a key change alone).
 */
struct engine_sealed_put {
	enum engine_sealed_op op;
	const char *secret_id;
	const char *vid;			/* the ClientRequestToken */
	const struct engine_value *value;
	const char *const *stages;		/* the labels asked for */
	size_t n_stages;
	int set_description;			/* UpdateSecret's, with: */
	const char *description;
	int set_key;				/* UpdateSecret's, with: */
	const char *kms_key_id;			/* the KmsKeyId as given */
	struct engine_resealed *resealed;	/* out: the envelopes made */
};

/* How engine_seal_first ended. */
enum engine_sealed {
	ENGINE_SEALED_DONE,	/* committed, *sec and the labels filled */
	ENGINE_SEALED_FAILED,	/* refused or failed, with ${err} */
	ENGINE_SEALED_LOCKED	/* nothing written, no event: to be decided
				   under the row lock, as before this existed */
};

/*
 * engine_seal_first(w, call, put, sec, labels, n, err):
 * Write ${put} with its value (and, for a new KMS key, every version)
 * sealed before the transaction, against the basis
 * engine_resolve_put_basis read, checked again under the row lock
 * (ops_put.c).  On ENGINE_SEALED_DONE *${sec} is the secret and
 * ${labels} (ENGINE_MAX_LABELS + 1 entries) the ${n} labels the version
 * got.
 */
enum engine_sealed engine_seal_first(struct engine_worker *,
    const struct engine_call *, const struct engine_sealed_put *,
    struct store_secret *, const char **, size_t *, struct cf_error *);

/*
 * engine_resolve_live_stage(w, call, id, stage, vid, out, state, err):
 * engine_resolve_live, and which version carries ${stage} and whether
 * version ${vid} (NULL: none) exists and has a value, read in the same
 * round trip once the row is locked (UpdateSecretVersionStage).  Nothing
 * of them is told before the caller is authorized.
 */
int engine_resolve_live_stage(struct engine_worker *,
    const struct engine_call *, const char *, const char *, const char *,
    struct store_secret *, struct store_stage_state *, struct cf_error *);

/* engine_oom(err): set InternalServiceError "out of memory"; returns -1. */
int engine_oom(struct cf_error *);

/*
 * engine_same_value(w, call, uuid, version, value, err):
 * ENGINE_SAME if ${version} holds exactly ${value} (same type and bytes,
 * compared in constant time), ENGINE_DIFFERENT if not, ENGINE_SAME_ERROR
 * with ${err} set.
 */
enum engine_same {
	ENGINE_SAME_ERROR = -1,
	ENGINE_DIFFERENT = 0,
	ENGINE_SAME = 1
};
enum engine_same engine_same_value(struct engine_worker *,
    const struct engine_call *, const char *, const struct store_version *,
    const struct engine_value *, struct cf_error *);

/* ---- reads made ahead (read_ahead.c) ------------------------------------ */

/*
 * engine_ahead_get(w, call, id, stage, vid, sec, v, has):
 * The read ${call} made ahead for GetSecretValue of SecretId ${id}, label
 * ${stage} and VersionId ${vid} (NULL: by label), as store_secret_staged
 * returns it; STORE_ERROR when there is none: the call reads itself.
 */
enum store_lookup engine_ahead_get(struct engine_worker *,
    const struct engine_call *, const char *, const char *, const char *,
    struct store_secret *, struct store_version *, int *);

/*
 * engine_ahead_described(w, call, id, sec, stages, n):
 * The same for DescribeSecret of ${id}, as store_secret_with_stages
 * returns it.
 */
enum store_lookup engine_ahead_described(struct engine_worker *,
    const struct engine_call *, const char *, struct store_secret *,
    struct store_stage **, size_t *);

/* ---- audit (engine.c) ----------------------------------------------------- */

/* engine_audit_at(call, arn, vid): the secret and version the call touched;
 * NULL leaves a member as it is. */
void engine_audit_at(const struct engine_call *, const char *, const char *);

/* engine_audit_forget_version(call): the call touched no version after
 * all (its attempt was undone, to be decided again). */
void engine_audit_forget_version(const struct engine_call *);

/* engine_audit_item(call, secret, vid, outcome, err): one more item. */
int engine_audit_item(const struct engine_call *, const char *, const char *,
    const char *, struct cf_error *) CF_MUSTCHECK;

/*
 * engine_commit(w, call, err):
 * Append the call's event (the change_event hook) to the transaction,
 * then commit both at once.  If the event cannot be written the
 * transaction is rolled back and -1 returned: a change is never visible
 * without its audit event, nor its event without it.
 */
int engine_commit(struct engine_worker *, const struct engine_call *,
    struct cf_error *) CF_MUSTCHECK;

/* How a mutation's transaction is to end (engine_finish). */
enum engine_tx_end {
	ENGINE_TX_ROLLBACK,	/* a step failed and set the error */
	ENGINE_TX_COMMIT	/* every step succeeded */
};

/* What engine_finish did; the values are the engine's 0 / -1. */
enum engine_tx_result {
	ENGINE_TX_COMMITTED = 0,
	ENGINE_TX_ROLLED_BACK = -1	/* asked to, or the event or the
					   commit failed (${err} says so) */
};

/*
 * engine_finish(w, call, end, err):
 * The one tail of every mutation (ops*.c): roll the transaction back when
 * ${end} is ENGINE_TX_ROLLBACK, the failed step having set ${err}; else
 * record the event and commit, as engine_commit does.  Mutations set
 * ${end} to ENGINE_TX_COMMIT after their last step and jump to this tail
 * from every failure, so none can leave a transaction open or commit a
 * change without its audit event.
 */
enum engine_tx_result engine_finish(struct engine_worker *,
    const struct engine_call *, enum engine_tx_end, struct cf_error *)
    CF_MUSTCHECK;


/* ---- authz.c -------------------------------------------------------------- */

struct authz_cache;
struct engine_authz;

/* engine_authz_init(e, admin, err): the state authz needs; 0 or -1. */
int engine_authz_init(struct engine *, const char *, struct cf_error *);
void engine_authz_free(struct engine *);
struct authz_cache *engine_authz_cache_new(void);
void engine_authz_cache_free(struct authz_cache *);

/*
 * engine_authorize(w, call, action, sec, resource, asked, err):
 * May the caller perform ${action} (NULL: call->action) on the secret
 * ${sec}, or when ${sec} is NULL on the ARN ${resource} (NULL: an
 * account-level action)?  0 if allowed; -1 with AccessDeniedException
 * naming the principal, the action and ${asked} (the resource as the
 * caller named it; NULL: ${resource}), or another error.
 */
int engine_authorize(struct engine_worker *, const struct engine_call *,
    const char *, const struct store_secret *, const char *, const char *,
    struct cf_error *);

/*
 * engine_authorize_id(w, call, id, err):
 * The decision for a SecretId that names no secret, made on the ARN that
 * the name would have (or the ARN given), so that whether it exists is
 * only told to those who may act on it.
 */
int engine_authorize_id(struct engine_worker *, const struct engine_call *,
    const char *, struct cf_error *);

/*
 * engine_config_epoch(e, listening): the epoch the policy listener bumps on
 * every NOTIFY of coffer_policy (identity policies, and the KEK tables:
 * migration 0014) and every reconnect; *${listening} 0 while it is not
 * listening, when nothing cached on the epoch may be trusted.
 */
uint64_t engine_config_epoch(struct engine *, int *);

/*
 * engine_policies_changed(e): move this process's configuration epoch:
 * cached identity policies and KEK states are read again at next use.
 */
void engine_policies_changed(struct engine *);

/* ---- rotation (rotation_*.c; the rest in rotation_internal.h) -------- */

/* engine_rules_decode(a, json, out): stored rules (jsonb text); 0 or -1. */
int engine_rules_decode(struct cf_arena *, const char *,
    struct engine_rotation_rules *);

/*
 * engine_rotation_touched(w, call, sec, err): a manual change of ${sec}'s
 * AWSCURRENT counts as a rotation for NextRotationDate (AWS).
 */
int engine_rotation_touched(struct engine_worker *, const struct engine_call *,
    const struct store_secret *, struct cf_error *);

/* ---- keks.c ------------------------------------------------------------ */

struct engine_keks;
int engine_keks_init(struct engine *, struct cf_error *);
void engine_keks_free(struct engine *);

/*
 * engine_kek_current(w, label, out, err): the version of KEK ${label} new
 * envelopes are sealed under (1 for a KEK never rotated); EncryptionFailure
 * if it is pending deletion or destroyed.
 * engine_keks_check(w, label, err): reload what changed, forgetting the
 * keys of a version destroyed since; DecryptionFailure if KEK ${label} is
 * pending deletion or destroyed.  Before every open.  0 or -1.
 */
int engine_kek_current(struct engine_worker *, const char *, uint32_t *,
    struct cf_error *) CF_MUSTCHECK;
int engine_keks_check(struct engine_worker *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * engine_kek_usable(w, call, kms_key_id, err): may ${call}'s caller seal
 * under ${kms_key_id}, and is it in the token?  Nothing to ask for the
 * default KEK (NULL, "" or its label), as Secrets Manager asks nothing
 * for aws/secretsmanager; any other needs kms:GenerateDataKey on the
 * key's ARN, as a customer managed key does, so that a caller who may
 * create secrets cannot put them under another tenant's key, nor learn
 * which keys exist.  AccessDenied, EncryptionFailure (no such key) or
 * ServiceUnavailable; 0 or -1.  Call it after the secret's own check.
 */
int engine_kek_usable(struct engine_worker *, const struct engine_call *,
    const char *, struct cf_error *) CF_MUSTCHECK;

/* engine_kek_state(w, label, err): what KEK ${label} is in now. */
enum engine_kek_state {
	ENGINE_KEK_ERROR = -1,		/* ${err} set */
	ENGINE_KEK_ENABLED,
	ENGINE_KEK_PENDING_DELETION,
	ENGINE_KEK_DESTROYED
};
enum engine_kek_state engine_kek_state(struct engine_worker *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * engine_metrics_rotation(e, kind, ok) (metrics.c): one rotation run to
 * its end (${ok}) or to a failure, by a rotator of ${kind} (an enum
 * rotator_kind; -1: the rotator was not understood).
 */
void engine_metrics_rotation(struct engine *, int, int);

/* engine_rotation_kick(e): wake this process's scheduler, if running. */
void engine_rotation_kick(struct engine *);

/*
 * engine_audit_keys_seal(hs, st, err) (ops_audit.c): make every audit
 * key version left extractable (a rotation that died between generating
 * and sealing it) non-extractable, with a warning, which says when the
 * version has no escrow.  The caller holds the "coffer.audit_key" lock in
 * an open transaction of ${st}.  0, or -1 with ${err}.
 */
int engine_audit_keys_seal(struct hsm_session *, struct store *,
    struct cf_error *) CF_MUSTCHECK;

#endif /* !COFFER_ENGINE_INTERNAL_H */
