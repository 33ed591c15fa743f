/*
 * pganalyze.c: ANALYZE the tables the measured calls read, after seeding.
 *
 * coffer-bench seeds its secrets seconds before it measures.  Without
 * statistics on tables just filled (autovacuum has not come round yet) the
 * planner may pick plans that a real database, analyzed long ago, would
 * not: one page of ListSecrets went from 8.6 ms to 3.9 ms after VACUUM
 * ANALYZE on a fresh database (docs/performance.md).  So once the seeding
 * is done and before the window opens, the tables GetSecretValue,
 * DescribeSecret, ListSecrets, BatchGetSecretValue and the writes read --
 * secrets, secret_versions, version_stages, tags -- are analyzed, on a
 * connection of its own that is closed before the window.
 *
 * ANALYZE of a table the role does not own is skipped with a WARNING and
 * still succeeds; that is a failure here, so a --database whose role may
 * not analyze is said, not silently measured without statistics.
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "bench.h"

#define ANALYZE_SQL "ANALYZE secrets, secret_versions, version_stages, tags"

/* Keep the first WARNING the server sends (a skipped table). */
static void
notice(void *arg, const PGresult *res)
{
	char *first = arg;
	const char *sev, *msg;

	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (first[0] != '\0' || sev == NULL || msg == NULL ||
	    strcmp(sev, "WARNING") != 0)
		return;
	snprintf(first, 200, "%s", msg);
}

/*
 * pganalyze_run(conninfo, err):
 * ANALYZE the tables the measured calls read in the database ${conninfo}
 * names.  Returns 0, or -1 with ${err} set (no connection, the statement
 * failed, or a table was skipped).
 */
int
pganalyze_run(const char *conninfo, struct cf_error *err)
{
	char warning[200] = "";
	PGconn *conn;
	PGresult *res;
	const char *msg;
	int rc = -1;

	/* A connection of its own. */
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		msg = PQerrorMessage(conn);
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not connect to the "
		    "database: %.*s", (int)strcspn(msg, "\n"), msg);
		goto out;
	}
	PQsetNoticeReceiver(conn, notice, warning);

	/* The statement; a skipped table is a failure too. */
	res = PQexec(conn, ANALYZE_SQL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		msg = PQresultErrorMessage(res);
		cf_error_set(err, CF_ERR_UNAVAILABLE, "could not analyze: %.*s",
		    (int)strcspn(msg, "\n"), msg);
	} else if (warning[0] != '\0')
		cf_error_set(err, CF_ERR_ACCESS_DENIED, "could not analyze: %s",
		    warning);
	else
		rc = 0;
	PQclear(res);

out:
	PQfinish(conn);
	return (rc);
}
