/*
 * hsm_internal.h: what hsm.c (the envelope), hsm_audit.c (the audit
 * key and chain heads) and hsm_key.c (the long-lived keys) share.
 * Private to hsm/.
 */
#ifndef COFFER_HSM_INTERNAL_H
#define COFFER_HSM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <p11-kit/pkcs11.h>

#include "hsm.h"

#define MAX_KEKS 16
#define WRAPPED_MAX 64			/* a wrapped 32-byte key is 40 */
#define AAD_MAGIC "coffer-envelope"
/*
 * The DEK cache: a key may live in either of two sets (two-choice hashing),
 * so a working set well under DEK_CACHE_SLOTS is held whole (hsm_dek.c).
 */
#define DEK_CACHE_WAYS 32		/* entries per set, least recent goes */
#define DEK_CACHE_SETS 64
#define DEK_CACHE_SLOTS (DEK_CACHE_WAYS * DEK_CACHE_SETS)	/* per process */
#define DEK_CACHE_TTL_MS (300 * 1000)	/* how long one stays in the token */
#define DEK_DOOMED_MAX 64		/* evicted by others, not yet destroyed */
#define HEAD_RECHECK_MS (60 * 1000)	/* after remaking a head object... */
#define HEAD_RECHECK_EVERY_MS 500	/* ...look for the old one this often */

struct hsm_dek_cache;
struct hsm_recipients;
struct hsm_dek;
struct hsm_dek_set;

struct hsm {
	CK_FUNCTION_LIST *p11;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE login;	/* keeps the user logged in */
	char token[33];
	char kek_label[HSM_LABEL_MAX + 1];
	struct hsm_recipients *recipients; /* NULL: versions are not escrowed */
	struct hsm_dek_cache *deks;	/* NULL: hsm_config.no_dek_cache */
	atomic_uint key_epoch;		/* bumped by hsm_forget_keys */
	atomic_uint_fast64_t dek_hits;	/* every session's, for /metrics */
	atomic_uint_fast64_t dek_misses;
};

struct hsm_kek {
	char label[HSM_LABEL_MAX + 1];
	uint32_t version;
	CK_OBJECT_HANDLE obj;		/* session copy */
};

/* A session copy of one version of the audit key (hsm_audit.c). */
struct hsm_audit_key {
	uint32_t version;
	CK_OBJECT_HANDLE obj;
};
#define MAX_AUDIT_KEYS 4		/* versions a session keeps copies of */

struct hsm_session {
	struct hsm *h;
	CK_SESSION_HANDLE s;
	struct hsm_kek keks[MAX_KEKS];
	size_t n_keks;
	unsigned key_epoch;		/* h->key_epoch when keks[] was right */
	struct hsm_audit_key audit_keys[MAX_AUDIT_KEYS];
	size_t n_audit_keys;		/* copies made on first use */
	CK_OBJECT_HANDLE head;		/* token object of head_chain, or 0 */
	int64_t head_recheck_until;	/* cf_mono_ms: look for other objects */
	int64_t head_checked_at;	/* ...of the chain till then; last look */
	char head_chain[HSM_CHAIN_ID_LEN + 1];
	uint64_t dek_hits, dek_misses;
	/* Cached data keys of this session that others evicted (hsm_dek.c). */
	pthread_mutex_t doomed_mu;
	CK_OBJECT_HANDLE doomed[DEK_DOOMED_MAX];
	size_t n_doomed;
	atomic_int has_doomed;
};

/* hsm_fail(err, code, rv, what): set ${err} for a failed call; -1. */
int hsm_fail(struct cf_error *, enum cf_code, CK_RV, const char *);

/*
 * hsm_find_object(p11, s, template, n, out, err): the first object matching
 * the ${n} attributes: HSM_FOUND (*${out} its handle), HSM_NOT_FOUND, or
 * HSM_LOOKUP_ERROR with ${err}.
 */
enum hsm_lookup hsm_find_object(CK_FUNCTION_LIST *, CK_SESSION_HANDLE,
    CK_ATTRIBUTE *, CK_ULONG, CK_OBJECT_HANDLE *, struct cf_error *);

/*
 * hsm_find_key(p11, s, label, out, err): a secret key by label: HSM_FOUND
 * (*${out} its handle), HSM_NOT_FOUND, or HSM_LOOKUP_ERROR with ${err}.
 */
enum hsm_lookup hsm_find_key(CK_FUNCTION_LIST *, CK_SESSION_HANDLE,
    const char *, CK_OBJECT_HANDLE *, struct cf_error *);

/*
 * hsm_find_key_version(p11, s, label, version, out, err): version
 * ${version} of the key family ${label} (a KEK, or the audit key: version
 * 1 has no CKA_ID, version N the CKA_ID "N"; hsm.h, "KEK versions"), as
 * hsm_find_key.
 */
enum hsm_lookup hsm_find_key_version(CK_FUNCTION_LIST *, CK_SESSION_HANDLE,
    const char *, uint32_t, CK_OBJECT_HANDLE *, struct cf_error *);

/* hsm_open_token(cfg, err): load, find the token, log in; NULL on error. */
struct hsm *hsm_open_token(const struct hsm_config *, struct cf_error *);

/* ---- hsm_key.c: the long-lived keys ------------------------------------------ */

/* What a long-lived key of the token is for. */
enum hsm_key_use {
	HSM_KEY_KEK,		/* AES: wraps and unwraps data keys */
	HSM_KEY_AUDIT		/* generic secret: HMACs audit events */
};

/*
 * hsm_key_create(cfg, use, label, err):
 * Log in to the token of ${cfg} and create the 256-bit key ${label} for
 * ${use} (token object, private, sensitive, not extractable, no
 * encrypt/decrypt) unless a secret key with that label exists.
 */
enum hsm_made hsm_key_create(const struct hsm_config *, enum hsm_key_use,
    const char *, struct cf_error *) CF_MUSTCHECK;

/* Whether a new key may be wrapped once before it is sealed (hsm_escrow.c). */
enum hsm_key_export {
	HSM_KEY_SEALED,		/* never extractable */
	HSM_KEY_TO_ESCROW	/* extractable until hsm_escrow_and_seal */
};

/*
 * hsm_key_generate(p11, s, use, export, label, version, out, err):
 * Make that key in session ${s} (logged in, read/write) as version
 * ${version} of ${label} (1: no CKA_ID; "KEK versions" in hsm.h), sensitive
 * always, extractable only for HSM_KEY_TO_ESCROW.
 * CF_OK, or the code also set in ${err}.
 */
enum cf_code hsm_key_generate(CK_FUNCTION_LIST *, CK_SESSION_HANDLE,
    enum hsm_key_use, enum hsm_key_export, const char *, uint32_t,
    CK_OBJECT_HANDLE *, struct cf_error *) CF_MUSTCHECK;

/* ---- hsm_kek.c: KEK versions ---------------------------------------------------- */

/*
 * hsm_kek(s, label, version, out, err):
 * The session copy of version ${version} of KEK ${label}, made on first
 * use (and again after hsm_forget_keys); a KEK the token does not have
 * gives CF_ERR_RESOURCE_NOT_FOUND.  0 or -1.
 */
int hsm_kek(struct hsm_session *, const char *, uint32_t,
    CK_OBJECT_HANDLE *, struct cf_error *) CF_MUSTCHECK;

/* hsm_keks_drop(s): destroy ${s}'s KEK session copies. */
void hsm_keks_drop(struct hsm_session *);
/*
 * hsm_audit_key_version_of(s, o): which version of the audit key token
 * object ${o} is (1 for the key without a CKA_ID, init-token's; N for the
 * ID "N"); 0 if its ID is not a version or cannot be read.
 */
uint32_t hsm_audit_key_version_of(struct hsm_session *, CK_OBJECT_HANDLE);

/* hsm_audit_keys_drop(s): destroy ${s}'s audit key session copies. */
void hsm_audit_keys_drop(struct hsm_session *);

/*
 * hsm_key_session_copy(s, use, obj, out, err):
 * A session object copied from the token key ${obj} (of ${use}) into *out.
 * Returns CF_OK, or the code also set in ${err}.
 */
enum cf_code hsm_key_session_copy(struct hsm_session *, enum hsm_key_use,
    CK_OBJECT_HANDLE, CK_OBJECT_HANDLE *, struct cf_error *) CF_MUSTCHECK;

/* ---- hsm_escrow.c: the auditors' copies of audit key versions ---------------- */

/*
 * hsm_recipients_load(path, out, err): the RSA public keys (PEM
 * SubjectPublicKeyInfo, each >= 2048 bits, at most 16) in the file
 * ${path}, into *${out} (free with hsm_recipients_free).  0, or -1 with
 * ${err} naming the file and what is wrong with it.
 */
int hsm_recipients_load(const char *, struct hsm_recipients **,
    struct cf_error *) CF_MUSTCHECK;
void hsm_recipients_free(struct hsm_recipients *);
size_t hsm_recipients_count(const struct hsm_recipients *);

/*
 * hsm_escrow_and_seal(s, key, out, out_n, err):
 * Wrap the extractable audit key ${key} for each of the token's recipients
 * (*${out}, *${out_n}), then make it non-extractable and check that it is.
 * On failure the key is still made non-extractable where the token allows.
 */
int hsm_escrow_and_seal(struct hsm_session *, CK_OBJECT_HANDLE,
    struct hsm_escrow **, size_t *, struct cf_error *) CF_MUSTCHECK;

/* ---- hsm_dek.c: the process-wide cache of unwrapped data keys ----------------- */

/* A cached data key in use by one open: released with hsm_dek_release. */
struct hsm_dek_pin {
	struct hsm_dek_set *set;	/* NULL: nothing pinned */
	struct hsm_dek *slot;
	uint64_t gen;			/* the slot's generation when pinned */
	CK_OBJECT_HANDLE obj;		/* the data key in the token */
	struct hsm_session *owner;	/* the session that unwrapped it */
};

enum hsm_dek_found { HSM_DEK_MISS, HSM_DEK_HIT };
enum hsm_dek_kept { HSM_DEK_NOT_KEPT, HSM_DEK_KEPT };
enum hsm_dek_use { HSM_DEK_WORKED, HSM_DEK_FAILED };
/* Whether a pinned entry was still the one pinned when let go. */
enum hsm_dek_released { HSM_DEK_WAS_THERE, HSM_DEK_WAS_GONE };

/* The cache (empty), or NULL when out of memory; freed after every session. */
struct hsm_dek_cache *hsm_dek_cache_new(void);
void hsm_dek_cache_free(struct hsm_dek_cache *);

/*
 * hsm_dek_find(s, env, pin): HSM_DEK_HIT with ${env}'s data key pinned in
 * *${pin} (use pin->obj, then hsm_dek_release), or HSM_DEK_MISS.
 */
enum hsm_dek_found hsm_dek_find(struct hsm_session *,
    const struct hsm_envelope *, struct hsm_dek_pin *);

/*
 * hsm_dek_keep(s, env, obj, pin): keep ${obj}, just unwrapped by ${s} for
 * ${env}: HSM_DEK_KEPT (pinned in *${pin}; the cache destroys it in time),
 * or HSM_DEK_NOT_KEPT (the caller destroys it after use).
 */
enum hsm_dek_kept hsm_dek_keep(struct hsm_session *,
    const struct hsm_envelope *, CK_OBJECT_HANDLE, struct hsm_dek_pin *);

/*
 * hsm_dek_release(s, pin, use): unpin; HSM_DEK_FAILED drops the entry.
 * HSM_DEK_WAS_GONE when the entry was taken out under the pin (its owner
 * closed): a failure with its key is then explained.
 */
enum hsm_dek_released hsm_dek_release(struct hsm_session *,
    struct hsm_dek_pin *, enum hsm_dek_use);

/* hsm_dek_reap(s): destroy ${s}'s cached keys that other sessions evicted. */
void hsm_dek_reap(struct hsm_session *);

/* hsm_dek_forget(s): take ${s}'s entries out, before its session closes. */
void hsm_dek_forget(struct hsm_session *);

/*
 * hsm_dek_flush(s): take every cached data key out of the cache, destroying
 * those not in use (one in use is dropped when let go).
 */
void hsm_dek_flush(struct hsm_session *);

/* hsm_dek_private_only(s): the token keeps a session's objects to itself. */
void hsm_dek_private_only(struct hsm_session *);

#endif /* !COFFER_HSM_INTERNAL_H */
