/*
 * alloc.c: the memory allocator's settings.
 *
 * cofferd links tcmalloc (gperftools' libtcmalloc_minimal) in place of
 * glibc's malloc when built with COFFER_TCMALLOC (the default; off under
 * the sanitizers, which bring their own).  gRPC allocates and frees many
 * small blocks per call, often on another thread than the one that
 * allocated them; under glibc's malloc that was about a sixth of
 * cofferd's CPU per GetSecretValue (malloc, free, and the consolidation
 * of its fast bins that every larger block sets off), and tcmalloc's
 * per-thread caches take most of it away (docs/performance.md, "Issue
 * 14, seventh pass").  Nothing about secrets changes: values live in
 * the locked, wiped pages of common/cf.c, which no malloc hands out, and
 * what jansson copies into the heap it wipes before freeing, under
 * either allocator.
 *
 * tcmalloc lets its per-thread caches hold 32 MiB together by default;
 * with cofferd's twenty-odd threads that grew VmRSS by 20 MiB under load
 * and kept growing.  server_alloc_tune() caps them at 4 MiB, which kept it
 * flat, unless TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES in the environment
 * says otherwise.  It runs before any thread starts.
 *
 * Built with glibc's malloc instead (-DCOFFER_TCMALLOC=OFF, as the
 * valgrind pass is), cofferd keeps at most one malloc arena per core,
 * unless MALLOC_ARENA_MAX says otherwise.  glibc's default, eight per
 * core, gives each of cofferd's threads (workers, long-call workers,
 * lanes, gRPC's own) an arena of its own that frees back to nothing: over
 * 4 minutes of GetSecretValue after write and batch runs, RSS grew
 * 47.3 -> 51.5 MiB by default and 46.8 -> 47.8 MiB with two arenas on the
 * 2-core VM, at the same rate (3,800 and 3,778 calls/s;
 * docs/performance.md).
 */
#include <stdlib.h>
#include <unistd.h>

#ifdef COFFER_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#else
#include <malloc.h>
#endif

#include "server_internal.h"

/* The per-thread caches' total, when the environment sets none. */
#define THREAD_CACHES_BYTES (4u << 20)

void
server_alloc_tune(void)
{

#ifdef COFFER_TCMALLOC
	if (getenv("TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES") == NULL)
		(void)MallocExtension_SetNumericProperty(
		    "tcmalloc.max_total_thread_cache_bytes",
		    THREAD_CACHES_BYTES);
#else
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (getenv("MALLOC_ARENA_MAX") == NULL)
		(void)mallopt(M_ARENA_MAX, ncpu < 1 ? 1 : (int)ncpu);
#endif
}
