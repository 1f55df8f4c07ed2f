/* The S-CSCF registrar (ARCHITECTURE.md section 4, TS 24.229 5.4.1): REGISTER authenticated with
 * vectors from the HSS (MAR), the profile downloaded (SAR), bindings kept in the store.
 * Everything here runs on the loop; each step that waits (store, Cx) continues in a callback. */
#ifndef CSCF_SCSCF_REGISTRAR_H
#define CSCF_SCSCF_REGISTRAR_H

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>

#include "common/sip/sip_core.h"
#include "common/auth/sip_digest.h"
#include "common/store/store.h"
#include "cscf/scscf/core/auth.h"

typedef struct scscf scscf_t;

/* The most registrar.max_contacts may be. The store is sized for it and the registrar enforces
 * the configured cap itself (bindings.c), before the SAR, so a reload that raises or lowers the
 * cap takes effect at the next REGISTER while the store's limit stays the hard bound. */
#define REGISTRAR_CONTACTS_LIMIT 100

typedef struct registrar_config {
    long min_expires, max_expires, default_expires;
    int allow_direct;              /* REGISTER without Path (no P-CSCF) accepted */
    int trust_integrity_protected; /* re-REGISTER marked integrity-protected="yes" not challenged */
    int max_auth_failures;         /* wrong answers re-challenged before 403 */
    long max_contacts;             /* new contacts beyond it get 403; those bound stay */
} registrar_config_t;

/* One REGISTER in progress. */
typedef struct reg_req {
    scscf_t *s;
    nta_incoming_t *irq;
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
    char *profile;       /* User-Data from the SAA */
    char **response_out; /* when set, reg_req_reply leaves the response's text here */
    uint64_t cx_id;
} reg_req_t;

/* What a REGISTER's 200 reports to the layer above (the third-party REGISTERs of routing), set
 * by scscf_init in s->reg_hooks: registration reports upward, it never calls up. */
typedef struct registrar_hooks {
    /* Before the 200 (sip/msg: the UE's REGISTER, released with the reply): what the layer
     * above needs afterwards, or NULL when it has nothing to do. */
    void *(*before_reply)(scscf_t *s, const store_reg_t *reg, const char *impu, sip_t const *sip,
                          msg_t *msg);
    /* After the 200 (response: its text, or NULL), with what before_reply returned. */
    void (*after_reply)(scscf_t *s, void *prepared, const char *response, long expires);
} registrar_hooks_t;

int registrar_init(scscf_t *s);
/* The registrar.* keys registrar_config_t holds (start-up and config reload). */
void registrar_config_read(const cfg_t *cfg, registrar_config_t *rc);
/* -1 with err when they do not fit together (program check: start-up and reload). */
int registrar_config_check(const cfg_t *cfg, char *err, size_t len);
void registrar_fini(scscf_t *s);

/* sip_core handler part: REGISTER. Returns 0 (answered or in progress) or a status. */
int registrar_on_register(scscf_t *s, nta_incoming_t *irq, sip_t const *sip);

/* bindings.c: apply the REGISTER's contacts to req->reg and answer; expiry; RTR; REST. */
void bindings_apply(reg_req_t *req);
void bindings_rtr(scscf_t *s, const char *impi, char *const *impus, size_t nimpus, int reason);
int bindings_rest_routes(scscf_t *s);
/* Network-initiated deregistration of the registration holding impu (reg_admin.c); why is a
 * string constant for the log. */
void registrar_deregister(scscf_t *s, const char *impu, const char *why);
void bindings_tick(scscf_t *s);
/* The registration gauges, from the store (each tick and before a scrape). */
void registrar_publish(scscf_t *s);
/* The HSS's User-Data becomes reg's profile and implicit set (registered IMPU first). 0, or -1
 * when the XML names no identity (reg unchanged). */
int bindings_set_profile(store_reg_t *reg, const char *xml, const char *registered);

/* registrar.c helpers shared with bindings.c */
void reg_req_reply(reg_req_t *req, int status, const char *phrase, const char *headers);
void reg_req_free(reg_req_t *req);
/* SAR of type sat for impi/impu; on_done(req, ok, answer) continues. */
typedef void (*reg_sar_f)(reg_req_t *req, int status, const cx_msg_t *ans);
int registrar_sar(reg_req_t *req, int sat, int udaa, reg_sar_f done);
/* A SAR nobody waits for (timeouts, admin), logged when it fails. */
void registrar_sar_detached(scscf_t *s, const char *impi, const char *impu, int sat);

#endif
