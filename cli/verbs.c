/*
 * verbs.c: the verbs of `aws secretsmanager`, one table row each, and the
 * help text built from the table and the schema.
 *
 * A row names the operation, its request and response types, the members
 * the AWS CLI requires, whether the verb takes a ClientRequestToken that
 * the CLI generates, and the result lists its paginator merges.  Flags are
 * the request's fields (args.c finds them by reflection), so parsing and
 * help cannot disagree; only member descriptions are written out here.
 */
#include <stdio.h>
#include <string.h>

#include "cli_internal.h"
#include "coffer/v1/secrets_manager.pb-c.h"

#define D(x) &coffer__v1__##x##__descriptor

void
cli_kebab(const char *snake, char *out, size_t n)
{
	size_t i;

	for (i = 0; snake[i] != '\0' && i + 1 < n; i++)
		out[i] = snake[i] == '_' ? '-' : snake[i];
	out[i] = '\0';
}

/* Alphabetical, as `aws secretsmanager help` lists them. */
static const struct cli_verb verbs[] = {
	{ "batch-get-secret-value", "BatchGetSecretValue",
	    D(batch_get_secret_value_request), D(batch_get_secret_value_response),
	    { NULL }, 0, { "SecretValues", "Errors" },
	    "Retrieve the values of up to 20 secrets, by id or by filters.", NULL },
	{ "cancel-key-deletion", "CancelKeyDeletion",
	    D(cancel_key_deletion_request), D(cancel_key_deletion_response),
	    { "key_id" }, 0, { NULL },
	    "Cancel a KEK's scheduled deletion (Coffer's own).",
	    "coffer.v1.EncryptionKeys" },
	{ "cancel-rotate-secret", "CancelRotateSecret",
	    D(cancel_rotate_secret_request), D(cancel_rotate_secret_response),
	    { "secret_id" }, 0, { NULL },
	    "Turn off automatic rotation, and cancel a rotation in progress.", NULL },
	{ "create-access-key", "CreateAccessKey",
	    D(create_access_key_request), D(create_access_key_response),
	    { NULL }, 0, { NULL },
	    "Create an access key for AWS Signature Version 4 (Coffer's own); "
	    "its secret is shown this once.", "coffer.v1.AccessKeys" },
	{ "create-encryption-key", "CreateEncryptionKey",
	    D(create_encryption_key_request), D(create_encryption_key_response),
	    { "key_id" }, 0, { NULL },
	    "Make a new KEK in the token, for a tenant or a data class "
	    "(Coffer's own).", "coffer.v1.EncryptionKeys" },
	{ "create-secret", "CreateSecret", D(create_secret_request),
	    D(create_secret_response), { "name" }, 1, { NULL },
	    "Create a new secret, with its first value if one is given.", NULL },
	{ "delete-access-key", "DeleteAccessKey",
	    D(delete_access_key_request), D(delete_access_key_response),
	    { "access_key_id" }, 0, { NULL },
	    "Delete an access key (Coffer's own).", "coffer.v1.AccessKeys" },
	{ "delete-encryption-key-version", "DeleteEncryptionKeyVersion",
	    D(delete_encryption_key_version_request),
	    D(delete_encryption_key_version_response),
	    { "key_id", "version" }, 0, { NULL },
	    "Destroy an old version of a KEK in the token, once it wraps "
	    "nothing (Coffer's own).", "coffer.v1.EncryptionKeys" },
	{ "delete-identity-policy", "DeleteIdentityPolicy",
	    D(delete_identity_policy_request), D(delete_identity_policy_response),
	    { "principal", "policy_name" }, 0, { NULL },
	    "Delete an identity policy of a principal (Coffer's own).",
	    "coffer.v1.IdentityPolicies" },
	{ "delete-resource-policy", "DeleteResourcePolicy",
	    D(delete_resource_policy_request), D(delete_resource_policy_response),
	    { "secret_id" }, 0, { NULL },
	    "Delete the resource-based policy attached to a secret.", NULL },
	{ "delete-secret", "DeleteSecret", D(delete_secret_request),
	    D(delete_secret_response), { "secret_id" }, 0, { NULL },
	    "Schedule a secret for deletion after a recovery window, or delete "
	    "it at once.", NULL },
	{ "describe-encryption-key", "DescribeEncryptionKey",
	    D(describe_encryption_key_request),
	    D(describe_encryption_key_response), { "key_id" }, 0, { NULL },
	    "Show a KEK's versions, what each still wraps, and whether a "
	    "rewrap is pending (Coffer's own).", "coffer.v1.EncryptionKeys" },
	{ "describe-secret", "DescribeSecret", D(describe_secret_request),
	    D(describe_secret_response), { "secret_id" }, 0, { NULL },
	    "Show the details of a secret (never its value).", NULL },
	{ "export-audit-key-bundle", "ExportAuditKeyBundle",
	    D(export_audit_key_bundle_request),
	    D(export_audit_key_bundle_response), { NULL }, 0, { NULL },
	    "Export the retired versions of the audit key, as wrapped for the "
	    "auditors of audit_key_recipients, for coffer audit verify --file "
	    "--key-bundle; --output-file FILE writes it there (Coffer's own).",
	    "coffer.v1.Audit" },
	{ "get-identity-policy", "GetIdentityPolicy",
	    D(get_identity_policy_request), D(get_identity_policy_response),
	    { "principal", "policy_name" }, 0, { NULL },
	    "Show an identity policy of a principal (Coffer's own).",
	    "coffer.v1.IdentityPolicies" },
	{ "get-random-password", "GetRandomPassword",
	    D(get_random_password_request), D(get_random_password_response),
	    { NULL }, 0, { NULL }, "Generate a random password.", NULL },
	{ "get-resource-policy", "GetResourcePolicy",
	    D(get_resource_policy_request), D(get_resource_policy_response),
	    { "secret_id" }, 0, { NULL },
	    "Show the resource-based policy attached to a secret.", NULL },
	{ "get-secret-value", "GetSecretValue", D(get_secret_value_request),
	    D(get_secret_value_response), { "secret_id" }, 0, { NULL },
	    "Retrieve the value of a secret (AWSCURRENT unless told otherwise).", NULL },
	{ "list-access-keys", "ListAccessKeys",
	    D(list_access_keys_request), D(list_access_keys_response),
	    { NULL }, 0, { NULL },
	    "List a principal's access keys, without their secrets (Coffer's "
	    "own).", "coffer.v1.AccessKeys" },
	{ "list-audit-events", "ListAuditEvents",
	    D(list_audit_events_request), D(list_audit_events_response),
	    { NULL }, 0, { "Events" },
	    "List audit events (Coffer's own; filters: secret, principal, "
	    "operation, outcome, dates).", "coffer.v1.Audit" },
	{ "list-identity-policies", "ListIdentityPolicies",
	    D(list_identity_policies_request), D(list_identity_policies_response),
	    { NULL }, 0, { "Policies" },
	    "List the identity policies of one principal or of all (Coffer's "
	    "own).", "coffer.v1.IdentityPolicies" },
	{ "list-secret-version-ids", "ListSecretVersionIds",
	    D(list_secret_version_ids_request), D(list_secret_version_ids_response),
	    { "secret_id" }, 0, { "Versions" },
	    "List the versions of a secret and their staging labels.", NULL },
	{ "list-secrets", "ListSecrets", D(list_secrets_request),
	    D(list_secrets_response), { NULL }, 0, { "SecretList" },
	    "List the secrets (never their values).", NULL },
	{ "put-identity-policy", "PutIdentityPolicy",
	    D(put_identity_policy_request), D(put_identity_policy_response),
	    { "principal", "policy_name", "policy_document" }, 0, { NULL },
	    "Attach an identity policy to a principal, or replace it (Coffer's "
	    "own).", "coffer.v1.IdentityPolicies" },
	{ "put-resource-policy", "PutResourcePolicy",
	    D(put_resource_policy_request), D(put_resource_policy_response),
	    { "secret_id", "resource_policy" }, 0, { NULL },
	    "Attach a resource-based policy to a secret.", NULL },
	{ "put-secret-value", "PutSecretValue", D(put_secret_value_request),
	    D(put_secret_value_response), { "secret_id" }, 1, { NULL },
	    "Store a new value in a secret, as a new version.", NULL },
	{ "remove-regions-from-replication", "RemoveRegionsFromReplication",
	    D(remove_regions_from_replication_request),
	    D(remove_regions_from_replication_response),
	    { "secret_id", "remove_replica_regions" }, 0, { NULL },
	    "Delete replicas of a secret in other regions.", NULL },
	{ "replicate-secret-to-regions", "ReplicateSecretToRegions",
	    D(replicate_secret_to_regions_request),
	    D(replicate_secret_to_regions_response),
	    { "secret_id", "add_replica_regions" }, 0, { NULL },
	    "Replicate a secret to other regions.", NULL },
	{ "restore-secret", "RestoreSecret", D(restore_secret_request),
	    D(restore_secret_response), { "secret_id" }, 0, { NULL },
	    "Cancel the scheduled deletion of a secret.", NULL },
	{ "rotate-audit-key", "RotateAuditKey",
	    D(rotate_audit_key_request), D(rotate_audit_key_response),
	    { NULL }, 0, { NULL },
	    "Make a new version of the token's audit key; new audit events are "
	    "HMAC'd under it, old ones stay verifiable (Coffer's own).",
	    "coffer.v1.Audit" },
	{ "rotate-encryption-key", "RotateEncryptionKey",
	    D(rotate_encryption_key_request),
	    D(rotate_encryption_key_response), { "key_id" }, 0, { NULL },
	    "Make a new version of a KEK in the token; new values are sealed "
	    "under it and old ones rewrapped (Coffer's own).",
	    "coffer.v1.EncryptionKeys" },
	{ "rotate-secret", "RotateSecret", D(rotate_secret_request),
	    D(rotate_secret_response), { "secret_id" }, 1, { NULL },
	    "Configure and start the rotation of a secret.", NULL },
	{ "schedule-key-deletion", "ScheduleKeyDeletion",
	    D(schedule_key_deletion_request), D(schedule_key_deletion_response),
	    { "key_id" }, 0, { NULL },
	    "Destroy a KEK in the token after 7 to 30 days; every value under "
	    "it then becomes unreadable for good (Coffer's own).",
	    "coffer.v1.EncryptionKeys" },
	{ "stop-replication-to-replica", "StopReplicationToReplica",
	    D(stop_replication_to_replica_request),
	    D(stop_replication_to_replica_response), { "secret_id" }, 0,
	    { NULL }, "Promote a replica secret to a standalone secret.", NULL },
	{ "tag-resource", "TagResource", D(tag_resource_request),
	    D(tag_resource_response), { "secret_id", "tags" }, 0, { NULL },
	    "Attach tags to a secret.", NULL },
	{ "untag-resource", "UntagResource", D(untag_resource_request),
	    D(untag_resource_response), { "secret_id", "tag_keys" }, 0,
	    { NULL }, "Remove tags from a secret.", NULL },
	{ "update-access-key", "UpdateAccessKey",
	    D(update_access_key_request), D(update_access_key_response),
	    { "access_key_id", "status" }, 0, { NULL },
	    "Activate or deactivate an access key (Coffer's own).",
	    "coffer.v1.AccessKeys" },
	{ "update-secret", "UpdateSecret", D(update_secret_request),
	    D(update_secret_response), { "secret_id" }, 1, { NULL },
	    "Change the description, key or value of a secret.", NULL },
	{ "update-secret-version-stage", "UpdateSecretVersionStage",
	    D(update_secret_version_stage_request),
	    D(update_secret_version_stage_response),
	    { "secret_id", "version_stage" }, 0, { NULL },
	    "Move a staging label from one version of a secret to another.", NULL },
	{ "validate-resource-policy", "ValidateResourcePolicy",
	    D(validate_resource_policy_request),
	    D(validate_resource_policy_response), { "resource_policy" }, 0,
	    { NULL }, "Check a resource-based policy before attaching it.", NULL },
};
#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

/* Request members: what they mean, and their shorthand syntax. */
struct member_doc {
	const char *verb;		/* NULL: every verb */
	const char *field;
	const char *doc;
	const char *syntax;
};

static const struct member_doc docs[] = {
	{ "validate-resource-policy", "secret_id", "The ARN or name of the "
	    "secret the policy is meant for (optional).", NULL },
	{ "list-audit-events", "secret_id", "Only events about this secret: "
	    "its ARN, or its name (deleted secrets included), and calls that "
	    "asked for it by that SecretId, even if they failed.", NULL },
	{ "list-audit-events", "principal", "Only events of this caller "
	    "(a SPIFFE ID or certificate CN).", NULL },
	{ "list-audit-events", "operation", "Only events of this operation, "
	    "e.g. GetSecretValue.", NULL },
	{ "list-audit-events", "outcome", "Only events with this outcome: OK "
	    "or an exception name such as AccessDeniedException.", NULL },
	{ "list-audit-events", "start_date", "Only events at or after this "
	    "time (ISO 8601 in UTC, or epoch seconds).", NULL },
	{ "list-audit-events", "end_date", "Only events before this time.",
	    NULL },
	{ "list-identity-policies", "principal", "Only the policies of this "
	    "principal (a SPIFFE ID or certificate CN); leave it out for "
	    "every principal's.", NULL },
	{ "create-access-key", "principal", "The principal the key acts "
	    "as (a SPIFFE ID or certificate CN); leave it out for your own.",
	    NULL },
	{ "list-access-keys", "principal", "Whose keys: a SPIFFE ID or "
	    "certificate CN; leave it out for your own.", NULL },
	{ NULL, "access_key_id", "The access key's id (AccessKeyId).", NULL },
	{ NULL, "key_id", "The KEK: its label in the token, or alias/ and "
	    "its label (what KmsKeyId names).", NULL },
	{ "schedule-key-deletion", "pending_window_in_days", "Days before "
	    "the key is destroyed: 7 to 30 (default 30).", NULL },
	{ "delete-encryption-key-version", "version", "The version to "
	    "destroy: not the current one, and wrapping nothing.", NULL },
	{ NULL, "status", "Active (requests signed with the key are served) "
	    "or Inactive (they are refused).", NULL },
	{ NULL, "principal", "The principal the policy is attached to: a "
	    "client certificate's SPIFFE ID, else its subject CN.", NULL },
	{ NULL, "policy_name", "The name of the policy, unique per "
	    "principal.", NULL },
	{ NULL, "policy_document", "The JSON text of the IAM-style policy; "
	    "file://PATH reads it from a file.", NULL },
	{ NULL, "secret_id", "The ARN or name of the secret.", NULL },
	{ NULL, "name", "The name of the new secret: up to 512 letters, "
	    "digits and /_+=.@- characters.", NULL },
	{ NULL, "client_request_token", "The idempotency token, which becomes "
	    "the VersionId of the new version (32-64 characters).  When you "
	    "leave it out, coffer generates a UUIDv4, as the AWS CLI does.",
	    NULL },
	{ NULL, "description", "The description of the secret.", NULL },
	{ NULL, "kms_key_id", "The key that encrypts the secret.  Leave it "
	    "out to use the default key.", NULL },
	{ NULL, "secret_binary", "The binary data to store: base64 text (the "
	    "default --cli-binary-format), or the raw bytes of a file with "
	    "fileb://PATH.", NULL },
	{ NULL, "secret_string", "The text to store, e.g. a JSON document; "
	    "file://PATH reads it from a file.", NULL },
	{ NULL, "tags", "Tags to attach to the secret.",
	    "Key=string,Value=string ..." },
	{ NULL, "add_replica_regions", "Regions to replicate the secret to, "
	    "each with an optional key.", "Region=string,KmsKeyId=string ..." },
	{ NULL, "force_overwrite_replica_secret", "Overwrite a secret of the "
	    "same name in the destination region.", NULL },
	{ NULL, "recovery_window_in_days", "Days (7-30, default 30) before "
	    "the secret is deleted for good; restore-secret cancels.", NULL },
	{ NULL, "force_delete_without_recovery", "Delete the secret at once, "
	    "with no recovery window.  It cannot be restored.", NULL },
	{ NULL, "password_length", "The length of the password (1-4096, "
	    "default 32).", NULL },
	{ NULL, "exclude_characters", "Characters that must not appear in "
	    "the password.", NULL },
	{ NULL, "exclude_numbers", "Leave digits out of the password.", NULL },
	{ NULL, "exclude_punctuation", "Leave punctuation out of the "
	    "password.", NULL },
	{ NULL, "exclude_uppercase", "Leave uppercase letters out of the "
	    "password.", NULL },
	{ NULL, "exclude_lowercase", "Leave lowercase letters out of the "
	    "password.", NULL },
	{ NULL, "include_space", "Allow the space character.", NULL },
	{ NULL, "require_each_included_type", "Include at least one character "
	    "of every included type (default true).", NULL },
	{ "update-secret-version-stage", "version_stage", "The staging label "
	    "to add, move or remove.", NULL },
	{ NULL, "version_stage", "The staging label of the version to "
	    "retrieve (default AWSCURRENT).", NULL },
	{ NULL, "version_id", "The unique identifier of the version.", NULL },
	{ NULL, "version_stages", "The staging labels to attach to the new "
	    "version (default AWSCURRENT).", NULL },
	{ NULL, "rotation_token", "A token for cross-account rotation.",
	    NULL },
	{ NULL, "include_deprecated", "Include versions that have no staging "
	    "label.", NULL },
	{ NULL, "include_planned_deletion", "Include secrets scheduled for "
	    "deletion.", NULL },
	{ NULL, "max_results", "The number of items per call.  Prefer "
	    "--page-size: giving --max-results turns automatic pagination "
	    "off, as in the AWS CLI.", NULL },
	{ NULL, "next_token", "The NextToken of a previous call.  Prefer "
	    "--starting-token: giving --next-token turns automatic "
	    "pagination off, as in the AWS CLI.", NULL },
	{ NULL, "filters", "Filters on the secrets: Key is description, name, "
	    "tag-key, tag-value, primary-region, owning-service or all; "
	    "values match by prefix, and a value starting with ! negates.",
	    "Key=string,Values=string,string ..." },
	{ NULL, "sort_order", "asc or desc, by creation date.", NULL },
	{ NULL, "secret_id_list", "The ARNs or names of the secrets to "
	    "retrieve (up to 20).  Give this or --filters.", NULL },
	{ NULL, "resource_policy", "The JSON text of the policy; "
	    "file://PATH reads it from a file.", NULL },
	{ NULL, "block_public_policy", "Refuse a policy that grants broad "
	    "access.", NULL },
	{ NULL, "remove_replica_regions", "The regions of the replicas to "
	    "delete.", NULL },
	{ NULL, "rotation_lambda_arn", "The ARN of the rotation function.",
	    NULL },
	{ NULL, "rotation_rules", "The rotation schedule: every N days, or a "
	    "cron()/rate() expression, with an optional window duration.",
	    "AutomaticallyAfterDays=long,Duration=string,"
	    "ScheduleExpression=string" },
	{ NULL, "rotate_immediately", "Rotate now (the default) rather than "
	    "in the next scheduled window.", NULL },
	{ NULL, "tag_keys", "The keys of the tags to remove.", NULL },
	{ NULL, "remove_from_version_id", "The version the staging label is "
	    "on now.", NULL },
	{ NULL, "move_to_version_id", "The version to attach the staging "
	    "label to.", NULL },
};
#define N_DOCS (sizeof(docs) / sizeof(docs[0]))

const struct cli_verb *
cli_verb_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_VERBS; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return (&verbs[i]);
	return (NULL);
}

const struct cli_verb *
cli_verb_at(size_t i)
{

	return (i < N_VERBS ? &verbs[i] : NULL);
}

int
cli_verb_requires(const struct cli_verb *v, const char *field)
{
	size_t i;

	for (i = 0; i < 3 && v->required[i] != NULL; i++)
		if (strcmp(v->required[i], field) == 0)
			return (1);
	return (0);
}

int
cli_verb_paginated(const struct cli_verb *v)
{

	return (v->results[0] != NULL);
}

const char *
cli_member_doc(const struct cli_verb *v, const char *field,
    const char **out_syntax)
{
	size_t i;

	for (i = 0; i < N_DOCS; i++)
		if (strcmp(docs[i].field, field) == 0 && (docs[i].verb ==
		    NULL || (v != NULL && strcmp(docs[i].verb, v->name) == 0))) {
			if (out_syntax != NULL)
				*out_syntax = docs[i].syntax;
			return (docs[i].doc);
		}
	if (out_syntax != NULL)
		*out_syntax = NULL;
	return ("(no description)");
}

/* ---- help ------------------------------------------------------------------- */

static const char *
type_name(const ProtobufCFieldDescriptor *f, int element)
{

	if (f->label == PROTOBUF_C_LABEL_REPEATED && !element)
		return (strcmp(f->name, "version_ids_to_stages") == 0 ||
		    strcmp(f->name, "secret_versions_to_stages") == 0 ? "map" :
		    "list");
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		return ("boolean");
	case PROTOBUF_C_TYPE_INT32:
		return ("integer");
	case PROTOBUF_C_TYPE_INT64:
		return (strstr(f->name, "_date") != NULL ? "timestamp" :
		    "long");
	case PROTOBUF_C_TYPE_BYTES:
		return ("blob");
	case PROTOBUF_C_TYPE_MESSAGE:
		return ("structure");
	default:
		return ("string");
	}
}

/* The JSON syntax of a structure, one line: {"Key": "string", ...}. */
static void
json_syntax(FILE *out, const ProtobufCMessageDescriptor *d)
{
	const ProtobufCFieldDescriptor *f;
	char key[128];
	size_t i;

	fputc('{', out);
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		shape_pascal(f->name, key, sizeof(key));
		fprintf(out, "%s\"%s\": ", i ? ", " : "", key);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			fprintf(out, "[\"%s\", ...]", type_name(f, 1));
		else if (f->type == PROTOBUF_C_TYPE_STRING)
			fputs("\"string\"", out);
		else
			fputs(type_name(f, 1), out);
	}
	fputc('}', out);
}

static void
help_all(FILE *out)
{
	const struct cli_verb *v;
	size_t i;

	fprintf(out,
	    "coffer: the command-line client of Coffer, a self-hosted secrets "
	    "manager\ncompatible with AWS Secrets Manager.  Each command takes "
	    "the flags of\n`aws secretsmanager <command>` and prints the same "
	    "JSON.\n\n"
	    "usage: coffer [options] <command> [parameters]\n"
	    "       coffer <command> help\n\n"
	    "AVAILABLE COMMANDS\n");
	for (i = 0; (v = cli_verb_at(i)) != NULL; i++)
		fprintf(out, "  %-32s %s\n", v->name, v->summary);
	fprintf(out, "\n"
	    "GLOBAL OPTIONS (anywhere on the line)\n"
	    "  --endpoint HOST:PORT        cofferd's address (alias "
	    "--endpoint-url; env\n"
	    "                              COFFER_ENDPOINT; default "
	    CLI_DEFAULT_ENDPOINT ").  http://HOST:PORT\n"
	    "                              is plaintext; https://HOST:PORT "
	    "or HOST:PORT is TLS\n"
	    "  --ca-bundle PEM             CA certificates that sign "
	    "cofferd's (env\n"
	    "                              COFFER_CA_BUNDLE)\n"
	    "  --cert PEM, --key PEM       client certificate and key for "
	    "mutual TLS (env\n"
	    "                              COFFER_CERT, COFFER_KEY); with "
	    "none of the three\n"
	    "                              given, the ca.pem, admin.pem and "
	    "admin.key of\n"
	    "                              $COFFER_DEV_DIR/tls, else of the "
	    "checkout this\n"
	    "                              coffer was built in (ci/dev makes "
	    "them)\n"
	    "  --output json|text|table    output format (env "
	    "COFFER_DEFAULT_OUTPUT; default json)\n"
	    "  --query EXPR                a JMESPath expression applied to "
	    "the output\n"
	    "  --cli-input-json JSON       the request as AWS JSON, or "
	    "file://PATH; flags win\n"
	    "  --generate-cli-skeleton [input|output]\n"
	    "                              print a JSON skeleton instead of "
	    "calling\n"
	    "  --cli-binary-format base64|raw-in-base64-out\n"
	    "                              how blob parameters are read "
	    "(default base64)\n"
	    "  --no-paginate               one call, not every page\n"
	    "  --page-size N               items per call while paginating\n"
	    "  --max-items N               at most N items, then a NextToken\n"
	    "  --starting-token TOKEN      resume from that NextToken\n"
	    "  --cli-read-timeout SECONDS  deadline of each call (default 60, "
	    "0 for none)\n"
	    "  --debug                     print each call and its status to "
	    "stderr\n"
	    "  --version                   print the version\n"
	    "  --region, --profile, --no-cli-pager, --no-verify-ssl, "
	    "--no-sign-request\n"
	    "                              accepted for compatibility; "
	    "ignored\n\n"
	    "ENVIRONMENT\n"
	    "  COFFER_ENDPOINT, COFFER_DEFAULT_OUTPUT, COFFER_CA_BUNDLE, "
	    "COFFER_CERT,\n"
	    "  COFFER_KEY, COFFER_DEV_DIR (a .coffer-dev directory), and\n"
	    "  COFFER_CLI_TIMESTAMP_FORMAT=iso8601|wire  timestamps as ISO "
	    "8601 in UTC (default)\n"
	    "                              or as epoch seconds like AWS CLI "
	    "v1\n\n"
	    "EXIT CODES\n"
	    "  0 success, 252 usage error, 254 error from the service, 255 "
	    "endpoint\n"
	    "  unreachable, timeout or other client-side failure\n");
}

static void
help_verb(FILE *out, const struct cli_verb *v)
{
	const ProtobufCFieldDescriptor *f;
	const char *syntax;
	char flag[128], key[128];
	size_t i;
	int req;

	fprintf(out, "NAME\n       %s -\n\nDESCRIPTION\n       %s\n\n",
	    v->name, v->summary);
	if (v->service != NULL)
		fprintf(out, "       The %s operation of %s,\n       Coffer's "
		    "own service (not part of AWS Secrets Manager), served by "
		    "cofferd.\n\n", v->op, v->service);
	else
		fprintf(out, "       The %s operation of AWS Secrets Manager, "
		    "served by cofferd.\n\n", v->op);
	fprintf(out, "SYNOPSIS\n            %s\n", v->name);
	for (i = 0; i < v->req->n_fields; i++) {
		f = &v->req->fields[i];
		cli_kebab(f->name, flag, sizeof(flag));
		req = cli_verb_requires(v, f->name);
		if (f->type == PROTOBUF_C_TYPE_BOOL)
			fprintf(out, "          [--%s | --no-%s]\n", flag, flag);
		else
			fprintf(out, req ? "          --%s <value>\n" :
			    "          [--%s <value>]\n", flag);
	}
	fprintf(out, "          [--cli-input-json <value>]\n"
	    "          [--generate-cli-skeleton <value>]\n");
	if (cli_verb_paginated(v))
		fprintf(out, "          [--starting-token <value>]\n"
		    "          [--page-size <value>]\n"
		    "          [--max-items <value>]\n");
	fprintf(out, "\nOPTIONS\n");
	for (i = 0; i < v->req->n_fields; i++) {
		f = &v->req->fields[i];
		cli_kebab(f->name, flag, sizeof(flag));
		fprintf(out, "       --%s (%s)%s\n          %s\n", flag,
		    type_name(f, 0), cli_verb_requires(v, f->name) ?
		    " [required]" : "", cli_member_doc(v, f->name, &syntax));
		if (f->type == PROTOBUF_C_TYPE_BOOL)
			fprintf(out, "          --no-%s sets it to false.\n", flag);
		if (f->label == PROTOBUF_C_LABEL_REPEATED &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			fprintf(out, "\n       Syntax:\n\n          \"string\" "
			    "\"string\" ...\n");
		if (syntax != NULL)
			fprintf(out, "\n       Shorthand Syntax:\n\n          %s"
			    "\n", syntax);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			fprintf(out, "\n       JSON Syntax:\n\n          %s",
			    f->label == PROTOBUF_C_LABEL_REPEATED ? "[" : "");
			json_syntax(out, f->descriptor);
			fprintf(out, "%s\n", f->label ==
			    PROTOBUF_C_LABEL_REPEATED ? ", ...]" : "");
		}
		fputc('\n', out);
	}
	fprintf(out, "       --cli-input-json (string) The request as JSON "
	    "(or file://PATH), with the\n          members below in "
	    "PascalCase; flags given as well win.\n\n"
	    "       See `coffer help` for the global options.\n\nOUTPUT\n");
	for (i = 0; i < v->resp->n_fields; i++) {
		f = &v->resp->fields[i];
		shape_pascal(f->name, key, sizeof(key));
		fprintf(out, "       %s -> (%s)\n", key, type_name(f, 0));
	}
	if (v->resp->n_fields == 0)
		fprintf(out, "       None\n");
}

void
cli_help(FILE *out, const struct cli_verb *v)
{

	if (v == NULL)
		help_all(out);
	else
		help_verb(out, v);
}
