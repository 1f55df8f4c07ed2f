/* cx_dict.c on a real freeDiameter dictionary (Debian's dict_nasreq, dict_dcca, dict_dcca_3gpp):
 * the Cx application and commands exist, and every command encodes to bytes and decodes back
 * to the same bytes with the AVPs' codes, flags and vendors as TS 29.229 and RFC 4590 say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util/log.h"
#include "diameter/cx_dict.h"
#include "tests/unit/fd_test.h"

#include <freeDiameter/libfdcore.h>

static cx_dict_t cx;

static int load_freediameter(void **state)
{
    return fd_test_load("test.cx.local");
}

static void init_resolves_everything(void **state)
{
    assert_int_equal(cx_dict_init(fd_g_config->cnf_dict, &cx), 0);
    assert_non_null(cx.app);
    for (int i = 0; i < CX_CMD_COUNT; i++)
        assert_non_null(cx.cmd[i]);
    for (int i = 0; i < CX_AVP_COUNT; i++)
        assert_non_null(cx.avp[i]);
    struct dict_application_data app;
    assert_int_equal(fd_dict_getval(cx.app, &app), 0);
    assert_int_equal(app.application_id, CX_APP_ID);
    /* a second init finds what the first added */
    cx_dict_t again;
    assert_int_equal(cx_dict_init(fd_g_config->cnf_dict, &again), 0);
    assert_ptr_equal(again.avp[CX_AVP_DIGEST_HA1], cx.avp[CX_AVP_DIGEST_HA1]);
    assert_ptr_equal(again.cmd[CX_CMD_MAR], cx.cmd[CX_CMD_MAR]);
}

static struct avp *os(cx_avp_t which, const char *s)
{
    struct avp *a = NULL;
    assert_int_equal(fd_msg_avp_new(cx.avp[which], 0, &a), 0);
    union avp_value v = {.os = {(uint8_t *)s, strlen(s)}};
    assert_int_equal(fd_msg_avp_setvalue(a, &v), 0);
    return a;
}

static struct avp *u32(cx_avp_t which, uint32_t x)
{
    struct avp *a = NULL;
    assert_int_equal(fd_msg_avp_new(cx.avp[which], 0, &a), 0);
    union avp_value v = {.u32 = x};
    assert_int_equal(fd_msg_avp_setvalue(a, &v), 0);
    return a;
}

static struct avp *i32(cx_avp_t which, int32_t x)
{
    struct avp *a = NULL;
    assert_int_equal(fd_msg_avp_new(cx.avp[which], 0, &a), 0);
    union avp_value v = {.i32 = x};
    assert_int_equal(fd_msg_avp_setvalue(a, &v), 0);
    return a;
}

static struct avp *group(cx_avp_t which, struct avp *a, struct avp *b, struct avp *c)
{
    struct avp *g = NULL;
    assert_int_equal(fd_msg_avp_new(cx.avp[which], 0, &g), 0);
    struct avp *kids[] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (kids[i])
            assert_int_equal(fd_msg_avp_add(g, MSG_BRW_LAST_CHILD, kids[i]), 0);
    return g;
}

static void add(struct msg *m, struct avp *a)
{
    assert_int_equal(fd_msg_avp_add(m, MSG_BRW_LAST_CHILD, a), 0);
}

/* The AVPs each command carries in this test: the common head plus what makes it Cx. */
static void fill(struct msg *m, cx_cmd_t cmd)
{
    add(m, os(CX_AVP_SESSION_ID, "scscf.ims.local;1;2"));
    add(m, group(CX_AVP_VENDOR_SPECIFIC_APP_ID, u32(CX_AVP_VENDOR_ID, CX_VENDOR_3GPP),
                 u32(CX_AVP_AUTH_APP_ID, CX_APP_ID), NULL));
    add(m, i32(CX_AVP_AUTH_SESSION_STATE, 1));
    add(m, os(CX_AVP_ORIGIN_HOST, "scscf.ims.local"));
    add(m, os(CX_AVP_ORIGIN_REALM, "ims.local"));
    add(m, os(CX_AVP_USER_NAME, "001010000000001@ims.local"));
    add(m, os(CX_AVP_PUBLIC_IDENTITY, "sip:001010000000001@ims.local"));
    switch (cmd) {
    case CX_CMD_MAR:
        add(m, u32(CX_AVP_SIP_NUMBER_AUTH_ITEMS, 1));
        add(m, group(CX_AVP_SIP_AUTH_DATA_ITEM, os(CX_AVP_SIP_AUTH_SCHEME, "Digest-AKAv1-MD5"),
                     NULL, NULL));
        add(m, os(CX_AVP_SERVER_NAME, "sip:scscf.ims.local:6060"));
        break;
    case CX_CMD_MAA:
        add(m, group(CX_AVP_SIP_AUTH_DATA_ITEM, os(CX_AVP_SIP_AUTHENTICATE, "0123456789abcdef"),
                     os(CX_AVP_CONFIDENTIALITY_KEY, "ck-bytes-16-long"),
                     os(CX_AVP_INTEGRITY_KEY, "ik-bytes-16-long")));
        add(m, group(CX_AVP_SIP_DIGEST_AUTHENTICATE, os(CX_AVP_DIGEST_REALM, "ims.local"),
                     os(CX_AVP_DIGEST_HA1, "0123456789abcdef0123456789abcdef"),
                     os(CX_AVP_DIGEST_QOP, "auth")));
        add(m, group(CX_AVP_EXPERIMENTAL_RESULT, u32(CX_AVP_VENDOR_ID, CX_VENDOR_3GPP),
                     u32(CX_AVP_EXPERIMENTAL_RESULT_CODE, 5001), NULL));
        break;
    case CX_CMD_SAR:
        add(m, i32(CX_AVP_SERVER_ASSIGNMENT_TYPE, 1));
        add(m, i32(CX_AVP_USER_DATA_ALREADY_AVAILABLE, 0));
        add(m, os(CX_AVP_SERVER_NAME, "sip:scscf.ims.local:6060"));
        break;
    case CX_CMD_SAA:
        add(m, os(CX_AVP_USER_DATA, "<IMSSubscription/>"));
        add(m, group(CX_AVP_CHARGING_INFORMATION, os(CX_AVP_PRIMARY_EVENT_CF, "aaa://ecf.local"),
                     NULL, NULL));
        add(m, u32(CX_AVP_RESULT_CODE, 2001));
        break;
    case CX_CMD_UAR:
        add(m, i32(CX_AVP_USER_AUTHORIZATION_TYPE, 0));
        add(m, os(CX_AVP_VISITED_NETWORK_ID, "ims.local"));
        break;
    case CX_CMD_UAA:
    case CX_CMD_LIA:
        add(m, group(CX_AVP_SERVER_CAPABILITIES, u32(CX_AVP_MANDATORY_CAPABILITY, 1),
                     u32(CX_AVP_OPTIONAL_CAPABILITY, 2), NULL));
        add(m, u32(CX_AVP_RESULT_CODE, 2001));
        break;
    case CX_CMD_RTR:
        add(m, group(CX_AVP_DEREGISTRATION_REASON, i32(CX_AVP_REASON_CODE, 0),
                     os(CX_AVP_REASON_INFO, "admin"), NULL));
        break;
    case CX_CMD_PPR:
        add(m, os(CX_AVP_USER_DATA, "<IMSSubscription/>"));
        break;
    default:
        add(m, u32(CX_AVP_RESULT_CODE, 2001));
        break;
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Finds the AVP with this code at the top level of an encoded message; returns its offset. */
static size_t find_encoded(const uint8_t *buf, size_t len, uint32_t code)
{
    for (size_t off = 20; off + 8 <= len;) {
        uint32_t alen = be32(buf + off + 4) & 0xffffff;
        if (be32(buf + off) == code)
            return off;
        off += (alen + 3) & ~3u;
        if (alen < 8)
            break;
    }
    fail_msg("AVP %u not in the encoded message", code);
    return 0;
}

static void every_command_round_trips(void **state)
{
    for (int c = 0; c < CX_CMD_COUNT; c++) {
        struct msg *m = NULL;
        assert_int_equal(fd_msg_new(cx.cmd[c], MSGFL_ALLOC_ETEID, &m), 0);
        fill(m, (cx_cmd_t)c);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(fd_msg_bufferize(m, &buf, &len), 0);

        /* header: version 1, the command code, the R bit on requests, application 16777216 */
        assert_int_equal(buf[0], 1);
        assert_int_equal(be32(buf + 4) & 0xffffff, 300 + c / 2);
        assert_int_equal(!!(buf[4] & CMD_FLAG_REQUEST), c % 2 == 0);
        assert_true(buf[4] & CMD_FLAG_PROXIABLE);
        assert_int_equal(be32(buf + 8), CX_APP_ID);

        /* a 3GPP AVP carries V and M and the vendor id */
        size_t pi = find_encoded(buf, len, 601);
        assert_int_equal(buf[pi + 4], AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY);
        assert_int_equal(be32(buf + pi + 8), CX_VENDOR_3GPP);

        /* decode, check against the dictionary, and encode again: the same bytes */
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        struct msg *back = NULL;
        assert_int_equal(fd_msg_parse_buffer(&copy, len, &back), 0);
        struct fd_pei pei;
        assert_int_equal(fd_msg_parse_dict(back, fd_g_config->cnf_dict, &pei), 0);
        struct avp *found = NULL;
        assert_int_equal(fd_msg_search_avp(back, cx.avp[CX_AVP_PUBLIC_IDENTITY], &found), 0);
        struct avp_hdr *h = NULL;
        assert_int_equal(fd_msg_avp_hdr(found, &h), 0);
        assert_memory_equal(h->avp_value->os.data, "sip:001010000000001@ims.local", 29);
        uint8_t *buf2 = NULL;
        size_t len2 = 0;
        assert_int_equal(fd_msg_bufferize(back, &buf2, &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(buf2, buf, len);
        free(buf);
        free(buf2);
        fd_msg_free(back);
        fd_msg_free(m);
    }
}

/* RFC 4590's Digest-* AVPs are IETF AVPs: M set, no V, no vendor id on the wire. */
static void digest_avps_are_ietf(void **state)
{
    struct msg *m = NULL;
    assert_int_equal(fd_msg_new(cx.cmd[CX_CMD_MAA], MSGFL_ALLOC_ETEID, &m), 0);
    add(m, os(CX_AVP_DIGEST_REALM, "ims.local"));
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(fd_msg_bufferize(m, &buf, &len), 0);
    size_t off = find_encoded(buf, len, 104);
    assert_int_equal(buf[off + 4], AVP_FLAG_MANDATORY);
    assert_int_equal(be32(buf + off + 4) & 0xffffff, 8 + strlen("ims.local"));
    free(buf);
    fd_msg_free(m);
}

int main(void)
{
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_resolves_everything),
        cmocka_unit_test(every_command_round_trips),
        cmocka_unit_test(digest_avps_are_ietf),
    };
    return cmocka_run_group_tests(tests, load_freediameter, NULL);
}
