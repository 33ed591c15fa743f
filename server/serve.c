/*
 * serve.c: the serve command.  Bring up the token, the engine, the audit
 * writer, the scheduler and the gRPC server in that order; wait for
 * SIGTERM or SIGINT; drain and take them down in reverse.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cf_log.h"
#include "awsapi.h"
#include "engine.h"
#include "hsm.h"
#include "rpc.h"
#include "server_internal.h"

/* The engine's settings, from the configuration and the token ${h}. */
static void
engine_config_of(const struct config *cfg, struct hsm *h,
    struct engine_config *ec)
{

	memset(ec, 0, sizeof(*ec));
	ec->pg_conninfo = cfg->database;
	ec->hsm = h;
	ec->partition = cfg->partition;
	ec->region = cfg->region;
	ec->account_id = cfg->account_id;
	ec->default_kek_label = cfg->kek_label;
	ec->admin_principal = cfg->admin_principal;
	ec->exec.dir = cfg->rotator_dir;
	ec->exec.timeout_s = (int)cfg->rotator_timeout;
	ec->exec.ca_bundle = cfg->rotator_ca_bundle;
	ec->exec.cert = cfg->rotator_cert;
	ec->exec.key = cfg->rotator_key;
	ec->pg.allow_hosts = cfg->rotator_pg_allow_hosts;
	ec->pg.sslmode = cfg->rotator_pg_sslmode;
	ec->pg.sslrootcert = cfg->rotator_pg_sslrootcert;
	ec->db_timeout_ms = (int)cfg->db_timeout * 1000;
	ec->statement_timeout_ms = (int)cfg->statement_timeout_ms;
	ec->list_statement_timeout_ms = (int)cfg->list_statement_timeout_ms;
	ec->audit_verify_max_events = (int)cfg->audit_verify_max_events;
	ec->audit_verify_max_ms = (int)cfg->audit_verify_max_ms;
	ec->rewrap_rate = (int)cfg->rewrap_rate;
}

/*
 * The transport: mutual TLS with the three files, or plaintext when the
 * configuration says plaintext = on (rpc/ then insists on loopback).
 */
static int
tls_config(const struct config *cfg, struct rpc_config *rc,
    struct cf_secret *pem[3], struct cf_error *err)
{

	if (cfg->plaintext) {
		if (cfg->tls_cert != NULL || cfg->tls_key != NULL ||
		    cfg->tls_client_ca != NULL) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "plaintext "
			    "= on and tls_* keys are both set; choose one");
			return (-1);
		}
		cf_log(CF_LOG_WARN, "WARNING: plaintext = on: no TLS, "
		    "every caller is \"anonymous\" (loopback only)");
		rc->plaintext = 1;
		return (0);
	}
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL ||
	    cfg->tls_client_ca == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "cofferd serves "
		    "mutual TLS: set tls_cert, tls_key and tls_client_ca (or, "
		    "on a loopback address only, plaintext = on)");
		return (-1);
	}
	rc->health_without_cert = cfg->health_without_cert;
	rc->refusal_interval_s = cfg->refusal_audit_interval;
	/* The three files (tls_watch.c reads them again when they change). */
	if (server_tls_read(cfg, pem, err))
		return (-1);
	rc->tls_cert_pem = (const char *)pem[0]->data;
	rc->tls_key_pem = (const char *)pem[1]->data;
	rc->tls_client_ca_pem = (const char *)pem[2]->data;
	return (0);
}

/*
 * AWS's JSON protocol on ${cfg->aws_listen}, with the gRPC listener's
 * certificate and key (${pem}, still loaded): NULL with nothing to do
 * when aws_listen is unset.  Refused over plaintext: a request that fails
 * authentication is counted with the refused TLS handshakes, which
 * plaintext has none of, and SigV4 secrets do not cross the network in
 * the clear.
 */
static int
aws_start(const struct config *cfg, struct engine *e, struct rpc_server *srv,
    struct cf_secret *pem[3], struct awsapi **out, struct cf_error *err)
{
	struct awsapi_config ac;

	*out = NULL;
	if (cfg->aws_listen == NULL)
		return (0);
	if (cfg->plaintext) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "aws_listen needs "
		    "TLS: set tls_cert, tls_key and tls_client_ca rather than "
		    "plaintext = on");
		return (-1);
	}
	memset(&ac, 0, sizeof(ac));
	ac.listen = cfg->aws_listen;
	ac.tls_cert_pem = (const char *)pem[0]->data;
	ac.tls_key_pem = (const char *)pem[1]->data;
	ac.region = cfg->region;
	ac.workers = cfg->aws_workers;
	ac.max_connections = cfg->aws_max_connections;
	ac.timeout_s = cfg->aws_timeout;
	ac.engine = e;
	ac.rpc = srv;
	if ((*out = awsapi_start(&ac, err)) == NULL)
		return (-1);
	cf_log(CF_LOG_INFO, "AWS JSON protocol on https://%.*s:%d (%u "
	    "thread%s)", (int)(strrchr(cfg->aws_listen, ':') -
	    cfg->aws_listen), cfg->aws_listen, awsapi_port(*out),
	    cfg->aws_workers, cfg->aws_workers == 1 ? "" : "s");
	return (0);
}

/* Print the listening line, with the port the kernel chose for port 0. */
static void
announce(const struct config *cfg, const struct rpc_server *srv)
{
	const char *colon = strrchr(cfg->listen, ':');
	int hostlen = (int)(colon - cfg->listen);

	cf_log(CF_LOG_INFO, "listening on %.*s:%d (%u worker%s, %u for "
	    "long calls)", hostlen, cfg->listen, rpc_server_port(srv),
	    cfg->workers, cfg->workers == 1 ? "" : "s", cfg->long_workers);
}

/* Serve until SIGTERM or SIGINT (SIGHUP: read the TLS files again). */
int
server_serve(const struct config *cfg, struct cf_error *err)
{
	struct hsm *h = NULL;
	struct engine *e = NULL;
	struct engine_rotation *rot = NULL;
	struct audit *audit = NULL;
	struct audit_config ac;
	struct rpc_server *srv = NULL;
	struct awsapi *aws = NULL;
	struct server_tls_watch *tw = NULL;
	struct server_metrics *metrics = NULL;
	struct server_trim *trim = NULL;
	struct engine_config ec;
	struct rotator_exec_config rx;
	struct rpc_config rc;
	struct cf_secret *pem[3] = { NULL, NULL, NULL };
	sigset_t sigs;
	int sig;

	if (server_rotator_identity(cfg, &rx, err))
		goto err0;

	/* No core dumps; signals for sigwait only, in every thread. */
	if (server_no_core_dumps(err))
		goto err0;
	/* A peer that closes mid-reply is an error to handle, not death. */
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if ((errno = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "could not block signals: %s",
		    strerror(errno));
		goto err0;
	}

	/* The token, the engine (which migrates), the server. */
	if ((h = server_hsm_open(cfg, err)) == NULL)
		goto err0;
	engine_config_of(cfg, h, &ec);
	ec.exec.run_as_user = rx.run_as_user;
	ec.exec.uid = rx.uid;
	ec.exec.gid = rx.gid;
	if ((e = engine_new(&ec, err)) == NULL)
		goto err1;
	if (engine_authz_start(e, err))
		goto err2;

	/* The audit writer: no call is served before its chain works. */
	if (!cfg->audit) {
		cf_log(CF_LOG_WARN, "WARNING: audit = off: calls are NOT "
		    "audited (for measuring the audit's cost only)");
	} else {
		memset(&ac, 0, sizeof(ac));
		ac.conninfo = cfg->database;
		ac.hsm = h;
		ac.head_max_lag_ms = (int64_t)cfg->audit_head_max_lag * 1000;
		ac.lanes = cfg->audit_lanes;
		ac.batch_wait_us = cfg->audit_batch_wait_us;
		/* Each worker makes one change at a time; one more for the
		 * rotation scheduler's steps. */
		ac.change_lanes = cfg->workers + 1;
		ac.db_timeout_ms = (int)cfg->db_timeout * 1000;
		if ((audit = audit_start(&ac, err)) == NULL)
			goto err2;
		engine_set_audit(e, audit);
	}

	/* Rotations (each step audited, once the audit writer runs), purges. */
	if ((rot = engine_rotation_start(e, audit,
	    (int)cfg->rotation_interval, (int)cfg->purge_interval, err)) ==
	    NULL)
		goto err4;
	memset(&rc, 0, sizeof(rc));
	rc.listen = cfg->listen;
	rc.workers = cfg->workers;
	rc.long_workers = cfg->long_workers;
	rc.long_queue = cfg->long_queue;
	rc.max_connections = cfg->max_connections;
	rc.handshake_timeout_ms = cfg->handshake_timeout * 1000;
	rc.max_streams = cfg->max_streams;
	rc.max_transport_mib = cfg->max_transport_memory;
	rc.max_connection_age_ms = cfg->max_connection_age * 1000;
	rc.max_connection_age_grace_ms = cfg->max_connection_age_grace * 1000;
	rc.engine = e;
	rc.audit = audit;
	if (tls_config(cfg, &rc, pem, err))
		goto err4;
	if ((srv = rpc_server_new(&rc, err)) == NULL)
		goto err4;
	if (rpc_server_start(srv, err))
		goto err5;
	if (aws_start(cfg, e, srv, pem, &aws, err))
		goto err5;
	server_tls_free(pem);
	if (!cfg->plaintext && (tw = server_tls_watch_start(cfg, srv, aws,
	    err)) == NULL)
		goto err6;
	if (cfg->metrics_listen != NULL) {
		if ((metrics = server_metrics_start(cfg->metrics_listen,
		    COFFER_VERSION, e, audit, err)) == NULL)
			goto err7;
		cf_log(CF_LOG_INFO, "metrics on http://%.*s:%d/metrics",
		    (int)(strrchr(cfg->metrics_listen, ':') -
		    cfg->metrics_listen), cfg->metrics_listen,
		    server_metrics_port(metrics));
	}
	if (server_rotator_endpoint(cfg, srv, e)) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		goto err5;
	}
	trim = server_trim_start();
	announce(cfg, srv);
	server_notify_ready("serving");

	/* Wait for the signal, then drain and take everything down. */
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		cf_log(CF_LOG_INFO, "SIGHUP received: reading the TLS "
		    "files again");
		server_tls_watch_kick(tw);
	}
	cf_log(CF_LOG_INFO, "%s received, draining",
	    sig == SIGTERM ? "SIGTERM" : "SIGINT");
	server_notify_stopping();
	server_metrics_stop(metrics);
	server_tls_watch_stop(tw);
	engine_cancel_rotators(e);
	awsapi_stop(aws);
	rpc_server_stop(srv);
	rpc_server_wait(srv);
	rpc_server_free(srv);
	server_trim_stop(trim);
	engine_rotation_stop(e, rot);
	audit_stop(audit);
	engine_free(e);
	hsm_free(h);

	/* Success! */
	return (0);

err7:
	server_tls_watch_stop(tw);
err6:
	awsapi_stop(aws);
err5:
	rpc_server_free(srv);
err4:
	server_tls_free(pem);
	engine_rotation_stop(e, rot);
	audit_stop(audit);
err2:
	engine_free(e);
err1:
	hsm_free(h);
err0:
	/* Failure! */
	return (-1);
}
