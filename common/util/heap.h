/* Giving freed heap pages back to the system, whichever allocator the program runs on. */
#ifndef CSCF_HEAP_H
#define CSCF_HEAP_H

/* The plain build allocates through jemalloc (Makefile): its arenas are purged. The sanitizer
 * and fuzz builds keep glibc's allocator (ASan replaces it): the heap is trimmed. */
void heap_release(void);
/* "jemalloc" or "glibc": what heap_release() works on. */
const char *heap_allocator(void);

#endif
