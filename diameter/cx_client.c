#include "diameter/cx_client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include "common/util/clock.h"
#include "common/util/log.h"

/* Only the loop thread touches the list and the callbacks. A freeDiameter thread reads the
 * immutable head of an inflight (client, id, command) and posts a delivery. */
typedef struct inflight {
    struct inflight *next;
    cx_client_t *client;
    uint64_t id;
    cx_cmd_t cmd;
    double sent;     /* monotonic seconds */
    double deadline; /* the loop gives up here if freeDiameter has not answered */
    cx_answer_f cb;  /* NULL once cancelled or delivered */
    void *arg;
    int fd_done;   /* freeDiameter called back: nothing refers to this entry any more */
    log_ctx_t log; /* of the work that sent it: the answer's handling goes on with it */
} inflight_t;

typedef struct delivery {
    inflight_t *req;
    cx_status_t status;
    cx_msg_t answer;
} delivery_t;

struct cx_client {
    const cx_dict_t *cx;
    loopq_t *queue;
    su_timer_t *timer;
    char *dest_realm;
    int timeout_ms;
    uint64_t next_id;
    inflight_t *list;
    size_t pending;
    metric_t *m_requests, *m_latency;
    cx_client_fake_f fake; /* unit tests only (cx_client_fake) */
    void *fake_arg;
};

void cx_metrics_register(metrics_t *m, metric_t **requests, metric_t **latency)
{
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5,   5};
    *requests = metrics_counter(m, "cscf_diameter_requests_total",
                                "Cx requests sent (scscf) or answered (hss), by command and result "
                                "(Result-Code, Experimental-Result-Code, timeout, send_failed)",
                                "command,result");
    *latency = metrics_histogram(m, "cscf_diameter_request_duration_seconds",
                                 "Cx request round trip (sender) or handling time (receiver)",
                                 "command", bounds, sizeof bounds / sizeof bounds[0]);
}

static void count(cx_client_t *c, inflight_t *r, const char *result)
{
    const char *labels[] = {cx_cmd_abbrev(r->cmd), result};
    metric_addv(c->m_requests, labels, 1);
    metric_observe(c->m_latency, cx_cmd_abbrev(r->cmd), clock_mono_s() - r->sent);
}

static void unlink_and_free(cx_client_t *c, inflight_t *r)
{
    for (inflight_t **pp = &c->list; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    free(r);
}

/* On the loop: the answer (or freeDiameter's expiry) arrived. */
static void deliver(void *arg)
{
    delivery_t *d = arg;
    inflight_t *r = d->req;
    cx_client_t *c = r->client;
    r->fd_done = 1;
    if (r->cb) {
        char result[16];
        uint32_t code =
            d->answer.experimental_result ? d->answer.experimental_result : d->answer.result_code;
        snprintf(result, sizeof result, "%u", code);
        count(c, r, d->status == CX_TIMEOUT ? "timeout" : result);
        cx_answer_f cb = r->cb;
        r->cb = NULL;
        c->pending--;
        log_ctx_restore(&r->log);
        cb(r->arg, d->status, d->status == CX_ANSWERED ? &d->answer : NULL);
        log_ctx_clear();
    }
    unlink_and_free(c, r);
    cx_msg_clear(&d->answer);
    free(d);
}

static void post(inflight_t *r, cx_status_t status, struct msg *answer)
{
    delivery_t *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->req = r;
    d->status = status;
    cx_msg_init(&d->answer, CX_CMD_COUNT);
    if (answer && cx_decode(r->client->cx, answer, &d->answer) != 0) {
        log_warn("diameter: %s answer could not be decoded", cx_cmd_abbrev(r->cmd));
        d->status = CX_FAILED;
    }
    if (loopq_post(r->client->queue, deliver, d) < 0) {
        cx_msg_clear(&d->answer);
        free(d); /* the loop is shutting down; cx_client_free() frees r */
    }
}

/* freeDiameter thread */
static void on_answer(void *data, struct msg **answer)
{
    post(data, CX_ANSWERED, *answer);
    fd_msg_free(*answer);
    *answer = NULL;
}

/* freeDiameter thread */
static void on_expire(void *data, DiamId_t sentto, size_t len, struct msg **request)
{
    post(data, CX_TIMEOUT, NULL);
}

/* The loop's own deadline, for requests freeDiameter holds without a peer to time them. */
static void sweep(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    cx_client_t *c = (cx_client_t *)arg;
    double now = clock_mono_s();
    for (inflight_t *r = c->list; r; r = r->next) {
        if (r->cb && now >= r->deadline) {
            cx_answer_f cb = r->cb;
            r->cb = NULL;
            c->pending--;
            count(c, r, "timeout");
            log_ctx_restore(&r->log);
            log_warn("diameter: %s %llu not answered within %d ms", cx_cmd_abbrev(r->cmd),
                     (unsigned long long)r->id, c->timeout_ms);
            cb(r->arg, CX_TIMEOUT, NULL);
            log_ctx_clear();
        }
    }
}

cx_client_t *cx_client_new(const cx_dict_t *cx, su_root_t *root, loopq_t *q, metrics_t *m,
                           const char *dest_realm, int timeout_ms)
{
    cx_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cx = cx;
    c->queue = q;
    c->timeout_ms = timeout_ms;
    c->dest_realm = strdup(dest_realm ? dest_realm : "");
    cx_metrics_register(m, &c->m_requests, &c->m_latency);
    c->timer = su_timer_create(su_root_task(root), 100);
    if (!c->dest_realm || !c->timer || su_timer_run(c->timer, sweep, (su_timer_arg_t *)c) < 0) {
        cx_client_free(c);
        return NULL;
    }
    return c;
}

void cx_client_free(cx_client_t *c)
{
    if (!c)
        return;
    if (c->timer)
        su_timer_destroy(c->timer);
    while (c->list) {
        inflight_t *r = c->list;
        c->list = r->next;
        free(r);
    }
    free(c->dest_realm);
    free(c);
}

static struct timespec abs_deadline(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void cx_client_fake(cx_client_t *c, cx_client_fake_f fn, void *arg)
{
    c->fake = fn;
    c->fake_arg = arg;
}

/* The fake's answer goes through the loop queue like freeDiameter's, so callers see the same
 * order of events (the send returns before the callback runs). */
static uint64_t send_fake(cx_client_t *c, const cx_msg_t *req, cx_answer_f cb, void *arg)
{
    inflight_t *r = calloc(1, sizeof *r);
    delivery_t *d = calloc(1, sizeof *d);
    if (!r || !d) {
        free(r);
        free(d);
        return 0;
    }
    *r = (inflight_t){.client = c, .id = ++c->next_id, .cmd = req->cmd, .sent = clock_mono_s()};
    r->cb = cb;
    r->arg = arg;
    r->deadline = r->sent + c->timeout_ms / 1000.0 + 0.5;
    log_ctx_save(&r->log);
    d->req = r;
    cx_msg_init(&d->answer, CX_CMD_COUNT);
    d->status = c->fake(c->fake_arg, req, &d->answer);
    if (loopq_post(c->queue, deliver, d) < 0) {
        cx_msg_clear(&d->answer);
        free(d);
        free(r);
        return 0;
    }
    r->next = c->list;
    c->list = r;
    c->pending++;
    return r->id;
}

uint64_t cx_client_send(cx_client_t *c, const cx_msg_t *req, cx_answer_f cb, void *arg)
{
    if (c->fake)
        return send_fake(c, req, cb, arg);
    cx_msg_t tmp = *req; /* shallow: only to default the realm */
    if (!tmp.destination_realm)
        tmp.destination_realm = c->dest_realm;
    struct msg *msg = NULL;
    inflight_t *r = calloc(1, sizeof *r);
    if (!r || cx_encode_request(c->cx, &tmp, &msg) != 0) {
        log_error("diameter: cannot build %s", cx_cmd_abbrev(req->cmd));
        free(r);
        return 0;
    }
    *r = (inflight_t){.client = c,
                      .id = ++c->next_id,
                      .cmd = req->cmd,
                      .sent = clock_mono_s(),
                      .cb = cb,
                      .arg = arg};
    log_ctx_save(&r->log);
    r->deadline = r->sent + c->timeout_ms / 1000.0 + 0.5;
    r->next = c->list;
    c->list = r;
    struct timespec ts = abs_deadline(c->timeout_ms);
    if (fd_msg_send_timeout(&msg, on_answer, r, on_expire, &ts) != 0) {
        log_error("diameter: freeDiameter refused %s", cx_cmd_abbrev(req->cmd));
        if (msg)
            fd_msg_free(msg);
        count(c, r, "send_failed");
        unlink_and_free(c, r);
        return 0;
    }
    c->pending++;
    return r->id;
}

void cx_client_cancel(cx_client_t *c, uint64_t id)
{
    for (inflight_t *r = c->list; r; r = r->next) {
        if (r->id == id && r->cb) {
            r->cb = NULL;
            c->pending--;
        }
    }
}

size_t cx_client_pending(const cx_client_t *c)
{
    return c->pending;
}
