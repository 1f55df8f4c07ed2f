/* The REST routes every program serves. Handlers run on the HTTP thread; what they need from
 * the loop they get through loopq_call(), so SIP state is only ever touched by the loop. */
#include "common/program/program_internal.h"

#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/sip/dialogs.h"
#include "common/util/heap.h"
#include "common/util/log.h"
#include "common/util/own_fds.h"
#include "common/util/version.h"

#define LOOP_CALL_TIMEOUT_MS 1000

static void noop(void *arg)
{
    (void)arg;
}

static void healthz(void *ctx, const api_request_t *req, api_response_t *resp)
{
    program_t *p = ctx;
    if (loopq_call(p->queue, noop, NULL, LOOP_CALL_TIMEOUT_MS) < 0) {
        api_problem(resp, 503, "Service Unavailable", "the SIP loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

typedef struct ready_check {
    program_t *p;
    int ready;
    char reason[200];
} ready_check_t;

static void check_ready(void *arg)
{
    ready_check_t *rc = arg;
    program_t *p = rc->p;
    rc->ready = 0;
    if (p->stopping) {
        snprintf(rc->reason, sizeof rc->reason, "shutting down");
        return;
    }
    if (p->def->has_sip && !p->sip) {
        snprintf(rc->reason, sizeof rc->reason, "SIP transports are not bound");
        return;
    }
    rc->ready = p->def->ready ? p->def->ready(p, rc->reason, sizeof rc->reason) : 1;
}

static void readyz(void *ctx, const api_request_t *req, api_response_t *resp)
{
    ready_check_t rc = {.p = ctx};
    if (loopq_call(rc.p->queue, check_ready, &rc, LOOP_CALL_TIMEOUT_MS) < 0)
        snprintf(rc.reason, sizeof rc.reason, "the SIP loop did not answer within 1 s");
    if (!rc.ready) {
        api_json(resp, 503, json_pack("{s:s,s:s}", "status", "not ready", "reason", rc.reason));
        return;
    }
    api_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

static int count_one(int fd, void *n)
{
    (void)fd;
    ++*(long *)n;
    return 0;
}

static long count_fds(void)
{
    long n = 0;
    return own_fds_each(count_one, &n) < 0 ? -1 : n;
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1, rss = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

/* User + system CPU of every thread, seconds. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Scrapes run one at a time on the HTTP thread, so the counter's delta needs no lock. */
static void publish_cpu(program_t *p)
{
    double now = cpu_seconds();
    if (now > p->cpu_counted) {
        metric_addv(p->m_cpu, NULL, now - p->cpu_counted);
        p->cpu_counted = now;
    }
}

/* Where RSS goes: what the program holds against what the allocator keeps around it. */
static void publish_heap(program_t *p)
{
    heap_stats_t st;
    heap_stats(&st);
    metric_set(p->m_heap, "allocated", (double)st.allocated);
    if (!st.resident)
        return; /* glibc: only the allocated bytes */
    metric_set(p->m_heap, "active", (double)st.active);
    metric_set(p->m_heap, "metadata", (double)st.metadata);
    metric_set(p->m_heap, "resident", (double)st.resident);
}

static void publish_loop_stats(void *arg)
{
    program_t *p = arg;
    if (p->sip)
        sip_core_publish_stats(p->sip);
    if (p->def->publish)
        p->def->publish(p);
}

static void metrics_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    program_t *p = ctx;
    /* A stuck loop must not block scraping: then the figures are just older. */
    loopq_call(p->queue, publish_loop_stats, p, LOOP_CALL_TIMEOUT_MS);
    metric_set(p->m_queue_depth, NULL, (double)loopq_depth(p->queue));
    metric_set(p->m_rss, NULL, (double)rss_bytes());
    publish_heap(p);
    metric_set(p->m_fds, NULL, (double)count_fds());
    publish_cpu(p);
    char *text = metrics_render(p->metrics);
    if (!text) {
        api_problem(resp, 500, "Internal Server Error", "cannot render metrics");
        return;
    }
    api_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

static json_t *string_list(const cfg_t *cfg, const char *path)
{
    const char *const *items;
    size_t n = cfg_list(cfg, path, &items);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

typedef struct status_call {
    program_t *p;
    json_t *o;
} status_call_t;

static void status_on_loop(void *arg)
{
    status_call_t *c = arg;
    c->p->def->status(c->p, c->o);
}

static void status_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    program_t *p = ctx;
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:s}", "program", p->def->name, "version", cscf_version,
                          "start_time", (json_int_t)p->start_time, "uptime_seconds",
                          (json_int_t)(time(NULL) - p->start_time), "api_listen",
                          cfg_str(p->cfg, "api.listen"));
    if (p->def->has_sip) {
        const char *adv = cfg_str(p->cfg, "sip.advertise");
        json_object_set_new(o, "sip",
                            json_pack("{s:o,s:o,s:s?,s:s}", "listen",
                                      string_list(p->cfg, "sip.listen"), "transports",
                                      string_list(p->cfg, "sip.transports"), "advertise", adv,
                                      "domain", cfg_str(p->cfg, "sip.domain")));
    }
    status_call_t call = {p, o};
    if (p->def->status && p->app)
        loopq_call(p->queue, status_on_loop, &call, LOOP_CALL_TIMEOUT_MS); /* else without */
    api_json(resp, 200, o);
}

static void log_get(void *ctx, const api_request_t *req, api_response_t *resp)
{
    api_json(resp, 200, json_pack("{s:s}", "level", log_level_name(log_get_level())));
}

static void log_put(void *ctx, const api_request_t *req, api_response_t *resp)
{
    json_error_t jerr;
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    const char *level = body ? json_string_value(json_object_get(body, "level")) : NULL;
    log_level_t lv;
    if (!level || log_level_parse(level, &lv) < 0) {
        json_decref(body);
        api_problem(resp, 400, "Bad Request", "expected {\"level\": \"error|warning|info|debug\"}");
        return;
    }
    log_set_level(lv);
    log_info("log level set to %s over REST", log_level_name(lv));
    json_decref(body);
    api_json(resp, 200, json_pack("{s:s}", "level", log_level_name(lv)));
}

typedef struct dialogs_op {
    program_t *p;
    size_t limit;
    json_t *out;
} dialogs_op_t;

static void dialogs_on_loop(void *arg)
{
    dialogs_op_t *o = arg;
    if (o->p->sip)
        o->out = dialogs_json(sip_core_dialogs(o->p->sip), o->limit, time(NULL));
}

/* GET /api/v1/dialogs[?limit=N]: how many INVITE dialogs are up, and a summary of them. */
static void dialogs_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    dialogs_op_t o = {.p = ctx};
    if (api_query_size(req, "limit", 100, 10000, &o.limit, resp) < 0)
        return;
    if (loopq_call(o.p->queue, dialogs_on_loop, &o, LOOP_CALL_TIMEOUT_MS) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the SIP loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

int program_rest_routes(program_t *p)
{
    int rc = 0;
    rc |= api_route(p->api, "GET", "/healthz", API_PUBLIC, healthz, p);
    rc |= api_route(p->api, "GET", "/readyz", API_PUBLIC, readyz, p);
    rc |= api_route(p->api, "GET", "/metrics", API_PUBLIC, metrics_route, p);
    rc |= api_route(p->api, "GET", "/api/v1/status", 0, status_route, p);
    rc |= api_route(p->api, "GET", "/api/v1/log", 0, log_get, p);
    rc |= api_route(p->api, "PUT", "/api/v1/log", API_MUTATING, log_put, p);
    if (p->def->has_sip)
        rc |= api_route(p->api, "GET", "/api/v1/dialogs", 0, dialogs_route, p);
    if (p->def->has_sip)
        rc |= trace_rest_routes(p);
    if (p->def->has_sip)
        rc |= admission_rest_routes(p);
    rc |= program_reload_routes(p);

    metric_t *build = metrics_gauge(p->metrics, "cscf_build_info",
                                    "build information; the value is always 1", "version");
    metric_set(build, cscf_version, 1);
    metric_set(metrics_gauge(p->metrics, "process_start_time_seconds",
                             "start time of the process since the Unix epoch, seconds", NULL),
               NULL, (double)p->start_time);
    p->m_rss = metrics_gauge(p->metrics, "process_resident_memory_bytes",
                             "resident memory size, bytes", NULL);
    p->m_fds = metrics_gauge(p->metrics, "process_open_fds", "open file descriptors", NULL);
    p->m_heap = metrics_gauge(
        p->metrics, "cscf_heap_bytes",
        "the allocator's counts, by kind: allocated (live objects), and with jemalloc (the "
        "plain build) active (pages holding them), metadata (its bookkeeping, which follows the "
        "highest heap the process had and is kept), resident (its pages in RAM)",
        "kind");
    p->m_cpu = metrics_counter(p->metrics, "process_cpu_seconds_total",
                               "user and system CPU time of the process, seconds", NULL);
    p->m_queue_depth = metrics_gauge(p->metrics, "cscf_loop_queue_depth",
                                     "work items waiting for the SIP loop thread", NULL);
    return rc ? -1 : 0;
}
