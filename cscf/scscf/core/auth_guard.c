#include "cscf/scscf/core/auth_guard.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/strmap.h"

typedef struct guard_entry {
    struct guard_entry *older, *newer; /* touch order: the table forgets the oldest first */
    char *impi;                        /* the map's key is its own copy */
    long failures;                     /* failed authentications in a row */
    int64_t blocked_until;             /* back-off end (ms) */
    int64_t tat;   /* per-IMPI challenges: theoretical arrival time (GCRA, ms) */
    int in_flight; /* MARs on their way */
} guard_entry_t;

struct auth_guard {
    strmap_t *by_impi;
    guard_entry_t *oldest, *newest;
    size_t max;
    int64_t budget_tat_us; /* all IMPIs' MARs: theoretical arrival time (GCRA, us) */
    size_t in_flight; /* all IMPIs' MARs admitted and not yet done (a forgotten record's too) */
};

static const char *const verdict_names[AUTH_GUARD_VERDICTS] = {
    "ok", "backoff", "mar_in_flight", "impi_rate", "mar_budget", "hss_busy"};

const char *auth_guard_verdict_name(auth_guard_verdict_t v)
{
    return v < AUTH_GUARD_VERDICTS ? verdict_names[v] : "?";
}

auth_guard_t *auth_guard_new(size_t max_entries)
{
    auth_guard_t *g = calloc(1, sizeof *g);
    if (!g || !(g->by_impi = strmap_new())) {
        free(g);
        return NULL;
    }
    g->max = max_entries ? max_entries : 1;
    return g;
}

static void free_entry(void *v)
{
    guard_entry_t *e = v;
    free(e->impi);
    free(e);
}

void auth_guard_free(auth_guard_t *g)
{
    if (!g)
        return;
    strmap_free(g->by_impi, free_entry);
    free(g);
}

size_t auth_guard_size(const auth_guard_t *g)
{
    return strmap_size(g->by_impi);
}

/* ---- touch order ---- */

static void unlink_entry(auth_guard_t *g, guard_entry_t *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        g->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        g->newest = e->older;
    e->older = e->newer = NULL;
}

static void append(auth_guard_t *g, guard_entry_t *e)
{
    e->older = g->newest;
    e->newer = NULL;
    if (g->newest)
        g->newest->newer = e;
    else
        g->oldest = e;
    g->newest = e;
}

static guard_entry_t *touch(auth_guard_t *g, const char *impi)
{
    guard_entry_t *e = strmap_get(g->by_impi, impi);
    if (e) {
        unlink_entry(g, e);
        append(g, e);
    }
    return e;
}

static void drop(auth_guard_t *g, guard_entry_t *e)
{
    unlink_entry(g, e);
    strmap_take(g->by_impi, e->impi);
    free_entry(e);
}

/* impi's record, made when missing; at the size limit the oldest goes first (a flood of
 * invented IMPIs costs a bounded table, never more memory). NULL when out of memory. */
static guard_entry_t *get_or_add(auth_guard_t *g, const char *impi)
{
    guard_entry_t *e = touch(g, impi);
    if (e)
        return e;
    while (g->oldest && strmap_size(g->by_impi) >= g->max)
        drop(g, g->oldest);
    e = calloc(1, sizeof *e);
    if (!e || !(e->impi = strdup(impi)) || strmap_put(g->by_impi, impi, e, NULL) < 0) {
        if (e)
            free(e->impi);
        free(e);
        return NULL;
    }
    append(g, e);
    return e;
}

/* ---- the rules ---- */

long auth_guard_backoff_ms(const auth_guard_policy_t *p, long failures)
{
    long over = failures - p->free_failures;
    if (over <= 0 || p->backoff_base_ms <= 0)
        return 0;
    long ms = p->backoff_base_ms;
    for (long i = 1; i < over && ms < p->backoff_max_ms; i++)
        ms *= 2; /* stops at the cap: no overflow however many failures */
    return ms < p->backoff_max_ms ? ms : p->backoff_max_ms;
}

/* Whole seconds until `wait_ms` has passed, at least 1 (Retry-After). */
static long seconds(int64_t wait_ms)
{
    long s = (long)((wait_ms + 999) / 1000);
    return s < 1 ? 1 : s;
}

/* GCRA: a burst of `burst`, then one per `interval`. Returns the wait (> 0) or 0 with the
 * arrival counted. */
static int64_t gcra(int64_t *tat, int64_t now, int64_t interval, long burst)
{
    int64_t allowed_from = *tat - (int64_t)(burst - 1) * interval;
    if (now < allowed_from)
        return allowed_from - now;
    *tat = (*tat > now ? *tat : now) + interval;
    return 0;
}

static auth_guard_verdict_t impi_rules(const auth_guard_policy_t *p, guard_entry_t *e,
                                       int64_t now_ms, long *retry_after_s)
{
    if (e->blocked_until > now_ms) {
        *retry_after_s = seconds(e->blocked_until - now_ms);
        return AUTH_GUARD_BACKOFF;
    }
    if (e->in_flight) {
        *retry_after_s = 1;
        return AUTH_GUARD_IN_FLIGHT;
    }
    if (p->impi_interval_ms > 0) {
        int64_t tat = e->tat; /* counted below, once the budget has said yes too */
        int64_t wait = gcra(&tat, now_ms, p->impi_interval_ms, p->impi_burst);
        if (wait) {
            *retry_after_s = seconds(wait);
            return AUTH_GUARD_IMPI_RATE;
        }
    }
    return AUTH_GUARD_OK;
}

auth_guard_verdict_t auth_guard_admit(auth_guard_t *g, const auth_guard_policy_t *p,
                                      const char *impi, int fresh, int64_t now_ms,
                                      long *retry_after_s)
{
    *retry_after_s = 0;
    guard_entry_t *e = touch(g, impi); /* one that keeps asking stays remembered */
    if (fresh && e) {
        auth_guard_verdict_t v = impi_rules(p, e, now_ms, retry_after_s);
        if (v != AUTH_GUARD_OK)
            return v;
    }
    if (fresh && p->max_in_flight > 0 && g->in_flight >= (size_t)p->max_in_flight) {
        *retry_after_s = 1;
        return AUTH_GUARD_HSS_BUSY; /* before the budget: a refusal here spends no token */
    }
    if (fresh && p->mar_rate > 0) {
        int64_t interval_us = 1000000 / p->mar_rate;
        int64_t wait =
            gcra(&g->budget_tat_us, now_ms * 1000, interval_us ? interval_us : 1, p->mar_rate);
        if (wait) {
            *retry_after_s = seconds(wait / 1000);
            return AUTH_GUARD_BUDGET;
        }
    }
    g->in_flight++;
    if (!(e = get_or_add(g, impi)))
        return AUTH_GUARD_OK; /* out of memory: the HSS's MAR is still better than a refusal */
    if (fresh && p->impi_interval_ms > 0)
        gcra(&e->tat, now_ms, p->impi_interval_ms, p->impi_burst);
    e->in_flight++;
    return AUTH_GUARD_OK;
}

size_t auth_guard_in_flight(const auth_guard_t *g)
{
    return g->in_flight;
}

void auth_guard_mar_done(auth_guard_t *g, const char *impi)
{
    if (g->in_flight > 0)
        g->in_flight--;
    guard_entry_t *e = strmap_get(g->by_impi, impi);
    if (e && e->in_flight > 0) /* forgotten meanwhile (table full): nothing to release */
        e->in_flight--;
}

void auth_guard_answered(auth_guard_t *g, const auth_guard_policy_t *p, const char *impi)
{
    guard_entry_t *e = strmap_get(g->by_impi, impi);
    if (e && p->impi_interval_ms > 0)
        e->tat -= p->impi_interval_ms; /* below now it gives nothing more than a full burst */
}

long auth_guard_failed(auth_guard_t *g, const auth_guard_policy_t *p, const char *impi,
                       int64_t now_ms)
{
    guard_entry_t *e = get_or_add(g, impi);
    if (!e)
        return 0;
    e->failures++;
    long ms = auth_guard_backoff_ms(p, e->failures);
    e->blocked_until = now_ms + ms;
    return ms;
}

void auth_guard_succeeded(auth_guard_t *g, const char *impi)
{
    guard_entry_t *e = strmap_get(g->by_impi, impi);
    if (!e)
        return;
    if (e->in_flight) { /* a MAR still on its way keeps the record, cleared */
        e->failures = 0;
        e->blocked_until = 0;
        e->tat = 0;
        return;
    }
    drop(g, e);
}

/* Nothing left to say: forgetting it changes no answer but the failure count, which a quiet
 * period as long as the longest back-off resets on purpose. */
static int idle(const auth_guard_policy_t *p, const guard_entry_t *e, int64_t now_ms)
{
    return !e->in_flight && now_ms >= e->blocked_until + p->backoff_max_ms && e->tat <= now_ms;
}

size_t auth_guard_expire(auth_guard_t *g, const auth_guard_policy_t *p, int64_t now_ms)
{
    size_t n = 0;
    for (guard_entry_t *e = g->oldest, *next; e; e = next) {
        next = e->newer;
        if (idle(p, e, now_ms)) {
            drop(g, e);
            n++;
        }
    }
    return n;
}
