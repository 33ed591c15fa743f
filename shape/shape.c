/*
 * shape.c: protobuf messages <-> the AWS JSON shapes, by reflection
 * (shape.h).
 *
 * The schema mirrors the AWS shapes member for member in snake_case, so
 * one rule names every JSON member: PascalCase, with the word "arn"
 * written "ARN" (RotationLambdaARN).  Four further rules cover the rest:
 * int64 members named *_date are timestamps (milliseconds on the wire),
 * bytes are base64 in JSON, the VersionStagesEntry lists are JSON
 * objects {VersionId: [labels]} as AWS sends them, and a bool <list>_present
 * is no member but prints an empty <list> as [] ("Tags": []).
 *
 * Memory that may hold a secret value is freed with cf_heap_wipe_free,
 * which wipes the whole heap block first; the protobuf-c allocator here
 * and jansson's free (set in cli.c) both use it.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cf.h"
#include "shape.h"

/* ---- names ---------------------------------------------------------------- */

void
shape_pascal(const char *snake, char *out, size_t n)
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

/* ---- memory ----------------------------------------------------------------- */

ProtobufCAllocator *
shape_allocator(void)
{
	static ProtobufCAllocator wiping = { cf_heap_hook_alloc,
	    cf_heap_hook_free, NULL };

	return (&wiping);
}

ProtobufCMessage *
shape_message_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m;

	if ((m = calloc(1, d->sizeof_message)) == NULL)
		return (NULL);
	d->message_init(m);
	return (m);
}

void
shape_message_free(ProtobufCMessage *m)
{

	if (m != NULL)
		protobuf_c_message_free_unpacked(m, shape_allocator());
}

/* ---- fields ------------------------------------------------------------------- */

static void *
at(ProtobufCMessage *m, unsigned offset)
{

	return ((char *)m + offset);
}

static const void *
cat(const ProtobufCMessage *m, unsigned offset)
{

	return ((const char *)m + offset);
}

static int
is_repeated(const ProtobufCFieldDescriptor *f)
{

	return (f->label == PROTOBUF_C_LABEL_REPEATED);
}

/* Strings and messages mark absence with NULL; the rest with has_. */
static int
has_flag(const ProtobufCFieldDescriptor *f)
{

	return (!is_repeated(f) && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE && f->quantifier_offset != 0);
}

int
shape_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{

	if (is_repeated(f))
		return (*(const size_t *)cat(m, f->quantifier_offset) > 0);
	if (f->type == PROTOBUF_C_TYPE_STRING ||
	    f->type == PROTOBUF_C_TYPE_MESSAGE)
		return (*(void *const *)cat(m, f->offset) != NULL);
	if (f->quantifier_offset != 0)
		return (*(const protobuf_c_boolean *)cat(m,
		    f->quantifier_offset) != 0);
	return (1);
}

/* The size of one element of repeated field ${f}. */
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

/* Free what one value slot of ${f} owns, wiping it. */
static void
slot_free(const ProtobufCFieldDescriptor *f, void *slot)
{
	ProtobufCBinaryData *b;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		cf_heap_wipe_free(*(char **)slot);
		*(char **)slot = NULL;
		break;
	case PROTOBUF_C_TYPE_BYTES:
		b = slot;
		cf_heap_wipe_free(b->data);
		b->data = NULL;
		b->len = 0;
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		shape_message_free(*(ProtobufCMessage **)slot);
		*(ProtobufCMessage **)slot = NULL;
		break;
	default:
		memset(slot, 0, elem_size(f));
		break;
	}
}

void
shape_field_clear(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t *n, i;
	char **arr;

	if (is_repeated(f)) {
		n = at(m, f->quantifier_offset);
		arr = at(m, f->offset);
		for (i = 0; i < *n; i++)
			slot_free(f, *arr + i * elem_size(f));
		cf_heap_wipe_free(*arr);
		*arr = NULL;
		*n = 0;
		return;
	}
	slot_free(f, at(m, f->offset));
	if (has_flag(f))
		*(protobuf_c_boolean *)at(m, f->quantifier_offset) = 0;
}

/* Append one zeroed element to repeated ${f}; its address, or NULL. */
static void *
append(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t *n = at(m, f->quantifier_offset), sz = elem_size(f);
	char **arr = at(m, f->offset), *grown;

	if ((grown = realloc(*arr, (*n + 1) * sz)) == NULL)
		return (NULL);
	*arr = grown;
	memset(grown + *n * sz, 0, sz);
	return (grown + (*n)++ * sz);
}

const ProtobufCFieldDescriptor *
shape_field_by_pascal(const ProtobufCMessageDescriptor *d, const char *key)
{
	char name[128];
	size_t i;

	for (i = 0; i < d->n_fields; i++) {
		shape_pascal(d->fields[i].name, name, sizeof(name));
		if (strcmp(name, key) == 0)
			return (&d->fields[i]);
	}
	return (NULL);
}

/* ---- base64 ------------------------------------------------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
shape_b64_encode(const uint8_t *p, size_t n)
{
	char *out, *o;
	uint32_t v;
	size_t i;

	if ((out = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		return (NULL);
	for (i = 0, o = out; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = b64_alphabet[v >> 6 & 63];
		*o++ = b64_alphabet[v & 63];
	}
	if (i < n) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

static int
b64_value(int c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64_alphabet, c)) == NULL)
		return (-1);
	return ((int)(p - b64_alphabet));
}

int
shape_b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *buf;
	uint32_t acc = 0;
	size_t i, k = 0, quads = 0;
	int bits = 0, pad = 0, v;

	*out = NULL;
	*outlen = 0;
	if ((buf = malloc(len / 4 * 3 + 4)) == NULL)
		return (-1);
	for (i = 0; i < len; i++) {
		if (isspace((unsigned char)s[i]))
			continue;
		if (s[i] == '=') {
			/* Padding only ends the last quantum. */
			if (++pad > 2)
				goto fail;
			quads++;
			continue;
		}
		if (pad || (v = b64_value((unsigned char)s[i])) < 0)
			goto fail;
		quads++;
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			buf[k++] = (uint8_t)(acc >> bits);
		}
	}
	/* Whole quanta; the padding fills the last one exactly. */
	if (quads % 4 != 0 || (pad && (quads - (size_t)pad) % 4 != (size_t)(
	    4 - pad)))
		goto fail;
	buf[k] = '\0';
	*out = buf;
	*outlen = k;
	return (0);

fail:
	cf_heap_wipe_free(buf);
	return (-1);
}

/* ---- responses to JSON ------------------------------------------------------ */

json_t *
shape_date(int64_t ms, int wire)
{
	char buf[64];
	struct tm tm;
	int64_t secs = ms / 1000, frac = ms % 1000;
	time_t t;
	size_t n;

	if (wire)
		return (json_real((double)ms / 1000.0));
	if (frac < 0) {
		frac += 1000;
		secs--;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL)
		return (json_null());
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	/* Python's isoformat(): microseconds, left out when zero. */
	if (frac != 0)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03d000",
		    (int)frac);
	snprintf(buf + n, sizeof(buf) - n, "+00:00");
	return (json_string(buf));
}

int
shape_is_date(const ProtobufCFieldDescriptor *f)
{
	size_t n = strlen(f->name);

	return (f->type == PROTOBUF_C_TYPE_INT64 && n > 5 &&
	    strcmp(f->name + n - 5, "_date") == 0);
}

int
shape_parse_date(const char *s, int64_t *out)
{
	struct tm tm;
	const char *p;
	char *end;
	double secs;
	long ms = 0;
	int k, n = 0;

	/* Epoch seconds, as the AWS CLI also takes them. */
	secs = strtod(s, &end);
	if (end != s && *end == '\0') {
		*out = (int64_t)llround(secs * 1000.0);
		return (0);
	}

	/* ISO 8601 in UTC: YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|+00:00]. */
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &n) != 3)
		return (-1);
	p = s + n;
	if (*p == 'T' || *p == ' ') {
		n = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &n) != 2)
			return (-1);
		p += 1 + n;
		if (*p == ':') {
			n = 0;
			if (sscanf(p + 1, "%2d%n", &tm.tm_sec, &n) != 1)
				return (-1);
			p += 1 + n;
			if (*p == '.') {
				for (k = 0, p++; *p >= '0' && *p <= '9'; p++, k++)
					if (k < 3)
						ms = ms * 10 + (*p - '0');
				for (; k < 3; k++)
					ms *= 10;
			}
		}
	}
	if (*p == 'Z' || strcmp(p, "+00:00") == 0)
		p += *p == 'Z' ? 1 : 6;
	if (*p != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return (-1);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm) * 1000 + ms;
	return (0);
}

/* VersionIdsToStages / SecretVersionsToStages: an object, not a list. */
static int
is_stage_map(const ProtobufCFieldDescriptor *f)
{

	return (f->type == PROTOBUF_C_TYPE_MESSAGE &&
	    (strcmp(f->name, "version_ids_to_stages") == 0 ||
	    strcmp(f->name, "secret_versions_to_stages") == 0));
}

/* One value of field ${f} at ${p}; NULL on allocation failure. */
static json_t *
value_json(const ProtobufCFieldDescriptor *f, const void *p,
    const struct shape_opts *o)
{
	const ProtobufCBinaryData *b;
	json_t *v;
	char *s;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return (json_string(*(char *const *)p));
	case PROTOBUF_C_TYPE_BYTES:
		b = p;
		if ((s = shape_b64_encode(b->data, b->len)) == NULL)
			return (NULL);
		v = json_string(s);
		cf_heap_wipe_free(s);
		return (v);
	case PROTOBUF_C_TYPE_BOOL:
		return (json_boolean(*(const protobuf_c_boolean *)p));
	case PROTOBUF_C_TYPE_INT32:
		return (json_integer(*(const int32_t *)p));
	case PROTOBUF_C_TYPE_INT64:
		if (shape_is_date(f))
			return (shape_date(*(const int64_t *)p, o->wire_dates));
		return (json_integer(*(const int64_t *)p));
	case PROTOBUF_C_TYPE_MESSAGE:
		return (shape_message_to_json(*(ProtobufCMessage *const *)p, o));
	default:
		return (json_null());
	}
}

static json_t *
stage_map(ProtobufCMessage *const *entries, size_t n)
{
	const ProtobufCFieldDescriptor *fid, *fst;
	const ProtobufCMessage *e;
	json_t *obj, *labels;
	const char *id;
	size_t i, j, k;

	if ((obj = json_object()) == NULL)
		return (NULL);
	for (i = 0; i < n; i++) {
		e = entries[i];
		fid = protobuf_c_message_descriptor_get_field_by_name(
		    e->descriptor, "version_id");
		fst = protobuf_c_message_descriptor_get_field_by_name(
		    e->descriptor, "version_stages");
		if ((id = *(char *const *)cat(e, fid->offset)) == NULL)
			continue;
		k = *(const size_t *)cat(e, fst->quantifier_offset);
		labels = json_array();
		for (j = 0; j < k; j++)
			json_array_append_new(labels, json_string(
			    (*(char **const *)cat(e, fst->offset))[j]));
		json_object_set_new(obj, id, labels);
	}
	return (obj);
}

/*
 * A schema member named <list>_present (Coffer's own, a bool) is no JSON
 * member: it says that repeated field <list> is a member even when empty,
 * as AWS sends "Tags": [] (a repeated field cannot say so itself).  Is
 * ${f} such a flag?  Is the list ${f} present by one, though empty?
 */
static int
is_presence_flag(const ProtobufCFieldDescriptor *f)
{
	size_t n = strlen(f->name);

	return (f->type == PROTOBUF_C_TYPE_BOOL && !is_repeated(f) && n > 8 &&
	    strcmp(f->name + n - 8, "_present") == 0);
}

static int
present_by_flag(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const ProtobufCFieldDescriptor *flag;
	char name[128];

	if (!is_repeated(f) || snprintf(name, sizeof(name), "%s_present",
	    f->name) >= (int)sizeof(name))
		return (0);
	flag = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	    name);
	return (flag != NULL && is_presence_flag(flag) &&
	    shape_field_present(m, flag) &&
	    *(const protobuf_c_boolean *)cat(m, flag->offset));
}

json_t *
shape_message_to_json(const ProtobufCMessage *m, const struct shape_opts *o)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	json_t *obj, *arr;
	const void *p;
	char key[128];
	size_t i, j, n;

	if ((obj = json_object()) == NULL)
		return (NULL);
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		p = cat(m, f->offset);

		/* Absent members are left out, as AWS leaves them out. */
		if (is_presence_flag(f) || (!shape_field_present(m, f) &&
		    !present_by_flag(m, f)))
			continue;
		shape_pascal(f->name, key, sizeof(key));
		if (!is_repeated(f)) {
			json_object_set_new(obj, key, value_json(f, p, o));
			continue;
		}
		n = *(const size_t *)cat(m, f->quantifier_offset);
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
	}
	return (obj);
}

/* ---- JSON into messages ------------------------------------------------------ */

/* Python's name for the type of ${v}, as botocore's messages show it. */
static const char *
py_type(const json_t *v)
{

	switch (json_typeof(v)) {
	case JSON_STRING:
		return ("<class 'str'>");
	case JSON_INTEGER:
		return ("<class 'int'>");
	case JSON_REAL:
		return ("<class 'float'>");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("<class 'bool'>");
	case JSON_ARRAY:
		return ("<class 'list'>");
	case JSON_OBJECT:
		return ("<class 'dict'>");
	default:
		return ("<class 'NoneType'>");
	}
}

static const char *
valid_types(const ProtobufCFieldDescriptor *f, int element)
{

	if (is_repeated(f) && !element)
		return ("<class 'list'>, <class 'tuple'>");
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return ("<class 'str'>");
	case PROTOBUF_C_TYPE_BYTES:
		return ("<class 'bytes'>, <class 'bytearray'>, file-like object");
	case PROTOBUF_C_TYPE_BOOL:
		return ("<class 'bool'>");
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
		return ("<class 'int'>");
	default:
		return ("<class 'dict'>");
	}
}

/* The value is left out: it may be a secret. */
static int
type_error(const ProtobufCFieldDescriptor *f, int element, const char *path,
    const json_t *v, char *err, size_t errlen)
{

	snprintf(err, errlen, "Parameter validation failed:\nInvalid type for "
	    "parameter %s, type: %s, valid types: %s", path, py_type(v),
	    valid_types(f, element));
	return (-1);
}

static int json_to_message(ProtobufCMessage *, json_t *,
    const struct shape_opts *, const char *, char *, size_t);

/* Set one value slot of ${f} from JSON ${v}. */
static int
set_slot(const ProtobufCFieldDescriptor *f, void *slot, json_t *v,
    const struct shape_opts *o, const char *path, char *err, size_t errlen)
{
	ProtobufCBinaryData *b;
	ProtobufCMessage *sub;
	json_int_t n;
	char pascal[128];

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(v))
			return (type_error(f, 1, path, v, err, errlen));
		/*
		 * JSON's \u0000 is a character; a C string would end there and
		 * the member would silently be shorter than what was sent.
		 * Refused as the protobuf wire check refuses it (rpc/support.c),
		 * in the same words.
		 */
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			shape_pascal(f->name, pascal, sizeof(pascal));
			snprintf(err, errlen, "%s must not contain NUL "
			    "characters", pascal);
			return (SHAPE_NUL);
		}
		slot_free(f, slot);
		if ((*(char **)slot = strdup(json_string_value(v))) == NULL)
			goto nomem;
		return (0);
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_is_string(v))
			return (type_error(f, 1, path, v, err, errlen));
		slot_free(f, slot);
		b = slot;
		if (o->raw_binary) {
			/* raw-in-base64-out: the text is the bytes. */
			if ((b->data = malloc(json_string_length(v) + 1)) ==
			    NULL)
				goto nomem;
			memcpy(b->data, json_string_value(v),
			    json_string_length(v) + 1);
			b->len = json_string_length(v);
		} else if (shape_b64_decode(json_string_value(v),
		    json_string_length(v), &b->data, &b->len)) {
			snprintf(err, errlen, "Invalid base64 in parameter %s "
			    "(give raw bytes with fileb://, or use "
			    "--cli-binary-format raw-in-base64-out)", path);
			return (-1);
		}
		return (0);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return (type_error(f, 1, path, v, err, errlen));
		*(protobuf_c_boolean *)slot = json_is_true(v);
		return (0);
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
		if (shape_is_date(f) && json_is_string(v)) {
			if (shape_parse_date(json_string_value(v),
			    (int64_t *)slot)) {
				snprintf(err, errlen, "Parameter validation "
				    "failed:\nInvalid timestamp for parameter "
				    "%s: \"%s\"", path, json_string_value(v));
				return (-1);
			}
			return (0);
		}
		if (!json_is_integer(v))
			return (type_error(f, 1, path, v, err, errlen));
		n = json_integer_value(v);
		if (f->type == PROTOBUF_C_TYPE_INT32) {
			if (n < INT32_MIN || n > INT32_MAX) {
				snprintf(err, errlen, "Parameter validation "
				    "failed:\nInvalid value for parameter %s: "
				    "out of range", path);
				return (-1);
			}
			*(int32_t *)slot = (int32_t)n;
		} else
			*(int64_t *)slot = (int64_t)n;
		return (0);
	case PROTOBUF_C_TYPE_MESSAGE:
		if (!json_is_object(v))
			return (type_error(f, 1, path, v, err, errlen));
		slot_free(f, slot);
		if ((sub = shape_message_new(f->descriptor)) == NULL)
			goto nomem;
		*(ProtobufCMessage **)slot = sub;
		return (json_to_message(sub, v, o, path, err, errlen));
	default:
		snprintf(err, errlen, "parameter %s has an unsupported type",
		    path);
		return (-1);
	}

nomem:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

/* Set field ${f} of ${m} (a list replaces the old one) from ${v}. */
static int
set_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v,
    const struct shape_opts *o, const char *path, char *err, size_t errlen)
{
	char epath[256];
	void *slot;
	json_t *e;
	size_t i;
	int rc;

	if (!is_repeated(f)) {
		if ((rc = set_slot(f, at(m, f->offset), v, o, path, err,
		    errlen)) != 0)
			return (rc);
		if (has_flag(f))
			*(protobuf_c_boolean *)at(m, f->quantifier_offset) = 1;
		return (0);
	}
	if (!json_is_array(v))
		return (type_error(f, 0, path, v, err, errlen));
	shape_field_clear(m, f);
	json_array_foreach(v, i, e) {
		if (snprintf(epath, sizeof(epath), "%s[%zu]", path, i) >=
		    (int)sizeof(epath)) {
			snprintf(err, errlen, "parameter nested too deeply");
			return (-1);
		}
		if ((slot = append(m, f)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return (-1);
		}
		if ((rc = set_slot(f, slot, e, o, epath, err, errlen)) != 0)
			return (rc);
	}
	return (0);
}

/* The members of ${d}, for "must be one of: ...". */
static void
member_names(const ProtobufCMessageDescriptor *d, char *out, size_t n)
{
	char name[128];
	size_t i, k = 0;

	out[0] = '\0';
	for (i = 0; i < d->n_fields && k < n; i++) {
		shape_pascal(d->fields[i].name, name, sizeof(name));
		k += (size_t)snprintf(out + k, n - k, "%s%s", i ? ", " : "",
		    name);
	}
}

static int
json_to_message(ProtobufCMessage *m, json_t *j, const struct shape_opts *o,
    const char *prefix, char *err, size_t errlen)
{
	const ProtobufCFieldDescriptor *f;
	char path[256], names[512];
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(j)) {
		snprintf(err, errlen, "Parameter validation failed:\nInvalid "
		    "type for parameter %s, type: %s, valid types: <class "
		    "'dict'>", prefix[0] ? prefix : "input", py_type(j));
		return (-1);
	}
	json_object_foreach(j, key, v) {
		if ((f = shape_field_by_pascal(m->descriptor, key)) == NULL &&
		    o->ignore_unknown)
			continue;
		if (f == NULL) {
			member_names(m->descriptor, names, sizeof(names));
			snprintf(err, errlen, "Parameter validation failed:\n"
			    "Unknown parameter in %s: \"%s\", must be one of: "
			    "%s", prefix[0] ? prefix : "input", key, names);
			return (-1);
		}
		if (snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] ? "." : "", key) >= (int)sizeof(path)) {
			snprintf(err, errlen, "parameter nested too deeply");
			return (-1);
		}
		if ((rc = set_field(m, f, v, o, path, err, errlen)) != 0)
			return (rc);
	}
	return (0);
}

int
shape_json_to_message(ProtobufCMessage *m, json_t *j, const struct shape_opts *o,
    char *err, size_t errlen)
{

	return (json_to_message(m, j, o, "", err, errlen));
}

/* ---- --generate-cli-skeleton ------------------------------------------------ */

static json_t *
skeleton_value(const ProtobufCFieldDescriptor *f)
{

	if (shape_is_date(f))
		return (json_string("1970-01-01T00:00:00"));
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return (json_string(""));
	case PROTOBUF_C_TYPE_BOOL:
		return (json_true());
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_INT64:
		return (json_integer(0));
	case PROTOBUF_C_TYPE_MESSAGE:
		return (shape_skeleton(f->descriptor));
	default:
		return (json_null());
	}
}

json_t *
shape_skeleton(const ProtobufCMessageDescriptor *d)
{
	const ProtobufCFieldDescriptor *f;
	json_t *obj, *v;
	char key[128];
	size_t i;

	if ((obj = json_object()) == NULL)
		return (NULL);
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (is_presence_flag(f))
			continue;
		shape_pascal(f->name, key, sizeof(key));
		if (is_repeated(f) && is_stage_map(f))
			v = json_pack("{s:[s]}", "KeyName", "");
		else if (is_repeated(f))
			v = json_pack("[o]", skeleton_value(f));
		else
			v = skeleton_value(f);
		json_object_set_new(obj, key, v);
	}
	return (obj);
}
