#include "common/util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    void *val;
    uint64_t hash;
    char key[]; /* one allocation per entry */
} entry_t;

struct strmap {
    entry_t **buckets;
    size_t nbuckets, size;
};

/* FNV-1a. Keys come from the network (nonces, identities), so chains are bounded by the
 * callers' limits on entries, not by the hash. */
static uint64_t hash_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

strmap_t *strmap_new(void)
{
    strmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(strmap_t *m, void (*free_val)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (entry_t *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            if (free_val)
                free_val(e->val);
            free(e);
        }
    }
    free(m->buckets);
    free(m);
}

static entry_t **slot(const strmap_t *m, const char *key, uint64_t h)
{
    entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void grow(strmap_t *m)
{
    size_t n = m->nbuckets * 2;
    entry_t **b = calloc(n, sizeof *b);
    if (!b)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (entry_t *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int strmap_put(strmap_t *m, const char *key, void *val, void **old)
{
    uint64_t h = hash_of(key);
    entry_t **pp = slot(m, key, h);
    if (old)
        *old = *pp ? (*pp)->val : NULL;
    if (*pp) {
        (*pp)->val = val;
        return 0;
    }
    size_t len = strlen(key);
    entry_t *e = malloc(sizeof *e + len + 1);
    if (!e)
        return -1;
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->val = val;
    e->next = NULL;
    *pp = e;
    if (++m->size > m->nbuckets)
        grow(m);
    return 0;
}

void *strmap_get(const strmap_t *m, const char *key)
{
    entry_t **pp = slot(m, key, hash_of(key));
    return *pp ? (*pp)->val : NULL;
}

void *strmap_take(strmap_t *m, const char *key)
{
    entry_t **pp = slot(m, key, hash_of(key));
    entry_t *e = *pp;
    if (!e)
        return NULL;
    void *val = e->val;
    *pp = e->next;
    free(e);
    m->size--;
    return val;
}

size_t strmap_size(const strmap_t *m)
{
    return m->size;
}

void strmap_sweep(strmap_t *m, int (*fn)(void *ctx, const char *key, void *val), void *ctx)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (entry_t **pp = &m->buckets[i]; *pp;) {
            entry_t *e = *pp;
            if (fn(ctx, e->key, e->val) == 1) {
                *pp = e->next;
                free(e);
                m->size--;
            } else {
                pp = &e->next;
            }
        }
    }
}
