/*
 * cli_transport_test.c: the transport: http vs https, the TLS options and
 * their variables, the .coffer-dev/tls search, and the audit subcommand's
 * global options.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

static void
test_transport_scheme(void **state)
{
	static const struct {
		const char *url, *target;
		int plaintext;
	} cases[] = {
		{ "http://127.0.0.1:5/", "127.0.0.1:5", 1 },
		{ "HTTP://h:5", "h:5", 1 },
		{ "https://h.example:443/x", "h.example:443", 0 },
		{ "h:5", "h:5", 0 },
		{ "unix:/run/coffer.sock", "unix:/run/coffer.sock", 0 },
		{ "http://unix:/run/c.sock", "unix:/run/c.sock", 1 },
	};
	struct cli_tls t;
	struct ct_parsed x;
	char target[64];
	size_t i;

	(void)state;
	ct_tls_env_clear();

	/* http:// is plaintext; https:// and a bare HOST:PORT are TLS. */
	for (i = 0; i < NELEM(cases); i++) {
		memset(&t, 0, sizeof(t));
		t.plaintext = !cases[i].plaintext;
		assert_int_equal(cli_endpoint_parse(cases[i].url, target,
		    sizeof(target), &t), 0);
		assert_string_equal(target, cases[i].target);
		if (t.plaintext != cases[i].plaintext)
			fail_msg("case %zu: plaintext %d", i, t.plaintext);
	}
	assert_int_equal(cli_endpoint_parse("http://", target,
	    sizeof(target), &t), -1);
	assert_int_equal(cli_endpoint_parse("https:///x", target,
	    sizeof(target), &t), -1);
	assert_int_equal(cli_endpoint_parse("a-rather-long-host:1", target, 8,
	    &t), -1);

	/* The default endpoint is TLS; so is a bare --endpoint. */
	ct_parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.endpoint, CLI_DEFAULT_ENDPOINT);
	assert_false(x.a.tls.plaintext);
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--endpoint", "h:2", NULL);
	assert_false(x.a.tls.plaintext);
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--endpoint-url=http://127.0.0.1:7", NULL);
	assert_string_equal(x.a.endpoint, "127.0.0.1:7");
	assert_true(x.a.tls.plaintext);
	ct_parsed_free(&x);

	/* COFFER_ENDPOINT's scheme counts, and the last endpoint wins. */
	setenv("COFFER_ENDPOINT", "http://envhost:9", 1);
	ct_parse(&x, "list-secrets", NULL);
	assert_string_equal(x.a.endpoint, "envhost:9");
	assert_true(x.a.tls.plaintext);
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--endpoint-url", "https://h:3", NULL);
	assert_string_equal(x.a.endpoint, "h:3");
	assert_false(x.a.tls.plaintext);
	ct_parsed_free(&x);
	setenv("COFFER_ENDPOINT", "envhost:9", 1);
	ct_parse(&x, "list-secrets", "--endpoint-url", "http://h:3",
	    "--endpoint", "h:4", NULL);
	assert_string_equal(x.a.endpoint, "h:4");
	assert_false(x.a.tls.plaintext);
	ct_parsed_free(&x);
	ct_tls_env_clear();
}

static void
test_transport_options(void **state)
{
	struct ct_parsed x;

	(void)state;
	ct_tls_env_clear();

	/* Nothing given: no paths (cli_tls_resolve searches later). */
	ct_parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "");
	assert_string_equal(x.a.tls.cert, "");
	assert_string_equal(x.a.tls.key, "");
	ct_parsed_free(&x);

	/* The options, anywhere on the line, as NAME VALUE or NAME=VALUE. */
	ct_parse(&x, "--ca-bundle", "/o/ca.pem", "list-secrets",
	    "--cert=/o/c.pem", "--key", "/o/c.key", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "/o/ca.pem");
	assert_string_equal(x.a.tls.cert, "/o/c.pem");
	assert_string_equal(x.a.tls.key, "/o/c.key");
	ct_parsed_free(&x);

	/* The environment; an empty variable is not set. */
	setenv("COFFER_CA_BUNDLE", "/e/ca.pem", 1);
	setenv("COFFER_CERT", "/e/c.pem", 1);
	setenv("COFFER_KEY", "/e/c.key", 1);
	ct_parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "/e/ca.pem");
	assert_string_equal(x.a.tls.cert, "/e/c.pem");
	assert_string_equal(x.a.tls.key, "/e/c.key");
	ct_parsed_free(&x);

	/* Each option wins over its variable, one file at a time. */
	ct_parse(&x, "list-secrets", "--ca-bundle", "/o/ca.pem", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	assert_string_equal(x.a.tls.ca_bundle, "/o/ca.pem");
	assert_string_equal(x.a.tls.cert, "/e/c.pem");
	assert_string_equal(x.a.tls.key, "/e/c.key");
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--cert", "/o/c.pem", "--key", "/o/c.key",
	    NULL);
	assert_string_equal(x.a.tls.ca_bundle, "/e/ca.pem");
	assert_string_equal(x.a.tls.cert, "/o/c.pem");
	assert_string_equal(x.a.tls.key, "/o/c.key");
	ct_parsed_free(&x);
	setenv("COFFER_CA_BUNDLE", "", 1);
	ct_parse(&x, "list-secrets", NULL);
	assert_string_equal(x.a.tls.ca_bundle, "");
	ct_parsed_free(&x);
	ct_tls_env_clear();

	/* A certificate needs its key and a key its certificate. */
	ct_parse(&x, "list-secrets", "--cert", "/o/c.pem", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_string_equal(x.u.msg, "argument --cert: a client certificate "
	    "needs its key: give --key as well (or COFFER_KEY)");
	ct_parsed_free(&x);
	ct_parse(&x, "--key", "/o/c.key", "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_non_null(strstr(x.u.msg, "give --cert as well"));
	ct_parsed_free(&x);
	setenv("COFFER_CERT", "/e/c.pem", 1);
	ct_parse(&x, "list-secrets", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--key", "/o/c.key", NULL);
	assert_int_equal(x.r, CLI_PARSE_RUN);
	ct_parsed_free(&x);
	ct_tls_env_clear();

	/* A missing or empty value. */
	ct_parse(&x, "list-secrets", "--ca-bundle", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_string_equal(x.u.msg, "argument --ca-bundle: expected one "
	    "argument");
	ct_parsed_free(&x);
	ct_parse(&x, "list-secrets", "--ca-bundle=", NULL);
	assert_int_equal(x.r, CLI_PARSE_USAGE);
	assert_string_equal(x.u.msg, "argument --ca-bundle: invalid path ''");
	ct_parsed_free(&x);
}

/* mkdir -p of ${root}/${rel}. */
static void
mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX + 64], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (*p == '/') {
			*p = '\0';
			assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
			*p = '/';
		} else {
			assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
			break;
		}
	}
}

/* Remove the test tree ${root}, or only its .coffer-dev directories. */
static void
rmdirs(const char *root, int all)
{
	static const char *const rel[] = { "x/.coffer-dev/tls",
	    "x/.coffer-dev", ".coffer-dev/tls", ".coffer-dev", "x/y/z", "x/y",
	    "x", "" };
	char path[PATH_MAX + 64];
	size_t i;

	for (i = 0; i < (all ? NELEM(rel) : 4); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, rel[i]);
		(void)rmdir(path);
	}
}

static void
test_transport_discovery(void **state)
{
	char tmpl[] = "/tmp/cli_test.XXXXXX", root[PATH_MAX], cwd[PATH_MAX];
	char want[PATH_MAX + 64], err[512], devdir[PATH_MAX + 32];
	char exe[PATH_MAX + 64], found[CLI_PATH_MAX];
	struct cli_tls t;

	(void)state;
	ct_tls_env_clear();
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, root));
	mkdirs(root, ".coffer-dev/tls");
	mkdirs(root, "x/y/z");

	/* Plaintext needs nothing. */
	memset(&t, 0, sizeof(t));
	t.plaintext = 1;
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	assert_string_equal(t.ca_bundle, "");

	/*
	 * A .coffer-dev/tls planted in the working directory or one of its
	 * parents is never used (it could hold an attacker's CA and key).
	 */
	assert_int_equal(chdir(root), 0);
	assert_int_equal(chdir("x/y/z"), 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--ca-bundle"));
	assert_string_equal(t.ca_bundle, "");
	assert_string_equal(t.dev_dir, "");
	assert_int_equal(chdir(root), 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);

	/* Beside the binary: its directory, or the one above (build/). */
	snprintf(exe, sizeof(exe), "%s/x/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s/.coffer-dev/tls", root);
	assert_string_equal(found, want);
	snprintf(exe, sizeof(exe), "%s/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 1);
	assert_string_equal(found, want);

	/* Not further up. */
	snprintf(exe, sizeof(exe), "%s/x/y/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 0);
	assert_string_equal(found, "");

	/* Nor one that others may write to. */
	snprintf(want, sizeof(want), "%s/.coffer-dev/tls", root);
	assert_int_equal(chmod(want, 0770), 0);
	snprintf(exe, sizeof(exe), "%s/x/coffer", root);
	assert_int_equal(cli_dev_tls_near(exe, found, err, sizeof(err)), 0);
	assert_int_equal(chmod(want, 0700), 0);
	mkdirs(root, "x/.coffer-dev/tls");

	/* COFFER_DEV_DIR comes first, and is the only place looked at. */
	assert_int_equal(chdir("x/y"), 0);
	snprintf(devdir, sizeof(devdir), "%s/.coffer-dev", root);
	setenv("COFFER_DEV_DIR", devdir, 1);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/.coffer-dev/tls/ca.pem", root);
	assert_string_equal(t.ca_bundle, want);
	snprintf(devdir, sizeof(devdir), "%s/x/y", root);
	setenv("COFFER_DEV_DIR", devdir, 1);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "COFFER_DEV_DIR"));
	unsetenv("COFFER_DEV_DIR");

	/* A CA bundle given: no search, and no client certificate. */
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_path(t.ca_bundle, "/o/ca.pem"), 0);
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	assert_string_equal(t.ca_bundle, "/o/ca.pem");
	assert_string_equal(t.cert, "");

	/* A client certificate alone: the dev CA, the certificate kept. */
	snprintf(devdir, sizeof(devdir), "%s/x/.coffer-dev", root);
	setenv("COFFER_DEV_DIR", devdir, 1);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_path(t.cert, "/o/c.pem"), 0);
	assert_int_equal(cli_tls_path(t.key, "/o/c.key"), 0);
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/x/.coffer-dev/tls/ca.pem", root);
	assert_string_equal(t.ca_bundle, want);
	assert_string_equal(t.cert, "/o/c.pem");
	assert_string_equal(t.key, "/o/c.key");
	snprintf(want, sizeof(want), "%s/x/.coffer-dev/tls", root);
	assert_string_equal(t.dev_dir, want);
	unsetenv("COFFER_DEV_DIR");

	/*
	 * Nowhere to be found (nor in /tmp or /): an error naming the
	 * options and variables.
	 */
	rmdirs(root, 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_path(t.cert, "/o/c.pem"), 0);
	assert_int_equal(cli_tls_path(t.key, "/o/c.key"), 0);
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--ca-bundle"));
	memset(&t, 0, sizeof(t));
	assert_int_equal(cli_tls_resolve(&t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--ca-bundle PATH (or COFFER_CA_BUNDLE)"));
	assert_non_null(strstr(err, "COFFER_CERT and COFFER_KEY"));
	assert_non_null(strstr(err, "COFFER_DEV_DIR"));

	assert_int_equal(chdir(cwd), 0);
	rmdirs(root, 1);
	assert_int_equal(access(root, F_OK), -1);
}

/*
 * ${fn} on the words ${first}... (NULL-terminated), after ${argv0} when it
 * is not NULL; its exit code.
 */
static int
words_run(int (*fn)(int, char **), const char *argv0, const char *first,
    va_list ap)
{
	struct ct_words w = { 0, NULL };
	const char *s;
	int rc;

	w.w = calloc(16, sizeof(char *));
	assert_non_null(w.w);
	if (argv0 != NULL)
		w.w[w.n++] = strdup(argv0);
	for (s = first; s != NULL && w.n < 15; s = va_arg(ap, const char *))
		w.w[w.n++] = strdup(s);
	rc = fn(w.n, w.w);
	ct_words_free(&w);
	return (rc);
}

/* cli_audit_main on these words; its exit code. */
static int
audit_run(const char *first, ...)
{
	va_list ap;
	int rc;

	va_start(ap, first);
	rc = words_run(cli_audit_main, NULL, first, ap);
	va_end(ap);
	return (rc);
}

static void
test_transport_audit(void **state)
{
	char tmpl[] = "/tmp/cli_test.XXXXXX", cwd[PATH_MAX];

	(void)state;
	ct_tls_env_clear();

	/* coffer audit takes the same options, with the same checks. */
	assert_int_equal(audit_run("verify", "--endpoint-url", "h:1", "--cert",
	    "c.pem", NULL), CLI_EXIT_USAGE);
	assert_int_equal(audit_run("export", "--key", "c.key", NULL),
	    CLI_EXIT_USAGE);
	setenv("COFFER_CERT", "c.pem", 1);
	assert_int_equal(audit_run("export", NULL), CLI_EXIT_USAGE);
	unsetenv("COFFER_CERT");
	assert_int_equal(audit_run("export", "--ca-bundle", "", NULL),
	    CLI_EXIT_USAGE);

	/* TLS without a CA bundle, or with one unreadable: no call made. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(chdir(tmpl), 0);
	assert_int_equal(audit_run("export", "--endpoint-url",
	    "https://127.0.0.1:1", NULL), CLI_EXIT_CLIENT);
	setenv("COFFER_ENDPOINT", "127.0.0.1:1", 1);
	assert_int_equal(audit_run("verify", NULL), CLI_EXIT_CLIENT);
	unsetenv("COFFER_ENDPOINT");
	assert_int_equal(audit_run("verify", "--ca-bundle",
	    "/nonexistent/ca.pem", NULL), CLI_EXIT_CLIENT);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rmdir(tmpl), 0);
}

/* cli_main on these words (argv[0] "coffer" added); its exit code. */
static int
main_run(const char *first, ...)
{
	va_list ap;
	int rc;

	va_start(ap, first);
	rc = words_run(cli_main, "coffer", first, ap);
	va_end(ap);
	return (rc);
}

static void
test_audit_global_options(void **state)
{

	(void)state;
	ct_tls_env_clear();

	/*
	 * Global transport options before "audit" reach it, in both forms:
	 * the call is tried (nothing listens: CLI_EXIT_CLIENT), where the
	 * word "audit" used to be an invalid choice (CLI_EXIT_USAGE).
	 */
	assert_int_equal(main_run("--endpoint-url", "http://127.0.0.1:1",
	    "audit", "verify", NULL), CLI_EXIT_CLIENT);
	assert_int_equal(main_run("--endpoint-url=http://127.0.0.1:1", "audit",
	    "export", NULL), CLI_EXIT_CLIENT);

	/* And are checked as the subcommand's own: a cert without its key. */
	assert_int_equal(main_run("--cert", "c.pem", "audit", "verify",
	    "--endpoint-url", "https://127.0.0.1:1", NULL), CLI_EXIT_USAGE);

	/* Anything else before it is not a global option of audit's. */
	assert_int_equal(main_run("--bogus", "x", "audit", "verify", NULL),
	    CLI_EXIT_USAGE);
	assert_int_equal(main_run("--endpoint-url", "http://127.0.0.1:1",
	    "audit", NULL), CLI_EXIT_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transport_scheme),
		cmocka_unit_test(test_transport_options),
		cmocka_unit_test(test_transport_discovery),
		cmocka_unit_test(test_transport_audit),
		cmocka_unit_test(test_audit_global_options),
	};

	ct_init();
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
