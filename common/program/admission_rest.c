/* Admission control as the programs configure and show it: the admission.* keys into an
 * adm_config_t (at start and on reload), and GET /api/v1/admission. */
#include "common/program/program_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/sip/admission.h"

#define ADM_LOOP_MS 1000

void program_admission_config(const cfg_t *cfg, adm_config_t *out)
{
    memset(out, 0, sizeof *out);
    out->enabled = cfg_bool(cfg, "admission.enabled");
    out->target = (double)cfg_int(cfg, "admission.target_ms") / 1000.0;
    out->retry_after = (unsigned)cfg_int(cfg, "admission.retry_after");
    out->flow_rate = (double)cfg_int(cfg, "admission.flow_rate");
    out->flow_burst = (double)cfg_int(cfg, "admission.flow_burst");
    out->impi_rate = (double)cfg_int(cfg, "admission.impi_rate");
    out->impi_burst = (double)cfg_int(cfg, "admission.impi_burst");
    out->table_size = (size_t)cfg_int(cfg, "admission.table_size");
}

int program_admission_reload(program_t *p, const cfg_t *cfg)
{
    if (!p->sip)
        return 0;
    adm_config_t ac;
    program_admission_config(cfg, &ac);
    sip_core_set_admission(p->sip, &ac);
    return 1;
}

typedef struct adm_op {
    program_t *p;
    size_t top;
    json_t *out;
} adm_op_t;

static void view_on_loop(void *arg)
{
    adm_op_t *o = arg;
    if (o->p->sip)
        o->out = sip_core_admission_json(o->p->sip, o->top);
}

/* GET /api/v1/admission[?top=N]: lag, shed ratio, per-class counters, the flows and IMPIs
 * refused most (N, default 10). */
static void admission_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    adm_op_t o = {.p = ctx, .top = 10};
    const char *t = api_query(req, "top");
    if (t) {
        char *end;
        long v = strtol(t, &end, 10);
        if (!*t || *end || v < 0 || v > 1000) {
            api_problem(resp, 400, "Bad Request", "top must be 0..1000");
            return;
        }
        o.top = (size_t)v;
    }
    if (loopq_call(o.p->queue, view_on_loop, &o, ADM_LOOP_MS) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the SIP loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

int admission_rest_routes(program_t *p)
{
    return api_route(p->api, "GET", "/api/v1/admission", 0, admission_route, p);
}
