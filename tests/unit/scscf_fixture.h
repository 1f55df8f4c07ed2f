/* Unit tests of the S-CSCF's registration modules (registrar, bindings, regevent): the smallest
 * scscf_t those modules need, built from their public entry points. A real nta agent listens
 * on 127.0.0.1 (sip_core, REGISTER to registrar_on_register, SUBSCRIBE to
 * regevent_on_subscribe), the store is store_open("memory"), the configuration is the
 * registrar's key table read from a YAML string, and the Cx client answers through
 * cx_client_fake() with a small HSS in this file (MD5 vectors, SAA with a profile). The test
 * plays the UE on a UDP socket: it sends requests as text and reads what the agent sends,
 * answering NOTIFYs itself. */
#ifndef CSCF_TEST_SCSCF_FIXTURE_H
#define CSCF_TEST_SCSCF_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sofia-sip/su.h>

#include "common/program/program.h"
#include "common/sip/charging.h"
#include "common/sip/sip_core.h"
#include "common/sip/trust.h"
#include "common/store/store_internal.h"
#include "common/util/hex.h"
#include "common/util/log.h"
#include "cscf/scscf/core/context.h"
#include "cscf/scscf/registration/reg_config.h"
#include "cscf/scscf/registration/regevent.h"
#include "cscf/scscf/registration/registrar.h"
#include "cscf/scscf/routing/isc.h"
#include "cscf/scscf/routing/route.h"
#include "diameter/cx_client.h"
#include "tests/unit/test_port.h"

#define FX_DOMAIN "ims.test"
#define FX_IMPI   "alice@ims.test"
#define FX_IMPU   "sip:alice@ims.test"
#define FX_TEL    "tel:+15550001"
#define FX_PASS   "secret"
#define FX_MAXMSG 16

/* The HSS's side: what it was asked and how it answers. */
typedef struct fx_hss {
    int mars, sars;
    int last_sat;        /* Server-Assignment-Type of the last SAR */
    char last_user[128]; /* User-Name of the last request */
    char last_impu[128]; /* first Public-Identity of the last request */
    cx_status_t status;  /* CX_ANSWERED, or CX_TIMEOUT to play an unreachable HSS */
    uint32_t mar_experimental;
    const char *user_data;   /* the SAA's User-Data (NULL: none) */
    const char *origin;      /* Origin-Host of its answers (NULL: none) */
    char last_sar_host[128]; /* Destination-Host of the last SAR ("" when none) */
} fx_hss_t;

typedef struct fx {
    su_root_t *root;
    metrics_t *metrics;
    loopq_t *queue;
    api_t *api;
    cfg_t *cfg;
    program_t p;
    scscf_t s;
    fx_hss_t hss;
    int port;  /* the S-CSCF's */
    int sock;  /* the UE's */
    int uport; /* the UE's port */
    char listen[32];
    const char *listen_list[1];
    int notify_status; /* what the UE answers NOTIFYs with */
    int seq;
    char *msgs[FX_MAXMSG]; /* received and not yet taken */
    size_t nmsgs;
    /* The store as the registrar sees it: the memory backend behind fx_store_ops, which can
     * fail every call (store_fail: STORE_ERROR or STORE_TIMEOUT; put_fail: writes only) and
     * let "another replica" write just before the registrar's next writes (before_write, for
     * before_writes of them). */
    int store_fail, put_fail;
    void (*before_write)(struct fx *f, const char *impi);
    int before_writes;
    void *mem; /* the memory backend's state underneath (fx_other_put writes there) */
} fx_t;

/* The profile every SAA carries unless a test says otherwise: an implicit set with a tel: URI
 * and a barred IMPU (left out of P-Associated-URI). */
static const char fx_profile[] =
    "<?xml version=\"1.0\"?><IMSSubscription><PrivateID>" FX_IMPI "</PrivateID><ServiceProfile>"
    "<PublicIdentity><Identity>" FX_IMPU "</Identity></PublicIdentity>"
    "<PublicIdentity><Identity>" FX_TEL "</Identity></PublicIdentity>"
    "<PublicIdentity><BarringIndication>1</BarringIndication><Identity>sip:barred@" FX_DOMAIN
    "</Identity></PublicIdentity></ServiceProfile></IMSSubscription>";

static void fx_md5hex(const char *s, char out[33])
{
    unsigned char md[16];
    unsigned n;
    EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL);
    hex_encode(md, 16, out);
}

static cx_status_t fx_hss_answer(void *arg, const cx_msg_t *req, cx_msg_t *a)
{
    fx_hss_t *h = arg;
    snprintf(h->last_user, sizeof h->last_user, "%s", req->user_name ? req->user_name : "");
    snprintf(h->last_impu, sizeof h->last_impu, "%s", req->npublic ? req->public_ids[0] : "");
    if (h->status != CX_ANSWERED)
        return h->status;
    a->result_code = 2001;
    cx_msg_set(&a->origin_host, h->origin);
    if (req->cmd == CX_CMD_MAR) {
        h->mars++;
        if (h->mar_experimental) {
            a->result_code = 0;
            a->experimental_result = h->mar_experimental;
            return CX_ANSWERED;
        }
        char ha1[33];
        fx_md5hex(FX_IMPI ":" FX_DOMAIN ":" FX_PASS, ha1);
        cx_auth_item_t *it = cx_msg_add_item(a);
        cx_msg_set(&it->scheme, "SIP Digest");
        cx_msg_set(&it->digest_ha1, ha1);
        cx_msg_set(&it->digest_realm, FX_DOMAIN);
        cx_msg_set(&it->digest_qop, "auth");
        a->auth_items = 1;
    } else if (req->cmd == CX_CMD_SAR) {
        h->sars++;
        h->last_sat = req->server_assignment_type;
        snprintf(h->last_sar_host, sizeof h->last_sar_host, "%s",
                 req->destination_host ? req->destination_host : "");
        if (h->user_data && req->server_assignment_type != CX_SAT_USER_DEREGISTRATION)
            cx_msg_set(&a->user_data, h->user_data);
    }
    return CX_ANSWERED;
}

/* ---- the UE's socket ---- */

static void fx_send(fx_t *f, const char *text)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ssize_t n = sendto(f->sock, text, strlen(text), 0, (struct sockaddr *)&to, sizeof to);
    if (n != (ssize_t)strlen(text))
        fprintf(stderr, "fixture: sendto failed\n");
}

/* The header line "Name: ..." of msg (without CRLF), or "" when absent. */
static const char *fx_header(const char *msg, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = strstr(msg, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *e = strstr(p + 2, "\r\n");
            snprintf(out, len, "%.*s", (int)(e - (p + 2)), p + 2);
            break;
        }
    }
    return out;
}

/* The UE's answer to a request the S-CSCF sent (a NOTIFY): the status with its headers. */
static void fx_answer(fx_t *f, const char *req, int status)
{
    char via[512], from[512], to[560], cid[300], cseq[64], text[2400];
    fx_header(req, "To", to, sizeof to - 12);
    if (!strstr(to, "tag=")) /* out of dialog: the UE's tag */
        strcat(to, ";tag=ue-n");
    snprintf(text, sizeof text,
             "SIP/2.0 %d %s\r\n%s\r\n%s\r\n%s\r\n%s\r\n%s\r\nContent-Length: 0\r\n\r\n", status,
             status == 200 ? "OK" : "Refused", fx_header(req, "Via", via, sizeof via),
             fx_header(req, "From", from, sizeof from), to,
             fx_header(req, "Call-ID", cid, sizeof cid), fx_header(req, "CSeq", cseq, sizeof cseq));
    fx_send(f, text);
}

/* Reads what arrived (answering NOTIFYs with f->notify_status) while stepping the loop. */
static void fx_pump(fx_t *f)
{
    char buf[16384];
    struct pollfd pfd = {.fd = f->sock, .events = POLLIN};
    su_root_step(f->root, 5); /* may return at once: the poll below paces the loop */
    poll(&pfd, 1, 5);
    for (;;) {
        ssize_t got = recv(f->sock, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (got <= 0)
            return;
        buf[got] = '\0';
        if (strncmp(buf, "NOTIFY ", 7) == 0)
            fx_answer(f, buf, f->notify_status);
        if (f->nmsgs < FX_MAXMSG)
            f->msgs[f->nmsgs++] = strdup(buf);
    }
}

static double fx_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The first message received that starts with prefix and holds needle (NULL: any), taken off
 * the list (the caller frees it); NULL when none came within 10 s (a bound for a loaded
 * machine; the answers normally come within milliseconds). */
static char *fx_wait(fx_t *f, const char *prefix, const char *needle)
{
    for (double end = fx_now() + 10; fx_now() < end;) {
        for (size_t j = 0; j < f->nmsgs; j++) {
            char *m = f->msgs[j];
            if (strncmp(m, prefix, strlen(prefix)) == 0 && (!needle || strstr(m, needle))) {
                memmove(&f->msgs[j], &f->msgs[j + 1], (f->nmsgs - j - 1) * sizeof *f->msgs);
                f->nmsgs--;
                return m;
            }
        }
        fx_pump(f);
    }
    return NULL;
}

/* Steps the loop for a while, answering NOTIFYs; for checks that something does NOT come. */
static void fx_settle(fx_t *f, int rounds)
{
    for (int i = 0; i < rounds; i++)
        fx_pump(f);
}

static void fx_drop_msgs(fx_t *f)
{
    for (size_t i = 0; i < f->nmsgs; i++)
        free(f->msgs[i]);
    f->nmsgs = 0;
}

/* ---- requests ---- */

/* A REGISTER from the UE (extra: header lines ending in CRLF, e.g. Contact and Expires);
 * returns the response (the caller frees it) or NULL. */
static char *fx_register(fx_t *f, const char *to, const char *extra)
{
    char text[4096];
    int n = ++f->seq;
    snprintf(text, sizeof text,
             "REGISTER sip:" FX_DOMAIN " SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-reg%d\r\n"
             "Max-Forwards: 70\r\nFrom: <%s>;tag=ue%d\r\nTo: <%s>\r\n"
             "Call-ID: reg-call@ue\r\nCSeq: %d REGISTER\r\n%sContent-Length: 0\r\n\r\n",
             f->uport, n, to, n, to, n, extra ? extra : "");
    fx_send(f, text);
    char needle[64];
    snprintf(needle, sizeof needle, "CSeq: %d REGISTER", n);
    return fx_wait(f, "SIP/2.0", needle);
}

/* The nonce="..." of a 401's WWW-Authenticate. */
static int fx_nonce(const char *resp, char *out, size_t len)
{
    const char *p = resp ? strstr(resp, "nonce=\"") : NULL;
    const char *e = p ? strchr(p + 7, '"') : NULL;
    if (!e || (size_t)(e - p - 7) >= len)
        return -1;
    snprintf(out, len, "%.*s", (int)(e - p - 7), p + 7);
    return 0;
}

/* The Authorization line (CRLF ended) a handset with FX_PASS sends for nonce. */
static void fx_authorization(const char *nonce, const char *password, char *out, size_t len)
{
    char a1[256], ha1[33], ha2[33], all[512], resp[33];
    snprintf(a1, sizeof a1, "%s:%s:%s", FX_IMPI, FX_DOMAIN, password);
    fx_md5hex(a1, ha1);
    fx_md5hex("REGISTER:sip:" FX_DOMAIN, ha2);
    snprintf(all, sizeof all, "%s:%s:00000001:0a4f113b:auth:%s", ha1, nonce, ha2);
    fx_md5hex(all, resp);
    snprintf(out, len,
             "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
             "uri=\"sip:%s\", response=\"%s\", algorithm=MD5, qop=auth, nc=00000001, "
             "cnonce=\"0a4f113b\"\r\n",
             FX_IMPI, FX_DOMAIN, nonce, FX_DOMAIN, resp);
}

/* A REGISTER answered as a handset does: challenged (401), then sent again with the answer
 * for FX_PASS. Returns the final response (the caller frees it) or NULL. */
static char *fx_register_auth(fx_t *f, const char *extra)
{
    char *r = fx_register(f, FX_IMPU, extra);
    char nonce[128], hdr[4096], auth[700];
    if (!r || strncmp(r, "SIP/2.0 401", 11) != 0 || fx_nonce(r, nonce, sizeof nonce) < 0)
        return r;
    free(r);
    fx_authorization(nonce, FX_PASS, auth, sizeof auth);
    snprintf(hdr, sizeof hdr, "%s%s", auth, extra ? extra : "");
    return fx_register(f, FX_IMPU, hdr);
}

/* ---- set-up ---- */

static int fx_on_request(void *app, sip_core_t *core, nta_incoming_t *irq, sip_t const *sip)
{
    scscf_t *s = app;
    if (sip->sip_request->rq_method == sip_method_register)
        return registrar_on_register(s, irq, sip);
    if (sip->sip_request->rq_method == sip_method_subscribe && sip->sip_event &&
        strcmp(sip->sip_event->o_type, "reg") == 0)
        return regevent_on_subscribe(s, irq, sip);
    if (s->isc) /* a test that routes (fx_enable_routing) */
        return route_request(s, irq, sip);
    return 501;
}

static const cfg_key_t fx_rows[] = {
    REG_CONFIG_KEY_ROWS,
    CHARGING_KEY_ROWS, /* the 200 to REGISTER reads them (bindings.c) */
    CFG_END,
};

/* ---- the store, wrapped ---- */

typedef struct fx_be {
    void *inner; /* the memory backend's */
    fx_t *f;
} fx_be_t;

static void fx_st_close(void *be)
{
    fx_be_t *w = be;
    store_mem_ops.close(w->inner);
    free(w);
}

static int fx_st_limits(void *be, const store_limits_t *limits)
{
    return store_mem_ops.set_limits(((fx_be_t *)be)->inner, limits);
}

static void fx_st_get(void *be, const char *impu, store_get_f cb, void *arg)
{
    fx_be_t *w = be;
    if (w->f->store_fail)
        cb(arg, w->f->store_fail, NULL);
    else
        store_mem_ops.get(w->inner, impu, cb, arg);
}

static void fx_st_get_impi(void *be, const char *impi, store_get_f cb, void *arg)
{
    fx_be_t *w = be;
    if (w->f->store_fail)
        cb(arg, w->f->store_fail, NULL);
    else
        store_mem_ops.get_impi(w->inner, impi, cb, arg);
}

/* Another replica's write lands between the registrar's read and its write. */
static void fx_st_race(fx_t *f, const char *impi)
{
    if (f->before_write && f->before_writes > 0) {
        f->before_writes--;
        f->before_write(f, impi);
    }
}

static void fx_st_put(void *be, const store_reg_t *reg, store_done_f cb, void *arg)
{
    fx_be_t *w = be;
    if (w->f->store_fail || w->f->put_fail) {
        cb(arg, w->f->store_fail ? w->f->store_fail : w->f->put_fail);
        return;
    }
    fx_st_race(w->f, reg->impi);
    store_mem_ops.put(w->inner, reg, cb, arg);
}

static void fx_st_del(void *be, const char *impi, uint64_t rev, store_done_f cb, void *arg)
{
    fx_be_t *w = be;
    if (w->f->store_fail || w->f->put_fail) {
        cb(arg, w->f->store_fail ? w->f->store_fail : w->f->put_fail);
        return;
    }
    fx_st_race(w->f, impi);
    store_mem_ops.del(w->inner, impi, rev, cb, arg);
}

static void fx_st_list(void *be, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                       void *arg)
{
    fx_be_t *w = be;
    if (w->f->store_fail)
        cb(arg, w->f->store_fail, NULL, 0, 0);
    else
        store_mem_ops.list(w->inner, prefix, offset, limit, cb, arg);
}

static void fx_st_expired(void *be, int64_t now, store_list_f cb, void *arg)
{
    fx_be_t *w = be;
    if (w->f->store_fail)
        cb(arg, w->f->store_fail, NULL, 0, 0);
    else
        store_mem_ops.expired(w->inner, now, cb, arg);
}

static size_t fx_st_count(const void *be)
{
    return store_mem_ops.count(((const fx_be_t *)be)->inner);
}

static size_t fx_st_contact_count(const void *be)
{
    return store_mem_ops.contact_count(((const fx_be_t *)be)->inner);
}

static const store_ops_t fx_store_ops = {
    "memory",
    1,
    NULL,
    fx_st_close,
    fx_st_limits,
    fx_st_get,
    fx_st_get_impi,
    fx_st_put,
    fx_st_del,
    fx_st_list,
    fx_st_expired,
    fx_st_count,
    fx_st_contact_count,
    NULL,
};

/* The registrar's store becomes the wrapped one (the memory backend it opened, underneath). */
static int fx_wrap_store(fx_t *f)
{
    fx_be_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->inner = f->s.store->be;
    w->f = f;
    f->mem = w->inner;
    f->s.store->be = w;
    f->s.store->ops = &fx_store_ops;
    return 0;
}

static void fx_st_done(void *arg, int rc)
{
    *(int *)arg = rc;
}

/* What another replica does: write reg straight into the store (unconditionally: rev 0). */
static inline int fx_other_put(fx_t *f, store_reg_t *reg)
{
    int rc = -9;
    reg->rev = 0;
    store_mem_ops.put(f->mem, reg, fx_st_done, &rc);
    return rc;
}

static inline int fx_other_del(fx_t *f, const char *impi)
{
    int rc = -9;
    store_mem_ops.del(f->mem, impi, 0, fx_st_done, &rc);
    return rc;
}

static void fx_got_inner(void *arg, int rc, store_reg_t *reg)
{
    if (rc != 0) {
        store_reg_free(reg);
        reg = NULL;
    }
    *(store_reg_t **)arg = reg;
}

/* The record as stored, past the wrapper's failures (the caller frees it), or NULL. */
static inline store_reg_t *fx_other_get(fx_t *f, const char *impi)
{
    store_reg_t *r = NULL;
    store_mem_ops.get_impi(f->mem, impi, fx_got_inner, &r);
    return r;
}

/* yaml: the registrar.* keys this test changes (NULL: the defaults). NULL on failure. */
static fx_t *fx_new(const char *yaml)
{
    static const cfg_key_t *const tables[] = {fx_rows, NULL};
    static const char *const transports[] = {"udp"};
    char err[256] = "";
    fx_t *f = calloc(1, sizeof *f);
    su_init();
    f->notify_status = 200;
    f->hss.status = CX_ANSWERED;
    f->hss.user_data = fx_profile;
    f->root = su_root_create(NULL);
    f->metrics = metrics_new();
    f->queue = loopq_new(f->root, 1000);
    api_config_t ac = {.listen = "127.0.0.1:0"};
    f->api = api_new(&ac);
    f->cfg = cfg_new("TSCSCF", tables);
    if (!f->cfg || (yaml && cfg_load_string(f->cfg, "t.yaml", yaml, err, sizeof err) < 0)) {
        fprintf(stderr, "fixture: %s\n", err);
        return NULL;
    }
    f->port = test_free_port();
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", f->port);
    f->listen_list[0] = f->listen;
    sip_core_config_t sc = {
        .listen = f->listen_list,
        .nlisten = 1,
        .transports = transports,
        .ntransports = 1,
        .domain = FX_DOMAIN,
        .max_message_size = 65536,
        .max_pending = 100,
        .server = "test",
        .allow = "REGISTER, SUBSCRIBE, NOTIFY",
        .supported = "path",
        .accept = "application/sdp",
    };
    f->p = (program_t){.cfg = f->cfg,
                       .root = f->root,
                       .queue = f->queue,
                       .metrics = f->metrics,
                       .api = f->api,
                       .app = &f->s};
    f->p.sip = sip_core_new(f->root, &sc, f->metrics, fx_on_request, &f->s);
    f->s.p = &f->p;
    snprintf(f->s.server_name, sizeof f->s.server_name, "sip:%s", f->listen);
    snprintf(f->s.service_route, sizeof f->s.service_route, "<sip:orig@%s;lr", f->listen);
    f->s.cx.client = cx_client_new(NULL, f->root, f->queue, f->metrics, FX_DOMAIN, 2000);
    /* trust.peers of the example configs: the test's handsets on 127.0.0.1 are trusted */
    static const char *const trusted[] = {"127.0.0.1"};
    f->s.trust = trust_guard_new("scscf", NULL, trusted, 1, err, sizeof err);
    if (!f->p.sip || !f->s.cx.client || !f->api || !f->queue || !f->s.trust)
        return NULL;
    cx_client_fake(f->s.cx.client, fx_hss_answer, &f->hss);
    if (registrar_init(&f->s) < 0 || fx_wrap_store(f) < 0 || regevent_init(&f->s) < 0)
        return NULL;
    f->sock = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(f->sock, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(f->sock, (struct sockaddr *)&a, &alen) < 0)
        return NULL;
    f->uport = ntohs(a.sin_port);
    return f;
}

static void fx_free(fx_t *f)
{
    if (!f)
        return;
    fx_settle(f, 5); /* answers still queued run before the modules go */
    isc_free(f->s.isc);
    regevent_fini(&f->s);
    registrar_fini(&f->s);
    loopq_flush(f->queue);
    cx_client_free(f->s.cx.client);
    trust_guard_free(f->s.trust);
    sip_core_free(f->p.sip);
    fx_drop_msgs(f);
    if (f->sock > 0)
        close(f->sock);
    api_free(f->api);
    loopq_free(f->queue);
    cfg_free(f->cfg);
    metrics_free(f->metrics);
    su_root_destroy(f->root);
    su_deinit();
    free(f);
}

/* Requests other than REGISTER and SUBSCRIBE go to the S-CSCF's routing (route.c). */
static inline int fx_enable_routing(fx_t *f)
{
    return (f->s.isc = isc_new(&f->s)) ? 0 : -1;
}

/* The registration the store holds for impu (the caller frees it), or NULL. */
/* cmocka teardown for every fixture test. */
static inline int fx_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* The response starts with status_line, else the test fails showing what came. */
static inline void fx_expect_status(const char *resp, const char *status_line)
{
    if (!resp)
        fail_msg("expected '%s', got no response", status_line);
    if (strncmp(resp, status_line, strlen(status_line)) != 0)
        fail_msg("expected '%s', got:\n%s", status_line, resp);
}

static void fx_got(void *arg, int rc, store_reg_t *reg)
{
    if (rc != 0) {
        store_reg_free(reg);
        reg = NULL;
    }
    *(store_reg_t **)arg = reg;
}

static store_reg_t *fx_stored(fx_t *f, const char *impu)
{
    store_reg_t *r = NULL;
    store_get(f->s.store, impu, fx_got, &r); /* the memory store answers at once */
    return r;
}

#endif
