/*
 * rotator.c: which rotator a RotationLambdaARN names, with its parameters,
 * and the names of the steps.
 *
 * A rotator is named by the whole ARN or by the part before '?', never by
 * a prefix: "builtin:password", "builtin:postgresql-single-user",
 * "builtin:postgresql-alternating-users", each taking GetRandomPassword's
 * parameters as a query string (builtin:password?PasswordLength=32&
 * ExcludePunctuation=true), or "exec:" and the path of a program.  The
 * database rotators default to 32 characters without / @ " ' \ (AWS's
 * characters that break connection strings).  Anything else is refused,
 * naming what exists: a mistyped name never falls back to a default.
 * (Also rotator_oom, the one error helper the rotator's files share.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotator_internal.h"

/* The database rotators' default: AWS's characters that break DSNs out. */
#define PG_EXCLUDE "/@\"'\\"
#define PG_LENGTH 32

static const struct {
	const char *name;
	enum rotator_kind kind;
} rotators[] = {
	{ "builtin:password", ROTATOR_PASSWORD },
	{ "builtin:postgresql-single-user", ROTATOR_PG_SINGLE },
	{ "builtin:postgresql-alternating-users", ROTATOR_PG_ALTERNATING },
};

static const char *const step_names[] = { NULL, "createSecret", "setSecret",
    "testSecret", "finishSecret" };

const char *
rotator_step_name(enum rotator_step step)
{

	return (step >= ROTATOR_CREATE && step <= ROTATOR_FINISH ?
	    step_names[step] : "unknownStep");
}

int
rotator_oom(struct cf_error *err)
{

	cf_error_set(err, CF_ERR_INTERNAL, "out of memory");
	return (-1);
}

/* %XX-decode the ${n} bytes of ${in} into ${out} (ROTATOR_MAX); 0 or -1. */
static int
url_decode(const char *in, size_t n, char *out)
{
	size_t i, k = 0;
	uint8_t b;

	for (i = 0; i < n; i++) {
		if (k + 1 >= ROTATOR_MAX)
			return (-1);
		if (in[i] != '%') {
			out[k++] = in[i] == '+' ? ' ' : in[i];
			continue;
		}
		/* A NUL would cut the value short where C reads it. */
		if (i + 2 >= n || cf_hex_decode(in + i + 1, 2, CF_HEX_ANY_CASE,
		    &b, 1) != CF_HEX_OK || b == 0)
			return (-1);
		out[k++] = (char)b;
		i += 2;
	}
	out[k] = '\0';
	return (0);
}

/* "true"/"false" of option ${name}; -1 for anything else. */
static int
bool_opt(const char *v)
{

	if (strcmp(v, "true") == 0)
		return (1);
	if (strcmp(v, "false") == 0)
		return (0);
	return (-1);
}

int
rotator_parse(const char *arn, struct rotator *r, struct cf_error *err)
{
	const char *q, *p, *amp, *eq;
	char name[64], value[ROTATOR_MAX];
	int b;

	size_t i, n = 0, nr = sizeof(rotators) / sizeof(rotators[0]);

	memset(r, 0, sizeof(*r));

	/* The length first: nothing past it is looked at. */
	if (arn != NULL && strnlen(arn, ROTATOR_MAX + 1) > ROTATOR_MAX) {
		cf_error_set(err, CF_ERR_VALIDATION, "1 validation error "
		    "detected: Value at 'rotationLambdaARN' failed to satisfy "
		    "constraint: Member must have length less than or equal "
		    "to %d", ROTATOR_MAX);
		return (-1);
	}
	if (arn != NULL && strncmp(arn, "exec:", 5) == 0) {
		r->kind = ROTATOR_EXEC;
		r->path = arn + 5;
		return (0);
	}
	for (i = 0; arn != NULL && i < nr; i++) {
		n = strlen(rotators[i].name);
		if (strncmp(arn, rotators[i].name, n) == 0 &&
		    (arn[n] == '\0' || arn[n] == '?'))
			break;
	}
	if (arn == NULL || i == nr) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "RotationLambdaARN "
		    "\"%.128s\" names no rotator of this release: use "
		    "builtin:password, builtin:postgresql-single-user or "
		    "builtin:postgresql-alternating-users (with "
		    "GetRandomPassword's parameters as a query string if "
		    "wanted), or exec:/path/to/program", arn != NULL ? arn :
		    "");
		return (-1);
	}
	r->kind = rotators[i].kind;
	if (r->kind != ROTATOR_PASSWORD) {
		r->pw.has_password_length = 1;
		r->pw.password_length = PG_LENGTH;
		snprintf(r->exclude, sizeof(r->exclude), "%s", PG_EXCLUDE);
		r->pw.exclude_characters = r->exclude;
	}
	for (q = arn[n] == '?' ? arn + n + 1 : NULL; q != NULL && *q != '\0';
	    q = amp != NULL ? amp + 1 : NULL) {
		amp = strchr(q, '&');
		p = amp != NULL ? amp : q + strlen(q);
		if ((eq = memchr(q, '=', (size_t)(p - q))) == NULL ||
		    (size_t)(eq - q) >= sizeof(name) ||
		    url_decode(eq + 1, (size_t)(p - eq - 1), value))
			goto bad;
		memcpy(name, q, (size_t)(eq - q));
		name[eq - q] = '\0';
		if (strcmp(name, "PasswordLength") == 0) {
			/* A decimal number and nothing else. */
			if (value[0] < '0' || value[0] > '9' ||
			    value[strspn(value, "0123456789")] != '\0')
				goto bad;
			r->pw.has_password_length = 1;
			r->pw.password_length = strtoll(value, NULL, 10);
			continue;
		}
		if (strcmp(name, "ExcludeCharacters") == 0) {
			snprintf(r->exclude, sizeof(r->exclude), "%s", value);
			r->pw.exclude_characters = r->exclude;
			continue;
		}
		if ((b = bool_opt(value)) == -1)
			goto bad;
		if (strcmp(name, "ExcludeNumbers") == 0)
			r->pw.exclude_numbers = b;
		else if (strcmp(name, "ExcludePunctuation") == 0)
			r->pw.exclude_punctuation = b;
		else if (strcmp(name, "ExcludeUppercase") == 0)
			r->pw.exclude_uppercase = b;
		else if (strcmp(name, "ExcludeLowercase") == 0)
			r->pw.exclude_lowercase = b;
		else if (strcmp(name, "IncludeSpace") == 0)
			r->pw.include_space = b;
		else if (strcmp(name, "RequireEachIncludedType") == 0) {
			r->pw.has_require_each_included_type = 1;
			r->pw.require_each_included_type = b;
		} else
			goto bad;
	}
	return (0);

bad:
	cf_error_set(err, CF_ERR_INVALID_PARAMETER, "RotationLambdaARN "
	    "\"%.128s\": a rotator takes GetRandomPassword's parameters, "
	    "e.g. ?PasswordLength=32&ExcludePunctuation=true", arn);
	return (-1);
}
