/*
 * cli_testlib.h: what coffer's unit tests share: word lists standing in for
 * argv, a flag set on a message, a parsed command line, compact JSON text and
 * temporary files.  Every helper fails the running cmocka test on a broken
 * precondition; none needs a server.
 */
#ifndef COFFER_CLI_TESTLIB_H
#define COFFER_CLI_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli_internal.h"
#include "coffer/v1/secrets_manager.pb-c.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Options: ISO 8601 dates; epoch dates (CLI v1's wire); raw-in-base64-out. */
extern const struct shape_opts ct_iso, ct_wire, ct_raw;

/*
 * ct_init(): what every cli test program does before its tests, as cli_main
 * does: no TLS variables from the caller's environment (the tests choose
 * their endpoints and files themselves), and jansson wiping what it frees.
 */
void ct_init(void);

/*
 * ct_tls_env_clear(): unset the variables that choose the endpoint and the
 * TLS files.
 */
void ct_tls_env_clear(void);

/* Compact JSON text of ${j} (released), in a static buffer. */
const char *ct_dump(json_t *j);

/* A writable, NULL-terminated copy of a word list (argv or flag words). */
struct ct_words {
	int n;
	char **w;
};

/* The words ${first}... up to a NULL, copied; free with ct_words_free(). */
struct ct_words ct_words(const char *first, ...);
void ct_words_free(struct ct_words *);

/*
 * A temporary file holding ${n} bytes of ${data} (0: a string's length);
 * its path, in a static buffer the next call overwrites.  The caller unlinks.
 */
char *ct_temp_file(const void *data, size_t n);

/* The descriptor of ${m}'s field ${name}; fails the test if there is none. */
const ProtobufCFieldDescriptor *ct_field(const ProtobufCMessage *m,
    const char *name);

/* cli_set_flag on ${m}.${name} with the given words. */
struct ct_opts_words {
	const struct shape_opts *o;
	struct ct_words w;
	int used;
	char err[768];
};

int ct_flag(ProtobufCMessage *m, const char *name, struct ct_opts_words *x);

/*
 * ct_set(m, name, o, err, first, ...): cli_set_flag on ${m}.${name} with the
 * words ${first}... up to a NULL; its result, and its message in ${err}
 * (768 bytes).
 */
int ct_set(ProtobufCMessage *m, const char *name, const struct shape_opts *o,
    char *err, const char *first, ...);

/* A command line "coffer WORDS..." and what cli_args_parse made of it. */
struct ct_parsed {
	struct ct_words argv;
	struct cli_args a;
	struct cli_usage u;
	enum cli_parse r;
};

/*
 * Parse "coffer ${first}..." (NULL-terminated) into ${p}, which the caller
 * releases with ct_parsed_free().
 */
void ct_parse(struct ct_parsed *p, const char *first, ...);
void ct_parsed_free(struct ct_parsed *p);

#endif
