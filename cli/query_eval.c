/*
 * query_eval.c: the interpreter of --query trees (see query.c), with
 * jmespath.py's rules: a projection applies the rest of the expression to
 * each element and drops nulls; a field of a non-object, an index of a
 * non-array and a projection of anything but an array are null; false,
 * null, "", [] and {} are false; ordering compares numbers only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"
#include "query_internal.h"

/* Functions: name, least and most arguments (-1: any). */
static const struct {
	const char *name;
	int min, max;
} functions[] = {
	{ "abs", 1, 1 }, { "avg", 1, 1 }, { "contains", 2, 2 },
	{ "ends_with", 2, 2 }, { "join", 2, 2 }, { "keys", 1, 1 },
	{ "length", 1, 1 }, { "max", 1, 1 }, { "max_by", 2, 2 },
	{ "min", 1, 1 }, { "min_by", 2, 2 }, { "not_null", 1, -1 },
	{ "reverse", 1, 1 }, { "sort", 1, 1 }, { "sort_by", 2, 2 },
	{ "starts_with", 2, 2 }, { "sum", 1, 1 }, { "to_array", 1, 1 },
	{ "to_number", 1, 1 }, { "to_string", 1, 1 }, { "type", 1, 1 },
	{ "values", 1, 1 },
};

int
query_function_arity(const char *name, size_t nargs, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
		if (strcmp(functions[i].name, name) != 0)
			continue;
		if ((int)nargs < functions[i].min || (functions[i].max >= 0 &&
		    (int)nargs > functions[i].max)) {
			snprintf(err, errlen, "Expected %d argument%s for "
			    "function %s(), received %zu", functions[i].min,
			    functions[i].min == 1 ? "" : "s", name, nargs);
			return (0);
		}
		return (1);
	}
	snprintf(err, errlen, "Unknown function: %s()", name);
	return (0);
}


struct ev {
	int depth, failed;
	char *err;
	size_t errlen;
};

/* A new reference to ${v}, with JSON null as NULL (JMESPath's None). */
static json_t *
ref(json_t *v)
{

	return (v == NULL || json_is_null(v) ? NULL : json_incref(v));
}

static int
truthy(json_t *v)
{

	if (v == NULL || json_is_false(v))
		return (0);
	if (json_is_string(v))
		return (json_string_length(v) > 0);
	if (json_is_array(v))
		return (json_array_size(v) > 0);
	if (json_is_object(v))
		return (json_object_size(v) > 0);
	return (1);
}

static int
equal(json_t *a, json_t *b)
{

	if (a == NULL || b == NULL)
		return (a == b);
	if (json_is_number(a) && json_is_number(b))
		return (json_number_value(a) == json_number_value(b));
	return (json_equal(a, b));
}

static const char *
type_of(json_t *v)
{

	if (v == NULL)
		return ("null");
	switch (json_typeof(v)) {
	case JSON_STRING:
		return ("string");
	case JSON_INTEGER:
	case JSON_REAL:
		return ("number");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("boolean");
	case JSON_ARRAY:
		return ("array");
	case JSON_OBJECT:
		return ("object");
	default:
		return ("null");
	}
}

static json_t *
ev_error(struct ev *e, const char *fn, const char *expected, json_t *got)
{

	if (!e->failed)
		snprintf(e->err, e->errlen, "In function %s(), invalid type for "
		    "value: expected one of: %s, received: \"%s\"", fn,
		    expected, type_of(got));
	e->failed = 1;
	return (NULL);
}

static json_t *eval(struct ev *, const struct qnode *, json_t *);

/* Python's slice of ${v}. */
static json_t *
slice(const struct qnode *n, json_t *v)
{
	long len, start, stop, step, i;
	json_t *out;

	if (!json_is_array(v))
		return (NULL);
	len = (long)json_array_size(v);
	step = n->has[2] ? n->slice[2] : 1;
	start = n->has[0] ? n->slice[0] : (step > 0 ? 0 : len - 1);
	stop = n->has[1] ? n->slice[1] : (step > 0 ? len : -len - 1);
	if (start < 0 && (start += len) < 0)
		start = step > 0 ? 0 : -1;
	else if (start >= len)
		start = step > 0 ? len : len - 1;
	if (stop < 0 && (stop += len) < 0)
		stop = step > 0 ? 0 : -1;
	else if (stop >= len)
		stop = step > 0 ? len : len - 1;
	if ((out = json_array()) == NULL)
		return (NULL);
	for (i = start; step > 0 ? i < stop : i > stop; i += step)
		json_array_append(out, json_array_get(v, (size_t)i));
	return (out);
}

/* Apply ${right} to each element; nulls dropped. */
static json_t *
project(struct ev *e, const struct qnode *right, json_t *base,
    const struct qnode *cond)
{
	json_t *out, *el, *r, *c;
	size_t i;

	if (!json_is_array(base) || (out = json_array()) == NULL)
		return (NULL);
	json_array_foreach(base, i, el) {
		if (cond != NULL) {
			c = eval(e, cond, el);
			if (!truthy(c)) {
				json_decref(c);
				continue;
			}
			json_decref(c);
		}
		if ((r = eval(e, right, el)) != NULL)
			json_array_append_new(out, r);
	}
	return (out);
}

static int
cmp_numbers(json_t *a, json_t *b, enum tok op)
{
	double x = json_number_value(a), y = json_number_value(b);

	switch (op) {
	case T_LT:
		return (x < y);
	case T_LTE:
		return (x <= y);
	case T_GT:
		return (x > y);
	default:
		return (x >= y);
	}
}

/* ---- functions ---- */

static int
sortable(json_t *a)
{
	size_t i;
	json_t *v;
	int nums = 0, strs = 0;

	json_array_foreach(a, i, v) {
		nums += json_is_number(v);
		strs += json_is_string(v);
	}
	return (nums == (int)json_array_size(a) ||
	    strs == (int)json_array_size(a));
}

static int
cmp_values(json_t *a, json_t *b)
{

	if (json_is_number(a) && json_is_number(b)) {
		double x = json_number_value(a), y = json_number_value(b);

		return ((x > y) - (x < y));
	}
	return (strcmp(json_string_value(a), json_string_value(b)));
}

/* Insertion sort of ${keys} with ${vals} alongside: stable and small. */
static void
sort_pairs(json_t **keys, json_t **vals, size_t n)
{
	json_t *k, *v;
	size_t i, j;

	for (i = 1; i < n; i++) {
		k = keys[i];
		v = vals[i];
		for (j = i; j > 0 && cmp_values(keys[j - 1], k) > 0; j--) {
			keys[j] = keys[j - 1];
			vals[j] = vals[j - 1];
		}
		keys[j] = k;
		vals[j] = v;
	}
}

/* sort, sort_by, max_by, min_by: ${by} NULL sorts the values themselves. */
static json_t *
fn_sort(struct ev *e, const char *fn, json_t *arr, const struct qnode *by,
    int pick)
{
	json_t **keys = NULL, **vals = NULL, *out = NULL, *k;
	size_t i, n;

	if (!json_is_array(arr))
		return (ev_error(e, fn, "array", arr));
	n = json_array_size(arr);
	if ((keys = calloc(n + 1, sizeof(*keys))) == NULL ||
	    (vals = calloc(n + 1, sizeof(*vals))) == NULL)
		goto done;
	for (i = 0; i < n; i++) {
		vals[i] = json_array_get(arr, i);
		k = by != NULL ? eval(e, by, vals[i]) : json_incref(vals[i]);
		keys[i] = k;
		if (k == NULL || (!json_is_number(k) && !json_is_string(k)) ||
		    (i > 0 && json_is_number(k) != json_is_number(keys[0]))) {
			ev_error(e, fn, "number or string (all alike)", k);
			goto done;
		}
	}
	sort_pairs(keys, vals, n);
	if (pick != 0)
		out = n == 0 ? NULL : json_incref(vals[pick > 0 ? n - 1 : 0]);
	else if ((out = json_array()) != NULL)
		for (i = 0; i < n; i++)
			json_array_append(out, vals[i]);
done:
	for (i = 0; keys != NULL && i < n; i++)
		json_decref(keys[i]);
	free(keys);
	free(vals);
	return (out);
}

static json_t *
call_function(struct ev *e, const struct qnode *n, json_t *v)
{
	json_t *a[2] = { NULL, NULL }, *out = NULL, *x;
	const char *fn = n->name, *s, *t;
	size_t i, k, len;
	double sum = 0;
	char *str;

	/* not_null evaluates lazily; sort_by & co. take an expression. */
	if (strcmp(fn, "not_null") == 0) {
		for (i = 0; i < n->n; i++)
			if ((x = eval(e, n->kids[i], v)) != NULL)
				return (x);
		return (NULL);
	}
	if (strcmp(fn, "sort_by") == 0 || strcmp(fn, "max_by") == 0 ||
	    strcmp(fn, "min_by") == 0) {
		if (n->kids[1]->kind != N_EXPREF)
			return (ev_error(e, fn, "expression (&expr)", NULL));
		a[0] = eval(e, n->kids[0], v);
		out = fn_sort(e, fn, a[0], n->kids[1]->kids[0],
		    fn[1] == 'o' ? 0 : fn[1] == 'a' ? 1 : -1);
		json_decref(a[0]);
		return (out);
	}
	for (i = 0; i < n->n && i < 2; i++)
		a[i] = eval(e, n->kids[i], v);
	if (e->failed)
		goto done;

	if (strcmp(fn, "length") == 0) {
		if (json_is_string(a[0])) {
			s = json_string_value(a[0]);
			for (len = 0; *s != '\0'; s++)
				len += ((unsigned char)*s & 0xc0) != 0x80;
			out = json_integer((json_int_t)len);
		} else if (json_is_array(a[0]))
			out = json_integer((json_int_t)json_array_size(a[0]));
		else if (json_is_object(a[0]))
			out = json_integer((json_int_t)json_object_size(a[0]));
		else
			ev_error(e, fn, "string, array, object", a[0]);
	} else if (strcmp(fn, "contains") == 0) {
		if (json_is_array(a[0])) {
			out = json_false();
			json_array_foreach(a[0], i, x)
				if (equal(x, a[1])) {
					out = json_true();
					break;
				}
		} else if (json_is_string(a[0]))
			out = json_boolean(json_is_string(a[1]) && strstr(
			    json_string_value(a[0]), json_string_value(a[1])) !=
			    NULL);
		else
			ev_error(e, fn, "array, string", a[0]);
	} else if (strcmp(fn, "starts_with") == 0 ||
	    strcmp(fn, "ends_with") == 0) {
		if (!json_is_string(a[0]) || !json_is_string(a[1]))
			ev_error(e, fn, "string", json_is_string(a[0]) ? a[1] :
			    a[0]);
		else {
			s = json_string_value(a[0]);
			t = json_string_value(a[1]);
			len = strlen(s);
			k = strlen(t);
			out = json_boolean(k <= len && strncmp(fn[0] == 's' ? s :
			    s + len - k, t, k) == 0);
		}
	} else if (strcmp(fn, "keys") == 0 || strcmp(fn, "values") == 0) {
		if (!json_is_object(a[0]))
			ev_error(e, fn, "object", a[0]);
		else if ((out = json_array()) != NULL) {
			json_object_foreach(a[0], s, x)
				json_array_append_new(out, fn[0] == 'k' ?
				    json_string(s) : json_incref(x));
		}
	} else if (strcmp(fn, "sort") == 0) {
		if (json_is_array(a[0]) && !sortable(a[0]))
			ev_error(e, fn, "array of numbers or of strings", a[0]);
		else
			out = fn_sort(e, fn, a[0], NULL, 0);
	} else if (strcmp(fn, "max") == 0 || strcmp(fn, "min") == 0) {
		if (!json_is_array(a[0]) || !sortable(a[0]))
			ev_error(e, fn, "array of numbers or of strings", a[0]);
		else
			out = fn_sort(e, fn, a[0], NULL, fn[1] == 'a' ? 1 : -1);
	} else if (strcmp(fn, "sum") == 0 || strcmp(fn, "avg") == 0) {
		if (!json_is_array(a[0]))
			ev_error(e, fn, "array of numbers", a[0]);
		else {
			json_array_foreach(a[0], i, x) {
				if (!json_is_number(x))
					break;
				sum += json_number_value(x);
			}
			if (i < json_array_size(a[0]))
				ev_error(e, fn, "array of numbers", a[0]);
			else if (fn[0] == 'a')
				out = json_array_size(a[0]) == 0 ? NULL :
				    json_real(sum / (double)json_array_size(
				    a[0]));
			else
				out = sum == floor(sum) && fabs(sum) < 9e15 ?
				    json_integer((json_int_t)sum) :
				    json_real(sum);
		}
	} else if (strcmp(fn, "abs") == 0) {
		if (json_is_integer(a[0]))
			out = json_integer(llabs(json_integer_value(a[0])));
		else if (json_is_real(a[0]))
			out = json_real(fabs(json_real_value(a[0])));
		else
			ev_error(e, fn, "number", a[0]);
	} else if (strcmp(fn, "reverse") == 0) {
		if (json_is_array(a[0]) && (out = json_array()) != NULL) {
			for (i = json_array_size(a[0]); i > 0; i--)
				json_array_append(out, json_array_get(a[0],
				    i - 1));
		} else if (json_is_string(a[0])) {
			/* By code point. */
			s = json_string_value(a[0]);
			len = strlen(s);
			if ((str = malloc(len + 1)) != NULL) {
				for (i = 0; i < len; i = k) {
					for (k = i + 1; k < len &&
					    ((unsigned char)s[k] & 0xc0) == 0x80;
					    k++)
						;
					memcpy(str + len - k, s + i, k - i);
				}
				str[len] = '\0';
				out = json_string(str);
				free(str);
			}
		} else
			ev_error(e, fn, "array, string", a[0]);
	} else if (strcmp(fn, "join") == 0) {
		if (!json_is_string(a[0]) || !json_is_array(a[1]))
			ev_error(e, fn, "string, array of strings",
			    json_is_string(a[0]) ? a[1] : a[0]);
		else {
			len = 1;
			json_array_foreach(a[1], i, x) {
				if (!json_is_string(x))
					break;
				len += json_string_length(x) +
				    json_string_length(a[0]);
			}
			if (i < json_array_size(a[1]))
				ev_error(e, fn, "array of strings", a[1]);
			else if ((str = calloc(1, len)) != NULL) {
				json_array_foreach(a[1], i, x) {
					if (i > 0)
						strcat(str, json_string_value(
						    a[0]));
					strcat(str, json_string_value(x));
				}
				out = json_string(str);
				free(str);
			}
		}
	} else if (strcmp(fn, "to_string") == 0) {
		if (json_is_string(a[0]))
			out = json_incref(a[0]);
		else if ((str = json_dumps(a[0] ? a[0] : json_null(),
		    JSON_ENCODE_ANY | JSON_COMPACT)) != NULL) {
			out = json_string(str);
			free(str);
		}
	} else if (strcmp(fn, "to_number") == 0) {
		if (json_is_number(a[0]))
			out = json_incref(a[0]);
		else if (json_is_string(a[0]))
			out = json_loads(json_string_value(a[0]),
			    JSON_DECODE_ANY, NULL);
		if (out != NULL && !json_is_number(out)) {
			json_decref(out);
			out = NULL;
		}
	} else if (strcmp(fn, "to_array") == 0) {
		out = json_is_array(a[0]) ? json_incref(a[0]) :
		    json_pack("[O]", a[0] ? a[0] : json_null());
	} else if (strcmp(fn, "type") == 0)
		out = json_string(type_of(a[0]));

done:
	json_decref(a[0]);
	json_decref(a[1]);
	if (e->failed) {
		json_decref(out);
		return (NULL);
	}
	return (out);
}

static json_t *
eval(struct ev *e, const struct qnode *n, json_t *v)
{
	json_t *l, *r, *out, *el;
	const char *key;
	size_t i, j;
	long idx;

	if (e->failed || n == NULL)
		return (NULL);
	if (++e->depth > QUERY_MAX_DEPTH) {
		snprintf(e->err, e->errlen, "expression nested too deeply");
		e->failed = 1;
		e->depth--;
		return (NULL);
	}
	out = NULL;
	switch (n->kind) {
	case N_IDENTITY:
	case N_CURRENT:
		out = ref(v);
		break;
	case N_FIELD:
		out = json_is_object(v) ? ref(json_object_get(v, n->name)) :
		    NULL;
		break;
	case N_SUBEXPR:
	case N_INDEX_EXPR:
		out = eval(e, n->kids[0], v);
		for (i = 1; i < n->n && out != NULL; i++) {
			r = eval(e, n->kids[i], out);
			json_decref(out);
			out = r;
		}
		break;
	case N_INDEX:
		if (!json_is_array(v))
			break;
		idx = n->index < 0 ? (long)json_array_size(v) + n->index :
		    n->index;
		if (idx >= 0)
			out = ref(json_array_get(v, (size_t)idx));
		break;
	case N_SLICE:
		out = slice(n, v);
		break;
	case N_PROJECTION:
		l = eval(e, n->kids[0], v);
		out = project(e, n->kids[1], l, NULL);
		json_decref(l);
		break;
	case N_FILTER:
		l = eval(e, n->kids[0], v);
		out = project(e, n->kids[1], l, n->kids[2]);
		json_decref(l);
		break;
	case N_VALUE_PROJECTION:
		l = eval(e, n->kids[0], v);
		if (json_is_object(l) && (r = json_array()) != NULL) {
			json_object_foreach(l, key, el)
				json_array_append(r, el);
			out = project(e, n->kids[1], r, NULL);
			json_decref(r);
		}
		json_decref(l);
		break;
	case N_FLATTEN:
		l = eval(e, n->kids[0], v);
		if (json_is_array(l) && (out = json_array()) != NULL)
			json_array_foreach(l, i, el) {
				if (json_is_array(el))
					json_array_extend(out, el);
				else
					json_array_append(out, el);
			}
		json_decref(l);
		break;
	case N_LIST:
		if (v == NULL || json_is_null(v) || (out = json_array()) ==
		    NULL)
			break;
		for (j = 0; j < n->n; j++)
			json_array_append_new(out, (r = eval(e, n->kids[j], v)) ?
			    r : json_null());
		break;
	case N_HASH:
		if (v == NULL || json_is_null(v) || (out = json_object()) ==
		    NULL)
			break;
		for (j = 0; j < n->n; j++)
			json_object_set_new(out, n->keys[j], (r = eval(e,
			    n->kids[j], v)) ? r : json_null());
		break;
	case N_CMP:
		l = eval(e, n->kids[0], v);
		r = eval(e, n->kids[1], v);
		if (n->cmp == T_EQ || n->cmp == T_NE)
			out = json_boolean(equal(l, r) == (n->cmp == T_EQ));
		else if (json_is_number(l) && json_is_number(r))
			out = json_boolean(cmp_numbers(l, r, n->cmp));
		json_decref(l);
		json_decref(r);
		break;
	case N_OR:
	case N_AND:
		l = eval(e, n->kids[0], v);
		if (truthy(l) == (n->kind == N_OR)) {
			out = l;
			break;
		}
		json_decref(l);
		out = eval(e, n->kids[1], v);
		break;
	case N_NOT:
		l = eval(e, n->kids[0], v);
		out = json_boolean(!truthy(l));
		json_decref(l);
		break;
	case N_PIPE:
		l = eval(e, n->kids[0], v);
		out = eval(e, n->kids[1], l);
		json_decref(l);
		break;
	case N_LITERAL:
		out = ref(n->lit);
		break;
	case N_FUNCTION:
		out = call_function(e, n, v);
		break;
	case N_EXPREF:
		/* Only meaningful as a function argument. */
		break;
	}
	e->depth--;
	return (out);
}

json_t *
cli_query_eval(const struct cli_query *q, json_t *v, char *err, size_t errlen)
{
	struct ev e = { 0, 0, err, errlen };
	json_t *r;

	r = eval(&e, q->root, v);
	if (e.failed) {
		json_decref(r);
		return (NULL);
	}
	return (r != NULL ? r : json_null());
}

json_t *
cli_query(json_t *v, const char *expr, char *err, size_t errlen)
{
	struct cli_query *q;
	json_t *r;

	if ((q = cli_query_compile(expr, err, errlen)) == NULL)
		return (NULL);
	r = cli_query_eval(q, v, err, errlen);
	cli_query_free(q);
	return (r);
}
