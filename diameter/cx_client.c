#include "diameter/cx_client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include "common/util/clock.h"
#include "common/util/log.h"
#include "diameter/fd_setup.h"

/* Only the loop thread touches the list and the callbacks. A freeDiameter thread reads the
 * immutable head of an attempt and posts a delivery. */
typedef struct inflight {
    struct inflight *next;
    cx_client_t *client;
    uint64_t id;
    cx_cmd_t cmd;
    double sent;     /* monotonic seconds */
    double deadline; /* the loop gives up on this attempt here if freeDiameter has not answered */
    cx_answer_f cb;  /* NULL once cancelled or delivered */
    void *arg;
    int held;       /* attempts freeDiameter still holds: the entry lives until it lets go */
    int attempt;    /* 1; 2 once sent again to another peer */
    char peer[256]; /* the peer this attempt went to, when known ("" when routed by realm) */
    cx_msg_t req;   /* a copy for the one retry, while has_req */
    int has_req;
    log_ctx_t log; /* of the work that sent it: the answer's handling goes on with it */
} inflight_t;

/* freeDiameter's callback data: one per message handed to it. */
typedef struct attempt {
    inflight_t *r;
    int n;
} attempt_t;

typedef struct delivery {
    inflight_t *r;
    int attempt;
    cx_status_t status;
    cx_msg_t answer;
    char peer[256]; /* the peer an expired attempt was sent to */
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
    metric_t *m_requests, *m_latency, *m_failovers;
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

void cx_peer_metrics_register(metrics_t *m, metric_t **requests, metric_t **failovers)
{
    *requests =
        metrics_counter(m, "cscf_diameter_peer_requests_total",
                        "Cx requests sent to each Diameter peer (resent ones included)", "peer");
    *failovers = metrics_counter(
        m, "cscf_diameter_peer_failovers_total",
        "Cx requests moved off a peer: connection_lost (freeDiameter resent them elsewhere), "
        "timeout, unable_to_deliver, too_busy (sent again to another peer), unreachable (meant "
        "for this peer by Destination-Host while it was not connected: sent by realm)",
        "peer,reason");
}

static void count(cx_client_t *c, inflight_t *r, const char *result)
{
    const char *labels[] = {cx_cmd_abbrev(r->cmd), result};
    metric_addv(c->m_requests, labels, 1);
    metric_observe(c->m_latency, cx_cmd_abbrev(r->cmd), clock_mono_s() - r->sent);
}

static void count_failover(cx_client_t *c, const char *peer, const char *reason)
{
    const char *labels[] = {*peer ? peer : "unknown", reason};
    metric_addv(c->m_failovers, labels, 1);
}

static void unlink_and_free(cx_client_t *c, inflight_t *r)
{
    for (inflight_t **pp = &c->list; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (r->has_req)
        cx_msg_clear(&r->req);
    free(r);
}

/* Once answered (or cancelled) and let go of by freeDiameter. */
static void release(cx_client_t *c, inflight_t *r)
{
    if (!r->cb && r->held == 0)
        unlink_and_free(c, r);
}

/* The caller's callback, once: the request is over. */
static void finish(cx_client_t *c, inflight_t *r, cx_status_t status, const cx_msg_t *answer)
{
    char result[16];
    if (status == CX_TIMEOUT) {
        snprintf(result, sizeof result, "timeout");
    } else {
        uint32_t code = answer ? (answer->experimental_result ? answer->experimental_result
                                                              : answer->result_code)
                               : 0;
        snprintf(result, sizeof result, "%u", code);
    }
    count(c, r, result);
    cx_answer_f cb = r->cb;
    r->cb = NULL;
    c->pending--;
    if (r->has_req) {
        cx_msg_clear(&r->req);
        r->has_req = 0;
    }
    log_ctx_restore(&r->log);
    cb(r->arg, status, status == CX_ANSWERED ? answer : NULL);
    log_ctx_clear();
}

static int send_attempt(cx_client_t *c, inflight_t *r, const char *dest_host);

/* Requests a CSCF sends to the HSS may go to any HSS of the realm. The HSS's own (RTR, PPR)
 * must reach the S-CSCF that holds the registration: Destination-Host is required in them
 * (TS 29.229), so they are never unpinned nor sent elsewhere. */
static int may_move(cx_cmd_t cmd)
{
    return cmd == CX_CMD_MAR || cmd == CX_CMD_SAR || cmd == CX_CMD_UAR || cmd == CX_CMD_LIR;
}

/* Why a failed attempt should go once more to another peer (NULL: it should not). A timeout:
 * the peer is hung or gone without closing (freeDiameter notices only after its watchdog, 2 Tw
 * or more). 3002/3004 (RFC 6733 7.1.3): the request could not be delivered through or by that
 * peer, or it is too busy; both ask for another peer. */
static const char *retry_reason(const delivery_t *d)
{
    if (d->status == CX_TIMEOUT)
        return "timeout";
    if (d->status != CX_ANSWERED)
        return NULL;
    if (d->answer.result_code == DIAMETER_UNABLE_TO_DELIVER)
        return "unable_to_deliver";
    if (d->answer.result_code == DIAMETER_TOO_BUSY)
        return "too_busy";
    return NULL;
}

/* Sends r's request once more, with Destination-Host naming another open configured peer than
 * the one that failed (avoid): freeDiameter's own routing by realm could pick the same one
 * again, since a hung peer stays open until its watchdog gives up. 0 when sent. */
static int retry(cx_client_t *c, inflight_t *r, const char *avoid, const char *reason)
{
    char other[256];
    if (!may_move(r->cmd) || !r->has_req || r->attempt > 1 || !r->cb ||
        fd_setup_alternative(avoid, other, sizeof other) < 0)
        return -1;
    char failed[256];
    snprintf(failed, sizeof failed, "%s", avoid);
    log_ctx_restore(&r->log);
    log_info("diameter: %s %llu to %s: %s; sent again to %s", cx_cmd_abbrev(r->cmd),
             (unsigned long long)r->id, *failed ? failed : "the realm", reason, other);
    log_ctx_clear();
    count_failover(c, failed, reason);
    r->attempt++;
    if (send_attempt(c, r, other) < 0)
        return -1;
    cx_msg_clear(&r->req); /* one retry only */
    r->has_req = 0;
    return 0;
}

/* On the loop: an attempt's answer (or freeDiameter's expiry) arrived. */
static void deliver(void *arg)
{
    delivery_t *d = arg;
    inflight_t *r = d->r;
    cx_client_t *c = r->client;
    r->held--;
    /* An answer is used even when it comes for the first attempt after the second was sent;
     * a failure (3002 and 3004 included) only counts for the attempt still current. */
    int current = d->attempt == r->attempt;
    if (r->cb && (current || (d->status == CX_ANSWERED && !retry_reason(d)))) {
        const char *why = current ? retry_reason(d) : NULL;
        /* Who failed: where it expired, else where it was pinned, else who answered 3004. */
        const char *failed = *d->peer                ? d->peer
                             : *r->peer              ? r->peer
                             : d->answer.origin_host ? d->answer.origin_host
                                                     : "";
        if (!why || retry(c, r, failed, why) < 0)
            finish(c, r, d->status, &d->answer);
    }
    release(c, r);
    cx_msg_clear(&d->answer);
    free(d);
}

static void post(attempt_t *a, cx_status_t status, struct msg *answer, const char *peer,
                 size_t peerlen)
{
    inflight_t *r = a->r;
    delivery_t *d = calloc(1, sizeof *d);
    if (!d) {
        free(a);
        return;
    }
    d->r = r;
    d->attempt = a->n;
    d->status = status;
    free(a);
    if (peer)
        snprintf(d->peer, sizeof d->peer, "%.*s", (int)peerlen, peer);
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
    post(data, CX_ANSWERED, *answer, NULL, 0);
    fd_msg_free(*answer);
    *answer = NULL;
}

/* freeDiameter thread */
static void on_expire(void *data, DiamId_t sentto, size_t len, struct msg **request)
{
    post(data, CX_TIMEOUT, NULL, (const char *)sentto, len);
}

/* The loop's own deadline, for requests freeDiameter holds without a peer to time them. */
static void sweep(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    cx_client_t *c = (cx_client_t *)arg;
    double now = clock_mono_s();
    for (inflight_t *r = c->list, *next; r; r = next) {
        next = r->next;
        if (!r->cb || now < r->deadline)
            continue;
        if (retry(c, r, r->peer, "timeout") == 0)
            continue;
        log_ctx_restore(&r->log);
        log_warn("diameter: %s %llu not answered within %d ms", cx_cmd_abbrev(r->cmd),
                 (unsigned long long)r->id, c->timeout_ms);
        log_ctx_clear();
        finish(c, r, CX_TIMEOUT, NULL);
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
    metric_t *unused;
    cx_peer_metrics_register(m, &unused, &c->m_failovers);
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
    while (c->list)
        unlink_and_free(c, c->list);
    free(c->dest_realm);
    free(c);
}

void cx_client_fake(cx_client_t *c, cx_client_fake_f fn, void *arg)
{
    c->fake = fn;
    c->fake_arg = arg;
}

static inflight_t *inflight_new(cx_client_t *c, const cx_msg_t *req, cx_answer_f cb, void *arg)
{
    inflight_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    *r = (inflight_t){.client = c,
                      .id = ++c->next_id,
                      .cmd = req->cmd,
                      .sent = clock_mono_s(),
                      .cb = cb,
                      .arg = arg,
                      .attempt = 1};
    log_ctx_save(&r->log);
    r->deadline = r->sent + c->timeout_ms / 1000.0 + 0.5;
    return r;
}

/* The fake's answer goes through the loop queue like freeDiameter's, so callers see the same
 * order of events (the send returns before the callback runs). */
static uint64_t send_fake(cx_client_t *c, const cx_msg_t *req, cx_answer_f cb, void *arg)
{
    inflight_t *r = inflight_new(c, req, cb, arg);
    delivery_t *d = calloc(1, sizeof *d);
    if (!r || !d) {
        free(r);
        free(d);
        return 0;
    }
    d->r = r;
    d->attempt = 1;
    cx_msg_init(&d->answer, CX_CMD_COUNT);
    d->status = c->fake(c->fake_arg, req, &d->answer);
    if (loopq_post(c->queue, deliver, d) < 0) {
        cx_msg_clear(&d->answer);
        free(d);
        free(r);
        return 0;
    }
    r->held = 1;
    r->next = c->list;
    c->list = r;
    c->pending++;
    return r->id;
}

/* Hands r's request (attempt r->attempt) to freeDiameter, to dest_host when not NULL. */
static int send_attempt(cx_client_t *c, inflight_t *r, const char *dest_host)
{
    cx_msg_t tmp = r->req; /* shallow: only the routing changes */
    if (!tmp.destination_realm)
        tmp.destination_realm = c->dest_realm;
    if (dest_host)
        tmp.destination_host = (char *)dest_host;
    struct msg *msg = NULL;
    attempt_t *a = calloc(1, sizeof *a);
    if (!a || cx_encode_request(c->cx, &tmp, &msg) != 0) {
        log_error("diameter: cannot build %s", cx_cmd_abbrev(r->cmd));
        free(a);
        return -1;
    }
    *a = (attempt_t){r, r->attempt};
    snprintf(r->peer, sizeof r->peer, "%s", tmp.destination_host ? tmp.destination_host : "");
    r->deadline = clock_mono_s() + c->timeout_ms / 1000.0 + 0.5;
    struct timespec ts = clock_realtime_after_ms(c->timeout_ms);
    if (fd_msg_send_timeout(&msg, on_answer, a, on_expire, &ts) != 0) {
        log_error("diameter: freeDiameter refused %s", cx_cmd_abbrev(r->cmd));
        if (msg)
            fd_msg_free(msg);
        free(a);
        return -1;
    }
    r->held++;
    return 0;
}

uint64_t cx_client_send(cx_client_t *c, const cx_msg_t *req, cx_answer_f cb, void *arg)
{
    if (c->fake)
        return send_fake(c, req, cb, arg);
    inflight_t *r = inflight_new(c, req, cb, arg);
    if (!r || cx_msg_copy(&r->req, req) < 0) {
        log_error("diameter: cannot build %s", cx_cmd_abbrev(req->cmd));
        free(r);
        return 0;
    }
    r->has_req = 1;
    r->next = c->list;
    c->list = r;
    /* Pinned to an HSS (Destination-Host, optional in every Cx request's ABNF, TS 29.229
     * 6.1) that is not connected: freeDiameter would route it by realm to another HSS, which,
     * not being a Diameter agent, answers DIAMETER_UNABLE_TO_DELIVER (RFC 6733 6.1.5). The pin
     * only keeps one registration's requests on one HSS; any HSS of the realm can serve the
     * user (the HSS front-ends share their subscriber data), so it goes by Destination-Realm
     * alone, as a request does when the HSS is not known. */
    if (may_move(r->cmd) && r->req.destination_host &&
        !fd_setup_peer_open(r->req.destination_host)) {
        count_failover(c, r->req.destination_host, "unreachable");
        log_debug("diameter: %s %llu: %s is not connected; sent by realm", cx_cmd_abbrev(req->cmd),
                  (unsigned long long)r->id, r->req.destination_host);
        cx_msg_set(&r->req.destination_host, NULL);
    }
    if (send_attempt(c, r, NULL) < 0) {
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
