/* REST for the per-user SIP trace (sip_trace.h): POST /api/v1/trace {"impu", "seconds"},
 * GET /api/v1/trace, DELETE /api/v1/trace/{impu}. The table is the loop's: every call goes
 * through the loop queue. */
#include "common/program/program_internal.h"

#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/sip/sip_trace.h"

#define TRACE_LOOP_MS 1000

typedef struct trace_op {
    program_t *p;
    const char *impu;
    long seconds;
    int rc;
    json_t *out;
} trace_op_t;

static sip_trace_t *table(program_t *p)
{
    return p->sip ? sip_core_trace(p->sip) : NULL;
}

static void add_on_loop(void *arg)
{
    trace_op_t *o = arg;
    sip_trace_t *t = table(o->p);
    o->rc = t ? sip_trace_add(t, o->impu, o->seconds, time(NULL)) : -1;
}

static void list_on_loop(void *arg)
{
    trace_op_t *o = arg;
    sip_trace_t *t = table(o->p);
    o->out = t ? sip_trace_json(t, time(NULL)) : NULL;
}

static void del_on_loop(void *arg)
{
    trace_op_t *o = arg;
    sip_trace_t *t = table(o->p);
    o->rc = t ? sip_trace_remove(t, o->impu) : 0;
}

static int on_loop(trace_op_t *o, loopq_fn fn, api_response_t *resp)
{
    if (loopq_call(o->p->queue, fn, o, TRACE_LOOP_MS) == 0)
        return 0;
    api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
    return -1;
}

static void post_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    json_error_t jerr;
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    trace_op_t o = {.p = ctx, .seconds = SIP_TRACE_DEFAULT_SECONDS};
    o.impu = body ? json_string_value(json_object_get(body, "impu")) : NULL;
    json_t *secs = body ? json_object_get(body, "seconds") : NULL;
    if (secs)
        o.seconds = json_is_integer(secs) ? (long)json_integer_value(secs) : -1;
    if (!o.impu || o.seconds < 1 || o.seconds > SIP_TRACE_MAX_SECONDS) {
        json_decref(body);
        api_problem(resp, 400, "Bad Request",
                    "expected {\"impu\": \"sip:...|tel:...\", \"seconds\": 1..86400}");
        return;
    }
    if (on_loop(&o, add_on_loop, resp) == 0) {
        if (o.rc < 0)
            api_problem(resp, 400, "Bad Request",
                        "not a user URI, or 100 users are traced already");
        else
            api_json(resp, 200,
                     json_pack("{s:s,s:I}", "impu", o.impu, "expires_in", (json_int_t)o.seconds));
    }
    json_decref(body);
}

static void get_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    trace_op_t o = {.p = ctx};
    if (on_loop(&o, list_on_loop, resp) == 0) {
        if (o.out)
            api_json(resp, 200, o.out);
        else
            api_problem(resp, 404, "Not Found", "this program has no SIP stack");
    }
}

static void delete_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    trace_op_t o = {.p = ctx, .impu = req->params[0]};
    if (on_loop(&o, del_on_loop, resp) == 0) {
        if (o.rc)
            api_json(resp, 200, json_pack("{s:s,s:b}", "impu", o.impu, "deleted", 1));
        else
            api_problem(resp, 404, "Not Found", "this IMPU is not traced");
    }
}

int trace_rest_routes(program_t *p)
{
    int rc = 0;
    rc |= api_route(p->api, "GET", "/api/v1/trace", 0, get_route, p);
    rc |= api_route(p->api, "POST", "/api/v1/trace", API_MUTATING, post_route, p);
    rc |= api_route(p->api, "DELETE", "/api/v1/trace/{impu}", API_MUTATING, delete_route, p);
    return rc ? -1 : 0;
}
