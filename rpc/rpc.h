/*
 * rpc.h: the gRPC server that puts the engine on the wire.
 *
 * rpc/ owns everything gRPC and protobuf: the completion-queue loop, the
 * method table of coffer.v1.SecretsManager and grpc.health.v1.Health,
 * protobuf <-> engine struct conversion and the mapping of cf_code onto a
 * gRPC status plus the trailing metadata "coffer-error-type".  Nothing in
 * this header names a gRPC or protobuf type.
 *
 * Threads: rpc_server_start() spawns ${workers} threads that share one
 * completion queue, and ${long_workers} threads for long calls (listings,
 * audit queries and verification, batch reads).  Each owns one struct
 * engine_worker (a PostgreSQL connection and a token session), created in
 * that thread; a call is handled start to finish by the thread that took
 * it, so a long call never holds a thread that short calls need.
 *
 * Lifecycle:
 *	srv = rpc_server_new(&cfg, &err);	binds the port, serves nothing
 *	rpc_server_start(srv, &err);		workers up, accepting calls
 *	... rpc_server_stop(srv) from any thread ...
 *	rpc_server_wait(srv);			drain and join
 *	rpc_server_free(srv);
 */
#ifndef COFFER_RPC_H
#define COFFER_RPC_H

#include "cf.h"

struct audit;
struct engine;
struct engine_worker;
struct rpc_server;

#define RPC_GRACE_MS_DEFAULT 10000

struct rpc_config {
	/*
	 * Where to listen: "HOST:PORT" or "[V6]:PORT".  Port 0 picks a free
	 * port; see rpc_server_port().
	 */
	const char *listen;
	/*
	 * TLS: the server's certificate chain and key and the CA bundle that
	 * client certificates must chain to, all PEM text (mutual TLS; the
	 * principal of a call is its certificate's SPIFFE ID, else "cn:" and
	 * its CN).
	 * With ${plaintext} set instead, no TLS: HOST must then be a loopback
	 * address (127.0.0.0/8, ::1 or "localhost") and every caller is the
	 * principal "anonymous".
	 */
	const char *tls_cert_pem;
	const char *tls_key_pem;
	const char *tls_client_ca_pem;
	/*
	 * TLS: a client without a certificate is refused at the handshake,
	 * unless ${health_without_cert}: then it may call the health check
	 * (every other method: UNAUTHENTICATED).  Refused handshakes and
	 * unauthenticated calls are audited as one summary per peer and kind
	 * every ${refusal_interval_s} seconds (0: 60).
	 */
	int health_without_cert;
	unsigned refusal_interval_s;
	int plaintext;
	unsigned workers;		/* worker threads, at least 1 */
	/*
	 * Long calls (listings, audit queries and verification, batch reads)
	 * run on ${long_workers} threads of their own [(workers + 1) / 2]; at
	 * most ${long_queue} wait for one [1024], more are refused with
	 * ThrottlingException.
	 */
	unsigned long_workers;
	unsigned long_queue;
	struct engine *engine;		/* borrowed; outlives the server */
	struct audit *audit;		/* borrowed; NULL: calls unaudited */
	unsigned grace_ms;		/* in-flight grace on stop; 0: default */
	/*
	 * Limits against abuse (0: the default in brackets): connections
	 * held at most, about [4096] (more are closed as they arrive, and
	 * the open-file limit is raised to its hard limit); milliseconds a
	 * connection may take to finish its handshakes [10000]; concurrent
	 * calls per connection [100]; MiB gRPC may hold for all connections'
	 * buffers [256] (past it, gRPC cancels streams and closes connections
	 * with "Buffers full"; cofferd gives freed memory back to the system,
	 * server/trim.c);
	 * milliseconds after which a connection is asked to go away [1 h],
	 * and closed with whatever it still has in flight after a grace
	 * [60 s].
	 */
	unsigned max_connections;
	unsigned handshake_timeout_ms;
	unsigned max_streams;
	unsigned max_transport_mib;
	unsigned max_connection_age_ms;
	unsigned max_connection_age_grace_ms;
};

/*
 * rpc_server_new(cfg, err):
 * Initialise gRPC, create the server with the workers' completion queue,
 * register every method and bind ${cfg->listen}.  Nothing is served until
 * rpc_server_start().  Returns the server (free with rpc_server_free), or
 * NULL with ${err} set (CF_ERR_INVALID_PARAMETER for a refused or unusable
 * address).
 */
struct rpc_server *rpc_server_new(const struct rpc_config *,
    struct cf_error *) CF_MUSTCHECK;

/* rpc_server_port(srv): the TCP port the server is bound to. */
int rpc_server_port(const struct rpc_server *);

/*
 * rpc_server_start(srv, err):
 * Start the workers; each creates its engine_worker in its own thread.  When
 * all of them have one, the server starts accepting calls.  Returns 0, or
 * -1 with ${err} set to the first worker's failure (nothing left running).
 * Call once.
 */
int rpc_server_start(struct rpc_server *, struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_server_stop(srv):
 * Ask a started server to stop; returns at once.  Safe from any thread (not
 * from a signal handler), and more than once.
 */
void rpc_server_stop(struct rpc_server *);

/*
 * rpc_server_wait(srv):
 * Block until rpc_server_stop() is called, then drain: accept no new calls,
 * let in-flight calls finish for up to ${grace_ms}, cancel the rest, shut
 * down the completion queue, join the workers and free their
 * engine_workers.  Returns at once for a server that was never started.
 */
void rpc_server_wait(struct rpc_server *);

/*
 * rpc_server_tls_update(srv, cert, key, client_ca, err):
 * Serve new connections with this certificate chain and key and accept
 * client certificates that chain to these CAs (PEM text; the certificate
 * within a second, the CAs at once); connections already made are left
 * as they are.  Checked first as at start (the key is the certificate's,
 * the CAs parse): -1 with ${err} and the old ones kept if not.  Safe from
 * any thread while the server runs.
 */
int rpc_server_tls_update(struct rpc_server *, const char *, const char *,
    const char *, struct cf_error *) CF_MUSTCHECK;

/*
 * rpc_metrics_write(out) (metrics.c): every call this process answered,
 * on either listener, by operation and outcome, their durations, and the
 * calls being answered now, in Prometheus's text format.
 */
struct cf_prom;
void rpc_metrics_write(struct cf_prom *);

/*
 * rpc_server_free(srv):
 * Stop and drain the server if it is running, then destroy it and release
 * gRPC.  rpc_server_free(NULL) does nothing.
 */
void rpc_server_free(struct rpc_server *);

/* ---- AWS's JSON protocol (json.c; awsapi/ carries it) ------------------- */

/* One request, as awsapi/ received and authenticated it. */
struct rpc_json_request {
	const char *operation;		/* X-Amz-Target's, "GetSecretValue" */
	const char *principal;		/* its access key's; NULL if refused */
	const char *access_key_id;	/* the key that signed it; NULL when
					   authentication failed */
	const char *peer;		/* "ipv4:127.0.0.1:40000" */
	const uint8_t *body;		/* the JSON text (not NUL-terminated) */
	size_t body_len;
	const struct cf_error *refused;	/* not NULL: not run, this is why
					   (authentication failed) */
};

/* What to send back. */
struct rpc_json_answer {
	int http_status;		/* 200, or the status AWS uses */
	const char *error_type;		/* NULL on success, else the AWS
					   exception name (static) */
	char request_id[CF_UUID_LEN + 1];	/* x-amzn-RequestId */
	char *body;			/* JSON text (heap, may hold a value:
					   cf_heap_wipe_free it); NULL with
					   an error when out of memory */
	size_t body_len;
};

/*
 * rpc_json_serve(srv, w, req, out):
 * Answer ${req} as the gRPC call of the same coffer.v1.SecretsManager
 * operation would be answered: the same validation, authorization and
 * audit, on engine worker ${w} (the calling thread's), with the JSON
 * shapes AWS uses.  Blocks until the call's audit events are durable
 * (never sends a result whose event is not).  Names outside
 * coffer.v1.SecretsManager are UnknownOperationException: Coffer's own
 * services are served over gRPC only.  ${srv} must be started, and use
 * TLS (a request refused before it runs is counted with the refused
 * handshakes, not audited one by one).
 */
void rpc_json_serve(struct rpc_server *, struct engine_worker *,
    const struct rpc_json_request *, struct rpc_json_answer *);

/* rpc_json_http_status(code): the HTTP status AWS sends with ${code}. */
int rpc_json_http_status(enum cf_code);

#endif /* !COFFER_RPC_H */
