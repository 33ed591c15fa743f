/*
 * page.c: the AWS CLI's pagination, for list-secrets,
 * list-secret-version-ids and batch-get-secret-value.
 *
 * By default every page is fetched and the result lists are merged into
 * one response, as botocore's build_full_result does; the other members
 * come from the first page.  --page-size sets MaxResults on each call.
 * --max-items N stops after N items of the first result list and adds a
 * NextToken that --starting-token resumes from, in botocore's encoding:
 * base64 of {"NextToken": <server token>, "boto_truncate_amount": <items
 * of that page already shown>}.  The server token is opaque to us.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

char *
cli_token_encode(const char *server_token, long skip)
{
	json_t *j;
	char *text, *out = NULL;

	if ((j = json_object()) == NULL)
		return (NULL);
	json_object_set_new(j, "NextToken", server_token != NULL ?
	    json_string(server_token) : json_null());
	if (skip > 0)
		json_object_set_new(j, "boto_truncate_amount",
		    json_integer(skip));
	if ((text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)) != NULL)
		out = shape_b64_encode((const uint8_t *)text, strlen(text));
	free(text);
	json_decref(j);
	return (out);
}

int
cli_token_decode(const char *tok, char **out_server, long *out_skip)
{
	json_t *j = NULL, *t, *k;
	uint8_t *raw = NULL;
	size_t n;

	*out_server = NULL;
	*out_skip = 0;
	if (shape_b64_decode(tok, strlen(tok), &raw, &n) ||
	    (j = json_loadb((const char *)raw, n, 0, NULL)) == NULL ||
	    !json_is_object(j))
		goto fail;
	t = json_object_get(j, "NextToken");
	k = json_object_get(j, "boto_truncate_amount");
	if ((t != NULL && !json_is_string(t) && !json_is_null(t)) ||
	    (k != NULL && (!json_is_integer(k) || json_integer_value(k) < 0)))
		goto fail;
	if (json_is_string(t) &&
	    (*out_server = strdup(json_string_value(t))) == NULL)
		goto fail;
	*out_skip = k != NULL ? (long)json_integer_value(k) : 0;
	json_decref(j);
	free(raw);
	return (0);

fail:
	json_decref(j);
	free(raw);
	return (-1);
}

/* Set (or clear, for NULL) string field ${name} of ${m}. */
static int
set_string(ProtobufCMessage *m, const char *name, const char *value)
{
	const ProtobufCFieldDescriptor *f;
	char *copy = NULL;

	f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (f == NULL)
		return (0);
	if (value != NULL && (copy = strdup(value)) == NULL)
		return (-1);
	shape_field_clear(m, f);
	*(char **)((char *)m + f->offset) = copy;
	return (0);
}

/* --page-size is MaxResults (BatchGetSecretValue takes it with Filters). */
static void
set_page_size(const struct cli_args *a, ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *lim, *flt;

	lim = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	    "max_results");
	flt = protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
	    "filters");
	if (a->page_size <= 0 || lim == NULL ||
	    (strcmp(a->verb->op, "BatchGetSecretValue") == 0 &&
	    !shape_field_present(m, flt)))
		return;
	*(protobuf_c_boolean *)((char *)m + lim->quantifier_offset) = 1;
	*(int32_t *)((char *)m + lim->offset) = a->page_size > INT32_MAX ?
	    INT32_MAX : (int32_t)a->page_size;
}

/* Result lists are always there, [] when empty, as AWS sends them. */
static void
ensure_lists(const struct cli_verb *v, json_t *page)
{
	size_t r;

	for (r = 0; r < 2 && v->results[r] != NULL; r++)
		if (!json_is_array(json_object_get(page, v->results[r])))
			json_object_set_new(page, v->results[r], json_array());
}

static int
local_error(struct cli_status *st, const char *msg)
{

	st->code = CLI_STATUS_LOCAL;
	st->error_type[0] = '\0';
	snprintf(st->message, sizeof(st->message), "%s", msg);
	return (-1);
}

int
cli_paginate(const struct cli_args *a, cli_fetch_fn *fetch, void *ctx,
    json_t **out, struct cli_status *st)
{
	const struct cli_verb *v = a->verb;
	json_t *page = NULL, *merged = NULL, *list, *e;
	char *token = NULL, *next = NULL, *resume = NULL;
	long skip = 0, shown = 0;
	size_t r, i;
	const char *nt;

	*out = NULL;

	/* One call: not paginated, --no-paginate, or paging by hand. */
	if (!cli_verb_paginated(v) || a->no_paginate || a->manual_paging) {
		if (fetch(ctx, a->req, &page, st))
			return (-1);
		if (cli_verb_paginated(v))
			ensure_lists(v, page);
		*out = page;
		return (0);
	}

	/* Start where --starting-token says, with --page-size per call. */
	if (a->has_starting_token) {
		skip = a->start_skip;
		if (a->start_token != NULL &&
		    (token = strdup(a->start_token)) == NULL)
			goto nomem;
	}
	set_page_size(a, a->req);
	if (set_string(a->req, "next_token", token))
		goto nomem;

	for (;;) {
		if (fetch(ctx, a->req, &page, st))
			goto fail;
		nt = json_string_value(json_object_get(page, "NextToken"));
		if (nt != NULL && (next = strdup(nt)) == NULL)
			goto nomem;
		if (merged == NULL) {
			/* The first page gives the other members. */
			if ((merged = json_deep_copy(page)) == NULL)
				goto nomem;
			json_object_del(merged, "NextToken");
			for (r = 0; r < 2 && v->results[r] != NULL; r++)
				json_object_set_new(merged, v->results[r],
				    json_array());
		}

		/* This page's items, after those already shown. */
		for (r = 0; r < 2 && v->results[r] != NULL && resume == NULL;
		    r++) {
			list = json_object_get(merged, v->results[r]);
			json_array_foreach(json_object_get(page,
			    v->results[r]), i, e) {
				if (r > 0) {
					json_array_append(list, e);
					continue;
				}
				if ((long)i < skip)
					continue;
				if (a->max_items > 0 && shown >= a->max_items) {
					if ((resume = cli_token_encode(token,
					    (long)i)) == NULL)
						goto nomem;
					break;
				}
				json_array_append(list, e);
				shown++;
			}
		}
		json_decref(page);
		page = NULL;
		if (resume != NULL || next == NULL)
			break;

		/* The next page, unless --max-items is reached. */
		if (token != NULL && strcmp(token, next) == 0) {
			local_error(st, "The same next token was received "
			    "twice, stopping pagination");
			goto fail;
		}
		skip = 0;
		free(token);
		token = next;
		next = NULL;
		if (a->max_items > 0 && shown >= a->max_items) {
			if ((resume = cli_token_encode(token, 0)) == NULL)
				goto nomem;
			break;
		}
		if (set_string(a->req, "next_token", token))
			goto nomem;
	}
	if (resume != NULL)
		json_object_set_new(merged, "NextToken", json_string(resume));
	free(resume);
	free(token);
	free(next);
	*out = merged;
	return (0);

nomem:
	local_error(st, "out of memory");
fail:
	json_decref(page);
	json_decref(merged);
	free(resume);
	free(token);
	free(next);
	return (-1);
}
