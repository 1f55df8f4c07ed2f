/* GET /api/v1/policy/sessions: the policy sessions the pcscf holds, read on the loop thread
 * (the REST thread waits for it through the loop queue). With policy.backend none the view is
 * there too, empty. */
#include "cscf/pcscf/policy/policy_internal.h"

#include <jansson.h>

#include "common/ops/api.h"
#include "common/ops/loopq.h"
#include "common/util/clock.h"

static json_t *media_json(const policy_media_t *m)
{
    return json_pack("{s:i,s:s,s:s,s:s,s:i,s:s,s:i,s:s,s:i,s:b}", "number", (int)m->number, "type",
                     m->type, "proto", m->proto, "ue_addr", m->ue_addr, "ue_port", (int)m->ue_port,
                     "peer_addr", m->peer_addr, "peer_port", (int)m->peer_port, "dir", m->dir,
                     "bw_as_kbps", (int)m->bw_as_kbps, "port_zero", m->port_zero);
}

static json_t *session_json(const policy_session_t *s, int64_t now)
{
    static const char *const states[] = {"pending", "granted", "failed"};
    json_t *media = json_array();
    for (size_t i = 0; i < s->desc.n_media; i++)
        json_array_append_new(media, media_json(&s->desc.media[i]));
    return json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:I,s:o}", "id",
                     (json_int_t)s->id, "call_id", s->desc.call_id, "from_tag", s->desc.from_tag,
                     "to_tag", s->desc.to_tag, "side", policy_side_of(s), "impu", s->desc.impu,
                     "ue_ip", s->desc.ue_ip, "icid", s->desc.icid, "state", states[s->state],
                     "answered", s->desc.answered, "established", s->established, "age_seconds",
                     (json_int_t)((now - s->touched_ms) / 1000), "media", media);
}

typedef struct view_op {
    policy_t *pol;
    json_t *out;
} view_op_t;

static int view_one(void *ctx, const char *key, void *val)
{
    (void)key;
    view_op_t *o = ctx;
    json_array_append_new(o->out, session_json(val, clock_mono_ms()));
    return 0;
}

static void view_on_loop(void *arg)
{
    view_op_t *o = arg;
    o->out = json_array();
    strmap_sweep(o->pol->by_key, view_one, o);
}

static void sessions_get(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)req;
    view_op_t o = {.pol = ctx};
    if (loopq_call(o.pol->p->queue, view_on_loop, &o, 1000) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the SIP loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200,
             json_pack("{s:s,s:I,s:o}", "backend", o.pol->be.name, "count",
                       (json_int_t)json_array_size(o.out), "sessions", o.out));
}

/* With policy.backend none the view is there too, empty, so a client or probe can ask any pcscf
 * (and the API description holds for every configuration). */
static void none_get(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    (void)req;
    api_json(resp, 200, json_pack("{s:s,s:i,s:[]}", "backend", "none", "count", 0, "sessions"));
}

int policy_rest_none(program_t *p)
{
    return p->api ? api_route(p->api, "GET", "/api/v1/policy/sessions", 0, none_get, NULL) : 0;
}

int policy_rest_start(policy_t *pol)
{
    return pol->p->api
               ? api_route(pol->p->api, "GET", "/api/v1/policy/sessions", 0, sessions_get, pol)
               : 0;
}
