/*
 * awsapi_internal.h: what the AWS listener's files share (awsapi/).
 */
#ifndef COFFER_AWSAPI_INTERNAL_H
#define COFFER_AWSAPI_INTERNAL_H

#include <gnutls/abstract.h>

#include "awsapi.h"

/* GnuTLS's certificate callback, as MHD_OPTION_HTTPS_CERT_CALLBACK takes it. */
typedef gnutls_certificate_retrieve_function2 awsapi_cert_fn;

/*
 * awsapi_tls_start(cert, key, err) (tls.c): hold the listener's first
 * certificate chain and key (PEM) and return the callback that hands the
 * newest to every handshake; NULL with ${err} (unusable PEM, or a
 * listener already holds them).  awsapi_tls_stop(): free every pair, once
 * the daemon is stopped.
 */
awsapi_cert_fn *awsapi_tls_start(const char *, const char *,
    struct cf_error *);
void awsapi_tls_stop(void);

#endif /* !COFFER_AWSAPI_INTERNAL_H */
