/*
 * rotation_rules.c: RotationRules as stored, and when they open a window.
 *
 * The rules are kept as AWS writes them (secrets.rotation_rules, jsonb with
 * AutomaticallyAfterDays, ScheduleExpression, Duration), so DescribeSecret
 * gives back what RotateSecret was given; engine/schedule.h turns them into
 * windows.  Stored rules that do not decode or parse open no window
 * (engine_rules_next_window is 0): the caller goes on without one.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rotation_internal.h"

char *
engine_rules_json(struct cf_arena *a, const struct engine_rotation_rules *r)
{
	json_t *o = json_object();
	char *s, *out = NULL;

	if (o == NULL)
		return (NULL);
	if (r->has_automatically_after_days)
		json_object_set_new(o, "AutomaticallyAfterDays",
		    json_integer(r->automatically_after_days));
	if (r->schedule_expression != NULL)
		json_object_set_new(o, "ScheduleExpression",
		    json_string(r->schedule_expression));
	if (r->duration != NULL)
		json_object_set_new(o, "Duration", json_string(r->duration));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		out = cf_arena_strdup(a, s);
		free(s);
	}
	json_decref(o);
	return (out);
}

int
engine_rules_decode(struct cf_arena *a, const char *json,
    struct engine_rotation_rules *out)
{
	json_t *o, *v;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (json == NULL || (o = json_loads(json, 0, NULL)) == NULL)
		return (-1);
	if ((v = json_object_get(o, "AutomaticallyAfterDays")) != NULL &&
	    json_is_integer(v)) {
		out->has_automatically_after_days = 1;
		out->automatically_after_days = json_integer_value(v);
	}
	if ((v = json_object_get(o, "ScheduleExpression")) != NULL &&
	    json_is_string(v) && (out->schedule_expression = cf_arena_strdup(a,
	    json_string_value(v))) == NULL)
		goto done;
	if ((v = json_object_get(o, "Duration")) != NULL &&
	    json_is_string(v) && (out->duration = cf_arena_strdup(a,
	    json_string_value(v))) == NULL)
		goto done;
	rc = 0;
done:
	json_decref(o);
	return (rc);
}

int
engine_rules_schedule(const struct engine_rotation_rules *r,
    struct schedule *s, struct cf_error *err)
{

	return (schedule_parse(r->has_automatically_after_days,
	    r->automatically_after_days, r->schedule_expression, r->duration,
	    s, err));
}

int64_t
engine_rules_next_window(struct cf_arena *a, const char *json,
    int64_t last_ms, int64_t now_ms)
{
	struct engine_rotation_rules r;
	struct schedule s;
	struct cf_error err;
	int64_t next;

	if (json == NULL || engine_rules_decode(a, json, &r) ||
	    engine_rules_schedule(&r, &s, &err))
		return (0);
	next = schedule_next_window(&s, last_ms, now_ms);
	return (next > 0 ? next : 0);
}
