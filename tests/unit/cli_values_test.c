/*
 * cli_values_test.c: the value forms of flags: shorthand and JSON structures
 * (tags, filters, rotation rules, id lists), file:// and fileb:// values,
 * --secret-binary as base64 or raw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

static void
test_structures(void **state)
{
	Coffer__V1__CreateSecretRequest *c;
	Coffer__V1__ListSecretsRequest *l;
	Coffer__V1__RotateSecretRequest *r;
	Coffer__V1__BatchGetSecretValueRequest *b;
	char err[768];
	struct ct_opts_words ow = { &ct_iso, { 0, NULL }, 0, "" };

	(void)state;
	c = (void *)shape_message_new(&coffer__v1__create_secret_request__descriptor);
	/* Shorthand structures, one per word; the next flag ends the list. */
	ow.w = ct_words("Key=env,Value=prod", "Key=team,Value=pay", "--x",
	    NULL);
	assert_int_equal(ct_flag(&c->base, "tags", &ow), 0);
	assert_int_equal(ow.used, 2);
	assert_int_equal(c->n_tags, 2);
	assert_string_equal(c->tags[0]->key, "env");
	assert_string_equal(c->tags[1]->value, "pay");
	ct_words_free(&ow.w);
	/* JSON replaces the list (flags replace, as argparse does). */
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err,
	    "[{\"Key\":\"k\",\"Value\":\"v\"}]", NULL), 0);
	assert_int_equal(c->n_tags, 1);
	assert_string_equal(c->tags[0]->key, "k");
	/* A JSON object per word; quoted shorthand values keep commas. */
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err,
	    "{\"Key\":\"a\",\"Value\":\"1\"}", "Key=b,Value=\"x, y\"", NULL), 0);
	assert_int_equal(c->n_tags, 2);
	assert_string_equal(c->tags[1]->value, "x, y");
	assert_int_equal(ct_set(&c->base, "add_replica_regions", &ct_iso, err,
	    "Region=eu-west-1,KmsKeyId=k", NULL), 0);
	assert_string_equal(c->add_replica_regions[0]->region, "eu-west-1");
	/* Bad forms. */
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err, "Key=a,Nope=b",
	    NULL), -1);
	assert_non_null(strstr(err, "Error parsing parameter '--tags'"));
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err, "Keyb", NULL),
	    -1);
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err, "[{\"Key\":1}]",
	    NULL), -1);
	assert_non_null(strstr(err, "Invalid type for parameter Tags[0].Key"));
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err, "[{", NULL),
	    -1);
	assert_non_null(strstr(err, "Invalid JSON"));
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err, "--name", NULL),
	    -1);
	assert_string_equal(err, "argument --tags: expected one argument");
	shape_message_free(&c->base);

	/* Filters: Values takes the comma list, or [a,b]. */
	l = (void *)shape_message_new(&coffer__v1__list_secrets_request__descriptor);
	assert_int_equal(ct_set(&l->base, "filters", &ct_iso, err,
	    "Key=name,Values=prod/,dev/", "Key=tag-key,Values=!x",
	    "Values=[a,b],Key=all", NULL), 0);
	assert_int_equal(l->n_filters, 3);
	assert_string_equal(l->filters[0]->key, "name");
	assert_int_equal(l->filters[0]->n_values, 2);
	assert_string_equal(l->filters[0]->values[1], "dev/");
	assert_string_equal(l->filters[1]->values[0], "!x");
	assert_int_equal(l->filters[2]->n_values, 2);
	assert_string_equal(l->filters[2]->key, "all");
	assert_int_equal(ct_set(&l->base, "filters", &ct_iso, err,
	    "[{\"Key\":\"description\",\"Values\":[\"db\"]}]", NULL), 0);
	assert_int_equal(l->n_filters, 1);
	assert_string_equal(l->filters[0]->values[0], "db");
	/* Scalars: integers checked, choices left to the server. */
	assert_int_equal(ct_set(&l->base, "max_results", &ct_iso, err, "7",
	    NULL), 0);
	assert_true(l->has_max_results);
	assert_int_equal(l->max_results, 7);
	assert_int_equal(ct_set(&l->base, "max_results", &ct_iso, err, "x",
	    NULL), -1);
	assert_non_null(strstr(err, "invalid literal for int()"));
	assert_int_equal(ct_set(&l->base, "sort_order", &ct_iso, err, "desc",
	    NULL), 0);
	assert_string_equal(l->sort_order, "desc");
	shape_message_free(&l->base);

	/* Structures: shorthand or JSON; integers typed; quotes. */
	r = (void *)shape_message_new(&coffer__v1__rotate_secret_request__descriptor);
	assert_int_equal(ct_set(&r->base, "rotation_rules", &ct_iso, err,
	    "AutomaticallyAfterDays=30,Duration=2h", NULL), 0);
	assert_true(r->rotation_rules->has_automatically_after_days);
	assert_int_equal(r->rotation_rules->automatically_after_days, 30);
	assert_string_equal(r->rotation_rules->duration, "2h");
	assert_int_equal(ct_set(&r->base, "rotation_rules", &ct_iso, err,
	    "{\"ScheduleExpression\":\"rate(10 days)\"}", NULL), 0);
	assert_string_equal(r->rotation_rules->schedule_expression,
	    "rate(10 days)");
	assert_false(r->rotation_rules->has_automatically_after_days);
	assert_int_equal(ct_set(&r->base, "rotation_rules", &ct_iso, err,
	    "ScheduleExpression='cron(0 16 1,15 * ? *)'", NULL), 0);
	assert_string_equal(r->rotation_rules->schedule_expression,
	    "cron(0 16 1,15 * ? *)");
	assert_int_equal(ct_set(&r->base, "rotation_rules", &ct_iso, err,
	    "AutomaticallyAfterDays=soon", NULL), -1);
	assert_non_null(strstr(err, "invalid literal for int() with base 10: "
	    "'soon'"));
	assert_int_equal(ct_set(&r->base, "rotation_rules", &ct_iso, err,
	    "{\"AutomaticallyAfterDays\":\"30\"}", NULL), -1);
	assert_non_null(strstr(err, "valid types: <class 'int'>"));
	shape_message_free(&r->base);

	/* Lists of strings: words, or one JSON array. */
	b = (void *)shape_message_new(
	    &coffer__v1__batch_get_secret_value_request__descriptor);
	assert_int_equal(ct_set(&b->base, "secret_id_list", &ct_iso, err, "a",
	    "b", NULL), 0);
	assert_int_equal(b->n_secret_id_list, 2);
	assert_int_equal(ct_set(&b->base, "secret_id_list", &ct_iso, err,
	    "[\"x\",\"y\",\"z\"]", NULL), 0);
	assert_int_equal(b->n_secret_id_list, 3);
	assert_string_equal(b->secret_id_list[2], "z");
	shape_message_free(&b->base);
}

static void
test_values_and_files(void **state)
{
	Coffer__V1__CreateSecretRequest *c;
	char err[768], arg[128], *path;
	size_t len;
	int bin;
	char *v;

	(void)state;
	c = (void *)shape_message_new(&coffer__v1__create_secret_request__descriptor);

	/* Blobs: base64 by default; raw-in-base64-out; bad base64. */
	assert_int_equal(ct_set(&c->base, "secret_binary", &ct_iso, err, "AAH+",
	    NULL), 0);
	assert_true(c->has_secret_binary);
	assert_int_equal(c->secret_binary.len, 3);
	assert_memory_equal(c->secret_binary.data, "\x00\x01\xfe", 3);
	assert_int_equal(ct_set(&c->base, "secret_binary", &ct_raw, err, "AAH+",
	    NULL), 0);
	assert_int_equal(c->secret_binary.len, 4);
	assert_memory_equal(c->secret_binary.data, "AAH+", 4);
	assert_int_equal(ct_set(&c->base, "secret_binary", &ct_iso, err,
	    "hello", NULL), -1);
	assert_non_null(strstr(err, "Invalid base64"));
	assert_null(strstr(err, "hello"));	/* never echo a value */

	/* fileb:// raw bytes, whatever the binary format. */
	path = ct_temp_file("\x00line\n\xff", 7);
	snprintf(arg, sizeof(arg), "fileb://%s", path);
	assert_int_equal(ct_set(&c->base, "secret_binary", &ct_iso, err, arg,
	    NULL), 0);
	assert_int_equal(c->secret_binary.len, 7);
	assert_memory_equal(c->secret_binary.data, "\x00line\n\xff", 7);
	unlink(path);

	/* file:// text, kept as it is (trailing newline included). */
	path = ct_temp_file("{\"password\": \"p\"}\n", 19);
	snprintf(arg, sizeof(arg), "file://%s", path);
	assert_int_equal(ct_set(&c->base, "secret_string", &ct_iso, err, arg,
	    NULL), 0);
	assert_string_equal(c->secret_string, "{\"password\": \"p\"}\n");
	/* file:// for a blob holds base64 text (wrapped lines allowed). */
	unlink(path);
	path = ct_temp_file("aGVs\nbG8=\n", 10);
	snprintf(arg, sizeof(arg), "file://%s", path);
	assert_int_equal(ct_set(&c->base, "secret_binary", &ct_iso, err, arg,
	    NULL), 0);
	assert_memory_equal(c->secret_binary.data, "hello", 5);
	/* and for structures and lists. */
	unlink(path);
	path = ct_temp_file("[{\"Key\":\"f\",\"Value\":\"g\"}]", 25);
	snprintf(arg, sizeof(arg), "file://%s", path);
	assert_int_equal(ct_set(&c->base, "tags", &ct_iso, err, arg, NULL), 0);
	assert_int_equal(c->n_tags, 1);
	assert_string_equal(c->tags[0]->value, "g");
	unlink(path);

	/* A missing file. */
	assert_int_equal(ct_set(&c->base, "secret_string", &ct_iso, err,
	    "file:///nonexistent/coffer-cli", NULL), -1);
	assert_string_equal(err, "Error parsing parameter '--secret-string': "
	    "Unable to load paramfile /nonexistent/coffer-cli: No such file or "
	    "directory");
	shape_message_free(&c->base);

	/* A plain word is itself. */
	v = cli_param_value("plain", &len, &bin, err, sizeof(err));
	assert_string_equal(v, "plain");
	assert_int_equal(len, 5);
	assert_int_equal(bin, 0);
	cf_heap_wipe_free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structures),
		cmocka_unit_test(test_values_and_files),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
