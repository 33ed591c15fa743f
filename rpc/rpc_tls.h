/*
 * rpc_tls.h: the server's mutual-TLS credentials (tls.c).  Private to rpc/.
 */
#ifndef COFFER_RPC_TLS_H
#define COFFER_RPC_TLS_H

#include <grpc/grpc_security.h>

#include "cf.h"

/*
 * rpc_tls_server_credentials(cert, key, client_ca, audit, err) (tls.c):
 * Mutual-TLS server credentials from PEM text: the server's certificate
 * chain and key, and the CAs client certificates must chain to, checked
 * by Coffer during the handshake so that a refused certificate is audited
 * through ${audit} (NULL: not audited).  NULL with ${err} when the files
 * do not make sense (a key that is not the certificate's, no CA).
 */
struct audit;
grpc_server_credentials *rpc_tls_server_credentials(const char *,
    const char *, const char *, struct audit *, struct cf_error *);

#endif /* !COFFER_RPC_TLS_H */
