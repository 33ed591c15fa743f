/*
 * render.c: what coffer prints.
 *
 *  - json: the AWS CLI's json.dumps(indent=4, ensure_ascii=False).
 *  - text: a port of awscli/text.py.  An object prints its scalar members
 *    on one tab-separated line (members in sorted order) and then each
 *    list or object member under its name in upper case; a list of objects
 *    prints a line per element with the union of their scalar members; a
 *    list of scalars under a name prints NAME<TAB>value per element, and a
 *    bare list prints on one line.  Strings bare, True/False/None.
 *  - table: an approximation of the AWS CLI's table: a titled box per
 *    object, its scalars as a header row and a value row (or key | value
 *    for a single member), lists of objects as columns, nested members as
 *    nested, indented boxes.
 *  - errors: the AWS CLI's "An error occurred (...)" line and its usage
 *    message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

static int
is_scalar(json_t *v)
{

	return (!json_is_object(v) && !json_is_array(v));
}

/* A scalar as Python's str() prints it; heap string. */
static char *
scalar_text(json_t *v)
{
	char *s = NULL;

	if (json_is_string(v))
		return (strdup(json_string_value(v)));
	if (json_is_true(v))
		return (strdup("True"));
	if (json_is_false(v))
		return (strdup("False"));
	if (v == NULL || json_is_null(v))
		return (strdup("None"));
	if (json_is_integer(v)) {
		if (asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0)
			return (NULL);
		return (s);
	}
	return (json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(16)));
}

static void
put_scalar(FILE *out, json_t *v)
{
	char *s;

	if ((s = scalar_text(v)) == NULL)
		return;
	fputs(s, out);
	cf_heap_wipe_free(s);
}

static void
put_upper(FILE *out, const char *s)
{

	for (; *s != '\0'; s++)
		fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, out);
}

/* ---- text ------------------------------------------------------------------ */

static int
cmp_str(const void *a, const void *b)
{

	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* The keys of ${obj} in sorted order (NULL-terminated; caller frees). */
static const char **
sorted_keys(json_t *obj)
{
	const char **keys, *k;
	size_t n = 0;
	json_t *v;

	if ((keys = calloc(json_object_size(obj) + 1, sizeof(*keys))) == NULL)
		return (NULL);
	json_object_foreach(obj, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	return (keys);
}

/* The sorted union of the scalar members of a list of objects. */
static const char **
scalar_keys(json_t *list)
{
	const char **keys = NULL, **grown, *k;
	size_t n = 0, i, j;
	json_t *e, *v;

	if ((keys = calloc(1, sizeof(*keys))) == NULL)
		return (NULL);
	json_array_foreach(list, i, e) {
		if (!json_is_object(e))
			continue;
		json_object_foreach(e, k, v) {
			if (!is_scalar(v))
				continue;
			for (j = 0; j < n && strcmp(keys[j], k) != 0; j++)
				;
			if (j < n)
				continue;
			if ((grown = realloc(keys, (n + 2) * sizeof(*keys))) ==
			    NULL)
				continue;
			keys = grown;
			keys[n++] = k;
			keys[n] = NULL;
		}
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	return (keys);
}

static void text_value(FILE *, json_t *, const char *, const char **);

static int
in_list(const char **keys, const char *k)
{

	for (; keys != NULL && *keys != NULL; keys++)
		if (strcmp(*keys, k) == 0)
			return (1);
	return (0);
}

static void
text_dict(FILE *out, json_t *obj, const char *ident, const char **scalars)
{
	const char **keys, **k;
	json_t *v;
	int first = 1;

	if ((keys = sorted_keys(obj)) == NULL)
		return;

	/* The scalars on one line, after the upper-cased identifier. */
	if (scalars != NULL) {
		for (k = scalars; *k != NULL; k++) {
			if (first && ident != NULL) {
				put_upper(out, ident);
				fputc('\t', out);
			}
			if (!first)
				fputc('\t', out);
			if ((v = json_object_get(obj, *k)) != NULL)
				put_scalar(out, v);
			first = 0;
		}
	} else {
		for (k = keys; *k != NULL; k++) {
			v = json_object_get(obj, *k);
			if (!is_scalar(v))
				continue;
			if (first && ident != NULL) {
				put_upper(out, ident);
				fputc('\t', out);
			}
			if (!first)
				fputc('\t', out);
			put_scalar(out, v);
			first = 0;
		}
	}
	if (!first)
		fputc('\n', out);

	/* Then the rest, each under its own name. */
	for (k = keys; *k != NULL; k++) {
		v = json_object_get(obj, *k);
		if (scalars != NULL ? in_list(scalars, *k) : is_scalar(v))
			continue;
		text_value(out, v, *k, NULL);
	}
	free(keys);
}

static void
text_scalar_list(FILE *out, json_t *list, const char *ident)
{
	size_t i;
	json_t *e;
	int first = 1;

	json_array_foreach(list, i, e) {
		if (!is_scalar(e))
			continue;
		if (ident != NULL) {
			put_upper(out, ident);
			fputc('\t', out);
			put_scalar(out, e);
			fputc('\n', out);
			continue;
		}
		if (!first)
			fputc('\t', out);
		put_scalar(out, e);
		first = 0;
	}
	if (ident == NULL)
		fputc('\n', out);
}

static void
text_list(FILE *out, json_t *list, const char *ident)
{
	const char **keys;
	int dicts = 0, lists = 0, scalars = 0;
	size_t i;
	json_t *e;

	if (json_array_size(list) == 0)
		return;
	json_array_foreach(list, i, e) {
		dicts |= json_is_object(e);
		lists |= json_is_array(e);
		scalars |= is_scalar(e);
	}
	if (dicts) {
		keys = scalar_keys(list);
		json_array_foreach(list, i, e)
			text_value(out, e, ident, keys);
		free(keys);
	} else if (lists) {
		if (scalars)
			text_scalar_list(out, list, ident);
		json_array_foreach(list, i, e)
			if (!is_scalar(e))
				text_value(out, e, ident, NULL);
	} else
		text_scalar_list(out, list, ident);
}

static void
text_value(FILE *out, json_t *v, const char *ident, const char **scalars)
{

	if (json_is_object(v))
		text_dict(out, v, ident, scalars);
	else if (json_is_array(v))
		text_list(out, v, ident);
	else {
		put_scalar(out, v);
		fputc('\n', out);
	}
}

/* ---- table ------------------------------------------------------------------ */

struct row {
	int header;			/* names, centred */
	size_t n;
	char **cells;
};

struct section {
	char *title;			/* NULL: none */
	int indent;
	size_t nrows;
	struct row *rows;
};

struct table {
	size_t n;
	struct section *s;
};

static int
new_section(struct table *t, const char *title, int indent)
{
	struct section *grown, *s;

	if ((grown = realloc(t->s, (t->n + 1) * sizeof(*grown))) == NULL)
		return (-1);
	t->s = grown;
	s = &t->s[t->n++];
	memset(s, 0, sizeof(*s));
	s->title = title != NULL ? strdup(title) : NULL;
	s->indent = indent;
	return (0);
}

/* Append a row to the last section; ${cells} (n of them) move in. */
static void
add_row(struct table *t, int header, char **cells, size_t n)
{
	struct section *s;
	struct row *grown;
	size_t i;

	if (cells == NULL)
		return;
	if ((t->n == 0 && new_section(t, NULL, 0)) || (grown = realloc(
	    t->s[t->n - 1].rows, (t->s[t->n - 1].nrows + 1) *
	    sizeof(*grown))) == NULL) {
		for (i = 0; i < n; i++)
			cf_heap_wipe_free(cells[i]);
		free(cells);
		return;
	}
	s = &t->s[t->n - 1];
	s->rows = grown;
	s->rows[s->nrows].header = header;
	s->rows[s->nrows].n = n;
	s->rows[s->nrows++].cells = cells;
}

static char **
cells_of_names(const char *const *keys, size_t n)
{
	char **c;
	size_t i;

	if ((c = calloc(n + 1, sizeof(*c))) == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		c[i] = strdup(keys[i]);
	return (c);
}

/* The members ${keys} of ${obj} as text; "" where one is missing. */
static char **
cells_of_values(json_t *obj, const char *const *keys, size_t n)
{
	json_t *v;
	char **c;
	size_t i;

	if ((c = calloc(n + 1, sizeof(*c))) == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		c[i] = (v = json_object_get(obj, keys[i])) != NULL ?
		    scalar_text(v) : strdup("");
	return (c);
}

static void table_build(struct table *, const char *, json_t *, int);

/* An object: its scalars as a header row and a value row, then the rest. */
static void
table_dict(struct table *t, json_t *obj, int indent)
{
	const char **keys, **sk;
	char **c;
	size_t i, n = 0;
	json_t *v;

	if ((keys = sorted_keys(obj)) == NULL)
		return;
	if ((sk = calloc(json_object_size(obj) + 1, sizeof(*sk))) == NULL)
		goto done;
	for (i = 0; keys[i] != NULL; i++)
		if (is_scalar(json_object_get(obj, keys[i])))
			sk[n++] = keys[i];
	if (n == 1 && (c = calloc(3, sizeof(*c))) != NULL) {
		/* One member: key | value. */
		c[0] = strdup(sk[0]);
		c[1] = scalar_text(json_object_get(obj, sk[0]));
		add_row(t, 0, c, 2);
	} else if (n > 1) {
		add_row(t, 1, cells_of_names(sk, n), n);
		add_row(t, 0, cells_of_values(obj, sk, n), n);
	}
	free(sk);
	for (i = 0; keys[i] != NULL; i++)
		if (!is_scalar(v = json_object_get(obj, keys[i])))
			table_build(t, keys[i], v, indent + 1);
done:
	free(keys);
}

/* A list of objects: columns of their scalars, a section per element. */
static void
table_list(struct table *t, json_t *list, const char *title, int indent)
{
	const char **keys, **all;
	size_t i, j, n;
	int more = 0;
	json_t *e, *v;
	const char *k;

	if ((keys = scalar_keys(list)) == NULL)
		return;
	for (n = 0; keys[n] != NULL; n++)
		;
	json_array_foreach(list, i, e)
		json_object_foreach(e, k, v)
			more |= !is_scalar(v);
	json_array_foreach(list, i, e) {
		if (!json_is_object(e))
			continue;
		if (i > 0 && more && new_section(t, title, indent))
			break;
		if (n > 0 && (i == 0 || more))
			add_row(t, 1, cells_of_names(keys, n), n);
		if (n > 0)
			add_row(t, 0, cells_of_values(e, keys, n), n);
		if ((all = sorted_keys(e)) == NULL)
			continue;
		for (j = 0; all[j] != NULL; j++)
			if (!is_scalar(v = json_object_get(e, all[j])))
				table_build(t, all[j], v, indent + 1);
		free(all);
	}
	free(keys);
}

static void
table_build(struct table *t, const char *title, json_t *v, int indent)
{
	char **c;
	size_t i, j;
	json_t *e, *x;

	if (v == NULL || json_is_null(v) || (json_is_array(v) &&
	    json_array_size(v) == 0) || (json_is_object(v) &&
	    json_object_size(v) == 0))
		return;
	if (title != NULL && new_section(t, title, indent))
		return;
	if (json_is_object(v)) {
		table_dict(t, v, indent);
		return;
	}
	if (is_scalar(v)) {
		if ((c = calloc(2, sizeof(*c))) != NULL)
			c[0] = scalar_text(v);
		add_row(t, 0, c, 1);
		return;
	}
	if (json_is_object(json_array_get(v, 0))) {
		table_list(t, v, title, indent);
		return;
	}
	json_array_foreach(v, i, e) {
		if (is_scalar(e)) {
			if ((c = calloc(2, sizeof(*c))) != NULL)
				c[0] = scalar_text(e);
			add_row(t, 0, c, 1);
		} else if (json_is_array(e) && (c = calloc(
		    json_array_size(e) + 1, sizeof(*c))) != NULL) {
			/* A list of scalars is one row. */
			json_array_foreach(e, j, x)
				c[j] = scalar_text(x);
			add_row(t, 0, c, json_array_size(e));
		} else
			table_build(t, NULL, e, indent + 1);
	}
}

static size_t
width_of(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return (n);
}

static void
repeat(FILE *out, size_t n, int c)
{

	while (n-- > 0)
		fputc(c, out);
}

/* The widest row (cells padded by two spaces each side) or title. */
static size_t
section_width(const struct section *s)
{
	size_t need = s->title != NULL ? width_of(s->title) + 4 : 0;
	size_t i, j, row;

	for (i = 0; i < s->nrows; i++) {
		row = s->rows[i].n ? s->rows[i].n - 1 : 0;
		for (j = 0; j < s->rows[i].n; j++)
			row += width_of(s->rows[i].cells[j]) + 4;
		if (row > need)
			need = row;
	}
	return (need + 2 * (size_t)s->indent);
}

/*
 * Column widths filling ${inner}: each column as wide as its widest cell
 * (plus padding) among the rows with every column, spare width spread.
 */
static size_t *
column_widths(const struct section *s, size_t inner, size_t *out_n)
{
	size_t i, j, n = 1, sum, *w;

	for (i = 0; i < s->nrows; i++)
		if (s->rows[i].n > n)
			n = s->rows[i].n;
	if ((w = calloc(n, sizeof(*w))) == NULL)
		return (NULL);
	for (i = 0; i < s->nrows; i++)
		for (j = 0; j < s->rows[i].n && s->rows[i].n == n; j++)
			if (width_of(s->rows[i].cells[j]) + 4 > w[j])
				w[j] = width_of(s->rows[i].cells[j]) + 4;
	for (sum = n - 1, j = 0; j < n; j++)
		sum += w[j];
	for (j = 0; sum < inner; j = (j + 1) % n, sum++)
		w[j]++;
	*out_n = n;
	return (w);
}

/* +----+----+ at ${indent}, with column marks when ${w} is given. */
static void
table_rule(FILE *out, int indent, size_t inner, const size_t *w, size_t n)
{
	size_t i;

	repeat(out, (size_t)indent, '|');
	fputc('+', out);
	if (w == NULL)
		repeat(out, inner, '-');
	else
		for (i = 0; i < n; i++) {
			repeat(out, w[i], '-');
			if (i + 1 < n)
				fputc('+', out);
		}
	fputc('+', out);
	repeat(out, (size_t)indent, '|');
	fputc('\n', out);
}

static void
table_line(FILE *out, int indent, const char *text, size_t inner)
{
	size_t len = width_of(text), gap = inner > len ? inner - len : 0;

	repeat(out, (size_t)indent + 1, '|');
	repeat(out, gap / 2, ' ');
	fputs(text, out);
	repeat(out, gap - gap / 2, ' ');
	repeat(out, (size_t)indent + 1, '|');
	fputc('\n', out);
}

static void
table_row(FILE *out, const struct section *s, const struct row *r,
    const size_t *w, size_t n)
{
	size_t j, m, cw, len, gap;

	repeat(out, (size_t)s->indent + 1, '|');
	for (j = 0; j < r->n; j++) {
		/* A short row's last cell spans the remaining columns. */
		cw = w[j];
		if (j + 1 == r->n)
			for (m = j + 1; m < n; m++)
				cw += w[m] + 1;
		len = width_of(r->cells[j]);
		gap = cw > len ? cw - len : 0;
		if (r->header) {
			repeat(out, gap / 2, ' ');
			fputs(r->cells[j] ? r->cells[j] : "", out);
			repeat(out, gap - gap / 2, ' ');
		} else {
			fputs("  ", out);
			fputs(r->cells[j] ? r->cells[j] : "", out);
			repeat(out, gap > 2 ? gap - 2 : 0, ' ');
		}
		fputc('|', out);
	}
	repeat(out, (size_t)s->indent, '|');
	fputc('\n', out);
}

static void
table_print(FILE *out, const struct table *t, const char *title)
{
	const struct section *s;
	size_t total = title != NULL ? width_of(title) + 4 : 0;
	size_t i, r, inner, n, *w;

	for (i = 0; i < t->n; i++)
		if (section_width(&t->s[i]) > total)
			total = section_width(&t->s[i]);
	if (title != NULL) {
		repeat(out, total + 2, '-');
		fputc('\n', out);
		table_line(out, 0, title, total);
	}
	for (i = 0; i < t->n; i++) {
		s = &t->s[i];
		inner = total - 2 * (size_t)s->indent;
		if ((w = column_widths(s, inner, &n)) == NULL)
			return;
		if (s->title != NULL) {
			table_rule(out, s->indent, inner, NULL, 0);
			table_line(out, s->indent, s->title, inner);
		}
		table_rule(out, s->indent, inner, w, n);
		for (r = 0; r < s->nrows; r++) {
			table_row(out, s, &s->rows[r], w, n);
			if (s->rows[r].header)
				table_rule(out, s->indent, inner, w, n);
		}
		if (s->nrows > 0 && !s->rows[s->nrows - 1].header)
			table_rule(out, s->indent, inner, w, n);
		free(w);
	}
}

static void
table_free(struct table *t)
{
	size_t i, r, j;

	for (i = 0; i < t->n; i++) {
		for (r = 0; r < t->s[i].nrows; r++) {
			for (j = 0; j < t->s[i].rows[r].n; j++)
				cf_heap_wipe_free(t->s[i].rows[r].cells[j]);
			free(t->s[i].rows[r].cells);
		}
		free(t->s[i].rows);
		free(t->s[i].title);
	}
	free(t->s);
}

/* ---- entry points -------------------------------------------------------------- */

int
cli_render(FILE *out, json_t *v, const char *format, const char *title)
{
	struct table t = { 0, NULL };
	char *s;

	if (format == NULL || strcmp(format, "json") == 0) {
		if ((s = json_dumps(v, CLI_JSON_FLAGS)) == NULL)
			return (-1);
		fputs(s, out);
		fputc('\n', out);
		cf_heap_wipe_free(s);
		return (0);
	}
	if (strcmp(format, "text") == 0) {
		text_value(out, v, NULL, NULL);
		return (0);
	}
	if (strcmp(format, "table") == 0) {
		if (is_scalar(v)) {
			put_scalar(out, v);
			fputc('\n', out);
			return (0);
		}
		table_build(&t, NULL, v, 0);
		table_print(out, &t, title);
		table_free(&t);
		return (0);
	}
	return (-1);
}

int
cli_error_text(char *buf, size_t n, const char *op,
    const struct cli_status *st, const char *endpoint)
{

	/* Our own failures: decoding, paging. */
	if (st->code == CLI_STATUS_LOCAL) {
		snprintf(buf, n, "\n%s\n", st->message);
		return (CLI_EXIT_CLIENT);
	}

	/* No answer from cofferd: the AWS CLI's connection errors. */
	if (st->error_type[0] == '\0' && st->code == 14 /* UNAVAILABLE */) {
		snprintf(buf, n, "\nCould not connect to the endpoint URL: "
		    "\"%s\"\n", endpoint);
		return (CLI_EXIT_CLIENT);
	}
	if (st->error_type[0] == '\0' && st->code == 4 /* DEADLINE */) {
		snprintf(buf, n, "\nRead timeout on endpoint URL: \"%s\"\n",
		    endpoint);
		return (CLI_EXIT_CLIENT);
	}

	/* An answer: the AWS exception name, else the gRPC status name. */
	snprintf(buf, n, "\nAn error occurred (%s) when calling the %s "
	    "operation: %s\n", st->error_type[0] != '\0' ? st->error_type :
	    cli_status_name(st->code), op, st->message);
	return (CLI_EXIT_SERVICE);
}

void
cli_usage_print(FILE *out, const struct cli_usage *u)
{

	fprintf(out, "\nusage: coffer [options] <command> [parameters]\n"
	    "To see help text, you can run:\n\n  coffer help\n");
	if (u->verb != NULL)
		fprintf(out, "  coffer %s help\n", u->verb->name);
	else
		fprintf(out, "  coffer <command> help\n");
	fprintf(out, "\ncoffer: error: %s\n", u->msg);
}
