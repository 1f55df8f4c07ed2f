/* The trust domain's charging and access headers (common/sip/charging.h) and the P-CSCF's
 * recognition of emergency requests (cscf/pcscf/emergency.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "common/sip/charging.h"
#include "common/sip/sip_hdr.h"
#include "cscf/pcscf/emergency.h"

static msg_t *parse(const char *first_line, const char *extra)
{
    char text[2048];
    snprintf(
        text, sizeof text,
        "%s\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: "
        "<sip:alice@example.org>;tag=1\r\n"
        "To: <sip:bob@example.org>\r\nCall-ID: c1\r\nCSeq: 1 %s\r\n%sContent-Length: 0\r\n\r\n",
        first_line, strncmp(first_line, "REGISTER", 8) == 0 ? "REGISTER" : "INVITE", extra);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
    assert_non_null(msg);
    return msg;
}

static void vector_params(void **state)
{
    char v[64];
    const char *pcv =
        "icid-value=AB12; icid-generated-at=192.0.2.1;orig-ioi=home1.net ;term-ioi=\"x y\"";
    assert_int_equal(charging_vector_param(pcv, "icid-value", v, sizeof v), 0);
    assert_string_equal(v, "AB12");
    assert_int_equal(charging_vector_param(pcv, "orig-ioi", v, sizeof v), 0);
    assert_string_equal(v, "home1.net");
    assert_int_equal(charging_vector_param(pcv, "term-ioi", v, sizeof v), 0);
    assert_string_equal(v, "\"x y\"");
    assert_int_equal(charging_vector_param(pcv, "icid", v, sizeof v), -1); /* a prefix only */
    assert_int_equal(charging_vector_param("icid-value=1", "orig-ioi", v, sizeof v), -1);
    assert_string_equal(v, "");
}

static void vector_set(void **state)
{
    char v[128];
    /* A vector a trusted sender put keeps its icid; the IOIs are ours. */
    msg_t *msg = parse("MESSAGE sip:bob@example.org SIP/2.0",
                       "P-Charging-Vector: icid-value=keep1;icid-generated-at=h1;orig-ioi=old\r\n");
    sip_t *sip = sip_object(msg);
    assert_int_equal(charging_set_vector(msg, sip, "10.0.0.1", "mine.net", NULL), 0);
    assert_string_equal(sip_hdr_get(sip, "P-Charging-Vector"),
                        "icid-value=keep1;icid-generated-at=h1;orig-ioi=mine.net");
    msg_destroy(msg);
    /* None: a new 32-hex icid generated here. */
    msg = parse("MESSAGE sip:bob@example.org SIP/2.0", "");
    sip = sip_object(msg);
    assert_int_equal(charging_set_vector(msg, sip, "10.0.0.1", "", NULL), 0);
    const char *got = sip_hdr_get(sip, "P-Charging-Vector");
    assert_non_null(got);
    assert_int_equal(charging_vector_param(got, "icid-value", v, sizeof v), 0);
    assert_int_equal(strlen(v), 32);
    assert_int_equal(strspn(v, "0123456789abcdef"), 32);
    assert_non_null(strstr(got, ";icid-generated-at=10.0.0.1"));
    assert_null(strstr(got, "orig-ioi"));
    msg_destroy(msg);
}

static void function_addresses(void **state)
{
    const char *ccf[] = {"ccf1.example", "[fd00::1]"}, *ecf[] = {"ecf1.example"};
    char v[200];
    assert_int_equal(charging_function_addresses(ccf, 2, ecf, 1, v, sizeof v), 0);
    assert_string_equal(v, "ccf=ccf1.example;ccf=\"[fd00::1]\";ecf=ecf1.example");
    assert_int_equal(charging_function_addresses(NULL, 0, NULL, 0, v, sizeof v), -1);
    msg_t *msg = parse("MESSAGE sip:bob@example.org SIP/2.0",
                       "P-Charging-Function-Addresses: ccf=theirs\r\n");
    sip_t *sip = sip_object(msg);
    assert_int_equal(charging_add_function_addresses(msg, sip, ccf, 1, NULL, 0), 0);
    assert_string_equal(sip_hdr_get(sip, "P-Charging-Function-Addresses"), "ccf=theirs");
    msg_destroy(msg);
}

static void register_vector(void **state)
{
    char v[200];
    msg_t *msg = parse("REGISTER sip:example.org SIP/2.0",
                       "P-Charging-Vector: icid-value=r1;orig-ioi=visited.net\r\n");
    assert_int_equal(charging_register_vector(sip_object(msg), "home.net", v, sizeof v), 0);
    assert_string_equal(v, "icid-value=r1;orig-ioi=visited.net;term-ioi=home.net");
    msg_destroy(msg);
}

static void screen_hop(void **state)
{
    const char *peers[] = {"127.0.0.1", "10.0.0.0/8"};
    char err[200];
    trust_guard_t *g = trust_guard_new("test", NULL, peers, 2, err, sizeof err);
    assert_non_null(g);
    const char *hdrs = "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=1\r\n"
                       "P-Charging-Vector: icid-value=1\r\nP-Charging-Function-Addresses: ccf=c\r\n"
                       "P-Asserted-Identity: <sip:alice@example.org>\r\n";
    struct {
        const char *route;
        int stripped;
    } cases[] = {
        {"Route: <sip:10.1.2.3;lr>\r\n", 0},       /* a trusted network */
        {"Route: <sip:127.0.0.1:5070;lr>\r\n", 0}, /* a trusted address */
        {"Route: <sip:192.0.2.9;lr>\r\n", 3},      /* outside */
        {"Route: <sip:as.example.org;lr>\r\n", 3}, /* a DNS name: outside */
        {"", 3},                                   /* the Request-URI's host */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char extra[600];
        snprintf(extra, sizeof extra, "%s%s", cases[i].route, hdrs);
        msg_t *msg = parse("MESSAGE sip:bob@example.org SIP/2.0", extra);
        sip_t *sip = sip_object(msg);
        assert_int_equal(charging_screen_hop(g, msg, sip, NULL), cases[i].stripped);
        assert_non_null(sip_hdr_get(sip, "P-Asserted-Identity")); /* not ours to judge */
        msg_destroy(msg);
    }
    trust_guard_free(g);
}

static const cfg_key_t keys[] = {PC_EMERGENCY_KEYS, CFG_END};

static void emergency(void **state)
{
    const cfg_key_t *tables[] = {keys, NULL};
    cfg_t *cfg = cfg_new("TEST", tables);
    char err[200];
    assert_non_null(cfg);
    assert_int_equal(cfg_load_string(cfg, "t", "emergency:\n  numbers: [\"112\", \"110=police\"]\n",
                                     err, sizeof err),
                     0);
    program_t p = {.cfg = cfg};
    pcscf_t pc = {.p = &p};
    assert_int_equal(pc_emergency_init(&pc), 0);
    struct {
        const char *line, *extra;
        bool yes;
    } cases[] = {
        {"INVITE urn:service:sos SIP/2.0", "", true},
        {"INVITE urn:service:sos.police SIP/2.0", "", true},
        {"INVITE URN:Service:SOS.fire SIP/2.0", "", true},
        {"INVITE urn:service:sosx SIP/2.0", "", false},
        {"INVITE urn:service:counseling SIP/2.0", "", false},
        {"INVITE tel:112 SIP/2.0", "", true},
        {"INVITE tel:1-1-2;phone-context=example.org SIP/2.0", "", true},
        {"INVITE sip:110@example.org;user=phone SIP/2.0", "", true},
        {"INVITE sip:911@example.org SIP/2.0", "", false}, /* not configured here */
        {"INVITE tel:+112 SIP/2.0", "", false},
        {"INVITE sip:bob@example.org SIP/2.0", "", false},
        {"REGISTER sip:example.org SIP/2.0", "Contact: <sip:a@192.0.2.1;sos>\r\n", true},
        {"REGISTER sip:example.org SIP/2.0", "Contact: <sip:a@192.0.2.1>;sos\r\n", true},
        {"REGISTER sip:example.org SIP/2.0", "Contact: <sip:a@192.0.2.1>\r\n", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msg_t *msg = parse(cases[i].line, cases[i].extra);
        if (emergency_request(sip_object(msg), &pc) != cases[i].yes)
            fail_msg("%s (%s): expected %s", cases[i].line, cases[i].extra,
                     cases[i].yes ? "emergency" : "not emergency");
        msg_destroy(msg);
    }
    /* In a dialog (To tag) it is not an initial emergency request. */
    const char *bye = "BYE tel:112 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2\r\n"
                      "From: <sip:a@example.org>;tag=1\r\nTo: <tel:112>;tag=2\r\nCall-ID: c2\r\n"
                      "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    msg_t *msg = msg_make(sip_default_mclass(), 0, bye, (isize_t)strlen(bye));
    assert_false(emergency_request(sip_object(msg), &pc));
    msg_destroy(msg);
    pc_emergency_fini(&pc);
    cfg_free(cfg);
}

static void emergency_config(void **state)
{
    const cfg_key_t *tables[] = {keys, NULL};
    const char *bad[] = {
        "emergency:\n  numbers: [\"11a\"]\n",
        "emergency:\n  numbers: [\"110=\"]\n",
        "emergency:\n  numbers: [\"110=po lice\"]\n",
        "emergency:\n  ecscf_uri: \"tel:112\"\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg_t *cfg = cfg_new("TEST", tables);
        char err[200];
        assert_int_equal(cfg_load_string(cfg, "t", bad[i], err, sizeof err), 0);
        if (pc_emergency_check(cfg, err, sizeof err) == 0)
            fail_msg("accepted: %s", bad[i]);
        cfg_free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vector_params),      cmocka_unit_test(vector_set),
        cmocka_unit_test(function_addresses), cmocka_unit_test(register_vector),
        cmocka_unit_test(screen_hop),         cmocka_unit_test(emergency),
        cmocka_unit_test(emergency_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
