/*
 * schedule.h: RotationRules, parsed and checked, and the rotation windows
 * they define.  Pure logic: no I/O, no allocation, no globals, UTC only.
 *
 * Input (RotationRulesType): AutomaticallyAfterDays (1-1000), or a
 * ScheduleExpression (rate() or cron()), but not both; and an optional
 * Duration ("<N>h", 1h-24h), the length of each rotation window.
 *
 * The schedules and their windows (all times UTC, in epoch milliseconds):
 *
 * - AutomaticallyAfterDays=N, and rate(N days) (N 1-999; "rate(1 day)"):
 *   windows open at 00:00 of the day N, 2N, 3N ... days after the UTC day of
 *   the last rotation (or creation), whatever its time of day.  A window
 *   lasts the whole UTC day, or Duration from 00:00 when one is given.
 *
 * - rate(N hours) (N 4-23976, i.e. at most 999 days; "rate(1 hour)" parses
 *   but is refused like any N < 4): windows open N, 2N, 3N ... hours after
 *   the last rotation itself (not rounded to the hour).  A window lasts one
 *   hour, or Duration, which must be at most N hours.  Such a window may
 *   cross midnight.
 *
 * - cron(Minutes Hours Day-of-month Month Day-of-week Year), the
 *   EventBridge format: a window opens at every matching minute.  Fields:
 *   Minutes 0-59, Hours 0-23, Day-of-month 1-31, Month 1-12 or JAN-DEC,
 *   Day-of-week 1-7 or SUN-SAT (1 = SUN), Year 1970-2199.  Every field takes
 *   "*", a value, a range "a-b", a step "a/n", "a-b/n" or "*\/n" (n from 1 to
 *   the field's span), and comma-separated lists of these; ranges must not
 *   run backwards.  Exactly one of Day-of-month and Day-of-week is "?".
 *   Day-of-month alone may instead be "L" (last day of the month), "LW"
 *   (last weekday of the month) or "NW" (the weekday nearest day N, within
 *   the month; no window in a month shorter than N days).  Day-of-week
 *   alone may instead be "L" (SAT), "xL" (the last weekday x of the month,
 *   "5L" or "FRIL") or "x#k" (the k-th weekday x of the month, k 1-5, "2#3"
 *   or "MON#3").  Names are case-insensitive; "cron", "rate", the units and
 *   the letters L and W are lower/upper case as written here.  Fields are
 *   separated by spaces; spaces just inside the parentheses are ignored.
 *   Minutes must be a single value, and the hours at most 6 values at least
 *   4 hours apart, counting the gap across midnight, so that no two windows
 *   open less than 4 hours apart.  An expression that matches no minute in
 *   1970-2199 is refused.  A cron with two or more hours is "hourly": its
 *   window lasts one hour, or Duration, which must be at most the smallest
 *   gap between its hours.  A cron with a single hour is "daily": its window
 *   runs to the end of the UTC day, or lasts Duration, which must end by
 *   24:00 of the day it starts.
 *
 * Errors: ValidationException for the service model's constraints
 * (ScheduleExpression 1-256 characters of [0-9A-Za-z()#?*\-/, ], Duration
 * 2-3 characters of [0-9h]), InvalidParameterException for everything else.
 */
#ifndef COFFER_SCHEDULE_H
#define COFFER_SCHEDULE_H

#include <stdint.h>

#include "cf.h"

/* The latest time the functions below deal in: 9999-12-31T23:59:59.999Z. */
#define SCHEDULE_MAX_MS INT64_C(253402300799999)

enum schedule_kind {
	SCHEDULE_DAYS = 1,		/* AutomaticallyAfterDays, rate(N days) */
	SCHEDULE_HOURS,			/* rate(N hours) */
	SCHEDULE_CRON			/* cron(...) */
};

/* A parsed cron(); bit v of a set stands for the value v. */
struct schedule_cron {
	uint64_t minutes;		/* 0-59 */
	uint32_t hours;			/* 0-23 */
	uint32_t mdays;			/* 1-31, when dom_mode is SCHEDULE_DOM_SET */
	uint16_t months;		/* 1-12 */
	uint8_t wdays;			/* 1-7, when dow_mode is SCHEDULE_DOW_SET */
	uint64_t years[4];		/* bit y - 1970 */
	enum {
		SCHEDULE_DOM_ANY = 1,	/* "?" */
		SCHEDULE_DOM_SET,	/* mdays */
		SCHEDULE_DOM_LAST,	/* "L" */
		SCHEDULE_DOM_LAST_WEEKDAY, /* "LW" */
		SCHEDULE_DOM_NEAREST_WEEKDAY /* "NW": dom_day */
	} dom_mode;
	enum {
		SCHEDULE_DOW_ANY = 1,	/* "?" */
		SCHEDULE_DOW_SET,	/* wdays */
		SCHEDULE_DOW_LAST,	/* "xL": dow_day */
		SCHEDULE_DOW_NTH	/* "x#k": dow_day, dow_nth */
	} dow_mode;
	int dom_day;
	int dow_day;
	int dow_nth;
};

/*
 * RotationRules in parsed form, filled by schedule_parse(); the caller owns
 * the memory (no heap).  Read it through the functions below.
 */
struct schedule {
	enum schedule_kind kind;
	int64_t every;			/* N days or hours; cron: least gap (h) */
	int hourly;			/* default window: 1 h, else to 24:00 */
	int64_t duration_ms;		/* Duration, or 0 for the default */
	struct schedule_cron cron;	/* SCHEDULE_CRON */
};

/*
 * schedule_parse(has_days, days, expr, duration, out, err):
 * Check RotationRules: AutomaticallyAfterDays ${days} if ${has_days}, the
 * ScheduleExpression ${expr} and the Duration ${duration} (each NULL when
 * absent), and fill ${out}.  Returns 0, or -1 with ${err} set
 * (CF_ERR_VALIDATION or CF_ERR_INVALID_PARAMETER, the message naming the
 * member and, for a cron(), the field) and ${out} unspecified.
 */
int schedule_parse(int, int64_t, const char *, const char *,
    struct schedule *, struct cf_error *) CF_MUSTCHECK;

/*
 * schedule_next_window(s, last_ms, after_ms):
 * The start of the first rotation window of ${s} that opens strictly after
 * ${after_ms}, for a secret last rotated (or created, or given a new value)
 * at ${last_ms}.  AutomaticallyAfterDays and rate() windows count from
 * ${last_ms} (see above): with ${after_ms} <= ${last_ms} this is the first
 * one after the last rotation, e.g. 00:00 of the day of ${last_ms} + N days.
 * A cron() window is the first matching minute after the later of the two
 * times.  Returns -1 if there is none (the cron() years are exhausted, or it
 * would be after SCHEDULE_MAX_MS), or if either time is outside
 * [0, SCHEDULE_MAX_MS].
 */
int64_t schedule_next_window(const struct schedule *, int64_t, int64_t);

/*
 * schedule_window_ms(s, start_ms):
 * The length in milliseconds of the rotation window of ${s} opening at
 * ${start_ms}: Duration if one was given, else one hour for rate(N hours)
 * and hourly cron(), else the time from ${start_ms} to the end of its UTC
 * day.
 */
int64_t schedule_window_ms(const struct schedule *, int64_t);

#endif /* !COFFER_SCHEDULE_H */
