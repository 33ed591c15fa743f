/*
 * notify.c: tell the service manager where cofferd is, with libsystemd's
 * sd_notify(3): READY=1 once it serves (the gRPC listener and, when
 * configured, the AWS listener both accepting), STOPPING=1 when it starts
 * to drain.  The unit (etc/systemd/cofferd.service) is Type=notify, so
 * that units ordered after cofferd start only once it answers.
 *
 * Without NOTIFY_SOCKET in the environment (not started by systemd, or by
 * a unit of another Type) sd_notify does nothing, and neither does this
 * file.  Failing to notify is reported once on stderr and never stops the
 * server: systemd, waiting for READY=1, times the start out by itself.
 * The only file of cofferd that includes libsystemd's headers.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "server_internal.h"
#include "cf_log.h"

static atomic_flag notify_warned = ATOMIC_FLAG_INIT;

/* Send ${state} (newline-separated assignments); warn once on failure. */
static void
notify(const char *state)
{
	int rc;

	/* 0: no NOTIFY_SOCKET, nothing to do; > 0: sent. */
	if ((rc = sd_notify(0, state)) >= 0)
		return;
	if (!atomic_flag_test_and_set(&notify_warned))
		cf_log(CF_LOG_WARN, "warning: could not notify the "
		    "service manager: %s", strerror(-rc));
}

void
server_notify_ready(const char *status)
{
	char state[256];

	/* READY=1 first: STATUS= is only what systemctl status shows. */
	(void)snprintf(state, sizeof(state), "READY=1\nSTATUS=%s", status);
	notify(state);
}

void
server_notify_stopping(void)
{

	notify("STOPPING=1\nSTATUS=draining");
}
