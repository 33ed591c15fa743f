/*
 * hsm_kek.c: KEK versions (hsm.h, "KEK versions"; hsm/DESIGN.md).
 *
 * A KEK is a family of token keys sharing a label; version 1 has an empty
 * CKA_ID (what init-token always made), version N > 1 the CKA_ID "N".  A
 * session uses a KEK version through a session copy made on first use.
 *
 * Destroying a version in the token is not enough to stop its use: the
 * session copies this process made, and the data keys it unwrapped (the
 * process-wide cache, hsm_dek.c), are session objects that outlive the
 * token object.  So hsm_forget_keys() bumps the process's key epoch: every
 * session drops its copies before its next KEK use, and the data-key cache
 * is flushed.  Another cofferd learns of a destruction from the database
 * (engine/) and calls hsm_forget_keys() itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hsm_internal.h"

enum hsm_lookup
hsm_find_key_version(CK_FUNCTION_LIST *p11, CK_SESSION_HANDLE s, const char *label,
    uint32_t version, CK_OBJECT_HANDLE *out, struct cf_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	char id[16] = "";
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
		{ CKA_ID, id, 0 },
	};

	if (version > 1)
		t[2].ulValueLen = (CK_ULONG)snprintf(id, sizeof(id), "%u",
		    version);
	return (hsm_find_object(p11, s, t, 3, out, err));
}

static int
label_ok(const char *label)
{

	return (strlen(label) > 0 && strlen(label) <= HSM_LABEL_MAX);
}

void
hsm_keks_drop(struct hsm_session *s)
{
	size_t i;

	for (i = 0; i < s->n_keks; i++)
		(void)s->h->p11->C_DestroyObject(s->s, s->keks[i].obj);
	s->n_keks = 0;
}

int
hsm_kek(struct hsm_session *s, const char *label, uint32_t version,
    CK_OBJECT_HANDLE *out, struct cf_error *err)
{
	CK_OBJECT_HANDLE obj, copy;
	enum hsm_lookup rc;
	unsigned epoch = atomic_load(&s->h->key_epoch);
	size_t i;

	if (version == 0)
		version = 1;
	/* Keys forgotten since this session copied them: copy anew. */
	if (s->key_epoch != epoch) {
		hsm_keks_drop(s);
		s->key_epoch = epoch;
	}
	for (i = 0; i < s->n_keks; i++)
		if (s->keks[i].version == version &&
		    strcmp(s->keks[i].label, label) == 0) {
			*out = s->keks[i].obj;
			return (0);
		}
	if (!label_ok(label)) {
		cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND,
		    "KEK \"%.64s\" not found in the token", label);
		return (-1);
	}
	if ((rc = hsm_find_key_version(s->h->p11, s->s, label, version, &obj, err)) !=
	    HSM_FOUND) {
		if (rc == HSM_NOT_FOUND)
			cf_error_set(err, CF_ERR_RESOURCE_NOT_FOUND,
			    "KEK \"%s\" version %u not found in the token",
			    label, version);
		return (-1);
	}

	/* A session copy is read from memory, not from the token's disk. */
	if (hsm_key_session_copy(s, HSM_KEY_KEK, obj, &copy, err) != CF_OK)
		return (-1);
	if (s->n_keks < MAX_KEKS) {
		snprintf(s->keks[s->n_keks].label, HSM_LABEL_MAX + 1, "%s",
		    label);
		s->keks[s->n_keks].version = version;
		s->keks[s->n_keks++].obj = copy;
	} else {
		/* Too many KEKs to cache: use the token object itself. */
		(void)s->h->p11->C_DestroyObject(s->s, copy);
		copy = obj;
	}
	*out = copy;
	return (0);
}

enum hsm_lookup
hsm_kek_version_exists(struct hsm_session *s, const char *label,
    uint32_t version)
{
	CK_OBJECT_HANDLE obj;
	struct cf_error err;

	if (!label_ok(label))
		return (HSM_NOT_FOUND);
	return (hsm_find_key_version(s->h->p11, s->s, label, version, &obj, &err));
}

enum hsm_made
hsm_kek_version_create(struct hsm_session *s, const char *label,
    uint32_t version, struct cf_error *err)
{
	CK_OBJECT_HANDLE obj;
	enum hsm_lookup rc;

	if (!label_ok(label) || version == 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "a KEK label has 1 "
		    "to %d characters and a version from 1", HSM_LABEL_MAX);
		return (HSM_MADE_ERROR);
	}
	if ((rc = hsm_find_key_version(s->h->p11, s->s, label, version, &obj,
	    err)) == HSM_FOUND)
		return (HSM_EXISTED);
	if (rc == HSM_LOOKUP_ERROR)
		return (HSM_MADE_ERROR);
	if (hsm_key_generate(s->h->p11, s->s, HSM_KEY_KEK, HSM_KEY_SEALED,
	    label, version,
	    &obj, err) != CF_OK)
		return (HSM_MADE_ERROR);
	return (HSM_CREATED);
}

void
hsm_forget_keys(struct hsm *h)
{

	atomic_fetch_add(&h->key_epoch, 1);
}

int
hsm_kek_version_destroy(struct hsm_session *s, const char *label,
    uint32_t version, struct cf_error *err)
{
	CK_OBJECT_HANDLE obj;
	enum hsm_lookup rc;
	CK_RV rv;

	if (!label_ok(label))
		return (0);
	/* Every copy of this process first, then the token's own. */
	hsm_forget_keys(s->h);
	hsm_keks_drop(s);
	s->key_epoch = atomic_load(&s->h->key_epoch);
	hsm_dek_flush(s);
	while ((rc = hsm_find_key_version(s->h->p11, s->s, label, version, &obj,
	    err)) == HSM_FOUND)
		if ((rv = s->h->p11->C_DestroyObject(s->s, obj)) != CKR_OK)
			return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
			    "could not destroy the KEK"));
	return (rc == HSM_NOT_FOUND ? 0 : -1);
}

int
hsm_rewrap(struct hsm_session *s, struct hsm_envelope *env,
    uint32_t to_version, struct cf_error *err)
{
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	/*
	 * Sensitive (its value never leaves the token), and extractable only
	 * because PKCS#11 wraps nothing else; it can neither encrypt nor
	 * decrypt, and is destroyed below on every path.
	 */
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
	};
	CK_OBJECT_HANDLE from, to, dek = CK_INVALID_HANDLE;
	uint8_t out[WRAPPED_MAX];
	CK_ULONG n = sizeof(out);
	CK_RV rv;

	if (hsm_kek(s, env->kek_label, env->kek_version, &from, err) ||
	    hsm_kek(s, env->kek_label, to_version, &to, err))
		return (-1);
	if ((rv = p11->C_UnwrapKey(s->s, &wrap, from, env->wrapped_dek,
	    env->wrapped_dek_len, t, sizeof(t) / sizeof(t[0]), &dek)) !=
	    CKR_OK)
		return (hsm_fail(err, CF_ERR_DECRYPTION_FAILURE, rv,
		    "could not rewrap the data key: it did not unwrap"));
	rv = p11->C_WrapKey(s->s, &wrap, to, dek, out, &n);
	(void)p11->C_DestroyObject(s->s, dek);
	if (rv != CKR_OK)
		return (hsm_fail(err, CF_ERR_ENCRYPTION_FAILURE, rv,
		    "could not rewrap the data key"));
	/* The same key under the same mechanism: the same length (40). */
	if (n != env->wrapped_dek_len) {
		cf_error_set(err, CF_ERR_ENCRYPTION_FAILURE, "could not rewrap "
		    "the data key: %lu bytes, not %zu", (unsigned long)n,
		    env->wrapped_dek_len);
		return (-1);
	}
	memcpy(env->wrapped_dek, out, n);
	env->wrapped_dek_len = n;
	env->kek_version = to_version;
	explicit_bzero(out, sizeof(out));
	return (0);
}
