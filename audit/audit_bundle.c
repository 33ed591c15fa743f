/*
 * audit_bundle.c: the auditor's side of an audit key bundle (audit/DESIGN.md,
 * "The auditor's bundle").
 *
 * ExportAuditKeyBundle hands out retired versions of the token's audit key,
 * each wrapped (RSA-OAEP) under an auditor's public key when it was made.
 * Here the auditor's private key unwraps the versions meant for it, and
 * each event's hmac is checked with HMAC-SHA256 under the version it
 * names: the computation the token does (CKM_SHA256_HMAC), away from the
 * token.  Unwrapped keys live in secret memory (locked, never dumped,
 * wiped when freed); every other buffer that held one is wiped.  Pure:
 * no database, no token, no JSON (the caller parses the bundle).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "audit.h"

#define KEYRING_MAX 1024		/* versions a bundle may hold */
#define AUDIT_KEY_LEN 32		/* the token's audit key: 256 bits */

struct keyring_key {
	uint32_t version;
	struct cf_secret *key;
};

struct audit_keyring {
	EVP_PKEY *pkey;
	char recipient[AUDIT_RECIPIENT_MAX + 1];
	struct keyring_key keys[KEYRING_MAX];
	size_t n;
};

void
audit_keyring_free(struct audit_keyring *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->n; i++)
		cf_secret_free(k->keys[i].key);
	EVP_PKEY_free(k->pkey);
	free(k);
}

int
audit_keyring_new(const char *path, struct audit_keyring **out,
    struct cf_error *err)
{
	struct audit_keyring *k;
	uint8_t md[SHA256_DIGEST_LENGTH];
	unsigned char *der = NULL;
	BIO *bio;
	int der_len;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}

	/* The auditor's RSA private key (PEM). */
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "could not open "
		    "the private key \"%s\"", path);
		goto fail;
	}
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k->pkey == NULL || EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "\"%s\" holds no "
		    "RSA private key in PEM", path);
		goto fail;
	}

	/* Whom it is: the SHA-256 of its public half's DER SPKI. */
	if ((der_len = i2d_PUBKEY(k->pkey, &der)) <= 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not encode the "
		    "public key of \"%s\"", path);
		goto fail;
	}
	SHA256(der, (size_t)der_len, md);
	OPENSSL_free(der);
	memcpy(k->recipient, "sha256:", 7);
	cf_hex_encode(md, sizeof(md), k->recipient + 7);
	ERR_clear_error();
	*out = k;

	/* Success! */
	return (0);

fail:
	ERR_clear_error();
	audit_keyring_free(k);
	/* Failure! */
	return (-1);
}

const char *
audit_keyring_recipient(const struct audit_keyring *k)
{

	return (k->recipient);
}

size_t
audit_keyring_size(const struct audit_keyring *k)
{

	return (k->n);
}

/* The OAEP digest a bundle's Mechanism names, or NULL. */
static const EVP_MD *
oaep_md(const char *mechanism)
{

	if (strcmp(mechanism, AUDIT_OAEP_SHA256) == 0)
		return (EVP_sha256());
	if (strcmp(mechanism, AUDIT_OAEP_SHA1) == 0)
		return (EVP_sha1());
	return (NULL);
}

int
audit_keyring_add(struct audit_keyring *k, uint32_t version,
    const char *recipient, const char *mechanism, const uint8_t *wrapped,
    size_t len, const uint8_t *check, enum audit_keyring_took *out,
    struct cf_error *err)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	EVP_PKEY_CTX *ctx = NULL;
	struct cf_secret *buf = NULL;
	const EVP_MD *md;
	size_t n, i;

	*out = AUDIT_KEYRING_NOT_OURS;
	if (strcmp(recipient, k->recipient) != 0)
		return (0);
	for (i = 0; i < k->n; i++)
		if (k->keys[i].version == version) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "the bundle "
			    "holds version %u twice for this key", version);
			return (-1);
		}
	if (version == 0 || k->n == KEYRING_MAX) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "the bundle holds "
		    "version %u, or more than %d versions", version,
		    KEYRING_MAX);
		return (-1);
	}
	if ((md = oaep_md(mechanism)) == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "version %u: "
		    "unknown mechanism \"%s\"", version, mechanism);
		return (-1);
	}

	/* Unwrap it with the private key, into secret memory. */
	n = (size_t)EVP_PKEY_get_size(k->pkey);
	if ((buf = cf_secret_new(n)) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (-1);
	}
	if ((ctx = EVP_PKEY_CTX_new(k->pkey, NULL)) == NULL ||
	    EVP_PKEY_decrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
	    EVP_PKEY_decrypt(ctx, buf->data, &n, wrapped, len) <= 0 ||
	    n != AUDIT_KEY_LEN) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "could not unwrap "
		    "version %u of the audit key with the private key: the "
		    "bundle's entry for it is damaged or was not made for this "
		    "key", version);
		goto fail;
	}
	buf->len = n;

	/*
	 * The token's key, not one a forged row wrapped to our public key:
	 * the token made the check value at export.
	 */
	if (HMAC(EVP_sha256(), buf->data, (int)buf->len,
	    (const uint8_t *)AUDIT_KEY_CHECK_MSG,
	    sizeof(AUDIT_KEY_CHECK_MSG) - 1, mac, &mac_len) == NULL ||
	    mac_len != AUDIT_HASH_LEN ||
	    CRYPTO_memcmp(mac, check, AUDIT_HASH_LEN) != 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "version %u of the "
		    "audit key unwraps to a key that is not the token's (its "
		    "key check does not match): the bundle's entry was not "
		    "escrowed by cofferd", version);
		goto fail;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	k->keys[k->n].version = version;
	k->keys[k->n].key = buf;
	k->n++;
	*out = AUDIT_KEYRING_TAKEN;

	/* Success! */
	return (0);

fail:
	OPENSSL_cleanse(mac, sizeof(mac));
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	cf_secret_free(buf);
	/* Failure! */
	return (-1);
}

enum audit_mac
audit_keyring_check(const struct audit_keyring *k,
    const struct cf_audit_row *r)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	uint32_t version = r->mac_version ? r->mac_version : 1;
	const struct cf_secret *key = NULL;
	enum audit_mac rc;
	size_t i;

	/* An unsigned event: a later signed one's hmac covers it. */
	if (r->hmac_absent)
		return (AUDIT_MAC_ABSENT);
	for (i = 0; i < k->n; i++)
		if (k->keys[i].version == version)
			key = k->keys[i].key;
	if (key == NULL)
		return (AUDIT_MAC_NO_KEY);

	/* HMAC-SHA256 of the hash, as the token's CKM_SHA256_HMAC. */
	if (HMAC(EVP_sha256(), key->data, (int)key->len, r->hash,
	    AUDIT_HASH_LEN, mac, &len) == NULL || len != AUDIT_HASH_LEN)
		rc = AUDIT_MAC_BAD;
	else
		rc = CRYPTO_memcmp(mac, r->hmac, AUDIT_HASH_LEN) == 0 ?
		    AUDIT_MAC_OK : AUDIT_MAC_BAD;
	OPENSSL_cleanse(mac, sizeof(mac));
	return (rc);
}
