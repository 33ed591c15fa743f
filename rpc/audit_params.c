/*
 * audit_params.c: the request parameters an audit event records
 * (audit/DESIGN.md, "Request parameters").
 *
 * An auditor must see what a caller asked for, above all when the call
 * failed: a GetSecretValue on a name that does not exist, or that was
 * denied, resolves no ARN.  So every event carries the request's
 * non-secret members as one JSON object, e.g.
 * {"SecretId":"db/prod","VersionStage":"AWSCURRENT"}.
 *
 * Only the members of an explicit allow-list are recorded; everything
 * else (SecretString, SecretBinary, PutSecretValue's RotationToken,
 * policy documents, Description, NextToken) never is, and a member added
 * to the schema later stays out until someone adds it here.  The walk is
 * generic over the decoded protobuf-c message, so nested messages (Tags,
 * Filters, RotationRules) use the same list.
 *
 * The encoding is deterministic: members in field-number order (the
 * identifying SecretId or Name comes first in every request), no
 * whitespace, strings with only '"', '\\' and control characters escaped
 * (\uXXXX), integers in decimal.  It is bounded: a string is cut after
 * PARAM_STR_MAX bytes (at a character boundary), and a member that would
 * take the object past RPC_AUDIT_PARAMS_MAX is left out; either way the
 * object gets "Truncated":true.  The text is hashed as stored, so nothing
 * needs to re-encode it.
 */
#include "rpc_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The most bytes (escaped) of any one string that are kept. */
#define PARAM_STR_MAX 2048

/* What "Truncated":true and the closing brace need at the end. */
#define PARAM_TAIL 20

/* Deeper than this is not walked (the schema nests two levels). */
#define PARAM_MAX_DEPTH 4

/*
 * The allow-list: the protobuf field name and the member's AWS name.
 * Identifiers, selectors and options; never a value, a password, a token
 * that grants anything, or a document.
 */
static const struct {
	const char *field;
	const char *member;
} allowed[] = {
	{ "access_key_id", "AccessKeyId" },	/* public, like a user name */
	{ "add_replica_regions", "AddReplicaRegions" },
	{ "automatically_after_days", "AutomaticallyAfterDays" },
	{ "block_public_policy", "BlockPublicPolicy" },
	{ "client_request_token", "ClientRequestToken" },
	{ "duration", "Duration" },
	{ "end_date", "EndDate" },
	{ "exclude_characters", "ExcludeCharacters" },
	{ "exclude_lowercase", "ExcludeLowercase" },
	{ "exclude_numbers", "ExcludeNumbers" },
	{ "exclude_punctuation", "ExcludePunctuation" },
	{ "exclude_uppercase", "ExcludeUppercase" },
	{ "filters", "Filters" },
	{ "force_delete_without_recovery", "ForceDeleteWithoutRecovery" },
	{ "force_overwrite_replica_secret", "ForceOverwriteReplicaSecret" },
	{ "include_deprecated", "IncludeDeprecated" },
	{ "include_planned_deletion", "IncludePlannedDeletion" },
	{ "include_space", "IncludeSpace" },
	{ "key", "Key" },
	{ "key_id", "KeyId" },		/* a KEK's label */
	{ "kms_key_id", "KmsKeyId" },
	{ "max_results", "MaxResults" },
	{ "move_to_version_id", "MoveToVersionId" },
	{ "name", "Name" },
	{ "operation", "Operation" },
	{ "outcome", "Outcome" },
	{ "password_length", "PasswordLength" },
	{ "pending_window_in_days", "PendingWindowInDays" },
	{ "policy_name", "PolicyName" },
	{ "principal", "Principal" },
	{ "recovery_window_in_days", "RecoveryWindowInDays" },
	{ "region", "Region" },
	{ "remove_from_version_id", "RemoveFromVersionId" },
	{ "remove_replica_regions", "RemoveReplicaRegions" },
	{ "require_each_included_type", "RequireEachIncludedType" },
	{ "rotate_immediately", "RotateImmediately" },
	{ "rotation_lambda_arn", "RotationLambdaARN" },
	{ "rotation_rules", "RotationRules" },
	{ "schedule_expression", "ScheduleExpression" },
	{ "secret_id", "SecretId" },
	{ "secret_id_list", "SecretIdList" },
	{ "service", "Service" },
	{ "sort_order", "SortOrder" },
	{ "status", "Status" },			/* an access key's */
	{ "start_date", "StartDate" },
	{ "tag_keys", "TagKeys" },
	{ "tags", "Tags" },
	{ "value", "Value" },		/* a tag's value: metadata, not secret */
	{ "values", "Values" },		/* a filter's values */
	{ "version", "Version" },	/* a KEK's version */
	{ "version_id", "VersionId" },
	{ "version_stage", "VersionStage" },
	{ "version_stages", "VersionStages" },
};

/* The JSON being written: a fixed buffer, never overrun. */
struct out {
	char *p;
	size_t len;
	size_t cap;			/* excluding the NUL */
	int over;			/* something did not fit */
	int cut;			/* a string was shortened */
};

static void
put(struct out *o, const char *s, size_t n)
{

	if (o->over || n > o->cap - o->len) {
		o->over = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* The member name of field ${name}, or NULL if it is not recorded. */
static const char *
member_of(const char *name)
{
	size_t lo = 0, hi = sizeof(allowed) / sizeof(allowed[0]), mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcmp(name, allowed[mid].field)) == 0)
			return (allowed[mid].member);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (NULL);
}

/* A JSON string: at most PARAM_STR_MAX bytes of escaped text. */
static void
put_string(struct out *o, const char *s)
{
	char esc[8];
	size_t used = 0, n;
	unsigned char c;

	put(o, "\"", 1);
	while (*s != '\0') {
		c = (unsigned char)*s;
		if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			n = 6;
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x80) {
			n = 1;
		} else {
			/* A whole UTF-8 sequence (the wire check validated it). */
			for (n = 1; n < 4 && ((unsigned char)s[n] & 0xC0) == 0x80;
			    n++)
				;
		}
		if (used + n > PARAM_STR_MAX) {
			o->cut = 1;
			break;
		}
		if (c < 0x20 || c == '"' || c == '\\')
			put(o, esc, n);
		else
			put(o, s, n);
		used += n;
		s += c < 0x20 || c == '"' || c == '\\' ? 1 : n;
	}
	put(o, "\"", 1);
}

static void put_object(struct out *, const ProtobufCMessage *, int);

/* One value of field ${f}, stored at ${v}. */
static void
put_value(struct out *o, const ProtobufCFieldDescriptor *f, const void *v,
    int depth)
{
	char num[32];

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		put_string(o, *(char *const *)v);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)v)
			put(o, "true", 4);
		else
			put(o, "false", 5);
		break;
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(num, sizeof(num), "%" PRId32, *(const int32_t *)v);
		put(o, num, strlen(num));
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)v);
		put(o, num, strlen(num));
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		put_object(o, *(ProtobufCMessage *const *)v, depth + 1);
		break;
	default:
		put(o, "null", 4);	/* not in the allow-list's types */
		break;
	}
}

/* Is ${f} a type this encoder writes?  (Never bytes: values are bytes.) */
static int
type_recorded(const ProtobufCFieldDescriptor *f)
{

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_MESSAGE:
		return (1);
	default:
		return (0);
	}
}

/* Field ${f} of ${m} as "Member":value; nothing if it is absent. */
static void
put_field(struct out *o, const ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const char *member, int *first,
    int depth)
{
	const char *base = (const char *)m;
	const void *v = base + f->offset;
	size_t n, i, size;

	/* Present? */
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		n = *(const size_t *)(const void *)(base + f->quantifier_offset);
		if (n == 0)
			return;
	} else if (f->type == PROTOBUF_C_TYPE_STRING ||
	    f->type == PROTOBUF_C_TYPE_MESSAGE) {
		if (*(void *const *)v == NULL)
			return;
		n = 1;
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	    !*(const protobuf_c_boolean *)(const void *)(base +
	    f->quantifier_offset)) {
		return;
	} else
		n = 1;

	if (!*first)
		put(o, ",", 1);
	*first = 0;
	put(o, "\"", 1);
	put(o, member, strlen(member));
	put(o, "\":", 2);
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		put_value(o, f, v, depth);
		return;
	}

	/* A repeated field: an array of its elements. */
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		size = sizeof(protobuf_c_boolean);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		size = sizeof(int64_t);
		break;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		size = sizeof(void *);
		break;
	default:
		size = sizeof(int32_t);
		break;
	}
	put(o, "[", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			put(o, ",", 1);
		put_value(o, f, *(const char *const *)v + i * size, depth);
	}
	put(o, "]", 1);
}

/*
 * The allowed members of ${m} as an object.  At the top level, a member
 * that does not fit is dropped whole (and the object marked truncated);
 * inside, the caller drops the member that holds this object.
 */
static void
put_object(struct out *o, const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	const char *member;
	size_t i, mark;
	int first = 1, first_before;

	if (depth > PARAM_MAX_DEPTH) {
		put(o, "{}", 2);
		return;
	}
	put(o, "{", 1);
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if ((member = member_of(f->name)) == NULL || !type_recorded(f))
			continue;
		mark = o->len;
		first_before = first;
		put_field(o, m, f, member, &first, depth);
		if (depth == 0 && o->over) {
			/* Roll the member back; smaller ones may still fit. */
			o->len = mark;
			o->p[o->len] = '\0';
			o->over = 0;
			o->cut = 1;
			first = first_before;
		}
	}
	if (depth == 0 && o->cut) {
		/* PARAM_TAIL bytes were kept free for this. */
		o->cap += PARAM_TAIL;
		put(o, first ? "\"Truncated\":true" : ",\"Truncated\":true",
		    first ? 16 : 17);
	} else if (depth == 0)
		o->cap += PARAM_TAIL;
	put(o, "}", 1);
}

const char *
rpc_audit_params(struct cf_arena *a, const ProtobufCMessage *m)
{
	char buf[RPC_AUDIT_PARAMS_MAX + 1];
	struct out o;

	/* Keep room for the tail that marks a truncated object. */
	memset(&o, 0, sizeof(o));
	o.p = buf;
	o.cap = RPC_AUDIT_PARAMS_MAX - PARAM_TAIL;
	buf[0] = '\0';
	put_object(&o, m, 0);
	if (o.over)
		return (cf_arena_strdup(a, "{\"Truncated\":true}"));
	return (cf_arena_strdup(a, buf));
}

/* The mark of an object that lost something, last in it. */
#define TRUNCATED "\"Truncated\":true"

const char *
rpc_audit_params_add(struct cf_arena *a, const char *params,
    const char *member, const char *value)
{
	char buf[RPC_AUDIT_PARAMS_MAX + 1];
	struct out o;
	size_t n, keep, mark;
	int cut = 0;
	char last;

	/* The object without its closing brace, nor its mark if it has one. */
	if (params == NULL)
		params = "{}";
	n = strlen(params);
	if (n < 2 || params[0] != '{' || params[n - 1] != '}' ||
	    n > RPC_AUDIT_PARAMS_MAX - PARAM_TAIL)
		return (params);	/* not one of rpc_audit_params' */
	keep = n - 1;
	if (keep > sizeof(TRUNCATED) - 1 && memcmp(params + keep -
	    (sizeof(TRUNCATED) - 1), TRUNCATED, sizeof(TRUNCATED) - 1) == 0) {
		keep -= sizeof(TRUNCATED) - 1;
		cut = 1;
	}

	/* The member after the others, rolled back if it does not fit. */
	memset(&o, 0, sizeof(o));
	o.p = buf;
	o.cap = RPC_AUDIT_PARAMS_MAX - PARAM_TAIL;
	buf[0] = '\0';
	put(&o, params, keep);
	mark = o.len;
	if (buf[o.len - 1] != '{' && buf[o.len - 1] != ',')
		put(&o, ",", 1);
	put(&o, "\"", 1);
	put(&o, member, strlen(member));
	put(&o, "\":", 2);
	put_string(&o, value);
	if (o.over) {
		o.len = mark;
		buf[o.len] = '\0';
		o.over = 0;
		o.cut = 1;
	}

	/* The mark, last, if anything was lost; PARAM_TAIL is kept for it. */
	o.cap += PARAM_TAIL;
	if (cut || o.cut) {
		last = buf[o.len - 1];
		if (last != '{' && last != ',')
			put(&o, ",", 1);
		put(&o, TRUNCATED, sizeof(TRUNCATED) - 1);
	}
	put(&o, "}", 1);
	return (cf_arena_strdup(a, buf));
}
