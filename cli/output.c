/*
 * output.c: --output json (the AWS CLI's 4-space indented JSON), text
 * (tab-separated, as the AWS CLI's text format: scalars of an object on one
 * line, each list element on its own line under its upper-cased key) and
 * table (a boxed rendering; an approximation of the AWS CLI's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A scalar as text (strings bare, as the AWS CLI prints them). */
static void
scalar(FILE *out, json_t *v)
{

	if (json_is_string(v))
		fputs(json_string_value(v), out);
	else if (json_is_integer(v))
		fprintf(out, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(out, "%.3f", json_real_value(v));
	else if (json_is_true(v))
		fputs("True", out);
	else if (json_is_false(v))
		fputs("False", out);
	else
		fputs("None", out);
}

static int
is_scalar(json_t *v)
{

	return (!json_is_object(v) && !json_is_array(v));
}

/* A member name (PascalCase) is printed upper-cased; a map key as is. */
static void
upper(FILE *out, const char *s)
{
	int member = *s >= 'A' && *s <= 'Z';

	for (; *s; s++)
		fputc(member && *s >= 'a' && *s <= 'z' ? *s - 32 : *s, out);
}

/* text: ${prefix} is the upper-cased key of the enclosing list, if any. */
static void
text(FILE *out, json_t *v, const char *prefix)
{
	const char *key;
	json_t *m;
	size_t i;
	int first = 1, any = 0;

	if (is_scalar(v)) {
		scalar(out, v);
		fputc('\n', out);
		return;
	}
	if (json_is_array(v)) {
		/* A list of scalars is one line; of objects, a line each. */
		json_array_foreach(v, i, m)
			if (!is_scalar(m))
				break;
		if (i == json_array_size(v)) {
			if (prefix) {
				upper(out, prefix);
				fputc('\t', out);
			}
			json_array_foreach(v, i, m) {
				if (i)
					fputc('\t', out);
				scalar(out, m);
			}
			fputc('\n', out);
			return;
		}
		json_array_foreach(v, i, m)
			text(out, m, prefix);
		return;
	}
	/* An object: its scalars on one line, then its lists and objects. */
	json_object_foreach(v, key, m)
		if (is_scalar(m)) {
			if (first && prefix) {
				upper(out, prefix);
				fputc('\t', out);
			}
			if (!first)
				fputc('\t', out);
			scalar(out, m);
			first = 0;
			any = 1;
		}
	if (any)
		fputc('\n', out);
	json_object_foreach(v, key, m)
		if (!is_scalar(m))
			text(out, m, key);
}

/* table: one box per object, nested lists as nested boxes. */
static void
table(FILE *out, json_t *v, const char *title, int depth)
{
	const char *key;
	json_t *m;
	size_t i;
	int w = 0, n;

	if (title != NULL)
		fprintf(out, "%*s|%s|\n", depth * 2, "", title);
	if (is_scalar(v)) {
		fprintf(out, "%*s|  ", depth * 2, "");
		scalar(out, v);
		fputs("  |\n", out);
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			table(out, m, NULL, depth + 1);
		return;
	}
	json_object_foreach(v, key, m)
		if (is_scalar(m) && (n = (int)strlen(key)) > w)
			w = n;
	fprintf(out, "%*s+%s\n", depth * 2, "", "------------------------------"
	    "--------------------------------");
	json_object_foreach(v, key, m)
		if (is_scalar(m)) {
			fprintf(out, "%*s|  %-*s |  ", depth * 2, "", w, key);
			scalar(out, m);
			fputc('\n', out);
		}
	json_object_foreach(v, key, m)
		if (!is_scalar(m))
			table(out, m, key, depth + 1);
	fprintf(out, "%*s+%s\n", depth * 2, "", "------------------------------"
	    "--------------------------------");
}

int
cli_render(json_t *v, const char *format, const char *title)
{
	char *s;

	if (format == NULL || strcmp(format, "json") == 0) {
		if ((s = json_dumps(v, CLI_JSON_FLAGS)) == NULL)
			return (-1);
		puts(s);
		explicit_bzero(s, strlen(s));
		free(s);
		return (0);
	}
	if (strcmp(format, "text") == 0) {
		if (!json_is_null(v))
			text(stdout, v, NULL);
		return (0);
	}
	if (strcmp(format, "table") == 0) {
		table(stdout, v, title, 0);
		return (0);
	}
	return (-1);
}
