/* Prometheus metrics. Each family keeps a fixed array of series pointers and an atomic count:
 * a writer fills the slot first and then publishes it with a release store of the count, so
 * readers that load the count with acquire (updaters looking for their series, the renderer)
 * never see a half-built series and never need the lock. Values are atomics; doubles are kept
 * as their bit patterns in uint64_t because C11 has no portable atomic double add. */
#include "common/ops/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OVERFLOW_VALUE "other"
/* One slot beyond the limit holds the "other" series, so the limit counts real combinations. */
#define SERIES_SLOTS (METRICS_MAX_SERIES + 1)

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

typedef struct series {
    uint64_t hash;
    char *values[METRICS_MAX_LABELS];
    _Atomic uint64_t value;    /* counter/gauge value, or histogram sum (double bits) */
    _Atomic uint64_t *buckets; /* histogram: nbounds + 1 non-cumulative counts, last is +Inf */
} series_t;

struct metric {
    struct metric *next;
    kind_t kind;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    pthread_mutex_t lock; /* taken only to add a series */
    _Atomic size_t nseries;
    series_t *series[SERIES_SLOTS];
};

struct metrics {
    pthread_mutex_t lock; /* registration against render; never taken by updates */
    metric_t *head;
    metric_t *tail;
    char *constant;      /* name="value" put first on every series, or NULL */
    char *constant_name; /* its name, which no family may use then */
};

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double double_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void atomic_add_double(_Atomic uint64_t *slot, double n)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(slot, &old, bits_of(double_of(old) + n),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- names ---------------------------------------------------------------------------- */

static int valid_name(const char *s, int colon_ok)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        int digit = c >= '0' && c <= '9';
        int colon = colon_ok && c == ':';
        if (!(alpha || colon || (digit && p != s)))
            return 0;
    }
    return 1;
}

static void free_labels(metric_t *f)
{
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    f->nlabels = 0;
}

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    char *end = s + strlen(s);
    while (end > s && end[-1] == ' ')
        *--end = '\0';
    return s;
}

static int add_label(metric_t *f, const char *name)
{
    /* "__" names are reserved by Prometheus; "le" would clash with the histogram bucket label. */
    if (!valid_name(name, 0) || strncmp(name, "__", 2) == 0)
        return -1;
    if (f->kind == KIND_HISTOGRAM && strcmp(name, "le") == 0)
        return -1;
    if (f->nlabels == METRICS_MAX_LABELS)
        return -1;
    for (size_t i = 0; i < f->nlabels; i++)
        if (strcmp(f->labels[i], name) == 0)
            return -1;
    f->labels[f->nlabels] = strdup(name);
    return f->labels[f->nlabels++] ? 0 : -1;
}

/* "a,b" (spaces around names tolerated) into f->labels; NULL or "" means no labels. */
static int parse_labels(metric_t *f, const char *spec)
{
    if (!spec || !*spec)
        return 0;
    char *copy = strdup(spec);
    if (!copy)
        return -1;
    int rc = 0;
    char *p = copy;
    for (char *comma; rc == 0; p = comma + 1) {
        comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        rc = add_label(f, trim(p));
        if (!comma)
            break;
    }
    free(copy);
    return rc;
}

static int valid_bounds(const double *bounds, size_t n)
{
    if (n && !bounds)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i]))
            return 0;
        if (i && !(bounds[i] > bounds[i - 1]))
            return 0;
    }
    return 1;
}

/* ---- series --------------------------------------------------------------------------- */

static const char *value_at(const char *const *values, size_t i)
{
    return values && values[i] ? values[i] : "";
}

static uint64_t hash_values(const metric_t *f, const char *const *values)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < f->nlabels; i++) {
        for (const char *p = value_at(values, i); *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* separator: ("ab","") differs from ("a","b") */
    }
    return h;
}

static int series_matches(const metric_t *f, const series_t *s, uint64_t h,
                          const char *const *values)
{
    if (s->hash != h)
        return 0;
    for (size_t i = 0; i < f->nlabels; i++)
        if (strcmp(s->values[i], value_at(values, i)) != 0)
            return 0;
    return 1;
}

static series_t *find_series(metric_t *f, size_t from, size_t to, uint64_t h,
                             const char *const *values)
{
    for (size_t i = from; i < to; i++)
        if (series_matches(f, f->series[i], h, values))
            return f->series[i];
    return NULL;
}

static void series_free(series_t *s, size_t nlabels)
{
    if (!s)
        return;
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static series_t *series_new(const metric_t *f, uint64_t h, const char *const *values)
{
    series_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hash = h;
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = strdup(value_at(values, i));
        if (!s->values[i])
            goto fail;
    }
    if (f->kind == KIND_HISTOGRAM) {
        s->buckets = calloc(f->nbounds + 1, sizeof *s->buckets);
        if (!s->buckets)
            goto fail;
    }
    return s;
fail:
    series_free(s, f->nlabels);
    return NULL;
}

/* Under f->lock. Past the limit every new combination shares one all-"other" series, which may
 * already exist among the real ones if a caller used that value itself. */
static series_t *add_series(metric_t *f, size_t n, uint64_t h, const char *const *values)
{
    const char *other[METRICS_MAX_LABELS] = {OVERFLOW_VALUE, OVERFLOW_VALUE, OVERFLOW_VALUE,
                                             OVERFLOW_VALUE};
    if (n >= METRICS_MAX_SERIES) {
        values = other;
        h = hash_values(f, values);
        series_t *s = find_series(f, 0, n, h, values);
        if (s || n >= SERIES_SLOTS)
            return s;
    }
    series_t *s = series_new(f, h, values);
    if (!s)
        return NULL;
    f->series[n] = s;
    atomic_store_explicit(&f->nseries, n + 1, memory_order_release);
    return s;
}

static series_t *get_series(metric_t *f, const char *const *values)
{
    uint64_t h = hash_values(f, values);
    size_t n = atomic_load_explicit(&f->nseries, memory_order_acquire);
    series_t *s = find_series(f, 0, n, h, values);
    if (s)
        return s;
    pthread_mutex_lock(&f->lock);
    /* Another thread may have added it between our scan and the lock. */
    size_t now = atomic_load_explicit(&f->nseries, memory_order_relaxed);
    s = find_series(f, n, now, h, values);
    if (!s)
        s = add_series(f, now, h, values);
    pthread_mutex_unlock(&f->lock);
    return s;
}

/* ---- registration --------------------------------------------------------------------- */

metrics_t *metrics_new(void)
{
    metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void family_free(metric_t *f)
{
    size_t n = atomic_load_explicit(&f->nseries, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        series_free(f->series[i], f->nlabels);
    free_labels(f);
    pthread_mutex_destroy(&f->lock);
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    for (metric_t *f = m->head, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m->constant);
    free(m->constant_name);
    free(m);
}

static metric_t *find_family(metrics_t *m, const char *name)
{
    for (metric_t *f = m->head; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static int same_shape(const metric_t *a, const metric_t *b)
{
    if (a->kind != b->kind || a->nlabels != b->nlabels || a->nbounds != b->nbounds)
        return 0;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return 0;
    for (size_t i = 0; i < a->nbounds; i++)
        if (a->bounds[i] != b->bounds[i])
            return 0;
    return 1;
}

static metric_t *family_new(kind_t kind, const char *name, const char *help, const char *labels,
                            const double *bounds, size_t nbounds)
{
    metric_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    f->kind = kind;
    f->name = strdup(name);
    f->help = help ? strdup(help) : NULL;
    if (!f->name || (help && !f->help) || parse_labels(f, labels) < 0)
        goto fail;
    if (nbounds) {
        f->bounds = malloc(nbounds * sizeof *f->bounds);
        if (!f->bounds)
            goto fail;
        memcpy(f->bounds, bounds, nbounds * sizeof *f->bounds);
        f->nbounds = nbounds;
    }
    /* A family without labels has exactly one series; create it so it renders as 0 at once. */
    if (f->nlabels == 0 && !get_series(f, NULL))
        goto fail;
    return f;
fail:
    family_free(f);
    return NULL;
}

/* Registering the same family twice (same type, labels and bounds) returns the first one, so
 * independent modules may share a family. */
static metric_t *family_register(metrics_t *m, kind_t kind, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nbounds)
{
    if (!m || !valid_name(name, 1))
        return NULL;
    if (kind == KIND_HISTOGRAM && !valid_bounds(bounds, nbounds))
        return NULL;
    metric_t *f = family_new(kind, name, help, labels, bounds, nbounds);
    if (!f)
        return NULL;
    pthread_mutex_lock(&m->lock);
    metric_t *old = find_family(m, name);
    for (size_t i = 0; m->constant_name && i < f->nlabels; i++) {
        if (strcmp(f->labels[i], m->constant_name) == 0) {
            pthread_mutex_unlock(&m->lock);
            family_free(f);
            return NULL;
        }
    }
    if (!old) {
        if (m->tail)
            m->tail->next = f;
        else
            m->head = f;
        m->tail = f;
    }
    pthread_mutex_unlock(&m->lock);
    if (!old)
        return f;
    metric_t *ret = same_shape(old, f) ? old : NULL;
    family_free(f);
    return ret;
}

metric_t *metrics_counter(metrics_t *m, const char *name, const char *help, const char *labels)
{
    return family_register(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

metric_t *metrics_gauge(metrics_t *m, const char *name, const char *help, const char *labels)
{
    return family_register(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

metric_t *metrics_histogram(metrics_t *m, const char *name, const char *help, const char *labels,
                            const double *bounds, size_t nbounds)
{
    return family_register(m, KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* ---- updates -------------------------------------------------------------------------- */

/* Counters only go up (NaN is refused too); gauges may move either way. */
void metric_addv(metric_t *c, const char *const *values, double n)
{
    if (!c || c->kind == KIND_HISTOGRAM)
        return;
    if (c->kind == KIND_COUNTER && !(n >= 0))
        return;
    series_t *s = get_series(c, values);
    if (s)
        atomic_add_double(&s->value, n);
}

void metric_setv(metric_t *g, const char *const *values, double v)
{
    if (!g || g->kind != KIND_GAUGE)
        return;
    series_t *s = get_series(g, values);
    if (s)
        atomic_store_explicit(&s->value, bits_of(v), memory_order_relaxed);
}

void metric_observev(metric_t *h, const char *const *values, double v)
{
    if (!h || h->kind != KIND_HISTOGRAM)
        return;
    series_t *s = get_series(h, values);
    if (!s)
        return;
    size_t i = 0;
    while (i < h->nbounds && !(v <= h->bounds[i]))
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
}

/* The shorthands pad the remaining labels with "" so a family with more labels than the caller
 * thought it had is still read within bounds. */
void metric_inc(metric_t *c, const char *value)
{
    const char *values[METRICS_MAX_LABELS] = {value};
    metric_addv(c, values, 1);
}

void metric_set(metric_t *g, const char *value, double v)
{
    const char *values[METRICS_MAX_LABELS] = {value};
    metric_setv(g, values, v);
}

void metric_observe(metric_t *h, const char *value, double v)
{
    const char *values[METRICS_MAX_LABELS] = {value};
    metric_observev(h, values, v);
}

/* ---- rendering ------------------------------------------------------------------------ */

/* Integers print as integers; anything else with the fewest digits that read back exactly. */
static void format_number(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, size, "0"); /* also -0 */
        return;
    }
    /* Range check first so the cast is defined; no libm needed. */
    if (v > -1e17 && v < 1e17 && v == (double)(long long)v) {
        snprintf(buf, size, "%lld", (long long)v);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void put_number(FILE *out, double v)
{
    char buf[40];
    format_number(buf, sizeof buf, v);
    fputs(buf, out);
}

/* HELP escapes backslash and newline; label values also escape the double quote. */
static void put_escaped(FILE *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* {c="k",a="x",b="y",le="0.5"}: the constant label, the family's, le (may be NULL). Nothing
 * at all when there are none. */
static void put_labels(FILE *out, const char *constant, const metric_t *f, const series_t *s,
                       const char *le)
{
    if (f->nlabels == 0 && !le && !constant)
        return;
    fputc('{', out);
    int n = 0;
    if (constant)
        n += fputs(constant, out) >= 0;
    for (size_t i = 0; i < f->nlabels; i++, n++) {
        fprintf(out, "%s%s=\"", n ? "," : "", f->labels[i]);
        put_escaped(out, s->values[i], 1);
        fputc('"', out);
    }
    if (le)
        fprintf(out, "%sle=\"%s\"", n ? "," : "", le);
    fputc('}', out);
}

/* _count is the +Inf bucket rather than a separate atomic, so the two always agree even while
 * observations race with the render. */
static void render_histogram(FILE *out, const char *c, const metric_t *f, const series_t *s)
{
    uint64_t cumulative = 0;
    char le[40];
    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        if (i < f->nbounds)
            format_number(le, sizeof le, f->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        fprintf(out, "%s_bucket", f->name);
        put_labels(out, c, f, s, le);
        fprintf(out, " %llu\n", (unsigned long long)cumulative);
    }
    fprintf(out, "%s_sum", f->name);
    put_labels(out, c, f, s, NULL);
    fputc(' ', out);
    put_number(out, double_of(atomic_load_explicit(&s->value, memory_order_relaxed)));
    fprintf(out, "\n%s_count", f->name);
    put_labels(out, c, f, s, NULL);
    fprintf(out, " %llu\n", (unsigned long long)cumulative);
}

static void render_family(FILE *out, const char *c, const metric_t *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    if (f->help) {
        fprintf(out, "# HELP %s ", f->name);
        put_escaped(out, f->help, 0);
        fputc('\n', out);
    }
    fprintf(out, "# TYPE %s %s\n", f->name, types[f->kind]);
    size_t n = atomic_load_explicit(&f->nseries, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        const series_t *s = f->series[i];
        if (f->kind == KIND_HISTOGRAM) {
            render_histogram(out, c, f, s);
            continue;
        }
        fputs(f->name, out);
        put_labels(out, c, f, s, NULL);
        fputc(' ', out);
        put_number(out, double_of(atomic_load_explicit(&s->value, memory_order_relaxed)));
        fputc('\n', out);
    }
}

int metrics_set_constant_label(metrics_t *m, const char *name, const char *value)
{
    if (!valid_name(name, 0) || strcmp(name, "le") == 0)
        return -1;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return -1;
    fprintf(out, "%s=\"", name);
    put_escaped(out, value, 1);
    fputc('"', out);
    if (fclose(out) != 0) {
        free(text);
        return -1;
    }
    pthread_mutex_lock(&m->lock);
    int clash = 0;
    for (const metric_t *f = m->head; f; f = f->next)
        for (size_t i = 0; i < f->nlabels; i++)
            clash |= strcmp(f->labels[i], name) == 0;
    char *copy = clash ? NULL : strdup(name);
    if (copy) {
        free(m->constant);
        free(m->constant_name);
        m->constant = text;
        m->constant_name = copy;
        text = NULL;
    }
    pthread_mutex_unlock(&m->lock);
    free(text);
    return copy ? 0 : -1;
}

char *metrics_render(metrics_t *m)
{
    if (!m)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    pthread_mutex_lock(&m->lock);
    for (const metric_t *f = m->head; f; f = f->next)
        render_family(out, m->constant, f);
    pthread_mutex_unlock(&m->lock);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(text);
        return NULL;
    }
    return text;
}
