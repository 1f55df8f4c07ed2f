#include "common/util/strmap.h"

#include "common/util/heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;
    void *val;
    uint64_t hash;
    char key[]; /* one allocation per entry */
} entry_t;

#define MIN_BUCKETS 64

struct strmap {
    entry_t **buckets;
    size_t nbuckets, size;
    int kept; /* entries from heap_kept_alloc() (strmap_new_kept()) */
};

static entry_t *entry_alloc(const strmap_t *m, size_t n)
{
    return m->kept ? heap_kept_alloc(n) : malloc(n);
}

static void entry_free(const strmap_t *m, entry_t *e)
{
    if (m->kept)
        heap_kept_free(e);
    else
        free(e);
}

/* FNV-1a. Keys come from the network (nonces, identities), so chains are bounded by the
 * callers' limits on entries, not by the hash. */
static uint64_t hash_of(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static strmap_t *map_new(int kept)
{
    strmap_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->kept = kept;
    m->nbuckets = MIN_BUCKETS;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    return m;
}

strmap_t *strmap_new(void)
{
    return map_new(0);
}

strmap_t *strmap_new_kept(void)
{
    return map_new(1);
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
            entry_free(m, e);
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

/* Rehashes into n buckets (a power of two); on no memory keeps the old ones (longer or
 * sparser chains, still correct). */
static void resize(strmap_t *m, size_t n)
{
    entry_t **b = calloc(n, sizeof *b);
    if (!b)
        return;
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

/* Halves the buckets while under an eighth of them are used (a quarter after): a table a flood
 * filled (the answers kept 32 s, sip_answered.c: 1 MiB of buckets at 1,200 calls/s) gives its
 * array back when the flood is over instead of holding it for the process's life. */
static void shrink(strmap_t *m)
{
    while (m->nbuckets > MIN_BUCKETS && m->size < m->nbuckets / 8) {
        size_t n = m->nbuckets / 2;
        resize(m, n);
        if (m->nbuckets != n)
            return;
    }
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
    entry_t *e = entry_alloc(m, sizeof *e + len + 1);
    if (!e)
        return -1;
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->val = val;
    e->next = NULL;
    *pp = e;
    if (++m->size > m->nbuckets)
        resize(m, m->nbuckets * 2);
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
    entry_free(m, e);
    m->size--;
    shrink(m);
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
                entry_free(m, e);
                m->size--;
            } else {
                pp = &e->next;
            }
        }
    }
    shrink(m);
}
