/*
 * hsm_key.c: the token's long-lived keys, made from one template.
 *
 * A KEK (hsm.c) and the audit key (hsm_audit.c) are both 256-bit token
 * objects, private, sensitive and never extractable (but for an audit key
 * version escrowed for auditors, extractable from its generation until
 * hsm_escrow.c has wrapped it), that may neither
 * encrypt nor decrypt; they differ only in what they may do instead: a KEK
 * wraps and unwraps data keys, the audit key signs and verifies (HMAC) and
 * may not wrap.  Both are used through a session copy, read from memory
 * rather than from the token's disk.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hsm_internal.h"

/* What hsm_fail says the key is, by use. */
static const char *
key_name(enum hsm_key_use use)
{

	return (use == HSM_KEY_KEK ? "KEK" : "audit key");
}

enum cf_code
hsm_key_generate(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE session,
    enum hsm_key_use use, enum hsm_key_export export, const char *label,
    uint32_t version, CK_OBJECT_HANDLE *out, struct cf_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = use == HSM_KEY_KEK ? CKK_AES : CKK_GENERIC_SECRET;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM mech = { use == HSM_KEY_KEK ? CKM_AES_KEY_GEN :
	    CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	char id[16];
	CK_ATTRIBUTE t[15] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, export == HSM_KEY_TO_ESCROW ? &yes : &no,
		    sizeof(no) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_ULONG n = 10;
	char what[64];
	CK_RV rv;

	/* What the key may do: wrap data keys, or MAC audit events. */
	if (use == HSM_KEY_KEK) {
		t[n++] = (CK_ATTRIBUTE){ CKA_WRAP, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_UNWRAP, &yes, sizeof(yes) };
	} else {
		t[n++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
		t[n++] = (CK_ATTRIBUTE){ CKA_WRAP, &no, sizeof(no) };
		t[n++] = (CK_ATTRIBUTE){ CKA_UNWRAP, &no, sizeof(no) };
	}
	/* A later version is told apart by its CKA_ID (hsm.h). */
	if (version > 1) {
		snprintf(id, sizeof(id), "%u", version);
		t[n++] = (CK_ATTRIBUTE){ CKA_ID, id, strlen(id) };
	}
	if ((rv = p11->C_GenerateKey(session, &mech, t, n, out)) != CKR_OK) {
		snprintf(what, sizeof(what), "could not create the %s",
		    key_name(use));
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv, what);
		return (err != NULL ? err->code : CF_ERR_UNAVAILABLE);
	}
	return (CF_OK);
}

enum hsm_made
hsm_key_create(const struct hsm_config *cfg, enum hsm_key_use use,
    const char *label, struct cf_error *err)
{
	CK_OBJECT_HANDLE key;
	enum hsm_lookup found;
	enum hsm_made made;
	struct hsm *h;

	/* Log in; a key of that label already there is kept. */
	if ((h = hsm_open_token(cfg, err)) == NULL)
		return (HSM_MADE_ERROR);
	made = HSM_MADE_ERROR;
	if ((found = hsm_find_key(h->p11, h->login, label, &key,
	    err)) == HSM_FOUND)
		made = HSM_EXISTED;
	else if (found == HSM_NOT_FOUND && hsm_key_generate(h->p11, h->login,
	    use, HSM_KEY_SEALED, label, 1, &key, err) == CF_OK)
		made = HSM_CREATED;
	hsm_free(h);
	return (made);
}

enum cf_code
hsm_key_session_copy(struct hsm_session *s, enum hsm_key_use use,
    CK_OBJECT_HANDLE obj, CK_OBJECT_HANDLE *out, struct cf_error *err)
{
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &no, sizeof(no) } };
	char what[64];
	CK_RV rv;

	if ((rv = s->h->p11->C_CopyObject(s->s, obj, t, 1, out)) != CKR_OK) {
		snprintf(what, sizeof(what), "could not copy the %s into the "
		    "session", key_name(use));
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv, what);
		return (err != NULL ? err->code : CF_ERR_UNAVAILABLE);
	}
	return (CF_OK);
}
