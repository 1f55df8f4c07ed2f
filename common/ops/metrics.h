/* Prometheus metrics: counters, gauges and histograms with label sets.
 *
 * Families are registered at start-up on one thread. Updates are lock-free atomics and may
 * come from any thread; a new label-value combination takes a short lock once, the first time
 * it is seen. Each family holds at most METRICS_MAX_SERIES series; further combinations are
 * counted under the label value "other" so hostile input cannot grow memory. */
#ifndef CSCF_METRICS_H
#define CSCF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_SERIES 256
#define METRICS_MAX_LABELS 4

typedef struct metrics metrics_t;
typedef struct metric metric_t;

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* labels: NULL for none, or comma-separated label names ("command,result"). Names are copied.
 * Returns NULL on a bad name or when a family of that name already exists with another type. */
metric_t *metrics_counter(metrics_t *m, const char *name, const char *help, const char *labels);
metric_t *metrics_gauge(metrics_t *m, const char *name, const char *help, const char *labels);
/* bounds: ascending upper bounds, without +Inf (added on output). */
metric_t *metrics_histogram(metrics_t *m, const char *name, const char *help, const char *labels,
                            const double *bounds, size_t nbounds);

/* values: one string per label name, in order (NULL when the family has no labels). */
void metric_addv(metric_t *c, const char *const *values, double n);
void metric_setv(metric_t *g, const char *const *values, double v);
void metric_observev(metric_t *h, const char *const *values, double v);

/* Shorthands for families with zero or one label. */
void metric_inc(metric_t *c, const char *value);
void metric_set(metric_t *g, const char *value, double v);
void metric_observe(metric_t *h, const char *value, double v);

/* A label with one value on every series (program="scscf"), so the programs' series stay apart
 * wherever they are scraped from. Set once, before rendering; -1 when a family already uses the
 * name. */
int metrics_set_constant_label(metrics_t *m, const char *name, const char *value);

/* Prometheus text exposition format 0.0.4, families in registration order. Caller frees. */
char *metrics_render(metrics_t *m);

#endif
