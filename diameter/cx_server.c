#include "diameter/cx_server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include "common/util/clock.h"
#include "common/util/log.h"
#include "diameter/cx_client.h"

typedef struct handler {
    cx_server_t *server;
    cx_cmd_t cmd;
    cx_request_f fn;
    void *app;
    struct disp_hdl *hdl;
} handler_t;

struct cx_server {
    const cx_dict_t *cx;
    loopq_t *queue;
    handler_t handlers[CX_CMD_COUNT];
    metric_t *m_requests, *m_latency;
};

struct cx_reply {
    handler_t *h;
    struct msg *request;
    cx_msg_t decoded;
    double received;
};

static void send_answer(cx_reply_t *r, const cx_msg_t *ans)
{
    cx_server_t *s = r->h->server;
    char result[16];
    snprintf(result, sizeof result, "%u",
             ans->experimental_result ? ans->experimental_result : ans->result_code);
    const char *labels[] = {cx_cmd_abbrev(r->h->cmd), result};
    metric_addv(s->m_requests, labels, 1);
    metric_observe(s->m_latency, cx_cmd_abbrev(r->h->cmd), clock_mono_s() - r->received);
    if (cx_encode_answer(s->cx, ans, &r->request) != 0 || fd_msg_send(&r->request, NULL, NULL)) {
        log_warn("diameter: could not send the answer to %s", cx_cmd_abbrev(r->h->cmd));
        if (r->request)
            fd_msg_free(r->request);
    }
    r->request = NULL;
}

void cx_server_answer(cx_reply_t *r, const cx_msg_t *ans)
{
    send_answer(r, ans);
    cx_msg_clear(&r->decoded);
    free(r);
}

void cx_server_answer_code(cx_reply_t *r, uint32_t code, int experimental)
{
    cx_msg_t ans;
    cx_msg_init(&ans, r->h->cmd + 1);
    if (experimental)
        ans.experimental_result = code;
    else
        ans.result_code = code;
    cx_server_answer(r, &ans);
}

/* On the loop. */
static void run_handler(void *arg)
{
    cx_reply_t *r = arg;
    log_ctx_user(r->decoded.npublic ? r->decoded.public_ids[0] : NULL, r->decoded.user_name);
    log_debug("diameter: %s from %s (user %s)", cx_cmd_abbrev(r->h->cmd),
              r->decoded.origin_host ? r->decoded.origin_host : "?",
              r->decoded.user_name ? r->decoded.user_name
              : r->decoded.npublic ? r->decoded.public_ids[0]
                                   : "-");
    r->h->fn(r->h->app, r, &r->decoded);
}

/* freeDiameter thread: take the request, or answer at once when the loop cannot have it. */
static int on_request(struct msg **msg, struct avp *avp, struct session *sess, void *data,
                      enum disp_action *act)
{
    handler_t *h = data;
    cx_reply_t *r = calloc(1, sizeof *r);
    *act = DISP_ACT_CONT;
    if (!r)
        return ENOMEM;
    r->h = h;
    r->request = *msg;
    r->received = clock_mono_s();
    cx_msg_init(&r->decoded, h->cmd);
    *msg = NULL;
    uint32_t refuse = 0;
    if (cx_decode(h->server->cx, r->request, &r->decoded) != 0)
        refuse = DIAMETER_INVALID_AVP_VALUE;
    else if (loopq_post(h->server->queue, run_handler, r) < 0)
        refuse = DIAMETER_TOO_BUSY;
    if (refuse) {
        log_warn("diameter: %s refused with %u (%s)", cx_cmd_abbrev(h->cmd), refuse,
                 refuse == DIAMETER_TOO_BUSY ? "loop queue full or closed" : "undecodable AVP");
        cx_server_answer_code(r, refuse, 0);
    }
    return 0;
}

cx_server_t *cx_server_new(const cx_dict_t *cx, loopq_t *q, metrics_t *m)
{
    cx_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cx = cx;
    s->queue = q;
    cx_metrics_register(m, &s->m_requests, &s->m_latency);
    return s;
}

int cx_server_handle(cx_server_t *s, cx_cmd_t cmd, cx_request_f fn, void *app)
{
    handler_t *h = &s->handlers[cmd];
    *h = (handler_t){.server = s, .cmd = cmd, .fn = fn, .app = app};
    struct disp_when when = {.app = s->cx->app, .command = s->cx->cmd[cmd]};
    return fd_disp_register(on_request, DISP_HOW_CC, &when, h, &h->hdl);
}

/* freeDiameter's shutdown already destroyed the dispatch handlers. */
void cx_server_free(cx_server_t *s)
{
    free(s);
}
