/* heap_release() (heap.h).
 *
 * jemalloc is linked into the plain build only, so its control function is a weak reference:
 * it resolves to jemalloc's when the library is linked and to NULL otherwise. Under load the
 * CSCFs hold hundreds of MiB of completed transactions that sofia frees in small pieces, and
 * glibc's free lists fragment under them (docs/BENCHMARKS.md: malloc's share of the pcscf's
 * CPU doubled over six minutes of steady load, and the latency's p99 with it; on jemalloc
 * neither grew). */
#include "common/util/heap.h"

#include <jemalloc/jemalloc.h> /* MALLOCX_*; the functions are weak references below */
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#pragma weak mallctl
#pragma weak mallocx
#pragma weak dallocx
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

void heap_release(void)
{
    /* "arena.4096.purge": 4096 is MALLCTL_ARENAS_ALL, every arena's unused dirty pages. The
     * loop thread's cache is handed back first: after a flood it held a few hundred freed
     * objects per size class, each keeping its slab (4-28 KiB) from being purged (t_flood.sh:
     * 41-52 MiB left after the flood without the flush, 27 MiB with it). */
    if (mallctl) {
        (void)mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
        (void)mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
    } else
        malloc_trim(0);
}

static size_t je_stat(const char *name)
{
    size_t v = 0, len = sizeof v;
    return mallctl(name, &v, &len, NULL, 0) == 0 ? v : 0;
}

void heap_stats(heap_stats_t *st)
{
    memset(st, 0, sizeof *st);
    if (!mallctl) {
        /* Under ASan its allocator answers mallinfo2() with zeros: ask it directly. */
        struct mallinfo2 mi = mallinfo2();
        st->allocated = __sanitizer_get_current_allocated_bytes
                            ? __sanitizer_get_current_allocated_bytes()
                            : mi.uordblks + mi.hblkhd;
        return;
    }
    /* jemalloc's statistics are a snapshot, refreshed by "epoch" (thread-safe). */
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    (void)mallctl("epoch", &epoch, &len, &epoch, len);
    st->allocated = je_stat("stats.allocated");
    st->active = je_stat("stats.active");
    st->metadata = je_stat("stats.metadata");
    st->resident = je_stat("stats.resident");
}

size_t heap_in_use(void)
{
    /* Objects in the thread's cache count as allocated: hand them back first, so a small
     * measurement is not a cache refill. */
    if (mallctl)
        (void)mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    heap_stats_t st;
    heap_stats(&st);
    return st.allocated;
}

/* The kept objects' arena: allocator state, process-wide like the allocator itself, set once. */
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static int kept_flags; /* 0: malloc and free */

static void kept_arena_create(void)
{
    unsigned arena;
    size_t len = sizeof arena;
    if (mallctl && mallocx && dallocx && mallctl("arenas.create", &arena, &len, NULL, 0) == 0)
        kept_flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
}

void *heap_kept_alloc(size_t n)
{
    (void)pthread_once(&kept_once, kept_arena_create);
    return kept_flags ? mallocx(n ? n : 1, kept_flags) : malloc(n);
}

void heap_kept_free(void *p)
{
    if (!p)
        return;
    if (kept_flags)
        dallocx(p, kept_flags);
    else
        free(p);
}

const char *heap_allocator(void)
{
    return mallctl ? "jemalloc" : "glibc";
}
