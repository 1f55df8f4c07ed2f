/* cx_msg_t <-> freeDiameter messages. Encoding adds only the fields that are set, in the order
 * of TS 29.229's command ABNFs; decoding walks the top-level AVPs once and ignores what Cx does
 * not define (a peer may add AVPs we do not know). */
#include "diameter/cx_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#define AUTH_SESSION_NO_STATE 1

void cx_msg_init(cx_msg_t *m, cx_cmd_t cmd)
{
    memset(m, 0, sizeof *m);
    m->cmd = cmd;
    m->user_authorization_type = CX_ABSENT;
    m->server_assignment_type = CX_ABSENT;
    m->user_data_already_available = CX_ABSENT;
    m->reason_code = CX_ABSENT;
}

static void clear_item(cx_auth_item_t *it)
{
    free(it->scheme);
    free(it->digest_realm);
    free(it->digest_qop);
    free(it->digest_algorithm);
    free(it->digest_ha1);
}

void cx_msg_clear(cx_msg_t *m)
{
    char **strs[] = {&m->origin_host,       &m->origin_realm, &m->destination_host,
                     &m->destination_realm, &m->user_name,    &m->visited_network,
                     &m->server_name,       &m->user_data,    &m->charging_ecf,
                     &m->charging_ccf,      &m->reason_info};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    for (size_t i = 0; i < m->npublic; i++)
        free(m->public_ids[i]);
    for (size_t i = 0; i < m->ncap_servers; i++)
        free(m->cap_servers[i]);
    for (size_t i = 0; i < m->nassociated; i++)
        free(m->associated_ids[i]);
    for (size_t i = 0; i < m->nitems; i++)
        clear_item(&m->items[i]);
    cx_msg_init(m, m->cmd);
}

/* *s replaced by its own copy (NULL stays NULL): 0, or -1 with *s NULL. */
static int dup_in_place(char **s)
{
    if (!*s)
        return 0;
    *s = strdup(*s);
    return *s ? 0 : -1;
}

int cx_msg_copy(cx_msg_t *dst, const cx_msg_t *src)
{
    *dst = *src; /* the numbers, and pointers each replaced by a copy below */
    char **strs[] = {&dst->origin_host,       &dst->origin_realm, &dst->destination_host,
                     &dst->destination_realm, &dst->user_name,    &dst->visited_network,
                     &dst->server_name,       &dst->user_data,    &dst->charging_ecf,
                     &dst->charging_ccf,      &dst->reason_info};
    int rc = 0;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        rc |= dup_in_place(strs[i]);
    for (size_t i = 0; i < dst->npublic; i++)
        rc |= dup_in_place(&dst->public_ids[i]);
    for (size_t i = 0; i < dst->ncap_servers; i++)
        rc |= dup_in_place(&dst->cap_servers[i]);
    for (size_t i = 0; i < dst->nassociated; i++)
        rc |= dup_in_place(&dst->associated_ids[i]);
    for (size_t i = 0; i < dst->nitems; i++) {
        cx_auth_item_t *it = &dst->items[i];
        rc |= dup_in_place(&it->scheme) | dup_in_place(&it->digest_realm) |
              dup_in_place(&it->digest_qop) | dup_in_place(&it->digest_algorithm) |
              dup_in_place(&it->digest_ha1);
    }
    if (rc)
        cx_msg_clear(dst); /* every pointer is a copy or NULL: nothing of src is freed */
    return rc ? -1 : 0;
}

int cx_msg_set(char **field, const char *s)
{
    free(*field);
    *field = s ? strdup(s) : NULL;
    return s && !*field ? -1 : 0;
}

int cx_msg_add_public(cx_msg_t *m, const char *impu)
{
    if (m->npublic >= CX_MAX_IDS || !(m->public_ids[m->npublic] = strdup(impu)))
        return -1;
    m->npublic++;
    return 0;
}

cx_auth_item_t *cx_msg_add_item(cx_msg_t *m)
{
    if (m->nitems >= CX_MAX_ITEMS)
        return NULL;
    cx_auth_item_t *it = &m->items[m->nitems++];
    memset(it, 0, sizeof *it);
    return it;
}

const char *cx_result_name(uint32_t rc, uint32_t exp)
{
    switch (exp) {
    case 0:
        break;
    case 2001:
        return "DIAMETER_FIRST_REGISTRATION";
    case 2002:
        return "DIAMETER_SUBSEQUENT_REGISTRATION";
    case 2003:
        return "DIAMETER_UNREGISTERED_SERVICE";
    case 2004:
        return "DIAMETER_SERVER_SELECTION";
    case 5001:
        return "DIAMETER_ERROR_USER_UNKNOWN";
    case 5002:
        return "DIAMETER_ERROR_IDENTITIES_DONT_MATCH";
    case 5003:
        return "DIAMETER_ERROR_IDENTITY_NOT_REGISTERED";
    case 5004:
        return "DIAMETER_ERROR_ROAMING_NOT_ALLOWED";
    case 5005:
        return "DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED";
    case 5006:
        return "DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED";
    case 5007:
        return "DIAMETER_ERROR_IN_ASSIGNMENT_TYPE";
    case 5008:
        return "DIAMETER_ERROR_TOO_MUCH_DATA";
    case 5009:
        return "DIAMETER_ERROR_NOT_SUPPORTED_USER_DATA";
    default:
        return "experimental";
    }
    switch (rc) {
    case 2001:
        return "DIAMETER_SUCCESS";
    case 3002:
        return "DIAMETER_UNABLE_TO_DELIVER";
    case 3004:
        return "DIAMETER_TOO_BUSY";
    case 3007:
        return "DIAMETER_APPLICATION_UNSUPPORTED";
    case 5004:
        return "DIAMETER_INVALID_AVP_VALUE";
    case 5005:
        return "DIAMETER_MISSING_AVP";
    case 5012:
        return "DIAMETER_UNABLE_TO_COMPLY";
    default:
        return "other";
    }
}

/* ---- encoding ---- */

/* The first error sticks: after it every put_* does nothing, so the builders below read as
 * plain lists of AVPs. */
typedef struct enc {
    const cx_dict_t *cx;
    int rc;
} enc_t;

static void put_raw(enc_t *e, msg_or_avp *parent, cx_avp_t which, union avp_value *v)
{
    struct avp *a = NULL;
    if (e->rc)
        return;
    e->rc = fd_msg_avp_new(e->cx->avp[which], 0, &a);
    if (e->rc == 0 && v)
        e->rc = fd_msg_avp_setvalue(a, v);
    if (e->rc == 0)
        e->rc = fd_msg_avp_add(parent, MSG_BRW_LAST_CHILD, a);
    if (e->rc && a)
        fd_msg_free(a);
}

static void put_bytes(enc_t *e, msg_or_avp *parent, cx_avp_t which, const void *p, size_t len)
{
    union avp_value v = {.os = {.data = (uint8_t *)p, .len = len}};
    put_raw(e, parent, which, &v);
}

static void put_str(enc_t *e, msg_or_avp *parent, cx_avp_t which, const char *s)
{
    if (s)
        put_bytes(e, parent, which, s, strlen(s));
}

static void put_u32(enc_t *e, msg_or_avp *parent, cx_avp_t which, uint32_t x)
{
    union avp_value v = {.u32 = x};
    put_raw(e, parent, which, &v);
}

static void put_i32(enc_t *e, msg_or_avp *parent, cx_avp_t which, int32_t x)
{
    union avp_value v = {.i32 = x};
    if (x != CX_ABSENT)
        put_raw(e, parent, which, &v);
}

/* A grouped AVP added to parent, to add children to (NULL after an error). */
static struct avp *put_group(enc_t *e, msg_or_avp *parent, cx_avp_t which)
{
    struct avp *g = NULL;
    if (e->rc)
        return NULL;
    e->rc = fd_msg_avp_new(e->cx->avp[which], 0, &g);
    if (e->rc == 0 && (e->rc = fd_msg_avp_add(parent, MSG_BRW_LAST_CHILD, g)) != 0)
        fd_msg_free(g);
    return e->rc ? NULL : g;
}

static void put_common(enc_t *e, struct msg *msg)
{
    struct avp *vsai = put_group(e, msg, CX_AVP_VENDOR_SPECIFIC_APP_ID);
    put_u32(e, vsai, CX_AVP_VENDOR_ID, CX_VENDOR_3GPP);
    put_u32(e, vsai, CX_AVP_AUTH_APP_ID, CX_APP_ID);
    put_i32(e, msg, CX_AVP_AUTH_SESSION_STATE, AUTH_SESSION_NO_STATE);
    if (e->rc == 0)
        e->rc = fd_msg_add_origin(msg, 0);
}

static void put_item(enc_t *e, msg_or_avp *parent, const cx_auth_item_t *it)
{
    struct avp *g = put_group(e, parent, CX_AVP_SIP_AUTH_DATA_ITEM);
    if (it->item_number)
        put_u32(e, g, CX_AVP_SIP_ITEM_NUMBER, it->item_number);
    put_str(e, g, CX_AVP_SIP_AUTH_SCHEME, it->scheme);
    if (it->authenticate_len)
        put_bytes(e, g, CX_AVP_SIP_AUTHENTICATE, it->authenticate, it->authenticate_len);
    if (it->authorization_len)
        put_bytes(e, g, CX_AVP_SIP_AUTHORIZATION, it->authorization, it->authorization_len);
    if (it->has_ck)
        put_bytes(e, g, CX_AVP_CONFIDENTIALITY_KEY, it->ck, sizeof it->ck);
    if (it->has_ik)
        put_bytes(e, g, CX_AVP_INTEGRITY_KEY, it->ik, sizeof it->ik);
    if (it->digest_ha1) {
        struct avp *d = put_group(e, g, CX_AVP_SIP_DIGEST_AUTHENTICATE);
        put_str(e, d, CX_AVP_DIGEST_REALM, it->digest_realm);
        put_str(e, d, CX_AVP_DIGEST_ALGORITHM, it->digest_algorithm);
        put_str(e, d, CX_AVP_DIGEST_QOP, it->digest_qop);
        put_str(e, d, CX_AVP_DIGEST_HA1, it->digest_ha1);
    }
}

static void put_capabilities(enc_t *e, struct msg *msg, const cx_msg_t *m)
{
    if (!m->nmandatory && !m->noptional && !m->ncap_servers)
        return;
    struct avp *g = put_group(e, msg, CX_AVP_SERVER_CAPABILITIES);
    for (size_t i = 0; i < m->nmandatory; i++)
        put_u32(e, g, CX_AVP_MANDATORY_CAPABILITY, m->mandatory_caps[i]);
    for (size_t i = 0; i < m->noptional; i++)
        put_u32(e, g, CX_AVP_OPTIONAL_CAPABILITY, m->optional_caps[i]);
    for (size_t i = 0; i < m->ncap_servers; i++)
        put_str(e, g, CX_AVP_SERVER_NAME, m->cap_servers[i]);
}

static void put_reason_and_charging(enc_t *e, struct msg *msg, const cx_msg_t *m)
{
    if (m->reason_code != CX_ABSENT) {
        struct avp *g = put_group(e, msg, CX_AVP_DEREGISTRATION_REASON);
        put_i32(e, g, CX_AVP_REASON_CODE, m->reason_code);
        put_str(e, g, CX_AVP_REASON_INFO, m->reason_info);
    }
    if (m->charging_ecf || m->charging_ccf) {
        struct avp *g = put_group(e, msg, CX_AVP_CHARGING_INFORMATION);
        put_str(e, g, CX_AVP_PRIMARY_EVENT_CF, m->charging_ecf);
        put_str(e, g, CX_AVP_PRIMARY_CCF, m->charging_ccf);
    }
    if (m->nassociated) {
        struct avp *g = put_group(e, msg, CX_AVP_ASSOCIATED_IDENTITIES);
        for (size_t i = 0; i < m->nassociated; i++)
            put_str(e, g, CX_AVP_USER_NAME, m->associated_ids[i]);
    }
}

static void put_body(enc_t *e, struct msg *msg, const cx_msg_t *m)
{
    put_str(e, msg, CX_AVP_USER_NAME, m->user_name);
    for (size_t i = 0; i < m->npublic; i++)
        put_str(e, msg, CX_AVP_PUBLIC_IDENTITY, m->public_ids[i]);
    put_str(e, msg, CX_AVP_VISITED_NETWORK_ID, m->visited_network);
    put_i32(e, msg, CX_AVP_USER_AUTHORIZATION_TYPE, m->user_authorization_type);
    put_str(e, msg, CX_AVP_SERVER_NAME, m->server_name);
    put_capabilities(e, msg, m);
    if (m->auth_items)
        put_u32(e, msg, CX_AVP_SIP_NUMBER_AUTH_ITEMS, m->auth_items);
    for (size_t i = 0; i < m->nitems; i++)
        put_item(e, msg, &m->items[i]);
    put_i32(e, msg, CX_AVP_SERVER_ASSIGNMENT_TYPE, m->server_assignment_type);
    put_i32(e, msg, CX_AVP_USER_DATA_ALREADY_AVAILABLE, m->user_data_already_available);
    if (m->user_data)
        put_bytes(e, msg, CX_AVP_USER_DATA, m->user_data, strlen(m->user_data));
    put_reason_and_charging(e, msg, m);
}

int cx_encode_request(const cx_dict_t *cx, const cx_msg_t *m, struct msg **out)
{
    struct msg *msg = NULL;
    enc_t e = {cx, 0};
    *out = NULL;
    e.rc = fd_msg_new(cx->cmd[m->cmd], MSGFL_ALLOC_ETEID, &msg);
    if (e.rc == 0)
        e.rc = fd_msg_new_session(msg, NULL, 0);
    put_common(&e, msg);
    put_str(&e, msg, CX_AVP_DESTINATION_HOST, m->destination_host);
    put_str(&e, msg, CX_AVP_DESTINATION_REALM, m->destination_realm);
    put_body(&e, msg, m);
    if (e.rc) {
        if (msg)
            fd_msg_free(msg);
        return e.rc;
    }
    *out = msg;
    return 0;
}

int cx_encode_answer(const cx_dict_t *cx, const cx_msg_t *m, struct msg **req)
{
    enc_t e = {cx, fd_msg_new_answer_from_req(cx->dict, req, 0)};
    if (e.rc)
        return e.rc;
    struct msg *ans = *req;
    put_common(&e, ans);
    if (m->experimental_result) {
        struct avp *g = put_group(&e, ans, CX_AVP_EXPERIMENTAL_RESULT);
        put_u32(&e, g, CX_AVP_VENDOR_ID, CX_VENDOR_3GPP);
        put_u32(&e, g, CX_AVP_EXPERIMENTAL_RESULT_CODE, m->experimental_result);
    } else {
        put_u32(&e, ans, CX_AVP_RESULT_CODE, m->result_code ? m->result_code : 5012);
    }
    put_body(&e, ans, m);
    return e.rc;
}

/* ---- decoding ---- */

typedef struct view {
    uint32_t code, vendor;
    union avp_value *v; /* NULL for grouped */
    struct avp *avp;
} view_t;

static int first_child(msg_or_avp *parent, struct avp **out)
{
    return fd_msg_browse(parent, MSG_BRW_FIRST_CHILD, out, NULL);
}

static int next_sibling(struct avp *a, struct avp **out)
{
    return fd_msg_browse(a, MSG_BRW_NEXT, out, NULL);
}

static int view(struct avp *a, view_t *out)
{
    struct avp_hdr *h;
    int rc = fd_msg_avp_hdr(a, &h);
    if (rc)
        return rc;
    out->code = h->avp_code;
    out->vendor = (h->avp_flags & AVP_FLAG_VENDOR) ? h->avp_vendor : 0;
    out->v = h->avp_value;
    out->avp = a;
    return 0;
}

static int is(const view_t *w, uint32_t code, uint32_t vendor)
{
    return w->code == code && w->vendor == vendor;
}

#define IS3(w, code) is(w, code, CX_VENDOR_3GPP)

/* A UTF8String/OctetString value as a C string; embedded NULs are refused. */
static int take_str(const view_t *w, char **field)
{
    if (!w->v || memchr(w->v->os.data, 0, w->v->os.len))
        return EINVAL;
    free(*field);
    *field = strndup((const char *)w->v->os.data, w->v->os.len);
    return *field ? 0 : ENOMEM;
}

static int take_bytes(const view_t *w, uint8_t *buf, size_t cap, size_t *len)
{
    if (!w->v || w->v->os.len > cap)
        return EINVAL;
    memcpy(buf, w->v->os.data, w->v->os.len);
    *len = w->v->os.len;
    return 0;
}

static int take_key(const view_t *w, uint8_t key[16], int *has)
{
    size_t len;
    int rc = take_bytes(w, key, 16, &len);
    if (rc == 0 && len != 16)
        rc = EINVAL;
    *has = rc == 0;
    return rc;
}

static int take_list(const view_t *w, char **list, size_t *n, size_t max)
{
    if (*n >= max)
        return 0; /* more identities than we keep: the rest are ignored */
    int rc = take_str(w, &list[*n]);
    if (rc == 0)
        (*n)++;
    return rc;
}

typedef int (*visit_f)(const view_t *w, void *ctx);

/* Calls fn for each child AVP of parent; the first error ends the walk and is returned. */
static int walk(msg_or_avp *parent, visit_f fn, void *ctx)
{
    struct avp *a = NULL;
    int rc = first_child(parent, &a);
    while (rc == 0 && a) {
        view_t w;
        rc = view(a, &w);
        if (rc == 0)
            rc = fn(&w, ctx);
        if (rc == 0)
            rc = next_sibling(a, &a);
    }
    return rc;
}

static int visit_digest(const view_t *w, void *ctx)
{
    cx_auth_item_t *it = ctx;
    if (is(w, 104, 0))
        return take_str(w, &it->digest_realm);
    if (is(w, 110, 0))
        return take_str(w, &it->digest_qop);
    if (is(w, 111, 0))
        return take_str(w, &it->digest_algorithm);
    if (is(w, 121, 0))
        return take_str(w, &it->digest_ha1);
    return 0;
}

static int visit_item(const view_t *w, void *ctx)
{
    cx_auth_item_t *it = ctx;
    if (IS3(w, 613) && w->v)
        it->item_number = w->v->u32;
    else if (IS3(w, 608))
        return take_str(w, &it->scheme);
    else if (IS3(w, 609))
        return take_bytes(w, it->authenticate, sizeof it->authenticate, &it->authenticate_len);
    else if (IS3(w, 610))
        return take_bytes(w, it->authorization, sizeof it->authorization, &it->authorization_len);
    else if (IS3(w, 625))
        return take_key(w, it->ck, &it->has_ck);
    else if (IS3(w, 626))
        return take_key(w, it->ik, &it->has_ik);
    else if (IS3(w, 635))
        return walk(w->avp, visit_digest, it);
    return 0;
}

static int decode_item(struct avp *g, cx_msg_t *m)
{
    cx_auth_item_t *it = cx_msg_add_item(m);
    return it ? walk(g, visit_item, it) : 0; /* more vectors than we keep are ignored */
}

static int visit_experimental(const view_t *w, void *ctx)
{
    cx_msg_t *m = ctx;
    if (is(w, 298, 0) && w->v)
        m->experimental_result = w->v->u32;
    return 0;
}

static int visit_capabilities(const view_t *w, void *ctx)
{
    cx_msg_t *m = ctx;
    if (IS3(w, 604) && w->v && m->nmandatory < CX_MAX_CAPS)
        m->mandatory_caps[m->nmandatory++] = w->v->u32;
    else if (IS3(w, 605) && w->v && m->noptional < CX_MAX_CAPS)
        m->optional_caps[m->noptional++] = w->v->u32;
    else if (IS3(w, 602))
        return take_list(w, m->cap_servers, &m->ncap_servers, CX_MAX_CAPS);
    return 0;
}

static int visit_reason(const view_t *w, void *ctx)
{
    cx_msg_t *m = ctx;
    if (IS3(w, 616) && w->v)
        m->reason_code = w->v->i32;
    else if (IS3(w, 617))
        return take_str(w, &m->reason_info);
    return 0;
}

static int visit_charging(const view_t *w, void *ctx)
{
    cx_msg_t *m = ctx;
    if (IS3(w, 619))
        return take_str(w, &m->charging_ecf);
    if (IS3(w, 621))
        return take_str(w, &m->charging_ccf);
    return 0;
}

static int visit_associated(const view_t *w, void *ctx)
{
    cx_msg_t *m = ctx;
    return is(w, 1, 0) ? take_list(w, m->associated_ids, &m->nassociated, CX_MAX_IDS) : 0;
}

static int decode_base(const view_t *w, cx_msg_t *m)
{
    switch (w->code) {
    case 264:
        return take_str(w, &m->origin_host);
    case 296:
        return take_str(w, &m->origin_realm);
    case 293:
        return take_str(w, &m->destination_host);
    case 283:
        return take_str(w, &m->destination_realm);
    case 268:
        if (w->v)
            m->result_code = w->v->u32;
        return 0;
    case 297:
        return walk(w->avp, visit_experimental, m);
    case 1:
        return take_str(w, &m->user_name);
    default:
        return 0;
    }
}

static int decode_3gpp(const view_t *w, cx_msg_t *m)
{
    switch (w->code) {
    case 601:
        return take_list(w, m->public_ids, &m->npublic, CX_MAX_IDS);
    case 600:
        return take_str(w, &m->visited_network);
    case 602:
        return take_str(w, &m->server_name);
    case 603:
        return walk(w->avp, visit_capabilities, m);
    case 615:
        return walk(w->avp, visit_reason, m);
    case 618:
        return walk(w->avp, visit_charging, m);
    case 632:
        return walk(w->avp, visit_associated, m);
    case 606:
        return take_str(w, &m->user_data);
    case 607:
        m->auth_items = w->v ? w->v->u32 : 0;
        return 0;
    case 612:
        return decode_item(w->avp, m);
    case 614:
        m->server_assignment_type = w->v ? w->v->i32 : CX_ABSENT;
        return 0;
    case 623:
        m->user_authorization_type = w->v ? w->v->i32 : CX_ABSENT;
        return 0;
    case 624:
        m->user_data_already_available = w->v ? w->v->i32 : CX_ABSENT;
        return 0;
    default:
        return 0;
    }
}

static int visit_top(const view_t *w, void *ctx)
{
    return w->vendor == 0                ? decode_base(w, ctx)
           : w->vendor == CX_VENDOR_3GPP ? decode_3gpp(w, ctx)
                                         : 0;
}

cx_cmd_t cx_msg_command(struct msg *msg)
{
    struct msg_hdr *h;
    if (fd_msg_hdr(msg, &h) || h->msg_appl != CX_APP_ID || h->msg_code < 300 || h->msg_code > 305)
        return CX_CMD_COUNT;
    return (cx_cmd_t)((h->msg_code - 300) * 2 + ((h->msg_flags & CMD_FLAG_REQUEST) ? 0 : 1));
}

int cx_decode(const cx_dict_t *cx, struct msg *msg, cx_msg_t *m)
{
    (void)cx;
    cx_msg_init(m, cx_msg_command(msg));
    int rc = walk(msg, visit_top, m);
    if (rc)
        cx_msg_clear(m);
    return rc;
}
