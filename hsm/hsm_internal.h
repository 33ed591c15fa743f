/*
 * hsm_internal.h: what hsm.c (the envelope), hsm_audit.c (the audit
 * key and chain heads) and hsm_key.c (the long-lived keys) share.
 * Private to hsm/.
 */
#ifndef COFFER_HSM_INTERNAL_H
#define COFFER_HSM_INTERNAL_H

#include <p11-kit/pkcs11.h>

#include "hsm.h"

#define MAX_KEKS 16
#define WRAPPED_MAX 64			/* a wrapped 32-byte key is 40 */
#define AAD_MAGIC "coffer-envelope"
#define DEK_CACHE_WAYS 8		/* entries per set, least recent goes */
#define DEK_CACHE_SETS 256
#define DEK_CACHE_SLOTS (DEK_CACHE_WAYS * DEK_CACHE_SETS)	/* per session */
#define DEK_CACHE_TTL_MS (300 * 1000)	/* how long one stays in the token */
#define HEAD_RECHECK_MS (60 * 1000)	/* after remaking a head object... */
#define HEAD_RECHECK_EVERY_MS 500	/* ...look for the old one this often */

/*
 * An unwrapped data key kept inside the token (a sensitive, non-extractable
 * session object: only its handle is here), found by its wrapped form.
 */
struct hsm_dek {
	uint8_t wrapped[WRAPPED_MAX];
	size_t wrapped_len;		/* 0: empty slot */
	char kek[HSM_LABEL_MAX + 1];
	CK_OBJECT_HANDLE obj;
	int64_t at_ms;			/* when it was unwrapped */
	uint64_t used;			/* the session's use count at last use */
};

struct hsm {
	CK_FUNCTION_LIST *p11;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE login;	/* keeps the user logged in */
	char token[33];
	char kek_label[HSM_LABEL_MAX + 1];
	int no_dek_cache;		/* hsm_config.no_dek_cache */
};

struct hsm_kek {
	char label[HSM_LABEL_MAX + 1];
	CK_OBJECT_HANDLE obj;		/* session copy */
};

struct hsm_session {
	struct hsm *h;
	CK_SESSION_HANDLE s;
	struct hsm_kek keks[MAX_KEKS];
	size_t n_keks;
	CK_OBJECT_HANDLE audit_key;	/* session copy; 0 until first use */
	CK_OBJECT_HANDLE head;		/* token object of head_chain, or 0 */
	int64_t head_recheck_until;	/* cf_mono_ms: look for other objects */
	int64_t head_checked_at;	/* ...of the chain till then; last look */
	char head_chain[HSM_CHAIN_ID_LEN + 1];
	struct hsm_dek *deks;		/* DEK_CACHE_SLOTS, or NULL: no cache */
	uint64_t dek_hits, dek_misses, dek_uses;
};

/* hsm_fail(err, code, rv, what): set ${err} for a failed call; -1. */
int hsm_fail(struct cf_error *, enum cf_code, CK_RV, const char *);

/*
 * hsm_find_key(p11, s, label, out, err): a secret key by label: HSM_FOUND
 * (*${out} its handle), HSM_NOT_FOUND, or HSM_LOOKUP_ERROR with ${err}.
 */
enum hsm_lookup hsm_find_key(CK_FUNCTION_LIST *, CK_SESSION_HANDLE,
    const char *, CK_OBJECT_HANDLE *, struct cf_error *);

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

/*
 * hsm_key_session_copy(s, use, obj, out, err):
 * A session object copied from the token key ${obj} (of ${use}) into *out.
 * Returns CF_OK, or the code also set in ${err}.
 */
enum cf_code hsm_key_session_copy(struct hsm_session *, enum hsm_key_use,
    CK_OBJECT_HANDLE, CK_OBJECT_HANDLE *, struct cf_error *) CF_MUSTCHECK;

#endif /* !COFFER_HSM_INTERNAL_H */
