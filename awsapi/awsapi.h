/*
 * awsapi.h: AWS's JSON protocol for Secrets Manager over HTTPS, beside
 * the gRPC listener (issue 15; DESIGN.md).
 *
 * A request is authenticated here (Signature Version 4 against an access
 * key Coffer issued) and answered by rpc/ (rpc_json_serve): the same
 * method table, validation, authorization and audit as a gRPC call.
 *
 * Threads: libmicrohttpd's pool of ${workers} threads, each polling its
 * own connections; a thread holds a request from its last byte to its
 * reply (as a gRPC worker holds a call), on an engine worker of its own
 * made on its first request (one more PostgreSQL connection set and token
 * session per thread: docs/operations.md).
 *
 * Lifecycle:
 *	a = awsapi_start(&cfg, &err);	serving once it returns
 *	... awsapi_port(a) ...
 *	awsapi_stop(a);			in-flight requests finish, then freed
 * Stop it before the rpc server it answers through.
 */
#ifndef COFFER_AWSAPI_H
#define COFFER_AWSAPI_H

#include "cf.h"

struct awsapi;
struct engine;
struct rpc_server;

/* The longest request body read (a 65,536-byte value escaped in JSON
 * takes up to six times that); longer ones are refused unread. */
#define AWSAPI_BODY_MAX (512 * 1024)

struct awsapi_config {
	const char *listen;		/* "HOST:PORT" or "[V6]:PORT"; port 0
					   picks one (awsapi_port) */
	const char *tls_cert_pem;	/* the server's chain and key (PEM);
					   copied */
	const char *tls_key_pem;
	const char *region;		/* the credential scope's region */
	unsigned workers;		/* threads, at least 1 */
	unsigned max_connections;	/* held at most; more are closed */
	unsigned timeout_s;		/* an idle or stalled connection is
					   closed after this long */
	struct engine *engine;		/* borrowed; outlives the listener */
	struct rpc_server *rpc;		/* borrowed, started, TLS */
};

/*
 * awsapi_start(cfg, err):
 * Bind ${cfg->listen} and serve.  NULL with ${err} set
 * (CF_ERR_INVALID_PARAMETER for an address or certificate that cannot be
 * used).
 */
struct awsapi *awsapi_start(const struct awsapi_config *, struct cf_error *)
    CF_MUSTCHECK;

/* awsapi_port(a): the TCP port it listens on. */
int awsapi_port(const struct awsapi *);

/*
 * awsapi_tls_update(a, cert, key, err):
 * New connections are served with this certificate chain and key (PEM);
 * connections already made keep theirs.  -1 with ${err} and the old pair
 * kept if they are unusable or the key is not the certificate's.
 */
int awsapi_tls_update(struct awsapi *, const char *, const char *,
    struct cf_error *) CF_MUSTCHECK;

/*
 * awsapi_stop(a):
 * Stop listening, let the requests in progress finish, close every
 * connection, free the threads' engine workers and ${a}.  NULL: nothing.
 */
void awsapi_stop(struct awsapi *);

#endif /* !COFFER_AWSAPI_H */
