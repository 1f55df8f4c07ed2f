#include "cscf/scscf/routing/thirdparty.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/hex.h"
#include "common/util/log.h"
#include "common/ops/metrics.h"
#include "common/sip/sip_dialog.h"
#include "cscf/scscf/routing/ifc.h"
#include "cscf/scscf/routing/isc.h"
#include "cscf/scscf/core/context.h"
#include "cscf/scscf/registration/reg_admin.h"

#define BODY_MAX (64 * 1024)

typedef struct tpr_target {
    char *as, *service_info;
    int default_handling, include_request, include_response;
} tpr_target_t;

struct tpr_batch {
    char impu[256];
    char *request; /* the UE's REGISTER as text, when some AS wants it */
    tpr_target_t t[IFC_MAX_IFCS];
    size_t n;
};

/* One third-party REGISTER on its way. */
typedef struct tpr_sent {
    struct tpr_sent *next, **prev;
    thirdparty_t *owner;
    sip_out_t *out; /* NULL once answered */
    char impu[256], as[256];
    int default_handling;
} tpr_sent_t;

struct thirdparty {
    scscf_t *s;
    tpr_sent_t *open;
    metric_t *m;
};

thirdparty_t *thirdparty_new(scscf_t *s)
{
    thirdparty_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->s = s;
    t->m = metrics_counter(s->p->metrics, "cscf_third_party_registers_total",
                           "third-party REGISTERs to application servers, by outcome "
                           "(success, failure, deregistered: the AS failed with "
                           "SESSION_TERMINATED)",
                           "outcome");
    return t;
}

static void sent_free(tpr_sent_t *x)
{
    *x->prev = x->next;
    if (x->next)
        x->next->prev = x->prev;
    sip_out_cancel(x->out);
    free(x);
}

void thirdparty_free(thirdparty_t *t)
{
    if (!t)
        return;
    while (t->open)
        sent_free(t->open);
    free(t);
}

static void batch_free(tpr_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->t[i].as);
        free(b->t[i].service_info);
    }
    free(b->request);
    free(b);
}

static char *text_of(msg_t *msg)
{
    size_t len = 0;
    char *s = msg ? msg_as_string(NULL, msg, NULL, 0, &len) : NULL;
    if (s && len > BODY_MAX / 2) {
        free(s); /* not worth a REGISTER of that size to an AS */
        return NULL;
    }
    return s;
}

static int add_target(tpr_batch_t *b, const ifc_as_t *as)
{
    tpr_target_t *t = &b->t[b->n];
    memset(t, 0, sizeof *t);
    t->as = strdup(as->server_name);
    t->service_info = as->service_info ? strdup(as->service_info) : NULL;
    if (!t->as || (as->service_info && !t->service_info)) {
        free(t->as);
        free(t->service_info);
        return -1;
    }
    t->default_handling = as->default_handling;
    t->include_request = as->include_register_request;
    t->include_response = as->include_register_response;
    b->n++;
    return 0;
}

tpr_batch_t *thirdparty_prepare(scscf_t *s, const store_reg_t *reg, const char *impu,
                                sip_t const *sip, msg_t *msg)
{
    const ifc_list_t *l = reg ? isc_ifcs(s->isc, reg) : NULL;
    int i = l ? ifc_next_match(l, 0, IFC_ORIG, sip) : -1;
    if (i < 0)
        return NULL;
    tpr_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    snprintf(b->impu, sizeof b->impu, "%s", impu);
    int want_request = 0;
    for (; i >= 0 && b->n < IFC_MAX_IFCS; i = ifc_next_match(l, (size_t)i + 1, IFC_ORIG, sip)) {
        const ifc_as_t *as = ifc_get_as(l, (size_t)i);
        if (add_target(b, as) < 0)
            break;
        want_request |= as->include_register_request;
    }
    if (want_request)
        b->request = text_of(msg);
    return b;
}

/* ---- the body: message/sip parts and the ServiceInfo (TS 24.229 7.6, 7.9A) ---- */

static void xml_escaped(char *out, size_t *n, size_t max, const char *s)
{
    for (; *s && *n + 6 < max; s++) {
        const char *e = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" : NULL;
        size_t l = e ? strlen(e) : 1;
        memcpy(out + *n, e ? e : s, l);
        *n += l;
    }
    out[*n] = '\0';
}

typedef struct part {
    const char *type, *text;
} part_t;

/* One part as is, several as multipart/mixed. Returns the body length, or 0 when none. */
static size_t make_body(char *out, size_t max, const part_t *p, size_t np, char *ctype,
                        size_t ctlen)
{
    if (np == 1) {
        snprintf(ctype, ctlen, "%s", p[0].type);
        return (size_t)snprintf(out, max, "%s", p[0].text);
    }
    char boundary[24] = "tpr";
    hex_random(boundary + 3, 8);
    snprintf(ctype, ctlen, "multipart/mixed;boundary=%s", boundary);
    size_t n = 0;
    for (size_t i = 0; i < np && n < max; i++)
        n += (size_t)snprintf(out + n, max - n, "--%s\r\nContent-Type: %s\r\n\r\n%s\r\n", boundary,
                              p[i].type, p[i].text);
    if (n < max)
        n += (size_t)snprintf(out + n, max - n, "--%s--\r\n", boundary);
    return n < max ? n : 0;
}

static size_t body_for(const tpr_batch_t *b, const tpr_target_t *t, const char *response, char *out,
                       size_t max, char *ctype, size_t ctlen)
{
    part_t p[3];
    size_t np = 0;
    char info[2048];
    if (t->include_request && b->request)
        p[np++] = (part_t){"message/sip", b->request};
    if (t->include_response && response)
        p[np++] = (part_t){"message/sip", response};
    if (t->service_info) {
        size_t n = (size_t)snprintf(info, sizeof info,
                                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                                    "<ims-3gpp version=\"1\"><service-info>");
        xml_escaped(info, &n, sizeof info - 40, t->service_info);
        snprintf(info + n, sizeof info - n, "</service-info></ims-3gpp>\r\n");
        p[np++] = (part_t){"application/3gpp-ims+xml", info};
    }
    return np ? make_body(out, max, p, np, ctype, ctlen) : 0;
}

/* ---- sending ---- */

static void on_answer(void *arg, int status, sip_t const *sip)
{
    tpr_sent_t *x = arg;
    thirdparty_t *t = x->owner;
    x->out = NULL; /* the wrapper drops it after this */
    if (status < 300) {
        metric_inc(t->m, "success");
    } else if ((status == 408 || status >= 500) && x->default_handling == 1) {
        log_warn("scscf: third-party REGISTER to %s for %s failed (%d); SESSION_TERMINATED: "
                 "deregistering",
                 x->as, x->impu, status);
        metric_inc(t->m, "deregistered");
        reg_admin_deregister(t->s, x->impu, "application server failed");
    } else {
        log_info("scscf: third-party REGISTER to %s for %s: %d", x->as, x->impu, status);
        metric_inc(t->m, "failure");
    }
    sent_free(x);
}

/* From and Contact this S-CSCF, To the IMPU, Request-URI the AS (TS 24.229 5.4.1.7). */
static sip_out_t *send_request(scscf_t *s, const tpr_batch_t *b, const tpr_target_t *t,
                               const char *response, long expires, tpr_sent_t *x)
{
    char *body = malloc(BODY_MAX), ctype[80] = "", exp[24];
    if (!body)
        return NULL;
    size_t blen = body_for(b, t, response, body, BODY_MAX, ctype, sizeof ctype);
    snprintf(exp, sizeof exp, "%ld", expires);
    sip_dialog_headers_t h = {.expires = exp,
                              .contact = s->server_name,
                              .content_type = blen ? ctype : NULL,
                              .body = blen ? body : NULL};
    sip_out_t *o =
        sip_request_send(s->p->sip, "REGISTER", t->as, s->server_name, b->impu, &h, on_answer, x);
    free(body);
    return o;
}

static void send_one(scscf_t *s, const tpr_batch_t *b, const tpr_target_t *t, const char *response,
                     long expires)
{
    thirdparty_t *tp = s->thirdparty;
    tpr_sent_t *x = calloc(1, sizeof *x);
    if (!x) {
        metric_inc(tp->m, "failure");
        return;
    }
    x->owner = tp;
    x->default_handling = t->default_handling;
    snprintf(x->impu, sizeof x->impu, "%s", b->impu);
    snprintf(x->as, sizeof x->as, "%s", t->as);
    x->next = tp->open;
    if (x->next)
        x->next->prev = &x->next;
    x->prev = &tp->open;
    tp->open = x;
    x->out = send_request(s, b, t, response, expires, x);
    if (!x->out) {
        log_warn("scscf: cannot send the third-party REGISTER to %s", t->as);
        metric_inc(tp->m, "failure");
        sent_free(x);
    }
}

void thirdparty_send(scscf_t *s, tpr_batch_t *b, const char *response, long expires)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        send_one(s, b, &b->t[i], response, expires);
    batch_free(b);
}
