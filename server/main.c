/*
 * main.c: cofferd, the Coffer server.
 *
 *	cofferd [serve] [--config FILE]		serve gRPC until SIGTERM/SIGINT
 *	cofferd migrate [--config FILE]		apply database migrations
 *	cofferd init-token [--config FILE]	create the KEK in the token
 *
 * main tunes the memory allocator (alloc.c), sets jansson's wiping
 * allocator, reads the command line and the configuration, then runs one
 * command: serve (serve.c), init-token (token.c) or migrate (here).  Messages go to stderr as "cofferd:
 * <message>"; a failure exits 1.  No value, PIN or key ever reaches a
 * message.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cf.h"
#include "cf_log.h"
#include "config.h"
#include "engine.h"
#include "server_internal.h"

#ifndef COFFER_VERSION
#define COFFER_VERSION "unknown"
#endif

enum command { CMD_SERVE, CMD_MIGRATE, CMD_INIT_TOKEN };

#define USAGE \
    "usage: cofferd [serve] [--config FILE]\n" \
    "       cofferd migrate [--config FILE]\n" \
    "       cofferd init-token [--config FILE]\n" \
    "       cofferd --help | --version\n"

static const char usage_text[] = USAGE
    "\n"
    "  serve       serve the gRPC API until SIGTERM or SIGINT (default)\n"
    "  migrate     apply pending database migrations (as admin_database,\n"
    "              the owner; cofferd itself connects as coffer_app)\n"
    "  init-token  create the key encryption key (kek_label) and the audit\n"
    "              key (coffer-audit) in the token\n"
    "\n"
    "  --config FILE  configuration file (default: $COFFER_CONFIG, if set)\n"
    "\n"
    "Every configuration key can also be set as COFFER_<KEY> in the\n"
    "environment (COFFER_LISTEN, COFFER_DATABASE, ...), which wins over the\n"
    "file.  The token PIN comes from the file named by pin_file (mode 0600)\n"
    "or from COFFER_PIN, never from a flag.\n";

/* Print "cofferd: <msg>" for a failure. */
static void
fail(const struct cf_error *err)
{

	cf_log(CF_LOG_ERROR, "%s", err->msg);
}

/* Apply the migrations (no token needed). */
static int
cmd_migrate(const struct config *cfg, struct cf_error *err)
{
	int n;

	if (engine_migrate(cfg->admin_database != NULL ?
	    cfg->admin_database : cfg->database, &n, err))
		return (-1);
	cf_log(CF_LOG_INFO, "database schema is up to date (%d "
	    "migration%s applied)", n, n == 1 ? "" : "s");
	return (0);
}

/* Parse the command line; -1 after printing a usage error, 1 to exit 0. */
static int
parse_args(int argc, char **argv, enum command *cmd, const char **config)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	*cmd = CMD_SERVE;
	*config = getenv("COFFER_CONFIG");
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*config = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return (1);
		case 'V':
			printf("cofferd %s\n", COFFER_VERSION);
			return (1);
		default:
			fputs(USAGE, stderr);
			return (-1);
		}
	}
	if (argc - optind > 1)
		goto usage;
	if (optind == argc || strcmp(argv[optind], "serve") == 0)
		*cmd = CMD_SERVE;
	else if (strcmp(argv[optind], "migrate") == 0)
		*cmd = CMD_MIGRATE;
	else if (strcmp(argv[optind], "init-token") == 0)
		*cmd = CMD_INIT_TOKEN;
	else
		goto usage;
	return (0);

usage:
	fprintf(stderr, "cofferd: unexpected argument \"%s\"\n%s",
	    argv[optind + (argc - optind > 1)], USAGE);
	return (-1);
}

int
main(int argc, char **argv)
{
	struct cf_error err = {CF_OK, ""};
	struct config cfg;
	enum command cmd;
	const char *path;
	int rc;

	server_alloc_tune();
	/*
	 * jansson wipes what it frees: JSON documents may hold secret values
	 * (a rotated secret's JSON, a database's credentials), and jansson
	 * copies every string it parses.
	 */
	json_set_alloc_funcs(cf_heap_alloc, cf_heap_wipe_free);

	/* Command line, then configuration. */
	if ((rc = parse_args(argc, argv, &cmd, &path)) != 0)
		exit(rc == 1 ? 0 : 1);
	if (config_load(&cfg, path, &err)) {
		fail(&err);
		exit(1);
	}
	cf_log_setup(cfg.log_fmt, cfg.log_lvl);

	/* Run the command. */
	if (cmd == CMD_MIGRATE)
		rc = cmd_migrate(&cfg, &err);
	else if (cmd == CMD_INIT_TOKEN)
		rc = server_init_token(&cfg, &err);
	else
		rc = server_serve(&cfg, &err);
	if (rc)
		fail(&err);
	config_cleanup(&cfg);
	exit(rc ? 1 : 0);
}
