/*
 * hsm.h: the PKCS#11 token, seen from the rest of Coffer.
 *
 * Every secret version is sealed under its own data key (DEK), generated in
 * the token, used there for AES-256-GCM and wrapped there under a key
 * encryption key (KEK, AES-256, never extractable).  Plaintext keys never
 * leave the token.  The envelope format and its AAD are specified in
 * hsm/DESIGN.md.
 *
 * One struct hsm per process (module loaded through p11-kit, one login);
 * one struct hsm_session per worker thread.  A session is used by one thread
 * at a time; the struct hsm may be shared by all threads.
 */
#ifndef COFFER_HSM_H
#define COFFER_HSM_H

#include <stddef.h>
#include <stdint.h>

#include "cf.h"

struct hsm;
struct hsm_session;

#define HSM_IV_LEN 12
#define HSM_TAG_LEN 16
#define HSM_LABEL_MAX 64
#define HSM_FORMAT_V1 1
#define HSM_MAC_LEN 32			/* HMAC-SHA256 */
#define HSM_CHAIN_ID_LEN 36		/* a UUID in text form */
#define HSM_AUDIT_KEY_LABEL "coffer-audit"

struct hsm_config {
	const char *module_path;	/* PKCS#11 module, e.g. libsofthsm2.so */
	const char *token_label;	/* token to use, found by label */
	const char *pin;		/* user PIN (NUL-terminated, secret) */
	const char *kek_label;		/* default KEK label, e.g. "coffer-kek" */
	int no_dek_cache;		/* 1: unwrap a data key on every open */
	const char *audit_key_recipients; /* PEM file of auditors' RSA public
					   keys (hsm_escrow.c); NULL: none */
};

/*
 * What a function that makes a long-lived key did (hsm_create_kek,
 * hsm_create_audit_key).  Callers compare against the names.
 */
enum hsm_made {
	HSM_MADE_ERROR = -1,		/* ${err} set */
	HSM_EXISTED = 0,		/* one with that label was there */
	HSM_CREATED = 1
};

/* Whether the token holds a key (hsm_kek_exists). */
enum hsm_lookup {
	HSM_LOOKUP_ERROR = -1,		/* the token did not answer */
	HSM_NOT_FOUND = 0,
	HSM_FOUND = 1
};

/* What checking an audit HMAC found (hsm_audit_mac_verify). */
enum hsm_mac_check {
	HSM_MAC_ERROR = -1,		/* ${err} set */
	HSM_MAC_BAD = 0,		/* not the audit key's HMAC */
	HSM_MAC_OK = 1
};

/* Where a ciphertext belongs: bound into the AAD so it cannot be moved. */
struct hsm_binding {
	const char *secret_uuid;	/* canonical text form */
	const char *version_id;
};

/* A sealed value: everything needed to open it, nothing secret. */
struct hsm_envelope {
	uint32_t format;			/* HSM_FORMAT_V1 */
	char kek_label[HSM_LABEL_MAX + 1];
	uint32_t kek_version;			/* the KEK's version; 0 is 1 */
	uint8_t iv[HSM_IV_LEN];
	uint8_t *wrapped_dek;			/* malloc'd */
	size_t wrapped_dek_len;
	uint8_t *ciphertext;			/* malloc'd; GCM tag appended */
	size_t ciphertext_len;
};

/*
 * hsm_new(cfg, err):
 * Load the module through p11-kit, find the token by label, log in as user
 * and check that the default KEK exists.  Returns the handle, or NULL with
 * ${err} set to a message a person can act on (module missing, token not
 * found, wrong PIN, KEK missing: "run cofferd init-token").  The PIN is not
 * kept after login.
 */
struct hsm *hsm_new(const struct hsm_config *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * hsm_free(h): close the login session, finalize and unload the module.
 * It does not call C_Logout: login state belongs to the whole process and
 * another struct hsm may still use it; the token logs the process out when
 * its last session closes.  hsm_free(NULL) does nothing.
 */
void hsm_free(struct hsm *);

/*
 * hsm_create_kek(cfg, label, err):
 * Load the module, log in, and create the AES-256 KEK ${label} (token object,
 * private, sensitive, not extractable, wrap/unwrap only) unless one with that
 * label exists.  Returns HSM_CREATED, HSM_EXISTED, or HSM_MADE_ERROR with
 * ${err} set.
 */
enum hsm_made hsm_create_kek(const struct hsm_config *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * hsm_session_new(h, err):
 * Open a read/write session for one worker.  NULL on error.
 */
struct hsm_session *hsm_session_new(struct hsm *, struct cf_error *)
    CF_MUSTCHECK;

/* hsm_session_free(s): close the session.  NULL does nothing. */
void hsm_session_free(struct hsm_session *);

/*
 * hsm_kek_exists(s, label):
 * HSM_FOUND if a KEK with ${label} exists in the token, HSM_NOT_FOUND if
 * not, HSM_LOOKUP_ERROR on token error.
 */
enum hsm_lookup hsm_kek_exists(struct hsm_session *, const char *)
    CF_MUSTCHECK;

/*
 * hsm_seal(s, kek_label, bind, pt, pt_len, out, err):
 * Seal ${pt_len} bytes at ${pt} under a fresh DEK wrapped by the KEK
 * ${kek_label} (NULL: the default KEK), binding the result to ${bind}.
 * On success ${out} is filled (free with hsm_envelope_cleanup).  Returns 0,
 * or -1 with ${err} set (CF_ERR_RESOURCE_NOT_FOUND for an unknown KEK,
 * CF_ERR_ENCRYPTION_FAILURE or CF_ERR_UNAVAILABLE otherwise).
 */
int hsm_seal(struct hsm_session *, const char *, const struct hsm_binding *,
    const uint8_t *, size_t, struct hsm_envelope *, struct cf_error *)
    CF_MUSTCHECK;

/*
 * hsm_seal_v(s, kek_label, kek_version, bind, pt, pt_len, out, err):
 * hsm_seal under version ${kek_version} of the KEK (hsm_seal: version 1).
 */
int hsm_seal_v(struct hsm_session *, const char *, uint32_t,
    const struct hsm_binding *, const uint8_t *, size_t,
    struct hsm_envelope *, struct cf_error *) CF_MUSTCHECK;

/*
 * KEK versions (hsm/DESIGN.md, "KEK versions").  Version 1 of KEK L is the
 * token key labelled L with an empty CKA_ID (what init-token and every
 * Coffer before versions made); version N > 1 has CKA_ID "N" (decimal).
 * Every version is made like the first: token object, private, sensitive,
 * never extractable, wrap and unwrap only.
 *
 * hsm_kek_version_create(s, label, version, err): make version ${version}
 *	of KEK ${label} unless it exists (HSM_CREATED, HSM_EXISTED, or
 *	HSM_MADE_ERROR with ${err}).
 * hsm_kek_version_exists(s, label, version): HSM_FOUND, HSM_NOT_FOUND or
 *	HSM_LOOKUP_ERROR.
 * hsm_kek_version_destroy(s, label, version, err): destroy it in the
 *	token, and forget every copy this process holds (hsm_forget_keys).
 *	0 (also when it was not there), or -1 with ${err}.
 * hsm_forget_keys(h): drop every session copy of every KEK and every
 *	cached data key of this process, so that a KEK destroyed in the token
 *	(by this process or another) is used no more: its session copies and
 *	the data keys it unwrapped would otherwise outlive it.
 */
enum hsm_made hsm_kek_version_create(struct hsm_session *, const char *,
    uint32_t, struct cf_error *) CF_MUSTCHECK;
enum hsm_lookup hsm_kek_version_exists(struct hsm_session *, const char *,
    uint32_t) CF_MUSTCHECK;
int hsm_kek_version_destroy(struct hsm_session *, const char *, uint32_t,
    struct cf_error *) CF_MUSTCHECK;
void hsm_forget_keys(struct hsm *);

/*
 * hsm_rewrap(s, env, to_version, err):
 * Move ${env}'s data key from its KEK version to version ${to_version} of
 * the same KEK, inside the token: C_UnwrapKey under the old version into a
 * sensitive session object, C_WrapKey under the new one, the object
 * destroyed.  The data key is never outside the token and the ciphertext
 * is not touched (the AAD binds the KEK's label, not its version).  On
 * success ${env}'s wrapped_dek and kek_version are the new ones.  0, or -1
 * with ${err} (DecryptionFailure: the old wrapping does not open;
 * ResourceNotFound: a version is not in the token).
 */
int hsm_rewrap(struct hsm_session *, struct hsm_envelope *, uint32_t,
    struct cf_error *) CF_MUSTCHECK;

/*
 * hsm_dek_cache_stats(s, hits, misses): how often hsm_open found the data
 * key already unwrapped in the token (the session's DEK handle cache,
 * hsm/DESIGN.md) and how often it unwrapped one.
 */
void hsm_dek_cache_stats(const struct hsm_session *, uint64_t *, uint64_t *);

/*
 * hsm_metrics(h, out): the same for every session of ${h}, and how many
 * token calls of the process failed because the token was down.
 */
struct hsm_metrics {
	uint64_t dek_hits;
	uint64_t dek_misses;
	uint64_t token_down;
};
void hsm_metrics(const struct hsm *, struct hsm_metrics *);

/*
 * hsm_open(s, env, bind, out, err):
 * Unwrap ${env}'s DEK inside the token and decrypt its ciphertext, checking
 * the tag against the AAD built from ${env} and ${bind}.  On success *out is
 * the plaintext in secret memory (free with cf_secret_free).  Returns 0, or
 * -1 with ${err} set: CF_ERR_DECRYPTION_FAILURE when anything fails to
 * verify, CF_ERR_UNAVAILABLE when the token is gone.
 */
int hsm_open(struct hsm_session *, const struct hsm_envelope *,
    const struct hsm_binding *, struct cf_secret **, struct cf_error *)
    CF_MUSTCHECK;

/* hsm_envelope_cleanup(env): free an envelope's buffers and zero it. */
void hsm_envelope_cleanup(struct hsm_envelope *);

/*
 * hsm_session_reopen(s, err):
 * Close ${s}'s token session and open a new one, for after the token
 * failed (its objects and handles may be gone).  What the session kept in
 * the token (KEK and audit key copies, cached data keys, the audit head's
 * handle) is forgotten and made again on next use.  Returns 0, or -1 with
 * ${err} set; ${s} stays usable for another try.
 */
int hsm_session_reopen(struct hsm_session *, struct cf_error *) CF_MUSTCHECK;

/*
 * hsm_random(s, buf, len, err):
 * Fill ${buf} with ${len} bytes from C_GenerateRandom.  Returns 0 or -1.
 */
int hsm_random(struct hsm_session *, uint8_t *, size_t, struct cf_error *)
    CF_MUSTCHECK;

/* ---- the audit trail's key and chain heads (hsm_audit.c) -------------- */

/*
 * hsm_create_audit_key(cfg, err):
 * Create the audit key HSM_AUDIT_KEY_LABEL (a 256-bit generic secret, token
 * object, private, sensitive, not extractable, sign/verify only) unless it
 * exists.  Returns HSM_CREATED, HSM_EXISTED, or HSM_MADE_ERROR with ${err}
 * set.
 */
enum hsm_made hsm_create_audit_key(const struct hsm_config *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * The audit key has versions (audit/DESIGN.md, "Audit key versions"):
 * version 1 is the key init-token made, version N > 1 the one
 * rotate-audit-key made N-th, the same label with the CKA_ID "N"; none is
 * ever destroyed, so that every event stays verifiable.
 *
 * hsm_audit_mac(s, version, msg, len, out, err):
 * HMAC-SHA256 of ${len} bytes at ${msg} under version ${version} of the
 * audit key (0 is 1), made in the token, into ${out} (HSM_MAC_LEN bytes).
 * Returns 0, or -1 with ${err} (CF_ERR_UNAVAILABLE when the key is missing
 * or the token is down).
 * hsm_audit_mac_verify(s, version, msg, len, mac, err):
 * HSM_MAC_OK if ${mac} is that version's HMAC of ${msg}, HSM_MAC_BAD if
 * not (or the token has no such version), HSM_MAC_ERROR with ${err} set.
 * hsm_audit_key_newest(s, out, err): the highest version in the token.
 * hsm_audit_key_version_create(s, version, out, out_n, err): make version
 * ${version} (>= 2) unless it exists: HSM_CREATED, HSM_EXISTED or
 * HSM_MADE_ERROR.  With audit_key_recipients (hsm_config), the new version
 * is escrowed before it is sealed (hsm_escrow.c): *${out} gets one wrapped
 * copy per recipient (*${out_n} of them; free with hsm_escrows_free), and
 * the version is non-extractable when this returns, whatever it returns.
 * Without recipients *${out} is NULL and the version is made
 * non-extractable from the start.
 */
int hsm_audit_mac(struct hsm_session *, uint32_t, const uint8_t *, size_t,
    uint8_t *, struct cf_error *) CF_MUSTCHECK;
enum hsm_mac_check hsm_audit_mac_verify(struct hsm_session *, uint32_t,
    const uint8_t *, size_t, const uint8_t *, struct cf_error *)
    CF_MUSTCHECK;
int hsm_audit_key_newest(struct hsm_session *, uint32_t *,
    struct cf_error *) CF_MUSTCHECK;
struct hsm_escrow;
enum hsm_made hsm_audit_key_version_create(struct hsm_session *, uint32_t,
    struct hsm_escrow **, size_t *, struct cf_error *) CF_MUSTCHECK;

/* ---- the auditors' escrow of audit key versions (hsm_escrow.c) -------- */

#define HSM_RECIPIENT_ID_MAX 71		/* "sha256:" and 64 hex digits */
/* RSA-OAEP's hash and MGF1's, as the bundle names them (Mechanism). */
#define HSM_ESCROW_OAEP_SHA256 "RSA-OAEP-SHA256"
#define HSM_ESCROW_OAEP_SHA1 "RSA-OAEP-SHA1"

/*
 * One version of the audit key wrapped for one auditor: the recipient
 * ("sha256:" and the hex SHA-256 of its DER SubjectPublicKeyInfo), the
 * mechanism (HSM_ESCROW_OAEP_*) and the wrapped key (malloc'd; it is
 * encrypted to the auditor, not secret to anyone else).
 */
struct hsm_escrow {
	char recipient[HSM_RECIPIENT_ID_MAX + 1];
	const char *mechanism;
	uint8_t *wrapped;
	size_t wrapped_len;
};

/* hsm_escrows_free(e, n): free an array of ${n} escrows; NULL is a no-op. */
void hsm_escrows_free(struct hsm_escrow *, size_t);

/*
 * hsm_audit_keys_seal(s, out, max, out_n, err):
 * Make every version of the audit key that is still extractable (a crash
 * between hsm_audit_key_version_create's generate and seal) non-extractable,
 * and list their versions in ${out} (at most ${max}, *${out_n} of them).
 * 0, or -1 with ${err} set.
 */
int hsm_audit_keys_seal(struct hsm_session *, uint32_t *, size_t, size_t *,
    struct cf_error *) CF_MUSTCHECK;

/* hsm_escrow_recipients(h): how many auditors new versions are wrapped for. */
size_t hsm_escrow_recipients(const struct hsm *);

/*
 * A chain's head as the token remembers it: the last sequence number the
 * writer committed and that event's hash.  An attacker who owns the
 * database but not the token cannot move it back, so a truncated tail
 * shows.
 */
struct hsm_audit_head {
	char chain_id[HSM_CHAIN_ID_LEN + 1];
	int64_t seq;
	uint8_t hash[32];
};

/*
 * hsm_audit_head_put(s, deployment, head, err):
 * Record ${head} in the private token data object of its chain of the
 * deployment ${deployment} (one database; a token may serve several),
 * creating the object on first use.  A chain has one object, always: when
 * the session's handle fails (the token went away and came back), the
 * object is looked up again rather than made anew, and any other object
 * of the chain (a superseded head) is destroyed.  Returns 0 or -1; after
 * -1 the next call looks the object up again.
 */
#define HSM_DEPLOYMENT_MAX 64
int hsm_audit_head_put(struct hsm_session *, const char *,
    const struct hsm_audit_head *, struct cf_error *) CF_MUSTCHECK;

/*
 * hsm_audit_heads(s, deployment, out, n, err):
 * Every chain head of ${deployment} in the token, one per chain (of two
 * objects of one chain, the newer), in *out (malloc'd; the caller frees
 * it) and *n.  Returns 0 or -1.
 */
int hsm_audit_heads(struct hsm_session *, const char *,
    struct hsm_audit_head **, size_t *, struct cf_error *) CF_MUSTCHECK;

/*
 * hsm_audit_heads_tidy(s, deployment, out_destroyed, err):
 * Destroy every superseded head object of ${deployment}: where a chain has
 * two (a fork left by an older cofferd, or by a token that hid an object
 * while the keeper remade it), the one with the lower seq.  Returns 0 with
 * how many went in *${out_destroyed}, or -1 with ${err} set.
 */
int hsm_audit_heads_tidy(struct hsm_session *, const char *, int *,
    struct cf_error *) CF_MUSTCHECK;

#endif /* !COFFER_HSM_H */
