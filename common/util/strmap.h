/* A string-keyed hash map (chaining, grows at load 1, shrinks under load 1/8). Keys are copied;
 * values are the caller's. One thread. */
#ifndef CSCF_STRMAP_H
#define CSCF_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap_t;

strmap_t *strmap_new(void);
/* The same, its entries in the memory of kept objects (heap_kept_alloc(), heap.h): for a map
 * whose entries live far longer than the messages handled around them. */
strmap_t *strmap_new_kept(void);
/* free_val (may be NULL) is called on every value left. */
void strmap_free(strmap_t *m, void (*free_val)(void *));

/* Adds or replaces; the replaced value is returned in *old (when old is not NULL). 0 or -1. */
int strmap_put(strmap_t *m, const char *key, void *val, void **old);
void *strmap_get(const strmap_t *m, const char *key);
/* Removes the entry and returns its value (NULL when absent). */
void *strmap_take(strmap_t *m, const char *key);
size_t strmap_size(const strmap_t *m);

/* Calls fn for every entry; when fn returns 1 the entry is removed (fn owns the value then).
 * fn must not otherwise change the map. */
void strmap_sweep(strmap_t *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx);

#endif
