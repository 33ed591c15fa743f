/*
 * rpc_x509.h: the X.509 work of the mutual-TLS handshake (x509.c): reading
 * PEM text, checking a client's chain against the client CAs, and checking
 * that a key belongs to a certificate.  x509.c is rpc/'s only OpenSSL user;
 * this header names no OpenSSL type, so tls.c deals with gRPC alone.
 * Private to rpc/.
 */
#ifndef COFFER_RPC_X509_H
#define COFFER_RPC_X509_H

/* The CAs client certificates must chain to. */
struct rpc_x509_store;

/*
 * rpc_x509_store_new(pem):
 * The certificates of the PEM text ${pem} as a new store of trusted CAs.
 * NULL when none of them could be read (or out of memory).  The caller
 * frees it with rpc_x509_store_free().
 */
struct rpc_x509_store *rpc_x509_store_new(const char *);

/* rpc_x509_store_free(s): free ${s}; NULL does nothing. */
void rpc_x509_store_free(struct rpc_x509_store *);

/*
 * rpc_x509_verify_client(s, leaf_pem, chain_pem):
 * Verify the client certificate ${leaf_pem} against the CAs of ${s}, with
 * the certificates of ${chain_pem} (NULL or "": none) as untrusted
 * intermediates, for the purpose "TLS client": chain, signatures, validity
 * dates, key usage.  NULL if it verifies, else why not (a static string
 * for a log line).
 */
const char *rpc_x509_verify_client(struct rpc_x509_store *, const char *,
    const char *);

/*
 * rpc_x509_key_pair(cert_pem, key_pem):
 * Whether the PEM private key ${key_pem} belongs to the first certificate
 * of ${cert_pem}; RPC_X509_PAIR_MISMATCH too when either cannot be read.
 */
enum rpc_x509_pair { RPC_X509_PAIR_MATCHES, RPC_X509_PAIR_MISMATCH };
enum rpc_x509_pair rpc_x509_key_pair(const char *, const char *);

#endif /* !COFFER_RPC_X509_H */
