/* The REGISTER transaction object (one REGISTER in progress, from the registrar through the
 * bindings to the reply) and the SAR helpers both use. The bottom of registration: it calls
 * nothing above it. */
#include "cscf/scscf/registration/reg_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>

#include "common/sip/sip_dialog.h"
#include "common/util/log.h"
#include "cscf/scscf/registration/reg_config.h"
#include "diameter/cx_client.h"

void reg_req_free(reg_req_t *req)
{
    if (!req)
        return;
    if (req->msg)
        msg_destroy(req->msg);
    store_reg_free(req->reg);
    store_reg_free(req->before);
    free(req->profile);
    free(req);
}

void reg_req_reply(reg_req_t *req, int status, const char *phrase, const char *headers)
{
    sip_request_answer(req->s->p->sip, req->irq, status, phrase,
                       &(sip_dialog_headers_t){.extra = headers});
    if (req->response_out) { /* for the third-party REGISTERs */
        msg_t *r = sip_incoming_response(req->irq);
        size_t len = 0;
        *req->response_out = r ? msg_as_string(NULL, r, NULL, 0, &len) : NULL;
        if (r)
            msg_destroy(r); /* getresponse returned a reference */
    }
    /* The handler returned 0 and kept the transaction: it is ours to release (nta copes with
     * this inside its callback too). */
    sip_incoming_release(req->irq, NULL);
    reg_req_free(req);
}

/* ---- store failures ---- */

int reg_store_failure(scscf_t *s, int rc, const char *what, const char **phrase, char *hdr,
                      size_t len)
{
    int timeout = rc == STORE_TIMEOUT;
    if (!s->store_outage)
        log_warn("registrar: the %s store %s (%s): requests get %d with Retry-After %ld until it "
                 "answers again",
                 store_backend(s->store), timeout ? "did not answer in time" : "failed", what,
                 timeout ? 504 : 500, s->rc->retry_after);
    else
        log_debug("registrar: store %s failed (%d)", what, rc);
    s->store_outage = 1;
    snprintf(hdr, len, "Retry-After: %ld", s->rc->retry_after);
    *phrase = timeout ? "Store Timeout" : "Store Unavailable";
    return timeout ? 504 : 500;
}

void reg_store_ok(scscf_t *s)
{
    if (!s->store_outage)
        return;
    s->store_outage = 0;
    log_info("registrar: the %s store answers again", store_backend(s->store));
}

void reg_req_store_failed(reg_req_t *req, int rc, const char *what)
{
    const char *phrase;
    char hdr[64];
    int status = reg_store_failure(req->s, rc, what, &phrase, hdr, sizeof hdr);
    reg_req_reply(req, status, phrase, hdr);
}

/* ---- Cx answers to SIP status (TS 29.228 / TS 24.229 5.4.1) ---- */

int reg_req_cx_to_sip(cx_status_t st, const cx_msg_t *a, const char **phrase)
{
    if (st != CX_ANSWERED || (a->result_code >= 3000 && a->result_code < 4000)) {
        *phrase = "HSS Unreachable";
        return 504;
    }
    if (a->result_code == DIAMETER_SUCCESS)
        return 200;
    if (a->experimental_result >= 5000 || (a->result_code >= 5000 && a->result_code < 6000)) {
        *phrase = "Forbidden";
        return 403;
    }
    *phrase = "HSS Error";
    return 500;
}

typedef struct sar_ctx {
    reg_req_t *req;
    reg_sar_f done;
} sar_ctx_t;

static void on_saa(void *arg, cx_status_t st, const cx_msg_t *a)
{
    sar_ctx_t *ctx = arg;
    const char *phrase = "";
    int code = reg_req_cx_to_sip(st, a, &phrase);
    reg_req_t *req = ctx->req;
    reg_sar_f done = ctx->done;
    free(ctx);
    /* The HSS that holds the assignment now: the registration's next requests go to it. */
    if (code == 200 && a->origin_host)
        snprintf(req->hss, sizeof req->hss, "%s", a->origin_host);
    if (code != 200)
        log_info("registrar: %s: SAR %s", req->impi,
                 a ? cx_result_name(a->result_code, a->experimental_result) : "timed out");
    done(req, code, a);
}

int reg_req_sar(reg_req_t *req, int sat, int udaa, reg_sar_f done)
{
    scscf_t *s = req->s;
    sar_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -1;
    *ctx = (sar_ctx_t){req, done};
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_SAR);
    cx_msg_set(&m.user_name, req->impi);
    cx_msg_add_public(&m, req->impu);
    cx_msg_set(&m.server_name, s->server_name);
    m.server_assignment_type = sat;
    m.user_data_already_available = udaa;
    /* TS 29.228: the SAR goes to the HSS that answered the registration's MAR (its
     * Origin-Host), so one HSS sees the whole registration; cx_client sends it by realm when
     * that HSS is gone. */
    if (*req->hss)
        cx_msg_set(&m.destination_host, req->hss);
    req->cx_id = cx_client_send(s->cx.client, &m, on_saa, ctx);
    cx_msg_clear(&m);
    if (!req->cx_id) {
        free(ctx);
        return -1;
    }
    return 0;
}

static void detached_done(void *arg, cx_status_t st, const cx_msg_t *a)
{
    char *who = arg;
    if (st != CX_ANSWERED || a->result_code != DIAMETER_SUCCESS)
        log_warn("registrar: SAR for %s: %s", who,
                 a ? cx_result_name(a->result_code, a->experimental_result) : "no answer");
    free(who);
}

void reg_req_sar_detached(scscf_t *s, const char *impi, const char *impu, int sat, const char *hss)
{
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_SAR);
    cx_msg_set(&m.user_name, impi);
    cx_msg_add_public(&m, impu);
    cx_msg_set(&m.server_name, s->server_name);
    m.server_assignment_type = sat;
    m.user_data_already_available = 0;
    if (hss && *hss)
        cx_msg_set(&m.destination_host, hss);
    char *who = strdup(impi);
    if (who && !cx_client_send(s->cx.client, &m, detached_done, who))
        free(who);
    cx_msg_clear(&m);
}
