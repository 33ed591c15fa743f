/*
 * cf_log.h: cofferd's log lines on stderr (cf_log.c): text or JSON
 * (log_format), filtered by level (log_level), and warnings and errors
 * rate-limited per call site so that a dead database cannot print
 * thousands of lines a second.
 *
 * A message never holds a secret value, a password or a PIN; it may name
 * a secret, a principal or a peer (escaped by whoever wrote it), which
 * logs are for, unlike metrics labels.
 */
#ifndef COFFER_CF_LOG_H
#define COFFER_CF_LOG_H

#include "cf.h"

enum cf_log_level {
	CF_LOG_DEBUG,
	CF_LOG_INFO,
	CF_LOG_WARN,
	CF_LOG_ERROR
};

enum cf_log_format {
	CF_LOG_TEXT,			/* "cofferd: message" */
	CF_LOG_JSON			/* one JSON object per line */
};

/* The call a line is about; any member may be NULL (then left out). */
struct cf_log_call {
	const char *request_id;
	const char *operation;
	const char *principal;
	const char *outcome;
};

/*
 * cf_log_setup(format, level): how lines are written from now on, and
 * the least level written (default: text, info).
 * cf_log_level_parse(s, out) / cf_log_format_parse(s, out): the
 * configuration's words ("debug".."error"; "text", "json"); 0 or -1.
 */
void cf_log_setup(enum cf_log_format, enum cf_log_level);
int cf_log_level_parse(const char *, enum cf_log_level *) CF_MUSTCHECK;
int cf_log_format_parse(const char *, enum cf_log_format *) CF_MUSTCHECK;

/*
 * cf_log(level, fmt, ...): one line.  cf_log_call(level, call, fmt, ...):
 * one line about the call ${call}.  Warnings and errors: at most
 * CF_LOG_BURST lines a call site (its format string) every
 * CF_LOG_WINDOW_S seconds; the rest are counted and said in one line when
 * the site next speaks.  Control characters in a message become '?'.
 */
#define CF_LOG_BURST 10
#define CF_LOG_WINDOW_S 10

void cf_log(enum cf_log_level, const char *, ...) CF_PRINTF(2, 3);
void cf_log_call(enum cf_log_level, const struct cf_log_call *, const char *,
    ...) CF_PRINTF(3, 4);

#endif /* !COFFER_CF_LOG_H */
