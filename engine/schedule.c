/*
 * schedule.c: RotationRules (AutomaticallyAfterDays, rate(), cron() and
 * Duration) and the rotation windows they define; see schedule.h for the
 * exact semantics.
 *
 * Pure: no I/O, no allocation, no time zones.  Dates are computed with the
 * days-from-civil algorithms of the proleptic Gregorian calendar, so
 * nothing depends on TZ or the C library's time functions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine_internal.h"
#include "schedule.h"

#define MINUTE_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)

#define YEAR_MIN 1970
#define YEAR_MAX 2199
#define EXPR_MAX 256

#define MAX_DAYS 1000			/* AutomaticallyAfterDays */
#define MAX_RATE_DAYS 999		/* rate(N days) */
#define MIN_RATE_HOURS 4
#define MAX_RATE_HOURS (MAX_RATE_DAYS * 24)

#define MSG_BOTH "You cannot specify both rotation frequency and schedule " \
	"expression together."
#define MSG_NEITHER "You must specify either AutomaticallyAfterDays or " \
	"ScheduleExpression in RotationRules."

/* One cron() field: its name in messages, bounds and value names. */
struct field {
	const char *name;
	int min;
	int max;
	const char *const *names;	/* names[i] is min + i; or NULL */
};

static const char *const month_names[] = {
	"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
	"JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL
};
static const char *const wday_names[] = {
	"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL
};

enum { F_MIN, F_HOUR, F_DOM, F_MONTH, F_DOW, F_YEAR, F__COUNT };

static const struct field fields[F__COUNT] = {
	{ "Minutes", 0, 59, NULL },
	{ "Hours", 0, 23, NULL },
	{ "Day-of-month", 1, 31, NULL },
	{ "Month", 1, 12, month_names },
	{ "Day-of-week", 1, 7, wday_names },
	{ "Year", YEAR_MIN, YEAR_MAX, NULL },
};

/* A set of up to 256 values of one field, bit (v - min) for v. */
struct set {
	uint64_t w[4];
};

/* Floor division for a positive divisor. */
static int64_t
floor_div(int64_t a, int64_t b)
{

	return (a >= 0 ? a / b : -((-a + b - 1) / b));
}

/* Days since 1970-01-01 of the date y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= (m <= 2);
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

/* The date of ${z} days since 1970-01-01. */
static void
civil_from_days(int64_t z, int64_t *out_y, int *out_m, int *out_d)
{
	int64_t era, doe, yoe, doy, mp, y;
	int m;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*out_d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*out_m = m;
	*out_y = y + (m <= 2);
}

/* The number of days in month ${m} of year ${y}. */
static int
days_in_month(int64_t y, int m)
{
	static const int dim[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return (29);
	return (dim[m - 1]);
}

/* The cron() weekday (1 = SUN ... 7 = SAT) of ${z} days since the epoch. */
static int
weekday(int64_t z)
{
	int64_t w = (z + 4) % 7;	/* 1970-01-01 was a Thursday */

	return ((int)(w < 0 ? w + 7 : w) + 1);
}

/* Set ${err} to InvalidParameterException about field ${f} of a cron(). */
static int CF_PRINTF(3, 4)
bad_field(struct cf_error *err, const struct field *f, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid ScheduleExpression "
	    "cron(): %s field: %s", f->name, why);
	return (-1);
}

/* Whether ${s} holds the value ${v} of field ${f}. */
static int
set_has(const struct set *s, const struct field *f, int v)
{
	int i = v - f->min;

	return ((s->w[i / 64] >> (i % 64)) & 1);
}

/* Add the value ${v} of field ${f} to ${s}. */
static void
set_add(struct set *s, const struct field *f, int v)
{
	int i = v - f->min;

	s->w[i / 64] |= UINT64_C(1) << (i % 64);
}

/* The number of values in ${s}. */
static int
set_count(const struct set *s)
{
	int i, n = 0;

	for (i = 0; i < 256; i++)
		n += (int)((s->w[i / 64] >> (i % 64)) & 1);
	return (n);
}

/*
 * Read a decimal number at *${pp} into ${out} (saturating at 99999) and
 * advance *${pp}; -1 if there is no digit.
 */
static int
read_number(const char **pp, int *out)
{
	const char *p = *pp;
	int v = 0;

	if (*p < '0' || *p > '9')
		return (-1);
	for (; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (*p - '0')) > 99999)
			v = 99999;
	*pp = p;
	*out = v;
	return (0);
}

/*
 * Read one value of field ${f} at *${pp} (a number, or a three-letter name
 * where the field has names) into ${out}, checking its range.
 */
static int
read_value(const struct field *f, const char **pp, int *out,
    struct cf_error *err)
{
	const char *p = *pp;
	int i;

	/* A name, for Month and Day-of-week. */
	if (f->names != NULL && ((*p >= 'A' && *p <= 'Z') ||
	    (*p >= 'a' && *p <= 'z'))) {
		for (i = 0; f->names[i] != NULL; i++)
			if (strncasecmp(p, f->names[i], 3) == 0)
				break;
		if (f->names[i] == NULL)
			return (bad_field(err, f, "unknown name \"%.3s\"", p));
		*pp = p + 3;
		*out = f->min + i;
		return (0);
	}

	/* A number, in range. */
	if (read_number(&p, out))
		return (bad_field(err, f, "expected a number%s at \"%s\"",
		    f->names != NULL ? " or a name" : "", p));
	if (*out < f->min || *out > f->max)
		return (bad_field(err, f, "%d is out of range %d-%d", *out,
		    f->min, f->max));
	*pp = p;
	return (0);
}

/*
 * Parse a list of items ("*", "v", "a-b", with an optional "/n") of field
 * ${f} from the NUL-terminated ${s} into ${out}.
 */
static int
parse_list(const struct field *f, const char *s, struct set *out,
    struct cf_error *err)
{
	const char *p = s;
	int lo, hi, step, v, single;

	memset(out, 0, sizeof(*out));
	for (;;) {
		/* The range: "*", "a", or "a-b". */
		single = 0;
		if (*p == '*') {
			lo = f->min;
			hi = f->max;
			p++;
		} else {
			if (read_value(f, &p, &lo, err))
				return (-1);
			hi = lo;
			single = 1;
			if (*p == '-') {
				single = 0;
				p++;
				if (read_value(f, &p, &hi, err))
					return (-1);
				if (lo > hi)
					return (bad_field(err, f, "range "
					    "%d-%d runs backwards", lo, hi));
			}
		}

		/* An increment: "a/n" runs to the field's maximum. */
		step = 1;
		if (*p == '/') {
			p++;
			if (read_number(&p, &step))
				return (bad_field(err, f, "expected an "
				    "increment after \"/\""));
			if (step < 1 || step > f->max - f->min + 1)
				return (bad_field(err, f, "increment %d is "
				    "out of range 1-%d", step,
				    f->max - f->min + 1));
			if (single)
				hi = f->max;
		}
		for (v = lo; v <= hi; v += step)
			set_add(out, f, v);

		/* Then a comma and another item, or the end. */
		if (*p == '\0')
			break;
		if (*p != ',')
			return (bad_field(err, f, "unexpected \"%c\"", *p));
		p++;
	}
	return (0);
}

/* Parse Day-of-month ${s} into ${c}: "?", "L", "LW", "NW", or a list. */
static int
parse_dom(const char *s, struct schedule_cron *c, struct cf_error *err)
{
	const struct field *f = &fields[F_DOM];
	const char *p = s;
	struct set set;
	int n;

	if (strcmp(s, "?") == 0) {
		c->dom_mode = SCHEDULE_DOM_ANY;
		return (0);
	}
	if (strcmp(s, "L") == 0) {
		c->dom_mode = SCHEDULE_DOM_LAST;
		return (0);
	}
	if (strcmp(s, "LW") == 0) {
		c->dom_mode = SCHEDULE_DOM_LAST_WEEKDAY;
		return (0);
	}
	if (strchr(s, 'W') != NULL) {
		if (read_number(&p, &n) || strcmp(p, "W") != 0)
			return (bad_field(err, f, "\"W\" must follow a single "
			    "day, as in \"15W\""));
		if (n < f->min || n > f->max)
			return (bad_field(err, f, "%d is out of range %d-%d",
			    n, f->min, f->max));
		c->dom_mode = SCHEDULE_DOM_NEAREST_WEEKDAY;
		c->dom_day = n;
		return (0);
	}
	if (strpbrk(s, "?L#") != NULL)
		return (bad_field(err, f, "\"?\" and \"L\" must stand alone, "
		    "and \"#\" belongs to Day-of-week"));
	if (parse_list(f, s, &set, err))
		return (-1);
	c->dom_mode = SCHEDULE_DOM_SET;
	c->mdays = (uint32_t)(set.w[0] << 1);
	return (0);
}

/* Parse Day-of-week ${s} into ${c}: "?", "L", "xL", "x#k", or a list. */
static int
parse_dow(const char *s, struct schedule_cron *c, struct cf_error *err)
{
	const struct field *f = &fields[F_DOW];
	const char *p = s;
	struct set set;
	int n;

	if (strcmp(s, "?") == 0) {
		c->dow_mode = SCHEDULE_DOW_ANY;
		return (0);
	}
	if (strcmp(s, "L") == 0) {
		c->dow_mode = SCHEDULE_DOW_SET;
		c->wdays = 1 << 7;
		return (0);
	}
	if (strchr(s, '#') != NULL) {
		if (read_value(f, &p, &c->dow_day, err))
			return (-1);
		if (*p++ != '#' || read_number(&p, &n) || *p != '\0')
			return (bad_field(err, f, "\"#\" must join a single "
			    "weekday and a week, as in \"2#3\""));
		if (n < 1 || n > 5)
			return (bad_field(err, f, "week %d of \"#\" is out of "
			    "range 1-5", n));
		c->dow_mode = SCHEDULE_DOW_NTH;
		c->dow_nth = n;
		return (0);
	}
	if (s[0] != '\0' && s[strlen(s) - 1] == 'L') {
		if (read_value(f, &p, &c->dow_day, err))
			return (-1);
		if (strcmp(p, "L") != 0)
			return (bad_field(err, f, "\"L\" must follow a single "
			    "weekday, as in \"5L\""));
		c->dow_mode = SCHEDULE_DOW_LAST;
		return (0);
	}
	if (strchr(s, '?') != NULL)
		return (bad_field(err, f, "\"?\" must stand alone"));
	if (parse_list(f, s, &set, err))
		return (-1);
	c->dow_mode = SCHEDULE_DOW_SET;
	c->wdays = (uint8_t)(set.w[0] << 1);
	return (0);
}

/*
 * Refuse hours and minutes that open windows less than 4 hours apart: one
 * minute an hour, at most 6 hours a day, each 4 or more hours after the
 * one before, across midnight too.  Store in *${out_gap} the smallest gap
 * in hours (24 for a single hour).
 */
static int
check_frequency(const struct set *mins, const struct set *hours,
    int *out_gap, struct cf_error *err)
{
	int h, first = -1, prev = -1, gap = 24;

	if (set_count(mins) != 1)
		return (bad_field(err, &fields[F_MIN], "must be a single "
		    "minute: rotation can't be more frequent than every "
		    "4 hours"));
	if (set_count(hours) > 24 / MIN_RATE_HOURS)
		return (bad_field(err, &fields[F_HOUR], "more than %d hours "
		    "a day: rotation can't be more frequent than every 4 "
		    "hours", 24 / MIN_RATE_HOURS));
	for (h = 0; h < 24; h++) {
		if (!set_has(hours, &fields[F_HOUR], h))
			continue;
		if (first < 0)
			first = h;
		else if (h - prev < gap)
			gap = h - prev;
		prev = h;
	}
	if (first != prev && first + 24 - prev < gap)
		gap = first + 24 - prev;
	if (gap < MIN_RATE_HOURS)
		return (bad_field(err, &fields[F_HOUR], "hours less than 4 "
		    "apart: rotation can't be more frequent than every 4 "
		    "hours"));
	*out_gap = gap;
	return (0);
}

/* Whether the day ${d} of a month of ${dim} days, weekday ${wd}, matches. */
static int
day_matches(const struct schedule_cron *c, int d, int dim, int wd)
{
	int n, nwd;

	switch (c->dom_mode) {
	case SCHEDULE_DOM_SET:
		return ((c->mdays >> d) & 1);
	case SCHEDULE_DOM_LAST:
		return (d == dim);
	case SCHEDULE_DOM_LAST_WEEKDAY:
		/* The weekday of day ${dim} is that of ${d} moved on. */
		nwd = (wd - 1 + dim - d) % 7 + 1;
		n = dim - (nwd == 7 ? 1 : nwd == 1 ? 2 : 0);
		return (d == n);
	case SCHEDULE_DOM_NEAREST_WEEKDAY:
		n = c->dom_day;
		if (n > dim)
			return (0);
		nwd = ((wd - 1 + n - d) % 7 + 7) % 7 + 1;
		if (nwd == 7)		/* Saturday: Friday, or Monday the 3rd */
			n = (n == 1) ? 3 : n - 1;
		else if (nwd == 1)	/* Sunday: Monday, or the Friday before */
			n = (n == dim) ? n - 2 : n + 1;
		return (d == n);
	case SCHEDULE_DOM_ANY:
		break;
	}
	switch (c->dow_mode) {
	case SCHEDULE_DOW_SET:
		return ((c->wdays >> wd) & 1);
	case SCHEDULE_DOW_LAST:
		return (wd == c->dow_day && d + 7 > dim);
	case SCHEDULE_DOW_NTH:
		return (wd == c->dow_day && (d - 1) / 7 + 1 == c->dow_nth);
	case SCHEDULE_DOW_ANY:
		break;
	}
	return (0);
}

/* The first matching minute of the day at or after minute ${from}, or -1. */
static int
first_minute(const struct schedule_cron *c, int from)
{
	int t;

	for (t = from; t < 24 * 60; t++)
		if (((c->hours >> (t / 60)) & 1) &&
		    ((c->minutes >> (t % 60)) & 1))
			return (t);
	return (-1);
}

/* The first minute matching ${c} at or after ${t} (whole minutes), or -1. */
static int64_t
cron_next(const struct schedule_cron *c, int64_t t)
{
	int64_t day = floor_div(t, DAY_MS), y0, y, first;
	int m0, d0, from0, m, d, dim, mod, i;

	civil_from_days(day, &y0, &m0, &d0);
	from0 = (int)((t - day * DAY_MS) / MINUTE_MS);
	if (y0 < YEAR_MIN) {
		y0 = YEAR_MIN;
		m0 = d0 = 1;
		from0 = 0;
	}

	/* Walk the years, months and days of the sets from there. */
	for (y = y0; y <= YEAR_MAX; y++) {
		i = (int)(y - YEAR_MIN);
		if (!((c->years[i / 64] >> (i % 64)) & 1))
			continue;
		for (m = (y == y0 ? m0 : 1); m <= 12; m++) {
			if (!((c->months >> m) & 1))
				continue;
			dim = days_in_month(y, m);
			first = days_from_civil(y, m, 1);
			for (d = (y == y0 && m == m0 ? d0 : 1); d <= dim; d++) {
				if (!day_matches(c, d, dim,
				    weekday(first + d - 1)))
					continue;
				mod = first_minute(c, (y == y0 && m == m0 &&
				    d == d0) ? from0 : 0);
				if (mod >= 0)
					return ((first + d - 1) * DAY_MS +
					    mod * MINUTE_MS);
			}
		}
	}
	return (-1);
}

/*
 * Parse the fields of "cron(...)" (${body}: what is inside the parentheses)
 * into ${s}.
 */
static int
parse_cron(const char *body, size_t len, struct schedule *s,
    struct cf_error *err)
{
	char buf[F__COUNT][EXPR_MAX + 1];
	struct set set[F__COUNT];
	struct schedule_cron *c = &s->cron;
	size_t i = 0, n = 0, k;
	int f, gap = 24;

	/* Split on runs of spaces into exactly six fields. */
	while (i < len) {
		if (body[i] == ' ') {
			i++;
			continue;
		}
		for (k = 0; i < len && body[i] != ' '; i++)
			if (n < F__COUNT)
				buf[n][k++] = body[i];
		if (n < F__COUNT)
			buf[n][k] = '\0';
		n++;
	}
	if (n != F__COUNT) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
		    "ScheduleExpression cron(): expected 6 fields (Minutes "
		    "Hours Day-of-month Month Day-of-week Year), got %zu", n);
		return (-1);
	}

	/* Fields with lists only. */
	memset(c, 0, sizeof(*c));
	for (f = 0; f < F__COUNT; f++) {
		if (f == F_DOM || f == F_DOW)
			continue;
		if (strpbrk(buf[f], fields[f].names != NULL ? "?W#" :
		    "?LW#") != NULL)
			return (bad_field(err, &fields[f], "\"?\", \"L\", "
			    "\"W\" and \"#\" are for Day-of-month and "
			    "Day-of-week only"));
		if (parse_list(&fields[f], buf[f], &set[f], err))
			return (-1);
	}
	c->minutes = set[F_MIN].w[0];
	c->hours = (uint32_t)set[F_HOUR].w[0];
	c->months = (uint16_t)(set[F_MONTH].w[0] << 1);
	memcpy(c->years, set[F_YEAR].w, sizeof(c->years));

	/* The two day fields: exactly one of them is "?". */
	if (parse_dom(buf[F_DOM], c, err) || parse_dow(buf[F_DOW], c, err))
		return (-1);
	if ((c->dom_mode == SCHEDULE_DOM_ANY) ==
	    (c->dow_mode == SCHEDULE_DOW_ANY)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
		    "ScheduleExpression cron(): exactly one of the "
		    "Day-of-month and Day-of-week fields must be \"?\"");
		return (-1);
	}

	/* No more often than every 4 hours, and at least once. */
	if (check_frequency(&set[F_MIN], &set[F_HOUR], &gap, err))
		return (-1);
	if (cron_next(c, 0) < 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
		    "ScheduleExpression cron(): it matches no date in "
		    "%d-%d", YEAR_MIN, YEAR_MAX);
		return (-1);
	}
	s->kind = SCHEDULE_CRON;
	s->hourly = (gap < 24);
	s->every = gap;
	return (0);
}

/* Parse the inside of "rate(...)" (${len} bytes at ${body}) into ${s}. */
static int
parse_rate(const char *body, size_t len, struct schedule *s,
    struct cf_error *err)
{
	char unit[8];
	const char *p = body, *end = body + len;
	size_t k = 0;
	int n;

	/* "N unit", with spaces around and between. */
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p < '0' || *p > '9')
		goto bad;
	for (n = 0; p < end && *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (*p - '0')) > 999999)
			n = 999999;
	if (p == end || *p != ' ')
		goto bad;
	while (p < end && *p == ' ')
		p++;
	while (p < end && *p != ' ' && k < sizeof(unit) - 1)
		unit[k++] = *p++;
	unit[k] = '\0';
	while (p < end && *p == ' ')
		p++;
	if (p != end)
		goto bad;

	/* The unit: plural, or singular for 1. */
	if (strcmp(unit, "days") == 0 || (n == 1 && strcmp(unit, "day") == 0))
		s->kind = SCHEDULE_DAYS;
	else if (strcmp(unit, "hours") == 0 ||
	    (n == 1 && strcmp(unit, "hour") == 0))
		s->kind = SCHEDULE_HOURS;
	else
		goto bad;

	/* The bounds: every 4 hours to every 999 days. */
	if (n < 1) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
		    "ScheduleExpression rate(): the value must be a positive "
		    "integer");
		return (-1);
	}
	if (s->kind == SCHEDULE_HOURS && n < MIN_RATE_HOURS) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
		    "ScheduleExpression rate(): rotation can't be more "
		    "frequent than every 4 hours");
		return (-1);
	}
	if ((s->kind == SCHEDULE_HOURS && n > MAX_RATE_HOURS) ||
	    (s->kind == SCHEDULE_DAYS && n > MAX_RATE_DAYS)) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
		    "ScheduleExpression rate(): the rotation period can't be "
		    "longer than %d days", MAX_RATE_DAYS);
		return (-1);
	}
	s->every = n;
	s->hourly = (s->kind == SCHEDULE_HOURS);
	return (0);

bad:
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
	    "ScheduleExpression rate(): expected rate(N hours) or "
	    "rate(N days)");
	return (-1);
}

/* Check ScheduleExpression ${expr} against the service model. */
static int
check_expression(const char *expr, struct cf_error *err)
{
	size_t len = strlen(expr);

	/* 1-256 characters of the pattern. */
	if (len < 1 || len > EXPR_MAX) {
		engine_invalid(err, "rotationRules.scheduleExpression", NULL,
		    "have length %s %d", len < 1 ? "greater than or equal to" :
		    "less than or equal to", len < 1 ? 1 : EXPR_MAX);
		return (-1);
	}
	if (strspn(expr, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz()#?*-/, ") != len) {
		engine_invalid(err, "rotationRules.scheduleExpression", NULL,
		    "satisfy regular expression pattern: "
		    "[0-9A-Za-z\\(\\)#\\?\\*\\-\\/, ]+");
		return (-1);
	}
	return (0);
}

/* Parse ScheduleExpression ${expr}, already checked, into ${s}. */
static int
parse_expression(const char *expr, struct schedule *s, struct cf_error *err)
{
	size_t len = strlen(expr);

	/* rate(...) or cron(...), with nothing after the parenthesis. */
	if (expr[len - 1] == ')' && strncmp(expr, "rate(", 5) == 0)
		return (parse_rate(expr + 5, len - 6, s, err));
	if (expr[len - 1] == ')' && strncmp(expr, "cron(", 5) == 0)
		return (parse_cron(expr + 5, len - 6, s, err));
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
	    "ScheduleExpression: expected rate(...) or cron(...)");
	return (-1);
}

/* Check Duration ${d} ("<N>h") and store it in ${s}->duration_ms. */
static int
parse_duration(const char *d, struct schedule *s, struct cf_error *err)
{
	size_t len = strlen(d);
	const char *p = d;
	int n;

	/* The model's constraints: 2-3 characters of [0-9h]. */
	if (len < 2 || len > 3) {
		engine_invalid(err, "rotationRules.duration", NULL,
		    "have length %s %d", len < 2 ? "greater than or equal to" :
		    "less than or equal to", len < 2 ? 2 : 3);
		return (-1);
	}
	if (strspn(d, "0123456789h") != len) {
		engine_invalid(err, "rotationRules.duration", NULL,
		    "satisfy regular expression pattern: [0-9h]+");
		return (-1);
	}

	/* A number of hours, 1 to 24. */
	if (read_number(&p, &n) || strcmp(p, "h") != 0) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid Duration "
		    "\"%s\": expected a number of hours such as \"3h\"", d);
		return (-1);
	}
	if (n < 1 || n > 24) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid Duration "
		    "\"%s\": the rotation window must be 1 to 24 hours", d);
		return (-1);
	}
	s->duration_ms = n * HOUR_MS;
	return (0);
}

/* Check that the Duration of ${s} fits its schedule. */
static int
check_window(const struct schedule *s, struct cf_error *err)
{
	int64_t start;

	if (s->duration_ms == 0)
		return (0);

	/* An hourly schedule: not into the next window. */
	if (s->hourly) {
		if (s->duration_ms > s->every * HOUR_MS) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
			    "Duration %lldh: the rotation window must not "
			    "extend into the next rotation window, %lld hours "
			    "later", (long long)(s->duration_ms / HOUR_MS),
			    (long long)s->every);
			return (-1);
		}
		return (0);
	}

	/* A daily one: not into the next UTC day. */
	start = 0;
	if (s->kind == SCHEDULE_CRON)
		start = cron_next(&s->cron, 0) % DAY_MS;
	if (start + s->duration_ms > DAY_MS) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid Duration "
		    "%lldh: the rotation window must not extend into the "
		    "next UTC day", (long long)(s->duration_ms / HOUR_MS));
		return (-1);
	}
	return (0);
}

int
schedule_parse(int has_days, int64_t days, const char *expr,
    const char *duration, struct schedule *out, struct cf_error *err)
{

	memset(out, 0, sizeof(*out));

	/* The model's constraints first. */
	if (expr != NULL && check_expression(expr, err))
		goto err0;
	if (duration != NULL && parse_duration(duration, out, err))
		goto err0;

	/* One schedule, of one kind. */
	if (has_days && expr != NULL) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "%s", MSG_BOTH);
		goto err0;
	}
	if (has_days) {
		if (days < 1 || days > MAX_DAYS) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
			    "AutomaticallyAfterDays %lld: it must be between "
			    "1 and %d", (long long)days, MAX_DAYS);
			goto err0;
		}
		out->kind = SCHEDULE_DAYS;
		out->every = days;
	} else if (expr != NULL) {
		if (parse_expression(expr, out, err))
			goto err0;
	} else {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "%s", MSG_NEITHER);
		goto err0;
	}

	/* A window that ends before the next one and, if daily, by 24:00. */
	if (check_window(out, err))
		goto err0;

	/* Success! */
	return (0);

err0:
	/* Failure! */
	return (-1);
}

int64_t
schedule_next_window(const struct schedule *s, int64_t last_ms,
    int64_t after_ms)
{
	int64_t base, period, w;

	if (last_ms < 0 || last_ms > SCHEDULE_MAX_MS ||
	    after_ms < 0 || after_ms > SCHEDULE_MAX_MS)
		return (-1);

	/* cron(): the first matching minute after both times. */
	if (s->kind == SCHEDULE_CRON) {
		w = last_ms > after_ms ? last_ms : after_ms;
		return (cron_next(&s->cron, floor_div(w, MINUTE_MS) *
		    MINUTE_MS + MINUTE_MS));
	}

	/* Days count from 00:00 of the last rotation's day, hours from it. */
	if (s->kind == SCHEDULE_DAYS) {
		base = floor_div(last_ms, DAY_MS) * DAY_MS;
		period = s->every * DAY_MS;
	} else {
		base = last_ms;
		period = s->every * HOUR_MS;
	}

	/* The first of base + k * period (k >= 1) after ${after_ms}. */
	w = base + period;
	if (w <= after_ms)
		w = base + ((after_ms - base) / period + 1) * period;
	if (w > SCHEDULE_MAX_MS)
		return (-1);
	return (w);
}

int64_t
schedule_window_ms(const struct schedule *s, int64_t start_ms)
{

	if (s->duration_ms != 0)
		return (s->duration_ms);
	if (s->hourly)
		return (HOUR_MS);
	return ((floor_div(start_ms, DAY_MS) + 1) * DAY_MS - start_ms);
}
