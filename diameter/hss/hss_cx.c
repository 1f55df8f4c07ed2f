/* The HSS side of Cx (TS 29.228 section 6, TS 29.229): MAR builds vectors, SAR assigns the
 * S-CSCF and returns the profile, UAR and LIR say which S-CSCF serves a user. Runs on the loop;
 * the row a MAR or SAR changed (the IMPI's SQN, the assignment) is written to the database
 * before the answer leaves, else the answer is DIAMETER_UNABLE_TO_COMPLY. */
#include "diameter/hss/hss.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/auth/aka.h"
#include "common/util/log.h"
#include "common/auth/milenage.h"
#include "diameter/hss/user_data.h"

#define SQN_MASK 0xffffffffffffULL

/* Server-Assignment-Type values after which no S-CSCF is assigned any more. */
static int is_deregistration(int32_t sat)
{
    return sat == CX_SAT_TIMEOUT_DEREGISTRATION || sat == CX_SAT_USER_DEREGISTRATION ||
           sat == CX_SAT_DEREGISTRATION_TOO_MUCH_DATA ||
           sat == CX_SAT_ADMINISTRATIVE_DEREGISTRATION;
}

uint64_t hss_next_sqn(uint64_t sqn, int ind_bits)
{
    uint64_t mask = (1ULL << ind_bits) - 1;
    uint64_t seq = (sqn >> ind_bits) + 1, ind = ((sqn & mask) + 1) & mask;
    return ((seq << ind_bits) | ind) & SQN_MASK;
}

static void sqn_bytes(uint64_t sqn, uint8_t out[6])
{
    for (int i = 5; i >= 0; i--, sqn >>= 8)
        out[i] = (uint8_t)sqn;
}

static uint64_t sqn_value(const uint8_t b[6])
{
    uint64_t x = 0;
    for (int i = 0; i < 6; i++)
        x = (x << 8) | b[i];
    return x;
}

static int opc_of(const hss_subscriber_t *s, uint8_t opc[16])
{
    if (s->op_is_opc) {
        memcpy(opc, s->op, 16);
        return 0;
    }
    return milenage_opc(s->k, s->op, opc);
}

/* Finds the subscriber a request names; on failure answers it and returns NULL. */
static hss_entry_t *lookup(hss_t *h, cx_reply_t *reply, const cx_msg_t *req, int need_impi)
{
    const char *impu = req->npublic ? req->public_ids[0] : NULL;
    if ((need_impi && !req->user_name) || (!req->user_name && !impu)) {
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return NULL;
    }
    hss_entry_t *e =
        req->user_name ? hss_db_by_impi(&h->db, req->user_name) : hss_db_by_impu(&h->db, impu);
    if (!e) {
        log_info("hss: %s for unknown user %s", cx_cmd_name(req->cmd),
                 req->user_name ? req->user_name : impu);
        cx_server_answer_code(reply, DIAMETER_ERROR_USER_UNKNOWN, 1);
        return NULL;
    }
    if (impu && !hss_subscriber_has_impu(&e->sub, impu)) {
        log_info("hss: %s: %s is not an identity of %s", cx_cmd_name(req->cmd), impu, e->sub.impi);
        cx_server_answer_code(reply, DIAMETER_ERROR_IDENTITIES_DONT_MATCH, 1);
        return NULL;
    }
    return e;
}

static void answer_init(cx_msg_t *ans, const cx_msg_t *req, const hss_entry_t *e)
{
    cx_msg_init(ans, req->cmd + 1);
    cx_msg_set(&ans->user_name, e->sub.impi);
}

/* ---- MAR ---- */

static int pick_scheme(const hss_subscriber_t *s, const char *asked, hss_scheme_t *out)
{
    if (!asked || strcasecmp(asked, "Unknown") == 0) {
        for (unsigned bit = 1; bit <= HSS_SCHEME_MD5; bit <<= 1) {
            if (s->schemes & bit) {
                *out = (hss_scheme_t)bit;
                return 0;
            }
        }
    }
    return asked && hss_scheme_parse(asked, out) == 0 && (s->schemes & *out) ? 0 : -1;
}

static const char *wire_scheme(hss_scheme_t s)
{
    return s == HSS_SCHEME_AKAV1   ? "Digest-AKAv1-MD5"
           : s == HSS_SCHEME_AKAV2 ? "Digest-AKAv2-MD5"
                                   : "SIP Digest";
}

/* RAND || AUTS from the UE: 0 and the SQN reset to SQN_MS, -1 when MAC-S is wrong. */
static int resync(hss_entry_t *e, const cx_auth_item_t *it)
{
    uint8_t opc[16], sqn_ms[6];
    if (it->authorization_len != 30 || opc_of(&e->sub, opc) < 0 ||
        aka_auts_verify(e->sub.k, opc, it->authorization, it->authorization + 16, sqn_ms) < 0)
        return -1;
    log_info("hss: %s resynchronised: SQN %012llx -> SQN_MS %012llx", e->sub.impi,
             (unsigned long long)e->sqn, (unsigned long long)sqn_value(sqn_ms));
    e->sqn = sqn_value(sqn_ms);
    return 0;
}

static int aka_item(hss_t *h, hss_entry_t *e, hss_scheme_t scheme, uint32_t n, cx_auth_item_t *it)
{
    uint8_t opc[16], rnd[16], sqn[6];
    aka_vector_t v;
    e->sqn = hss_next_sqn(e->sqn, h->ind_bits);
    sqn_bytes(e->sqn, sqn);
    if (opc_of(&e->sub, opc) < 0)
        return -1;
    for (int tries = 0;; tries++) {
        if (RAND_bytes(rnd, sizeof rnd) != 1 ||
            aka_vector_make(e->sub.k, opc, rnd, sqn, e->sub.amf, &v) < 0)
            return -1;
        if (!h->sipp_compat || !memchr(v.xres, 0, sizeof v.xres) || tries >= 64)
            break;
    }
    it->item_number = n;
    cx_msg_set(&it->scheme, wire_scheme(scheme));
    memcpy(it->authenticate, v.rand, 16);
    memcpy(it->authenticate + 16, v.autn, 16);
    it->authenticate_len = 32;
    memcpy(it->authorization, v.xres, sizeof v.xres);
    it->authorization_len = sizeof v.xres;
    memcpy(it->ck, v.ck, 16);
    memcpy(it->ik, v.ik, 16);
    it->has_ck = it->has_ik = 1;
    return 0;
}

/* HA1 = MD5(username ":" realm ":" password), RFC 2617 3.2.2.2. */
static int md5_item(const hss_entry_t *e, cx_auth_item_t *it)
{
    const char *at = strrchr(e->sub.impi, '@');
    const char *realm = at ? at + 1 : e->sub.impi;
    char buf[1024], hex[33];
    unsigned char md[16];
    unsigned len = 0;
    int n = snprintf(buf, sizeof buf, "%s:%s:%s", e->sub.impi, realm,
                     e->sub.password ? e->sub.password : "");
    if (n < 0 || (size_t)n >= sizeof buf || !EVP_Digest(buf, (size_t)n, md, &len, EVP_md5(), NULL))
        return -1;
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    it->item_number = 1;
    cx_msg_set(&it->scheme, "SIP Digest");
    cx_msg_set(&it->digest_realm, realm);
    cx_msg_set(&it->digest_algorithm, "MD5");
    cx_msg_set(&it->digest_qop, "auth");
    cx_msg_set(&it->digest_ha1, hex);
    return 0;
}

static void on_mar(void *app, cx_reply_t *reply, const cx_msg_t *req)
{
    hss_t *h = app;
    if (!req->npublic || !req->nitems || !req->server_name) {
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return;
    }
    hss_entry_t *e = lookup(h, reply, req, 1);
    hss_scheme_t scheme;
    if (!e)
        return;
    if (pick_scheme(&e->sub, req->items[0].scheme, &scheme) < 0) {
        cx_server_answer_code(reply, DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED, 1);
        return;
    }
    int resynced = scheme != HSS_SCHEME_MD5 && req->items[0].authorization_len;
    if (resynced && resync(e, &req->items[0]) < 0) {
        log_warn("hss: %s: resynchronisation refused (MAC-S wrong); SQN unchanged", e->sub.impi);
        cx_server_answer_code(reply, 5003 /* DIAMETER_AUTHORIZATION_REJECTED */, 0);
        return;
    }
    cx_msg_t ans;
    answer_init(&ans, req, e);
    cx_msg_add_public(&ans, req->public_ids[0]);
    uint32_t want = req->auth_items ? req->auth_items : 1;
    uint32_t n = scheme == HSS_SCHEME_MD5          ? 1
                 : want < (uint32_t)h->max_vectors ? want
                                                   : (uint32_t)h->max_vectors;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        cx_auth_item_t *it = cx_msg_add_item(&ans);
        rc = scheme == HSS_SCHEME_MD5 ? md5_item(e, it) : aka_item(h, e, scheme, i + 1, it);
    }
    unsigned what = scheme == HSS_SCHEME_MD5 ? 0 : HSS_DB_SQN;
    if (e->state == HSS_NOT_REGISTERED) {
        hss_entry_assign(e, req->server_name, req->origin_host, req->origin_realm,
                         HSS_AUTH_PENDING);
        what |= HSS_DB_ASSIGNMENT;
    }
    ans.auth_items = (uint32_t)ans.nitems;
    ans.result_code = rc == 0 ? DIAMETER_SUCCESS : DIAMETER_UNABLE_TO_COMPLY;
    /* Never hand out a SQN the database may forget. The SQN stays advanced in memory when the
     * write fails: those values were never sent, and skipping them is harmless. */
    if (rc == 0 && what && hss_db_write(&h->db, e, what) < 0)
        ans.result_code = DIAMETER_UNABLE_TO_COMPLY;
    if (ans.result_code != DIAMETER_SUCCESS) {
        cx_msg_clear(&ans);
        cx_msg_init(&ans, CX_CMD_MAA);
        ans.result_code = DIAMETER_UNABLE_TO_COMPLY;
    }
    log_info("hss: MAR %s (%s): %zu %s vector(s), SQN now %012llx", e->sub.impi, req->public_ids[0],
             ans.nitems, hss_scheme_name(scheme), (unsigned long long)e->sqn);
    cx_server_answer(reply, &ans);
    cx_msg_clear(&ans);
}

/* ---- SAR ---- */

/* An assignment as it was before a SAR: written only when the SAR changed it, put back when
 * the write fails. */
typedef struct assignment {
    char *server_name, *host, *realm;
    hss_reg_state_t state;
} assignment_t;

static void save_assignment(const hss_entry_t *e, assignment_t *a)
{
    a->server_name = e->server_name ? strdup(e->server_name) : NULL;
    a->host = e->scscf_host ? strdup(e->scscf_host) : NULL;
    a->realm = e->scscf_realm ? strdup(e->scscf_realm) : NULL;
    a->state = e->state;
}

static void clear_assignment(assignment_t *a)
{
    free(a->server_name);
    free(a->host);
    free(a->realm);
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int same_assignment(const hss_entry_t *e, const assignment_t *a)
{
    return e->state == a->state && same_str(e->server_name, a->server_name) &&
           same_str(e->scscf_host, a->host) && same_str(e->scscf_realm, a->realm);
}

static void restore_assignment(hss_entry_t *e, const assignment_t *a)
{
    if (a->server_name)
        hss_entry_assign(e, a->server_name, a->host, a->realm, a->state);
    else
        hss_entry_unassign(e);
}

static void add_profile(hss_t *h, const hss_entry_t *e, cx_msg_t *ans)
{
    char *xml = hss_user_data_xml(&e->sub);
    ans->user_data = xml;
    cx_msg_set(&ans->charging_ecf, h->charging_ecf);
    cx_msg_set(&ans->charging_ccf, h->charging_ccf);
}

static void on_sar(void *app, cx_reply_t *reply, const cx_msg_t *req)
{
    hss_t *h = app;
    int32_t sat = req->server_assignment_type;
    if (!req->server_name || sat == CX_ABSENT || req->user_data_already_available == CX_ABSENT) {
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return;
    }
    hss_entry_t *e = lookup(h, reply, req, 0);
    if (!e)
        return;
    cx_msg_t ans;
    answer_init(&ans, req, e);
    ans.result_code = DIAMETER_SUCCESS;
    assignment_t before;
    save_assignment(e, &before);
    if (sat == CX_SAT_REGISTRATION || sat == CX_SAT_RE_REGISTRATION) {
        hss_entry_assign(e, req->server_name, req->origin_host, req->origin_realm, HSS_REGISTERED);
        if (sat == CX_SAT_REGISTRATION || req->user_data_already_available != 1)
            add_profile(h, e, &ans);
    } else if (sat == CX_SAT_UNREGISTERED_USER) {
        hss_entry_assign(e, req->server_name, req->origin_host, req->origin_realm,
                         HSS_UNREGISTERED);
        add_profile(h, e, &ans);
    } else if (sat == CX_SAT_NO_ASSIGNMENT || sat == CX_SAT_AAA_USER_DATA_REQUEST) {
        if (e->server_name && strcmp(e->server_name, req->server_name) != 0)
            ans.result_code = DIAMETER_UNABLE_TO_COMPLY;
        else
            add_profile(h, e, &ans);
    } else if (is_deregistration(sat)) {
        hss_entry_unassign(e);
    } else if (sat == CX_SAT_TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME ||
               sat == CX_SAT_USER_DEREGISTRATION_STORE_SERVER_NAME) {
        hss_entry_assign(e, req->server_name, req->origin_host, req->origin_realm,
                         HSS_UNREGISTERED);
    } else if (sat == CX_SAT_AUTHENTICATION_FAILURE || sat == CX_SAT_AUTHENTICATION_TIMEOUT) {
        if (e->state == HSS_AUTH_PENDING)
            hss_entry_unassign(e);
    } else {
        ans.result_code = 0;
        ans.experimental_result = DIAMETER_ERROR_IN_ASSIGNMENT_TYPE;
    }
    int changed = !same_assignment(e, &before);
    if (changed && hss_db_write(&h->db, e, HSS_DB_ASSIGNMENT) < 0) {
        /* the S-CSCF tries again; what the database holds stays the truth in memory too */
        restore_assignment(e, &before);
        cx_msg_clear(&ans);
        answer_init(&ans, req, e);
        ans.result_code = DIAMETER_UNABLE_TO_COMPLY;
    }
    clear_assignment(&before);
    log_info("hss: SAR %s type %d from %s: %s, assignment %s", e->sub.impi, sat, req->server_name,
             cx_result_name(ans.result_code, ans.experimental_result),
             hss_reg_state_name(e->state));
    cx_server_answer(reply, &ans);
    cx_msg_clear(&ans);
}

/* ---- UAR and LIR ---- */

static void add_capabilities(hss_t *h, cx_msg_t *ans)
{
    for (size_t i = 0; i < h->nscscf_names && i < CX_MAX_CAPS; i++)
        ans->cap_servers[ans->ncap_servers++] = strdup(h->scscf_names[i]);
}

static void on_uar(void *app, cx_reply_t *reply, const cx_msg_t *req)
{
    hss_t *h = app;
    if (!req->npublic || !req->visited_network) {
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return;
    }
    hss_entry_t *e = lookup(h, reply, req, 1);
    if (!e)
        return;
    if (hss_subscriber_is_barred(&e->sub, req->public_ids[0])) {
        cx_server_answer_code(reply, 5003 /* DIAMETER_AUTHORIZATION_REJECTED */, 0);
        return;
    }
    cx_msg_t ans;
    answer_init(&ans, req, e);
    int type = req->user_authorization_type == CX_ABSENT ? 0 : req->user_authorization_type;
    int assigned = e->server_name && e->state != HSS_AUTH_PENDING;
    if (type == 1) { /* DE_REGISTRATION */
        if (assigned) {
            ans.result_code = DIAMETER_SUCCESS;
            cx_msg_set(&ans.server_name, e->server_name);
        } else {
            ans.experimental_result = DIAMETER_ERROR_IDENTITY_NOT_REGISTERED;
        }
    } else if (assigned && type == 0) {
        ans.experimental_result = DIAMETER_SUBSEQUENT_REGISTRATION;
        cx_msg_set(&ans.server_name, e->server_name);
    } else {
        ans.experimental_result = DIAMETER_FIRST_REGISTRATION;
        add_capabilities(h, &ans);
    }
    cx_server_answer(reply, &ans);
    cx_msg_clear(&ans);
}

static int has_unregistered_service(const hss_subscriber_t *s)
{
    for (size_t i = 0; i < s->nifcs; i++)
        for (size_t j = 0; j < s->ifcs[i].nspts; j++)
            if (s->ifcs[i].spts[j].kind == SPT_SESSION_CASE &&
                s->ifcs[i].spts[j].session_case == HSS_SESSION_TERMINATING_UNREGISTERED)
                return 1;
    return 0;
}

static void on_lir(void *app, cx_reply_t *reply, const cx_msg_t *req)
{
    hss_t *h = app;
    if (!req->npublic) {
        cx_server_answer_code(reply, DIAMETER_MISSING_AVP, 0);
        return;
    }
    hss_entry_t *e = hss_db_by_impu(&h->db, req->public_ids[0]);
    if (!e) {
        cx_server_answer_code(reply, DIAMETER_ERROR_USER_UNKNOWN, 1);
        return;
    }
    cx_msg_t ans;
    cx_msg_init(&ans, CX_CMD_LIA);
    if (e->server_name && e->state == HSS_REGISTERED) {
        ans.result_code = DIAMETER_SUCCESS;
        cx_msg_set(&ans.server_name, e->server_name);
    } else if (e->server_name && e->state == HSS_UNREGISTERED) {
        ans.experimental_result = DIAMETER_UNREGISTERED_SERVICE;
        cx_msg_set(&ans.server_name, e->server_name);
    } else if (has_unregistered_service(&e->sub)) {
        ans.experimental_result = DIAMETER_UNREGISTERED_SERVICE;
        add_capabilities(h, &ans);
    } else {
        ans.experimental_result = DIAMETER_ERROR_IDENTITY_NOT_REGISTERED;
    }
    cx_server_answer(reply, &ans);
    cx_msg_clear(&ans);
}

const cx_node_handler_t hss_cx_handlers[] = {
    {CX_CMD_MAR, on_mar}, {CX_CMD_SAR, on_sar}, {CX_CMD_UAR, on_uar}, {CX_CMD_LIR, on_lir}};
const size_t hss_cx_nhandlers = sizeof hss_cx_handlers / sizeof hss_cx_handlers[0];
