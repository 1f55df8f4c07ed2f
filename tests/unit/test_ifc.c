/* ifc.c: initial filter criteria read from the HSS's own User-Data and from handwritten XML,
 * matched against requests parsed by sofia (TS 29.228 Annex B/C/F semantics). */
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

#include "cscf/scscf/routing/ifc.h"
#include "diameter/hss/subscriber.h"
#include "diameter/hss/user_data.h"

/* ---- requests ---- */

#define VIA  "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\n"
#define FROM "From: <sip:alice@ims.test>;tag=a1\n"
#define TO   "To: <sip:bob@ims.test>\n"
#define CID  "Call-ID: c1@10.0.0.1\n"
#define MMTEL_CONTACT                                                                              \
    "Contact: "                                                                                    \
    "<sip:alice@10.0.0.1:5060>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\"\n"
#define PAI "P-Asserted-Identity: <sip:alice@ims.test>\n"

#define SDP                                                                                        \
    "v=0\r\n"                                                                                      \
    "o=- 1 1 IN IP4 10.0.0.1\r\n"                                                                  \
    "s=-\r\n"                                                                                      \
    "c=IN IP4 10.0.0.1\r\n"                                                                        \
    "t=0 0\r\n"                                                                                    \
    "m=audio 49170 RTP/AVP 0\r\n"                                                                  \
    "m=video 51372 RTP/AVP 31\r\n"

/* A request from head (request line and headers, '\n' line ends) and body; freed by the test
 * with msg_destroy(). */
static msg_t *request(const char *head, const char *body)
{
    char text[4096];
    size_t n = 0;
    for (const char *p = head; *p && n + 2 < sizeof text; p++) {
        if (*p == '\n')
            text[n++] = '\r';
        text[n++] = *p;
    }
    snprintf(text + n, sizeof text - n, "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(msg);
    assert_non_null(sip_object(msg)->sip_request);
    return msg;
}

/* "METHOD uri" with the usual headers plus extra ones. */
static msg_t *req(const char *method, const char *uri, const char *extra)
{
    char head[2048];
    snprintf(head, sizeof head,
             "%s %s SIP/2.0\n" VIA "Max-Forwards: 70\n" FROM TO CID "CSeq: 1 %s\n%s", method, uri,
             method, extra);
    return request(head, "");
}

/* ---- XML ---- */

#define SUB_HEAD                                                                                   \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><IMSSubscription><PrivateID>a@ims.test</PrivateID>" \
    "<ServiceProfile><PublicIdentity><Identity>sip:a@ims.test</Identity></PublicIdentity>"
#define SUB_TAIL "</ServiceProfile></IMSSubscription>"

#define AS(uri) "<ApplicationServer><ServerName>" uri "</ServerName></ApplicationServer>"
#define SPT(neg, g, c)                                                                             \
    "<SPT><ConditionNegated>" #neg "</ConditionNegated><Group>" #g "</Group>" c "</SPT>"
#define METHOD(m)       "<Method>" m "</Method>"
#define CASE(c)         "<SessionCase>" #c "</SessionCase>"
#define HEADER(h)       "<SIPHeader><Header>" h "</Header></SIPHeader>"
#define HEADER_RE(h, c) "<SIPHeader><Header>" h "</Header><Content>" c "</Content></SIPHeader>"
#define RURI(re)        "<RequestURI>" re "</RequestURI>"
#define SDP_LINE(l, c)  "<SessionDescription><Line>" l "</Line>" c "</SessionDescription>"
#define IFC(prio, cnf, spts, as)                                                                   \
    "<InitialFilterCriteria><Priority>" #prio "</Priority><TriggerPoint><ConditionTypeCNF>" #cnf   \
    "</ConditionTypeCNF>" spts "</TriggerPoint>" as "</InitialFilterCriteria>"
#define IFC_ALWAYS(prio, as)                                                                       \
    "<InitialFilterCriteria><Priority>" #prio "</Priority>" as "</InitialFilterCriteria>"

static ifc_list_t *parse_ok(const char *xml)
{
    char err[256] = "";
    ifc_list_t *l = ifc_list_parse(xml, strlen(xml), err, sizeof err);
    if (!l)
        fail_msg("parse failed: %s", err);
    return l;
}

static ifc_list_t *parse_ifcs(const char *ifcs)
{
    char xml[16384];
    snprintf(xml, sizeof xml, SUB_HEAD "%s" SUB_TAIL, ifcs);
    return parse_ok(xml);
}

static void expect_parse_error(const char *xml, const char *needle)
{
    char err[256] = "";
    ifc_list_t *l = ifc_list_parse(xml, strlen(xml), err, sizeof err);
    if (l) {
        ifc_list_free(l);
        fail_msg("accepted, expected an error with '%s'", needle);
    }
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void expect_ifcs_error(const char *ifcs, const char *needle)
{
    char xml[16384];
    snprintf(xml, sizeof xml, SUB_HEAD "%s" SUB_TAIL, ifcs);
    expect_parse_error(xml, needle);
}

/* Whether the single iFC of l matches the request for sc. */
static int one(const ifc_list_t *l, ifc_case_t sc, msg_t *m)
{
    int i = ifc_next_match(l, 0, sc, sip_object(m));
    msg_destroy(m);
    return i == 0;
}

/* ---- User-Data from the HSS's generator ---- */

static const char hss_yaml[] =
    "subscribers:\n"
    "  - impi: alice@ims.test\n"
    "    impus: [sip:alice@ims.test]\n"
    "    k: 000102030405060708090a0b0c0d0e0f\n"
    "    opc: 00112233445566778899aabbccddeeff\n"
    "    ifc:\n"
    "      - priority: 30\n"
    "        as: sip:last.ims.test\n"
    "      - priority: 10\n"
    "        condition: cnf\n"
    "        as: sip:ipsmgw.ims.test\n"
    "        default_handling: session_terminated\n"
    "        service_info: \"x < y & z\"\n"
    "        include_register_request: true\n"
    "        triggers:\n"
    "          - {group: 0, method: MESSAGE}\n"
    "          - {group: 1, header: Content-Type, content: \"application/vnd\\\\.3gpp\\\\.sms\"}\n"
    "          - {group: 2, session_case: originating}\n"
    "      - priority: 20\n"
    "        condition: dnf\n"
    "        as: sip:mmtel.ims.test\n"
    "        include_register_response: true\n"
    "        triggers:\n"
    "          - {group: 0, method: INVITE}\n"
    "          - {group: 0, negated: true, session_case: terminating_unregistered}\n"
    "          - {group: 1, header: P-Asserted-Identity}\n"
    "          - {group: 1, request_uri: \"^sip:conf-.*@ims\\\\.test$\"}\n";

static ifc_list_t *hss_list(void)
{
    char err[512] = "";
    hss_subscriber_t *subs = NULL;
    size_t n = 0;
    if (hss_subscribers_load_string("t.yaml", hss_yaml, &subs, &n, err, sizeof err) != 0)
        fail_msg("subscriber rejected: %s", err);
    char *xml = hss_user_data_xml(&subs[0]);
    assert_non_null(xml);
    ifc_list_t *l = parse_ok(xml);
    free(xml);
    hss_subscribers_free(subs, n);
    return l;
}

static void hss_user_data_application_servers(void **state)
{
    ifc_list_t *l = hss_list();
    assert_int_equal(ifc_list_count(l), 3);
    const ifc_as_t *sms = ifc_get_as(l, 0), *mmtel = ifc_get_as(l, 1), *last = ifc_get_as(l, 2);
    assert_int_equal(sms->priority, 10);
    assert_string_equal(sms->server_name, "sip:ipsmgw.ims.test");
    assert_int_equal(sms->default_handling, 1);
    assert_string_equal(sms->service_info, "x < y & z");
    assert_true(sms->include_register_request);
    assert_false(sms->include_register_response);
    assert_int_equal(mmtel->priority, 20);
    assert_string_equal(mmtel->server_name, "sip:mmtel.ims.test");
    assert_false(mmtel->include_register_request);
    assert_true(mmtel->include_register_response);
    assert_int_equal(mmtel->default_handling, 0);
    assert_null(mmtel->service_info);
    assert_int_equal(last->priority, 30);
    assert_string_equal(last->server_name, "sip:last.ims.test");
    assert_null(ifc_get_as(l, 3));
    ifc_list_free(l);
}

static void hss_user_data_matching(void **state)
{
    ifc_list_t *l = hss_list();
    msg_t *sms = req("MESSAGE", "sip:bob@ims.test", "Content-Type: application/vnd.3gpp.sms\n");
    const sip_t *sip = sip_object(sms);
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG, sip), 0);
    assert_int_equal(ifc_next_match(l, 1, IFC_ORIG, sip), 2); /* back from the IP-SM-GW */
    assert_int_equal(ifc_next_match(l, 3, IFC_ORIG, sip), -1);
    assert_int_equal(ifc_next_match(l, 0, IFC_TERM_REG, sip), 2);
    msg_destroy(sms);

    msg_t *text = req("MESSAGE", "sip:bob@ims.test", "Content-Type: text/plain\n");
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG, sip_object(text)), 2);
    msg_destroy(text);

    msg_t *call = req("INVITE", "sip:bob@ims.test", "");
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG, sip_object(call)), 1);
    assert_int_equal(ifc_next_match(l, 0, IFC_TERM_REG, sip_object(call)), 1);
    assert_int_equal(ifc_next_match(l, 0, IFC_TERM_UNREG, sip_object(call)), 2);
    msg_destroy(call);

    /* The second DNF group: P-Asserted-Identity present and a conference URI. */
    msg_t *conf = req("MESSAGE", "sip:conf-7@ims.test", PAI);
    assert_int_equal(ifc_next_match(l, 0, IFC_TERM_UNREG, sip_object(conf)), 1);
    msg_destroy(conf);
    conf = req("MESSAGE", "sip:conf-7@ims.test", "");
    assert_int_equal(ifc_next_match(l, 0, IFC_TERM_UNREG, sip_object(conf)), 2);
    msg_destroy(conf);
    ifc_list_free(l);
}

/* ---- trigger point logic ---- */

static void cnf_and_dnf(void **state)
{
    /* CNF: (INVITE or MESSAGE) and originating; DNF: (INVITE and MESSAGE) or originating. */
#define THREE SPT(0, 0, METHOD("INVITE")) SPT(0, 0, METHOD("MESSAGE")) SPT(0, 1, CASE(0))
    ifc_list_t *cnf = parse_ifcs(IFC(1, 1, THREE, AS("sip:as")));
    ifc_list_t *dnf = parse_ifcs(IFC(1, 0, THREE, AS("sip:as")));
    assert_true(one(cnf, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    assert_true(one(cnf, IFC_ORIG, req("MESSAGE", "sip:b@x", "")));
    assert_false(one(cnf, IFC_ORIG, req("SUBSCRIBE", "sip:b@x", "")));
    assert_false(one(cnf, IFC_TERM_REG, req("INVITE", "sip:b@x", "")));
    assert_true(one(dnf, IFC_ORIG, req("SUBSCRIBE", "sip:b@x", "")));
    assert_false(one(dnf, IFC_TERM_REG, req("INVITE", "sip:b@x", "")));
    assert_true(one(dnf, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    ifc_list_free(cnf);
    ifc_list_free(dnf);
}

static void spt_in_several_groups(void **state)
{
    /* X = INVITE in groups 0 and 1, Y = originating in 0, Z = X-Foo present in 1.
     * CNF: (X or Y) and (X or Z); DNF: (X and Y) or (X and Z). */
#define SPTS                                                                                       \
    "<SPT><Group>0</Group><Group>1</Group>" METHOD("INVITE") "</SPT>" SPT(0, 0, CASE(0))           \
        SPT(0, 1, HEADER("X-Foo"))
    ifc_list_t *cnf = parse_ifcs(IFC(1, 1, SPTS, AS("sip:as")));
    ifc_list_t *dnf = parse_ifcs(IFC(1, 0, SPTS, AS("sip:as")));
    assert_true(one(cnf, IFC_TERM_REG, req("INVITE", "sip:b@x", "")));
    assert_false(one(cnf, IFC_ORIG, req("MESSAGE", "sip:b@x", "")));
    assert_true(one(cnf, IFC_ORIG, req("MESSAGE", "sip:b@x", "X-Foo: 1\n")));
    assert_false(one(cnf, IFC_TERM_REG, req("MESSAGE", "sip:b@x", "X-Foo: 1\n")));
    assert_true(one(dnf, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    assert_false(one(dnf, IFC_TERM_REG, req("INVITE", "sip:b@x", "")));
    assert_true(one(dnf, IFC_TERM_REG, req("INVITE", "sip:b@x", "X-Foo: 1\n")));
    assert_false(one(dnf, IFC_ORIG, req("MESSAGE", "sip:b@x", "X-Foo: 1\n")));
    ifc_list_free(cnf);
    ifc_list_free(dnf);
}

static void negation(void **state)
{
    ifc_list_t *l = parse_ifcs(IFC(1, 1, SPT(1, 0, METHOD("REGISTER")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    assert_false(one(l, IFC_ORIG, req("REGISTER", "sip:x", "")));
    ifc_list_free(l);
    /* xs:boolean spelling, and a negated header that is absent */
    l = parse_ifcs(IFC(
        1, 1,
        "<SPT><ConditionNegated>true</ConditionNegated><Group>0</Group>" HEADER("Subject") "</SPT>",
        AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "Subject: hi\n")));
    ifc_list_free(l);
}

static void method_and_session_case(void **state)
{
    ifc_list_t *l =
        parse_ifcs(IFC(1, 1, SPT(0, 0, METHOD("INVITE")) SPT(0, 1, CASE(2)), AS("sip:as")));
    assert_true(one(l, IFC_TERM_UNREG, req("INVITE", "sip:b@x", "")));
    assert_false(one(l, IFC_TERM_REG, req("INVITE", "sip:b@x", "")));
    assert_false(one(l, IFC_TERM_UNREG, req("OPTIONS", "sip:b@x", "")));
    ifc_list_free(l);
    /* Methods compare exactly. */
    l = parse_ifcs(IFC(1, 1, SPT(0, 0, METHOD("invite")), AS("sip:as")));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    ifc_list_free(l);
    /* Every session case value, including CDIV. */
    l = parse_ifcs(IFC(1, 1, SPT(0, 0, CASE(4)), AS("sip:as")));
    assert_true(one(l, IFC_ORIG_CDIV, req("INVITE", "sip:b@x", "")));
    assert_false(one(l, IFC_ORIG_UNREG, req("INVITE", "sip:b@x", "")));
    ifc_list_free(l);
}

/* ---- SPT kinds ---- */

static void header_known_to_sofia(void **state)
{
    ifc_list_t *l =
        parse_ifcs(IFC(1, 1, SPT(0, 0, HEADER_RE("Contact", "icsi-ref=.*mmtel")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", MMTEL_CONTACT)));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "Contact: <sip:alice@10.0.0.1>\n")));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    ifc_list_free(l);
    /* presence, by a name in another case */
    l = parse_ifcs(IFC(1, 1, SPT(0, 0, HEADER("contact")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", MMTEL_CONTACT)));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    ifc_list_free(l);
    /* The compact form names the same header; From's tag is part of its value. */
    l = parse_ifcs(IFC(1, 1, SPT(0, 0, HEADER_RE("f", "tag=a1$")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    ifc_list_free(l);
}

static void header_several_values(void **state)
{
    /* Each value of a header is tried: the second Route entry matches. */
    ifc_list_t *l =
        parse_ifcs(IFC(1, 1, SPT(0, 0, HEADER_RE("Route", "^&lt;sip:orig@scscf")), AS("sip:as")));
    assert_true(
        one(l, IFC_ORIG, req("INVITE", "sip:b@x", "Route: <sip:pcscf;lr>, <sip:orig@scscf;lr>\n")));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "Route: <sip:pcscf;lr>\n")));
    ifc_list_free(l);
    /* The same for unknown headers given on several lines. */
    l = parse_ifcs(IFC(1, 1, SPT(0, 0, HEADER_RE("X-Foo", "^two$")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "X-Foo: one\nX-Foo: two\n")));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "X-Foo: one\n")));
    ifc_list_free(l);
}

static void header_unknown_to_sofia(void **state)
{
    ifc_list_t *l = parse_ifcs(IFC(1, 1, SPT(0, 0, HEADER("P-Asserted-Identity")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", PAI)));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "X-Foo: bar\n")));
    ifc_list_free(l);
    l = parse_ifcs(
        IFC(1, 1, SPT(0, 0, HEADER_RE("p-asserted-identity", "alice@ims\\.test")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", PAI)));
    assert_false(
        one(l, IFC_ORIG, req("INVITE", "sip:b@x", "P-Asserted-Identity: <sip:eve@ims.test>\n")));
    ifc_list_free(l);
    l = parse_ifcs(IFC(1, 1, SPT(0, 0, HEADER_RE("x-foo", "^bar b")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "X-Foo: bar baz\n")));
    assert_false(one(l, IFC_ORIG, req("INVITE", "sip:b@x", "X-Foo: baz bar\n")));
    ifc_list_free(l);
}

static void request_uri(void **state)
{
    ifc_list_t *l = parse_ifcs(IFC(1, 1, SPT(0, 0, RURI("^sip:bob@ims\\.test")), AS("sip:as")));
    assert_true(one(l, IFC_TERM_REG, req("INVITE", "sip:bob@ims.test", "")));
    assert_true(one(l, IFC_TERM_REG, req("INVITE", "sip:bob@ims.test;user=phone", "")));
    assert_false(one(l, IFC_TERM_REG, req("INVITE", "sip:bobby@ims.test.example", "")));
    assert_false(one(l, IFC_TERM_REG, req("INVITE", "sip:alice@ims.test", "")));
    ifc_list_free(l);
    /* unanchored: the pattern may match anywhere */
    l = parse_ifcs(IFC(1, 1, SPT(0, 0, RURI("\\+1555")), AS("sip:as")));
    assert_true(one(l, IFC_ORIG, req("INVITE", "tel:+15550002", "")));
    assert_false(one(l, IFC_ORIG, req("INVITE", "tel:+4930123", "")));
    ifc_list_free(l);
}

static msg_t *invite_with_body(const char *type, const char *body)
{
    char head[1024];
    snprintf(head, sizeof head,
             "INVITE sip:b@x SIP/2.0\n" VIA "Max-Forwards: 70\n" FROM TO CID
             "CSeq: 1 INVITE\nContent-Type: %s\n",
             type);
    return request(head, body);
}

static void session_description(void **state)
{
    ifc_list_t *video =
        parse_ifcs(IFC(1, 1, SPT(0, 0, SDP_LINE("m", "<Content>^video </Content>")), AS("sip:as")));
    ifc_list_t *any_m = parse_ifcs(IFC(1, 1, SPT(0, 0, SDP_LINE("m", "")), AS("sip:as")));
    ifc_list_t *msrp = parse_ifcs(
        IFC(1, 1, SPT(0, 0, SDP_LINE("m", "<Content>^message</Content>")), AS("sip:as")));
    ifc_list_t *bw = parse_ifcs(IFC(1, 1, SPT(0, 0, SDP_LINE("b", "")), AS("sip:as")));
    assert_true(one(video, IFC_ORIG, invite_with_body("application/sdp", SDP)));
    assert_true(one(any_m, IFC_ORIG, invite_with_body("application/sdp", SDP)));
    assert_false(one(msrp, IFC_ORIG, invite_with_body("application/sdp", SDP)));
    assert_false(one(bw, IFC_ORIG, invite_with_body("application/sdp", SDP)));
    /* only an SDP body counts; bare \n line ends are fine */
    assert_false(one(any_m, IFC_ORIG, invite_with_body("text/plain", SDP)));
    assert_false(one(any_m, IFC_ORIG, req("INVITE", "sip:b@x", "")));
    assert_true(
        one(video, IFC_ORIG, invite_with_body("application/sdp", "v=0\nm=video 1 RTP/AVP 0")));
    ifc_list_free(video);
    ifc_list_free(any_m);
    ifc_list_free(msrp);
    ifc_list_free(bw);
}

/* ---- order, unconditional, registered/unregistered parts ---- */

static void priority_order_and_resume(void **state)
{
    /* Two service profiles; priorities out of order, 3 given twice (document order wins). */
    const char *xml = SUB_HEAD IFC_ALWAYS(5, AS("sip:five"))
        IFC_ALWAYS(3, AS("sip:three-a")) "</ServiceProfile><ServiceProfile>" IFC(
            1, 1, SPT(0, 0, METHOD("INVITE")), AS("sip:one")) IFC_ALWAYS(3, AS("sip:three-b"))
            SUB_TAIL;
    ifc_list_t *l = parse_ok(xml);
    assert_int_equal(ifc_list_count(l), 4);
    const char *want[] = {"sip:one", "sip:three-a", "sip:three-b", "sip:five"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(ifc_get_as(l, i)->server_name, want[i]);
    msg_t *m = req("MESSAGE", "sip:b@x", "");
    const sip_t *sip = sip_object(m);
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG, sip), 1);
    assert_int_equal(ifc_next_match(l, 2, IFC_ORIG, sip), 2);
    assert_int_equal(ifc_next_match(l, 3, IFC_ORIG, sip), 3);
    assert_int_equal(ifc_next_match(l, 4, IFC_ORIG, sip), -1);
    assert_int_equal(ifc_next_match(l, 1000, IFC_ORIG, sip), -1);
    msg_destroy(m);
    m = req("INVITE", "sip:b@x", "");
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG, sip_object(m)), 0);
    assert_int_equal(ifc_next_match(l, 1, IFC_ORIG, sip_object(m)), 1);
    msg_destroy(m);
    ifc_list_free(l);
}

static void without_trigger_point(void **state)
{
    ifc_list_t *l = parse_ifcs(IFC_ALWAYS(1, AS("sip:as")));
    for (int sc = IFC_ORIG; sc <= IFC_ORIG_CDIV; sc++)
        assert_true(one(l, (ifc_case_t)sc, req("OPTIONS", "sip:b@x", "")));
    ifc_list_free(l);
    /* a TriggerPoint without SPTs means the same */
    l = parse_ifcs(IFC(1, 0, "", AS("sip:as")));
    assert_true(one(l, IFC_TERM_REG, req("OPTIONS", "sip:b@x", "")));
    ifc_list_free(l);
}

#define PART(p, prio, as)                                                                          \
    "<InitialFilterCriteria><Priority>" #prio "</Priority>" as "<ProfilePartIndicator>" #p         \
    "</ProfilePartIndicator></InitialFilterCriteria>"

static void registered_and_unregistered_parts(void **state)
{
    ifc_list_t *l = parse_ifcs(PART(0, 1, AS("sip:reg")) PART(1, 2, AS("sip:unreg"))
                                   IFC(3, 1, SPT(0, 0, CASE(2)), AS("sip:voicemail")));
    msg_t *m = req("INVITE", "sip:b@x", "");
    const sip_t *sip = sip_object(m);
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG, sip), 0);
    assert_int_equal(ifc_next_match(l, 0, IFC_TERM_REG, sip), 0);
    assert_int_equal(ifc_next_match(l, 1, IFC_TERM_REG, sip), -1);
    assert_int_equal(ifc_next_match(l, 0, IFC_TERM_UNREG, sip), 1);
    assert_int_equal(ifc_next_match(l, 2, IFC_TERM_UNREG, sip), 2);
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG_UNREG, sip), 1);
    assert_int_equal(ifc_next_match(l, 2, IFC_ORIG_UNREG, sip), -1);
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG_CDIV, sip), 0); /* neither part */
    assert_true(ifc_matches(l, 1, IFC_ORIG_CDIV, sip));
    assert_false(ifc_matches(l, 1, IFC_ORIG, sip));
    assert_false(ifc_matches(l, 7, IFC_ORIG, sip));
    msg_destroy(m);
    ifc_list_free(l);
}

static void application_server_fields(void **state)
{
    ifc_list_t *l = parse_ifcs(
        "<InitialFilterCriteria><Priority>4</Priority><ApplicationServer>"
        "<ServerName>\n  sip:as.ims.test;transport=tcp \n</ServerName>"
        "<DefaultHandling>1</DefaultHandling><ServiceInfo>a &lt;b&gt; &amp; c</ServiceInfo>"
        "<IncludeRegisterRequest/><IncludeRegisterResponse>0</IncludeRegisterResponse>"
        "</ApplicationServer></InitialFilterCriteria>" IFC_ALWAYS(9, AS("sip:plain")));
    const ifc_as_t *as = ifc_get_as(l, 0);
    assert_string_equal(as->server_name, "sip:as.ims.test;transport=tcp");
    assert_int_equal(as->default_handling, 1);
    assert_string_equal(as->service_info, "a <b> & c");
    assert_true(as->include_register_request);
    assert_false(as->include_register_response);
    assert_int_equal(as->priority, 4);
    as = ifc_get_as(l, 1);
    assert_int_equal(as->default_handling, 0);
    assert_null(as->service_info);
    assert_false(as->include_register_request);
    assert_null(ifc_get_as(l, 2));
    assert_null(ifc_get_as(NULL, 0));
    assert_int_equal(ifc_list_count(NULL), 0);
    assert_int_equal(ifc_next_match(NULL, 0, IFC_ORIG, NULL), -1);
    ifc_list_free(l);
    ifc_list_free(NULL);
}

static void no_ifc_is_an_empty_list(void **state)
{
    ifc_list_t *l = parse_ok(SUB_HEAD SUB_TAIL);
    assert_int_equal(ifc_list_count(l), 0);
    msg_t *m = req("INVITE", "sip:b@x", "");
    assert_int_equal(ifc_next_match(l, 0, IFC_ORIG, sip_object(m)), -1);
    msg_destroy(m);
    ifc_list_free(l);
}

/* ---- refused input ---- */

static void malformed_xml(void **state)
{
    expect_parse_error(SUB_HEAD, "malformed XML");
    expect_parse_error("", "malformed XML");
    expect_parse_error("<IMSSubscription><ServiceProfile></IMSSubscription>", "malformed XML");
    expect_parse_error("<UserData/>", "root element is not IMSSubscription");
    expect_parse_error("<?xml version=\"1.0\"?><!DOCTYPE IMSSubscription ["
                       "<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
                       "<IMSSubscription><PrivateID>&b;</PrivateID></IMSSubscription>",
                       "DTD");
    char err[64];
    assert_null(ifc_list_parse(NULL, 0, err, sizeof err));
    assert_null(ifc_list_parse("<x", 2, NULL, 0)); /* no room for a message is fine */
}

static void bad_regular_expressions(void **state)
{
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, RURI("sip:(a")), AS("sip:as")),
                      "InitialFilterCriteria[0] SPT[0]: RequestURI: bad regular expression");
    expect_ifcs_error(
        IFC(1, 1, SPT(0, 0, METHOD("INVITE")) SPT(0, 0, HEADER_RE("X", "[a-")), AS("sip:as")),
        "SPT[1]: Content: bad regular expression '[a-'");
    expect_ifcs_error(
        IFC(1, 1, SPT(0, 0, SDP_LINE("m", "<Content>a{2,1}</Content>")), AS("sip:as")),
        "Content: bad regular expression");
    /* Patterns that glibc's regcomp would expand into gigabytes. */
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, RURI("((a{99}){99}){99}")), AS("sip:as")),
                      "repeats too much");
    expect_ifcs_error(
        IFC(1, 1, SPT(0, 0, HEADER_RE("X", "ic++++++++++++++++++++++++si")), AS("sip:as")),
        "repeats too much");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, RURI("x(ab){3000}")), AS("sip:as")), "repeats too much");
    ifc_list_t *l =
        parse_ifcs(IFC(1, 1,
                       SPT(0, 0, RURI("^tel:\\+?[0-9]{10,15}$")) SPT(0, 0, RURI("(ab){2000}"))
                           SPT(0, 0, RURI("[]{9999}]")) SPT(0, 0, RURI("[[:digit:]{}]{5}")),
                       AS("sip:as")));
    ifc_list_free(l);

    char big[IFC_MAX_REGEX + 200];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char ifcs[4096];
    snprintf(ifcs, sizeof ifcs, IFC(1, 1, SPT(0, 0, "<RequestURI>%s</RequestURI>"), AS("sip:as")),
             big);
    expect_ifcs_error(ifcs, "longer than");
}

static void bad_values(void **state)
{
    expect_ifcs_error("<InitialFilterCriteria>" AS("sip:as") "</InitialFilterCriteria>",
                      "InitialFilterCriteria[0]: Priority: missing");
    expect_ifcs_error(IFC_ALWAYS(x, AS("sip:as")), "Priority: expected");
    expect_ifcs_error(IFC_ALWAYS(-1, AS("sip:as")), "Priority: expected");
    expect_ifcs_error("<InitialFilterCriteria><Priority>1</Priority></InitialFilterCriteria>",
                      "ApplicationServer: missing");
    expect_ifcs_error(IFC_ALWAYS(1, AS("")), "ServerName: missing or empty");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, CASE(5)), AS("sip:as")), "SessionCase: expected");
    expect_ifcs_error(IFC(1, 2, SPT(0, 0, CASE(0)), AS("sip:as")), "ConditionTypeCNF: expected");
    expect_ifcs_error("<InitialFilterCriteria><Priority>1</Priority><TriggerPoint>" SPT(
                          0, 0, CASE(0)) "</TriggerPoint>" AS("sip:as") "</InitialFilterCriteria>",
                      "ConditionTypeCNF: missing");
    expect_ifcs_error(IFC(1, 1, SPT(2, 0, CASE(0)), AS("sip:as")), "ConditionNegated: expected");
    expect_ifcs_error(IFC(1, 1, SPT(0, -3, CASE(0)), AS("sip:as")), "Group: expected");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, METHOD("IN VITE")), AS("sip:as")), "Method: expected");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, HEADER("X Foo")), AS("sip:as")), "Header: expected");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, "<SIPHeader/>"), AS("sip:as")),
                      "Header: missing or empty");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, ""), AS("sip:as")), "SPT[0]: no condition");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, METHOD("INVITE") CASE(0)), AS("sip:as")),
                      "more than one condition");
    expect_ifcs_error(IFC(1, 1, SPT(0, 0, SDP_LINE("", "")), AS("sip:as")),
                      "Line: missing or empty");
    expect_ifcs_error(PART(2, 1, AS("sip:as")), "ProfilePartIndicator: expected");
}

static void bounds(void **state)
{
    static char ifcs[64 * 1024];
    size_t n = 0;
    for (int i = 0; i <= IFC_MAX_IFCS; i++)
        n += (size_t)snprintf(ifcs + n, sizeof ifcs - n, IFC_ALWAYS(% d, AS("sip:as")), i);
    char *xml = malloc(n + 1024);
    sprintf(xml, SUB_HEAD "%s" SUB_TAIL, ifcs);
    expect_parse_error(xml, "more than 64 InitialFilterCriteria");

    n = (size_t)snprintf(ifcs, sizeof ifcs,
                         "<InitialFilterCriteria><Priority>1</Priority>"
                         "<TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>");
    for (int i = 0; i <= IFC_MAX_SPTS; i++)
        n += (size_t)snprintf(ifcs + n, sizeof ifcs - n, "%s", SPT(0, 0, CASE(0)));
    snprintf(ifcs + n, sizeof ifcs - n, "</TriggerPoint>" AS("sip:as") "</InitialFilterCriteria>");
    sprintf(xml, SUB_HEAD "%s" SUB_TAIL, ifcs);
    expect_parse_error(xml, "more than 64 SPTs");

    n = (size_t)snprintf(ifcs, sizeof ifcs, "<SPT>");
    for (int i = 0; i <= IFC_MAX_GROUPS; i++)
        n += (size_t)snprintf(ifcs + n, sizeof ifcs - n, "<Group>%d</Group>", i);
    snprintf(ifcs + n, sizeof ifcs - n, "%s", CASE(0) "</SPT>");
    sprintf(xml, SUB_HEAD IFC(1, 1, "%s", AS("sip:as")) SUB_TAIL, ifcs);
    expect_parse_error(xml, "more than 16 Group elements");
    free(xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hss_user_data_application_servers),
        cmocka_unit_test(hss_user_data_matching),
        cmocka_unit_test(cnf_and_dnf),
        cmocka_unit_test(spt_in_several_groups),
        cmocka_unit_test(negation),
        cmocka_unit_test(method_and_session_case),
        cmocka_unit_test(header_known_to_sofia),
        cmocka_unit_test(header_several_values),
        cmocka_unit_test(header_unknown_to_sofia),
        cmocka_unit_test(request_uri),
        cmocka_unit_test(session_description),
        cmocka_unit_test(priority_order_and_resume),
        cmocka_unit_test(without_trigger_point),
        cmocka_unit_test(registered_and_unregistered_parts),
        cmocka_unit_test(application_server_fields),
        cmocka_unit_test(no_ifc_is_an_empty_list),
        cmocka_unit_test(malformed_xml),
        cmocka_unit_test(bad_regular_expressions),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
