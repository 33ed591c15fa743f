/*
 * cli.h: coffer, the command-line client of Coffer.
 *
 * coffer mirrors `aws secretsmanager`: the same verbs, flags, value forms
 * (file://, fileb://, shorthand, JSON), global options, JSON/text/table
 * output, --query, pagination, error lines and exit codes, so that scripts
 * written for the AWS CLI run against cofferd with `coffer` in place of
 * `aws secretsmanager`.  The pieces are declared in cli_internal.h.
 */
#ifndef COFFER_CLI_H
#define COFFER_CLI_H

/* Exit codes, as the AWS CLI v2 uses them. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_USAGE 252		/* a bad command line */
#define CLI_EXIT_SERVICE 254		/* the service answered with an error */
#define CLI_EXIT_CLIENT 255		/* no answer: endpoint down, timeout */

/*
 * cli_main(argc, argv):
 * Run one coffer command line.  Prints the result to stdout and errors to
 * stderr; returns the process exit code (0, or one of CLI_EXIT_*).
 */
int cli_main(int, char **);

#endif /* !COFFER_CLI_H */
