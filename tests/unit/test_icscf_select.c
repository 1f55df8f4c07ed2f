/* Choosing an S-CSCF from a UAA/LIA (icscf_select.c): Server-Name first, then the names and
 * capabilities the HSS gave against the configured list; and the icscf.scscfs entry syntax,
 * hostile entries included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cscf/scscf/routing/icscf_select.h"

#define A "sip:scscf-a.ims.test:6060"
#define B "sip:scscf-b.ims.test:6060"
#define C "sip:scscf-c.ims.test:6060"

static void entry(icscf_scscf_t *e, const char *text)
{
    char err[128];
    assert_int_equal(icscf_scscf_parse(text, e, err, sizeof err), 0);
}

static void refused(const char *text)
{
    icscf_scscf_t e;
    char err[128] = "";
    assert_int_equal(icscf_scscf_parse(text, &e, err, sizeof err), -1);
    assert_true(*err);
}

static void parses_entries(void **state)
{
    icscf_scscf_t e;
    entry(&e, B);
    assert_string_equal(e.uri, B);
    assert_int_equal(e.ncaps, 0);
    entry(&e, "sips:10.0.0.7:5061;transport=tls  1\t7 4294967295");
    assert_string_equal(e.uri, "sips:10.0.0.7:5061;transport=tls");
    assert_int_equal(e.ncaps, 3);
    assert_int_equal(e.caps[1], 7);
    assert_int_equal(e.caps[2], 4294967295u);
    refused("");
    refused("   ");
    refused("tel:+123");
    refused("sip:");
    refused("sip:a.test?Route=x");
    refused("sip:a.test> <sip:b.test");
    refused(B " one");
    refused(B " -1");
    refused(B " 4294967296");
    refused(B " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17");
    char big[600];
    memset(big, 'x', sizeof big - 1);
    memcpy(big, "sip:", 4);
    big[sizeof big - 1] = '\0';
    refused(big);
}

static void server_name_wins(void **state)
{
    icscf_scscf_t list[1];
    entry(&list[0], A " 1");
    cx_msg_t a;
    cx_msg_init(&a, CX_CMD_UAA);
    cx_msg_set(&a.server_name, C);
    a.cap_servers[a.ncap_servers++] = strdup(B);
    assert_string_equal(icscf_choose(list, 1, &a), C);
    cx_msg_clear(&a);
}

static void named_servers_in_hss_order(void **state)
{
    icscf_scscf_t list[2];
    entry(&list[0], A " 1 2");
    entry(&list[1], B " 2");
    cx_msg_t a;
    cx_msg_init(&a, CX_CMD_UAA);
    a.cap_servers[a.ncap_servers++] = strdup(C); /* unknown to us: the HSS vouches for it */
    a.cap_servers[a.ncap_servers++] = strdup(B);
    assert_string_equal(icscf_choose(list, 2, &a), C);
    /* an optional capability only B has makes B better than the unknown C */
    a.optional_caps[a.noptional++] = 2;
    assert_string_equal(icscf_choose(list, 2, &a), B);
    /* B lacks a mandatory one: C is left among the named */
    a.mandatory_caps[a.nmandatory++] = 1;
    assert_string_equal(icscf_choose(list, 2, &a), C);
    cx_msg_clear(&a);
}

static void hostile_names_skipped(void **state)
{
    cx_msg_t a;
    cx_msg_init(&a, CX_CMD_LIA);
    char big[1000];
    memset(big, 'y', sizeof big - 1);
    memcpy(big, "sip:", 4);
    big[sizeof big - 1] = '\0';
    a.cap_servers[a.ncap_servers++] = strdup(big);
    a.cap_servers[a.ncap_servers++] = strdup("not a uri");
    a.cap_servers[a.ncap_servers++] = strdup("sip:b.test?Route=<sip:evil>");
    assert_null(icscf_choose(NULL, 0, &a));
    a.cap_servers[a.ncap_servers++] = strdup(B);
    assert_string_equal(icscf_choose(NULL, 0, &a), B);
    cx_msg_clear(&a);
}

static void configured_list_by_capabilities(void **state)
{
    icscf_scscf_t list[3];
    entry(&list[0], A " 1");
    entry(&list[1], B " 1 5 6");
    entry(&list[2], C " 1 5");
    cx_msg_t a;
    cx_msg_init(&a, CX_CMD_UAA);
    assert_string_equal(icscf_choose(list, 3, &a), A); /* nothing asked: configured order */
    a.mandatory_caps[a.nmandatory++] = 5;
    assert_string_equal(icscf_choose(list, 3, &a), B); /* A lacks 5; B before C */
    a.optional_caps[a.noptional++] = 6;
    assert_string_equal(icscf_choose(list, 3, &a), B);
    a.mandatory_caps[a.nmandatory++] = 9;
    assert_null(icscf_choose(list, 3, &a)); /* nobody has 9: the caller answers 600/480 */
    assert_null(icscf_choose(NULL, 0, &a));
    cx_msg_clear(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_entries),
        cmocka_unit_test(server_name_wins),
        cmocka_unit_test(named_servers_in_hss_order),
        cmocka_unit_test(hostile_names_skipped),
        cmocka_unit_test(configured_list_by_capabilities),
    };
    return cmocka_run_group_tests_name("icscf_select", tests, NULL, NULL);
}
