/* cx_codec.c: a cx_msg_t goes through freeDiameter's encoder to bytes and comes back equal,
 * for a request and for an answer carrying every kind of field; hostile values are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "diameter/cx_msg.h"
#include "diameter/hss/hss.h"
#include "tests/unit/fd_test.h"

#include <freeDiameter/libfdcore.h>

static cx_dict_t cx;

static int load_freediameter(void **state)
{
    return fd_test_load("scscf.cx.local") || cx_dict_init(fd_g_config->cnf_dict, &cx) ? -1 : 0;
}

/* To bytes and back, as a peer would receive it. */
static struct msg *wire(struct msg *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    struct msg *back = NULL;
    assert_int_equal(fd_msg_bufferize(m, &buf, &len), 0);
    assert_int_equal(fd_msg_parse_buffer(&buf, len, &back), 0);
    assert_int_equal(fd_msg_parse_dict(back, fd_g_config->cnf_dict, NULL), 0);
    fd_msg_free(m);
    return back;
}

static void fill_request(cx_msg_t *m)
{
    cx_msg_init(m, CX_CMD_MAR);
    cx_msg_set(&m->destination_realm, "cx.local");
    cx_msg_set(&m->destination_host, "hss.cx.local");
    cx_msg_set(&m->user_name, "alice@cx.local");
    cx_msg_add_public(m, "sip:alice@cx.local");
    cx_msg_add_public(m, "tel:+15550001");
    cx_msg_set(&m->server_name, "sip:scscf.cx.local:6060");
    cx_msg_set(&m->visited_network, "cx.local");
    m->auth_items = 3;
    m->server_assignment_type = CX_SAT_RE_REGISTRATION;
    m->user_data_already_available = 1;
    m->user_authorization_type = 2;
    m->reason_code = 1;
    cx_msg_set(&m->reason_info, "new profile");
    cx_auth_item_t *it = cx_msg_add_item(m);
    cx_msg_set(&it->scheme, "Digest-AKAv1-MD5");
    memset(it->authorization, 0xa5, 30);
    it->authorization_len = 30; /* RAND || AUTS */
}

static void request_round_trips(void **state)
{
    cx_msg_t m, back;
    struct msg *msg;
    fill_request(&m);
    assert_int_equal(cx_encode_request(&cx, &m, &msg), 0);
    msg = wire(msg);
    assert_int_equal(cx_msg_command(msg), CX_CMD_MAR);
    assert_int_equal(cx_decode(&cx, msg, &back), 0);
    assert_int_equal(back.cmd, CX_CMD_MAR);
    assert_string_equal(back.origin_host, "scscf.cx.local");
    assert_string_equal(back.origin_realm, "cx.local");
    assert_string_equal(back.destination_host, "hss.cx.local");
    assert_string_equal(back.user_name, "alice@cx.local");
    assert_int_equal(back.npublic, 2);
    assert_string_equal(back.public_ids[1], "tel:+15550001");
    assert_string_equal(back.server_name, "sip:scscf.cx.local:6060");
    assert_string_equal(back.visited_network, "cx.local");
    assert_int_equal(back.auth_items, 3);
    assert_int_equal(back.server_assignment_type, CX_SAT_RE_REGISTRATION);
    assert_int_equal(back.user_data_already_available, 1);
    assert_int_equal(back.user_authorization_type, 2);
    assert_int_equal(back.reason_code, 1);
    assert_string_equal(back.reason_info, "new profile");
    assert_int_equal(back.nitems, 1);
    assert_string_equal(back.items[0].scheme, "Digest-AKAv1-MD5");
    assert_int_equal(back.items[0].authorization_len, 30);
    assert_memory_equal(back.items[0].authorization, m.items[0].authorization, 30);
    cx_msg_clear(&back);
    cx_msg_clear(&m);
    fd_msg_free(msg);
}

static void answer_round_trips(void **state)
{
    cx_msg_t req, ans, back;
    struct msg *msg;
    fill_request(&req);
    assert_int_equal(cx_encode_request(&cx, &req, &msg), 0);
    cx_msg_init(&ans, CX_CMD_MAA);
    ans.experimental_result = DIAMETER_ERROR_IDENTITIES_DONT_MATCH;
    cx_msg_set(&ans.user_data, "<IMSSubscription/>");
    cx_msg_set(&ans.charging_ccf, "aaa://ccf.cx.local:3868");
    ans.mandatory_caps[ans.nmandatory++] = 7;
    ans.optional_caps[ans.noptional++] = 9;
    ans.cap_servers[ans.ncap_servers++] = strdup("sip:scscf1.cx.local");
    ans.associated_ids[ans.nassociated++] = strdup("bob@cx.local");
    cx_auth_item_t *it = cx_msg_add_item(&ans);
    it->item_number = 1;
    memset(it->authenticate, 1, 32);
    it->authenticate_len = 32;
    memset(it->ck, 2, 16);
    memset(it->ik, 3, 16);
    it->has_ck = it->has_ik = 1;
    it = cx_msg_add_item(&ans);
    cx_msg_set(&it->scheme, "SIP Digest");
    cx_msg_set(&it->digest_realm, "cx.local");
    cx_msg_set(&it->digest_ha1, "0123456789abcdef0123456789abcdef");
    assert_int_equal(cx_encode_answer(&cx, &ans, &msg), 0);
    msg = wire(msg);
    assert_int_equal(cx_msg_command(msg), CX_CMD_MAA);
    assert_int_equal(cx_decode(&cx, msg, &back), 0);
    assert_int_equal(back.experimental_result, DIAMETER_ERROR_IDENTITIES_DONT_MATCH);
    assert_int_equal(back.result_code, 0);
    assert_string_equal(cx_result_name(0, back.experimental_result),
                        "DIAMETER_ERROR_IDENTITIES_DONT_MATCH");
    assert_string_equal(back.user_data, "<IMSSubscription/>");
    assert_string_equal(back.charging_ccf, "aaa://ccf.cx.local:3868");
    assert_null(back.charging_ecf);
    assert_int_equal(back.nmandatory, 1);
    assert_int_equal(back.optional_caps[0], 9);
    assert_string_equal(back.cap_servers[0], "sip:scscf1.cx.local");
    assert_string_equal(back.associated_ids[0], "bob@cx.local");
    assert_int_equal(back.nitems, 2);
    assert_int_equal(back.items[0].item_number, 1);
    assert_int_equal(back.items[0].authenticate_len, 32);
    assert_true(back.items[0].has_ck && back.items[0].has_ik);
    assert_int_equal(back.items[0].ik[15], 3);
    assert_string_equal(back.items[1].digest_ha1, "0123456789abcdef0123456789abcdef");
    assert_string_equal(back.items[1].digest_realm, "cx.local");
    cx_msg_clear(&back);
    cx_msg_clear(&ans);
    cx_msg_clear(&req);
    fd_msg_free(msg);
}

/* A User-Name with a NUL inside cannot become a C string: the whole decode is refused. */
static void nul_in_string_is_refused(void **state)
{
    cx_msg_t m, back;
    struct msg *msg;
    cx_msg_init(&m, CX_CMD_LIR);
    cx_msg_add_public(&m, "sip:x@cx.local");
    assert_int_equal(cx_encode_request(&cx, &m, &msg), 0);
    struct avp *a = NULL;
    assert_int_equal(fd_msg_avp_new(cx.avp[CX_AVP_USER_NAME], 0, &a), 0);
    union avp_value v = {.os = {(uint8_t *)"ab\0cd", 5}};
    assert_int_equal(fd_msg_avp_setvalue(a, &v), 0);
    assert_int_equal(fd_msg_avp_add(msg, MSG_BRW_LAST_CHILD, a), 0);
    msg = wire(msg);
    assert_int_not_equal(cx_decode(&cx, msg, &back), 0);
    assert_null(back.user_name);
    assert_int_equal(back.npublic, 0);
    cx_msg_clear(&m);
    fd_msg_free(msg);
}

/* More vectors and identities than the struct holds are dropped, not overflowed. */
static void limits_hold(void **state)
{
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_MAA);
    for (int i = 0; i < CX_MAX_ITEMS; i++)
        assert_non_null(cx_msg_add_item(&m));
    assert_null(cx_msg_add_item(&m));
    for (int i = 0; i < CX_MAX_IDS; i++)
        assert_int_equal(cx_msg_add_public(&m, "sip:a@b"), 0);
    assert_int_equal(cx_msg_add_public(&m, "sip:a@b"), -1);
    cx_msg_clear(&m);
}

/* TS 33.102 Annex C: SEQ goes up by one per vector while IND cycles through 2^bits values. */
static void sqn_increments(void **state)
{
    assert_int_equal(hss_next_sqn(0, 0), 1);
    assert_int_equal(hss_next_sqn(0, 5), 0x21);
    assert_int_equal(hss_next_sqn(0x3f, 5), 0x40);           /* IND 31 -> 0, SEQ 1 -> 2 */
    assert_int_equal(hss_next_sqn(0xffffffffffffULL, 0), 0); /* 48 bits wrap */
    uint64_t s = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t n = hss_next_sqn(s, 5);
        assert_true((n >> 5) == (s >> 5) + 1);
        s = n;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_round_trips),      cmocka_unit_test(answer_round_trips),
        cmocka_unit_test(nul_in_string_is_refused), cmocka_unit_test(limits_hold),
        cmocka_unit_test(sqn_increments),
    };
    return cmocka_run_group_tests_name("cx_codec", tests, load_freediameter, NULL);
}
