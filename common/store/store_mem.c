/* The in-memory store backend ("memory"), for one process: store_mem_ops. Synchronous: every
 * callback runs before the call returns.
 *
 * Memory (the aim is <= 2 KiB per registered UE): each registration is one allocation of exactly
 * its size, laid out as a store_reg_t whose pointers point into the same block: the struct, the
 * IMPU and barred pointer arrays, the contacts, then the strings, each kept once (a string that
 * comes again in the same registration, such as a barred IMPU or the Path and received address
 * of a second contact, points at the first copy). Two open-addressing tables (linear probing,
 * backward-shift deletion, load <= 3/4, doubling) index the blocks by IMPI and by every IMPU;
 * a slot is 16 bytes and its key is read from the block, never copied.
 *
 * Options: "" (none), or comma-separated key=value: "journal=PATH" keeps the registrations in
 * a file too (store_journal.c: each change is written there before it is applied, the file is
 * replayed at open; PATH cannot hold a comma), "fsync=1" (with a journal) fdatasyncs every
 * change. */
#include "common/store/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/store/store_internal.h"
#include "common/store/store_journal.h"
#include "common/util/log.h"

#define EXPIRED_BATCH 1000
#define KEY_IMPI      UINT32_MAX /* slot_t.which for the IMPI table */
#define TABLE_MIN     16
#define DEDUP_MAX     64 /* strings of one registration checked for repeats */

typedef struct slot {
    store_reg_t *reg; /* NULL: free */
    uint32_t hash;
    uint32_t which; /* KEY_IMPI, or the index of the key in reg->impus */
} slot_t;

typedef struct table {
    slot_t *slots;
    size_t cap; /* 0 or a power of two */
    size_t n;
} table_t;

typedef struct mem {
    table_t by_impi, by_impu;
    size_t max_regs, max_contacts, contacts;
    journal_t *journal; /* NULL: none */
} mem_t;

/* ---- one block per registration ---- */

typedef struct packer {
    char *area; /* where the strings go; NULL while measuring */
    size_t used;
    size_t nseen;
    const char *seen[DEDUP_MAX]; /* strings kept so far (while measuring: the originals) */
    size_t seen_len[DEDUP_MAX];
    char *copy[DEDUP_MAX]; /* where they are in area */
} packer_t;

/* The block's copy of s: an equal string kept before, or s appended. NULL while measuring. */
static char *pack_str(packer_t *p, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    for (size_t i = 0; i < p->nseen; i++)
        if (p->seen_len[i] == len && memcmp(p->seen[i], s, len) == 0)
            return p->copy[i];
    char *at = p->area ? memcpy(p->area + p->used, s, len + 1) : NULL;
    p->used += len + 1;
    if (p->nseen < DEDUP_MAX) {
        p->seen[p->nseen] = at ? at : s;
        p->seen_len[p->nseen] = len;
        p->copy[p->nseen++] = at;
    }
    return at;
}

/* Every string of r, in one order, through pack_str(); into d's fields unless measuring (d is
 * NULL then). Both passes take the same decisions, so the measured size is the written one. */
static void pack_strings(packer_t *p, store_reg_t *d, const store_reg_t *r)
{
    char *sink;
#define KEEP(field) (*(d ? &d->field : &sink) = pack_str(p, r->field))
    KEEP(impi);
    for (size_t i = 0; i < r->nimpus; i++)
        KEEP(impus[i]);
    for (size_t i = 0; i < r->nbarred; i++)
        KEEP(barred[i]);
    KEEP(profile);
    KEEP(scheme);
    for (size_t i = 0; i < r->ncontacts; i++) {
        KEEP(contacts[i].uri);
        KEEP(contacts[i].params);
        KEEP(contacts[i].instance);
        KEEP(contacts[i].path);
        KEEP(contacts[i].received);
        KEEP(contacts[i].call_id);
        KEEP(contacts[i].user_agent);
    }
    KEEP(server_name);
    KEEP(hss);
    for (size_t i = 0; i < r->nsubs; i++) {
        KEEP(subs[i].call_id);
        KEEP(subs[i].local_tag);
        KEEP(subs[i].remote_tag);
        KEEP(subs[i].local_uri);
        KEEP(subs[i].remote_uri);
        KEEP(subs[i].target);
        KEEP(subs[i].route_set);
        KEEP(subs[i].impu);
        KEEP(subs[i].subscriber);
    }
#undef KEEP
    (void)sink;
}

_Static_assert(sizeof(store_reg_t) % _Alignof(store_contact_t) == 0 &&
                   sizeof(char *) % _Alignof(store_contact_t) == 0,
               "contacts follow the pointer arrays aligned");
_Static_assert(sizeof(store_contact_t) % _Alignof(store_sub_t) == 0 &&
                   sizeof(char *) % _Alignof(store_sub_t) == 0,
               "subscriptions follow the contacts aligned");

/* r as one block (free() it); NULL when out of memory. */
static store_reg_t *block_of(const store_reg_t *r)
{
    packer_t p = {0};
    pack_strings(&p, NULL, r);
    size_t fixed = sizeof(store_reg_t) + (r->nimpus + r->nbarred) * sizeof(char *) +
                   r->ncontacts * sizeof(store_contact_t) + r->nsubs * sizeof(store_sub_t);
    store_reg_t *d = malloc(fixed + p.used);
    if (!d)
        return NULL;
    char **ptrs = (char **)(d + 1);
    *d = *r;
    d->impus = r->nimpus ? ptrs : NULL;
    d->barred = r->nbarred ? ptrs + r->nimpus : NULL;
    d->contacts = r->ncontacts ? (store_contact_t *)(ptrs + r->nimpus + r->nbarred) : NULL;
    if (r->ncontacts)
        memcpy(d->contacts, r->contacts, r->ncontacts * sizeof *r->contacts);
    d->subs = r->nsubs ? (store_sub_t *)((char *)(ptrs + r->nimpus + r->nbarred) +
                                         r->ncontacts * sizeof(store_contact_t))
                       : NULL;
    if (r->nsubs)
        memcpy(d->subs, r->subs, r->nsubs * sizeof *r->subs);
    p = (packer_t){.area = (char *)d + fixed};
    pack_strings(&p, d, r);
    return d;
}

/* ---- the tables ---- */

/* FNV-1a with a final mix. The keys are identities from the HSS, stored only after
 * authentication, so not chosen freely by whoever sends REGISTERs. */
static uint32_t hash_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ULL;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

static const char *slot_key(const slot_t *sl)
{
    return sl->which == KEY_IMPI ? sl->reg->impi : sl->reg->impus[sl->which];
}

static slot_t *table_find(const table_t *t, const char *key)
{
    if (!t->n || !key)
        return NULL;
    uint32_t h = hash_of(key);
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        slot_t *sl = &t->slots[i];
        if (!sl->reg)
            return NULL;
        if (sl->hash == h && strcmp(slot_key(sl), key) == 0)
            return sl;
    }
}

static void slot_place(slot_t *slots, size_t cap, slot_t sl)
{
    size_t i = sl.hash & (cap - 1);
    while (slots[i].reg)
        i = (i + 1) & (cap - 1);
    slots[i] = sl;
}

static int table_resize(table_t *t, size_t cap)
{
    slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].reg)
            slot_place(slots, cap, t->slots[i]);
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* Room for extra more entries at load <= 3/4; 0, or -1 (the table unchanged). */
static int table_reserve(table_t *t, size_t extra)
{
    if (!extra)
        return 0; /* the load never exceeds 3/4 */
    size_t cap = t->cap ? t->cap : TABLE_MIN;
    while ((t->n + extra) > cap / 4 * 3) {
        if (cap > SIZE_MAX / 2 / sizeof(slot_t))
            return -1;
        cap *= 2;
    }
    return cap == t->cap ? 0 : table_resize(t, cap);
}

/* After table_reserve(); key not in the table. */
static void table_add(table_t *t, store_reg_t *reg, uint32_t which)
{
    slot_t sl = {reg, 0, which};
    sl.hash = hash_of(slot_key(&sl));
    slot_place(t->slots, t->cap, sl);
    t->n++;
}

static void table_remove(table_t *t, slot_t *gone)
{
    size_t mask = t->cap - 1, hole = (size_t)(gone - t->slots);
    for (size_t j = (hole + 1) & mask; t->slots[j].reg; j = (j + 1) & mask) {
        size_t home = t->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) { /* home not in (hole, j] */
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].reg = NULL;
    t->n--;
}

/* After deletions: half the size when at most 1/8 full (best effort). */
static void table_shrink(table_t *t)
{
    if (t->cap > TABLE_MIN * 4 && t->n < t->cap / 8)
        table_resize(t, t->cap / 2);
}

/* ---- the store ---- */

static void mem_close(void *be);
static int replay_apply(void *arg, store_reg_t *reg, const char *impi, uint64_t rev);
static int compact(mem_t *s);

/* options into *path (malloc'd, NULL: no journal) and *fsync_each; 0, or -1 (logged). */
static int parse_options(const char *options, char **path, int *fsync_each)
{
    *path = NULL;
    *fsync_each = 0;
    char *copy = strdup(options ? options : ""), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *kv = copy ? strtok_r(copy, ",", &save) : NULL; kv && rc == 0;
         kv = strtok_r(NULL, ",", &save)) {
        if (strncmp(kv, "journal=", 8) == 0 && kv[8] && !*path)
            rc = (*path = strdup(kv + 8)) ? 0 : -1;
        else if (strcmp(kv, "fsync=0") == 0 || strcmp(kv, "fsync=1") == 0)
            *fsync_each = kv[6] == '1';
        else
            rc = -1;
    }
    if (rc < 0) {
        log_error("store: memory backend: bad options \"%s\" (journal=PATH[,fsync=0|1])", options);
        free(*path);
        *path = NULL;
    }
    free(copy);
    return rc;
}

static void *mem_open(const store_limits_t *limits, const char *options, struct su_root_s *root)
{
    (void)root;
    char *path;
    int fsync_each;
    if (parse_options(options, &path, &fsync_each) < 0)
        return NULL;
    if (fsync_each && !path) {
        log_error("store: memory backend: fsync=1 without a journal");
        return NULL;
    }
    mem_t *s = calloc(1, sizeof *s);
    if (!s) {
        free(path);
        return NULL;
    }
    s->max_regs = limits->max_regs;
    s->max_contacts = limits->max_contacts_per_reg;
    /* What the journal brings back, then a fresh snapshot of it (so the file starts at the
     * live data's size, and a torn or bad line is gone from it). */
    if (path &&
        (!(s->journal = journal_open(path, fsync_each, replay_apply, s)) || compact(s) < 0)) {
        log_error("store: memory backend: journal %s unusable", path);
        free(path);
        mem_close(s);
        return NULL;
    }
    if (path)
        log_info("store: journal %s: %zu registration(s) restored", path, s->by_impi.n);
    free(path);
    return s;
}

/* New bounds apply to the next store_put(): what is held stays. */
static int mem_set_limits(void *be, const store_limits_t *limits)
{
    mem_t *s = be;
    s->max_regs = limits->max_regs;
    s->max_contacts = limits->max_contacts_per_reg;
    return 0;
}

static void mem_close(void *be)
{
    mem_t *s = be;
    if (!s)
        return;
    for (size_t i = 0; i < s->by_impi.cap; i++)
        free(s->by_impi.slots[i].reg);
    free(s->by_impi.slots);
    free(s->by_impu.slots);
    journal_close(s->journal);
    free(s);
}

static store_reg_t *reg_of(const table_t *t, const char *key)
{
    slot_t *sl = table_find(t, key);
    return sl ? sl->reg : NULL;
}

static void answer_copy(const store_reg_t *r, store_get_f cb, void *arg)
{
    if (!r) {
        cb(arg, 1, NULL);
        return;
    }
    store_reg_t *copy = store_reg_dup(r);
    cb(arg, copy ? 0 : -1, copy);
}

static void mem_get(void *be, const char *impu, store_get_f cb, void *arg)
{
    mem_t *s = be;
    answer_copy(reg_of(&s->by_impu, impu), cb, arg);
}

static void mem_get_impi(void *be, const char *impi, store_get_f cb, void *arg)
{
    mem_t *s = be;
    answer_copy(reg_of(&s->by_impi, impi), cb, arg);
}

/* Takes r's IMPUs out of the IMPU index. */
static void unindex_impus(mem_t *s, const store_reg_t *r)
{
    for (size_t i = 0; i < r->nimpus; i++) {
        slot_t *sl = table_find(&s->by_impu, r->impus[i]);
        if (sl && sl->reg == r)
            table_remove(&s->by_impu, sl);
    }
}

/* Why reg cannot replace old (NULL: a new registration); NULL when it can. bounded: the limits
 * apply (they do not to what a journal brings back: what was held stays held). */
static const char *refusal(const mem_t *s, const store_reg_t *reg, const store_reg_t *old,
                           int bounded)
{
    if (!reg->impi || reg->nimpus >= KEY_IMPI)
        return "malformed";
    if (bounded && reg->ncontacts > s->max_contacts)
        return "too many contacts";
    if (bounded && !old && s->by_impi.n >= s->max_regs)
        return "too many registrations";
    for (size_t i = 0; i < reg->nimpus; i++) {
        if (!reg->impus[i])
            return "malformed";
        const store_reg_t *holder = reg_of(&s->by_impu, reg->impus[i]);
        if (holder && holder != old)
            return "IMPU held by another IMPI";
    }
    return NULL;
}

/* reg stored at revision rev, written to the journal first unless replaying it; NULL, or why
 * not (nothing changed then). */
static const char *store_at(mem_t *s, const store_reg_t *reg, uint64_t rev, int replaying)
{
    slot_t *at = table_find(&s->by_impi, reg->impi);
    store_reg_t *old = at ? at->reg : NULL;
    store_reg_t *block = NULL;
    /* Everything that can fail comes first, so a failure leaves the store as it was. */
    const char *why = refusal(s, reg, old, !replaying);
    if (!why && (table_reserve(&s->by_impi, old ? 0 : 1) < 0 ||
                 table_reserve(&s->by_impu, reg->nimpus) < 0 || !(block = block_of(reg))))
        why = "out of memory";
    if (!why && !replaying && s->journal && journal_put(s->journal, reg, rev) < 0)
        why = "journal write failed";
    if (why) {
        free(block);
        return why;
    }
    block->rev = rev;
    if (old)
        at = table_find(&s->by_impi, reg->impi); /* in case the reserve moved the slots */
    if (old) {
        unindex_impus(s, old);
        at->reg = block; /* same key, same hash, same slot */
        s->contacts -= old->ncontacts;
        free(old);
    } else {
        table_add(&s->by_impi, block, KEY_IMPI);
    }
    for (size_t i = 0; i < block->nimpus; i++)
        if (!table_find(&s->by_impu, block->impus[i])) /* listed twice in the set */
            table_add(&s->by_impu, block, (uint32_t)i);
    s->contacts += block->ncontacts;
    return NULL;
}

static void remove_at(mem_t *s, slot_t *at)
{
    store_reg_t *r = at->reg;
    table_remove(&s->by_impi, at);
    unindex_impus(s, r);
    s->contacts -= r->ncontacts;
    free(r);
    table_shrink(&s->by_impi);
    table_shrink(&s->by_impu);
}

/* The journal rewritten as a snapshot of what is held; 0, or -1 (logged). */
static int compact(mem_t *s)
{
    const store_reg_t **regs = malloc((s->by_impi.n ? s->by_impi.n : 1) * sizeof *regs);
    if (!regs) {
        log_error("store: journal compaction: out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->by_impi.cap; i++)
        if (s->by_impi.slots[i].reg)
            regs[n++] = s->by_impi.slots[i].reg;
    int rc = journal_compact(s->journal, regs, n);
    free(regs);
    return rc;
}

/* After a change: a failed compaction is logged and the journal goes on as it was. */
static void maybe_compact(mem_t *s)
{
    if (s->journal && journal_wants_compaction(s->journal))
        compact(s);
}

/* One line of the journal at open (store_journal.h's journal_apply_f). */
static int replay_apply(void *arg, store_reg_t *reg, const char *impi, uint64_t rev)
{
    mem_t *s = arg;
    if (!reg) {
        slot_t *at = table_find(&s->by_impi, impi);
        if (at)
            remove_at(s, at);
        return at ? 0 : -1;
    }
    const char *why = store_at(s, reg, rev, 1);
    store_reg_free(reg);
    return why ? -1 : 0;
}

static void mem_put(void *be, const store_reg_t *reg, store_done_f cb, void *arg)
{
    mem_t *s = be;
    slot_t *at = table_find(&s->by_impi, reg->impi);
    uint64_t was = at ? at->reg->rev : 0;
    if (reg->rev && reg->rev != (at ? was : STORE_REV_NEW)) {
        cb(arg, STORE_CONFLICT);
        return;
    }
    const char *why = store_at(s, reg, was + 1, 0);
    if (why) {
        log_warn("store: registration of %s refused: %s", reg->impi ? reg->impi : "?", why);
        cb(arg, -1);
        return;
    }
    maybe_compact(s);
    cb(arg, 0);
}

static void mem_del(void *be, const char *impi, uint64_t rev, store_done_f cb, void *arg)
{
    mem_t *s = be;
    slot_t *at = table_find(&s->by_impi, impi);
    if (!at) {
        cb(arg, -1);
        return;
    }
    if (rev && at->reg->rev != rev) {
        cb(arg, STORE_CONFLICT);
        return;
    }
    if (s->journal && journal_del(s->journal, impi) < 0) {
        cb(arg, -1);
        return;
    }
    remove_at(s, at);
    maybe_compact(s);
    cb(arg, 0);
}

/* ---- listing ---- */

static int starts_with(const char *s, const char *prefix, size_t n)
{
    return strncmp(s, prefix, n) == 0;
}

static int matches(const store_reg_t *r, const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (!n || starts_with(r->impi, prefix, n))
        return 1;
    for (size_t i = 0; i < r->nimpus; i++)
        if (starts_with(r->impus[i], prefix, n))
            return 1;
    return 0;
}

static int by_impi(const void *a, const void *b)
{
    return strcmp((*(store_reg_t *const *)a)->impi, (*(store_reg_t *const *)b)->impi);
}

/* Copies of regs[0..n) the caller owns (an array even when n is 0); NULL when out of memory. */
static store_reg_t **copies(store_reg_t *const *regs, size_t n)
{
    store_reg_t **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        if (!(out[i] = store_reg_dup(regs[i]))) {
            store_regs_free(out, i);
            return NULL;
        }
    }
    return out;
}

/* Hands copies of regs[0..n) to cb, then frees regs (the store's own blocks stay). */
static void answer_list(store_reg_t **regs, size_t n, size_t total, store_list_f cb, void *arg)
{
    store_reg_t **out = copies(regs, n);
    free(regs);
    if (!out)
        cb(arg, -1, NULL, 0, 0);
    else
        cb(arg, 0, out, n, total);
}

static void mem_list(void *be, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                     void *arg)
{
    mem_t *s = be;
    store_reg_t **hits = malloc((s->by_impi.n ? s->by_impi.n : 1) * sizeof *hits);
    if (!hits) {
        cb(arg, -1, NULL, 0, 0);
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < s->by_impi.cap; i++)
        if (s->by_impi.slots[i].reg && matches(s->by_impi.slots[i].reg, prefix))
            hits[total++] = s->by_impi.slots[i].reg;
    qsort(hits, total, sizeof *hits, by_impi);
    size_t from = offset < total ? offset : total;
    size_t n = total - from < limit ? total - from : limit;
    memmove(hits, hits + from, n * sizeof *hits);
    answer_list(hits, n, total, cb, arg);
}

static int has_expired(const store_reg_t *r, int64_t now)
{
    for (size_t i = 0; i < r->ncontacts; i++)
        if (r->contacts[i].expires_at <= now)
            return 1;
    for (size_t i = 0; i < r->nsubs; i++)
        if (r->subs[i].expires_at <= now)
            return 1;
    return 0;
}

static void mem_expired(void *be, int64_t now, store_list_f cb, void *arg)
{
    mem_t *s = be;
    store_reg_t **hits = malloc(EXPIRED_BATCH * sizeof *hits);
    if (!hits) {
        cb(arg, -1, NULL, 0, 0);
        return;
    }
    size_t n = 0, total = 0;
    for (size_t i = 0; i < s->by_impi.cap; i++) {
        store_reg_t *r = s->by_impi.slots[i].reg;
        if (r && has_expired(r, now) && total++ < EXPIRED_BATCH)
            hits[n++] = r;
    }
    answer_list(hits, n, total, cb, arg);
}

static size_t mem_count(const void *be)
{
    return ((const mem_t *)be)->by_impi.n;
}

static size_t mem_contact_count(const void *be)
{
    return ((const mem_t *)be)->contacts;
}

const store_ops_t store_mem_ops = {
    .name = "memory",
    .synchronous = 1,
    .open = mem_open,
    .close = mem_close,
    .set_limits = mem_set_limits,
    .get = mem_get,
    .get_impi = mem_get_impi,
    .put = mem_put,
    .del = mem_del,
    .list = mem_list,
    .expired = mem_expired,
    .count = mem_count,
    .contact_count = mem_contact_count,
};
