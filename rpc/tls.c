/*
 * tls.c: the server's mutual-TLS credentials, with client certificates
 * checked by Coffer so that a refused one is audited.
 *
 * gRPC's own check (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY) fails
 * the handshake inside OpenSSL and tells nobody.  So the handshake asks for
 * a certificate without gRPC verifying it, and an external verifier (gRPC's
 * TLS credentials API) verifies it here, during the handshake, with
 * OpenSSL's X509_verify_cert against the client CA bundle, for the purpose
 * "TLS client": chain, signatures, validity dates, key usage.  A refused
 * certificate fails the handshake as before (the client sees UNAVAILABLE:
 * no call was ever made) and leaves an audit event, operation TLSHandshake,
 * outcome AccessDeniedException, with the identity the certificate claimed
 * prefixed "unverified:" and the reason.  TLS itself still proves that the
 * client holds the certificate's key (CertificateVerify is checked whatever
 * the verification mode).
 *
 * A client that sends no certificate passes the handshake; each of its
 * calls is refused with UNAUTHENTICATED by call.c, and audited there.
 */
#include "rpc_internal.h"
#include "rpc_tls.h"

#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "audit.h"

struct verifier {
	grpc_tls_certificate_verifier_external ext;	/* gRPC points here */
	X509_STORE *store;				/* the client CAs */
	struct audit *audit;				/* NULL: not audited */
};

/* One refused handshake's event, freed once the writer is done with it. */
struct refusal {
	struct audit_event ev;
	char request_id[RPC_UUID_LEN + 1];
	char principal[600];
	char outcome[64];
};

static void
refusal_done(void *arg, int ok, const struct cf_error *err)
{

	(void)ok;
	(void)err;
	free(arg);
}

/* Record that a certificate claiming ${who} was refused. */
static void
audit_refusal(struct verifier *v, const char *who)
{
	struct refusal *r;

	if (v->audit == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return;
	if (rpc_uuid_v4(r->request_id)) {
		free(r);
		return;
	}
	snprintf(r->principal, sizeof(r->principal), "unverified:%.512s", who);
	r->ev.time_ms = cf_now_ms();
	r->ev.request_id = r->request_id;
	r->ev.principal = r->principal;
	r->ev.peer = "unknown";
	r->ev.operation = "TLSHandshake";
	r->ev.outcome = cf_code_name(CF_ERR_ACCESS_DENIED);
	if (audit_submit(v->audit, &r->ev, 1, refusal_done, r))
		free(r);
}

/* The identity a certificate claims: its spiffe:// URI SAN, else its CN. */
static const char *
claimed(const grpc_tls_custom_verification_check_request *req)
{
	size_t i;

	for (i = 0; i < req->peer_info.san_names.uri_names_size; i++)
		if (strncmp(req->peer_info.san_names.uri_names[i], "spiffe://",
		    9) == 0)
			return (req->peer_info.san_names.uri_names[i]);
	if (req->peer_info.common_name != NULL &&
	    *req->peer_info.common_name != '\0')
		return (req->peer_info.common_name);
	return ("(no name)");
}

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

/*
 * Verify the peer's leaf ${leaf_pem} against the client CAs, with the rest
 * of its chain as untrusted intermediates.  NULL if it is good, else why.
 */
static const char *
verify_chain(X509_STORE *store, const char *leaf_pem, const char *chain_pem)
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
	    !X509_STORE_CTX_init(ctx, store, leaf, chain) ||
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

static int
verify(void *user_data, grpc_tls_custom_verification_check_request *req,
    grpc_tls_on_custom_verification_check_done_cb cb, void *cb_arg,
    grpc_status_code *status, char **details)
{
	struct verifier *v = user_data;
	const char *why, *who;

	(void)cb;
	(void)cb_arg;
	/* No certificate: let the calls come, each will be UNAUTHENTICATED. */
	if (req->peer_info.peer_cert == NULL ||
	    *req->peer_info.peer_cert == '\0') {
		*status = GRPC_STATUS_OK;
		return (1);
	}
	if ((why = verify_chain(v->store, req->peer_info.peer_cert,
	    req->peer_info.peer_cert_full_chain)) == NULL) {
		*status = GRPC_STATUS_OK;
		return (1);
	}
	who = claimed(req);
	fprintf(stderr, "cofferd: refused a client certificate claiming "
	    "\"%.256s\": %s\n", who, why);
	audit_refusal(v, who);
	*status = GRPC_STATUS_UNAUTHENTICATED;
	*details = gpr_strdup("the client certificate is not trusted");
	return (1);
}

static void
cancel(void *user_data, grpc_tls_custom_verification_check_request *req)
{

	(void)user_data;
	(void)req;
}

static void
destruct(void *user_data)
{
	struct verifier *v = user_data;

	X509_STORE_free(v->store);
	free(v);
}

/* The client CAs of the PEM text ${pem} in a new store; NULL if none. */
static X509_STORE *
ca_store(const char *pem)
{
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
	return (store);
}

/* Does ${key_pem} belong to the first certificate of ${cert_pem}? */
static int
key_matches(const char *cert_pem, const char *key_pem)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *b;
	int ok = 0;

	if ((b = BIO_new_mem_buf(cert_pem, -1)) != NULL) {
		cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if ((b = BIO_new_mem_buf(key_pem, -1)) != NULL) {
		key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
	}
	if (cert != NULL && key != NULL)
		ok = X509_check_private_key(cert, key) == 1;
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
	return (ok);
}

grpc_server_credentials *
rpc_tls_server_credentials(const char *cert_pem, const char *key_pem,
    const char *client_ca_pem, struct audit *audit, struct cf_error *err)
{
	grpc_tls_credentials_options *opts;
	grpc_tls_certificate_provider *provider;
	grpc_tls_certificate_verifier *gv;
	grpc_tls_identity_pairs *pairs;
	grpc_server_credentials *creds;
	struct verifier *v;

	if (!key_matches(cert_pem, key_pem)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "tls_cert and "
		    "tls_key must be a PEM certificate and its private key");
		return (NULL);
	}
	if ((v = calloc(1, sizeof(*v))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	if ((v->store = ca_store(client_ca_pem)) == NULL) {
		free(v);
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "tls_client_ca "
		    "holds no usable certificate");
		return (NULL);
	}
	v->audit = audit;
	v->ext.user_data = v;
	v->ext.verify = verify;
	v->ext.cancel = cancel;
	v->ext.destruct = destruct;

	/* Our certificate and key, the CAs named to clients, the checks. */
	pairs = grpc_tls_identity_pairs_create();
	grpc_tls_identity_pairs_add_pair(pairs, key_pem, cert_pem);
	provider = grpc_tls_certificate_provider_static_data_create(
	    client_ca_pem, pairs);
	opts = grpc_tls_credentials_options_create();
	grpc_tls_credentials_options_set_certificate_provider(opts, provider);
	grpc_tls_credentials_options_watch_root_certs(opts);
	grpc_tls_credentials_options_watch_identity_key_cert_pairs(opts);
	grpc_tls_credentials_options_set_cert_request_type(opts,
	    GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
	gv = grpc_tls_certificate_verifier_external_create(&v->ext);
	grpc_tls_credentials_options_set_certificate_verifier(opts, gv);
	grpc_tls_certificate_verifier_release(gv);
	grpc_tls_certificate_provider_release(provider);

	/* The credentials take the options over. */
	if ((creds = grpc_tls_server_credentials_create(opts)) == NULL)
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "the TLS "
		    "certificate, key or client CA was refused");
	return (creds);
}
