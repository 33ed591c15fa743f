/*
 * hsm_internal.h: what hsm.c (the envelope) and hsm_audit.c (the audit
 * key and chain heads) share.  Private to hsm/.
 */
#ifndef COFFER_HSM_INTERNAL_H
#define COFFER_HSM_INTERNAL_H

#include <p11-kit/pkcs11.h>

#include "hsm.h"

#define MAX_KEKS 16
#define WRAPPED_MAX 64			/* a wrapped 32-byte key is 40 */
#define AAD_MAGIC "coffer-envelope"

struct hsm {
	CK_FUNCTION_LIST *p11;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE login;	/* keeps the user logged in */
	char token[33];
	char kek_label[HSM_LABEL_MAX + 1];
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
	char head_chain[HSM_CHAIN_ID_LEN + 1];
};

/* hsm_fail(err, code, rv, what): set ${err} for a failed call; -1. */
int hsm_fail(struct cf_error *, enum cf_code, CK_RV, const char *);

/* hsm_find_key(p11, s, label, out, err): a secret key by label; 1, 0, -1. */
int hsm_find_key(CK_FUNCTION_LIST *, CK_SESSION_HANDLE, const char *,
    CK_OBJECT_HANDLE *, struct cf_error *);

/* hsm_open_token(cfg, err): load, find the token, log in; NULL on error. */
struct hsm *hsm_open_token(const struct hsm_config *, struct cf_error *);

#endif /* !COFFER_HSM_INTERNAL_H */
