/*
 * values.c: what a flag's words mean, as in the AWS CLI: file://PATH
 * (text) and fileb://PATH (bytes) for any value; a blob as base64 (or raw
 * with --cli-binary-format raw-in-base64-out); a list as several words or
 * one JSON array; a structure as shorthand (Key=k,Value=v) or JSON.
 * Values are checked against the schema's types on the way in (shape/shape.c).
 * Buffers that held a value are wiped before they are freed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_internal.h"

/* ---- values -------------------------------------------------------------------- */

/* Read all of ${path}; growing the buffer never leaves a copy unwiped. */
static char *
read_file(const char *path, size_t *out_len, char *err, size_t errlen)
{
	char *buf = NULL, *grown;
	size_t cap = 0, len = 0;
	struct stat st;
	ssize_t k;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	cap = (fstat(fd, &st) == 0 && st.st_size > 0) ?
	    (size_t)st.st_size + 1 : 4096;
	if ((buf = malloc(cap)) == NULL)
		goto fail;
	for (;;) {
		if (len + 1 >= cap) {
			if ((grown = malloc(cap * 2)) == NULL)
				goto fail;
			memcpy(grown, buf, len);
			cf_heap_wipe_free(buf);
			buf = grown;
			cap *= 2;
		}
		if ((k = read(fd, buf + len, cap - len - 1)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	buf[len] = '\0';
	*out_len = len;
	return (buf);

fail:
	snprintf(err, errlen, "Unable to load paramfile %s: %s", path,
	    strerror(errno));
	cf_heap_wipe_free(buf);
	if (fd != -1)
		close(fd);
	return (NULL);
}

char *
cli_param_value(const char *word, size_t *out_len, int *out_binary,
    char *err, size_t errlen)
{
	const char *path = NULL, *home;
	char expanded[PATH_MAX];
	char *copy;

	*out_binary = 0;
	if (strncmp(word, "file://", 7) == 0)
		path = word + 7;
	else if (strncmp(word, "fileb://", 8) == 0) {
		path = word + 8;
		*out_binary = 1;
	}
	if (path == NULL) {
		*out_len = strlen(word);
		if ((copy = strdup(word)) == NULL)
			snprintf(err, errlen, "out of memory");
		return (copy);
	}

	/* ~/ is the home directory, as the AWS CLI expands it. */
	if (strncmp(path, "~/", 2) == 0 && (home = getenv("HOME")) != NULL) {
		snprintf(expanded, sizeof(expanded), "%s/%s", home, path + 2);
		path = expanded;
	}
	return (read_file(path, out_len, err, errlen));
}

/* ---- shorthand ------------------------------------------------------------------ */

/*
 * One shorthand value at *p: 'quoted' or "quoted" (backslash escapes the
 * quote), or bare up to a character of ${stops}, trimmed.  New string.
 */
static json_t *
sh_value(const char **p, const char *stops)
{
	const char *s = *p, *start, *end;
	char *buf, *o, q;
	json_t *v;

	while (*s == ' ')
		s++;
	if (*s == '"' || *s == '\'') {
		q = *s++;
		if ((buf = malloc(strlen(s) + 1)) == NULL)
			return (NULL);
		for (o = buf; *s != '\0' && *s != q; s++) {
			if (*s == '\\' && (s[1] == q || s[1] == '\\'))
				s++;
			*o++ = *s;
		}
		*o = '\0';
		if (*s != q) {
			free(buf);
			return (NULL);
		}
		s++;
		while (*s == ' ')
			s++;
		*p = s;
		v = json_string(buf);
		free(buf);
		return (v);
	}
	start = s;
	while (*s != '\0' && strchr(stops, *s) == NULL)
		s++;
	for (end = s; end > start && end[-1] == ' '; end--)
		;
	*p = s;
	return (json_stringn(start, (size_t)(end - start)));
}

/* Does ${s} start a new "Name=" member (rather than continue a list)? */
static int
sh_is_key(const char *s)
{
	const char *k = s;

	while (*k == ' ')
		k++;
	if (!isalpha((unsigned char)*k))
		return (0);
	while (isalnum((unsigned char)*k) || *k == '_')
		k++;
	while (*k == ' ')
		k++;
	return (*k == '=');
}

/* A shorthand string member of type ${f}, typed as its field is. */
static json_t *
sh_typed(const ProtobufCFieldDescriptor *f, json_t *s, char *err,
    size_t errlen)
{
	const char *t = json_string_value(s);
	long long n;
	char *end;
	json_t *v = NULL;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
		errno = 0;
		n = strtoll(t, &end, 10);
		if (*t == '\0' || *end != '\0' || errno != 0)
			snprintf(err, errlen, "invalid literal for int() with "
			    "base 10: '%s'", t);
		else
			v = json_integer(n);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (strcasecmp(t, "true") == 0 || strcasecmp(t, "false") == 0)
			v = json_boolean(strcasecmp(t, "true") == 0);
		else
			snprintf(err, errlen, "invalid boolean '%s' (true or "
			    "false)", t);
		break;
	default:
		v = json_incref(s);
		break;
	}
	json_decref(s);
	return (v);
}

json_t *
cli_shorthand(const ProtobufCMessageDescriptor *d, const char *text,
    char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f;
	json_t *obj, *arr, *v;
	const char *p = text, *k;
	char key[128];
	size_t n;

	if ((obj = json_object()) == NULL)
		goto nomem;
	while (*p != '\0') {
		/* Name= */
		while (*p == ' ')
			p++;
		for (k = p; isalnum((unsigned char)*p) || *p == '_'; p++)
			;
		n = (size_t)(p - k);
		while (*p == ' ')
			p++;
		if (n == 0 || n >= sizeof(key) || *p != '=') {
			snprintf(err, errlen, "Expected: '=', received: '%c' "
			    "for input: %s", *p ? *p : ' ', text);
			goto fail;
		}
		memcpy(key, k, n);
		key[n] = '\0';
		p++;
		if ((f = shape_field_by_pascal(d, key)) == NULL) {
			snprintf(err, errlen, "Unknown key '%s' in shorthand "
			    "for %s", key, d->short_name);
			goto fail;
		}

		/* A list: [a,b], or a,b up to the next Name=. */
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			arr = json_array();
			json_object_set_new(obj, key, arr);
			if (*p == '[') {
				p++;
				for (;;) {
					if ((v = sh_value(&p, ",]")) == NULL)
						goto bad;
					json_array_append_new(arr, v);
					if (*p == ']')
						break;
					if (*p++ != ',')
						goto bad;
				}
				p++;
			} else {
				for (;;) {
					if ((v = sh_value(&p, ",")) == NULL)
						goto bad;
					json_array_append_new(arr, v);
					if (*p != ',' || sh_is_key(p + 1))
						break;
					p++;
				}
			}
		} else {
			if ((v = sh_value(&p, ",")) == NULL)
				goto bad;
			if ((v = sh_typed(f, v, err, errlen)) == NULL)
				goto fail;
			json_object_set_new(obj, key, v);
		}
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	return (obj);

bad:
	snprintf(err, errlen, "Error parsing shorthand near '%.20s' in: %s",
	    p, text);
fail:
	json_decref(obj);
	return (NULL);
nomem:
	snprintf(err, errlen, "out of memory");
	return (NULL);
}

/* ---- one flag ------------------------------------------------------------------- */

static const char *
skip_space(const char *s)
{

	while (isspace((unsigned char)*s))
		s++;
	return (s);
}

/* A structure given as JSON ({...}) or shorthand.  New reference. */
static json_t *
structure(const ProtobufCFieldDescriptor *f, const char *text, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *v;

	if (*skip_space(text) != '{')
		return (cli_shorthand(f->descriptor, text, err, errlen));
	if ((v = json_loads(text, 0, &je)) == NULL)
		snprintf(err, errlen, "Invalid JSON: %s", je.text);
	return (v);
}

/* Set ${f} from one JSON value via the AWS-shape path (type checks). */
static int
set_json(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v,
    const struct shape_opts *o, char *err, size_t errlen)
{
	char key[128];
	json_t *obj;
	int rc;

	shape_pascal(f->name, key, sizeof(key));
	if ((obj = json_object()) == NULL || json_object_set_new(obj, key,
	    v)) {
		json_decref(obj);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	rc = shape_json_to_message(m, obj, o, err, errlen);
	json_decref(obj);
	return (rc);
}

/* Elements of a list flag: every word up to the next --flag. */
static int
set_list(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, char **words,
    int n, int *used, const struct shape_opts *o, char *err, size_t errlen)
{
	json_error_t je;
	json_t *arr, *e;
	char *text;
	size_t len;
	int i, bin;

	if ((arr = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < n && strncmp(words[i], "--", 2) != 0; i++) {
		if ((text = cli_param_value(words[i], &len, &bin, err,
		    errlen)) == NULL)
			goto fail;
		/* One word holding a JSON array is the whole list. */
		if (i == 0 && *skip_space(text) == '[') {
			json_decref(arr);
			arr = json_loads(text, 0, &je);
			cf_heap_wipe_free(text);
			if (arr == NULL) {
				snprintf(err, errlen, "Invalid JSON: %s",
				    je.text);
				return (-1);
			}
			i++;
			break;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			e = structure(f, text, err, errlen);
		else
			e = json_string(text);
		cf_heap_wipe_free(text);
		if (e == NULL) {
			if (f->type != PROTOBUF_C_TYPE_MESSAGE)
				snprintf(err, errlen, "value is not UTF-8");
			goto fail;
		}
		json_array_append_new(arr, e);
	}
	*used = i;
	return (set_json(m, f, arr, o, err, errlen));

nomem:
	snprintf(err, errlen, "out of memory");
fail:
	json_decref(arr);
	return (-1);
}

/* A single value: structure, blob, string or integer. */
static int
set_single(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const char *word, const struct shape_opts *o, char *err, size_t errlen)
{
	ProtobufCBinaryData *b;
	long long n;
	char *text, *end;
	size_t len;
	json_t *v;
	int bin, rc = -1;

	if ((text = cli_param_value(word, &len, &bin, err, errlen)) == NULL)
		return (-1);
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		if ((v = structure(f, text, err, errlen)) != NULL)
			rc = set_json(m, f, v, o, err, errlen);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		if (bin || o->raw_binary) {
			/* fileb:// or raw-in-base64-out: the bytes as they are. */
			shape_field_clear(m, f);
			b = (ProtobufCBinaryData *)((char *)m + f->offset);
			b->data = (uint8_t *)text;
			b->len = len;
			*(protobuf_c_boolean *)((char *)m +
			    f->quantifier_offset) = 1;
			return (0);
		}
		if ((v = json_stringn(text, len)) == NULL)
			snprintf(err, errlen, "value is not UTF-8");
		else
			rc = set_json(m, f, v, o, err, errlen);
		break;
	case PROTOBUF_C_TYPE_STRING:
		/* The text moves into the request: no copy to wipe. */
		shape_field_clear(m, f);
		*(char **)((char *)m + f->offset) = text;
		return (0);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
		if (shape_is_date(f)) {
			rc = set_json(m, f, json_string(text), o, err, errlen);
			break;
		}
		errno = 0;
		n = strtoll(text, &end, 10);
		if (*text == '\0' || *end != '\0' || errno != 0)
			snprintf(err, errlen, "invalid literal for int() with "
			    "base 10: '%s'", text);
		else
			rc = set_json(m, f, json_integer(n), o, err, errlen);
		break;
	default:
		snprintf(err, errlen, "unsupported parameter type");
		break;
	}
	cf_heap_wipe_free(text);
	return (rc);
}

int
cli_set_flag(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    char **words, int n, int *used, const struct shape_opts *o, char *err,
    size_t errlen)
{
	char flag[128], inner[512];
	int rc;

	*used = 0;
	cli_kebab(f->name, flag, sizeof(flag));
	if (f->type == PROTOBUF_C_TYPE_BOOL &&
	    f->label != PROTOBUF_C_LABEL_REPEATED) {
		*(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
		*(protobuf_c_boolean *)((char *)m + f->offset) = 1;
		return (0);
	}
	if (n < 1 || strncmp(words[0], "--", 2) == 0) {
		snprintf(err, errlen, "argument --%s: expected one argument",
		    flag);
		return (-1);
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		rc = set_list(m, f, words, n, used, o, inner, sizeof(inner));
	else {
		*used = 1;
		rc = set_single(m, f, words[0], o, inner, sizeof(inner));
	}
	if (rc) {
		/* Validation messages stand alone; the rest name the flag. */
		if (strncmp(inner, "Parameter validation", 20) == 0)
			snprintf(err, errlen, "%s", inner);
		else
			snprintf(err, errlen, "Error parsing parameter '--%s': "
			    "%s", flag, inner);
	}
	return (rc);
}
