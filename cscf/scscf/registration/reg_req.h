/* One REGISTER in progress (the registrar authenticates it, the bindings apply it), its reply,
 * and the SARs (TS 29.228 6.1.2) registration sends: the bottom of cscf/scscf/registration,
 * beneath registrar, bindings and reg_admin, so none of them calls back into another. */
#ifndef CSCF_SCSCF_REG_REQ_H
#define CSCF_SCSCF_REG_REQ_H

#include <stdint.h>

#include <sofia-sip/sip.h>

#include "common/auth/sip_digest.h"
#include "common/sip/sip_core.h"
#include "common/store/store.h"
#include "cscf/scscf/core/auth.h"
#include "cscf/scscf/core/context.h"
#include "diameter/cx_msg.h"

typedef struct reg_req {
    scscf_t *s;
    sip_incoming_t *irq;
    msg_t *msg;
    sip_t const *sip;
    char impu[256], impi[256];
    digest_creds_t cr;
    int has_creds;
    auth_scheme_t scheme;
    int failures;
    int existed;         /* the store held a registration before this REGISTER */
    store_reg_t *reg;    /* what the store held before, or NULL */
    store_reg_t *before; /* a copy of reg before this REGISTER changed it, for reg event */
    char *profile;       /* User-Data from the SAA, applied again when a put is retried */
    int profile_kept;    /* profile is the record's own (the SAA had none): only for a retry
                          * that finds the record gone */
    int tries;           /* store writes tried (a conflict re-reads and tries again) */
    char **response_out; /* when set, reg_req_reply leaves the response's text here */
    uint64_t cx_id;
    char hss[256]; /* the HSS this registration's SAR goes to (Destination-Host): the one that
                    * answered its MAR or, unchallenged, its last SAR; "" when not known */
} reg_req_t;

/* What a REGISTER's 200 reports to the layer above (the third-party REGISTERs of routing), set
 * by scscf_init in s->reg_hooks: registration reports upward, it never calls up. */
typedef struct reg_req_hooks {
    /* Before the 200 (sip/msg: the UE's REGISTER, released with the reply): what the layer
     * above needs afterwards, or NULL when it has nothing to do. */
    void *(*before_reply)(scscf_t *s, const store_reg_t *reg, const char *impu, sip_t const *sip,
                          msg_t *msg);
    /* After the 200 (response: its text, or NULL), with what before_reply returned. */
    void (*after_reply)(scscf_t *s, void *prepared, const char *response, long expires);
} reg_req_hooks_t;

/* Answers the REGISTER (headers: extra header text or NULL) and frees req. */
void reg_req_reply(reg_req_t *req, int status, const char *phrase, const char *headers);
void reg_req_free(reg_req_t *req);

/* A store call failed (rc STORE_ERROR or STORE_TIMEOUT; what names it for the log): the SIP
 * status a request gets (500, or 504 for a timeout) with *phrase, and in hdr (len bytes) the
 * Retry-After line of store.retry_after. Only the first failure of an outage is logged as a
 * warning (the rest at debug level), so a store that is down does not flood the log. */
int reg_store_failure(scscf_t *s, int rc, const char *what, const char **phrase, char *hdr,
                      size_t len);
/* A store call answered (whatever it found): logs the end of an outage, if there was one. */
void reg_store_ok(scscf_t *s);
/* Answers req for a failed store call (reg_store_failure) and frees it. */
void reg_req_store_failed(reg_req_t *req, int rc, const char *what);

/* A Cx answer (MAA, SAA) as the SIP status the REGISTER gets: 200, or the status with phrase
 * set (TS 29.228 / TS 24.229 5.4.1). */
int reg_req_cx_to_sip(cx_status_t st, const cx_msg_t *a, const char **phrase);

/* SAR of type sat for req's IMPI/IMPU; done(req, SIP status, answer or NULL) continues. */
typedef void (*reg_sar_f)(reg_req_t *req, int status, const cx_msg_t *ans);
int reg_req_sar(reg_req_t *req, int sat, int udaa, reg_sar_f done);
/* A SAR nobody waits for (timeouts, admin, failed authentication), logged when it fails; to
 * the HSS named by hss when not NULL or "". */
void reg_req_sar_detached(scscf_t *s, const char *impi, const char *impu, int sat, const char *hss);

#endif
