/*
 * server_internal.h: what the files of cofferd share.  Private to server/.
 *
 * main.c	the command line, the configuration, running a command (and
 *		migrate); jansson's wiping allocator
 * token.c	the token: the PIN, core dumps off, init-token
 * rotators.c	who exec: rotators run as, and where they call back
 * serve.c	the serve command: everything up, wait for a signal, all
 *		down in reverse
 * notify.c	readiness and stopping told to systemd (sd_notify)
 */
#ifndef COFFER_SERVER_INTERNAL_H
#define COFFER_SERVER_INTERNAL_H

#include "cf.h"
#include "config.h"

struct engine;
struct rotator_exec_config;
struct hsm;
struct rpc_server;

/* ---- alloc.c ------------------------------------------------------------- */

/*
 * server_alloc_tune(): cap tcmalloc's per-thread caches, or, built with
 * glibc's malloc, its arenas; call before any thread starts.
 */
void server_alloc_tune(void);

/* ---- trim.c -------------------------------------------------------------- */

/*
 * server_trim_start(): a thread that hands free heap memory back to the
 * system when much of it piles up.  NULL if it cannot start (cofferd then
 * only keeps what it freed).  server_trim_stop() joins and frees it;
 * server_trim_stop(NULL) does nothing.
 */
struct server_trim;
struct server_trim *server_trim_start(void);
void server_trim_stop(struct server_trim *);

/* ---- token.c ------------------------------------------------------------- */

/* server_no_core_dumps(err): no core files, no ptrace by other users; 0 or
 * -1 with ${err}. */
int server_no_core_dumps(struct cf_error *);

/*
 * server_hsm_open(cfg, err): read the PIN (pin_file or COFFER_PIN), log in
 * to the token and wipe the PIN.  The handle, or NULL with ${err}.
 */
struct hsm *server_hsm_open(const struct config *, struct cf_error *);

/* server_init_token(cfg, err): the init-token command; 0 or -1. */
int server_init_token(const struct config *, struct cf_error *);

/* ---- rotators.c ---------------------------------------------------------- */

/*
 * server_rotator_identity(cfg, out, err): the account exec: rotators run
 * as, in ${out} (rotator_user and rotator_group); refused when unset and
 * cofferd could not keep its secrets from them.  0 or -1 with ${err}.
 */
int server_rotator_identity(const struct config *,
    struct rotator_exec_config *, struct cf_error *);

/*
 * server_rotator_endpoint(cfg, srv, e): tell ${e} where exec: rotators
 * call back: ${srv}'s port on the listen host (127.0.0.1 for every
 * address).  0, or -1 when out of memory.
 */
int server_rotator_endpoint(const struct config *, const struct rpc_server *,
    struct engine *);

/* ---- serve.c ------------------------------------------------------------- */

/* server_serve(cfg, err): the serve command, until SIGTERM or SIGINT; 0
 * after a clean drain, -1 with ${err} if it could not start. */
int server_serve(const struct config *, struct cf_error *);

/* ---- tls_watch.c --------------------------------------------------------- */

struct awsapi;
struct rpc_server;
struct server_tls_watch;

/*
 * server_tls_read(cfg, pem, err): tls_cert, tls_key (refused if group or
 * others may read it) and tls_client_ca into ${pem} (free with
 * server_tls_free).  0, or -1 with ${err} and nothing held.
 */
int server_tls_read(const struct config *, struct cf_secret *[3],
    struct cf_error *) CF_MUSTCHECK;
void server_tls_free(struct cf_secret *[3]);

/*
 * server_tls_watch_start(cfg, srv, aws, err): a thread that reads the
 * three files again whenever stat(2) says one changed (every
 * tls_reload_interval seconds) and hands them to ${srv} and ${aws} (NULL:
 * none); a set the listeners refuse is logged and the old one kept.
 * server_tls_watch_kick(w): read them now, changed or not (SIGHUP).
 * server_tls_watch_stop(w): stop and free (NULL: nothing).
 */
struct server_tls_watch *server_tls_watch_start(const struct config *,
    struct rpc_server *, struct awsapi *, struct cf_error *);
void server_tls_watch_kick(struct server_tls_watch *);
void server_tls_watch_stop(struct server_tls_watch *);

/* ---- metrics.c ----------------------------------------------------------- */

struct audit;
struct engine;
struct server_metrics;

/*
 * server_metrics_start(listen, version, e, audit, err): serve GET /metrics
 * on ${listen} (plain HTTP): the calls (rpc/), the audit lanes (${audit};
 * NULL: none), the engine's background work, the token and the database.
 * NULL with ${err}.  server_metrics_port(m): the port bound.
 * server_metrics_stop(m): stop and free (NULL: nothing).
 */
struct server_metrics *server_metrics_start(const char *, const char *,
    struct engine *, struct audit *, struct cf_error *);
int server_metrics_port(const struct server_metrics *);
void server_metrics_stop(struct server_metrics *);

/* ---- notify.c ------------------------------------------------------------ */

/*
 * server_notify_ready(status): tell the service manager that cofferd
 * serves (READY=1), with ${status} for systemctl status to show.  Call it
 * once every listener accepts connections.  Does nothing without
 * NOTIFY_SOCKET; a failure to send is warned about once on stderr.
 */
void server_notify_ready(const char *);

/*
 * server_notify_stopping(): tell the service manager that cofferd has
 * begun to drain (STOPPING=1).  Same terms as server_notify_ready.
 */
void server_notify_stopping(void);

#endif /* !COFFER_SERVER_INTERNAL_H */
