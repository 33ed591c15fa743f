/*
 * rotator_password.c: builtin:password, a new random value.
 *
 * The password itself is drawn by the engine, from the token, with
 * GetRandomPassword's generator and the rules the ARN gave
 * (rotator_parse); this rotator only decides where it goes.  When the
 * current value is a JSON object with a "password" string, only that
 * member changes, so a value holding credentials with a user name keeps
 * it; anything else is replaced by the password.  There is nothing to set
 * outside Coffer: setSecret and testSecret have no work.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rotator_internal.h"

int
rotator_password_value(struct cf_arena *a, const struct rotator_value *cur,
    const char *password, struct rotator_value *out, struct cf_error *err)
{
	json_t *o = NULL, *pw;
	char *s;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->present = 1;
	if (cur != NULL && cur->present && !cur->binary && cur->len > 0 &&
	    (o = json_loadb((const char *)cur->data, cur->len, 0, NULL)) !=
	    NULL && json_is_object(o) && (pw = json_object_get(o,
	    "password")) != NULL && json_is_string(pw)) {
		json_object_set_new(o, "password", json_string(password));
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (s == NULL)
			return (rotator_oom(err));
		n = strlen(s);
		out->data = cf_arena_memdup(a, s, n);
		explicit_bzero(s, n);
		free(s);
		if (out->data == NULL)
			return (rotator_oom(err));
		out->len = n;
		return (0);
	}
	json_decref(o);
	out->data = (const uint8_t *)password;
	out->len = strlen(password);
	return (0);
}
