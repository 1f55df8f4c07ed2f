/* RTR and PPR from the HSS. They reach here on the loop; the registrar (a later issue) acts on
 * them before the answer goes back, so DIAMETER_SUCCESS means the loop has seen the request. */
#include "cscf/scscf/scscf.h"

#include <string.h>

#include "common/log.h"

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
    bindings_rtr(app, req->user_name, req->public_ids, req->npublic, req->reason_code);
    cx_msg_t ans;
    cx_msg_init(&ans, CX_CMD_RTA);
    ans.result_code = DIAMETER_SUCCESS;
    cx_server_answer(reply, &ans);
}

static void on_ppr(void *app, cx_reply_t *reply, const cx_msg_t *req)
{
    if (!req->user_name) {
        log_warn("diameter: PPR from %s without User-Name", req->origin_host);
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return;
    }
    log_info("diameter: PPR from %s: user %s, User-Data %zu bytes%s", req->origin_host,
             req->user_name, req->user_data ? strlen(req->user_data) : 0,
             req->charging_ecf || req->charging_ccf ? ", charging information" : "");
    cx_server_answer_code(reply, DIAMETER_SUCCESS, 0);
}

const cx_node_handler_t scscf_cx_handlers[] = {{CX_CMD_RTR, on_rtr}, {CX_CMD_PPR, on_ppr}};
const size_t scscf_cx_nhandlers = sizeof scscf_cx_handlers / sizeof scscf_cx_handlers[0];
