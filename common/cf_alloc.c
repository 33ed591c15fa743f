/*
 * cf_alloc.c: heap memory that may have held a secret, and the allocator
 * hooks handed to libraries that copy secrets into memory of their own.
 *
 * jansson copies every string it parses (a rotated secret's JSON, a
 * database's credentials) and protobuf-c every field it unpacks, so both
 * free through cf_heap_wipe_free, which wipes the whole block first.  Per
 * call, rpc/ unpacks into the call's arena instead (cf_arena_hook_*), which
 * is wiped as a unit when the call ends.  The hooks have the shapes those
 * libraries want without common/ including their headers.
 */
#include "cf.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

void
cf_wipe_free(void *p, size_t len)
{

	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

void *
cf_heap_alloc(size_t n)
{

	/* Zero bytes still get a distinct pointer, never NULL. */
	return (malloc(n ? n : 1));
}

void
cf_heap_wipe_free(void *p)
{

	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void *
cf_heap_hook_alloc(void *ctx, size_t n)
{

	(void)ctx;
	return (cf_heap_alloc(n));
}

void
cf_heap_hook_free(void *ctx, void *p)
{

	(void)ctx;
	cf_heap_wipe_free(p);
}

void *
cf_arena_hook_alloc(void *arena, size_t n)
{

	return (cf_arena_alloc(arena, n));
}

void
cf_arena_hook_free(void *arena, void *p)
{

	/* Nothing to do: the arena wipes and frees everything as a unit. */
	(void)arena;
	(void)p;
}
