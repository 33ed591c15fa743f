/*
 * engine_internal.h: what the engine's files share, and the pure functions
 * the unit tests call directly.
 */
#ifndef COFFER_ENGINE_INTERNAL_H
#define COFFER_ENGINE_INTERNAL_H

#include "engine.h"
#include "hsm.h"
#include "store.h"

#define ENGINE_MAX_VALUE 65536		/* bytes, SecretString and SecretBinary */
#define ENGINE_MAX_NAME 512
#define ENGINE_MAX_SECRET_ID 2048
#define ENGINE_MAX_DESCRIPTION 2048
#define ENGINE_MAX_LABELS 20
#define ENGINE_MAX_TAGS 50
#define ENGINE_DEFAULT_PAGE 100

#define STAGE_CURRENT "AWSCURRENT"
#define STAGE_PREVIOUS "AWSPREVIOUS"

#define MSG_NOT_FOUND "Secrets Manager can't find the specified secret."
#define MSG_DELETED "You can't perform this operation on the secret " \
	"because it was marked for deletion."

struct engine {
	char *conninfo;
	struct hsm *hsm;
	char arn_prefix[256];		/* arn:aws:secretsmanager:R:A:secret: */
};

struct engine_worker {
	struct engine *e;
	struct store *store;
	struct hsm_session *hsm;
};

/* ---- validate.c (pure) ---------------------------------------------------- */

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

/*
 * engine_next_token_encode / decode: the opaque ListSecrets cursor.
 * decode returns 0, or -1 with InvalidNextTokenException.
 */
char *engine_next_token_encode(struct cf_arena *, int, int64_t, const char *);
int engine_next_token_decode(const char *, int *, int64_t *, char *,
    struct cf_error *);

/* ---- engine.c ---------------------------------------------------------------- */

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

/* Seal a value for a version; open one (plaintext goes to the arena). */
int engine_seal(struct engine_worker *, const char *, const char *,
    const char *, const struct engine_value *, struct store_version *,
    struct cf_arena *, struct cf_error *);
int engine_open(struct engine_worker *, const struct engine_call *,
    const char *, const struct store_version *, struct engine_value *,
    struct cf_error *);

/*
 * engine_same_value(w, call, uuid, version, value, err):
 * 1 if ${version} holds exactly ${value} (same type and bytes, compared in
 * constant time), 0 if not, -1 on error.
 */
int engine_same_value(struct engine_worker *, const struct engine_call *,
    const char *, const struct store_version *, const struct engine_value *,
    struct cf_error *);

#endif /* !COFFER_ENGINE_INTERNAL_H */
