/* RTR and PPR from the HSS. They reach here on the loop; the registrar acts on them before the
 * answer goes back, so DIAMETER_SUCCESS means the change is made. */
#include "cscf/scscf/scscf.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"
#include "cscf/scscf/registration/bindings.h"
#include "cscf/scscf/registration/reg_admin.h"
#include "cscf/scscf/registration/regevent.h"
#include "cscf/scscf/routing/unreg.h"

static const char *first(char *const *list, size_t n)
{
    return n ? list[0] : "-";
}

static void on_rtr(void *app, cx_reply_t *reply, const cx_msg_t *req)
{
    if (!req->user_name) {
        log_warn("diameter: RTR from %s without User-Name", req->origin_host);
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return;
    }
    log_info("diameter: RTR from %s: user %s, %zu public identities (first %s), reason %d %s",
             req->origin_host, req->user_name, req->npublic, first(req->public_ids, req->npublic),
             req->reason_code, req->reason_info ? req->reason_info : "");
    reg_admin_rtr(app, req->user_name, req->public_ids, req->npublic, req->reason_code);
    unreg_forget_impi(((scscf_t *)app)->unreg, req->user_name);
    cx_msg_t ans;
    cx_msg_init(&ans, CX_CMD_RTA);
    ans.result_code = DIAMETER_SUCCESS;
    cx_server_answer(reply, &ans);
}

/* PPR (TS 29.228 6.1.3): the pushed profile replaces the one held, so the next request is
 * routed with it (iFCs, implicit set); the reg event tells subscribers of a changed set. The
 * write is conditional on the revision read (replicas share the store): a conflict reads the
 * record again and applies the profile to it. The answer goes back once the store has it. */
#define PPR_TRIES 3

typedef struct ppr_op {
    scscf_t *s;
    cx_reply_t *reply;
    char *xml, *impi;
    store_reg_t *before, *after;
    int tries;
} ppr_op_t;

static void ppr_found(void *arg, int rc, store_reg_t *reg);

static void ppr_done(ppr_op_t *o, uint32_t code, int experimental)
{
    cx_server_answer_code(o->reply, code, experimental);
    store_reg_free(o->before);
    store_reg_free(o->after);
    free(o->xml);
    free(o->impi);
    free(o);
}

static void ppr_stored(void *arg, int rc)
{
    ppr_op_t *o = arg;
    if (rc == STORE_CONFLICT && ++o->tries < PPR_TRIES) {
        store_reg_free(o->before);
        store_reg_free(o->after);
        o->before = o->after = NULL;
        store_get_impi(o->s->store, o->impi, ppr_found, o);
        return;
    }
    if (rc != 0) {
        log_warn("diameter: PPR for %s not applied: the store %s", o->impi,
                 rc == STORE_CONFLICT ? "record kept changing" : "failed");
        ppr_done(o, DIAMETER_UNABLE_TO_COMPLY, 0);
        return;
    }
    o->after->rev = (o->after->rev == STORE_REV_NEW ? 0 : o->after->rev) + 1; /* as stored */
    regevent_changed(o->s, o->before, o->after, REGEVENT_REGISTER);
    log_info("diameter: PPR applied for %s", o->impi);
    ppr_done(o, DIAMETER_SUCCESS, 0);
}

static void ppr_found(void *arg, int rc, store_reg_t *reg)
{
    ppr_op_t *o = arg;
    if (rc == 1 && unreg_forget_impi(o->s->unreg, o->impi)) {
        /* Held for unregistered services: the next request asks the HSS for the new one. */
        ppr_done(o, DIAMETER_SUCCESS, 0);
        return;
    }
    if (rc != 0) {
        /* Not registered here (any more): nothing holds the profile. */
        ppr_done(o, rc == 1 ? DIAMETER_ERROR_USER_UNKNOWN : DIAMETER_UNABLE_TO_COMPLY, rc == 1);
        return;
    }
    o->after = reg;
    o->before = store_reg_dup(reg);
    if (!o->before || !reg->nimpus || bindings_set_profile(reg, o->xml, reg->impus[0]) < 0) {
        ppr_done(o, DIAMETER_UNABLE_TO_COMPLY, 0);
        return;
    }
    store_put(o->s->store, reg, ppr_stored, o);
}

static void on_ppr(void *app, cx_reply_t *reply, const cx_msg_t *req)
{
    scscf_t *s = app;
    if (!req->user_name) {
        log_warn("diameter: PPR from %s without User-Name", req->origin_host);
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return;
    }
    log_info("diameter: PPR from %s: user %s, User-Data %zu bytes%s", req->origin_host,
             req->user_name, req->user_data ? strlen(req->user_data) : 0,
             req->charging_ecf || req->charging_ccf ? ", charging information" : "");
    if (!req->user_data) {
        cx_server_answer_code(reply, DIAMETER_SUCCESS, 0); /* charging information only */
        return;
    }
    ppr_op_t *o = calloc(1, sizeof *o);
    if (!o || !(o->xml = strdup(req->user_data)) || !(o->impi = strdup(req->user_name))) {
        if (o)
            free(o->xml);
        free(o);
        cx_server_answer_code(reply, DIAMETER_UNABLE_TO_COMPLY, 0);
        return;
    }
    o->s = s;
    o->reply = reply;
    store_get_impi(s->store, req->user_name, ppr_found, o);
}

const cx_node_handler_t scscf_cx_handlers[] = {{CX_CMD_RTR, on_rtr}, {CX_CMD_PPR, on_ppr}};
const size_t scscf_cx_nhandlers = sizeof scscf_cx_handlers / sizeof scscf_cx_handlers[0];
