/*
 * hsm_kat_test.c: the envelope format (hsm/DESIGN.md, format 1) against
 * known answers, with a real SoftHSM token.
 *
 * hsm_seal draws its data key and IV inside the token, so a fixed IV cannot
 * go in through the public API.  Instead the test imports a KEK of known
 * bytes into the token (as a KEK is made, but with CKA_VALUE given), then:
 *  - opens a fixed stored envelope and expects the exact plaintext: the
 *    vector below was computed from DESIGN.md alone by an independent
 *    encoder (hsm_kat_vector.py, Python "cryptography"), and is checked
 *    here once more with OpenSSL's AES key wrap and GCM;
 *  - seals a value and takes the envelope apart with OpenSSL and the known
 *    KEK: the wrapped key unwraps under RFC 5649, and the ciphertext is
 *    exactly AES-256-GCM of the plaintext under that key, with the stored
 *    IV and the AAD built byte by byte as DESIGN.md lays it out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include "hsm.h"
#include "testlib.h"

#define KAT_KEK "coffer-kat-kek"
#define KAT_UUID "1b4e28ba-2fa1-4d2e-883f-0016d3cca427"
#define KAT_VID "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa1"
#define KAT_PLAINTEXT "correct horse battery staple"

/* The vector: KEK 00..1f, DEK 80..9f, IV cafebabefacedbaddecaf888. */
static const uint8_t kat_kek[32] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
	0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
	0x1e, 0x1f
};
static const uint8_t kat_dek[32] = {
	0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93,
	0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d,
	0x9e, 0x9f
};
static const uint8_t kat_iv[HSM_IV_LEN] = {
	0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca,
	0xf8, 0x88
};
/* "coffer-envelope", u32 1, then uuid, version id, KEK label, u16-prefixed. */
static const uint8_t kat_aad[111] = {
	0x63, 0x6f, 0x66, 0x66, 0x65, 0x72, 0x2d, 0x65, 0x6e, 0x76,
	0x65, 0x6c, 0x6f, 0x70, 0x65, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x24, 0x31, 0x62, 0x34, 0x65, 0x32, 0x38, 0x62, 0x61, 0x2d,
	0x32, 0x66, 0x61, 0x31, 0x2d, 0x34, 0x64, 0x32, 0x65, 0x2d,
	0x38, 0x38, 0x33, 0x66, 0x2d, 0x30, 0x30, 0x31, 0x36, 0x64,
	0x33, 0x63, 0x63, 0x61, 0x34, 0x32, 0x37, 0x00, 0x24, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x2d, 0x61, 0x61,
	0x61, 0x61, 0x2d, 0x34, 0x61, 0x61, 0x61, 0x2d, 0x38, 0x61,
	0x61, 0x61, 0x2d, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
	0x61, 0x61, 0x61, 0x61, 0x31, 0x00, 0x0e, 0x63, 0x6f, 0x66,
	0x66, 0x65, 0x72, 0x2d, 0x6b, 0x61, 0x74, 0x2d, 0x6b, 0x65, 0x6b
};
static const uint8_t kat_wrapped_dek[40] = {
	0x0b, 0x06, 0x07, 0xb0, 0x5f, 0xd5, 0x77, 0xde, 0x7c, 0x1c,
	0xef, 0xae, 0x23, 0x13, 0x27, 0x7d, 0x0d, 0x36, 0xfc, 0xb4,
	0xb3, 0xf0, 0x4f, 0x13, 0x32, 0xc5, 0x02, 0x3c, 0x03, 0x88,
	0xe3, 0x42, 0x16, 0x4f, 0x85, 0x31, 0x74, 0x1a, 0x21, 0xae
};
static const uint8_t kat_ciphertext[44] = {
	0xdd, 0xed, 0x69, 0x87, 0x48, 0x2c, 0xef, 0x95, 0x5e, 0x3f,
	0xa7, 0x83, 0x31, 0xe9, 0xed, 0x41, 0xfc, 0x7b, 0x5c, 0x36,
	0x55, 0x81, 0x7a, 0x04, 0xa5, 0x3d, 0xbd, 0x36, 0xed, 0x8f,
	0x70, 0xb3, 0xfe, 0x6e, 0xb7, 0x81, 0xa5, 0x6f, 0x45, 0x41,
	0xbe, 0xbd, 0x27, 0xa4
};

static struct cf_secret *pin;
static struct hsm *h;
static struct hsm_session *s;

/*
 * Put an AES-256 KEK with the bytes ${key} into the test token under
 * ${label} (replacing any of that label), with a KEK's attributes
 * (hsm/DESIGN.md) but for its known value.  Straight through PKCS#11, not
 * hsm/, so that the test does not rely on the code it checks.
 */
static int
import_kek(const char *label, const uint8_t *key, size_t len)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_VALUE, (void *)(uintptr_t)key, len },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_WRAP, &yes, sizeof(yes) },
		{ CKA_UNWRAP, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_ATTRIBUTE find[] = { t[0], t[11] };
	CK_FUNCTION_LIST *p11;
	CK_SLOT_ID slots[32];
	CK_ULONG n = 32, i, found;
	CK_TOKEN_INFO info;
	CK_SESSION_HANDLE ss = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE obj;
	const char *want = tl_env("COFFER_TEST_TOKEN");
	char padded[32];
	CK_RV rv;
	int rc = -1;

	/* The token by its label, blank-padded as PKCS#11 stores it. */
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, want, strlen(want) < 32 ? strlen(want) : 32);
	if ((p11 = p11_kit_module_load(tl_env("COFFER_TEST_MODULE"), 0)) ==
	    NULL)
		return (-1);
	if (p11_kit_module_initialize(p11) != CKR_OK)
		goto out0;
	if (p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		goto out1;
	for (i = 0; i < n; i++)
		if (p11->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    memcmp(info.label, padded, sizeof(padded)) == 0)
			break;
	if (i == n)
		goto out1;

	/* Log in and replace the key. */
	if (p11->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &ss) != CKR_OK)
		goto out1;
	rv = p11->C_Login(ss, CKU_USER, pin->data, pin->len);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		goto out2;
	do {
		if (p11->C_FindObjectsInit(ss, find, 2) != CKR_OK)
			goto out2;
		rv = p11->C_FindObjects(ss, &obj, 1, &found);
		(void)p11->C_FindObjectsFinal(ss);
		if (rv != CKR_OK)
			goto out2;
		if (found > 0 && p11->C_DestroyObject(ss, obj) != CKR_OK)
			goto out2;
	} while (found > 0);
	if (p11->C_CreateObject(ss, t, sizeof(t) / sizeof(t[0]), &obj) !=
	    CKR_OK)
		goto out2;
	rc = 0;

out2:
	(void)p11->C_CloseSession(ss);
out1:
	(void)p11_kit_module_finalize(p11);
out0:
	p11_kit_module_release(p11);
	return (rc);
}

/* The AAD of hsm/DESIGN.md for ${uuid}, ${vid}, ${label}; its length. */
static size_t
aad_build(uint8_t *out, size_t cap, const char *uuid, const char *vid,
    const char *label)
{
	const char *field[3] = { uuid, vid, label };
	size_t n = 0, i, l;

	assert_true(cap >= 19 + 3 * (2 + HSM_LABEL_MAX));
	memcpy(out, "coffer-envelope", 15);
	n = 15;
	out[n++] = 0;
	out[n++] = 0;
	out[n++] = 0;
	out[n++] = HSM_FORMAT_V1;
	for (i = 0; i < 3; i++) {
		l = strlen(field[i]);
		assert_true(l <= HSM_LABEL_MAX);
		out[n++] = (uint8_t)(l >> 8);
		out[n++] = (uint8_t)l;
		memcpy(out + n, field[i], l);
		n += l;
	}
	return (n);
}

/* RFC 5649 (AES key wrap with padding) of ${in} under ${kek}, by OpenSSL. */
static size_t
wrap_pad(int encrypt, const uint8_t *kek, const uint8_t *in, size_t len,
    uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;

	assert_non_null(c);
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	assert_int_equal(EVP_CipherInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek,
	    NULL, encrypt), 1);
	assert_int_equal(EVP_CipherUpdate(c, out, &n, in, (int)len), 1);
	assert_int_equal(EVP_CipherFinal_ex(c, out + n, &m), 1);
	EVP_CIPHER_CTX_free(c);
	return ((size_t)(n + m));
}

/*
 * AES-256-GCM of ${len} bytes at ${pt} under ${dek}, ${iv} and ${aad} (a
 * 128-bit tag appended), by OpenSSL, into ${out}; its length.
 */
static size_t
gcm_seal(const uint8_t *dek, const uint8_t *iv, const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, m = 0;

	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL,
	    NULL), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN,
	    HSM_IV_LEN, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex(c, NULL, NULL, dek, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len), 1);
	assert_int_equal(EVP_EncryptUpdate(c, out, &n, pt, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, out + n, &m), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG,
	    HSM_TAG_LEN, out + n + m), 1);
	EVP_CIPHER_CTX_free(c);
	return ((size_t)(n + m) + HSM_TAG_LEN);
}

/* The fixed envelope, pointing into the vector (not for cleanup). */
static struct hsm_envelope
kat_envelope(uint8_t *wrapped, uint8_t *ct)
{
	struct hsm_envelope env;

	memset(&env, 0, sizeof(env));
	env.format = HSM_FORMAT_V1;
	snprintf(env.kek_label, sizeof(env.kek_label), "%s", KAT_KEK);
	memcpy(env.iv, kat_iv, sizeof(kat_iv));
	memcpy(wrapped, kat_wrapped_dek, sizeof(kat_wrapped_dek));
	env.wrapped_dek = wrapped;
	env.wrapped_dek_len = sizeof(kat_wrapped_dek);
	memcpy(ct, kat_ciphertext, sizeof(kat_ciphertext));
	env.ciphertext = ct;
	env.ciphertext_len = sizeof(kat_ciphertext);
	return (env);
}

static int
setup(void **state)
{
	struct hsm_config c;
	struct cf_error err = { 0 };

	(void)state;
	pin = tl_pin();
	if (import_kek(KAT_KEK, kat_kek, sizeof(kat_kek))) {
		fprintf(stderr, "could not import the KEK into the token\n");
		return (-1);
	}
	memset(&c, 0, sizeof(c));
	c.module_path = tl_env("COFFER_TEST_MODULE");
	c.token_label = tl_env("COFFER_TEST_TOKEN");
	c.pin = (const char *)pin->data;
	c.kek_label = KAT_KEK;
	if ((h = hsm_new(&c, &err)) == NULL ||
	    (s = hsm_session_new(h, &err)) == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return (-1);
	}
	return (0);
}

static int
teardown(void **state)
{

	(void)state;
	hsm_session_free(s);
	hsm_free(h);
	cf_secret_free(pin);
	return (0);
}

/* The vector is the format: DESIGN.md's AAD, RFC 5649, AES-256-GCM. */
static void
test_vector_is_the_format(void **state)
{
	uint8_t aad[256], buf[256];
	size_t n;

	(void)state;
	n = aad_build(aad, sizeof(aad), KAT_UUID, KAT_VID, KAT_KEK);
	assert_int_equal(n, sizeof(kat_aad));
	assert_memory_equal(aad, kat_aad, n);
	n = wrap_pad(1, kat_kek, kat_dek, sizeof(kat_dek), buf);
	assert_int_equal(n, sizeof(kat_wrapped_dek));
	assert_memory_equal(buf, kat_wrapped_dek, n);
	n = gcm_seal(kat_dek, kat_iv, kat_aad, sizeof(kat_aad),
	    (const uint8_t *)KAT_PLAINTEXT, strlen(KAT_PLAINTEXT), buf);
	assert_int_equal(n, sizeof(kat_ciphertext));
	assert_memory_equal(buf, kat_ciphertext, n);
}

/* The token opens the stored envelope to the exact plaintext. */
static void
test_open_known_envelope(void **state)
{
	const struct hsm_binding bind = { KAT_UUID, KAT_VID };
	const struct hsm_binding other = { KAT_UUID,
	    "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbb2" };
	uint8_t wrapped[sizeof(kat_wrapped_dek)], ct[sizeof(kat_ciphertext)];
	struct hsm_envelope env = kat_envelope(wrapped, ct);
	struct cf_secret *pt = NULL;
	struct cf_error err = { 0 };

	(void)state;
	if (hsm_open(s, &env, &bind, &pt, &err))
		fail_msg("open: %s", err.msg);
	assert_int_equal(pt->len, strlen(KAT_PLAINTEXT));
	assert_memory_equal(pt->data, KAT_PLAINTEXT, pt->len);
	cf_secret_free(pt);
	pt = NULL;

	/* Bound elsewhere, or its tag's last bit flipped: refused. */
	assert_int_equal(hsm_open(s, &env, &other, &pt, &err), -1);
	assert_int_equal(err.code, CF_ERR_DECRYPTION_FAILURE);
	ct[sizeof(ct) - 1] ^= 1;
	assert_int_equal(hsm_open(s, &env, &bind, &pt, &err), -1);
	assert_int_equal(err.code, CF_ERR_DECRYPTION_FAILURE);
	assert_null(pt);
}

/* What the token seals, OpenSSL opens with the known KEK, byte for byte. */
static void
test_seal_is_the_format(void **state)
{
	const struct hsm_binding bind = {
		"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
		"cccccccc-cccc-4ccc-8ccc-ccccccccccc3"
	};
	static const uint8_t value[] = "a value of thirty-one bytes, ok";
	struct hsm_envelope env;
	struct cf_error err = { 0 };
	uint8_t dek[64], aad[256], ct[256];
	size_t n, aad_len;

	(void)state;
	memset(&env, 0, sizeof(env));
	if (hsm_seal(s, KAT_KEK, &bind, value, sizeof(value) - 1, &env, &err))
		fail_msg("seal: %s", err.msg);
	assert_int_equal(env.format, HSM_FORMAT_V1);
	assert_string_equal(env.kek_label, KAT_KEK);
	assert_int_equal(env.wrapped_dek_len, 40);
	assert_int_equal(env.ciphertext_len, sizeof(value) - 1 + HSM_TAG_LEN);

	/* The data key: RFC 5649 under the KEK, 32 bytes. */
	n = wrap_pad(0, kat_kek, env.wrapped_dek, env.wrapped_dek_len, dek);
	assert_int_equal(n, 32);

	/* The ciphertext: GCM under that key and IV, with DESIGN.md's AAD. */
	aad_len = aad_build(aad, sizeof(aad), bind.secret_uuid,
	    bind.version_id, KAT_KEK);
	n = gcm_seal(dek, env.iv, aad, aad_len, value, sizeof(value) - 1, ct);
	assert_int_equal(n, env.ciphertext_len);
	assert_memory_equal(ct, env.ciphertext, n);
	OPENSSL_cleanse(dek, sizeof(dek));
	hsm_envelope_cleanup(&env);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_is_the_format),
		cmocka_unit_test(test_open_known_envelope),
		cmocka_unit_test(test_seal_is_the_format),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
