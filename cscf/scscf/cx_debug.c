/* POST /api/v1/cx/{mar|sar|uar|lir}: sends one Cx request built from a small JSON body through
 * the same client the registrar uses, and returns the decoded answer. It lets an operator check
 * the HSS path (keys, assignment, profile) without a handset, and the tests check the client. */
#include "cscf/scscf/scscf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util/hex.h"
#include "common/util/log.h"
#include "diameter/cx_call.h"

static const struct {
    const char *name;
    int value;
} sat_names[] = {
    {"no_assignment", CX_SAT_NO_ASSIGNMENT},
    {"registration", CX_SAT_REGISTRATION},
    {"re_registration", CX_SAT_RE_REGISTRATION},
    {"unregistered_user", CX_SAT_UNREGISTERED_USER},
    {"timeout_deregistration", CX_SAT_TIMEOUT_DEREGISTRATION},
    {"user_deregistration", CX_SAT_USER_DEREGISTRATION},
    {"administrative_deregistration", CX_SAT_ADMINISTRATIVE_DEREGISTRATION},
    {"authentication_failure", CX_SAT_AUTHENTICATION_FAILURE},
    {"authentication_timeout", CX_SAT_AUTHENTICATION_TIMEOUT},
};

static int parse_sat(json_t *v, int32_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 14) {
        *out = (int32_t)json_integer_value(v);
        return 0;
    }
    for (size_t i = 0; json_is_string(v) && i < sizeof sat_names / sizeof sat_names[0]; i++) {
        if (strcasecmp(json_string_value(v), sat_names[i].name) == 0) {
            *out = sat_names[i].value;
            return 0;
        }
    }
    return -1;
}

static const char *str(json_t *body, const char *key)
{
    return json_string_value(json_object_get(body, key));
}

static int fill_mar(scscf_t *s, json_t *body, cx_msg_t *m, const char **bad)
{
    cx_auth_item_t *it = cx_msg_add_item(m);
    const char *scheme = str(body, "scheme");
    cx_msg_set(&it->scheme, scheme ? scheme : "Digest-AKAv1-MD5");
    json_t *items = json_object_get(body, "items");
    m->auth_items = items ? (uint32_t)json_integer_value(items) : 1;
    if (m->auth_items < 1 || m->auth_items > CX_MAX_ITEMS)
        return *bad = "items: 1 to 8", -1;
    const char *auth = str(body, "authorization");
    if (auth) {
        size_t n = strlen(auth) / 2;
        if (n == 0 || n > sizeof it->authorization || hex_decode(auth, it->authorization, n) < 0)
            return *bad = "authorization: hex RAND||AUTS", -1;
        it->authorization_len = n;
    }
    return cx_msg_set(&m->server_name, s->server_name);
}

static int fill_sar(scscf_t *s, json_t *body, cx_msg_t *m, const char **bad)
{
    json_t *sat = json_object_get(body, "assignment_type");
    m->server_assignment_type = CX_SAT_REGISTRATION;
    if (sat && parse_sat(sat, &m->server_assignment_type) < 0)
        return *bad = "assignment_type: a Server-Assignment-Type name or number", -1;
    m->user_data_already_available =
        json_is_true(json_object_get(body, "user_data_already_available"));
    return cx_msg_set(&m->server_name, s->server_name);
}

static int fill_uar(scscf_t *s, json_t *body, cx_msg_t *m, const char **bad)
{
    const char *vn = str(body, "visited_network");
    json_t *type = json_object_get(body, "authorization_type");
    m->user_authorization_type = type ? (int32_t)json_integer_value(type) : 0;
    if (m->user_authorization_type < 0 || m->user_authorization_type > 2)
        return *bad = "authorization_type: 0, 1 or 2", -1;
    return cx_msg_set(&m->visited_network, vn ? vn : fd_setup_realm());
}

/* 0 and the request, or -1 and what is wrong. */
static int build(scscf_t *s, const char *command, json_t *body, cx_msg_t *m, const char **bad)
{
    static const struct {
        const char *name;
        cx_cmd_t cmd;
        int (*fill)(scscf_t *, json_t *, cx_msg_t *, const char **);
        int needs_impi;
    } kinds[] = {{"mar", CX_CMD_MAR, fill_mar, 1},
                 {"sar", CX_CMD_SAR, fill_sar, 0},
                 {"uar", CX_CMD_UAR, fill_uar, 1},
                 {"lir", CX_CMD_LIR, NULL, 0}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcasecmp(command, kinds[i].name) != 0)
            continue;
        cx_msg_init(m, kinds[i].cmd);
        const char *impi = str(body, "impi"), *impu = str(body, "impu");
        if (!impu || (kinds[i].needs_impi && !impi))
            return *bad = kinds[i].needs_impi ? "impi and impu are needed" : "impu is needed", -1;
        if (cx_msg_set(&m->user_name, impi) < 0 || cx_msg_add_public(m, impu) < 0 ||
            cx_msg_set(&m->destination_host, str(body, "destination_host")) < 0)
            return *bad = "out of memory", -1;
        return kinds[i].fill ? kinds[i].fill(s, body, m, bad) : 0;
    }
    return *bad = "command: one of mar, sar, uar, lir", -1;
}

static void cx_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    static const char *const names[] = {"answered", "timeout", "failed"};
    scscf_t *s = ctx;
    json_error_t jerr;
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : json_object();
    const char *bad = "the body must be a JSON object";
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_COUNT);
    int ok = json_is_object(body) && build(s, req->params[0], body, &m, &bad) == 0;
    json_decref(body);
    if (!ok) {
        cx_msg_clear(&m);
        int unknown = strstr(bad, "command:") != NULL;
        api_problem(resp, unknown ? 404 : 400, unknown ? "Not Found" : "Bad Request", bad);
        return;
    }
    cx_call_result_t r;
    cx_call(s->p->queue, s->cx.client, &m, (int)cfg_int(s->p->cfg, "diameter.request_timeout_ms"),
            &r);
    cx_msg_clear(&m);
    if (!r.sent) {
        api_problem(resp, 503, "Service Unavailable", "the request could not be sent");
        return;
    }
    json_t *o = json_pack("{s:s}", "status", names[r.status]);
    if (r.answer)
        json_object_set_new(o, "answer", r.answer);
    api_json(resp, r.status == CX_ANSWERED ? 200 : 504, o);
}

int scscf_cx_debug_routes(scscf_t *s)
{
    return api_route(s->p->api, "POST", "/api/v1/cx/{command}", API_MUTATING, cx_route, s);
}
