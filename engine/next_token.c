/*
 * next_token.c: the opaque list cursors (NextToken) every listing hands out
 * and takes back.
 *
 * The only file of engine/ that seals with OpenSSL, in a library of its own
 * (coffer_next_token) so that the token fuzzer (tests/fuzz/fuzz_token.c)
 * links this decoder and nothing else of the engine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "next_token.h"

/*
 * A cursor names the last row of a page: its created time (microseconds)
 * and key.  The token is AES-256-SIV (RFC 5297) of "<us>|<key>" under a key
 * that HKDF-SHA256 derives from the shared server key, with one associated
 * datum: the list's kind and the caller's context (ListSecrets: principal,
 * filters, order).  It is written as hex: the 16-byte synthetic IV, then the
 * ciphertext.  So a token is opaque (encrypted, not only authenticated), an
 * edited, forged or replayed-elsewhere token does not verify, and SIV being
 * deterministic, the same cursor for the same caller and request is the
 * same token (which tells the caller nothing it has not seen).  Kinds: 'a'
 * and 'd' (ListSecrets, ascending or descending; the key is a uuid), 'v'
 * (ListSecretVersionIds; a version id), 'e' (audit events), 'V'
 * (VerifyAuditLog; a chain id) and 'i' (ListIdentityPolicies; the SHA-256
 * of the last row's key, engine/ops_policy.c).
 */
#define TOKEN_SIV_LEN 16
#define TOKEN_PLAIN_MAX 96
#define TOKEN_ENC_INFO "coffer NextToken AES-256-SIV v2"

/* The 64-byte AES-256-SIV key HKDF derives from the server key. */
static int
token_enc_key(const uint8_t *server_key, uint8_t out[64])
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kc = NULL;
	OSSL_PARAM p[4];
	int rc = -1;

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)(uintptr_t)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)(uintptr_t)server_key, ENGINE_TOKEN_KEY_LEN);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)(uintptr_t)TOKEN_ENC_INFO, sizeof(TOKEN_ENC_INFO) - 1);
	p[3] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) != NULL &&
	    (kc = EVP_KDF_CTX_new(kdf)) != NULL &&
	    EVP_KDF_derive(kc, out, 64, p) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return (rc);
}

/*
 * AES-256-SIV over ${in} (${n} bytes) with the associated data ${kind} and
 * ${ctx}: encrypt into ${out} and ${siv}, or (${open}) check ${siv} and
 * decrypt.  0, or -1 when it does not verify or OpenSSL fails.
 */
static int
token_siv(const uint8_t *server_key, int open, char kind, const void *ctx,
    size_t ctx_len, const uint8_t *in, size_t n, uint8_t *out,
    uint8_t siv[TOKEN_SIV_LEN])
{
	uint8_t key[64], *ad = NULL;
	EVP_CIPHER *c = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	int len, rc = -1;

	/* One associated datum: the kind, then the caller's context. */
	if ((ad = malloc(ctx_len + 1)) == NULL)
		goto done;
	ad[0] = (uint8_t)kind;
	if (ctx_len > 0)
		memcpy(ad + 1, ctx, ctx_len);

	if (token_enc_key(server_key, key) ||
	    (c = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL)) == NULL ||
	    (cc = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex2(cc, c, key, NULL, !open, NULL) != 1)
		goto done;
	if (open && EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_SET_TAG,
	    TOKEN_SIV_LEN, siv) != 1)
		goto done;
	if (EVP_CipherUpdate(cc, NULL, &len, ad, (int)(ctx_len + 1)) != 1 ||
	    EVP_CipherUpdate(cc, out, &len, in, (int)n) != 1 ||
	    EVP_CipherFinal_ex(cc, out + len, &len) != 1)
		goto done;
	if (!open && EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_GET_TAG,
	    TOKEN_SIV_LEN, siv) != 1)
		goto done;
	rc = 0;
done:
	explicit_bzero(key, sizeof(key));
	EVP_CIPHER_CTX_free(cc);
	EVP_CIPHER_free(c);
	free(ad);
	return (rc);
}

char *
engine_next_token_seal(struct cf_arena *a, const uint8_t *server_key,
    char kind, const void *ctx, size_t ctx_len, int64_t us, const char *key)
{
	uint8_t ct[TOKEN_PLAIN_MAX], siv[TOKEN_SIV_LEN];
	char plain[TOKEN_PLAIN_MAX], *out = NULL;
	size_t n;

	n = (size_t)snprintf(plain, sizeof(plain), "%lld|%.64s",
	    (long long)us, key);
	if (token_siv(server_key, 0, kind, ctx, ctx_len, (uint8_t *)plain, n,
	    ct, siv) == 0 &&
	    (out = cf_arena_alloc(a, 2 * (TOKEN_SIV_LEN + n) + 1)) != NULL) {
		cf_hex_encode(siv, TOKEN_SIV_LEN, out);
		cf_hex_encode(ct, n, out + 2 * TOKEN_SIV_LEN);
	}
	explicit_bzero(plain, sizeof(plain));
	return (out);
}

char *
engine_next_token_encode(struct cf_arena *a, const uint8_t *server_key,
    char kind, int64_t us, const char *key)
{

	return (engine_next_token_seal(a, server_key, kind, NULL, 0, us, key));
}

/* Is ${s} a canonical lower-case uuid? */
static int
is_uuid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return (0);
	for (i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' :
		    !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return (0);
	return (1);
}

int
engine_next_token_open(const char *tok, const uint8_t *server_key, char kind,
    const void *ctx, size_t ctx_len, int64_t *us, char *key,
    struct cf_error *err)
{
	uint8_t raw[TOKEN_SIV_LEN + TOKEN_PLAIN_MAX];
	char plain[TOKEN_PLAIN_MAX + 1], *end;
	size_t n = strlen(tok);

	/* Hex to bytes, refusing anything that is not our own encoding. */
	if (n % 2 != 0 || n / 2 <= TOKEN_SIV_LEN || n / 2 > sizeof(raw) ||
	    cf_hex_decode(tok, n, CF_HEX_LOWER, raw, n / 2) != CF_HEX_OK)
		goto bad;
	n = n / 2 - TOKEN_SIV_LEN;

	/* Verify and decrypt: another kind or context does not verify. */
	if (token_siv(server_key, 1, kind, ctx, ctx_len, raw + TOKEN_SIV_LEN,
	    n, (uint8_t *)plain, raw))
		goto bad;
	plain[n] = '\0';
	if (strlen(plain) != n)
		goto bad;

	/* 123|key, the key a uuid for ListSecrets. */
	*us = strtoll(plain, &end, 10);
	if (end == plain || *end != '|' || end[1] == '\0' ||
	    strlen(end + 1) > 64)
		goto bad;
	if ((kind == 'a' || kind == 'd') && !is_uuid(end + 1))
		goto bad;
	strcpy(key, end + 1);
	explicit_bzero(plain, sizeof(plain));
	return (0);

bad:
	explicit_bzero(plain, sizeof(plain));
	cf_error_set(err, CF_ERR_INVALID_NEXT_TOKEN,
	    "The NextToken value is invalid.");
	return (-1);
}

int
engine_next_token_decode(const char *tok, const uint8_t *server_key,
    char kind, int64_t *us, char *key, struct cf_error *err)
{

	return (engine_next_token_open(tok, server_key, kind, NULL, 0, us,
	    key, err));
}

enum engine_digest_result
engine_next_token_digest(const void *key, size_t len,
    char hex[ENGINE_TOKEN_DIGEST_HEX + 1])
{
	uint8_t md[ENGINE_TOKEN_DIGEST_HEX / 2];
	unsigned int mdlen = 0;

	if (EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md))
		return (ENGINE_DIGEST_FAILED);
	cf_hex_encode(md, sizeof(md), hex);
	return (ENGINE_DIGEST_OK);
}

bool
engine_next_token_digest_equal(const char *a, const char *b)
{

	/* Constant time: the digest is what a forged cursor must guess. */
	return (CRYPTO_memcmp(a, b, ENGINE_TOKEN_DIGEST_HEX) == 0);
}
