/* Handset profiles (cscf/pcscf/profiles.c): parsing pcscf.profiles items, inheritance from
 * `default`, matching by User-Agent and IMEI TAC; and the Digest parameters of a folded
 * Authorization (common/auth/sip_digest.c), which a Pixel 6a sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "common/auth/sip_digest.h"
#include "cscf/pcscf/profiles.h"

static pcscf_profiles_t ps;
static char err[300];

static int parse(const char *const *items, size_t n)
{
    err[0] = '\0';
    return pcscf_profiles_parse(items, n, &ps, err, sizeof err);
}

static void builtin_default(void **state)
{
    assert_int_equal(parse(NULL, 0), 0);
    assert_int_equal(ps.n, 0);
    const pcscf_profile_t *p = pcscf_profiles_match(&ps, "Samsung SM-G991B", NULL);
    assert_string_equal(p->name, "default");
    assert_true(p->tolerate_auth_spacing);
    assert_true(p->strip_ck_ik);
    assert_false(p->strip_qop);
    assert_false(p->rewrite_tel_from);
    assert_string_equal(p->supported_add, "path");
    assert_int_equal(p->max_udp_size, 0);
    assert_int_equal(p->force_transport, PCSCF_TRANSPORT_NONE);
}

static void match_order_and_inheritance(void **state)
{
    const char *items[] = {
        "name=vivo; user_agent=*vivo*; strip_qop=true",
        "name=samsung; user_agent=SM-; rewrite_tel_from=yes; force_transport=tcp",
        "name=pixel; tac=3520; keepalive_seconds=25; expires_max=600",
        "name=both; user_agent=Both*; tac=99",
        "name=default; max_udp_size=1200; supported_add=path sec-agree",
    };
    assert_int_equal(parse(items, 5), 0);
    assert_int_equal(ps.n, 4);
    const pcscf_profile_t *p = pcscf_profiles_match(&ps, "VIVO X90 IMS/1.0", NULL);
    assert_string_equal(p->name, "vivo"); /* glob, case-insensitive */
    assert_true(p->strip_qop);
    assert_int_equal(p->max_udp_size, 1200); /* from the configured default, wherever listed */
    assert_string_equal(p->supported_add, "path sec-agree");
    p = pcscf_profiles_match(&ps, "Samsung IMS 6.0 SM-S911B", NULL);
    assert_string_equal(p->name, "samsung"); /* substring */
    assert_true(p->rewrite_tel_from);
    assert_int_equal(p->force_transport, PCSCF_TRANSPORT_TCP);
    assert_false(p->strip_qop);
    p = pcscf_profiles_match(&ps, "Pixel", "\"<urn:gsma:imei:35209900-176148-1>\"");
    assert_string_equal(p->name, "pixel");
    assert_int_equal(p->keepalive_seconds, 25);
    assert_int_equal(p->expires_max, 600);
    p = pcscf_profiles_match(&ps, "Pixel", "\"<urn:gsma:imei:35309900-176148-1>\"");
    assert_string_equal(p->name, "default");
    assert_int_equal(p->max_udp_size, 1200);
    /* both keys: both must match */
    assert_string_equal(pcscf_profiles_match(&ps, "Both 1", NULL)->name, "default");
    assert_string_equal(
        pcscf_profiles_match(&ps, "Both 1", "<urn:gsma:imei:99000000-000000-0>")->name, "both");
    /* by name, default when gone */
    assert_string_equal(pcscf_profiles_named(&ps, "pixel")->name, "pixel");
    assert_string_equal(pcscf_profiles_named(&ps, "gone")->name, "default");
    assert_string_equal(pcscf_profiles_named(&ps, NULL)->name, "default");
}

static void refused(void **state)
{
    static const char *const bad[][2] = {
        {"user_agent=x", "has no name"},
        {"name=x", "needs user_agent and/or tac"},
        {"name=x; user_agent=y; strip_qop=maybe", "strip_qop: expected true or false"},
        {"name=x; tac=12a", "tac: expected 1-8 digits"},
        {"name=x; tac=123456789", "tac: expected 1-8 digits"},
        {"name=x; user_agent=y; colour=red", "colour: unknown key"},
        {"name=x; user_agent=y; force_transport=sctp", "expected none, udp or tcp"},
        {"name=x; user_agent=y; max_udp_size=70000", "expected an integer in range"},
        {"name=default; user_agent=y", "takes no user_agent or tac"},
        {"name=a b; user_agent=y", "name: expected"},
        {"name=x; user_agent=y; supported_add=pa<th", "supported_add: expected option tags"},
        {"name=x; user_agent", "expected key=value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *items[] = {bad[i][0]};
        assert_int_equal(parse(items, 1), -1);
        if (!strstr(err, bad[i][1]))
            fail_msg("'%s': got '%s', wanted '%s'", bad[i][0], err, bad[i][1]);
    }
    const char *twice[] = {"name=x; user_agent=a", "name=x; tac=1"};
    assert_int_equal(parse(twice, 2), -1);
    assert_non_null(strstr(err, "named twice"));
}

static void imei_tac(void **state)
{
    char tac[9];
    assert_int_equal(pcscf_imei_tac("\"<urn:gsma:imei:35209900-176148-1>\"", tac), 0);
    assert_string_equal(tac, "35209900");
    assert_int_equal(pcscf_imei_tac("<URN:GSMA:IMEI:86001234-000000-0>", tac), 0);
    assert_string_equal(tac, "86001234");
    assert_int_equal(pcscf_imei_tac("\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"", tac),
                     -1);
    assert_int_equal(pcscf_imei_tac("<urn:gsma:imei:1234>", tac), -1);
    assert_int_equal(pcscf_imei_tac(NULL, tac), -1);
}

static void json_view(void **state)
{
    const char *items[] = {"name=vivo; user_agent=*vivo*; strip_qop=true"};
    assert_int_equal(parse(items, 1), 0);
    json_t *j = pcscf_profiles_json(&ps);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_t *arr = json_object_get(j, "profiles");
    json_t *v = json_array_get(arr, 0), *d = json_array_get(arr, 1);
    assert_string_equal(json_string_value(json_object_get(v, "name")), "vivo");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(v, "match"), "user_agent")), "*vivo*");
    assert_true(json_is_true(json_object_get(json_object_get(v, "switches"), "strip_qop")));
    assert_string_equal(json_string_value(json_object_get(d, "name")), "default");
    assert_true(json_is_true(json_object_get(d, "builtin")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(d, "switches"), "force_transport")),
        "none");
    json_decref(j);
}

/* A REGISTER whose Authorization is folded (CRLF SP) around its commas, after '=' and in place
 * of a comma (qop ... nc, cnonce ... opaque: only white space between them), with spaces
 * around an '='. */
static void folded_authorization(void **state)
{
    static const char text[] =
        "REGISTER sip:ims.test SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        "From: <sip:alice@ims.test>;tag=1\r\nTo: <sip:alice@ims.test>\r\n"
        "Call-ID: c1\r\nCSeq: 1 REGISTER\r\n"
        "Authorization: Digest username=\"alice@ims.test\",realm=\"ims.test\",\r\n"
        " nonce=\"abc\", uri=\"sip:ims.test\",\r\n"
        "  response=\"0123456789abcdef0123456789abcdef\" ,algorithm=AKAv1-MD5,qop=auth\r\n"
        " nc=\r\n 00000001 ,\r\n\tcnonce=\"c1\"  opaque = \"o p\"\r\n"
        "Content-Length: 0\r\n\r\n";
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
    assert_non_null(msg);
    sip_t *sip = sip_object(msg);
    assert_non_null(sip->sip_authorization);
    digest_creds_t cr;
    assert_int_equal(digest_creds_parse(sip->sip_authorization, NULL, &cr), 0);
    assert_string_equal(cr.username, "alice@ims.test");
    assert_string_equal(cr.nonce, "abc");
    assert_string_equal(cr.response, "0123456789abcdef0123456789abcdef");
    assert_string_equal(cr.qop, "auth");
    assert_string_equal(cr.nc, "00000001");
    assert_string_equal(cr.cnonce, "c1");
    assert_string_equal(cr.opaque, "o p");
    /* the P-CSCF's tolerate_auth_spacing: the same, one clean parameter each */
    msg_param_t *params;
    assert_int_equal(
        digest_params_normalize(msg_home(msg), sip->sip_authorization->au_params, &params), 0);
    static const char *const want[] = {"username=\"alice@ims.test\"",
                                       "realm=\"ims.test\"",
                                       "nonce=\"abc\"",
                                       "uri=\"sip:ims.test\"",
                                       "response=\"0123456789abcdef0123456789abcdef\"",
                                       "algorithm=AKAv1-MD5",
                                       "qop=auth",
                                       "nc=00000001",
                                       "cnonce=\"c1\"",
                                       "opaque=\"o p\""};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_non_null(params[i]);
        assert_string_equal(params[i], want[i]);
    }
    assert_null(params[sizeof want / sizeof want[0]]);
    assert_int_equal(digest_params_odd(sip->sip_authorization->au_params), 1);
    assert_int_equal(digest_params_odd(params), 0); /* what a clean one looks like */
    msg_destroy(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_default), cmocka_unit_test(match_order_and_inheritance),
        cmocka_unit_test(refused),         cmocka_unit_test(imei_tac),
        cmocka_unit_test(json_view),       cmocka_unit_test(folded_authorization),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
