/*
 * cf_log.c: the log lines (cf_log.h).
 *
 * JSON by jansson, which escapes whatever a message holds; a message that
 * is not UTF-8 (bytes a peer sent, escaped or not by its writer) has its
 * other bytes replaced by '?' first, so that every line parses.  Each line
 * goes out in one stdio call, under stdio's lock: lines of different
 * threads never interleave.
 */
#include "cf_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static atomic_int format = CF_LOG_TEXT;
static atomic_int least = CF_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

/* The rate limit's memory: one slot per call site (format string). */
#define SITES 256
static pthread_mutex_t sites_mu = PTHREAD_MUTEX_INITIALIZER;
static struct site {
	const char *fmt;		/* NULL: free */
	int64_t window;			/* its start, cf_mono_ms */
	unsigned said;			/* lines written in it */
	unsigned long dropped;		/* lines not written since one was */
} sites[SITES];

void
cf_log_setup(enum cf_log_format f, enum cf_log_level l)
{

	atomic_store(&format, f);
	atomic_store(&least, l);
}

int
cf_log_level_parse(const char *s, enum cf_log_level *out)
{
	int i;

	for (i = 0; i <= CF_LOG_ERROR; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum cf_log_level)i;
			return (0);
		}
	return (-1);
}

int
cf_log_format_parse(const char *s, enum cf_log_format *out)
{

	if (strcmp(s, "text") == 0)
		*out = CF_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = CF_LOG_JSON;
	else
		return (-1);
	return (0);
}

/*
 * May site ${fmt} speak now?  *dropped: how many of its lines went unsaid
 * since it last spoke (to say so now).
 */
static int
allowed(const char *fmt, unsigned long *dropped)
{
	size_t h = ((uintptr_t)fmt >> 4) % SITES, i, k;
	int64_t now = cf_mono_ms();
	struct site *s = NULL;
	int ok;

	*dropped = 0;
	pthread_mutex_lock(&sites_mu);
	for (k = 0; k < SITES; k++) {
		i = (h + k) % SITES;
		if (sites[i].fmt == fmt || sites[i].fmt == NULL) {
			s = &sites[i];
			break;
		}
	}
	if (s == NULL) {
		/* More sites than slots: speak, unlimited. */
		pthread_mutex_unlock(&sites_mu);
		return (1);
	}
	if (s->fmt == NULL || now - s->window >= CF_LOG_WINDOW_S * 1000) {
		s->fmt = fmt;
		s->window = now;
		s->said = 0;
	}
	if ((ok = s->said < CF_LOG_BURST)) {
		s->said++;
		*dropped = s->dropped;
		s->dropped = 0;
	} else
		s->dropped++;
	pthread_mutex_unlock(&sites_mu);
	return (ok);
}

/* ${s} made UTF-8: invalid bytes become '?'.  In place. */
static void
utf8_only(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n, k;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		n = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
		    (*p & 0xf8) == 0xf0 ? 4 : 0;
		for (k = 1; n != 0 && k < n; k++)
			if ((p[k] & 0xc0) != 0x80)
				n = 0;
		if (n == 0) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

static void
put_json(json_t *o, const char *key, const char *v)
{
	char *copy;

	if (v == NULL || (copy = strdup(v)) == NULL)
		return;
	utf8_only(copy);
	(void)json_object_set_new(o, key, json_string(copy));
	free(copy);
}

static void
emit(enum cf_log_level level, const struct cf_log_call *call, char *msg)
{
	char when[80], *line = NULL;
	struct timespec ts;
	struct tm tm;
	json_t *o;

	if (atomic_load(&format) == CF_LOG_TEXT) {
		if (call == NULL)
			fprintf(stderr, "cofferd: %s\n", msg);
		else
			fprintf(stderr, "cofferd: %s (request %s, %s, %s, %s)\n",
			    msg, call->request_id ? call->request_id : "-",
			    call->operation ? call->operation : "-",
			    call->principal ? call->principal : "-",
			    call->outcome ? call->outcome : "-");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if ((o = json_object()) != NULL) {
		put_json(o, "time", when);
		put_json(o, "level", level_names[level]);
		put_json(o, "message", msg);
		if (call != NULL) {
			put_json(o, "request_id", call->request_id);
			put_json(o, "operation", call->operation);
			put_json(o, "principal", call->principal);
			put_json(o, "outcome", call->outcome);
		}
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
	}
	if (line != NULL)
		fprintf(stderr, "%s\n", line);
	else	/* Out of memory: the message still gets out. */
		fprintf(stderr, "cofferd: %s\n", msg);
	free(line);
}

static void vlog(enum cf_log_level, const struct cf_log_call *,
    const char *, va_list) CF_PRINTF(3, 0);

static void
vlog(enum cf_log_level level, const struct cf_log_call *call,
    const char *fmt, va_list ap)
{
	char msg[1024], note[128], *p;
	unsigned long dropped;

	/* Only trouble repeats by the thousand; info and debug are not cut. */
	dropped = 0;
	if ((int)level < atomic_load(&least) ||
	    (level >= CF_LOG_WARN && !allowed(fmt, &dropped)))
		return;
	if (dropped > 0) {
		snprintf(note, sizeof(note), "%lu more lines like the next "
		    "were not written (at most %d every %d s)", dropped,
		    CF_LOG_BURST, CF_LOG_WINDOW_S);
		emit(CF_LOG_WARN, NULL, note);
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/*
	 * A message ends its line: a newline inside would forge another, and
	 * other control characters (a peer's bytes) have no business in a
	 * terminal either.
	 */
	msg[strcspn(msg, "\n")] = '\0';
	for (p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	emit(level, call, msg);
}

void
cf_log(enum cf_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void
cf_log_call(enum cf_log_level level, const struct cf_log_call *call,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, call, fmt, ap);
	va_end(ap);
}
