#include "cscf/scscf/routing/route_req.h"

#include <stdlib.h>

#include "common/sip/sip_dialog.h"
#include "common/util/log.h"

void route_req_free(route_req_t *rt)
{
    if (!rt)
        return;
    if (rt->msg)
        msg_destroy(rt->msg);
    free(rt);
}

/* Ends the request with a status of ours (the irq was kept: we answer and release it). */
void route_req_fail(route_req_t *rt, int status, const char *phrase)
{
    sip_core_t *core = rt->s->p->sip;
    log_write(status >= 500 ? LOG_WARNING : LOG_INFO, NULL, "scscf: %s %s -> %d",
              rt->sip ? rt->sip->sip_request->rq_method_name : "?",
              rt->orig ? "originating" : "terminating", status);
    sip_request_answer(core, rt->irq, status, phrase, NULL);
    sip_incoming_release(rt->irq, NULL);
    route_req_free(rt);
}
