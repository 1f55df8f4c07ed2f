/* A test PCRF for the pcscf's Rx back end (issue 20; tests/e2e/t_policy_rx.sh).
 *
 *   pcrf -l HOST:PORT -o FILE [-i IDENTITY] [-r REALM] [-a ACCEPT_REALM] [-c RESULT] [-s]
 *
 * freeDiameter through our own diameter/fd_setup.c (keys pcrf.*), the Rx application advertised.
 * Every AAR and STR it receives, and every ASA (the answer to its own ASR), is written to FILE
 * as one JSON line: {"cmd":"AAR","avps":{...}}, every AVP by its dictionary name (grouped AVPs as
 * objects, repeated ones as arrays). AAR is answered AAA with Result-Code RESULT (default 2001,
 * DIAMETER_SUCCESS), or not at all with -s; STR with STA 2001.
 * SIGUSR2: a RAR (Specific-Action INDICATION_OF_LOSS_OF_BEARER) for that session; its RAA is
 * recorded too.
 * SIGUSR1: an ASR (Abort-Cause BEARER_RELEASED) for the oldest session that has had an AAR and no
 * STR yet. SIGTERM/SIGINT: stop. "pcrf: ready" on stdout once freeDiameter runs. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>
#include <jansson.h>

#include "common/ops/config.h"
#include "common/util/log.h"
#include "diameter/fd_setup.h"

#define RX_APP       16777236u
#define MAX_SESSIONS 64

static const cfg_key_t keys[] = {
    FD_SETUP_KEY_ROWS_P("pcrf", "pcrf.ims.mnc001.mcc001.3gppnetwork.org", "127.0.0.1:3871", "",
                        "5"),
    CFG_END,
};

static struct {
    const char *out;
    uint32_t result;
    int silent;
    struct dict_object *app, *vendor, *aar, *str, *asr;
    struct dict_object *session_id, *result_code, *origin_host, *origin_realm, *dest_host,
        *dest_realm, *auth_app, *abort_cause, *auth_req_type, *rar, *reauth_type, *specific_action;
    pthread_mutex_t lock;
    /* sessions with an AAR and no STR: Session-Id, the AF's Origin-Host and Origin-Realm */
    char sid[MAX_SESSIONS][256], host[MAX_SESSIONS][256], realm[MAX_SESSIONS][256];
    size_t n;
} pcrf = {.result = 2001, .lock = PTHREAD_MUTEX_INITIALIZER};

static json_t *value_json(struct avp_hdr *h, enum dict_avp_basetype type)
{
    switch (type) {
    case AVP_TYPE_INTEGER32:
        return json_integer(h->avp_value->i32);
    case AVP_TYPE_UNSIGNED32:
        return json_integer(h->avp_value->u32);
    case AVP_TYPE_INTEGER64:
        return json_integer((json_int_t)h->avp_value->i64);
    case AVP_TYPE_UNSIGNED64:
        return json_integer((json_int_t)h->avp_value->u64);
    case AVP_TYPE_OCTETSTRING: {
        const uint8_t *d = h->avp_value->os.data;
        size_t len = h->avp_value->os.len;
        int text = 1;
        for (size_t i = 0; i < len; i++)
            text &= (d[i] >= 0x20 && d[i] < 0x7f) || d[i] == '\n' || d[i] == '\r';
        if (text)
            return json_stringn((const char *)d, len);
        char hex[2 * 64 + 1] = "";
        for (size_t i = 0; i < len && i < 64; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        return json_sprintf("0x%s", hex);
    }
    default:
        return json_null();
    }
}

/* Adds v under name; a second value of that name turns it into an array. */
static void put(json_t *obj, const char *name, json_t *v)
{
    json_t *old = json_object_get(obj, name);
    if (!old) {
        json_object_set_new(obj, name, v);
    } else if (json_is_array(old)) {
        json_array_append_new(old, v);
    } else {
        json_t *arr = json_array();
        json_array_append(arr, old);
        json_array_append_new(arr, v);
        json_object_set_new(obj, name, arr);
    }
}

static json_t *avps_json(msg_or_avp *parent)
{
    json_t *obj = json_object();
    struct avp *a = NULL;
    for (fd_msg_browse(parent, MSG_BRW_FIRST_CHILD, &a, NULL); a;
         fd_msg_browse(a, MSG_BRW_NEXT, &a, NULL)) {
        struct avp_hdr *h = NULL;
        struct dict_object *model = NULL;
        struct dict_avp_data info;
        char code[32];
        if (fd_msg_avp_hdr(a, &h))
            continue;
        if (fd_msg_model(a, &model) || !model || fd_dict_getval(model, &info)) {
            snprintf(code, sizeof code, "avp-%u", h->avp_code);
            put(obj, code, json_null());
            continue;
        }
        put(obj, info.avp_name,
            info.avp_basetype == AVP_TYPE_GROUPED ? avps_json(a)
            : h->avp_value                        ? value_json(h, info.avp_basetype)
                                                  : json_null());
    }
    return obj;
}

static void record(const char *cmd, struct msg *m)
{
    json_t *line = json_pack("{s:s,s:o}", "cmd", cmd, "avps", avps_json(m));
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    pthread_mutex_lock(&pcrf.lock);
    FILE *f = fopen(pcrf.out, "a");
    if (f && text) {
        fprintf(f, "%s\n", text);
        fclose(f);
    } else if (f) {
        fclose(f);
    }
    pthread_mutex_unlock(&pcrf.lock);
    free(text);
}

static int os_of(struct msg *m, struct dict_object *d, char *out, size_t len)
{
    struct avp *a = NULL;
    struct avp_hdr *h = NULL;
    out[0] = '\0';
    if (fd_msg_search_avp(m, d, &a) || !a || fd_msg_avp_hdr(a, &h) || !h->avp_value)
        return -1;
    snprintf(out, len, "%.*s", (int)h->avp_value->os.len, (const char *)h->avp_value->os.data);
    return 0;
}

static int add_u32(msg_or_avp *m, struct dict_object *d, uint32_t v)
{
    struct avp *a = NULL;
    union avp_value val = {.u32 = v};
    return fd_msg_avp_new(d, 0, &a) || fd_msg_avp_setvalue(a, &val) ||
           fd_msg_avp_add(m, MSG_BRW_LAST_CHILD, a);
}

static int add_os(msg_or_avp *m, struct dict_object *d, const char *s)
{
    struct avp *a = NULL;
    union avp_value val = {.os = {(uint8_t *)s, strlen(s)}};
    return fd_msg_avp_new(d, 0, &a) || fd_msg_avp_setvalue(a, &val) ||
           fd_msg_avp_add(m, MSG_BRW_LAST_CHILD, a);
}

static void remember(struct msg *req, int keep)
{
    char sid[256], host[256], realm[256];
    os_of(req, pcrf.session_id, sid, sizeof sid);
    os_of(req, pcrf.origin_host, host, sizeof host);
    os_of(req, pcrf.origin_realm, realm, sizeof realm);
    pthread_mutex_lock(&pcrf.lock);
    size_t i = 0;
    while (i < pcrf.n && strcmp(pcrf.sid[i], sid) != 0)
        i++;
    if (keep && i == pcrf.n && pcrf.n < MAX_SESSIONS) {
        snprintf(pcrf.sid[i], sizeof pcrf.sid[i], "%s", sid);
        snprintf(pcrf.host[i], sizeof pcrf.host[i], "%s", host);
        snprintf(pcrf.realm[i], sizeof pcrf.realm[i], "%s", realm);
        pcrf.n++;
    } else if (!keep && i < pcrf.n) {
        for (; i + 1 < pcrf.n; i++) {
            memcpy(pcrf.sid[i], pcrf.sid[i + 1], sizeof pcrf.sid[i]);
            memcpy(pcrf.host[i], pcrf.host[i + 1], sizeof pcrf.host[i]);
            memcpy(pcrf.realm[i], pcrf.realm[i + 1], sizeof pcrf.realm[i]);
        }
        pcrf.n--;
    }
    pthread_mutex_unlock(&pcrf.lock);
}

/* AAR and STR. */
static int on_request(struct msg **msg, struct avp *avp, struct session *sess, void *data,
                      enum disp_action *act)
{
    (void)avp;
    (void)sess;
    int is_aar = data != NULL;
    *act = DISP_ACT_CONT;
    record(is_aar ? "AAR" : "STR", *msg);
    remember(*msg, is_aar);
    if (is_aar && pcrf.silent) {
        fd_msg_free(*msg);
        *msg = NULL;
        return 0;
    }
    struct msg *ans = *msg;
    *msg = NULL;
    if (fd_msg_new_answer_from_req(fd_g_config->cnf_dict, &ans, 0) ||
        add_u32(ans, pcrf.auth_app, RX_APP) ||
        /* AUTHORIZE_ONLY: dict_nasreq's AA-Answer rule wants it, or the AF drops the AAA */
        (is_aar && add_u32(ans, pcrf.auth_req_type, 2)) ||
        add_u32(ans, pcrf.result_code, is_aar ? pcrf.result : 2001) || fd_msg_add_origin(ans, 0) ||
        fd_msg_send(&ans, NULL, NULL)) {
        fprintf(stderr, "pcrf: could not answer\n");
        if (ans)
            fd_msg_free(ans);
    }
    return 0;
}

/* The answer to our ASR or RAR. */
static void on_answer(void *data, struct msg **answer)
{
    record(data ? "RAA" : "ASA", *answer);
    fd_msg_free(*answer);
    *answer = NULL;
}

/* ASR (rar 0) or RAR (rar 1) for the oldest session with an AAR and no STR. */
static void send_request(int rar)
{
    char sid[256], host[256], realm[256];
    pthread_mutex_lock(&pcrf.lock);
    int have = pcrf.n > 0;
    if (have) {
        memcpy(sid, pcrf.sid[0], sizeof sid);
        memcpy(host, pcrf.host[0], sizeof host);
        memcpy(realm, pcrf.realm[0], sizeof realm);
    }
    pthread_mutex_unlock(&pcrf.lock);
    if (!have) {
        fprintf(stderr, "pcrf: no session for an %s\n", rar ? "RAR" : "ASR");
        return;
    }
    struct msg *m = NULL;
    struct msg_hdr *h = NULL;
    if (fd_msg_new(rar ? pcrf.rar : pcrf.asr, MSGFL_ALLOC_ETEID, &m) || fd_msg_hdr(m, &h)) {
        fprintf(stderr, "pcrf: cannot build the request\n");
        return;
    }
    h->msg_appl = RX_APP;
    /* RAR: Re-Auth-Request-Type AUTHORIZE_ONLY (RFC 6733), Specific-Action
     * INDICATION_OF_LOSS_OF_BEARER (TS 29.214 5.3.16); ASR: Abort-Cause BEARER_RELEASED */
    int rc = add_os(m, pcrf.session_id, sid) || fd_msg_add_origin(m, 0) ||
             add_os(m, pcrf.dest_realm, realm) || add_os(m, pcrf.dest_host, host) ||
             add_u32(m, pcrf.auth_app, RX_APP) ||
             (rar ? add_u32(m, pcrf.reauth_type, 0) || add_u32(m, pcrf.specific_action, 2)
                  : add_u32(m, pcrf.abort_cause, 0));
    if (rc || fd_msg_send(&m, on_answer, rar ? (void *)1 : NULL)) {
        fprintf(stderr, "pcrf: cannot send the request\n");
        if (m)
            fd_msg_free(m);
        return;
    }
    printf("pcrf: %s sent for %s\n", rar ? "RAR" : "ASR", sid);
    fflush(stdout);
}

static int find(enum dict_object_type type, int criteria, const void *what,
                struct dict_object **out)
{
    return fd_dict_search(fd_g_config->cnf_dict, type, criteria, what, out, ENOENT);
}

static int load(void *ctx)
{
    (void)ctx;
    vendor_id_t vid = 10415;
    application_id_t aid = RX_APP;
    if (find(DICT_VENDOR, VENDOR_BY_ID, &vid, &pcrf.vendor))
        return -1;
    if (find(DICT_APPLICATION, APPLICATION_BY_ID, &aid, &pcrf.app)) {
        struct dict_application_data d = {RX_APP, "3GPP Rx"};
        if (fd_dict_new(fd_g_config->cnf_dict, DICT_APPLICATION, &d, pcrf.vendor, &pcrf.app))
            return -1;
    }
    if (find(DICT_COMMAND, CMD_BY_NAME, "AA-Request", &pcrf.aar) ||
        find(DICT_COMMAND, CMD_BY_NAME, "Session-Termination-Request", &pcrf.str) ||
        find(DICT_COMMAND, CMD_BY_NAME, "Abort-Session-Request", &pcrf.asr) ||
        find(DICT_COMMAND, CMD_BY_NAME, "Re-Auth-Request", &pcrf.rar) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Re-Auth-Request-Type", &pcrf.reauth_type) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Specific-Action", &pcrf.specific_action) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Session-Id", &pcrf.session_id) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Result-Code", &pcrf.result_code) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Origin-Host", &pcrf.origin_host) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Origin-Realm", &pcrf.origin_realm) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Destination-Host", &pcrf.dest_host) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Destination-Realm", &pcrf.dest_realm) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Auth-Application-Id", &pcrf.auth_app) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Abort-Cause", &pcrf.abort_cause) ||
        find(DICT_AVP, AVP_BY_NAME_ALL_VENDORS, "Auth-Request-Type", &pcrf.auth_req_type))
        return -1;
    struct disp_hdl *h1 = NULL, *h2 = NULL;
    struct disp_when when = {.app = pcrf.app, .command = pcrf.aar};
    if (fd_disp_register(on_request, DISP_HOW_CC, &when, (void *)1, &h1))
        return -1;
    when.command = pcrf.str;
    if (fd_disp_register(on_request, DISP_HOW_CC, &when, NULL, &h2))
        return -1;
    return fd_disp_app_support(pcrf.app, pcrf.vendor, 1, 0) ? -1 : 0;
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:3871", *identity = "pcrf.ims.mnc001.mcc001.3gppnetwork.org",
               *realm = "ims.mnc001.mcc001.3gppnetwork.org", *accept = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "l:o:i:r:a:c:s")) != -1) {
        switch (opt) {
        case 'l':
            listen = optarg;
            break;
        case 'o':
            pcrf.out = optarg;
            break;
        case 'i':
            identity = optarg;
            break;
        case 'r':
            realm = optarg;
            break;
        case 'a':
            accept = optarg;
            break;
        case 'c':
            pcrf.result = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 's':
            pcrf.silent = 1;
            break;
        default:
            fprintf(stderr, "usage: pcrf -l HOST:PORT -o FILE [-i ID] [-r REALM] [-a "
                            "ACCEPT_REALM] [-c RESULT] [-s]\n");
            return 2;
        }
    }
    if (!pcrf.out) {
        fprintf(stderr, "pcrf: -o FILE is needed\n");
        return 2;
    }
    log_init("pcrf", LOG_INFO, LOG_FORMAT_TEXT, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before freeDiameter's threads start */
    const cfg_key_t *const tables[] = {keys, NULL};
    cfg_t *cfg = cfg_new("PCRF", tables);
    char yaml[1024], err[256] = "";
    snprintf(yaml, sizeof yaml,
             "pcrf:\n  identity: %s\n  realm: %s\n  listen: \"%s\"\n  accept_realms: [%s]\n",
             identity, realm, listen, accept ? accept : realm);
    if (!cfg || cfg_load_string(cfg, "pcrf", yaml, err, sizeof err) < 0 ||
        fd_setup_start_with(cfg, "pcrf", load, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "pcrf: %s\n", err);
        return 1;
    }
    printf("pcrf: ready\n");
    fflush(stdout);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGUSR1 || sig == SIGUSR2)
            send_request(sig == SIGUSR2);
        else
            break;
    }
    fd_setup_stop();
    cfg_free(cfg);
    return 0;
}
