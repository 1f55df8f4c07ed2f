/* The subscriber resources (ARCHITECTURE.md section 10, one schema with the subscriber file):
 *   GET/POST /api/v1/subscribers, GET/PUT/DELETE /api/v1/subscribers/{impi},
 *   POST /api/v1/subscribers/{impi}/deregister (RTR to the assigned S-CSCF).
 * A PUT that changes the profile of an assigned subscriber sends PPR; a DELETE of one sends RTR
 * first. Handlers run on the HTTP thread and touch the database only through loopq_call(). */
#include "diameter/hss/hss.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"
#include "diameter/cx_call.h"
#include "diameter/hss/user_data.h"

#define LOOP_MS 1000

typedef struct op {
    hss_t *h;
    const char *impi;
    hss_subscriber_t *sub; /* put */
    int create_only;
    /* out */
    int found, created, conflict, failed; /* failed: the database refused the change */
    char err[256];
    json_t *json;
    cx_msg_t notify; /* RTR or PPR to send, cmd CX_CMD_COUNT when none */
} op_t;

static void op_init(op_t *o, hss_t *h, const char *impi)
{
    memset(o, 0, sizeof *o);
    o->h = h;
    o->impi = impi;
    cx_msg_init(&o->notify, CX_CMD_COUNT);
}

static void publish_count(hss_t *h)
{
    metric_set(h->m_subscribers, NULL, (double)h->db.n);
}

/* ---- loop side ---- */

static void list_on_loop(void *arg)
{
    op_t *o = arg;
    json_t *a = json_array();
    for (size_t i = 0; i < o->h->db.n; i++)
        json_array_append_new(a, hss_entry_to_json(o->h->db.entries[i]));
    o->json = json_pack("{s:I,s:o}", "count", (json_int_t)o->h->db.n, "subscribers", a);
}

static void get_on_loop(void *arg)
{
    op_t *o = arg;
    hss_entry_t *e = hss_db_by_impi(&o->h->db, o->impi);
    o->found = e != NULL;
    o->json = e ? hss_entry_to_json(e) : NULL;
}

/* The request that tells the S-CSCF (RTR or PPR), addressed to where the SAR came from. */
static void address(cx_msg_t *m, cx_cmd_t cmd, const hss_entry_t *e)
{
    cx_msg_init(m, cmd);
    cx_msg_set(&m->destination_host, e->scscf_host);
    cx_msg_set(&m->destination_realm, e->scscf_realm);
    cx_msg_set(&m->user_name, e->sub.impi);
}

static void put_on_loop(void *arg)
{
    op_t *o = arg;
    hss_entry_t *old = hss_db_by_impi(&o->h->db, o->sub->impi);
    if (old && o->create_only) {
        o->conflict = 1;
        snprintf(o->err, sizeof o->err, "subscriber %s exists; PUT replaces it", o->sub->impi);
        return;
    }
    char *before = old ? hss_user_data_xml(&old->sub) : NULL;
    if (hss_db_put(&o->h->db, o->sub, &o->created, &o->conflict, o->err, sizeof o->err) < 0) {
        o->failed = !o->conflict;
        free(before);
        return;
    }
    hss_entry_t *e = hss_db_by_impi(&o->h->db, o->impi);
    char *after = hss_user_data_xml(&e->sub);
    if (before && after && strcmp(before, after) != 0 && e->server_name && e->scscf_host &&
        e->state != HSS_AUTH_PENDING) {
        address(&o->notify, CX_CMD_PPR, e);
        o->notify.user_data = after;
        after = NULL;
    }
    free(before);
    free(after);
    publish_count(o->h);
    o->json = hss_entry_to_json(e);
}

/* RTR for an assigned subscriber; reason_code from the body or PERMANENT_TERMINATION. */
static void rtr_on_loop(void *arg)
{
    op_t *o = arg;
    hss_entry_t *e = hss_db_by_impi(&o->h->db, o->impi);
    o->found = e != NULL;
    if (!e || !e->server_name || !e->scscf_host)
        return;
    address(&o->notify, CX_CMD_RTR, e);
    for (size_t i = 0; i < e->sub.nimpus; i++)
        cx_msg_add_public(&o->notify, e->sub.impus[i]);
    if (o->notify.reason_code == CX_ABSENT)
        o->notify.reason_code = 0;
}

static void unassign_on_loop(void *arg)
{
    op_t *o = arg;
    hss_entry_t *e = hss_db_by_impi(&o->h->db, o->impi);
    if (e) {
        hss_entry_unassign(e);
        o->failed = hss_db_write(&o->h->db, e, HSS_DB_ASSIGNMENT) < 0;
    }
}

static void delete_on_loop(void *arg)
{
    op_t *o = arg;
    int rc = hss_db_delete(&o->h->db, o->impi);
    o->found = rc != 1;
    o->failed = rc < 0;
    if (rc == 0)
        publish_count(o->h);
}

/* ---- HTTP side ---- */

static int run(op_t *o, loopq_fn fn, api_response_t *resp)
{
    if (loopq_call(o->h->p->queue, fn, o, LOOP_MS) < 0) {
        api_problem(resp, 503, "Service Unavailable", "the HSS loop did not answer within 1 s");
        return -1;
    }
    return 0;
}

/* Sends o->notify when set; the outcome as JSON ({status, result}), or NULL. */
static json_t *notify(op_t *o, uint32_t *result)
{
    static const char *const names[] = {"answered", "timeout", "failed"};
    *result = 0;
    if (o->notify.cmd == CX_CMD_COUNT)
        return NULL;
    cx_call_result_t r;
    cx_call(o->h->p->queue, o->h->cx.client, &o->notify,
            (int)cfg_int(o->h->p->cfg, "diameter.request_timeout_ms"), &r);
    *result = r.sent && r.status == CX_ANSWERED
                  ? (r.experimental_result ? r.experimental_result : r.result_code)
                  : 0;
    json_t *j = json_pack("{s:s,s:s}", "command", o->notify.cmd == CX_CMD_RTR ? "RTR" : "PPR",
                          "status", r.sent ? names[r.status] : "not_sent");
    if (*result)
        json_object_set_new(j, "result",
                            json_string(cx_result_name(r.result_code, r.experimental_result)));
    json_decref(r.answer);
    log_info("hss: %s for %s to %s: %s", o->notify.cmd == CX_CMD_RTR ? "RTR" : "PPR", o->impi,
             o->notify.destination_host, json_string_value(json_object_get(j, "status")));
    return j;
}

static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o;
    op_init(&o, ctx, NULL);
    if (run(&o, list_on_loop, resp) == 0)
        api_json(resp, 200, o.json);
}

static void get_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o;
    op_init(&o, ctx, req->params[0]);
    if (run(&o, get_on_loop, resp) < 0)
        return;
    if (!o.found)
        api_problem(resp, 404, "Not Found", "no such subscriber");
    else
        api_json(resp, 200, o.json);
}

/* Parses and validates the body; NULL after answering 400. */
static json_t *body_subscriber(const api_request_t *req, const char *impi, hss_subscriber_t *sub,
                               api_response_t *resp)
{
    json_error_t jerr;
    char err[300];
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        api_problem(resp, 400, "Bad Request", "the body must be a subscriber JSON object");
        return NULL;
    }
    if (impi && !json_object_get(body, "impi"))
        json_object_set_new(body, "impi", json_string(impi));
    const char *named = json_string_value(json_object_get(body, "impi"));
    if (impi && named && strcmp(named, impi) != 0) {
        json_decref(body);
        api_problem(resp, 400, "Bad Request", "impi: differs from the path");
        return NULL;
    }
    if (hss_subscriber_from_json(body, sub, err, sizeof err) < 0) {
        json_decref(body);
        api_problem(resp, 400, "Bad Request", err);
        return NULL;
    }
    return body;
}

static void put_common(hss_t *h, const api_request_t *req, api_response_t *resp, int create_only)
{
    hss_subscriber_t sub = {0};
    json_t *body = body_subscriber(req, create_only ? NULL : req->params[0], &sub, resp);
    if (!body)
        return;
    json_decref(body);
    op_t o;
    op_init(&o, h, sub.impi);
    o.sub = &sub;
    o.create_only = create_only;
    char impi[512];
    snprintf(impi, sizeof impi, "%s", sub.impi);
    o.impi = impi;
    if (run(&o, put_on_loop, resp) == 0) {
        if (o.failed) {
            api_problem(resp, 500, "Internal Server Error", o.err);
        } else if (o.conflict) {
            api_problem(resp, 409, "Conflict", o.err);
        } else {
            uint32_t result;
            json_t *ppr = notify(&o, &result);
            json_t *out = json_pack("{s:o}", "subscriber", o.json);
            if (ppr)
                json_object_set_new(out, "ppr", ppr);
            api_json(resp, o.created ? 201 : 200, out);
        }
    }
    hss_subscriber_clear(&sub);
    cx_msg_clear(&o.notify);
}

/* One element of a bulk POST: 1 created, 0 refused (reason appended to errors). */
static int bulk_one(hss_t *h, json_t *item, size_t index, json_t *errors)
{
    hss_subscriber_t sub = {0};
    char err[300];
    op_t o;
    int ok = hss_subscriber_from_json(item, &sub, err, sizeof err) == 0;
    if (ok) {
        char impi[512];
        snprintf(impi, sizeof impi, "%s", sub.impi);
        op_init(&o, h, impi);
        o.sub = &sub;
        o.create_only = 1;
        ok = loopq_call(h->p->queue, put_on_loop, &o, LOOP_MS) == 0 && !o.conflict && !o.failed;
        snprintf(err, sizeof err, "%s",
                 o.conflict || o.failed ? o.err : "the HSS loop did not answer");
        json_decref(o.json);
        cx_msg_clear(&o.notify);
    }
    if (!ok && json_array_size(errors) < 20)
        json_array_append_new(errors,
                              json_pack("{s:I,s:s}", "index", (json_int_t)index, "error", err));
    hss_subscriber_clear(&sub);
    return ok;
}

/* POST of a JSON array: bulk provisioning (each element as a single POST would be). */
static void bulk_post(hss_t *h, json_t *arr, api_response_t *resp)
{
    json_t *errors = json_array();
    size_t i, created = 0;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        created += (size_t)bulk_one(h, item, i, errors);
    }
    size_t failed = json_array_size(arr) - created;
    api_json(resp, failed ? 207 : 201,
             json_pack("{s:I,s:I,s:o}", "created", (json_int_t)created, "failed",
                       (json_int_t)failed, "errors", errors));
}

static void post_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    json_error_t jerr;
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    if (json_is_array(body))
        bulk_post(ctx, body, resp);
    else
        put_common(ctx, req, resp, 1);
    json_decref(body);
}

static void put_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    put_common(ctx, req, resp, 0);
}

/* Optional {"reason_code": 0..3, "reason_info": "..."} (TS 29.229 6.3.17). */
static int read_reason(const api_request_t *req, cx_msg_t *m, api_response_t *resp)
{
    json_error_t jerr;
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : json_object();
    json_t *code = json_object_get(body, "reason_code");
    const char *info = json_string_value(json_object_get(body, "reason_info"));
    int ok =
        json_is_object(body) && (!code || (json_is_integer(code) && json_integer_value(code) >= 0 &&
                                           json_integer_value(code) <= 3));
    if (ok) {
        m->reason_code = code ? (int32_t)json_integer_value(code) : CX_ABSENT;
        cx_msg_set(&m->reason_info, info ? info : "deregistered by the operator");
    } else {
        api_problem(resp, 400, "Bad Request",
                    "expected {\"reason_code\": 0-3, \"reason_info\": \"...\"} or no body");
    }
    json_decref(body);
    return ok ? 0 : -1;
}

static void deregister_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o;
    op_init(&o, ctx, req->params[0]);
    cx_msg_t reason;
    cx_msg_init(&reason, CX_CMD_RTR);
    if (read_reason(req, &reason, resp) < 0 || run(&o, rtr_on_loop, resp) < 0) {
        cx_msg_clear(&reason);
        return;
    }
    if (!o.found || o.notify.cmd == CX_CMD_COUNT) {
        api_problem(resp, o.found ? 409 : 404, o.found ? "Conflict" : "Not Found",
                    o.found ? "no S-CSCF is assigned to this subscriber" : "no such subscriber");
    } else {
        o.notify.reason_code = reason.reason_code == CX_ABSENT ? 0 : reason.reason_code;
        cx_msg_set(&o.notify.reason_info, reason.reason_info);
        uint32_t result;
        json_t *rtr = notify(&o, &result);
        if (result == DIAMETER_SUCCESS)
            loopq_call(o.h->p->queue, unassign_on_loop, &o, LOOP_MS);
        api_json(resp, result == DIAMETER_SUCCESS ? 200 : 502, json_pack("{s:o}", "rtr", rtr));
    }
    cx_msg_clear(&reason);
    cx_msg_clear(&o.notify);
}

static void delete_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o;
    op_init(&o, ctx, req->params[0]);
    if (run(&o, rtr_on_loop, resp) < 0)
        return;
    if (!o.found) {
        api_problem(resp, 404, "Not Found", "no such subscriber");
        return;
    }
    uint32_t result;
    json_t *rtr = notify(&o, &result); /* the S-CSCF lets go of the user first */
    cx_msg_clear(&o.notify);
    if (run(&o, delete_on_loop, resp) < 0) {
        json_decref(rtr);
        return;
    }
    if (o.failed) {
        json_decref(rtr);
        api_problem(resp, 500, "Internal Server Error", "the HSS database cannot be written");
        return;
    }
    json_t *out = json_pack("{s:b}", "deleted", o.found);
    if (rtr)
        json_object_set_new(out, "rtr", rtr);
    api_json(resp, 200, out);
}

int hss_rest_routes(hss_t *h)
{
    api_t *api = h->p->api;
    int rc = 0;
    rc |= api_route(api, "GET", "/api/v1/subscribers", 0, list_route, h);
    rc |= api_route(api, "POST", "/api/v1/subscribers", API_MUTATING, post_route, h);
    rc |= api_route(api, "GET", "/api/v1/subscribers/{impi}", 0, get_route, h);
    rc |= api_route(api, "PUT", "/api/v1/subscribers/{impi}", API_MUTATING, put_route, h);
    rc |= api_route(api, "DELETE", "/api/v1/subscribers/{impi}", API_MUTATING, delete_route, h);
    rc |= api_route(api, "POST", "/api/v1/subscribers/{impi}/deregister", API_MUTATING,
                    deregister_route, h);
    h->m_subscribers =
        metrics_gauge(h->p->metrics, "cscf_hss_subscribers", "subscribers the HSS holds", NULL);
    publish_count(h);
    return rc ? -1 : 0;
}
