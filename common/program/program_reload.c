/* Config reload (SIGHUP, POST /api/v1/reload): the file is read and checked as at start-up; a
 * bad file changes nothing and says why. Keys whose value changed are applied where the
 * program can take them at run time (log.level here, the program's own through def->reload)
 * and reported as needing a restart otherwise. The running config (p->cfg) stays as it was:
 * code holds pointers into it; the config a reload read is kept only to compare the next
 * reload with. */
#include "common/program/program_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"

#define MAX_TABLES  3
#define MAX_CHANGED 64
#define RELOAD_MS   2000

typedef struct program_reload {
    cfg_t *cfg;
    cfg_key_t *owned[MAX_TABLES];
} program_reload_t;

static void reload_free(program_reload_t *r)
{
    if (!r)
        return;
    cfg_free(r->cfg);
    for (size_t i = 0; i < MAX_TABLES; i++)
        free(r->owned[i]);
    free(r);
}

void program_reload_free(program_t *p)
{
    reload_free(p->reloaded);
    p->reloaded = NULL;
}

static program_reload_t *read_config(program_t *p, char *err, size_t errlen)
{
    program_reload_t *r = calloc(1, sizeof *r);
    if (!r || !(r->cfg = program_schema(p->def, r->owned, MAX_TABLES))) {
        snprintf(err, errlen, "out of memory");
        reload_free(r);
        return NULL;
    }
    if (cfg_load_file(r->cfg, p->config_path, err, errlen) < 0 ||
        cfg_apply_env(r->cfg, err, errlen) < 0 ||
        (p->def->has_sip && program_check_transports(r->cfg, err, errlen) < 0) ||
        (p->def->check && p->def->check(r->cfg, err, errlen) < 0)) {
        reload_free(r);
        return NULL;
    }
    return r;
}

static int apply(program_t *p, const cfg_t *cfg, const char *key)
{
    if (strcmp(key, "log.level") == 0) {
        log_level_t lv;
        if (log_level_parse(cfg_str(cfg, key), &lv) < 0)
            return 0;
        log_set_level(lv);
        return 1;
    }
    if (strncmp(key, "admission.", 10) == 0)
        return program_admission_reload(p, cfg);
    return p->def->reload ? p->def->reload(p, cfg, key) : 0;
}

int program_reload(program_t *p, json_t **report, char *err, size_t errlen)
{
    program_reload_t *r = p->config_path ? read_config(p, err, errlen) : NULL;
    if (!r) {
        if (!p->config_path)
            snprintf(err, errlen, "no configuration file");
        log_warn("reload: %s; the running configuration is kept", err);
        return -1;
    }
    const char *changed[MAX_CHANGED];
    const cfg_t *before = p->reloaded ? p->reloaded->cfg : p->cfg;
    size_t n = cfg_diff(before, r->cfg, changed, MAX_CHANGED);
    json_t *applied = json_array(), *restart = json_array();
    for (size_t i = 0; i < n; i++) {
        int ok = apply(p, r->cfg, changed[i]);
        json_array_append_new(ok ? applied : restart, json_string(changed[i]));
        log_info("reload: %s %s", changed[i], ok ? "applied" : "changed; takes effect on restart");
    }
    *report = json_pack("{s:o,s:o}", "applied", applied, "restart_required", restart);
    reload_free(p->reloaded);
    p->reloaded = r;
    return 0;
}

typedef struct reload_op {
    program_t *p;
    json_t *report;
    int rc;
    char err[512];
} reload_op_t;

static void reload_on_loop(void *arg)
{
    reload_op_t *o = arg;
    o->rc = program_reload(o->p, &o->report, o->err, sizeof o->err);
}

static void reload_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    reload_op_t o = {.p = ctx, .rc = -1};
    if (loopq_call(o.p->queue, reload_on_loop, &o, RELOAD_MS) < 0) {
        json_decref(o.report);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 2 s");
    } else if (o.rc < 0) {
        api_problem(resp, 400, "Bad Request", o.err);
    } else {
        api_json(resp, 200, o.report);
    }
}

int program_reload_routes(program_t *p)
{
    return api_route(p->api, "POST", "/api/v1/reload", API_MUTATING, reload_route, p);
}
