/*
 * threadcpu.c: how busy the server's threads were during a run.
 *
 * A serial stage shows as one thread near a whole core while the others
 * wait; on a 2-core machine with the client on the same cores the rate
 * alone cannot show it.  So coffer-bench --cpu-of PID reads the CPU time
 * of every thread of that process (/proc/PID/task/TID/stat, utime + stime,
 * fields 14 and 15 after the parenthesised name, proc(5)) before and after
 * the measured run, and reports the busiest thread's share of one core and
 * the rate that share implies as a ceiling (rate / share): the most that
 * thread could carry if it were the only limit.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* One thread's name and CPU time (clock ticks) at a snapshot. */
struct tcpu {
	long tid;
	char comm[16];
	unsigned long long ticks;
};

/* The name and utime + stime of thread ${tid} of ${pid}. */
static enum threadcpu_result
read_thread(long pid, long tid, struct tcpu *t)
{
	char path[64], buf[1024], *open_p, *close_p;
	unsigned long long utime, stime;
	size_t n, len;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat", pid, tid);
	if ((f = fopen(path, "r")) == NULL)
		return (THREADCPU_GONE);	/* it ended meanwhile */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';

	/* The name may hold spaces and ')': it ends at the last ')'. */
	if ((open_p = strchr(buf, '(')) == NULL ||
	    (close_p = strrchr(buf, ')')) == NULL || close_p < open_p)
		return (THREADCPU_UNREADABLE);
	len = (size_t)(close_p - open_p - 1);
	if (len >= sizeof(t->comm))
		len = sizeof(t->comm) - 1;
	memcpy(t->comm, open_p + 1, len);
	t->comm[len] = '\0';

	/* Fields 3 (state) to 13 skipped, then 14 utime and 15 stime. */
	if (sscanf(close_p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &utime, &stime) != 2)
		return (THREADCPU_UNREADABLE);
	t->tid = tid;
	t->ticks = utime + stime;
	return (THREADCPU_OK);
}

void
threadcpu_free(struct threadcpu_snap *s)
{

	free(s->threads);
	s->threads = NULL;
	s->n = 0;
}

enum threadcpu_result
threadcpu_snap(long pid, struct threadcpu_snap *s)
{
	char path[64];
	struct dirent *d;
	struct tcpu *more;
	size_t cap = 0;
	DIR *dir;
	char *end;
	long tid;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if ((dir = opendir(path)) == NULL)
		return (THREADCPU_GONE);
	s->at_ns = stats_now_ns();
	while ((d = readdir(dir)) != NULL) {
		errno = 0;
		tid = strtol(d->d_name, &end, 10);
		if (*end != '\0' || end == d->d_name || errno != 0)
			continue;		/* "." and ".." */
		if (s->n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((more = realloc(s->threads, cap * sizeof(*more))) ==
			    NULL) {
				closedir(dir);
				threadcpu_free(s);
				return (THREADCPU_UNREADABLE);
			}
			s->threads = more;
		}
		switch (read_thread(pid, tid, &s->threads[s->n])) {
		case THREADCPU_OK:
			s->n++;
			break;
		case THREADCPU_GONE:
			break;
		case THREADCPU_UNREADABLE:
			closedir(dir);
			threadcpu_free(s);
			return (THREADCPU_UNREADABLE);
		}
	}
	closedir(dir);
	return (THREADCPU_OK);
}

void
threadcpu_diff(const struct threadcpu_snap *a, const struct threadcpu_snap *b,
    struct threadcpu_report *out)
{
	double secs = (double)(b->at_ns - a->at_ns) / 1e9;
	double hz = (double)sysconf(_SC_CLK_TCK);
	unsigned long long d, total = 0, best = 0;
	size_t i, j;

	memset(out, 0, sizeof(*out));
	if (secs <= 0 || hz <= 0)
		return;
	for (i = 0; i < b->n; i++) {
		/* A thread born during the run counts from zero. */
		d = b->threads[i].ticks;
		for (j = 0; j < a->n; j++)
			if (a->threads[j].tid == b->threads[i].tid) {
				d -= a->threads[j].ticks;
				break;
			}
		total += d;
		if (d > best || out->busiest[0] == '\0') {
			best = d;
			snprintf(out->busiest, sizeof(out->busiest), "%s",
			    b->threads[i].comm);
		}
	}
	out->valid = 1;
	out->threads = (int)b->n;
	out->busiest_share = (double)best / hz / secs;
	out->process_share = (double)total / hz / secs;
}
