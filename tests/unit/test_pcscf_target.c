/* Where the P-CSCF delivers a terminating request (cscf/pcscf/target.c): the Contact for a UE
 * that sends from one port and listens on another, the flow for RFC 5626 outbound and for a
 * UE behind NAT, the configured mode forcing either; and outbound detection on a REGISTER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>

#include "cscf/pcscf/target.h"

static const char *target(const char *flow, const char *contact, int outbound, pc_delivery_t mode,
                          const char **why)
{
    static pc_target_t t;
    pc_reach_t r = {flow, contact, outbound};
    if (pc_binding_target(&r, mode, &t) < 0)
        return NULL;
    if (why)
        *why = t.why;
    return t.url;
}

static void parses_modes(void **state)
{
    pc_delivery_t m = PC_DELIVER_FLOW;
    assert_int_equal(pc_delivery_parse("auto", &m), 0);
    assert_int_equal(m, PC_DELIVER_AUTO);
    assert_int_equal(pc_delivery_parse("contact", &m), 0);
    assert_int_equal(m, PC_DELIVER_CONTACT);
    assert_int_equal(pc_delivery_parse("flow", &m), 0);
    assert_int_equal(m, PC_DELIVER_FLOW);
    assert_int_equal(pc_delivery_parse("Flow", &m), -1);
    assert_int_equal(pc_delivery_parse("", &m), -1);
    assert_int_equal(pc_delivery_parse(NULL, &m), -1);
}

/* Registered from port A, listening on port B (IPsec port_uc/port_us, split UDP sockets, a TCP
 * connection from an ephemeral port): the Contact. */
static void auto_contact_on_another_port(void **state)
{
    const char *why = NULL;
    assert_string_equal(
        target("udp:192.0.2.1:5070", "sip:ue@192.0.2.1:5080", 0, PC_DELIVER_AUTO, &why),
        "sip:192.0.2.1:5080;transport=udp"); /* no transport named: the one it registered on */
    assert_string_equal(why, "contact");
    assert_string_equal(target("tcp:192.0.2.1:40001", "sip:ue@192.0.2.1:5080;transport=TCP", 0,
                               PC_DELIVER_AUTO, NULL),
                        "sip:192.0.2.1:5080;transport=tcp");
    /* no port: 5060, or 5061 for sips and TLS */
    assert_string_equal(target("udp:192.0.2.1:5070", "sip:ue@192.0.2.1", 0, PC_DELIVER_AUTO, NULL),
                        "sip:192.0.2.1:5060;transport=udp");
    /* registered over TCP, Contact without transport: TCP (RFC 3263 would say UDP) */
    assert_string_equal(
        target("tcp:192.0.2.1:40001", "sip:ue@192.0.2.1:5080", 0, PC_DELIVER_AUTO, NULL),
        "sip:192.0.2.1:5080;transport=tcp");
    assert_string_equal(
        target("tcp:192.0.2.1:40001", "sips:ue@192.0.2.1", 0, PC_DELIVER_AUTO, NULL),
        "sips:192.0.2.1:5061");
    assert_string_equal(
        target("tcp:192.0.2.1:40001", "sip:ue@192.0.2.1;transport=tls", 0, PC_DELIVER_AUTO, NULL),
        "sip:192.0.2.1:5061;transport=tls");
    /* IPv6, spelt differently in the flow and the Contact */
    assert_string_equal(
        target("udp:2001:db8::1:5070", "sip:ue@[2001:db8:0::1]:5080", 0, PC_DELIVER_AUTO, &why),
        "sip:[2001:db8:0::1]:5080;transport=udp"); /* as the Contact spells it */
    assert_string_equal(why, "contact");
}

/* What worked before stays: a UE sending and listening on one port gets it over its flow. */
static void auto_flow_when_contact_is_the_source(void **state)
{
    const char *why = NULL;
    assert_string_equal(target("udp:192.0.2.1:5070", "sip:ue@192.0.2.1:5070;transport=UDP", 0,
                               PC_DELIVER_AUTO, &why),
                        "sip:192.0.2.1:5070;transport=udp");
    assert_string_equal(why, "flow (the Contact)");
}

static void auto_flow_behind_nat(void **state)
{
    const char *why = NULL;
    assert_string_equal(
        target("udp:198.51.100.7:40123", "sip:ue@10.0.0.5:5060", 0, PC_DELIVER_AUTO, &why),
        "sip:198.51.100.7:40123;transport=udp");
    assert_string_equal(why, "flow (NAT)");
    /* a name is not the source address either */
    assert_string_equal(
        target("udp:198.51.100.7:40123", "sip:ue@ue.example.net:5060", 0, PC_DELIVER_AUTO, &why),
        "sip:198.51.100.7:40123;transport=udp");
}

static void auto_flow_for_outbound(void **state)
{
    const char *why = NULL;
    assert_string_equal(target("tcp:192.0.2.1:40001", "sip:ue@192.0.2.1:5080;transport=tcp;ob", 1,
                               PC_DELIVER_AUTO, &why),
                        "sip:192.0.2.1:40001;transport=tcp");
    assert_string_equal(why, "outbound flow");
}

static void config_forces_either(void **state)
{
    const char *why = NULL;
    assert_string_equal(
        target("udp:192.0.2.1:5070", "sip:ue@192.0.2.1:5080", 0, PC_DELIVER_FLOW, &why),
        "sip:192.0.2.1:5070;transport=udp");
    assert_string_equal(why, "flow (config)");
    assert_string_equal(
        target("udp:198.51.100.7:40123", "sip:ue@10.0.0.5:5062", 0, PC_DELIVER_CONTACT, &why),
        "sip:10.0.0.5:5062;transport=udp");
    assert_string_equal(why, "contact (config)");
    assert_string_equal(
        target("tcp:192.0.2.1:40001", "sip:ue@192.0.2.1:5080", 1, PC_DELIVER_CONTACT, NULL),
        "sip:192.0.2.1:5080;transport=tcp");
}

static void unusable_input(void **state)
{
    const char *why = NULL;
    assert_string_equal(target("udp:192.0.2.1:5070", "", 0, PC_DELIVER_AUTO, &why),
                        "sip:192.0.2.1:5070;transport=udp");
    assert_string_equal(why, "flow (no usable Contact)");
    assert_string_equal(target("udp:192.0.2.1:5070", "tel:+15550001", 0, PC_DELIVER_CONTACT, NULL),
                        "sip:192.0.2.1:5070;transport=udp");
    assert_null(target("", "", 0, PC_DELIVER_AUTO, NULL));
    assert_null(target("udp:192.0.2.1", "", 0, PC_DELIVER_FLOW, NULL));
    assert_null(target(NULL, NULL, 1, PC_DELIVER_AUTO, NULL));
    assert_string_equal(target(NULL, "sip:ue@192.0.2.1:5080", 0, PC_DELIVER_AUTO, NULL),
                        "sip:192.0.2.1:5080");
    char big[400];
    memset(big, 'h', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char contact[450];
    snprintf(contact, sizeof contact, "sip:ue@%s:5080", big);
    assert_string_equal(target("udp:192.0.2.1:5070", contact, 0, PC_DELIVER_CONTACT, NULL),
                        "sip:192.0.2.1:5070;transport=udp");
}

/* The target says whether it is the flow itself (its connection: flow_conn.c checks it). */
static void marks_the_flow(void **state)
{
    pc_target_t t;
    pc_reach_t flow = {"tcp:192.0.2.1:40001", "sip:ue@192.0.2.1:5080;ob", 1};
    assert_int_equal(pc_binding_target(&flow, PC_DELIVER_AUTO, &t), 0);
    assert_int_equal(t.flow, 1);
    pc_reach_t contact = {"tcp:192.0.2.1:40001", "sip:ue@192.0.2.1:5080", 0};
    assert_int_equal(pc_binding_target(&contact, PC_DELIVER_AUTO, &t), 0);
    assert_int_equal(t.flow, 0);
}

/* RFC 3261 18.1.1 with the conservative reachability rule. */
static void udp_size_rule(void **state)
{
    assert_int_equal(pc_udp_size_choice(1300, 1300, 0, 1), PC_SEND_UDP); /* at the limit */
    assert_int_equal(pc_udp_size_choice(1301, 1300, 0, 1), PC_SEND_TCP_FLOW);
    assert_int_equal(pc_udp_size_choice(2000, 1300, 0, 0), PC_SEND_UDP);     /* TCP not known */
    assert_int_equal(pc_udp_size_choice(2000, 1300, 1, 1), PC_SEND_UDP);     /* profile: udp */
    assert_int_equal(pc_udp_size_choice(2000, 1300, 2, 0), PC_SEND_TCP_NEW); /* profile: tcp */
    assert_int_equal(pc_udp_size_choice(500, 1300, 2, 1), PC_SEND_TCP_FLOW);
    assert_int_equal(pc_udp_size_choice(500, 1300, 2, 0), PC_SEND_TCP_NEW);
    assert_int_equal(pc_udp_size_choice(500, 1300, 0, 1), PC_SEND_UDP);
}

static int outbound(const char *contact, const char *supported)
{
    char text[1024];
    snprintf(text, sizeof text,
             "REGISTER sip:ims.test SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5080;branch=z9hG4bK1\r\n"
             "From: <sip:ue@ims.test>;tag=1\r\nTo: <sip:ue@ims.test>\r\nCall-ID: 1@t\r\n"
             "CSeq: 1 REGISTER\r\nContact: %s\r\n%s%s%sContent-Length: 0\r\n\r\n",
             contact, supported ? "Supported: " : "", supported ? supported : "",
             supported ? "\r\n" : "");
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(msg);
    int ob = pc_register_outbound(sip_object(msg));
    msg_destroy(msg);
    return ob;
}

#define INST "+sip.instance=\"<urn:gsma:imei:35000000-000000-1>\""

static void detects_outbound(void **state)
{
    assert_true(outbound("<sip:ue@192.0.2.1:5080;transport=tcp>;reg-id=1;" INST, "path, outbound"));
    assert_true(outbound("<sip:ue@192.0.2.1:5080;ob>;" INST ";reg-id=2", "path"));
    assert_false(outbound("<sip:ue@192.0.2.1:5080>;reg-id=1;" INST, "path"));
    assert_false(outbound("<sip:ue@192.0.2.1:5080>;" INST, "outbound"));
    assert_false(outbound("<sip:ue@192.0.2.1:5080>;reg-id=1", "outbound"));
    assert_false(outbound("<sip:ue@192.0.2.1:5080>;reg-idx=1;" INST, "outbound"));
    assert_false(outbound("<sip:ue@192.0.2.1:5080;obx>;reg-id=1;" INST, NULL));
    assert_false(outbound("*", "outbound"));
    assert_false(pc_register_outbound(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_modes),
        cmocka_unit_test(auto_contact_on_another_port),
        cmocka_unit_test(auto_flow_when_contact_is_the_source),
        cmocka_unit_test(auto_flow_behind_nat),
        cmocka_unit_test(auto_flow_for_outbound),
        cmocka_unit_test(config_forces_either),
        cmocka_unit_test(unusable_input),
        cmocka_unit_test(detects_outbound),
        cmocka_unit_test(marks_the_flow),
        cmocka_unit_test(udp_size_rule),
    };
    return cmocka_run_group_tests_name("pcscf_target", tests, NULL, NULL);
}
