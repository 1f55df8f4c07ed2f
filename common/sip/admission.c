#include "common/sip/admission.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Keys longer than this are cut: a flow is ~60 characters, an IMPI rarely 100. */
#define KEY_MAX 256
/* Samples kept for the lag's window (ticks of 10 ms: 10 of them). */
#define LAG_SAMPLES 64
/* The shed ratio covers the last one to two windows. */
#define RATIO_WINDOW 5.0

typedef struct adm_entry {
    struct adm_entry *hnext;       /* hash chain */
    struct adm_entry *prev, *next; /* use order: head most recent */
    double tokens, last;           /* bucket level and when it was last refilled */
    uint64_t refused;
    char key[];
} adm_entry_t;

typedef struct adm_table {
    adm_entry_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    adm_entry_t *head, *tail;
} adm_table_t;

struct adm {
    adm_config_t cfg;
    uint64_t rng;
    double lag, lag_at; /* the lag acted on, time of the last sample (negative: none yet) */
    double win_t[LAG_SAMPLES], win_v[LAG_SAMPLES]; /* samples of the last ADM_LAG_WINDOW */
    size_t win_head, win_n;
    double level; /* the integral part of new initial requests' shed probability */
    uint64_t admitted[ADM_NCLASSES];
    uint64_t shed[ADM_NCLASSES][ADM_NREASONS];
    double win_start;
    uint64_t win_total[2], win_shed[2]; /* [0] the current window, [1] the one before */
    adm_table_t tables[2];              /* [0] flows, [1] IMPIs */
};

static const char *const class_names[ADM_NCLASSES] = {"emergency",        "options",  "ack_cancel",
                                                      "in_dialog",        "admitted", "known",
                                                      "initial_register", "initial"};
static const char *const reason_names[ADM_NREASONS] = {"admitted", "lag", "flow", "impi"};

const char *adm_class_name(adm_class_t c)
{
    return c < ADM_NCLASSES ? class_names[c] : "other";
}

const char *adm_reason_name(adm_reason_t r)
{
    return r < ADM_NREASONS ? reason_names[r] : "other";
}

/* xorshift64*: cheap, and deterministic for a given seed (the tests). */
static uint64_t rnd(adm_t *a)
{
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 2685821657736338717ULL;
}

static double rnd_unit(adm_t *a)
{
    return (double)(rnd(a) >> 11) / 9007199254740992.0; /* [0, 1) */
}

/* ---- bounded bucket tables ---- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void lru_unlink(adm_table_t *t, adm_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(adm_table_t *t, adm_entry_t *e)
{
    e->prev = NULL;
    e->next = t->head;
    if (t->head)
        t->head->prev = e;
    t->head = e;
    if (!t->tail)
        t->tail = e;
}

static void table_remove(adm_table_t *t, adm_entry_t *e)
{
    adm_entry_t **pp = &t->buckets[hash(e->key) & (t->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(t, e);
    t->count--;
    free(e);
}

static void table_trim(adm_table_t *t, size_t cap)
{
    while (t->count > cap && t->tail)
        table_remove(t, t->tail);
}

/* Bucket array sized for cap entries; entries move over. -1 when out of memory (the table is
 * left as it was). */
static int table_size(adm_table_t *t, size_t cap)
{
    size_t n = 64;
    while (n < cap && n < ((size_t)1 << 30))
        n <<= 1;
    if (n == t->nbuckets)
        return 0;
    adm_entry_t **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (adm_entry_t *e = t->tail; e; e = e->prev) {
        size_t i = hash(e->key) & (n - 1);
        e->hnext = b[i];
        b[i] = e;
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

static void table_free(adm_table_t *t)
{
    for (adm_entry_t *e = t->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

/* The entry of key, made (with a full bucket) when absent: the least recently used one goes
 * when the table is at cap. NULL when out of memory. */
static adm_entry_t *table_get(adm_table_t *t, const char *key, size_t cap, double burst, double now)
{
    char cut[KEY_MAX];
    if (strlen(key) >= sizeof cut) {
        memcpy(cut, key, sizeof cut - 1);
        cut[sizeof cut - 1] = '\0';
        key = cut;
    }
    size_t i = hash(key) & (t->nbuckets - 1);
    for (adm_entry_t *e = t->buckets[i]; e; e = e->hnext) {
        if (strcmp(e->key, key) == 0) {
            lru_unlink(t, e);
            lru_push(t, e);
            return e;
        }
    }
    if (cap == 0)
        return NULL;
    table_trim(t, cap - 1);
    size_t len = strlen(key);
    adm_entry_t *e = calloc(1, sizeof *e + len + 1);
    if (!e)
        return NULL;
    memcpy(e->key, key, len + 1);
    e->tokens = burst;
    e->last = now;
    e->hnext = t->buckets[i];
    t->buckets[i] = e;
    lru_push(t, e);
    t->count++;
    return e;
}

/* Token bucket: refill for the time since the last look, then take one. 1 when taken. */
static int bucket_take(adm_entry_t *e, double rate, double burst, double now)
{
    if (now > e->last)
        e->tokens = fmin(burst, e->tokens + (now - e->last) * rate);
    e->last = now;
    if (e->tokens >= 1) {
        e->tokens -= 1;
        return 1;
    }
    e->refused++;
    return 0;
}

/* ---- the controller ---- */

static void normalise(adm_config_t *c)
{
    if (!(c->target > 0))
        c->target = 0.1;
    if (c->retry_after == 0)
        c->retry_after = 1;
    if (c->flow_burst < 1)
        c->flow_burst = 1;
    if (c->impi_burst < 1)
        c->impi_burst = 1;
    if (c->table_size == 0)
        c->table_size = 1;
}

adm_t *adm_new(const adm_config_t *cfg, uint64_t seed)
{
    adm_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    a->lag_at = -1;
    a->win_start = -1;
    a->cfg = *cfg;
    normalise(&a->cfg);
    if (table_size(&a->tables[0], a->cfg.table_size) < 0 ||
        table_size(&a->tables[1], a->cfg.table_size) < 0) {
        adm_free(a);
        return NULL;
    }
    return a;
}

void adm_free(adm_t *a)
{
    if (!a)
        return;
    table_free(&a->tables[0]);
    table_free(&a->tables[1]);
    free(a);
}

void adm_set_config(adm_t *a, const adm_config_t *cfg)
{
    a->cfg = *cfg;
    normalise(&a->cfg);
    for (int i = 0; i < 2; i++) {
        table_trim(&a->tables[i], a->cfg.table_size);
        table_size(&a->tables[i], a->cfg.table_size); /* out of memory: the old array serves */
    }
}

const adm_config_t *adm_config(const adm_t *a)
{
    return &a->cfg;
}

/* The smallest sample of the last ADM_LAG_WINDOW and of the newest one before it. That one
 * matters after a gap in the samples: a loop held off the CPU for longer than the window (the
 * machine busy with other processes) comes back to datagrams that waited that long, and its
 * first samples after the gap are all it has of the last window. Without the sample from
 * before, that one stall counted as a standing queue (make soak at 50%: refusal episodes in a
 * run where nothing was overloaded); with it, the lag must stay over the target for a whole
 * window after the gap, as CoDel's interval, and a backlog that drains sooner costs nothing. */
static double window_min(adm_t *a, double now, double lag)
{
    while (a->win_n > 1 && (now - a->win_t[(a->win_head + 1) % LAG_SAMPLES] >= ADM_LAG_WINDOW ||
                            a->win_n == LAG_SAMPLES)) {
        a->win_head = (a->win_head + 1) % LAG_SAMPLES;
        a->win_n--;
    }
    size_t tail = (a->win_head + a->win_n) % LAG_SAMPLES;
    a->win_t[tail] = now;
    a->win_v[tail] = lag;
    a->win_n++;
    double m = lag;
    for (size_t i = 0; i < a->win_n; i++)
        m = fmin(m, a->win_v[(a->win_head + i) % LAG_SAMPLES]);
    return m;
}

void adm_lag_sample(adm_t *a, double now, double lag)
{
    if (lag < 0)
        lag = 0;
    double dt = a->lag_at < 0 ? 0 : now - a->lag_at;
    /* A gap in the samples moves the integral part as much as one tick would: nothing was seen
     * in it. Counted whole, a 300 ms stall swung the share refused to all (the backlog found
     * after it, with the old window) or, under overload, to much less (the sample from before
     * it, with the window above) for the next half second. */
    if (dt > ADM_DT_MAX)
        dt = ADM_DT_MAX;
    a->lag = window_min(a, now, lag);
    a->lag_at = now;
    /* The integral part: while the lag stays over the target, refuse a growing share of new
     * initial requests; under it, a shrinking one. So the node settles at the target whatever
     * share the overload needs, not at the lag a fixed curve maps to that share. */
    double err = (a->lag - a->cfg.target) / a->cfg.target;
    if (err > 4)
        err = 4;
    a->level += (err > 0 ? ADM_GAIN_UP : ADM_GAIN_DOWN) * err * (dt > 0 ? dt : 0);
    a->level = a->level < 0 ? 0 : a->level > 1 ? 1 : a->level;
}

double adm_lag(const adm_t *a)
{
    return a->lag;
}

/* Where shedding of a class starts, in targets; 0: never shed. */
static double class_start(adm_class_t c)
{
    switch (c) {
    case ADM_INITIAL:
    case ADM_INITIAL_REGISTER:
        return 1;
    case ADM_KNOWN:
        return 3;
    default:
        return 0;
    }
}

int adm_class_ongoing(adm_class_t c)
{
    return class_start(c) == 0 && c != ADM_OPTIONS;
}

double adm_shed_probability(const adm_t *a, adm_class_t c)
{
    double start = class_start(c);
    if (start == 0)
        return 0;
    double t = a->cfg.target;
    double p = (a->lag - start * t) / t; /* linear over one target */
    if (start == 1 && a->level > p)
        p = a->level;
    return p <= 0 ? 0 : p >= 1 ? 1 : p;
}

static void window_count(adm_t *a, double now, int shed)
{
    if (a->win_start < 0 || now - a->win_start >= 2 * RATIO_WINDOW) {
        memset(a->win_total, 0, sizeof a->win_total);
        memset(a->win_shed, 0, sizeof a->win_shed);
        a->win_start = now;
    } else if (now - a->win_start >= RATIO_WINDOW) {
        a->win_total[1] = a->win_total[0];
        a->win_shed[1] = a->win_shed[0];
        a->win_total[0] = a->win_shed[0] = 0;
        a->win_start += RATIO_WINDOW;
    }
    a->win_total[0]++;
    a->win_shed[0] += shed != 0;
}

double adm_shed_ratio(const adm_t *a, double now)
{
    if (a->win_start < 0 || now - a->win_start >= 2 * RATIO_WINDOW)
        return 0;
    int stale = now - a->win_start >= RATIO_WINDOW; /* [1] is older than two windows */
    uint64_t total = a->win_total[0] + (stale ? 0 : a->win_total[1]);
    uint64_t shed = a->win_shed[0] + (stale ? 0 : a->win_shed[1]);
    return total ? (double)shed / (double)total : 0;
}

/* A bucket check for one table; 1 when the request may go on. */
static int bucket_ok(adm_t *a, int which, const char *key, double rate, double burst, double now)
{
    if (!key || !*key || rate <= 0)
        return 1;
    adm_entry_t *e = table_get(&a->tables[which], key, a->cfg.table_size, burst, now);
    return e ? bucket_take(e, rate, burst, now) : 1; /* out of memory: no limit */
}

adm_reason_t adm_decide(adm_t *a, double now, adm_class_t c, const char *flow, const char *impi)
{
    if (c >= ADM_NCLASSES)
        c = ADM_INITIAL;
    adm_reason_t r = ADM_ADMIT;
    int bucketed = c != ADM_ACK_CANCEL && c != ADM_IN_DIALOG;
    if (!a->cfg.enabled)
        r = ADM_ADMIT; /* measured and counted only */
    else if (bucketed && !bucket_ok(a, 0, flow, a->cfg.flow_rate, a->cfg.flow_burst, now))
        r = ADM_SHED_FLOW;
    else if (bucketed && !bucket_ok(a, 1, impi, a->cfg.impi_rate, a->cfg.impi_burst, now))
        r = ADM_SHED_IMPI;
    else if (rnd_unit(a) < adm_shed_probability(a, c))
        r = ADM_SHED_LAG;
    if (r == ADM_ADMIT)
        a->admitted[c]++;
    else
        a->shed[c][r]++;
    window_count(a, now, r != ADM_ADMIT);
    return r;
}

unsigned adm_retry_after(adm_t *a)
{
    unsigned base = a->cfg.retry_after;
    return base + (unsigned)(rnd(a) % (base + 1));
}

uint64_t adm_admitted(const adm_t *a, adm_class_t c)
{
    return c < ADM_NCLASSES ? a->admitted[c] : 0;
}

uint64_t adm_shed(const adm_t *a, adm_class_t c, adm_reason_t r)
{
    return c < ADM_NCLASSES && r > ADM_ADMIT && r < ADM_NREASONS ? a->shed[c][r] : 0;
}

size_t adm_table_count(const adm_t *a, int impi)
{
    return a->tables[impi ? 1 : 0].count;
}

/* The `top` entries with the most refusals (none refused: not listed), most first. */
static json_t *top_refused(const adm_table_t *t, size_t top)
{
    json_t *out = json_array();
    if (!top)
        return out;
    const adm_entry_t **best = calloc(top, sizeof *best);
    if (!best)
        return out;
    size_t n = 0;
    for (const adm_entry_t *e = t->head; e; e = e->next) {
        if (!e->refused || (n == top && e->refused <= best[n - 1]->refused))
            continue;
        size_t i = n < top ? n++ : top - 1;
        while (i > 0 && best[i - 1]->refused < e->refused) {
            best[i] = best[i - 1];
            i--;
        }
        best[i] = e;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out,
                              json_pack("{s:s,s:I,s:f}", "key", best[i]->key, "refused",
                                        (json_int_t)best[i]->refused, "tokens", best[i]->tokens));
    free(best);
    return out;
}

json_t *adm_json(const adm_t *a, double now, size_t top)
{
    json_t *classes = json_object(), *prob = json_object();
    for (int c = 0; c < ADM_NCLASSES; c++) {
        json_t *shed = json_object();
        for (int r = ADM_SHED_LAG; r < ADM_NREASONS; r++)
            json_object_set_new(shed, reason_names[r], json_integer((json_int_t)a->shed[c][r]));
        json_object_set_new(
            classes, class_names[c],
            json_pack("{s:I,s:o}", "admitted", (json_int_t)a->admitted[c], "shed", shed));
        json_object_set_new(prob, class_names[c], json_real(adm_shed_probability(a, c)));
    }
    const adm_config_t *c = &a->cfg;
    json_t *cfg =
        json_pack("{s:b,s:f,s:i,s:f,s:f,s:f,s:f,s:I}", "enabled", c->enabled, "target_seconds",
                  c->target, "retry_after", (int)c->retry_after, "flow_rate", c->flow_rate,
                  "flow_burst", c->flow_burst, "impi_rate", c->impi_rate, "impi_burst",
                  c->impi_burst, "table_size", (json_int_t)c->table_size);
    return json_pack("{s:o,s:f,s:f,s:o,s:o,s:{s:I,s:o},s:{s:I,s:o}}", "config", cfg, "lag_seconds",
                     a->lag, "shed_ratio", adm_shed_ratio(a, now), "shed_probability", prob,
                     "classes", classes, "flows", "tracked", (json_int_t)a->tables[0].count,
                     "top_refused", top_refused(&a->tables[0], top), "impis", "tracked",
                     (json_int_t)a->tables[1].count, "top_refused",
                     top_refused(&a->tables[1], top));
}
