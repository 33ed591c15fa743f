/*
 * store_listen.c: a connection of its own that LISTENs on one channel, so
 * that a server hears another's NOTIFY (identity policies changed:
 * engine/authz.c) without polling the table.
 *
 * It is not a struct store: it runs no statements after LISTEN, prepares
 * nothing and is never in a transaction; its owner polls it from a thread
 * of its own and starts over with a new one when the connection is lost.
 */
#include "store_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_listener {
	PGconn *conn;
};

struct store_listener *
store_listen(const char *conninfo, const char *channel, struct cf_error *err)
{
	struct store_listener *l;
	PGresult *r;
	char *id, sql[128];

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
		return (NULL);
	}
	l->conn = PQconnectdb(conninfo);
	store_quiet_notices(l->conn);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "cannot connect to "
		    "PostgreSQL to listen: %s", PQerrorMessage(l->conn));
		goto fail;
	}
	if ((id = PQescapeIdentifier(l->conn, channel, strlen(channel))) ==
	    NULL) {
		cf_error_set(err, CF_ERR_INTERNAL, "bad channel name");
		goto fail;
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", id);
	PQfreemem(id);
	r = PQexec(l->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		cf_error_set(err, CF_ERR_UNAVAILABLE, "LISTEN failed: %s",
		    PQerrorMessage(l->conn));
		PQclear(r);
		goto fail;
	}
	PQclear(r);
	return (l);

fail:
	store_listener_free(l);
	return (NULL);
}

enum store_listen_wait
store_listener_wait(struct store_listener *l, int timeout_ms)
{
	struct pollfd pfd;
	PGnotify *n;
	enum store_listen_wait got = STORE_LISTEN_TIMEOUT;

	if (PQstatus(l->conn) != CONNECTION_OK)
		return (STORE_LISTEN_LOST);
	pfd.fd = PQsocket(l->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return (STORE_LISTEN_LOST);
	if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
		return (STORE_LISTEN_LOST);
	if (pfd.revents != 0 && !PQconsumeInput(l->conn))
		return (STORE_LISTEN_LOST);
	while ((n = PQnotifies(l->conn)) != NULL) {
		got = STORE_LISTEN_NOTIFIED;
		PQfreemem(n);
	}
	if (PQstatus(l->conn) != CONNECTION_OK)
		return (STORE_LISTEN_LOST);
	return (got);
}

void
store_listener_free(struct store_listener *l)
{

	if (l == NULL)
		return;
	PQfinish(l->conn);
	free(l);
}
