#include "common/ipsec/sa_table.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

typedef struct spi_pair {
    uint32_t pc, ps;
} spi_pair_t;

struct sa_table {
    uint32_t spi_min, spi_max;
    sa_entry_t **sets; /* pointers, so an entry stays put while the array grows */
    size_t n, cap;
    spi_pair_t *pending;
    size_t n_pending, cap_pending;
    uint64_t installs, ins; /* counters behind sa_entry_t's installed and last_in */
};

sa_table_t *sa_table_new(uint32_t spi_min, uint32_t spi_max)
{
    if (spi_min < 256 || spi_min > spi_max)
        return NULL;
    sa_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->spi_min = spi_min;
    t->spi_max = spi_max;
    return t;
}

void sa_table_free(sa_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        /* Keys do not outlive the set in freed memory. */
        memset(t->sets[i], 0, sizeof *t->sets[i]);
        free(t->sets[i]);
    }
    free(t->sets);
    free(t->pending);
    free(t);
}

size_t sa_table_count(const sa_table_t *t)
{
    return t->n;
}

static int spi_used(const sa_table_t *t, uint32_t spi)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->sets[i]->set.spi_pc == spi || t->sets[i]->set.spi_ps == spi)
            return 1;
    for (size_t i = 0; i < t->n_pending; i++)
        if (t->pending[i].pc == spi || t->pending[i].ps == spi)
            return 1;
    return 0;
}

/* The first free SPI at or after start, wrapping within the range, other than not; 0 when
 * there is none. At most (SPIs in use + 2) steps: that many consecutive SPIs cannot all be
 * taken, so a longer search could find nothing new. */
static uint32_t next_free(const sa_table_t *t, uint32_t start, uint32_t not )
{
    uint64_t range = (uint64_t)t->spi_max - t->spi_min + 1;
    uint64_t steps = 2 * (t->n + t->n_pending) + 2;
    if (steps > range)
        steps = range;
    uint64_t off = (start - t->spi_min) % range;
    for (uint64_t i = 0; i < steps; i++) {
        uint32_t spi = (uint32_t)(t->spi_min + (off + i) % range);
        if (spi != not &&!spi_used(t, spi))
            return spi;
    }
    return 0;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

int sa_table_alloc(sa_table_t *t, uint32_t rnd, uint32_t *spi_pc, uint32_t *spi_ps)
{
    uint64_t range = (uint64_t)t->spi_max - t->spi_min + 1;
    uint32_t start = (uint32_t)(t->spi_min + rnd % range);
    uint32_t pc = next_free(t, start, 0);
    uint32_t ps = pc ? next_free(t, pc, pc) : 0;
    if (!ps || grow((void **)&t->pending, &t->cap_pending, t->n_pending, sizeof *t->pending))
        return -1;
    t->pending[t->n_pending++] = (spi_pair_t){pc, ps};
    *spi_pc = pc;
    *spi_ps = ps;
    return 0;
}

static ssize_t pending_index(const sa_table_t *t, uint32_t pc, uint32_t ps)
{
    for (size_t i = 0; i < t->n_pending; i++)
        if (t->pending[i].pc == pc && t->pending[i].ps == ps)
            return (ssize_t)i;
    return -1;
}

static void drop_pending(sa_table_t *t, size_t i)
{
    t->pending[i] = t->pending[--t->n_pending];
}

static int set_ok(const ipsec_sa_set_t *s, uint32_t *ue)
{
    return inet_pton(AF_INET, s->ue_addr, ue) == 1 && s->port_uc && s->port_us && s->port_pc &&
           s->port_ps && s->spi_uc && s->spi_us && s->spi_pc && s->spi_ps && s->spi_pc != s->spi_ps;
}

int sa_table_install(sa_table_t *t, const ipsec_sa_set_t *s)
{
    uint32_t ue;
    if (!set_ok(s, &ue))
        return -1;
    /* Our own pending allocation of exactly these SPIs is what install uses up; anything else
     * holding either SPI is a clash. */
    ssize_t p = pending_index(t, s->spi_pc, s->spi_ps);
    if (p >= 0)
        drop_pending(t, (size_t)p);
    if (spi_used(t, s->spi_pc) || spi_used(t, s->spi_ps) ||
        grow((void **)&t->sets, &t->cap, t->n, sizeof *t->sets))
        goto refuse;
    sa_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        goto refuse;
    e->set = *s;
    e->ue = ue;
    esp_sa_init(&e->in_pc, s->spi_pc, &s->keys);
    esp_sa_init(&e->in_ps, s->spi_ps, &s->keys);
    esp_sa_init(&e->out_uc, s->spi_uc, &s->keys);
    esp_sa_init(&e->out_us, s->spi_us, &s->keys);
    e->out_uc.seq_out = s->seq_out_uc;
    e->out_us.seq_out = s->seq_out_us;
    e->stats.seq_out_uc = s->seq_out_uc;
    e->stats.seq_out_us = s->seq_out_us;
    e->installed = ++t->installs;
    t->sets[t->n++] = e;
    return 0;
refuse:
    if (p >= 0) /* put the allocation back: the caller may still remove it */
        t->pending[t->n_pending++] = (spi_pair_t){s->spi_pc, s->spi_ps};
    return -1;
}

static ssize_t set_index(const sa_table_t *t, uint32_t pc, uint32_t ps)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->sets[i]->set.spi_pc == pc && t->sets[i]->set.spi_ps == ps)
            return (ssize_t)i;
    return -1;
}

int sa_table_remove(sa_table_t *t, uint32_t spi_pc, uint32_t spi_ps)
{
    int found = -1;
    ssize_t p = pending_index(t, spi_pc, spi_ps);
    if (p >= 0) {
        drop_pending(t, (size_t)p);
        found = 0;
    }
    ssize_t i = set_index(t, spi_pc, spi_ps);
    if (i >= 0) {
        memset(t->sets[i], 0, sizeof *t->sets[i]);
        free(t->sets[i]);
        t->sets[i] = t->sets[--t->n];
        found = 0;
    }
    return found;
}

sa_entry_t *sa_table_get(sa_table_t *t, uint32_t spi_pc, uint32_t spi_ps)
{
    ssize_t i = set_index(t, spi_pc, spi_ps);
    return i >= 0 ? t->sets[i] : NULL;
}

sa_entry_t *sa_table_find_in(sa_table_t *t, uint32_t spi, esp_sa_t **sa)
{
    for (size_t i = 0; i < t->n; i++) {
        sa_entry_t *e = t->sets[i];
        if (e->set.spi_pc == spi || e->set.spi_ps == spi) {
            *sa = e->set.spi_pc == spi ? &e->in_pc : &e->in_ps;
            return e;
        }
    }
    return NULL;
}

/* Which of the two candidates ipsec_dp.h's rule prefers: the most recent inbound traffic, and
 * without any, the newest installed. */
static int better(const sa_entry_t *a, const sa_entry_t *b)
{
    if (!b)
        return 1;
    if (a->last_in != b->last_in)
        return a->last_in > b->last_in;
    return a->installed > b->installed;
}

sa_entry_t *sa_table_find_out(sa_table_t *t, uint32_t ue, uint16_t dport, uint16_t sport,
                              esp_sa_t **sa)
{
    sa_entry_t *best = NULL;
    for (size_t i = 0; i < t->n; i++) {
        sa_entry_t *e = t->sets[i];
        const ipsec_sa_set_t *s = &e->set;
        int uc = sport == s->port_ps && dport == s->port_uc;
        int us = sport == s->port_pc && dport == s->port_us;
        if (e->ue == ue && (uc || us) && better(e, best)) {
            best = e;
            *sa = uc ? &e->out_uc : &e->out_us;
        }
    }
    return best;
}

void sa_table_note_in(sa_table_t *t, sa_entry_t *e, size_t bytes, int64_t now_ms)
{
    e->last_in = ++t->ins;
    e->stats.packets_in++;
    e->stats.bytes_in += bytes;
    e->stats.last_in_ms = now_ms;
}

void sa_entry_note_out(sa_entry_t *e, size_t bytes)
{
    e->stats.packets_out++;
    e->stats.bytes_out += bytes;
    e->stats.seq_out_uc = e->out_uc.seq_out;
    e->stats.seq_out_us = e->out_us.seq_out;
}
