/*
 * x509_test.c: rpc/x509.c, the X.509 checks of the mutual-TLS handshake,
 * on certificates the test makes itself (a CA, clients it signed, one
 * for servers only, an expired one, one from another CA), so that it needs
 * no files and no server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rpc_x509.h"

/* A key and its certificate, as PEM text. */
struct pair {
	char *cert;
	char *key;
};

/* Everything the tests use, made once. */
static struct pair ca, other_ca, client, server_only, expired, stranger;

/* The PEM text of what ${bio} holds, NUL-terminated (heap). */
static char *
bio_text(BIO *bio)
{
	char *data, *out;
	long n;

	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	assert_non_null(out = malloc((size_t)n + 1));
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	return (out);
}

static EVP_PKEY *
new_key(void)
{
	EVP_PKEY *k;

	assert_non_null(k = EVP_EC_gen("P-256"));
	return (k);
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	assert_non_null(ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value));
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A certificate for ${cn} with key ${key}, signed by ${issuer} (NULL:
 * itself) with ${issuer_key}, valid from ${from_s} to ${to_s} seconds from
 * now, with ${eku} as its extended key usage (NULL: a CA).
 */
static X509 *
new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    long from_s, long to_s, const char *eku)
{
	static long serial = 1;
	X509_NAME *name;
	X509 *x;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++),
	    1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from_s));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to_s));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : name), 1);
	if (eku == NULL) {
		add_ext(x, issuer != NULL ? issuer : x,
		    NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer != NULL ? issuer : x, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		add_ext(x, issuer, NID_key_usage,
		    "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, eku);
	}
	assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key,
	    EVP_sha256()) > 0);
	return (x);
}

static struct pair
pem_of(X509 *x, EVP_PKEY *k)
{
	struct pair p;
	BIO *b;

	assert_non_null(b = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	p.cert = bio_text(b);
	BIO_free(b);
	assert_non_null(b = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	p.key = bio_text(b);
	BIO_free(b);
	return (p);
}

static int
setup(void **state)
{
	EVP_PKEY *ca_key, *other_key, *k;
	X509 *ca_x, *other_x, *x;

	(void)state;
	ca_key = new_key();
	ca_x = new_cert("Test CA", ca_key, NULL, NULL, -60, 3600, NULL);
	ca = pem_of(ca_x, ca_key);
	other_key = new_key();
	other_x = new_cert("Other CA", other_key, NULL, NULL, -60, 3600, NULL);
	other_ca = pem_of(other_x, other_key);

	k = new_key();
	x = new_cert("client", k, ca_x, ca_key, -60, 3600, "clientAuth");
	client = pem_of(x, k);
	X509_free(x);
	EVP_PKEY_free(k);

	k = new_key();
	x = new_cert("server", k, ca_x, ca_key, -60, 3600, "serverAuth");
	server_only = pem_of(x, k);
	X509_free(x);
	EVP_PKEY_free(k);

	k = new_key();
	x = new_cert("old", k, ca_x, ca_key, -7200, -3600, "clientAuth");
	expired = pem_of(x, k);
	X509_free(x);
	EVP_PKEY_free(k);

	k = new_key();
	x = new_cert("stranger", k, other_x, other_key, -60, 3600,
	    "clientAuth");
	stranger = pem_of(x, k);
	X509_free(x);
	EVP_PKEY_free(k);

	X509_free(other_x);
	EVP_PKEY_free(other_key);
	X509_free(ca_x);
	EVP_PKEY_free(ca_key);
	return (0);
}

static int
teardown(void **state)
{
	struct pair *all[] = { &ca, &other_ca, &client, &server_only,
	    &expired, &stranger };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		free(all[i]->cert);
		free(all[i]->key);
	}
	return (0);
}

/* A store holds the CAs it could read; none at all is NULL. */
static void
test_store(void **state)
{
	struct rpc_x509_store *s;
	char *both;

	(void)state;
	assert_null(rpc_x509_store_new(NULL));
	assert_null(rpc_x509_store_new(""));
	assert_null(rpc_x509_store_new("not PEM at all"));
	assert_null(rpc_x509_store_new(ca.key));	/* a key, no cert */
	assert_non_null(s = rpc_x509_store_new(ca.cert));
	rpc_x509_store_free(s);

	/* A bundle of two CAs trusts both. */
	assert_non_null(both = malloc(strlen(ca.cert) +
	    strlen(other_ca.cert) + 1));
	strcpy(both, ca.cert);
	strcat(both, other_ca.cert);
	assert_non_null(s = rpc_x509_store_new(both));
	assert_null(rpc_x509_verify_client(s, stranger.cert, NULL));
	assert_null(rpc_x509_verify_client(s, client.cert, NULL));
	rpc_x509_store_free(s);
	free(both);
	rpc_x509_store_free(NULL);
}

/* Only a client certificate that chains to the CAs, in date, verifies. */
static void
test_verify_client(void **state)
{
	struct rpc_x509_store *s;
	const char *why;

	(void)state;
	assert_non_null(s = rpc_x509_store_new(ca.cert));
	assert_null(rpc_x509_verify_client(s, client.cert, NULL));
	assert_null(rpc_x509_verify_client(s, client.cert, ""));
	assert_null(rpc_x509_verify_client(s, client.cert, client.cert));

	/* Each refusal says why, as OpenSSL words it. */
	assert_non_null(why = rpc_x509_verify_client(s, server_only.cert,
	    NULL));
	assert_non_null(strstr(why, "purpose"));
	assert_non_null(why = rpc_x509_verify_client(s, expired.cert, NULL));
	assert_non_null(strstr(why, "expired"));
	assert_non_null(why = rpc_x509_verify_client(s, stranger.cert, NULL));
	assert_non_null(strstr(why, "issuer"));
	assert_string_equal(rpc_x509_verify_client(s, "garbage", NULL),
	    "the certificate cannot be read");
	rpc_x509_store_free(s);
}

/* A key belongs to a certificate, or not; unreadable text is "not". */
static void
test_key_pair(void **state)
{

	(void)state;
	assert_int_equal(rpc_x509_key_pair(client.cert, client.key),
	    RPC_X509_PAIR_MATCHES);
	assert_int_equal(rpc_x509_key_pair(ca.cert, ca.key),
	    RPC_X509_PAIR_MATCHES);
	assert_int_equal(rpc_x509_key_pair(client.cert, stranger.key),
	    RPC_X509_PAIR_MISMATCH);
	assert_int_equal(rpc_x509_key_pair(client.key, client.cert),
	    RPC_X509_PAIR_MISMATCH);
	assert_int_equal(rpc_x509_key_pair("", ""), RPC_X509_PAIR_MISMATCH);
	assert_int_equal(rpc_x509_key_pair(client.cert, "garbage"),
	    RPC_X509_PAIR_MISMATCH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_verify_client),
		cmocka_unit_test(test_key_pair),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
