/* kept_table_t (kept.h). */
#include "common/util/kept.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/heap.h"
#include "common/util/strmap.h"

typedef struct kept {
    struct kept *next; /* in order of keeping: the oldest expires first */
    int64_t at_ms;
    size_t len;
    char *key;
    char bytes[]; /* the bytes, then the key */
} kept_t;

struct kept_table {
    strmap_t *map; /* key -> kept_t */
    kept_t *head, *tail;
    unsigned ttl_ms;
    size_t cap;
};

kept_table_t *kept_new(unsigned ttl_ms, size_t cap)
{
    kept_table_t *t = calloc(1, sizeof *t);
    if (!t || !(t->map = strmap_new_kept())) {
        free(t);
        return NULL;
    }
    t->ttl_ms = ttl_ms;
    t->cap = cap ? cap : 1;
    return t;
}

void kept_free(kept_table_t *t)
{
    if (!t)
        return;
    strmap_free(t->map, heap_kept_free);
    free(t);
}

static void drop_oldest(kept_table_t *t)
{
    kept_t *k = t->head;
    t->head = k->next;
    if (!t->head)
        t->tail = NULL;
    strmap_take(t->map, k->key);
    heap_kept_free(k);
}

char *kept_put(kept_table_t *t, const char *key, size_t len, int64_t now_ms)
{
    if (!t || strmap_get(t->map, key))
        return NULL;
    size_t klen = strlen(key) + 1;
    kept_t *k = heap_kept_alloc(sizeof *k + len + klen);
    if (!k)
        return NULL;
    k->next = NULL;
    k->at_ms = now_ms;
    k->len = len;
    k->key = k->bytes + len;
    memcpy(k->key, key, klen);
    while (strmap_size(t->map) >= t->cap && t->head)
        drop_oldest(t);
    if (strmap_put(t->map, k->key, k, NULL) < 0) {
        heap_kept_free(k);
        return NULL;
    }
    if (t->tail)
        t->tail->next = k;
    else
        t->head = k;
    t->tail = k;
    return k->bytes;
}

const char *kept_get(const kept_table_t *t, const char *key, size_t *len)
{
    kept_t *k = t ? strmap_get(t->map, key) : NULL;
    if (!k)
        return NULL;
    *len = k->len;
    return k->bytes;
}

void kept_expire(kept_table_t *t, int64_t now_ms)
{
    while (t && t->head && now_ms - t->head->at_ms >= (int64_t)t->ttl_ms)
        drop_oldest(t);
}

size_t kept_count(const kept_table_t *t)
{
    return t ? strmap_size(t->map) : 0;
}
