/*
 * metrics.c: GET /metrics on metrics_listen, Prometheus's text format
 * (issue 17; the metrics are documented in the README).
 *
 * Plain HTTP from libmicrohttpd (already linked for aws_listen), one
 * thread: a scrape every few seconds reads counters the modules keep
 * anyway, so serving it costs the calls nothing.  The exposition holds
 * no secret name, principal or value (label values come from fixed sets:
 * rpc/metrics.c), so it needs no TLS; bind it where only the monitoring
 * reaches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "audit.h"
#include "cf_metrics.h"
#include "engine.h"
#include "rpc.h"
#include "server_internal.h"

struct server_metrics {
	struct MHD_Daemon *mhd;
	struct engine *engine;
	struct audit *audit;		/* NULL: audit = off */
	const char *version;
	int port;
};

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
    const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if ((r = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(body);
		return (MHD_NO);
	}
	(void)MHD_add_response_header(r, "Content-Type", type);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return (rc);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **state)
{
	struct server_metrics *m = cls;
	struct cf_prom out = { NULL, 0, 0, 0 };
	char labels[96];

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return (reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    strdup("GET /metrics\n"), 13, "text/plain"));
	if (strcmp(url, "/metrics") != 0)
		return (reply(c, MHD_HTTP_NOT_FOUND, strdup("GET /metrics\n"),
		    13, "text/plain"));

	cf_prom_family(&out, "coffer_build_info", "gauge", "Always 1; the "
	    "version of cofferd that serves.");
	snprintf(labels, sizeof(labels), "version=\"%s\"", m->version);
	cf_prom_value(&out, "coffer_build_info", labels, 1);
	rpc_metrics_write(&out);
	if (m->audit != NULL)
		audit_metrics_write(m->audit, &out);
	engine_metrics_write(m->engine, &out);
	if (out.oom) {
		cf_prom_free(&out);
		return (reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    strdup("out of memory\n"), 14, "text/plain"));
	}
	/* The buffer goes to libmicrohttpd, which frees it. */
	return (reply(c, MHD_HTTP_OK, out.p, out.len,
	    "text/plain; version=0.0.4; charset=utf-8"));
}

struct server_metrics *
server_metrics_start(const char *listen, const char *version,
    struct engine *e, struct audit *audit, struct cf_error *err)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	struct server_metrics *m;

	if (cf_listen_address(listen, "metrics_listen", &ss, err))
		return (NULL);
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	m->engine = e;
	m->audit = audit;
	m->version = version;
	m->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL, 0, NULL, NULL, handler, m,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, 64,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10,
	    MHD_OPTION_END);
	if (m->mhd == NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "could not serve "
		    "metrics_listen %s (address in use?)", listen);
		free(m);
		return (NULL);
	}
	di = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = di != NULL ? (int)di->port : 0;
	return (m);
}

int
server_metrics_port(const struct server_metrics *m)
{

	return (m->port);
}

void
server_metrics_stop(struct server_metrics *m)
{

	if (m == NULL)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}
