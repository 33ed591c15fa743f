/*
 * rpc_tls.h: the server's mutual-TLS credentials (tls.c) and the counter
 * of refused handshakes and unauthenticated calls (refusals.c).  Private
 * to rpc/.
 */
#ifndef COFFER_RPC_TLS_H
#define COFFER_RPC_TLS_H

#include <grpc/grpc_security.h>

#include "cf.h"

struct audit;
struct rpc_refusals;

/* The longest principal a summary keeps, NUL included. */
#define RPC_REFUSAL_NAME_MAX 600

/* Seconds between summaries when the configuration says nothing. */
#define RPC_REFUSAL_INTERVAL_DEFAULT 60

/*
 * rpc_refusals_new(audit, interval_s, err) (refusals.c):
 * A counter of refusals that submits, every ${interval_s} seconds (0: the
 * default), one audit event per (peer, principal, operation, outcome)
 * seen, with peer "HOST; count=N", through ${audit} (NULL: counted only)
 * without ever waiting for room in its queue.  Starts a thread.  NULL with
 * ${err} set on failure.  The caller holds one reference; it gives it back
 * with rpc_refusals_close().
 */
struct rpc_refusals *rpc_refusals_new(struct audit *, unsigned,
    struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_refusals_add(r, peer, principal, operation, outcome) (refusals.c):
 * Count one refusal.  ${peer} is gRPC's peer string (its port is dropped)
 * or NULL when unknown; the strings are copied (truncated to what the
 * table keeps).  Takes a mutex for a few comparisons; never waits on the
 * audit.  Returns 1 if it is the first of its kind this interval (worth a
 * line on stderr), else 0 (also once the counter is closed, when it
 * counts nothing).
 */
int rpc_refusals_add(struct rpc_refusals *, const char *, const char *,
    const char *, const char *);

/* rpc_refusals_ref(r), rpc_refusals_unref(r): one more, one less holder. */
void rpc_refusals_ref(struct rpc_refusals *);
void rpc_refusals_unref(struct rpc_refusals *);

/*
 * rpc_refusals_close(r) (refusals.c):
 * Count nothing more, submit what is counted, stop the thread and drop the
 * caller's reference.  Call before the audit writer stops.  NULL: nothing.
 */
void rpc_refusals_close(struct rpc_refusals *);

/*
 * rpc_tls_server_credentials(cert, key, client_ca, health_without_cert,
 *     refusals, tls, err) (tls.c):
 * Mutual-TLS server credentials from PEM text: the server's certificate
 * chain and key, and the CAs client certificates must chain to, checked
 * by Coffer during the handshake.  A client without a certificate is
 * refused at the handshake unless ${health_without_cert} (call.c then
 * serves it the health check only); a certificate that does not verify,
 * or whose identity is unusable (URI SANs other than exactly one valid
 * SPIFFE ID; no URI SAN and a CN that is empty or has control
 * characters), is refused.  Each refusal is counted in ${refusals}, which
 * the credentials hold a reference to.  *${tls} is what rpc_tls_update
 * changes them with (free it with rpc_tls_free once the server that uses
 * the credentials is destroyed).  NULL with ${err} when the files do not
 * make sense (a key that is not the certificate's, no CA).
 *
 * rpc_tls_update(tls, cert, key, client_ca, err):
 * New connections use these from now on (the certificate and key within
 * a second, gRPC's provider re-reading them; the client CAs at once);
 * connections already made keep what they were made with.  The same
 * checks first: -1 with ${err} and nothing changed if they fail.
 */
struct rpc_tls;
grpc_server_credentials *rpc_tls_server_credentials(const char *,
    const char *, const char *, int, struct rpc_refusals *, struct rpc_tls **,
    struct cf_error *);
int rpc_tls_update(struct rpc_tls *, const char *, const char *,
    const char *, struct cf_error *) CF_MUSTCHECK;
void rpc_tls_free(struct rpc_tls *);

/*
 * rpc_tls_spiffe_id_valid(s) (tls.c):
 * 1 if ${s} is a SPIFFE ID as the SPIFFE standard defines it:
 * "spiffe://" a trust domain of [a-z0-9._-], then an optional path of
 * "/"-separated segments of [A-Za-z0-9._-], none empty, "." or "..";
 * 2048 bytes at most.  Else 0.
 */
int rpc_tls_spiffe_id_valid(const char *);

/*
 * rpc_tls_escape(out, size, in) (tls.c):
 * ${in} for a log line or the audit trail: every byte below 0x20, 0x7f
 * and the backslash written as \xHH (so "\x0a" for a newline), the rest
 * as is; truncated to fit ${size} bytes with the NUL.
 */
void rpc_tls_escape(char *, size_t, const char *);

#endif /* !COFFER_RPC_TLS_H */
