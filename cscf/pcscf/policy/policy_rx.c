/* The Rx back end (policy_rx.h, TS 29.214). freeDiameter is started from the `policy.rx.*`
 * keys (diameter/fd_setup.c); Debian's dict_dcca_3gpp defines the Rx AVPs and dict_nasreq the
 * AA-Request/Answer; we add the Rx application itself (policy_rx_dict below) and advertise it.
 *
 * Threads: everything but the freeDiameter callbacks runs on the loop. A callback only decodes
 * what it needs (Result-Code, Session-Id) and posts an rx_event_t to the loop queue; the loop
 * finds the policy session by its id (it may have gone meanwhile) and acts. RAR and ASR are
 * answered from the loop, so the answer says whether the session is known. */
#include "common/util/clock.h"
#include "cscf/pcscf/policy/policy_rx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include "common/ops/loopq.h"
#include "common/util/log.h"
#include "common/util/strmap.h"

/* TS 29.214 5.3.16 Specific-Action values we subscribe to in the first AAR. */
enum {
    SA_LOSS_OF_BEARER = 2,
    SA_RECOVERY_OF_BEARER = 3,
    SA_RELEASE_OF_BEARER = 4,
    SA_SUCCESSFUL_RESOURCES_ALLOCATION = 8,
    SA_FAILED_RESOURCES_ALLOCATION = 9,
};
#define SUBSCRIPTION_ID_SIP_URI     2 /* Subscription-Id-Type END_USER_SIP_URI (RFC 4006 8.47) */
#define TERMINATION_LOGOUT          1 /* Termination-Cause DIAMETER_LOGOUT */
#define RX_REQUEST_INITIAL          0
#define RX_REQUEST_UPDATE           1
#define SERVICE_INFO_FINAL          0
#define SERVICE_INFO_PRELIMINARY    1
#define AUTH_REQUEST_AUTHORIZE_ONLY 2

/* The dictionary objects we use, by name (policy_rx_dict). */
enum {
    D_SESSION_ID,
    D_AUTH_APP_ID,
    D_DEST_REALM,
    D_DEST_HOST,
    D_RESULT_CODE,
    D_EXP_RESULT,
    D_EXP_RESULT_CODE,
    D_AF_APP_ID,
    D_MCD,
    D_MC_NUMBER,
    D_MSC,
    D_FLOW_NUMBER,
    D_FLOW_DESC,
    D_FLOW_USAGE,
    D_FLOW_STATUS,
    D_MEDIA_TYPE,
    D_CODEC_DATA,
    D_MAX_BW_UL,
    D_MAX_BW_DL,
    D_RR_BW,
    D_RS_BW,
    D_FRAMED_IP,
    D_AF_CHARGING_ID,
    D_SUBSCRIPTION_ID,
    D_SUBSCRIPTION_ID_TYPE,
    D_SUBSCRIPTION_ID_DATA,
    D_SPECIFIC_ACTION,
    D_RX_REQUEST_TYPE,
    D_SERVICE_INFO_STATUS,
    D_TERMINATION_CAUSE,
    D_ABORT_CAUSE,
    D_AUTH_REQUEST_TYPE,
    D_N
};

static const char *const avp_names[D_N] = {
    [D_SESSION_ID] = "Session-Id",
    [D_AUTH_APP_ID] = "Auth-Application-Id",
    [D_DEST_REALM] = "Destination-Realm",
    [D_DEST_HOST] = "Destination-Host",
    [D_RESULT_CODE] = "Result-Code",
    [D_EXP_RESULT] = "Experimental-Result",
    [D_EXP_RESULT_CODE] = "Experimental-Result-Code",
    [D_AF_APP_ID] = "AF-Application-Identifier",
    [D_MCD] = "Media-Component-Description",
    [D_MC_NUMBER] = "Media-Component-Number",
    [D_MSC] = "Media-Sub-Component",
    [D_FLOW_NUMBER] = "Flow-Number",
    [D_FLOW_DESC] = "Flow-Description",
    [D_FLOW_USAGE] = "Flow-Usage",
    [D_FLOW_STATUS] = "Flow-Status",
    [D_MEDIA_TYPE] = "Media-Type",
    [D_CODEC_DATA] = "Codec-Data",
    [D_MAX_BW_UL] = "Max-Requested-Bandwidth-UL",
    [D_MAX_BW_DL] = "Max-Requested-Bandwidth-DL",
    [D_RR_BW] = "RR-Bandwidth",
    [D_RS_BW] = "RS-Bandwidth",
    [D_FRAMED_IP] = "Framed-IP-Address",
    [D_AF_CHARGING_ID] = "AF-Charging-Identifier",
    [D_SUBSCRIPTION_ID] = "Subscription-Id",
    [D_SUBSCRIPTION_ID_TYPE] = "Subscription-Id-Type",
    [D_SUBSCRIPTION_ID_DATA] = "Subscription-Id-Data",
    [D_SPECIFIC_ACTION] = "Specific-Action",
    [D_RX_REQUEST_TYPE] = "Rx-Request-Type",
    [D_SERVICE_INFO_STATUS] = "Service-Info-Status",
    [D_TERMINATION_CAUSE] = "Termination-Cause",
    [D_ABORT_CAUSE] = "Abort-Cause",
    [D_AUTH_REQUEST_TYPE] = "Auth-Request-Type",
};

typedef struct rx {
    policy_t *pol;
    program_t *p;
    struct dict_object *app, *vendor, *cmd_aar, *cmd_str, *cmd_asr, *cmd_rar;
    struct dict_object *avp[D_N];
    struct disp_hdl *h_asr, *h_rar;
    char dest_realm[256], dest_host[256];
    strmap_t *by_sid; /* Session-Id -> policy_session_t (loop) */
    unsigned long long sid_seq;
    int started;
} rx_t;

/* freeDiameter is one per process, and so is this back end: the callbacks on its threads and
 * the queued loop work find it here (NULL once it is gone, so late work is dropped). */
static rx_t *g_rx;

typedef struct rx_sess {
    char sid[256];
    int granted;  /* an AAA said DIAMETER_SUCCESS: the PCRF holds the session, STR at the end */
    int sent;     /* an AAR went: an STR ends it at the PCRF even when its AAA has not come */
    unsigned aar; /* the number of the last AAR sent: an AAA to an earlier one is stale */
} rx_sess_t;

typedef enum { EV_AAA, EV_ASR, EV_RAR } ev_kind_t;

typedef struct rx_event {
    ev_kind_t kind;
    uint64_t sess;   /* EV_AAA: the policy session */
    unsigned aar;    /* EV_AAA: which AAR of it (rx_sess_t.aar) */
    uint32_t result; /* EV_AAA: Result-Code / Experimental-Result-Code; 0: no answer */
    char sid[256];   /* EV_ASR / EV_RAR */
    struct msg *req; /* EV_ASR / EV_RAR: the request, answered on the loop */
} rx_event_t;

/* ---- dictionary ---- */

static int policy_rx_dict(void *ctx)
{
    rx_t *rx = ctx;
    struct dictionary *d = fd_g_config->cnf_dict;
    vendor_id_t vid = RX_VENDOR;
    if (fd_dict_search(d, DICT_VENDOR, VENDOR_BY_ID, &vid, &rx->vendor, ENOENT)) {
        log_error("policy.rx: vendor 3GPP is not in the dictionary (dict_dcca_3gpp)");
        return -1;
    }
    application_id_t aid = RX_APP_ID;
    if (fd_dict_search(d, DICT_APPLICATION, APPLICATION_BY_ID, &aid, &rx->app, ENOENT)) {
        struct dict_application_data data = {RX_APP_ID, "3GPP Rx"};
        if (fd_dict_new(d, DICT_APPLICATION, &data, rx->vendor, &rx->app)) {
            log_error("policy.rx: cannot add the Rx application to the dictionary");
            return -1;
        }
    }
    static const struct {
        const char *name;
        size_t off;
    } cmds[] = {
        {"AA-Request", offsetof(rx_t, cmd_aar)},
        {"Session-Termination-Request", offsetof(rx_t, cmd_str)},
        {"Abort-Session-Request", offsetof(rx_t, cmd_asr)},
        {"Re-Auth-Request", offsetof(rx_t, cmd_rar)},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        struct dict_object **slot = (struct dict_object **)((char *)rx + cmds[i].off);
        if (fd_dict_search(d, DICT_COMMAND, CMD_BY_NAME, cmds[i].name, slot, ENOENT)) {
            log_error("policy.rx: command %s is not in the dictionary", cmds[i].name);
            return -1;
        }
    }
    for (int i = 0; i < D_N; i++) {
        if (fd_dict_search(d, DICT_AVP, AVP_BY_NAME_ALL_VENDORS, avp_names[i], &rx->avp[i],
                           ENOENT)) {
            log_error("policy.rx: AVP %s is not in the dictionary", avp_names[i]);
            return -1;
        }
    }
    return fd_disp_app_support(rx->app, rx->vendor, 1, 0) ? -1 : 0;
}

/* ---- building ---- */

static int add_avp(msg_or_avp *parent, struct dict_object *d, union avp_value *v, struct avp **out)
{
    struct avp *a = NULL;
    if (fd_msg_avp_new(d, 0, &a))
        return -1;
    if (v && fd_msg_avp_setvalue(a, v)) {
        fd_msg_free((msg_or_avp *)a);
        return -1;
    }
    if (fd_msg_avp_add(parent, MSG_BRW_LAST_CHILD, a)) {
        fd_msg_free((msg_or_avp *)a);
        return -1;
    }
    if (out)
        *out = a;
    return 0;
}

static int add_os(msg_or_avp *parent, int which, const void *data, size_t len)
{
    union avp_value v = {.os = {(uint8_t *)data, len}};
    return add_avp(parent, g_rx->avp[which], &v, NULL);
}

static int add_str(msg_or_avp *parent, int which, const char *s)
{
    return add_os(parent, which, s, strlen(s));
}

/* An Unsigned32 or an Enumerated (Integer32) AVP, whichever the dictionary says. */
static int add_num(msg_or_avp *parent, int which, uint32_t n)
{
    struct dict_avp_data info;
    union avp_value v;
    memset(&v, 0, sizeof v);
    if (fd_dict_getval(g_rx->avp[which], &info))
        return -1;
    if (info.avp_basetype == AVP_TYPE_INTEGER32)
        v.i32 = (int32_t)n;
    else
        v.u32 = n;
    return add_avp(parent, g_rx->avp[which], &v, NULL);
}

static struct avp *add_group(msg_or_avp *parent, int which)
{
    struct avp *g = NULL;
    return add_avp(parent, g_rx->avp[which], NULL, &g) == 0 ? g : NULL;
}

/* Session-Id first (RFC 6733 8.8), then the routing AVPs every Rx request carries. */
static struct msg *new_request(rx_t *rx, struct dict_object *cmd, const char *sid)
{
    struct msg *m = NULL;
    struct msg_hdr *h = NULL;
    if (fd_msg_new(cmd, MSGFL_ALLOC_ETEID, &m) || fd_msg_hdr(m, &h))
        return NULL;
    h->msg_appl = RX_APP_ID;
    if (add_str(m, D_SESSION_ID, sid) || fd_msg_add_origin(m, 0) ||
        add_str(m, D_DEST_REALM, rx->dest_realm) ||
        (*rx->dest_host && add_str(m, D_DEST_HOST, rx->dest_host)) ||
        add_num(m, D_AUTH_APP_ID, RX_APP_ID)) {
        fd_msg_free(m);
        return NULL;
    }
    return m;
}

static int add_component(struct msg *m, const policy_media_t *pm)
{
    struct avp *mcd = add_group(m, D_MCD);
    if (!mcd || add_num(mcd, D_MC_NUMBER, pm->number))
        return -1;
    rx_flow_t flows[2];
    size_t n = rx_flows(pm, flows);
    for (size_t i = 0; i < n; i++) {
        struct avp *msc = add_group(mcd, D_MSC);
        if (!msc || add_num(msc, D_FLOW_NUMBER, flows[i].number) ||
            add_str(msc, D_FLOW_DESC, flows[i].uplink) ||
            add_str(msc, D_FLOW_DESC, flows[i].downlink) ||
            add_num(msc, D_FLOW_USAGE, (uint32_t)flows[i].usage))
            return -1;
    }
    int type = rx_media_type(pm->type);
    if (add_num(mcd, D_MEDIA_TYPE, type < 0 ? 0xFFFFFFFFu : (uint32_t)type))
        return -1;
    /* b=AS is kbit/s; the Max-Requested-Bandwidth AVPs are bit/s (TS 29.213 6.3). */
    if (pm->bw_as_kbps && (add_num(mcd, D_MAX_BW_UL, pm->bw_as_kbps * 1000u) ||
                           add_num(mcd, D_MAX_BW_DL, pm->bw_as_kbps * 1000u)))
        return -1;
    if (add_num(mcd, D_FLOW_STATUS, (uint32_t)rx_flow_status(pm)))
        return -1;
    if (pm->bw_rr && add_num(mcd, D_RR_BW, pm->bw_rr))
        return -1;
    if (pm->bw_rs && add_num(mcd, D_RS_BW, pm->bw_rs))
        return -1;
    if (*pm->codec_offer && add_str(mcd, D_CODEC_DATA, pm->codec_offer))
        return -1;
    if (*pm->codec_answer && add_str(mcd, D_CODEC_DATA, pm->codec_answer))
        return -1;
    return 0;
}

static struct msg *build_aar(rx_t *rx, const rx_sess_t *rs, const policy_desc_t *d, int initial)
{
    struct msg *m = new_request(rx, rx->cmd_aar, rs->sid);
    if (!m)
        return NULL;
    /* Auth-Request-Type AUTHORIZE_ONLY: not in TS 29.214's AAR, which allows any AVP (*[AVP]);
     * freeDiameter's AA-Request is dict_nasreq's, whose rule makes it mandatory, so a
     * freeDiameter-based PCRF (ours, Open5GS's) refuses an AAR without it (5005). */
    int rc = add_num(m, D_AUTH_REQUEST_TYPE, AUTH_REQUEST_AUTHORIZE_ONLY) ||
             add_str(m, D_AF_APP_ID, "IMS Services");
    for (size_t i = 0; rc == 0 && i < d->n_media; i++)
        rc = add_component(m, &d->media[i]);
    if (rc == 0 && *d->icid)
        rc = add_str(m, D_AF_CHARGING_ID, d->icid);
    if (rc == 0 && initial) {
        static const uint32_t actions[] = {SA_LOSS_OF_BEARER, SA_RECOVERY_OF_BEARER,
                                           SA_RELEASE_OF_BEARER, SA_SUCCESSFUL_RESOURCES_ALLOCATION,
                                           SA_FAILED_RESOURCES_ALLOCATION};
        for (size_t i = 0; rc == 0 && i < sizeof actions / sizeof actions[0]; i++)
            rc = add_num(m, D_SPECIFIC_ACTION, actions[i]);
    }
    if (rc == 0 && *d->impu) {
        struct avp *sub = add_group(m, D_SUBSCRIPTION_ID);
        rc = !sub || add_num(sub, D_SUBSCRIPTION_ID_TYPE, SUBSCRIPTION_ID_SIP_URI) ||
             add_str(sub, D_SUBSCRIPTION_ID_DATA, d->impu);
    }
    struct in_addr v4;
    if (rc == 0 && inet_pton(AF_INET, d->ue_ip, &v4) == 1) /* IPv6: Framed-IPv6-Prefix (notes) */
        rc = add_os(m, D_FRAMED_IP, &v4, 4);
    if (rc == 0)
        rc = add_num(m, D_SERVICE_INFO_STATUS,
                     d->answered ? SERVICE_INFO_FINAL : SERVICE_INFO_PRELIMINARY);
    if (rc == 0)
        rc = add_num(m, D_RX_REQUEST_TYPE, initial ? RX_REQUEST_INITIAL : RX_REQUEST_UPDATE);
    if (rc) {
        fd_msg_free(m);
        return NULL;
    }
    return m;
}

/* ---- answers: freeDiameter thread -> loop ---- */

static uint32_t result_of(struct msg *ans)
{
    struct avp *a = NULL;
    struct avp_hdr *h = NULL;
    if (fd_msg_search_avp(ans, g_rx->avp[D_RESULT_CODE], &a) == 0 && a &&
        fd_msg_avp_hdr(a, &h) == 0 && h->avp_value)
        return h->avp_value->u32;
    /* Experimental-Result { Vendor-Id, Experimental-Result-Code (298) } */
    if (fd_msg_search_avp(ans, g_rx->avp[D_EXP_RESULT], &a) != 0 || !a)
        return 0;
    struct avp *child = NULL;
    if (fd_msg_browse(a, MSG_BRW_FIRST_CHILD, &child, NULL))
        return 0;
    for (; child; fd_msg_browse(child, MSG_BRW_NEXT, &child, NULL))
        if (fd_msg_avp_hdr(child, &h) == 0 && h->avp_code == 298 && h->avp_value)
            return h->avp_value->u32;
    return 0;
}

static void on_loop(void *arg);

static void post(rx_event_t *ev)
{
    program_t *p = g_rx ? g_rx->p : NULL;
    if (!p || loopq_post(p->queue, on_loop, ev) < 0) {
        if (ev->req)
            fd_msg_free(ev->req);
        free(ev);
    }
}

static void on_aaa(void *data, struct msg **answer)
{
    rx_event_t *ev = data;
    ev->result = result_of(*answer);
    fd_msg_free(*answer);
    *answer = NULL;
    post(ev);
}

static void on_aar_expire(void *data, DiamId_t sentto, size_t len, struct msg **request)
{
    (void)sentto;
    (void)len;
    rx_event_t *ev = data;
    ev->result = 0;
    fd_msg_free(*request);
    *request = NULL;
    post(ev);
}

/* STA: only counted (metrics are for any thread; the policy outlives freeDiameter). */
static void on_sta(void *data, struct msg **answer)
{
    (void)data;
    uint32_t rc = result_of(*answer);
    if (g_rx)
        policy_count_request(g_rx->pol, "release", rc == ER_DIAMETER_SUCCESS ? "ok" : "refused");
    fd_msg_free(*answer);
    *answer = NULL;
}

static void on_str_expire(void *data, DiamId_t sentto, size_t len, struct msg **request)
{
    (void)data;
    (void)sentto;
    (void)len;
    if (g_rx)
        policy_count_request(g_rx->pol, "release", "timeout");
    fd_msg_free(*request);
    *request = NULL;
}

static const char *session_id_of(struct msg *m, char *out, size_t len)
{
    struct avp *a = NULL;
    struct avp_hdr *h = NULL;
    out[0] = '\0';
    if (fd_msg_search_avp(m, g_rx->avp[D_SESSION_ID], &a) == 0 && a && fd_msg_avp_hdr(a, &h) == 0 &&
        h->avp_value)
        snprintf(out, len, "%.*s", (int)h->avp_value->os.len, (const char *)h->avp_value->os.data);
    return out;
}

/* RAR / ASR from the PCRF (freeDiameter thread): to the loop, which answers. */
static int on_request(struct msg **msg, struct avp *avp, struct session *sess, void *data,
                      enum disp_action *act)
{
    (void)avp;
    (void)sess;
    *act = DISP_ACT_CONT;
    rx_event_t *ev = calloc(1, sizeof *ev);
    if (!ev || !g_rx)
        return ENOMEM;
    ev->kind = (ev_kind_t)(intptr_t)data;
    session_id_of(*msg, ev->sid, sizeof ev->sid);
    ev->req = *msg;
    *msg = NULL;
    post(ev);
    return 0;
}

/* ---- on the loop ---- */

static void answer_request(struct msg *req, uint32_t code)
{
    struct msg *m = req;
    if (fd_msg_new_answer_from_req(fd_g_config->cnf_dict, &m, 0) ||
        fd_msg_rescode_set(
            m, code == ER_DIAMETER_SUCCESS ? "DIAMETER_SUCCESS" : "DIAMETER_UNKNOWN_SESSION_ID",
            NULL, NULL, 1) ||
        fd_msg_send(&m, NULL, NULL)) {
        log_warn("policy.rx: could not send an answer");
        if (m)
            fd_msg_free(m);
    }
}

static void on_loop(void *arg)
{
    rx_event_t *ev = arg;
    rx_t *rx = g_rx;
    if (!rx) {
        if (ev->req)
            fd_msg_free(ev->req);
        free(ev);
        return;
    }
    if (ev->kind == EV_AAA) {
        policy_session_t *s = policy_session_by_id(rx->pol, ev->sess);
        rx_sess_t *rs = s ? policy_session_data(s) : NULL;
        int ok = ev->result == ER_DIAMETER_SUCCESS;
        if (rs && ev->aar != rs->aar) { /* a newer AAR is in flight: its answer decides */
            log_info("policy.rx: AAA %u to an earlier AAR, ignored", ev->result);
            free(ev);
            return;
        }
        log_info("policy.rx: AAA %u%s", ev->result, s ? "" : " for a session gone meanwhile");
        if (rs && ok)
            rs->granted = 1;
        if (s)
            policy_done(s, ok);
        free(ev);
        return;
    }
    policy_session_t *s = strmap_get(rx->by_sid, ev->sid);
    const char *kind = ev->kind == EV_ASR ? "asr" : "rar";
    policy_count_notification(rx->pol, kind);
    log_info("policy.rx: %s for %s%s", ev->kind == EV_ASR ? "ASR" : "RAR", ev->sid,
             s ? "" : " (unknown session)");
    answer_request(ev->req, s ? ER_DIAMETER_SUCCESS : ER_DIAMETER_UNKNOWN_SESSION_ID);
    free(ev);
    /* ASR (TS 29.214 4.4.4): the bearer is gone; the AF ends the session and then sends STR
     * (release, below). A RAR's Specific-Action is only counted and logged (notes). */
    if (s && kind[0] == 'a')
        policy_session_lost(s);
}

static int send_aar(rx_t *rx, policy_session_t *s, const policy_desc_t *d, int initial)
{
    rx_sess_t *rs = policy_session_data(s);
    if (!rs) {
        if (!(rs = calloc(1, sizeof *rs)))
            return -1;
        snprintf(rs->sid, sizeof rs->sid, "%s;%lld;%llu;rx", fd_g_config->cnf_diamid,
                 (long long)time(NULL), ++rx->sid_seq);
        if (strmap_put(rx->by_sid, rs->sid, s, NULL) < 0) {
            free(rs);
            return -1;
        }
        policy_session_set_data(s, rs);
    }
    struct msg *m = build_aar(rx, rs, d, initial);
    rx_event_t *ev = m ? calloc(1, sizeof *ev) : NULL;
    if (!ev) {
        log_error("policy.rx: cannot build the AAR");
        if (m)
            fd_msg_free(m);
        return -1;
    }
    ev->kind = EV_AAA;
    ev->sess = policy_session_id(s);
    ev->aar = ++rs->aar;
    /* freeDiameter's own expiry a second after ours (policy.c counts the timeout first) */
    struct timespec ts = clock_realtime_after_ms(policy_timeout_ms(rx->pol) + 1000);
    if (fd_msg_send_timeout(&m, on_aaa, ev, on_aar_expire, &ts) != 0) {
        log_warn("policy.rx: freeDiameter refused the AAR");
        if (m)
            fd_msg_free(m);
        free(ev);
        return -1;
    }
    rs->sent = 1;
    log_info("policy.rx: AAR (%s) for %s, %zu media component(s)", initial ? "initial" : "update",
             d->call_id, d->n_media);
    return 0;
}

static int rx_open(void *be, policy_session_t *s, const policy_desc_t *d)
{
    return send_aar(be, s, d, 1);
}

static int rx_update(void *be, policy_session_t *s, const policy_desc_t *d)
{
    rx_sess_t *rs = policy_session_data(s);
    return send_aar(be, s, d, !rs || !rs->sent);
}

static void rx_release(void *be, policy_session_t *s)
{
    rx_t *rx = be;
    rx_sess_t *rs = policy_session_data(s);
    if (!rs)
        return;
    policy_session_set_data(s, NULL);
    if (strmap_get(rx->by_sid, rs->sid) == s)
        strmap_take(rx->by_sid, rs->sid);
    /* TS 29.214 4.4.4: STR ends the AF session at the PCRF, once an AAR went. */
    struct msg *m = rs->sent ? new_request(rx, rx->cmd_str, rs->sid) : NULL;
    if (m && add_num(m, D_TERMINATION_CAUSE, TERMINATION_LOGOUT) == 0) {
        struct timespec ts = clock_realtime_after_ms(policy_timeout_ms(rx->pol) + 1000);
        if (fd_msg_send_timeout(&m, on_sta, NULL, on_str_expire, &ts) != 0)
            log_warn("policy.rx: freeDiameter refused the STR");
        else
            log_info("policy.rx: STR for %s", rs->sid);
    }
    if (m)
        fd_msg_free(m);
    free(rs);
}

static void rx_free(void *be)
{
    rx_t *rx = be;
    if (rx->started)
        fd_setup_stop(); /* no freeDiameter callback runs after this */
    g_rx = NULL;
    strmap_free(rx->by_sid, NULL);
    free(rx);
}

int policy_rx_new(program_t *p, policy_t *pol, policy_backend_t *out, char *err, size_t errlen)
{
    if (g_rx) {
        snprintf(err, errlen, "policy.rx: started twice");
        return -1;
    }
    rx_t *rx = calloc(1, sizeof *rx);
    if (!rx || !(rx->by_sid = strmap_new())) {
        free(rx);
        snprintf(err, errlen, "policy.rx: out of memory");
        return -1;
    }
    rx->pol = pol;
    rx->p = p;
    g_rx = rx;
    const char *realm = cfg_str(p->cfg, "policy.rx.destination_realm");
    snprintf(rx->dest_realm, sizeof rx->dest_realm, "%s",
             realm && *realm ? realm : cfg_str(p->cfg, "policy.rx.realm"));
    const char *host = cfg_str(p->cfg, "policy.rx.destination_host");
    const char *const *peers;
    if (host && *host)
        snprintf(rx->dest_host, sizeof rx->dest_host, "%s", host);
    else if (cfg_list(p->cfg, "policy.rx.peers", &peers) > 0)
        snprintf(rx->dest_host, sizeof rx->dest_host, "%.*s", (int)strcspn(peers[0], "@"),
                 peers[0]);
    if (fd_setup_start_with(p->cfg, "policy.rx", policy_rx_dict, rx, err, errlen) < 0) {
        rx_free(rx);
        return -1;
    }
    rx->started = 1;
    struct disp_when when = {.app = rx->app, .command = rx->cmd_asr};
    if (fd_disp_register(on_request, DISP_HOW_CC, &when, (void *)(intptr_t)EV_ASR, &rx->h_asr)) {
        snprintf(err, errlen, "policy.rx: cannot take ASR");
        rx_free(rx);
        return -1;
    }
    when.command = rx->cmd_rar;
    if (fd_disp_register(on_request, DISP_HOW_CC, &when, (void *)(intptr_t)EV_RAR, &rx->h_rar)) {
        snprintf(err, errlen, "policy.rx: cannot take RAR");
        rx_free(rx);
        return -1;
    }
    *out = (policy_backend_t){.name = "rx",
                              .open = rx_open,
                              .update = rx_update,
                              .release = rx_release,
                              .free = rx_free,
                              .be = rx};
    log_info("policy.rx: AF %s towards realm %s%s%s", fd_setup_identity(), rx->dest_realm,
             *rx->dest_host ? ", host " : "", rx->dest_host);
    return 0;
}
