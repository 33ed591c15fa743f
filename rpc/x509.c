/*
 * x509.c: the X.509 side of mutual TLS (rpc_x509.h), with OpenSSL.
 *
 * gRPC hands the verifier in tls.c the peer's certificate and chain as PEM
 * text; this file turns them into OpenSSL's objects and runs
 * X509_verify_cert against the client CA bundle.  It is the only file of
 * rpc/ that calls OpenSSL, so that the foreign API stays in one place and
 * tls.c speaks gRPC only.  Every OpenSSL error queue entry is cleared
 * before returning: what went wrong is told by the return value.
 */
#include "rpc_x509.h"

#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

struct rpc_x509_store {
	X509_STORE *store;
};

/* The certificates of the PEM text ${pem}; NULL on failure. */
static STACK_OF(X509) *
pem_chain(const char *pem)
{
	STACK_OF(X509) *sk;
	BIO *b;
	X509 *x;

	if ((sk = sk_X509_new_null()) == NULL)
		return (NULL);
	if (pem == NULL || *pem == '\0')
		return (sk);
	if ((b = BIO_new_mem_buf(pem, -1)) == NULL) {
		sk_X509_free(sk);
		return (NULL);
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error();		/* the end of the text */
	BIO_free(b);
	return (sk);
}

struct rpc_x509_store *
rpc_x509_store_new(const char *pem)
{
	struct rpc_x509_store *s;
	STACK_OF(X509) *sk;
	X509_STORE *store;
	int i, n = 0;

	if ((sk = pem_chain(pem)) == NULL)
		return (NULL);
	if ((store = X509_STORE_new()) != NULL)
		for (i = 0; i < sk_X509_num(sk); i++)
			if (X509_STORE_add_cert(store, sk_X509_value(sk, i)))
				n++;
	sk_X509_pop_free(sk, X509_free);
	if (store != NULL && n == 0) {
		X509_STORE_free(store);
		store = NULL;
	}
	if (store == NULL)
		return (NULL);
	if ((s = malloc(sizeof(*s))) == NULL) {
		X509_STORE_free(store);
		return (NULL);
	}
	s->store = store;
	return (s);
}

void
rpc_x509_store_free(struct rpc_x509_store *s)
{

	if (s == NULL)
		return;
	X509_STORE_free(s->store);
	free(s);
}

const char *
rpc_x509_verify_client(struct rpc_x509_store *s, const char *leaf_pem,
    const char *chain_pem)
{
	STACK_OF(X509) *chain = NULL;
	X509_STORE_CTX *ctx = NULL;
	const char *why = "the certificate cannot be read";
	BIO *b;
	X509 *leaf = NULL;

	if ((b = BIO_new_mem_buf(leaf_pem, -1)) != NULL) {
		leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (leaf == NULL || (chain = pem_chain(chain_pem)) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, s->store, leaf, chain) ||
	    !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT))
		goto done;
	if (X509_verify_cert(ctx) == 1)
		why = NULL;
	else
		why = X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx));
done:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	return (why);
}

enum rpc_x509_pair
rpc_x509_key_pair(const char *cert_pem, const char *key_pem)
{
	enum rpc_x509_pair r = RPC_X509_PAIR_MISMATCH;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *b;

	if ((b = BIO_new_mem_buf(cert_pem, -1)) != NULL) {
		cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if ((b = BIO_new_mem_buf(key_pem, -1)) != NULL) {
		key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (cert != NULL && key != NULL &&
	    X509_check_private_key(cert, key) == 1)
		r = RPC_X509_PAIR_MATCHES;
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	return (r);
}
