/*
 * accept_guard.c: keep cofferd accepting connections when descriptors run
 * out, and cap how many it holds.
 *
 * gRPC's core (1.51, iomgr's tcp_server_posix.cc) treats every accept4()
 * error but EINTR, EAGAIN and ECONNABORTED as the end of that listener:
 * after one EMFILE it never polls the listening socket again, so cofferd
 * stopped accepting for the rest of its life while old connections kept
 * working.  gRPC reaches accept4() through the PLT, and a symbol defined in
 * the executable comes first in the dynamic linker's lookup, so cofferd
 * defines accept4() here (rpc_accept_guard_init() pulls this file into the
 * link).  It:
 *
 *  - on EMFILE or ENFILE, gives back a reserve descriptor, accepts and
 *    closes every connection waiting in the backlog (the clients see a
 *    closed connection and retry later, as with nginx's and libev's
 *    reserve), takes the reserve back, and answers EAGAIN, which gRPC reads
 *    as "nothing to accept now" and keeps listening;
 *  - closes a new connection at once when the descriptor it got is at or
 *    above the cap: descriptors are allocated lowest first, so a number N
 *    means at least N are open.  The cap is max_connections above the
 *    descriptors cofferd had open before it served (the database
 *    connections, the token, the log), and never within RESERVE_FDS of
 *    the open-file limit, so the database and the token always find one.
 *
 * Shedding is logged at most once a second, with a count.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rpc_internal.h"
#include "cf_log.h"

/* Descriptors always left for PostgreSQL reconnects and the token. */
#define RESERVE_FDS 32

static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static int reserve_fd = -1;		/* held open; freed to shed */
static long fd_cap = -1;		/* shed a connection at fd >= this */
static unsigned long shed_count;	/* since the last log line */
static int64_t shed_logged_ms;

/* Log the shed connections, at most once a second.  Holds guard_mu. */
static void
shed_note(unsigned long n, const char *why)
{
	int64_t now = cf_mono_ms();

	shed_count += n;
	if (shed_count == 0 || now - shed_logged_ms < 1000)
		return;
	cf_log(CF_LOG_WARN, "shed %lu connection(s): %s", shed_count,
	    why);
	shed_count = 0;
	shed_logged_ms = now;
}

static int
real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{

	return ((int)syscall(SYS_accept4, fd, addr, len, flags));
}

/* Accept and close everything waiting on ${fd}; returns how many. */
static unsigned long
drain(int fd)
{
	unsigned long n = 0;
	int c;

	while ((c = real_accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		(void)close(c);
		n++;
	}
	return (n);
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int c, saved;

	c = real_accept4(fd, addr, len, flags);
	if (c >= 0) {
		/* Over the cap: close it now, before gRPC spends on it. */
		if (fd_cap > 0 && c >= fd_cap) {
			(void)close(c);
			pthread_mutex_lock(&guard_mu);
			shed_note(1, "at max_connections");
			pthread_mutex_unlock(&guard_mu);
			errno = EAGAIN;
			return (-1);
		}
		return (c);
	}
	if (errno != EMFILE && errno != ENFILE)
		return (-1);

	/*
	 * Out of descriptors: shed the backlog with the reserve's slot, so
	 * the listener is not left readable forever, then take it back.
	 */
	saved = errno;
	pthread_mutex_lock(&guard_mu);
	if (reserve_fd >= 0) {
		(void)close(reserve_fd);
		reserve_fd = -1;
		shed_note(drain(fd), saved == EMFILE ? "out of descriptors "
		    "(EMFILE)" : "the system is out of descriptors (ENFILE)");
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	} else
		shed_note(0, "out of descriptors, no reserve");
	pthread_mutex_unlock(&guard_mu);
	errno = EAGAIN;
	return (-1);
}

int
rpc_accept_guard_init(unsigned max_connections, struct cf_error *err)
{
	struct rlimit rl;
	long base, cap;

	/* As many descriptors as we are allowed: the soft limit to the hard. */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		cf_error_set(err, CF_ERR_INTERNAL, "getrlimit: %s",
		    strerror(errno));
		return (-1);
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}

	pthread_mutex_lock(&guard_mu);
	if (reserve_fd < 0 &&
	    (reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		pthread_mutex_unlock(&guard_mu);
		cf_error_set(err, CF_ERR_INTERNAL, "could not open a reserve "
		    "descriptor: %s", strerror(errno));
		return (-1);
	}

	/* The lowest free descriptor now: what cofferd holds for itself. */
	base = reserve_fd + 1;
	cap = rl.rlim_cur == RLIM_INFINITY ? (long)1 << 30 :
	    (long)rl.rlim_cur - RESERVE_FDS;
	if (max_connections > 0 && base + (long)max_connections < cap)
		cap = base + (long)max_connections;
	fd_cap = cap > base ? cap : base + 1;
	pthread_mutex_unlock(&guard_mu);

	/* Success! */
	return (0);
}

long
rpc_accept_guard_cap(void)
{

	return (fd_cap);
}
