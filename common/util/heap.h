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
/* "jemalloc" or "glibc": what heap_release() works on. */
const char *heap_allocator(void);

#endif
