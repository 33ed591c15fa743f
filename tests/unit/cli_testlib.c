/*
 * cli_testlib.c: the helpers coffer's unit test programs share (see
 * cli_testlib.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_testlib.h"

const struct shape_opts ct_iso = { 0 }, ct_wire = { .wire_dates = 1 };
const struct shape_opts ct_raw = { .raw_binary = 1 };

void
ct_init(void)
{

	/* The tests choose their endpoints and TLS files themselves. */
	ct_tls_env_clear();

	/* As cli_main does: jansson wipes what it frees. */
	json_set_alloc_funcs(malloc, cf_heap_wipe_free);
}

/* Compact JSON text of ${j} (released), in a static buffer. */
const char *
ct_dump(json_t *j)
{
	static char buf[8192];
	char *s;

	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(16));
	snprintf(buf, sizeof(buf), "%s", s);
	free(s);
	json_decref(j);
	return (buf);
}

struct ct_words
ct_words(const char *first, ...)
{
	struct ct_words r = { 0, NULL };
	const char *s;
	va_list ap;

	r.w = calloc(64, sizeof(char *));
	assert_non_null(r.w);
	va_start(ap, first);
	for (s = first; s != NULL && r.n < 63; s = va_arg(ap, const char *))
		r.w[r.n++] = strdup(s);
	va_end(ap);
	return (r);
}

void
ct_words_free(struct ct_words *r)
{
	int i;

	for (i = 0; i < r->n; i++)
		free(r->w[i]);
	free(r->w);
}

/* A temporary file holding ${n} bytes (0: a string's length). */
char *
ct_temp_file(const void *data, size_t n)
{
	static char path[64];
	int fd;

	if (n == 0)
		n = strlen(data);
	snprintf(path, sizeof(path), "/tmp/coffer-cli-test-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, data, n) == (ssize_t)n);
	close(fd);
	return (path);
}

const ProtobufCFieldDescriptor *
ct_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	assert_non_null(f);
	return (f);
}

int
ct_flag(ProtobufCMessage *m, const char *name, struct ct_opts_words *x)
{

	return (cli_set_flag(m, ct_field(m, name), x->w.w, x->w.n, &x->used,
	    x->o, x->err, sizeof(x->err)));
}

int
ct_set(ProtobufCMessage *m, const char *name, const struct shape_opts *o,
    char *err, const char *first, ...)
{
	struct ct_opts_words ow = { o, { 0, NULL }, 0, "" };
	const char *s;
	va_list ap;
	int rc;

	ow.w.w = calloc(16, sizeof(char *));
	assert_non_null(ow.w.w);
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		ow.w.w[ow.w.n++] = strdup(s);
	va_end(ap);
	rc = ct_flag(m, name, &ow);
	snprintf(err, 768, "%s", ow.err);
	ct_words_free(&ow.w);
	return (rc);
}

void
ct_parse(struct ct_parsed *p, const char *first, ...)
{
	const char *s;
	va_list ap;

	memset(p, 0, sizeof(*p));
	p->argv.w = calloc(64, sizeof(char *));
	assert_non_null(p->argv.w);
	p->argv.w[p->argv.n++] = strdup("coffer");
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *))
		p->argv.w[p->argv.n++] = strdup(s);
	va_end(ap);
	p->r = cli_args_parse(p->argv.n, p->argv.w, &p->a, &p->u);
}

void
ct_parsed_free(struct ct_parsed *p)
{

	cli_args_cleanup(&p->a);
	ct_words_free(&p->argv);
}

/* The variables that choose TLS files, unset. */
void
ct_tls_env_clear(void)
{

	unsetenv("COFFER_ENDPOINT");
	unsetenv("COFFER_CA_BUNDLE");
	unsetenv("COFFER_CERT");
	unsetenv("COFFER_KEY");
	unsetenv("COFFER_DEV_DIR");
}
