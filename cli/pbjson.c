/*
 * pbjson.c: protobuf messages <-> the AWS CLI's JSON, by reflection.
 *
 * Field rules: snake_case in the schema is PascalCase in JSON, with "arn"
 * written "ARN" (RotationLambdaARN); int64 members named *_date are
 * timestamps; bytes are base64; VersionStagesEntry lists are objects
 * {VersionId: [labels]}.  Command-line values accept file:// and fileb://,
 * lists as several words or a JSON array, and structures as shorthand
 * (Key=k,Value=v) or JSON, like the AWS CLI.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "cli.h"

void
cli_pascal(const char *snake, char *out, size_t n)
{
	size_t k = 0;
	int up = 1;

	for (; *snake != '\0' && k + 4 < n; snake++) {
		if (*snake == '_') {
			up = 1;
			continue;
		}
		/* "arn" as a whole word is "ARN". */
		if (up && strncmp(snake, "arn", 3) == 0 &&
		    (snake[3] == '\0' || snake[3] == '_')) {
			memcpy(out + k, "ARN", 3);
			k += 3;
			snake += 2;
			up = 0;
			continue;
		}
		out[k++] = up ? (char)toupper((unsigned char)*snake) : *snake;
		up = 0;
	}
	out[k] = '\0';
}

ProtobufCMessage *
cli_new_message(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);

	if (m != NULL)
		d->message_init(m);
	return (m);
}

/* ---- base64 (OpenSSL's encoder) ------------------------------------------ */

static char *
b64_encode(const uint8_t *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return (out);
}

/* Decode standard base64 (no whitespace); -1 if malformed. */
static int
b64_decode(const char *s, uint8_t **out, size_t *n)
{
	size_t len = strlen(s), pad = 0;
	int k;

	if (len % 4 != 0)
		return (-1);
	*out = NULL;
	if ((*out = malloc(len / 4 * 3 + 1)) == NULL)
		return (-1);
	if ((k = EVP_DecodeBlock(*out, (const unsigned char *)s,
	    (int)len)) < 0) {
		free(*out);
		*out = NULL;
		return (-1);
	}
	if (len > 0 && s[len - 1] == '=')
		pad++;
	if (len > 1 && s[len - 2] == '=')
		pad++;
	*n = (size_t)k - pad;
	return (0);
}

/* ---- responses to JSON ------------------------------------------------------ */

json_t *
cli_date(int64_t ms, int wire)
{
	char buf[64];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (wire)
		return (json_real((double)ms / 1000.0));
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
	    ".%06d+00:00", (int)(ms % 1000) * 1000);
	return (json_string(buf));
}

static const void *
member(const ProtobufCMessage *m, unsigned offset)
{

	return ((const char *)m + offset);
}

static int
is_date(const ProtobufCFieldDescriptor *f)
{
	size_t n = strlen(f->name);

	return (f->type == PROTOBUF_C_TYPE_INT64 && n > 5 &&
	    strcmp(f->name + n - 5, "_date") == 0);
}

/* VersionIdsToStages / SecretVersionsToStages: an object, not a list. */
static int
is_stage_map(const ProtobufCFieldDescriptor *f)
{

	return (strcmp(f->name, "version_ids_to_stages") == 0 ||
	    strcmp(f->name, "secret_versions_to_stages") == 0);
}

/* One value of field ${f} at ${p}. */
static json_t *
value_json(const ProtobufCFieldDescriptor *f, const void *p,
    const struct cli_opts *o)
{
	const ProtobufCBinaryData *b;
	json_t *v;
	char *s;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return (json_string(*(char *const *)p));
	case PROTOBUF_C_TYPE_BYTES:
		b = p;
		if ((s = b64_encode(b->data, b->len)) == NULL)
			return (NULL);
		v = json_string(s);
		free(s);
		return (v);
	case PROTOBUF_C_TYPE_BOOL:
		return (json_boolean(*(const protobuf_c_boolean *)p));
	case PROTOBUF_C_TYPE_INT32:
		return (json_integer(*(const int32_t *)p));
	case PROTOBUF_C_TYPE_INT64:
		if (is_date(f))
			return (cli_date(*(const int64_t *)p, o->wire_dates));
		return (json_integer(*(const int64_t *)p));
	case PROTOBUF_C_TYPE_MESSAGE:
		return (cli_message_to_json(*(ProtobufCMessage *const *)p, o));
	default:
		return (json_null());
	}
}

/* The size of one element of a repeated field. */
static size_t
elem_size(const ProtobufCFieldDescriptor *f)
{

	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return (sizeof(protobuf_c_boolean));
	case PROTOBUF_C_TYPE_INT32:
		return (sizeof(int32_t));
	case PROTOBUF_C_TYPE_INT64:
		return (sizeof(int64_t));
	case PROTOBUF_C_TYPE_BYTES:
		return (sizeof(ProtobufCBinaryData));
	default:
		return (sizeof(void *));
	}
}

static json_t *
stage_map(ProtobufCMessage *const *entries, size_t n)
{
	json_t *obj = json_object(), *labels;
	const ProtobufCFieldDescriptor *fid, *fst;
	size_t i, j, k;

	for (i = 0; i < n; i++) {
		const ProtobufCMessage *e = entries[i];

		fid = protobuf_c_message_descriptor_get_field_by_name(
		    e->descriptor, "version_id");
		fst = protobuf_c_message_descriptor_get_field_by_name(
		    e->descriptor, "version_stages");
		k = *(const size_t *)member(e, fst->quantifier_offset);
		labels = json_array();
		for (j = 0; j < k; j++)
			json_array_append_new(labels, json_string(
			    (*(char **const *)member(e, fst->offset))[j]));
		json_object_set_new(obj, *(char *const *)member(e,
		    fid->offset), labels);
	}
	return (obj);
}

json_t *
cli_message_to_json(const ProtobufCMessage *m, const struct cli_opts *o)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *obj = json_object(), *arr;
	char key[128];
	size_t i, j, n;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = member(m, f->offset);

		cli_pascal(f->name, key, sizeof(key));
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)member(m, f->quantifier_offset);
			if (n == 0)
				continue;
			if (is_stage_map(f)) {
				json_object_set_new(obj, key, stage_map(
				    *(ProtobufCMessage *const *const *)p, n));
				continue;
			}
			arr = json_array();
			for (j = 0; j < n; j++)
				json_array_append_new(arr, value_json(f,
				    *(const char *const *)p + j * elem_size(f), o));
			json_object_set_new(obj, key, arr);
			continue;
		}
		/* Absent members are left out, as AWS leaves them out. */
		if ((f->type == PROTOBUF_C_TYPE_STRING ||
		    f->type == PROTOBUF_C_TYPE_MESSAGE) ?
		    *(void *const *)p == NULL :
		    (f->quantifier_offset != 0 &&
		    !*(const protobuf_c_boolean *)member(m,
		    f->quantifier_offset)))
			continue;
		json_object_set_new(obj, key, value_json(f, p, o));
	}
	return (obj);
}

/* ---- values into messages ------------------------------------------------------ */

/* Read a whole file (text or bytes); NULL with ${err}. */
static char *
slurp(const char *path, size_t *n, char *err, size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t cap = 0, got = 0, k;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "Error parsing parameter: Unable to load "
		    "paramfile %s: %s", path, strerror(errno));
		return (NULL);
	}
	do {
		if (got + 4096 + 1 > cap) {
			cap = 2 * cap + 8192;
			buf = realloc(buf, cap);
		}
		k = fread(buf + got, 1, cap - got - 1, f);
		got += k;
	} while (k > 0);
	fclose(f);
	buf[got] = '\0';
	*n = got;
	return (buf);
}

/* Where the count (repeated) or has_ flag of ${f} lives, or NULL. */
static void *
quantifier(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{

	if (f->label == PROTOBUF_C_LABEL_REPEATED ||
	    (f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE && f->quantifier_offset != 0))
		return ((char *)m + f->quantifier_offset);
	return (NULL);
}

/* Append one element slot to repeated ${f}; returns its address. */
static void *
append(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t *n = quantifier(m, f), sz = elem_size(f);
	char **arr = (char **)((char *)m + f->offset);

	*arr = realloc(*arr, (*n + 1) * sz);
	memset(*arr + *n * sz, 0, sz);
	return (*arr + (*n)++ * sz);
}

/* Set one scalar (or submessage from JSON) at ${slot}. */
static int
set_scalar(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    void *slot, const char *text, json_t *json, const struct cli_opts *o,
    char *err, size_t errlen)
{
	char *end;
	long long v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		free(*(char **)slot);
		*(char **)slot = strdup(text);
		return (0);
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = slot;

		free(b->data);
		b->data = NULL;
		b->len = 0;
		if (o->raw_binary) {
			b->len = strlen(text);
			b->data = (uint8_t *)strdup(text);
		} else if (b64_decode(text, &b->data, &b->len)) {
			snprintf(err, errlen, "Invalid base64: \"%.40s\"", text);
			return (-1);
		}
		return (0);
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (strcasecmp(text, "true") != 0 &&
		    strcasecmp(text, "false") != 0) {
			snprintf(err, errlen, "invalid boolean \"%s\"", text);
			return (-1);
		}
		*(protobuf_c_boolean *)slot = strcasecmp(text, "true") == 0;
		return (0);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
		errno = 0;
		v = strtoll(text, &end, 10);
		if (*text == '\0' || *end != '\0' || errno != 0 ||
		    (f->type == PROTOBUF_C_TYPE_INT32 &&
		    (v < INT32_MIN || v > INT32_MAX))) {
			snprintf(err, errlen, "invalid literal for int() with "
			    "base 10: '%s'", text);
			return (-1);
		}
		if (f->type == PROTOBUF_C_TYPE_INT32)
			*(int32_t *)slot = (int32_t)v;
		else
			*(int64_t *)slot = v;
		return (0);
	case PROTOBUF_C_TYPE_MESSAGE:
		if (*(ProtobufCMessage **)slot == NULL)
			*(ProtobufCMessage **)slot = cli_new_message(
			    f->descriptor);
		return (cli_json_to_message(*(ProtobufCMessage **)slot, json, o,
		    err, errlen));
	default:
		snprintf(err, errlen, "unsupported field type");
		return (-1);
	}
}

/* A JSON value as the text form set_scalar takes. */
static int
json_text(json_t *v, char *buf, size_t n, const char **out)
{

	if (json_is_string(v))
		*out = json_string_value(v);
	else if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v)),
		    *out = buf;
	else if (json_is_boolean(v))
		*out = json_is_true(v) ? "true" : "false";
	else
		return (-1);
	return (0);
}

/* Set field ${f} of ${m} from JSON ${v}. */
static int
set_from_json(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    json_t *v, const struct cli_opts *o, char *err, size_t errlen)
{
	char buf[32];
	const char *text = "";
	json_t *e;
	size_t i;
	void *slot;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (!json_is_array(v)) {
			snprintf(err, errlen, "Invalid type for parameter %s, "
			    "value: expected a list", f->name);
			return (-1);
		}
		json_array_foreach(v, i, e) {
			slot = append(m, f);
			if (f->type != PROTOBUF_C_TYPE_MESSAGE &&
			    json_text(e, buf, sizeof(buf), &text)) {
				snprintf(err, errlen, "Invalid type for "
				    "parameter %s", f->name);
				return (-1);
			}
			if (set_scalar(m, f, slot, text, e, o, err, errlen))
				return (-1);
		}
		return (0);
	}
	if (f->type != PROTOBUF_C_TYPE_MESSAGE &&
	    json_text(v, buf, sizeof(buf), &text)) {
		snprintf(err, errlen, "Invalid type for parameter %s", f->name);
		return (-1);
	}
	if (quantifier(m, f) != NULL)
		*(protobuf_c_boolean *)quantifier(m, f) = 1;
	return (set_scalar(m, f, (char *)m + f->offset, text, v, o, err,
	    errlen));
}

/* The field of ${d} whose PascalCase name is ${key}. */
static const ProtobufCFieldDescriptor *
field_by_pascal(const ProtobufCMessageDescriptor *d, const char *key)
{
	char name[128];
	size_t i;

	for (i = 0; i < d->n_fields; i++) {
		cli_pascal(d->fields[i].name, name, sizeof(name));
		if (strcmp(name, key) == 0)
			return (&d->fields[i]);
	}
	return (NULL);
}

int
cli_json_to_message(ProtobufCMessage *m, json_t *j, const struct cli_opts *o,
    char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f;
	const char *key;
	json_t *v;

	if (!json_is_object(j)) {
		snprintf(err, errlen, "Invalid type for %s: expected a "
		    "structure", m->descriptor->short_name);
		return (-1);
	}
	json_object_foreach(j, key, v) {
		if ((f = field_by_pascal(m->descriptor, key)) == NULL) {
			snprintf(err, errlen, "Unknown parameter in input: "
			    "\"%s\", must be one of the members of %s", key,
			    m->descriptor->short_name);
			return (-1);
		}
		if (set_from_json(m, f, v, o, err, errlen))
			return (-1);
	}
	return (0);
}

void
cli_set_bool(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int v)
{

	*(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
	*(protobuf_c_boolean *)((char *)m + f->offset) = v != 0;
}

/*
 * Shorthand "Key=k,Value=v" (or "Key=name,Values=a,b") into a JSON object:
 * a word without "=" continues the list of the key before it.
 */
static json_t *
shorthand(const ProtobufCMessageDescriptor *d, const char *s, char *err,
    size_t errlen)
{
	json_t *obj = json_object(), *cur = NULL;
	const ProtobufCFieldDescriptor *f = NULL;
	char *copy = strdup(s), *item, *save = NULL, *eq;

	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		if ((eq = strchr(item, '=')) == NULL) {
			if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED) {
				snprintf(err, errlen, "Error parsing parameter: "
				    "Expected: '=', received: ',' in \"%s\"", s);
				goto fail;
			}
			json_array_append_new(cur, json_string(item));
			continue;
		}
		*eq = '\0';
		if ((f = field_by_pascal(d, item)) == NULL) {
			snprintf(err, errlen, "Unknown parameter \"%s\" in "
			    "\"%s\"", item, s);
			goto fail;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			cur = json_array();
			json_array_append_new(cur, json_string(eq + 1));
			json_object_set_new(obj, item, cur);
		} else if (f->type == PROTOBUF_C_TYPE_INT64 ||
		    f->type == PROTOBUF_C_TYPE_INT32) {
			char *end;
			long long v = strtoll(eq + 1, &end, 10);

			if (eq[1] == '\0' || *end != '\0') {
				snprintf(err, errlen, "invalid literal for "
				    "int() with base 10: '%s'", eq + 1);
				goto fail;
			}
			json_object_set_new(obj, item, json_integer(v));
		} else
			json_object_set_new(obj, item, json_string(eq + 1));
	}
	free(copy);
	return (obj);
fail:
	free(copy);
	json_decref(obj);
	return (NULL);
}

/* A file:// or fileb:// word, or the word itself.  Caller frees. */
static char *
word_value(const char *w, int *binary_file, size_t *n, char *err,
    size_t errlen)
{

	*binary_file = 0;
	if (strncmp(w, "file://", 7) == 0)
		return (slurp(w + 7, n, err, errlen));
	if (strncmp(w, "fileb://", 8) == 0) {
		*binary_file = 1;
		return (slurp(w + 8, n, err, errlen));
	}
	*n = strlen(w);
	return (strdup(w));
}

/* A structure given as shorthand or JSON (after file:// expansion). */
static int
set_structure(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const char *text, const struct cli_opts *o, char *err, size_t errlen)
{
	json_t *v;
	int rc;

	if (text[0] == '{' || text[0] == '[')
		v = json_loads(text, 0, NULL);
	else if ((v = shorthand(f->descriptor, text, err, errlen)) == NULL)
		return (-1);
	if (v == NULL) {
		snprintf(err, errlen, "Error parsing parameter '%s': Invalid "
		    "JSON", f->name);
		return (-1);
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED && json_is_object(v)) {
		json_t *arr = json_array();

		json_array_append_new(arr, v);
		v = arr;
	}
	rc = set_from_json(m, f, v, o, err, errlen);
	json_decref(v);
	return (rc);
}

int
cli_set_flag(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    char **args, int n, int *used, const struct cli_opts *o, char *err,
    size_t errlen)
{
	char *text;
	size_t len;
	int bin, i, rc = 0;
	json_t *v;

	*used = 0;
	if (n < 1 || strncmp(args[0], "--", 2) == 0) {
		snprintf(err, errlen, "argument --%s: expected one argument",
		    f->name);
		return (-1);
	}

	/* Lists take every word up to the next flag, or one JSON array. */
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (args[0][0] == '[') {
			*used = 1;
			return (set_structure(m, f, args[0], o, err, errlen));
		}
		for (i = 0; i < n && strncmp(args[i], "--", 2) != 0 && rc == 0;
		    i++) {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE)
				rc = set_structure(m, f, args[i], o, err,
				    errlen);
			else {
				v = json_pack("[s]", args[i]);
				rc = set_from_json(m, f, v, o, err, errlen);
				json_decref(v);
			}
		}
		*used = i;
		return (rc);
	}

	*used = 1;
	if ((text = word_value(args[0], &bin, &len, err, errlen)) == NULL)
		return (-1);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		rc = set_structure(m, f, text, o, err, errlen);
	else if (f->type == PROTOBUF_C_TYPE_BYTES && bin) {
		/* fileb://: the bytes as they are. */
		ProtobufCBinaryData *b = (void *)((char *)m + f->offset);

		free(b->data);
		b->data = (uint8_t *)text;
		b->len = len;
		*(protobuf_c_boolean *)quantifier(m, f) = 1;
		return (0);
	} else {
		if (quantifier(m, f) != NULL)
			*(protobuf_c_boolean *)quantifier(m, f) = 1;
		rc = set_scalar(m, f, (char *)m + f->offset, text, NULL, o,
		    err, errlen);
	}
	explicit_bzero(text, len);
	free(text);
	return (rc);
}

/* ---- pagination tokens -------------------------------------------------------- */

char *
cli_token_encode(const char *server_token, long skip)
{
	json_t *j = json_pack("{s:s?,s:i}", "NextToken", server_token,
	    "boto_truncate_amount", (json_int_t)skip);
	char *text = json_dumps(j, JSON_COMPACT), *out;

	out = b64_encode((const uint8_t *)text, strlen(text));
	free(text);
	json_decref(j);
	return (out);
}

int
cli_token_decode(const char *tok, char **server_token, long *skip)
{
	uint8_t *raw;
	size_t n;
	json_t *j, *t;

	if (b64_decode(tok, &raw, &n))
		return (-1);
	raw[n] = '\0';
	j = json_loads((char *)raw, 0, NULL);
	free(raw);
	if (j == NULL || !json_is_integer(json_object_get(j,
	    "boto_truncate_amount"))) {
		json_decref(j);
		return (-1);
	}
	t = json_object_get(j, "NextToken");
	*server_token = json_is_string(t) ? strdup(json_string_value(t)) : NULL;
	*skip = (long)json_integer_value(json_object_get(j,
	    "boto_truncate_amount"));
	json_decref(j);
	return (0);
}
