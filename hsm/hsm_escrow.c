/*
 * hsm_escrow.c: retired audit key versions for auditors (audit/DESIGN.md,
 * "The auditor's bundle").
 *
 * A PKCS#11 key made non-extractable can never leave the token, so a
 * version that auditors may verify with away from the token is escrowed
 * when it is made: generated extractable (still sensitive), wrapped at
 * once under each auditor's RSA public key (audit_key_recipients) with
 * RSA-OAEP inside the token, and then made non-extractable for the rest
 * of its life.  The wrapped blobs are useless without an auditor's
 * private key, which never comes near Coffer.  A version found still
 * extractable (a crash between the two steps) is sealed by
 * hsm_audit_keys_seal().
 *
 * The recipients' file is parsed with OpenSSL (PEM, SubjectPublicKeyInfo);
 * this is the only file of hsm/ that uses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "hsm_internal.h"

#define RECIPIENT_MIN_BITS 2048
#define RECIPIENTS_MAX 16

/* One auditor's RSA public key, as the token takes it. */
struct hsm_recipient {
	char id[HSM_RECIPIENT_ID_MAX + 1];	/* "sha256:<hex of DER SPKI>" */
	uint8_t *modulus;
	size_t modulus_len;
	uint8_t *exponent;
	size_t exponent_len;
};

struct hsm_recipients {
	struct hsm_recipient r[RECIPIENTS_MAX];
	size_t n;
};

void
hsm_recipients_free(struct hsm_recipients *rs)
{
	size_t i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->n; i++) {
		free(rs->r[i].modulus);
		free(rs->r[i].exponent);
	}
	free(rs);
}

/* ${bn} as big-endian bytes in a malloc'd buffer; -1 if out of memory. */
static int
bn_bytes(const BIGNUM *bn, uint8_t **out, size_t *out_len)
{
	int n = BN_num_bytes(bn);

	if ((*out = malloc(n > 0 ? (size_t)n : 1)) == NULL)
		return (-1);
	*out_len = (size_t)BN_bn2bin(bn, *out);
	return (0);
}

/* How many PEM blocks ${path} holds, or -1 if it cannot be read. */
static int
pem_blocks(const char *path)
{
	char line[256];
	FILE *f;
	int n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "-----BEGIN ", 11) == 0)
			n++;
	fclose(f);
	return (n);
}

/* Take ${pk} into ${r}: an RSA key of at least RECIPIENT_MIN_BITS. */
static int
recipient_of(EVP_PKEY *pk, const char *path, size_t k, struct hsm_recipient *r,
    struct cf_error *err)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	unsigned char *der = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int der_len, rc = -1;

	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "audit_key_recipients "
		    "\"%s\": key %zu is not an RSA public key", path, k);
		return (-1);
	}
	if (EVP_PKEY_get_bits(pk) < RECIPIENT_MIN_BITS) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "audit_key_recipients "
		    "\"%s\": key %zu has %d bits, fewer than %d", path, k,
		    EVP_PKEY_get_bits(pk), RECIPIENT_MIN_BITS);
		return (-1);
	}

	/* Its name: the SHA-256 of its DER SubjectPublicKeyInfo. */
	if ((der_len = i2d_PUBKEY(pk, &der)) <= 0)
		goto oom;
	SHA256(der, (size_t)der_len, md);
	memcpy(r->id, "sha256:", 7);
	cf_hex_encode(md, sizeof(md), r->id + 7);
	r->id[7 + 2 * sizeof(md)] = '\0';

	/* What the token needs of it. */
	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    bn_bytes(n, &r->modulus, &r->modulus_len) ||
	    bn_bytes(e, &r->exponent, &r->exponent_len))
		goto oom;
	rc = 0;
	goto done;
oom:
	cf_error_set(err, CF_ERR_INTERNAL, "audit_key_recipients \"%s\": "
	    "could not read key %zu", path, k);
done:
	OPENSSL_free(der);
	BN_free(n);
	BN_free(e);
	return (rc);
}

int
hsm_recipients_load(const char *path, struct hsm_recipients **out,
    struct cf_error *err)
{
	struct hsm_recipients *rs = NULL;
	EVP_PKEY *pk;
	BIO *bio = NULL;
	size_t i;
	int blocks;

	*out = NULL;
	if ((blocks = pem_blocks(path)) < 0 ||
	    (bio = BIO_new_file(path, "r")) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "could not read "
		    "audit_key_recipients \"%s\"", path);
		return (-1);
	}
	if ((rs = calloc(1, sizeof(*rs))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto fail;
	}

	/* Every PEM public key in the file, in order. */
	while ((pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL) {
		if (rs->n == RECIPIENTS_MAX) {
			EVP_PKEY_free(pk);
			cf_error_set(err, CF_ERR_INVALID_PARAMETER,
			    "audit_key_recipients \"%s\": more than %d keys",
			    path, RECIPIENTS_MAX);
			goto fail;
		}
		if (recipient_of(pk, path, rs->n + 1, &rs->r[rs->n], err)) {
			EVP_PKEY_free(pk);
			goto fail;
		}
		EVP_PKEY_free(pk);
		for (i = 0; i < rs->n; i++)
			if (strcmp(rs->r[i].id, rs->r[rs->n].id) == 0)
				break;
		rs->n++;
		if (i < rs->n - 1) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER,
			    "audit_key_recipients \"%s\": key %zu repeats key "
			    "%zu", path, rs->n, i + 1);
			goto fail;
		}
	}
	ERR_clear_error();

	/*
	 * PEM reading skips blocks of other kinds (a private key, a
	 * certificate), and stops at one it cannot parse: either way the
	 * file is not what the operator thinks it is.
	 */
	if (rs->n == 0 || (size_t)blocks != rs->n) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "audit_key_recipients "
		    "\"%s\": %zu of its %d PEM blocks are RSA public keys "
		    "(\"-----BEGIN PUBLIC KEY-----\", openssl rsa -pubout); "
		    "every block must be one", path, rs->n, blocks);
		goto fail;
	}
	BIO_free(bio);
	*out = rs;

	/* Success! */
	return (0);

fail:
	ERR_clear_error();
	hsm_recipients_free(rs);
	BIO_free(bio);
	/* Failure! */
	return (-1);
}

size_t
hsm_recipients_count(const struct hsm_recipients *rs)
{

	return (rs != NULL ? rs->n : 0);
}

/*
 * The OAEP parameters of ${sha256} (nonzero) or SHA-1, and the name the
 * bundle gives them.
 */
static const char *
oaep(int sha256, CK_RSA_PKCS_OAEP_PARAMS *p)
{

	memset(p, 0, sizeof(*p));
	p->hash_alg = sha256 ? CKM_SHA256 : CKM_SHA_1;
	p->mgf = sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1;
	p->source = CKZ_DATA_SPECIFIED;
	return (sha256 ? HSM_ESCROW_OAEP_SHA256 : HSM_ESCROW_OAEP_SHA1);
}

/*
 * Wrap ${key} under ${r} into ${e}: the public key as a session object,
 * C_WrapKey with RSA-OAEP (SHA-256 where the token takes it, else SHA-1:
 * SoftHSM 2.6 knows only SHA-1 for OAEP), the object destroyed.
 */
static int
wrap_for(struct hsm_session *s, CK_OBJECT_HANDLE key,
    const struct hsm_recipient *r, struct hsm_escrow *e, struct cf_error *err)
{
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE type = CKK_RSA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_WRAP, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_VERIFY, &no, sizeof(no) },
		{ CKA_MODULUS, r->modulus, r->modulus_len },
		{ CKA_PUBLIC_EXPONENT, r->exponent, r->exponent_len },
	};
	CK_RSA_PKCS_OAEP_PARAMS params;
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &params, sizeof(params) };
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
	CK_ULONG len = 0;
	const char *name;
	int sha256;
	CK_RV rv;

	memset(e, 0, sizeof(*e));
	if ((rv = p11->C_CreateObject(s->s, t, sizeof(t) / sizeof(t[0]),
	    &pub)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not load "
		    "an audit_key_recipients key into the token"));

	/* SHA-256 first; a token that refuses its parameters gets SHA-1. */
	for (sha256 = 1; sha256 >= 0; sha256--) {
		name = oaep(sha256, &params);
		rv = p11->C_WrapKey(s->s, &mech, pub, key, NULL, &len);
		if (rv != CKR_MECHANISM_PARAM_INVALID &&
		    rv != CKR_ARGUMENTS_BAD)
			break;
	}
	if (rv != CKR_OK) {
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not wrap the "
		    "audit key for an auditor");
		goto fail;
	}
	if ((e->wrapped = malloc(len)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto fail;
	}
	if ((rv = p11->C_WrapKey(s->s, &mech, pub, key, e->wrapped, &len)) !=
	    CKR_OK) {
		(void)hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not wrap the "
		    "audit key for an auditor");
		goto fail;
	}
	e->wrapped_len = len;
	e->mechanism = name;
	memcpy(e->recipient, r->id, sizeof(e->recipient));
	(void)p11->C_DestroyObject(s->s, pub);

	/* Success! */
	return (0);

fail:
	free(e->wrapped);
	e->wrapped = NULL;
	(void)p11->C_DestroyObject(s->s, pub);
	/* Failure! */
	return (-1);
}

/*
 * Make ${key} non-extractable and read it back: PKCS#11 lets the flag go
 * from true to false only, never back.
 */
static int
seal(struct hsm_session *s, CK_OBJECT_HANDLE key, struct cf_error *err)
{
	CK_BBOOL no = CK_FALSE, got = CK_TRUE;
	CK_ATTRIBUTE set[] = { { CKA_EXTRACTABLE, &no, sizeof(no) } };
	CK_ATTRIBUTE get[] = { { CKA_EXTRACTABLE, &got, sizeof(got) } };
	CK_RV rv;

	if ((rv = s->h->p11->C_SetAttributeValue(s->s, key, set, 1)) !=
	    CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not make "
		    "the audit key non-extractable"));
	if ((rv = s->h->p11->C_GetAttributeValue(s->s, key, get, 1)) !=
	    CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv, "could not read "
		    "back the audit key's CKA_EXTRACTABLE"));
	if (got != CK_FALSE) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "the token still shows "
		    "the audit key as extractable");
		return (-1);
	}
	return (0);
}

void
hsm_escrows_free(struct hsm_escrow *e, size_t n)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < n; i++)
		free(e[i].wrapped);
	free(e);
}

int
hsm_escrow_and_seal(struct hsm_session *s, CK_OBJECT_HANDLE key,
    struct hsm_escrow **out, size_t *out_n, struct cf_error *err)
{
	const struct hsm_recipients *rs = s->h->recipients;
	struct hsm_escrow *e = NULL;
	size_t i, n = 0;

	*out = NULL;
	*out_n = 0;

	/* One wrapped copy per auditor. */
	if (rs != NULL && rs->n > 0) {
		if ((e = calloc(rs->n, sizeof(*e))) == NULL) {
			cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
			goto fail;
		}
		for (i = 0; i < rs->n; i++, n++)
			if (wrap_for(s, key, &rs->r[i], &e[i], err))
				goto fail;
	}

	/* Then never again: the key is non-extractable for good. */
	if (seal(s, key, err))
		goto fail;
	*out = e;
	*out_n = n;

	/* Success! */
	return (0);

fail:
	/* Sealed anyway where possible: nothing else may wrap it. */
	(void)seal(s, key, NULL);
	hsm_escrows_free(e, n);
	/* Failure! */
	return (-1);
}

int
hsm_audit_keys_seal(struct hsm_session *s, uint32_t *out, size_t max,
    size_t *out_n, struct cf_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)(uintptr_t)HSM_AUDIT_KEY_LABEL,
		    sizeof(HSM_AUDIT_KEY_LABEL) - 1 },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	CK_FUNCTION_LIST *p11 = s->h->p11;
	CK_OBJECT_HANDLE found[16];
	CK_ULONG n = 0, i;
	CK_RV rv;
	uint32_t v;

	*out_n = 0;

	/* The versions still extractable (the handles first, then reads). */
	if ((rv = p11->C_FindObjectsInit(s->s, t, 3)) != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not look for the audit key"));
	rv = p11->C_FindObjects(s->s, found, 16, &n);
	(void)p11->C_FindObjectsFinal(s->s);
	if (rv != CKR_OK)
		return (hsm_fail(err, CF_ERR_UNAVAILABLE, rv,
		    "could not look for the audit key"));

	for (i = 0; i < n; i++) {
		if (seal(s, found[i], err))
			return (-1);
		if ((v = hsm_audit_key_version_of(s, found[i])) != 0 &&
		    *out_n < max)
			out[(*out_n)++] = v;
	}
	return (0);
}
