/*
 * config_test.c: cofferd's configuration — the defaults, the INI file, the
 * COFFER_<KEY> environment overrides and the errors that name the key and
 * the line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static const char *const env_keys[] = {
	"COFFER_LISTEN", "COFFER_WORKERS", "COFFER_DATABASE",
	"COFFER_PKCS11_MODULE", "COFFER_TOKEN_LABEL", "COFFER_PIN_FILE",
	"COFFER_KEK_LABEL", "COFFER_REGION", "COFFER_ACCOUNT_ID",
	"COFFER_PARTITION",
};

/* Each test starts without overrides and with no file. */
static char path[64];

static int
setup(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++)
		unsetenv(env_keys[i]);
	path[0] = '\0';
	return (0);
}

static int
teardown(void **state)
{

	if (path[0] != '\0')
		unlink(path);
	return (setup(state));
}

/* Write ${text} to a fresh temporary file; its name is in ${path}. */
static const char *
write_file(const char *text)
{
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/cofferd-conf-XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return (path);
}

/* Load ${text}; expect failure with a message containing ${want}. */
static void
load_fails(const char *text, const char *want)
{
	struct config cfg;
	struct cf_error err;

	cf_error_clear(&err);
	if (config_load(&cfg, write_file(text), &err) != -1)
		fail_msg("loaded, want an error containing \"%s\"", want);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err.msg, want);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_null(cfg.listen);		/* cleaned up */
	unlink(path);
	path[0] = '\0';
}

static void
test_defaults(void **state)
{
	struct config cfg;
	struct cf_error err;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	assert_int_equal(config_load(&cfg, NULL, &err), 0);
	assert_string_equal(cfg.listen, "127.0.0.1:50051");
	assert_int_equal(cfg.workers, ncpu < 1 ? 1 : ncpu);
	/* Twice the workers for long calls; 1024 may wait. */
	assert_int_equal(cfg.long_workers, 2 * cfg.workers);
	assert_int_equal(cfg.long_queue, 1024);
	/* An audit queue lane per four cores, at least 1, at most 8. */
	assert_int_equal(cfg.audit_lanes, ncpu < 4 ? 1 : ncpu / 4 > 8 ? 8 :
	    ncpu / 4);
	/* A loaded queue lane waits up to 1 ms for company. */
	assert_int_equal(cfg.audit_batch_wait_us, 1000);
	assert_string_equal(cfg.database, "dbname=coffer user=coffer_app");
	assert_string_equal(cfg.pkcs11_module,
	    "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(cfg.token_label, "coffer");
	assert_null(cfg.pin_file);
	/* PostgreSQL rotators: any TCP host, no socket; sslmode prefer. */
	assert_null(cfg.rotator_pg_allow_hosts);
	assert_string_equal(cfg.rotator_pg_sslmode, "prefer");
	assert_null(cfg.rotator_pg_sslrootcert);
	assert_string_equal(cfg.kek_label, "coffer-kek");
	assert_string_equal(cfg.region, "local-1");
	assert_string_equal(cfg.account_id, "000000000000");
	assert_string_equal(cfg.partition, "aws");
	assert_int_equal(cfg.purge_interval, 60);
	assert_int_equal(cfg.max_connections, 4096);
	assert_int_equal(cfg.db_timeout, 10);
	assert_int_equal(cfg.handshake_timeout, 10);
	assert_int_equal(cfg.max_streams, 100);
	assert_int_equal(cfg.max_transport_memory, 256);
	assert_int_equal(cfg.max_connection_age, 3600);
	assert_int_equal(cfg.max_connection_age_grace, 60);
	assert_int_equal(cfg.audit_head_max_lag, 5);
	assert_int_equal(cfg.statement_timeout_ms, 5000);
	assert_int_equal(cfg.list_statement_timeout_ms, 30000);
	assert_int_equal(cfg.audit_verify_max_events, 100000);
	assert_int_equal(cfg.audit_verify_max_ms, 10000);
	config_cleanup(&cfg);
	assert_null(cfg.listen);
}

static void
test_file(void **state)
{
	struct config cfg;
	struct cf_error err;

	assert_int_equal(config_load(&cfg, write_file(
	    "# cofferd.conf\n"
	    "; another comment\n"
	    "\n"
	    "listen = [::1]:6000\n"
	    "workers=3\n"
	    "database = host=/run/pg port=5433 dbname=coffer user=cofferd\n"
	    "pkcs11_module = /opt/hsm/lib.so\n"
	    "token_label = prod token\n"
	    "pin_file = /etc/coffer/pin\n"
	    "kek_label = kek-2024\n"
	    "region = eu-west-1\n"
	    "account_id = 123456789012\n"
	    "partition = aws-cn\n"
	    "audit_batch_wait_us = 0\n"), &err), 0);
	assert_string_equal(cfg.listen, "[::1]:6000");
	assert_int_equal(cfg.audit_batch_wait_us, 0);	/* 0 is a value */
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(cfg.long_workers, 6);	/* follows the file's workers */
	assert_string_equal(cfg.database,
	    "host=/run/pg port=5433 dbname=coffer user=cofferd");
	assert_string_equal(cfg.pkcs11_module, "/opt/hsm/lib.so");
	assert_string_equal(cfg.token_label, "prod token");
	assert_string_equal(cfg.pin_file, "/etc/coffer/pin");
	assert_string_equal(cfg.kek_label, "kek-2024");
	assert_string_equal(cfg.region, "eu-west-1");
	assert_string_equal(cfg.account_id, "123456789012");
	assert_string_equal(cfg.partition, "aws-cn");
	config_cleanup(&cfg);
}

static void
test_env_overrides_file(void **state)
{
	struct config cfg;
	struct cf_error err;

	setenv("COFFER_LISTEN", "localhost:7000", 1);
	setenv("COFFER_WORKERS", "5", 1);
	setenv("COFFER_PIN_FILE", "/run/pin", 1);
	assert_int_equal(config_load(&cfg, write_file(
	    "listen = 127.0.0.1:1\n"
	    "workers = 2\n"
	    "region = us-east-2\n"), &err), 0);
	assert_string_equal(cfg.listen, "localhost:7000");
	assert_int_equal(cfg.workers, 5);
	assert_int_equal(cfg.long_workers, 10);	/* follows the variable's */
	assert_string_equal(cfg.pin_file, "/run/pin");
	assert_string_equal(cfg.region, "us-east-2");	/* from the file */
	assert_string_equal(cfg.database, "dbname=coffer user=coffer_app");	/* default */
	config_cleanup(&cfg);

	/* Without a file, too. */
	assert_int_equal(config_load(&cfg, NULL, &err), 0);
	assert_string_equal(cfg.listen, "localhost:7000");
	config_cleanup(&cfg);
}

static void
test_env_errors(void **state)
{
	struct config cfg;
	struct cf_error err;

	setenv("COFFER_WORKERS", "0", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "COFFER_WORKERS"));
	unsetenv("COFFER_WORKERS");

	setenv("COFFER_ACCOUNT_ID", "12345", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "COFFER_ACCOUNT_ID"));
	assert_non_null(strstr(err.msg, "12 digits"));
	unsetenv("COFFER_ACCOUNT_ID");

	setenv("COFFER_PURGE_INTERVAL", "86401", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "1 to 86400"));
	setenv("COFFER_PURGE_INTERVAL", "5", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), 0);
	assert_int_equal(cfg.purge_interval, 5);
	config_cleanup(&cfg);
	unsetenv("COFFER_PURGE_INTERVAL");

	setenv("COFFER_DATABASE", "", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "must not be empty"));
	unsetenv("COFFER_DATABASE");

	/* Bounds on a request's work: milliseconds and an event count. */
	setenv("COFFER_STATEMENT_TIMEOUT_MS", "0", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "1 to 3600000"));
	setenv("COFFER_STATEMENT_TIMEOUT_MS", "1", 1);
	setenv("COFFER_AUDIT_VERIFY_MAX_EVENTS", "7", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), 0);
	assert_int_equal(cfg.statement_timeout_ms, 1);
	assert_int_equal(cfg.audit_verify_max_events, 7);
	config_cleanup(&cfg);
	unsetenv("COFFER_STATEMENT_TIMEOUT_MS");
	unsetenv("COFFER_AUDIT_VERIFY_MAX_EVENTS");
}

static void
test_file_errors(void **state)
{

	load_fails("listen = 127.0.0.1:1\n\nbogus = 1\n",
	    "line 3: unknown key \"bogus\"");
	load_fails("workers = 2\nworkers = 3\n",
	    "line 2: key \"workers\" is set more than once");
	load_fails("[server]\nlisten = 127.0.0.1:1\n",
	    "line 2: key \"listen\" is in section [server]");
	load_fails("listen = 127.0.0.1:1\njust words\n",
	    "line 2: expected \"key = value\"");
	load_fails("workers = 0\n", "line 1: workers must be an integer");
	load_fails("audit_lanes = 0\n", "line 1: audit_lanes must be an integer");
	load_fails("audit_batch_wait_us = 1000001\n", "line 1: "
	    "audit_batch_wait_us must be a number of microseconds from 0");
	load_fails("audit_batch_wait_us = -1\n", "line 1: "
	    "audit_batch_wait_us must be a number of microseconds from 0");
	load_fails("audit_batch_wait_us = 00x\n", "line 1: "
	    "audit_batch_wait_us must be a number of microseconds from 0");
	load_fails("workers = 1025\n", "line 1: workers must be an integer");
	load_fails("workers = -1\n", "line 1: workers must be an integer");
	load_fails("workers = 2x\n", "line 1: workers must be an integer");
	load_fails("max_connections = 0\n",
	    "line 1: max_connections must be an integer from 1 to 1000000");
	load_fails("max_streams = 1000001\n",
	    "line 1: max_streams must be an integer from 1 to 1000000");
	load_fails("handshake_timeout = 0\n",
	    "line 1: handshake_timeout must be a number of seconds");
	load_fails("region =\n", "line 1: region must not be empty");
	load_fails("account_id = 12345678901a\n", "account_id must be 12 digits");

	/* The first error is the one reported. */
	load_fails("a = 1\nb = 2\n", "line 1: unknown key \"a\"");
	load_fails("oops\nb = 2\n", "line 1: expected");
}

static void
test_long_line(void **state)
{
	char text[1200];

	/* A line longer than inih's buffer is refused, not split. */
	snprintf(text, sizeof(text), "listen = 127.0.0.1:1\ndatabase = %0*d\n",
	    1000, 0);
	load_fails(text, "line 2: line too long");
}

/* etc/cofferd.conf.example documents every key with a value that loads. */
static void
test_example_file(void **state)
{
	char line[512], text[8192] = "";
	struct config cfg;
	struct cf_error err;
	FILE *f;
	size_t i, n;

	/* Uncomment the "#key = value" lines. */
	assert_non_null(f = fopen(COFFER_SOURCE_DIR "/etc/cofferd.conf.example",
	    "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (line[0] == '#' && n > 0 && strncmp(line + 1 + n, " = ", 3) == 0)
			strncat(text, line + 1, sizeof(text) - strlen(text) - 1);
	}
	fclose(f);

	/* Every key is there (COFFER_ACCOUNT_ID: "account_id = "). */
	for (i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++) {
		line[0] = '\n';
		for (n = 0; env_keys[i][7 + n] != '\0'; n++)
			line[1 + n] = (char)tolower(
			    (unsigned char)env_keys[i][7 + n]);
		memcpy(line + 1 + n, " = ", 4);
		if (strstr(text, line) == NULL &&
		    strncmp(text, line + 1, strlen(line + 1)) != 0)
			fail_msg("\"%s\" is not in the example", line + 1);
	}

	/* And the file loads. */
	if (config_load(&cfg, write_file(text), &err) != 0)
		fail_msg("the example does not load: %s", err.msg);
	config_cleanup(&cfg);
}

static void
test_missing_file(void **state)
{
	struct config cfg;
	struct cf_error err;

	assert_int_equal(config_load(&cfg, "/nonexistent/cofferd.conf", &err),
	    -1);
	assert_non_null(strstr(err.msg, "/nonexistent/cofferd.conf"));
}

/* A file others could write is refused: it names the admin and the CA. */
static void
test_writable_file_refused(void **state)
{
	struct config cfg;
	struct cf_error err;

	(void)state;
	assert_int_equal(chmod(write_file("listen = 127.0.0.1:1\n"), 0620), 0);
	assert_int_equal(config_load(&cfg, path, &err), -1);
	assert_non_null(strstr(err.msg, "is writable by group or others"));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_load(&cfg, path, &err), 0);
	config_cleanup(&cfg);
}

/* rotator_user and rotator_group: unset by default, from file or env. */
static void
test_rotator_user(void **state)
{
	struct config cfg;
	struct cf_error err;

	(void)state;
	unsetenv("COFFER_ROTATOR_USER");
	unsetenv("COFFER_ROTATOR_GROUP");
	assert_int_equal(config_load(&cfg, NULL, &err), 0);
	assert_null(cfg.rotator_user);
	assert_null(cfg.rotator_group);
	config_cleanup(&cfg);
	setenv("COFFER_ROTATOR_GROUP", "rotators", 1);
	assert_int_equal(config_load(&cfg, write_file(
	    "rotator_user = coffer-rotator\n"
	    "rotator_group = nogroup\n"), &err), 0);
	assert_string_equal(cfg.rotator_user, "coffer-rotator");
	assert_string_equal(cfg.rotator_group, "rotators");
	config_cleanup(&cfg);
	unsetenv("COFFER_ROTATOR_GROUP");
}

/*
 * The on/off keys load as ints, from the defaults, the file and the
 * environment; anything but "on" or "off" is refused at load, naming the
 * key and where it came from.
 */
static void
test_onoff(void **state)
{
	static const char *const vars[] = { "COFFER_AUDIT",
	    "COFFER_PLAINTEXT", "COFFER_HEALTH_WITHOUT_CERT",
	    "COFFER_DEK_CACHE" };
	struct config cfg;
	struct cf_error err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);

	/* The defaults: audit and the DEK cache on, the others off. */
	assert_int_equal(config_load(&cfg, NULL, &err), 0);
	assert_int_equal(cfg.audit, 1);
	assert_int_equal(cfg.plaintext, 0);
	assert_int_equal(cfg.health_without_cert, 0);
	assert_int_equal(cfg.dek_cache, 1);
	config_cleanup(&cfg);

	/* Each flipped by the file, and back by the environment. */
	assert_int_equal(config_load(&cfg, write_file(
	    "audit = off\n"
	    "plaintext = on\n"
	    "health_without_cert = on\n"
	    "dek_cache = off\n"), &err), 0);
	assert_int_equal(cfg.audit, 0);
	assert_int_equal(cfg.plaintext, 1);
	assert_int_equal(cfg.health_without_cert, 1);
	assert_int_equal(cfg.dek_cache, 0);
	config_cleanup(&cfg);
	setenv("COFFER_PLAINTEXT", "off", 1);
	setenv("COFFER_DEK_CACHE", "on", 1);
	assert_int_equal(config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.plaintext, 0);
	assert_int_equal(cfg.dek_cache, 1);
	assert_int_equal(cfg.audit, 0);		/* from the file */
	config_cleanup(&cfg);
	unlink(path);
	path[0] = '\0';

	/* No other spelling: a typo must not quietly mean either. */
	load_fails("audit = yes\n", "line 1: audit must be \"on\" or \"off\"");
	load_fails("listen = 127.0.0.1:1\nplaintext = On\n",
	    "line 2: plaintext must be \"on\" or \"off\"");
	load_fails("health_without_cert = 1\n",
	    "line 1: health_without_cert must be \"on\" or \"off\"");
	load_fails("dek_cache =\n", "line 1: dek_cache must be \"on\" or "
	    "\"off\"");
	setenv("COFFER_AUDIT", "of", 1);
	assert_int_equal(config_load(&cfg, NULL, &err), -1);
	assert_int_equal(err.code, CF_ERR_INVALID_PARAMETER);
	assert_non_null(strstr(err.msg, "environment variable COFFER_AUDIT: "
	    "audit must be \"on\" or \"off\""));

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_overrides_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_env_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_writable_file_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotator_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_onoff, setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
