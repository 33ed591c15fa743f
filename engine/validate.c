/*
 * validate.c: input checks with AWS's exception names and wording.
 *
 * Constraint violations of the service model are ValidationException with
 * the standard "1 validation error detected: ..." sentence; checks the
 * service itself makes are InvalidParameterException.  Values of sensitive
 * members (secret values, tokens) are never echoed in a message.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"

#define MSG_BAD_NAME "Invalid name. Must be a valid name containing " \
	"alphanumeric characters, or any of the following: -/_+=.@!"

/*
 * The one sentence AWS uses for a member that breaks the service model:
 * "1 validation error detected: Value 'v' at 'field' failed to satisfy
 * constraint: Member must ...".  ${shown} is what follows "Value": the
 * quoted value, "" when it is withheld (the word stays, as AWS keeps it),
 * or " null" for a missing member.
 */
static void
validation_error(struct cf_error *err, const char *shown, const char *field,
    const char *must)
{

	cf_error_set(err, CF_ERR_VALIDATION, "1 validation error detected: "
	    "Value%s at '%s' failed to satisfy constraint: Member must %s",
	    shown, field, must);
}

void
engine_invalid(struct cf_error *err, const char *field, const char *value,
    const char *constraint, ...)
{
	char shown[160], must[256];
	va_list ap;

	/* A value is echoed up to 128 bytes, then "...". */
	if (value == NULL)
		shown[0] = '\0';
	else
		snprintf(shown, sizeof(shown), " '%.128s%s'", value,
		    strlen(value) > 128 ? "..." : "");
	va_start(ap, constraint);
	vsnprintf(must, sizeof(must), constraint, ap);
	va_end(ap);
	validation_error(err, shown, field, must);
}

void
engine_missing(struct cf_error *err, const char *field)
{

	validation_error(err, " null", field, "not be null");
}

/* A length out of bounds; returns -1. */
static int
too(struct cf_error *err, const char *field, const char *value,
    const char *rule, size_t bound)
{

	engine_invalid(err, field, value, "have length %s %zu", rule, bound);
	return (-1);
}

/* Check a UTF-8 string's length in characters against [min, max]. */
static int
check_len(const char *s, const char *field, size_t min, size_t max,
    int sensitive, struct cf_error *err)
{
	size_t bytes = strlen(s), chars;

	if (!cf_utf8_valid((const uint8_t *)s, bytes)) {
		engine_invalid(err, field, NULL, "be valid UTF-8");
		return (-1);
	}
	chars = cf_utf8_length((const uint8_t *)s, bytes);
	if (chars < min)
		return (too(err, field, sensitive ? NULL : s,
		    "greater than or equal to", min));
	if (chars > max)
		return (too(err, field, sensitive ? NULL : s,
		    "less than or equal to", max));
	return (0);
}

/* Names: letters, digits and / _ + = . @ - (and !, which AWS's message lists). */
static int
name_chars_ok(const char *s)
{

	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("/_+=.@-!", *s) == NULL)
			return (0);
	return (1);
}

int
engine_check_name(const char *name, struct cf_error *err)
{

	if (name == NULL) {
		engine_missing(err, "name");
		return (-1);
	}
	if (check_len(name, "name", 1, ENGINE_MAX_NAME, 0, err))
		return (-1);
	if (!name_chars_ok(name)) {
		cf_error_set(err, CF_ERR_VALIDATION, "%s", MSG_BAD_NAME);
		return (-1);
	}
	return (0);
}

int
engine_check_secret_id(const char *id, struct cf_error *err)
{

	if (id == NULL) {
		engine_missing(err, "secretId");
		return (-1);
	}
	if (check_len(id, "secretId", 1, ENGINE_MAX_SECRET_ID, 0, err))
		return (-1);
	/* ARNs are not held to the name alphabet. */
	if (strncmp(id, "arn:", 4) != 0 && !name_chars_ok(id)) {
		cf_error_set(err, CF_ERR_VALIDATION, "%s", MSG_BAD_NAME);
		return (-1);
	}
	return (0);
}

int
engine_check_token(const char *token, struct cf_error *err)
{

	return (check_len(token, "clientRequestToken", 32, 64, 1, err));
}

int
engine_check_version_id(const char *vid, const char *field,
    struct cf_error *err)
{

	return (check_len(vid, field, 32, 64, 0, err));
}

int
engine_check_stage(const char *stage, const char *field,
    struct cf_error *err)
{

	return (check_len(stage, field, 1, 256, 0, err));
}

int
engine_check_description(const char *d, struct cf_error *err)
{

	if (d == NULL)
		return (0);
	return (check_len(d, "description", 0, ENGINE_MAX_DESCRIPTION, 0, err));
}

int
engine_check_kms_key_id(const char *k, struct cf_error *err)
{

	if (k == NULL)
		return (0);
	return (check_len(k, "kmsKeyId", 0, 2048, 0, err));
}

int
engine_check_value(const struct engine_value *v, struct cf_error *err)
{
	const char *field = v->binary ? "secretBinary" : "secretString";

	if (v->conflict) {
		cf_error_set(err, CF_ERR_INVALID_PARAMETER, "You can't specify "
		    "both a binary secret value and a string secret value in "
		    "the same secret.");
		return (-1);
	}
	if (!v->present)
		return (0);
	if (v->len == 0)
		return (too(err, field, NULL, "greater than or equal to", 1));
	if (v->len > ENGINE_MAX_VALUE)
		return (too(err, field, NULL, "less than or equal to",
		    ENGINE_MAX_VALUE));
	if (!v->binary && !cf_utf8_valid(v->data, v->len)) {
		engine_invalid(err, "secretString", NULL, "be valid UTF-8 "
		    "without NUL characters");
		return (-1);
	}
	return (0);
}

int
engine_check_tags(const struct engine_tag *tags, size_t n,
    struct cf_error *err)
{
	char field[48];
	size_t i, j;

	if (n > ENGINE_MAX_TAGS) {
		engine_invalid(err, "tags", NULL, "have length less than or "
		    "equal to %d", ENGINE_MAX_TAGS);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "tags.%zu.member.key", i + 1);
		if (engine_check_tag_key(tags[i].key, field, err))
			return (-1);
		snprintf(field, sizeof(field), "tags.%zu.member.value", i + 1);
		if (tags[i].value != NULL && check_len(tags[i].value, field, 0,
		    256, 0, err))
			return (-1);
		if (strncmp(tags[i].key, "aws:", 4) == 0) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Tag keys "
			    "beginning with \"aws:\" are reserved for AWS use: "
			    "%.128s", tags[i].key);
			return (-1);
		}
		for (j = 0; j < i; j++)
			if (strcmp(tags[i].key, tags[j].key) == 0) {
				cf_error_set(err, CF_ERR_INVALID_PARAMETER,
				    "Duplicate tag key in the request: %.128s",
				    tags[i].key);
				return (-1);
			}
	}
	return (0);
}

int
engine_check_max_results(int has, int32_t v, int32_t max,
    struct cf_error *err)
{

	char shown[16];

	if (!has || (v >= 1 && v <= max))
		return (0);
	snprintf(shown, sizeof(shown), "%d", (int)v);
	if (v < 1)
		engine_invalid(err, "maxResults", shown, "have value greater "
		    "than or equal to 1");
	else
		engine_invalid(err, "maxResults", shown, "have value less than "
		    "or equal to %d", (int)max);
	return (-1);
}

int
engine_check_tag_key(const char *key, const char *field,
    struct cf_error *err)
{

	if (key == NULL) {
		engine_missing(err, field);
		return (-1);
	}
	return (check_len(key, field, 1, 128, 0, err));
}

int
engine_arn_suffix_like(const char *resource)
{
	size_t n = strlen(resource), i;

	if (n < 7 || resource[n - 7] != '-')
		return (0);
	for (i = n - 6; i < n; i++)
		if (!isalnum((unsigned char)resource[i]) ||
		    (unsigned char)resource[i] > 127)
			return (0);
	return (1);
}

int
engine_put_labels(const char *const *req, size_t n, int first_version,
    const char **out, size_t *n_out, struct cf_error *err)
{
	size_t i, j, k = 0;
	int has_current = 0;

	if (n > ENGINE_MAX_LABELS) {
		engine_invalid(err, "versionStages", NULL, "have length less "
		    "than or equal to %d", ENGINE_MAX_LABELS);
		return (-1);
	}

	/* The requested labels, without repeats, in the order given. */
	for (i = 0; i < n; i++) {
		if (engine_check_stage(req[i], "versionStages", err))
			return (-1);
		for (j = 0; j < k; j++)
			if (strcmp(out[j], req[i]) == 0)
				break;
		if (j < k)
			continue;
		out[k++] = req[i];
		if (strcmp(req[i], STAGE_CURRENT) == 0)
			has_current = 1;
	}

	/* No labels: AWSCURRENT.  The first version is always current. */
	if ((k == 0 || first_version) && !has_current)
		out[k++] = STAGE_CURRENT;
	*n_out = k;
	return (0);
}

/* ---- ListSecrets filters --------------------------------------------------- */

static const char *const filter_keys[] = {
	[SF_DESCRIPTION] = "description",
	[SF_NAME] = "name",
	[SF_TAG_KEY] = "tag-key",
	[SF_TAG_VALUE] = "tag-value",
	[SF_PRIMARY_REGION] = "primary-region",
	[SF_OWNING_SERVICE] = "owning-service",
	[SF_ALL] = "all",
};

/* ^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$ */
static int
filter_value_ok(const char *v)
{

	if (*v == '!')
		v++;
	for (; *v != '\0'; v++)
		if (!isalnum((unsigned char)*v) || (unsigned char)*v > 127)
			if (strchr(" :_@/+=.-!", *v) == NULL)
				return (0);
	return (1);
}

int
engine_check_filters(const struct engine_filter *f, size_t n,
    struct store_filter *out, struct cf_error *err)
{
	char field[48];
	size_t i, j, k;

	if (n > 10) {
		engine_invalid(err, "filters", NULL, "have length less than "
		    "or equal to 10");
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (f[i].key == NULL || *f[i].key == '\0') {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER,
			    "Invalid filter key");
			return (-1);
		}
		for (k = 0; k < sizeof(filter_keys) / sizeof(*filter_keys); k++)
			if (strcmp(f[i].key, filter_keys[k]) == 0)
				break;
		if (k == sizeof(filter_keys) / sizeof(*filter_keys)) {
			snprintf(field, sizeof(field),
			    "filters.%zu.member.key", i + 1);
			engine_invalid(err, field, f[i].key, "satisfy enum "
			    "value set: [all, name, tag-key, description, "
			    "tag-value, owning-service, primary-region]");
			return (-1);
		}
		if (f[i].n_values == 0) {
			cf_error_set(err, CF_ERR_INVALID_PARAMETER, "Invalid "
			    "filter values for key: %s", f[i].key);
			return (-1);
		}
		if (f[i].n_values > 10) {
			snprintf(field, sizeof(field),
			    "filters.%zu.member.values", i + 1);
			engine_invalid(err, field, NULL, "have length less "
			    "than or equal to 10");
			return (-1);
		}
		for (j = 0; j < f[i].n_values; j++)
			if (f[i].values[j] == NULL ||
			    strlen(f[i].values[j]) > 512 ||
			    !filter_value_ok(f[i].values[j])) {
				snprintf(field, sizeof(field),
				    "filters.%zu.member.values", i + 1);
				engine_invalid(err, field, NULL, "have length "
				    "less than or equal to 512 and match "
				    "pattern ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-"
				    "\\!]*$");
				return (-1);
			}
		out[i].key = (enum store_filter_key)k;
		out[i].values = f[i].values;
		out[i].n_values = f[i].n_values;
	}
	return (0);
}

/* A principal is 1-1024 characters, no control characters. */
int
engine_check_principal(const char *p, struct cf_error *err)
{
	size_t i, n = p != NULL ? strlen(p) : 0;

	if (p == NULL) {
		engine_missing(err, "principal");
		return (-1);
	}
	if (n < 1 || n > ENGINE_PRINCIPAL_MAX) {
		engine_invalid(err, "principal", NULL, "have length between 1 "
		    "and %d", ENGINE_PRINCIPAL_MAX);
		return (-1);
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) {
			engine_invalid(err, "principal", NULL, "not contain "
			    "control characters");
			return (-1);
		}
	return (0);
}
