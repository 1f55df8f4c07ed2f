#include "common/ops/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"

struct cap {
    char table[48], key[64];
    size_t capacity, entries, refused, episode_refused;
    int refusing;
    char retry_after[16];
    metric_t *m_entries, *m_capacity, *m_refused;
};

cap_t *cap_new(metrics_t *m, const char *table, const char *key, size_t capacity,
               unsigned retry_after_s)
{
    cap_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->table, sizeof c->table, "%s", table);
    snprintf(c->key, sizeof c->key, "%s", key ? key : "");
    snprintf(c->retry_after, sizeof c->retry_after, "%u", retry_after_s ? retry_after_s : 1);
    if (m) {
        c->m_entries = metrics_gauge(m, "cscf_table_entries",
                                     "entries held in a capped table, by table", "table");
        c->m_capacity =
            metrics_gauge(m, "cscf_table_capacity",
                          "the configured cap of a table (limits.*), by table", "table");
        c->m_refused = metrics_counter(m, "cscf_table_refused_total",
                                       "new entries refused because the table was at its cap "
                                       "(the request got 503), by table",
                                       "table");
    }
    cap_set_capacity(c, capacity);
    cap_update(c, 0);
    return c;
}

void cap_free(cap_t *c)
{
    free(c);
}

void cap_set_capacity(cap_t *c, size_t capacity)
{
    if (!c)
        return;
    c->capacity = capacity ? capacity : 1;
    if (c->m_capacity)
        metric_set(c->m_capacity, c->table, (double)c->capacity);
}

/* An episode ends once the table holds fewer than this: CAP_RESUME_PERCENT of the capacity
 * (at least 1, so a cap of 1 resumes when empty). */
static size_t resume_mark(const cap_t *c)
{
    size_t mark =
        c->capacity / 100 * CAP_RESUME_PERCENT + c->capacity % 100 * CAP_RESUME_PERCENT / 100;
    return mark ? mark : 1;
}

void cap_update(cap_t *c, size_t entries)
{
    if (!c)
        return;
    c->entries = entries;
    if (c->m_entries)
        metric_set(c->m_entries, c->table, (double)entries);
    if (c->refusing && entries < resume_mark(c)) {
        c->refusing = 0;
        log_info("limits: %s back under its cap (%zu of %zu held); %zu refused while full",
                 c->table, entries, c->capacity, c->episode_refused);
        c->episode_refused = 0;
    }
}

static int admit(cap_t *c, size_t entries, size_t limit)
{
    if (!c)
        return 1;
    cap_update(c, entries);
    if (entries < limit)
        return 1;
    c->refused++;
    c->episode_refused++;
    if (c->m_refused)
        metric_inc(c->m_refused, c->table);
    if (!c->refusing) {
        c->refusing = 1;
        log_warn("limits: %s full (%zu of %zu held): new ones get 503 with Retry-After %s "
                 "(%s)",
                 c->table, entries, c->capacity, c->retry_after, c->key);
    }
    return 0;
}

int cap_admit(cap_t *c, size_t entries)
{
    return admit(c, entries, c ? c->capacity : 0);
}

int cap_admit_reserved(cap_t *c, size_t entries)
{
    return admit(c, entries, c ? c->capacity + c->capacity * CAP_RESERVE_PERCENT / 100 + 1 : 0);
}

size_t cap_capacity(const cap_t *c)
{
    return c ? c->capacity : 0;
}

size_t cap_entries(const cap_t *c)
{
    return c ? c->entries : 0;
}

size_t cap_refused(const cap_t *c)
{
    return c ? c->refused : 0;
}

int cap_refusing(const cap_t *c)
{
    return c ? c->refusing : 0;
}

const char *cap_retry_after(const cap_t *c)
{
    return c ? c->retry_after : "5";
}

const char *cap_table(const cap_t *c)
{
    return c ? c->table : "";
}
