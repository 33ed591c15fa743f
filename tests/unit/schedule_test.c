/*
 * schedule_test.c: RotationRules parsing (AWS's exception for each bad
 * input) and rotation windows, table-driven.  Expected times are written
 * by hand as ISO dates; iso() turns them into epoch milliseconds by counting
 * days year by year, independently of the code under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schedule.h"

#define H (60 * 60 * 1000LL)
#define MIN (60 * 1000LL)
#define DAYLEN (24 * 60)		/* minutes in a day */

/* Is ${y} a leap year? */
static int
leap(int y)
{

	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

/*
 * "YYYY-MM-DDTHH:MM" or "YYYY-MM-DDTHH:MM:SS" (UTC) in epoch milliseconds,
 * by adding up the lengths of the years and months since 1970; NULL is -1.
 */
static int64_t
iso(const char *s)
{
	static const int mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int y, mo, d, h, mi, sec = 0, i;
	int64_t days = 0;

	if (s == NULL)
		return (-1);
	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec) < 5)
		fail_msg("bad date in the test table: %s", s);
	for (i = 1970; i < y; i++)
		days += leap(i) ? 366 : 365;
	for (i = 1; i < mo; i++)
		days += mdays[i - 1] + (i == 2 && leap(y));
	days += d - 1;
	return (((days * 24 + h) * 60 + mi) * MIN + sec * 1000LL);
}

/* iso() itself, against epoch values known by other means (date -u +%s). */
static void
test_iso(void **state)
{

	(void)state;
	assert_int_equal(iso("1970-01-01T00:00"), 0);
	assert_int_equal(iso("2000-01-01T00:00"), 946684800000LL);
	assert_int_equal(iso("2024-01-01T00:00"), 1704067200000LL);
	assert_int_equal(iso("2028-02-29T00:00"), 1835395200000LL);
	assert_int_equal(iso("2028-02-29T00:00:01"), 1835395201000LL);
}

/* A string of ${n} copies of ${c} (n < 300). */
static const char *
repeat(char c, size_t n)
{
	static char buf[300];

	memset(buf, c, n);
	buf[n] = '\0';
	return (buf);
}

#define AAD(n) 1, (n)
#define NOAAD 0, 0
#define IP CF_ERR_INVALID_PARAMETER
#define VAL CF_ERR_VALIDATION

struct parse_case {
	int has_days;
	int64_t days;
	const char *expr;
	const char *duration;
	enum cf_code want;
	const char *msg;		/* a part of the message, or NULL */
};

static const struct parse_case parse_cases[] = {
	/* AutomaticallyAfterDays. */
	{ AAD(1), NULL, NULL, CF_OK, NULL },
	{ AAD(30), NULL, NULL, CF_OK, NULL },
	{ AAD(1000), NULL, NULL, CF_OK, NULL },
	{ AAD(0), NULL, NULL, IP, "AutomaticallyAfterDays" },
	{ AAD(1001), NULL, NULL, IP, "AutomaticallyAfterDays" },
	{ AAD(-5), NULL, NULL, IP, "AutomaticallyAfterDays" },
	{ AAD(30), "rate(10 days)", NULL, IP, "You cannot specify both "
	    "rotation frequency and schedule expression together." },
	{ AAD(30), "cron(0 12 * * ? *)", "2h", IP, "You cannot specify both" },
	{ NOAAD, NULL, NULL, IP, "AutomaticallyAfterDays or "
	    "ScheduleExpression" },
	{ NOAAD, NULL, "2h", IP, "AutomaticallyAfterDays or "
	    "ScheduleExpression" },
	/* The model's constraints come first. */
	{ AAD(30), "rate(10 days)!", NULL, VAL, "scheduleExpression" },
	{ AAD(0), NULL, "2", VAL, "rotationRules.duration" },

	/* rate(). */
	{ NOAAD, "rate(4 hours)", NULL, CF_OK, NULL },
	{ NOAAD, "rate(23 hours)", NULL, CF_OK, NULL },
	{ NOAAD, "rate(48 hours)", NULL, CF_OK, NULL },
	{ NOAAD, "rate(1 day)", NULL, CF_OK, NULL },
	{ NOAAD, "rate(1 days)", NULL, CF_OK, NULL },
	{ NOAAD, "rate(10 days)", NULL, CF_OK, NULL },
	{ NOAAD, "rate(999 days)", NULL, CF_OK, NULL },
	{ NOAAD, "rate( 7  days )", NULL, CF_OK, NULL },
	{ NOAAD, "rate(1 hour)", NULL, IP, "every 4 hours" },
	{ NOAAD, "rate(3 hours)", NULL, IP, "every 4 hours" },
	{ NOAAD, "rate(2 day)", NULL, IP, "rate(N hours) or rate(N days)" },
	{ NOAAD, "rate(4 hour)", NULL, IP, "rate(N hours) or rate(N days)" },
	{ NOAAD, "rate(1000 days)", NULL, IP, "999 days" },
	{ NOAAD, "rate(23977 hours)", NULL, IP, "999 days" },
	{ NOAAD, "rate(0 days)", NULL, IP, "positive" },
	{ NOAAD, "rate(10 weeks)", NULL, IP, "rate()" },
	{ NOAAD, "rate(10days)", NULL, IP, "rate()" },
	{ NOAAD, "rate(-1 days)", NULL, IP, "rate()" },
	{ NOAAD, "rate(days)", NULL, IP, "rate()" },
	{ NOAAD, "rate(10 days", NULL, IP, "rate(...) or cron(...)" },
	{ NOAAD, "every 10 days", NULL, IP, "rate(...) or cron(...)" },
	{ NOAAD, "Rate(10 days)", NULL, IP, "rate(...) or cron(...)" },

	/* The model: 1-256 characters of [0-9A-Za-z()#?*-/, ]. */
	{ NOAAD, "", NULL, VAL, "greater than or equal to 1" },
	{ NOAAD, "rate(10 days);", NULL, VAL, "regular expression" },
	{ NOAAD, "cron(0 12 * * ? *)\n", NULL, VAL, "regular expression" },
	{ NOAAD, "cron(0 12 * * ? *)\xc3\xa9", NULL, VAL, "regular expression" },

	/* cron(): valid ones. */
	{ NOAAD, "cron(0 12 * * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 0 ? * MON-FRI *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 4/12 * * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 0/4 * * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 */6 * * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 2,14 * * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(59 23 L * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 LW * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 15W * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 ? * 5L *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 ? * FRIL *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 ? * 2#3 *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 0 ? * SUN#1 *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 ? * L *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 1 jan,Jul ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 ? JUL WED *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 1 JAN-DEC/3 ? 2025-2030)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 8 1/7 * ? *)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 * * ? 2025)", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 12 * * ? 1970,2199)", NULL, CF_OK, NULL },
	{ NOAAD, "cron( 0  12 * * ? * )", NULL, CF_OK, NULL },
	{ NOAAD, "cron(0 0 29 2 ? *)", NULL, CF_OK, NULL },

	/* cron(): not more often than every 4 hours. */
	{ NOAAD, "cron(0 0/3 * * ? *)", NULL, IP, "Hours field" },
	{ NOAAD, "cron(0 * * * ? *)", NULL, IP, "Hours field" },
	{ NOAAD, "cron(0 1,23 * * ? *)", NULL, IP, "Hours field" },
	{ NOAAD, "cron(0 0,4,8,12,16,21 * * ? *)", NULL, IP, "Hours field" },
	{ NOAAD, "cron(0 10,12 * * ? *)", NULL, IP, "Hours field" },
	{ NOAAD, "cron(* 12 * * ? *)", NULL, IP, "Minutes field" },
	{ NOAAD, "cron(0,30 12 * * ? *)", NULL, IP, "Minutes field" },
	{ NOAAD, "cron(0/20 12 * * ? *)", NULL, IP, "Minutes field" },

	/* cron(): malformed. */
	{ NOAAD, "cron(0 12 * * * *)", NULL, IP, "\"?\"" },
	{ NOAAD, "cron(0 12 ? * ? *)", NULL, IP, "\"?\"" },
	{ NOAAD, "cron(0 12 1 * MON *)", NULL, IP, "\"?\"" },
	{ NOAAD, "cron(60 12 * * ? *)", NULL, IP, "Minutes field" },
	{ NOAAD, "cron(0 24 * * ? *)", NULL, IP, "Hours field" },
	{ NOAAD, "cron(0 12 0 * ? *)", NULL, IP, "Day-of-month field" },
	{ NOAAD, "cron(0 12 32 * ? *)", NULL, IP, "Day-of-month field" },
	{ NOAAD, "cron(0 12 * 13 ? *)", NULL, IP, "Month field" },
	{ NOAAD, "cron(0 12 1 FOO ? *)", NULL, IP, "Month field" },
	{ NOAAD, "cron(0 12 ? * 8 *)", NULL, IP, "Day-of-week field" },
	{ NOAAD, "cron(0 12 ? * 0 *)", NULL, IP, "Day-of-week field" },
	{ NOAAD, "cron(0 12 * * ? 1969)", NULL, IP, "Year field" },
	{ NOAAD, "cron(0 12 * * ? 2200)", NULL, IP, "Year field" },
	{ NOAAD, "cron(0 12 * * ?)", NULL, IP, "6 fields" },
	{ NOAAD, "cron(0 12 * * ? * *)", NULL, IP, "6 fields" },
	{ NOAAD, "cron()", NULL, IP, "6 fields" },
	{ NOAAD, "cron(0 12 L-2 * ? *)", NULL, IP, "Day-of-month field" },
	{ NOAAD, "cron(0 12 15W,20 * ? *)", NULL, IP, "Day-of-month field" },
	{ NOAAD, "cron(0 12 ? * 5L,1 *)", NULL, IP, "Day-of-week field" },
	{ NOAAD, "cron(0 12 ? * 2#6 *)", NULL, IP, "Day-of-week field" },
	{ NOAAD, "cron(0 12 ? * 2#3,4 *)", NULL, IP, "Day-of-week field" },
	{ NOAAD, "cron(0 12 2#3 * ? *)", NULL, IP, "Day-of-month field" },
	{ NOAAD, "cron(0 12 ? * 15W *)", NULL, IP, "Day-of-week field" },
	{ NOAAD, "cron(0 L * * ? *)", NULL, IP, "Hours field" },
	{ NOAAD, "cron(0 12 20-10 * ? *)", NULL, IP, "runs backwards" },
	{ NOAAD, "cron(0 12 1/0 * ? *)", NULL, IP, "increment" },
	{ NOAAD, "cron(0 12 1/ * ? *)", NULL, IP, "increment" },
	{ NOAAD, "cron(0 12 1,,2 * ? *)", NULL, IP, "Day-of-month field" },
	{ NOAAD, "cron(0 12 30 2 ? *)", NULL, IP, "matches no date" },
	{ NOAAD, "CRON(0 12 * * ? *)", NULL, IP, "rate(...) or cron(...)" },
	{ NOAAD, "cron(0 12 * * ? *) ", NULL, IP, "rate(...) or cron(...)" },

	/* Duration: the model (2-3 of [0-9h]), then 1h-24h. */
	{ AAD(7), NULL, "1h", CF_OK, NULL },
	{ AAD(7), NULL, "24h", CF_OK, NULL },
	{ AAD(7), NULL, "05h", CF_OK, NULL },
	{ AAD(7), NULL, "", VAL, "greater than or equal to 2" },
	{ AAD(7), NULL, "h", VAL, "greater than or equal to 2" },
	{ AAD(7), NULL, "1000h", VAL, "less than or equal to 3" },
	{ AAD(7), NULL, "3x", VAL, "regular expression pattern: [0-9h]+" },
	{ AAD(7), NULL, "0h", IP, "Duration" },
	{ AAD(7), NULL, "25h", IP, "Duration" },
	{ AAD(7), NULL, "100", IP, "Duration" },
	{ AAD(7), NULL, "h3", IP, "Duration" },
	{ AAD(7), NULL, "1hh", IP, "Duration" },
	/* Duration: not into the next window. */
	{ NOAAD, "rate(4 hours)", "4h", CF_OK, NULL },
	{ NOAAD, "rate(4 hours)", "5h", IP, "next rotation window" },
	{ NOAAD, "rate(12 hours)", "12h", CF_OK, NULL },
	{ NOAAD, "rate(48 hours)", "24h", CF_OK, NULL },
	{ NOAAD, "cron(0 4/12 * * ? *)", "12h", CF_OK, NULL },
	{ NOAAD, "cron(0 4/12 * * ? *)", "13h", IP, "next rotation window" },
	{ NOAAD, "cron(0 0,16 * * ? *)", "8h", CF_OK, NULL },
	{ NOAAD, "cron(0 0,16 * * ? *)", "9h", IP, "next rotation window" },
	/* Duration: not into the next UTC day. */
	{ NOAAD, "rate(1 day)", "24h", CF_OK, NULL },
	{ NOAAD, "cron(0 0 * * ? *)", "24h", CF_OK, NULL },
	{ NOAAD, "cron(0 22 * * ? *)", "2h", CF_OK, NULL },
	{ NOAAD, "cron(0 22 * * ? *)", "3h", IP, "next UTC day" },
	{ NOAAD, "cron(30 21 * * ? *)", "2h", CF_OK, NULL },
	{ NOAAD, "cron(30 21 * * ? *)", "3h", IP, "next UTC day" },
	{ NOAAD, "cron(1 0 * * ? *)", "24h", IP, "next UTC day" },
};

/* Every row of parse_cases: the result, the exception and its message. */
static void
test_parse(void **state)
{
	struct schedule s;
	struct cf_error err;
	const struct parse_case *c;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		c = &parse_cases[i];
		cf_error_clear(&err);
		rc = schedule_parse(c->has_days, c->days, c->expr, c->duration,
		    &s, &err);
		if (rc != (c->want == CF_OK ? 0 : -1) || err.code != c->want ||
		    (c->msg != NULL && strstr(err.msg, c->msg) == NULL))
			fail_msg("row %zu (%s, %s): got %d %s \"%s\", want %s "
			    "\"%s\"", i, c->expr != NULL ? c->expr : "-",
			    c->duration != NULL ? c->duration : "-", rc,
			    cf_code_name(err.code), err.msg,
			    cf_code_name(c->want), c->msg != NULL ? c->msg : "");
	}
}

/* ScheduleExpression lengths at and around the model's bounds. */
static void
test_lengths(void **state)
{
	char expr[400];
	struct schedule s;
	struct cf_error err;

	(void)state;
	/* 256 characters: a cron() padded with spaces is fine. */
	snprintf(expr, sizeof(expr), "cron(0 12 * * ? *%s)", repeat(' ', 238));
	assert_int_equal(strlen(expr), 256);
	assert_int_equal(schedule_parse(0, 0, expr, NULL, &s, &err), 0);
	/* 257 is one too many. */
	snprintf(expr, sizeof(expr), "cron(0 12 * * ? *%s)", repeat(' ', 239));
	assert_int_equal(schedule_parse(0, 0, expr, NULL, &s, &err), -1);
	assert_int_equal(err.code, CF_ERR_VALIDATION);
	assert_non_null(strstr(err.msg, "less than or equal to 256"));
	/* A NULL error is allowed. */
	assert_int_equal(schedule_parse(0, 0, "rate(1 hour)", NULL, &s, NULL),
	    -1);
}

struct window_case {
	int has_days;
	int64_t days;
	const char *expr;
	const char *duration;
	const char *last;
	const char *after;		/* NULL: the same as last */
	const char *want;		/* NULL: none (-1) */
	int64_t want_min;		/* the window's length in minutes */
};

static const struct window_case window_cases[] = {
	/* AutomaticallyAfterDays: 00:00 of the day N days on, all day. */
	{ AAD(30), NULL, NULL, "2024-01-15T13:45", NULL,
	    "2024-02-14T00:00", DAYLEN },
	{ AAD(1), NULL, NULL, "2024-12-31T23:59:59", NULL,
	    "2025-01-01T00:00", DAYLEN },
	{ AAD(1), NULL, NULL, "2028-02-28T10:00", NULL,
	    "2028-02-29T00:00", DAYLEN },
	{ AAD(1), NULL, NULL, "2027-02-28T10:00", NULL,
	    "2027-03-01T00:00", DAYLEN },
	{ AAD(365), NULL, NULL, "2027-03-01T12:00", NULL,
	    "2028-02-29T00:00", DAYLEN },
	{ AAD(1000), NULL, NULL, "2024-01-01T00:00", NULL,
	    "2026-09-27T00:00", DAYLEN },
	{ AAD(30), NULL, "4h", "2024-01-15T13:45", NULL,
	    "2024-02-14T00:00", 4 * 60 },
	/* ... missed windows move on by whole periods, strictly after. */
	{ AAD(7), NULL, NULL, "2024-03-01T00:00", "2024-03-20T05:00",
	    "2024-03-22T00:00", DAYLEN },
	{ AAD(7), NULL, NULL, "2024-03-01T18:00", "2024-03-08T00:00",
	    "2024-03-15T00:00", DAYLEN },
	{ AAD(7), NULL, NULL, "2024-03-01T00:00", "2024-03-07T23:59:59",
	    "2024-03-08T00:00", DAYLEN },
	{ AAD(7), NULL, NULL, "2024-03-01T00:00", "2024-02-01T00:00",
	    "2024-03-08T00:00", DAYLEN },

	/* rate(N days): the same. */
	{ NOAAD, "rate(10 days)", "3h", "2028-02-25T08:00", NULL,
	    "2028-03-06T00:00", 3 * 60 },
	{ NOAAD, "rate(1 day)", NULL, "2024-02-28T23:00", NULL,
	    "2024-02-29T00:00", DAYLEN },
	{ NOAAD, "rate(1 day)", NULL, "2023-12-31T00:00", "2024-01-05T00:00",
	    "2024-01-06T00:00", DAYLEN },

	/* rate(N hours): N hours after the last rotation, one hour long. */
	{ NOAAD, "rate(4 hours)", NULL, "2024-01-01T22:30", NULL,
	    "2024-01-02T02:30", 60 },
	{ NOAAD, "rate(6 hours)", "6h", "2024-06-30T20:15:30", NULL,
	    "2024-07-01T02:15:30", 6 * 60 },
	{ NOAAD, "rate(12 hours)", NULL, "2024-01-01T00:00",
	    "2024-01-03T13:00", "2024-01-04T00:00", 60 },
	{ NOAAD, "rate(48 hours)", NULL, "2024-12-31T08:00", NULL,
	    "2025-01-02T08:00", 60 },
	{ NOAAD, "rate(4 hours)", NULL, "2028-02-28T22:00", NULL,
	    "2028-02-29T02:00", 60 },

	/* cron(), daily: the window runs to the end of the UTC day. */
	{ NOAAD, "cron(0 12 * * ? *)", NULL, "2024-01-01T00:00",
	    "2024-01-01T11:59:59", "2024-01-01T12:00", 12 * 60 },
	{ NOAAD, "cron(0 12 * * ? *)", NULL, "2024-01-01T00:00",
	    "2024-01-01T12:00", "2024-01-02T12:00", 12 * 60 },
	{ NOAAD, "cron(0 12 * * ? *)", NULL, "2024-01-01T00:00",
	    "2024-12-31T12:00:01", "2025-01-01T12:00", 12 * 60 },
	{ NOAAD, "cron(0 12 * * ? *)", NULL, "2024-05-05T18:00",
	    "2024-05-01T00:00", "2024-05-06T12:00", 12 * 60 },
	{ NOAAD, "cron(0 12 * * ? *)", "3h", "2024-01-01T00:00", NULL,
	    "2024-01-01T12:00", 3 * 60 },
	/* ... L: the last day of the month, leap years too. */
	{ NOAAD, "cron(0 0 L * ? *)", NULL, "2028-01-31T00:00", NULL,
	    "2028-02-29T00:00", DAYLEN },
	{ NOAAD, "cron(0 0 L * ? *)", NULL, "2027-02-01T00:00", NULL,
	    "2027-02-28T00:00", DAYLEN },
	{ NOAAD, "cron(0 0 L * ? *)", NULL, "2024-04-30T00:00", NULL,
	    "2024-05-31T00:00", DAYLEN },
	{ NOAAD, "cron(59 23 L * ? *)", NULL, "2024-12-31T23:59", NULL,
	    "2025-01-31T23:59", 1 },
	/* ... LW: 2024-03-31 is a Sunday, so Friday the 29th. */
	{ NOAAD, "cron(30 21 LW * ? *)", NULL, "2024-03-01T00:00", NULL,
	    "2024-03-29T21:30", 150 },
	{ NOAAD, "cron(30 21 LW * ? *)", NULL, "2024-03-29T21:30", NULL,
	    "2024-04-30T21:30", 150 },
	/* ... W: 2024-06-15 is a Saturday, 2024-09-15 a Sunday. */
	{ NOAAD, "cron(0 9 15W * ? *)", NULL, "2024-06-01T00:00", NULL,
	    "2024-06-14T09:00", 15 * 60 },
	{ NOAAD, "cron(0 9 15W * ? *)", NULL, "2024-09-01T00:00", NULL,
	    "2024-09-16T09:00", 15 * 60 },
	/* ... 2024-06-01 is a Saturday: not May 31, Monday the 3rd. */
	{ NOAAD, "cron(0 9 1W * ? *)", NULL, "2024-05-31T10:00", NULL,
	    "2024-06-03T09:00", 15 * 60 },
	/* ... 31W: Sunday 2024-03-31 gives Friday the 29th; April has no 31. */
	{ NOAAD, "cron(0 9 31W * ? *)", NULL, "2024-03-01T00:00", NULL,
	    "2024-03-29T09:00", 15 * 60 },
	{ NOAAD, "cron(0 9 31W * ? *)", NULL, "2024-03-29T09:00", NULL,
	    "2024-05-31T09:00", 15 * 60 },
	/* ... xL: the last Friday of February 2024 (the 29th is a Thursday). */
	{ NOAAD, "cron(0 10 ? * 6L *)", NULL, "2024-02-01T00:00", NULL,
	    "2024-02-23T10:00", 14 * 60 },
	/* ... x#k: Mondays of 2024 are Jan 1, 8, 15, 22, 29; Apr 29. */
	{ NOAAD, "cron(0 10 ? * 2#3 *)", NULL, "2024-01-01T00:00", NULL,
	    "2024-01-15T10:00", 14 * 60 },
	{ NOAAD, "cron(0 10 ? * MON#5 *)", NULL, "2024-01-01T11:00", NULL,
	    "2024-01-29T10:00", 14 * 60 },
	{ NOAAD, "cron(0 10 ? * MON#5 *)", NULL, "2024-01-29T10:00", NULL,
	    "2024-04-29T10:00", 14 * 60 },
	/* ... weekdays: 2024-12-29 is a Sunday; 2024-01-05 a Friday. */
	{ NOAAD, "cron(0 0 ? * SUN *)", NULL, "2024-12-30T00:00", NULL,
	    "2025-01-05T00:00", DAYLEN },
	{ NOAAD, "cron(0 0 ? * L *)", NULL, "2024-01-01T00:00", NULL,
	    "2024-01-06T00:00", DAYLEN },
	{ NOAAD, "cron(15 22 ? * MON-FRI *)", "1h", "2024-01-05T22:15", NULL,
	    "2024-01-08T22:15", 60 },
	/* ... steps in Day-of-month: 1, 8, 15, 22, 29. */
	{ NOAAD, "cron(0 8 1/7 * ? *)", NULL, "2024-02-22T09:00", NULL,
	    "2024-02-29T08:00", 16 * 60 },
	/* ... February 29th only comes in leap years; year boundaries. */
	{ NOAAD, "cron(0 0 29 2 ? *)", NULL, "2024-03-01T00:00", NULL,
	    "2028-02-29T00:00", DAYLEN },
	{ NOAAD, "cron(0 0 1 1 ? *)", NULL, "2024-06-01T00:00", NULL,
	    "2025-01-01T00:00", DAYLEN },
	{ NOAAD, "cron(0 0 1 JAN ? 2030-2032/2)", NULL, "2024-06-01T00:00",
	    NULL, "2030-01-01T00:00", DAYLEN },
	{ NOAAD, "cron(0 0 1 JAN ? 2030-2032/2)", NULL, "2030-01-01T00:00",
	    NULL, "2032-01-01T00:00", DAYLEN },
	/* ... the years run out. */
	{ NOAAD, "cron(0 12 * * ? 2025)", NULL, "2025-12-31T11:00", NULL,
	    "2025-12-31T12:00", 12 * 60 },
	{ NOAAD, "cron(0 12 * * ? 2025)", NULL, "2025-12-31T12:00", NULL,
	    NULL, 0 },
	{ NOAAD, "cron(0 12 * * ? 2025)", NULL, "2026-03-01T00:00", NULL,
	    NULL, 0 },
	{ NOAAD, "cron(0 12 * * ? *)", NULL, "2199-12-31T11:00", NULL,
	    "2199-12-31T12:00", 12 * 60 },
	{ NOAAD, "cron(0 12 * * ? *)", NULL, "2199-12-31T12:00", NULL,
	    NULL, 0 },

	/* cron(), hourly: one hour, or Duration, across midnight too. */
	{ NOAAD, "cron(0 4/12 * * ? *)", NULL, "2024-12-31T16:00", NULL,
	    "2025-01-01T04:00", 60 },
	{ NOAAD, "cron(0 4/12 * * ? *)", "12h", "2024-12-31T05:00", NULL,
	    "2024-12-31T16:00", 12 * 60 },
	{ NOAAD, "cron(0 0/4 ? * MON *)", NULL, "2024-01-01T20:00", NULL,
	    "2024-01-08T00:00", 60 },
};

/* Every row of window_cases: the next window's start and length. */
static void
test_windows(void **state)
{
	struct schedule s;
	struct cf_error err;
	const struct window_case *c;
	int64_t last, after, got, want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(window_cases) / sizeof(window_cases[0]); i++) {
		c = &window_cases[i];
		cf_error_clear(&err);
		if (schedule_parse(c->has_days, c->days, c->expr, c->duration,
		    &s, &err))
			fail_msg("row %zu: %s: %s", i, c->expr != NULL ?
			    c->expr : "AutomaticallyAfterDays", err.msg);
		last = iso(c->last);
		after = c->after != NULL ? iso(c->after) : last;
		got = schedule_next_window(&s, last, after);
		want = iso(c->want);
		if (got != want)
			fail_msg("row %zu (%s, last %s): next window %lld, "
			    "want %lld (%s)", i, c->expr != NULL ? c->expr :
			    "AutomaticallyAfterDays", c->last, (long long)got,
			    (long long)want, c->want != NULL ? c->want : "none");
		if (want >= 0 && schedule_window_ms(&s, got) !=
		    c->want_min * MIN)
			fail_msg("row %zu (%s): window %lld ms, want %lld min",
			    i, c->expr != NULL ? c->expr :
			    "AutomaticallyAfterDays",
			    (long long)schedule_window_ms(&s, got),
			    (long long)c->want_min);
	}
}

/* Times outside [0, SCHEDULE_MAX_MS] have no next window. */
static void
test_bounds(void **state)
{
	struct schedule s;
	struct cf_error err;

	(void)state;
	assert_int_equal(schedule_parse(1, 30, NULL, NULL, &s, &err), 0);
	assert_int_equal(schedule_next_window(&s, -1, 0), -1);
	assert_int_equal(schedule_next_window(&s, 0, -1), -1);
	assert_int_equal(schedule_next_window(&s, 0, SCHEDULE_MAX_MS + 1), -1);
	/* 30 days before the end of year 9999 is the last possible one. */
	assert_int_equal(schedule_next_window(&s, iso("9999-12-01T10:00"),
	    iso("9999-12-01T10:00")), iso("9999-12-31T00:00"));
	assert_int_equal(schedule_next_window(&s, iso("9999-12-02T10:00"),
	    iso("9999-12-02T10:00")), -1);
	/* A window length from any start, for a daily cron(). */
	assert_int_equal(schedule_parse(0, 0, "cron(0 12 * * ? *)", NULL, &s,
	    &err), 0);
	assert_int_equal(schedule_window_ms(&s, iso("2024-01-01T23:30")),
	    30 * MIN);
	assert_int_equal(schedule_window_ms(&s, iso("2024-01-01T00:00")),
	    24 * H);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_bounds),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
