/* Giving freed heap pages back to the system, whichever allocator the program runs on. */
#ifndef CSCF_HEAP_H
#define CSCF_HEAP_H

#include <stddef.h>

/* The plain build allocates through jemalloc (Makefile): its arenas are purged. The sanitizer
 * and fuzz builds keep glibc's allocator (ASan replaces it): the heap is trimmed. */
void heap_release(void);
/* Bytes the program has allocated and not freed, as the allocator counts them (jemalloc:
 * stats.allocated, rounded to its size classes; glibc: in-use chunks, headers included). */
size_t heap_in_use(void);
/* The allocator's own counts, bytes. jemalloc (the plain build): allocated (live objects),
 * active (the pages holding them), metadata (its bookkeeping, which grows with the highest heap
 * the process ever had and is never given back), resident (its pages in RAM, metadata
 * included). glibc: allocated only (in-use chunks), the rest 0. */
typedef struct heap_stats {
    size_t allocated, active, metadata, resident;
} heap_stats_t;
void heap_stats(heap_stats_t *st);
/* Memory for objects kept far longer than the messages handled around them (the answers kept
 * for retransmissions, 32 s, kept.h). jemalloc: an arena of their own, created on first use
 * and shared by the process, without the thread cache, so they do not pin the pages of the
 * short-lived messages they were allocated among (t_flood.sh: 2 -> 5 MiB of active pages for
 * 2 MiB allocated after a flood). glibc: malloc and free. Any thread. */
void *heap_kept_alloc(size_t n);
void heap_kept_free(void *p);
/* "jemalloc" or "glibc": what heap_release() works on. */
const char *heap_allocator(void);

#endif
