/* The trust domain's address matching and header removal (common/sip/trust.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su.h>

#include "common/ops/metrics.h"
#include "common/sip/sip_hdr.h"
#include "common/sip/trust.h"

/* Does the textual address fall inside one of the entries? */
static int inside(const char *const *entries, size_t n, const char *addr)
{
    trust_net_t nets[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(trust_net_parse(entries[i], &nets[i]), 0);
    unsigned char raw[16];
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(family, addr, raw), 1);
    return trust_nets_match(nets, n, family, raw);
}

#define IN(addr, ...)                                                                              \
    inside((const char *const[]){__VA_ARGS__},                                                     \
           sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *), addr)

static void parses_addresses_and_networks(void **state)
{
    trust_net_t t;
    assert_int_equal(trust_net_parse("192.0.2.1", &t), 0);
    assert_int_equal(t.family, AF_INET);
    assert_int_equal(t.bits, 32);
    assert_int_equal(trust_net_parse("10.0.0.0/8", &t), 0);
    assert_int_equal(t.bits, 8);
    assert_int_equal(trust_net_parse("0.0.0.0/0", &t), 0);
    assert_int_equal(t.bits, 0);
    assert_int_equal(trust_net_parse("::1", &t), 0);
    assert_int_equal(t.family, AF_INET6);
    assert_int_equal(t.bits, 128);
    assert_int_equal(trust_net_parse("fd00::/8", &t), 0);
    assert_int_equal(t.bits, 8);
    assert_int_equal(trust_net_parse("[2001:db8::1]", &t), 0);
    assert_int_equal(trust_net_parse("[2001:db8::]/32", &t), 0);
    assert_int_equal(t.bits, 32);
}

static void refuses_what_is_no_address(void **state)
{
    trust_net_t t;
    static const char *const bad[] = {
        "",
        "pcscf.example.org",
        "192.0.2.1:5060",
        "192.0.2.256",
        "10.0.0.0/33",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/8x",
        "::1/129",
        "[::1",
        "::1]",
        "/8",
        "1.2.3",
        "10.0.0.0/0008",
        "[]",
        "::1/1/2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (trust_net_parse(bad[i], &t) != -1)
            fail_msg("\"%s\" was taken for an address", bad[i]);
    assert_int_equal(trust_net_parse(NULL, &t), -1);
}

static void matches_ipv4(void **state)
{
    assert_true(IN("127.0.0.1", "127.0.0.1"));
    assert_false(IN("127.0.0.2", "127.0.0.1")); /* the e2e test's untrusted host */
    assert_true(IN("10.244.3.7", "10.0.0.0/8"));
    assert_false(IN("11.0.0.1", "10.0.0.0/8"));
    assert_true(IN("172.31.255.255", "172.16.0.0/12"));
    assert_false(IN("172.32.0.0", "172.16.0.0/12"));
    assert_true(IN("192.168.1.130", "192.168.1.128/25"));
    assert_false(IN("192.168.1.127", "192.168.1.128/25"));
    assert_true(IN("10.1.2.3", "10.9.9.9/8")); /* host bits past the prefix do not matter */
    assert_true(IN("203.0.113.9", "0.0.0.0/0"));
    assert_true(IN("198.51.100.1", "192.0.2.1", "198.51.100.0/24")); /* any entry */
    assert_false(IN("198.51.101.1", "192.0.2.1", "198.51.100.0/24"));
}

static void matches_ipv6(void **state)
{
    assert_true(IN("::1", "::1"));
    assert_false(IN("::2", "::1"));
    assert_true(IN("fd12:3456::1", "fd00::/8"));
    assert_false(IN("fe80::1", "fd00::/8"));
    assert_true(IN("2001:db8:0:1::5", "2001:db8::/48"));
    assert_false(IN("2001:db8:1::5", "2001:db8::/48"));
    assert_true(IN("2001:db8::7f", "2001:db8::/121"));
    assert_false(IN("2001:db8::80", "2001:db8::/121"));
    assert_true(IN("2001:db8::1", "::/0"));
    /* One family never matches the other, except an IPv4 peer on a dual-stack socket. */
    assert_false(IN("::1", "127.0.0.1"));
    assert_false(IN("127.0.0.1", "::1"));
    assert_false(IN("::ffff:127.0.0.1", "::1"));
    assert_true(IN("::ffff:127.0.0.1", "127.0.0.1"));
    assert_true(IN("::ffff:10.1.1.1", "10.0.0.0/8"));
    assert_false(IN("::ffff:127.0.0.2", "127.0.0.1"));
}

static void empty_list_trusts_nobody(void **state)
{
    unsigned char lo[4] = {127, 0, 0, 1};
    assert_false(trust_nets_match(NULL, 0, AF_INET, lo));
}

static msg_t *parse(const char *text)
{
    msg_t *m = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
    assert_non_null(m);
    return m;
}

#define INVITE_HEAD                                                                                \
    "INVITE sip:bob@ims.example.org SIP/2.0\r\n"                                                   \
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"                                               \
    "From: <sip:mallory@ims.example.org>;tag=1\r\nTo: <sip:bob@ims.example.org>\r\n"               \
    "Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"

static void strips_trust_domain_headers(void **state)
{
    msg_t *m = parse(INVITE_HEAD "P-Asserted-Identity: <sip:alice@ims.example.org>\r\n"
                                 "p-asserted-identity: <tel:+15550001>\r\n"
                                 "P-Asserted-Service: urn:urn-7:3gpp-service.ims.icsi.mmtel\r\n"
                                 "P-Charging-Vector: icid-value=1\r\n"
                                 "P-Charging-Function-Addresses: ccf=192.0.2.9\r\n"
                                 "P-Served-User: <sip:alice@ims.example.org>\r\n"
                                 "P-Profile-Key: <sip:x@ims.example.org>\r\n"
                                 "P-Private-Network-Indication: example.com\r\n"
                                 "P-Visited-Network-ID: \"evil.example\"\r\n"
                                 "P-Access-Network-Info: 3GPP-E-UTRAN-FDD\r\n"
                                 "X-Other: kept\r\nContent-Length: 0\r\n\r\n");
    sip_t *sip = sip_object(m);
    assert_int_equal(trust_strip_headers(m, sip), 9);
    for (size_t i = 0; trust_domain_headers[i]; i++)
        assert_null(sip_hdr_get(sip, trust_domain_headers[i]));
    /* What the handsets and the network may say stays. */
    assert_string_equal(sip_hdr_get(sip, "P-Access-Network-Info"), "3GPP-E-UTRAN-FDD");
    assert_string_equal(sip_hdr_get(sip, "X-Other"), "kept");
    /* A copy (what the proxies forward) and the text sent carry none of them. */
    msg_t *copy = msg_copy(m);
    assert_non_null(copy);
    assert_null(sip_hdr_get(sip_object(copy), "P-Asserted-Identity"));
    assert_int_equal(msg_serialize(copy, (msg_pub_t *)sip_object(copy)), 0);
    size_t size = 0;
    char *text = msg_as_string(msg_home(copy), copy, NULL, 0, &size);
    assert_non_null(text);
    assert_null(strstr(text, "Asserted"));
    assert_null(strstr(text, "Charging"));
    assert_non_null(strstr(text, "X-Other: kept"));
    assert_int_equal(trust_strip_headers(m, sip), 0); /* nothing left */
    msg_destroy(copy);
    msg_destroy(m);
}

/* A received message from this IPv4 address (what msg_addr() gives for a datagram). */
static msg_t *from(const char *ip)
{
    msg_t *m = parse(INVITE_HEAD "Content-Length: 0\r\n\r\n");
    su_sockaddr_t *su = msg_addr(m);
    memset(su, 0, sizeof *su);
    su->su_family = AF_INET;
    su->su_port = htons(5060);
    assert_int_equal(inet_pton(AF_INET, ip, &su->su_sin.sin_addr), 1);
    return m;
}

static void guard_judges_the_source_address(void **state)
{
    char err[160];
    const char *peers[] = {"127.0.0.1", "10.0.0.0/8"};
    metrics_t *metrics = metrics_new();
    trust_guard_t *g = trust_guard_new("test", metrics, peers, 2, err, sizeof err);
    assert_non_null(g);
    msg_t *lo = from("127.0.0.1"), *lo2 = from("127.0.0.2"), *pod = from("10.42.0.7");
    assert_true(trust_guard_msg_trusted(g, lo));
    assert_false(trust_guard_msg_trusted(g, lo2));
    assert_true(trust_guard_msg_trusted(g, pod));
    assert_false(trust_guard_msg_trusted(g, NULL));
    /* A reload replaces the list; a bad one leaves the old in place. */
    const char *only2[] = {"127.0.0.2"};
    assert_int_equal(trust_guard_set(g, only2, 1, err, sizeof err), 0);
    assert_false(trust_guard_msg_trusted(g, lo));
    assert_true(trust_guard_msg_trusted(g, lo2));
    const char *bad[] = {"127.0.0.1", "scscf.example.org"};
    assert_int_equal(trust_guard_set(g, bad, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "scscf.example.org"));
    assert_true(trust_guard_msg_trusted(g, lo2));
    assert_int_equal(trust_peers_check(bad, 2, err, sizeof err), -1);
    assert_int_equal(trust_peers_check(peers, 2, err, sizeof err), 0);
    /* No entries: nobody is trusted. */
    assert_int_equal(trust_guard_set(g, NULL, 0, err, sizeof err), 0);
    assert_false(trust_guard_msg_trusted(g, lo));
    assert_null(trust_guard_new("test", NULL, bad, 2, err, sizeof err));
    msg_destroy(lo);
    msg_destroy(lo2);
    msg_destroy(pod);
    trust_guard_free(g);
    metrics_free(metrics);
}

/* A response received from this IPv4 address, with a P-Asserted-Identity and a charging vector. */
static msg_t *response_from(const char *ip)
{
    msg_t *m = parse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
                     "From: <sip:alice@ims.example.org>;tag=1\r\n"
                     "To: <sip:bob@ims.example.org>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
                     "P-Asserted-Identity: <sip:bob@ims.example.org>\r\n"
                     "P-Charging-Vector: icid-value=1\r\nContent-Length: 0\r\n\r\n");
    su_sockaddr_t *su = msg_addr(m);
    memset(su, 0, sizeof *su);
    su->su_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &su->su_sin.sin_addr), 1);
    return m;
}

/* RFC 3325 works both ways: what an untrusted peer asserts in a response is not passed on. */
static void screens_untrusted_responses(void **state)
{
    char err[160];
    const char *peers[] = {"127.0.0.1"};
    metrics_t *metrics = metrics_new();
    trust_guard_t *g = trust_guard_new("test", metrics, peers, 1, err, sizeof err);
    assert_non_null(g);
    msg_t *in = response_from("127.0.0.1"), *out = response_from("127.0.0.2");
    trust_screen_response(g, in, sip_object(in));
    assert_non_null(sip_hdr_get(sip_object(in), "P-Asserted-Identity"));
    assert_non_null(sip_hdr_get(sip_object(in), "P-Charging-Vector"));
    assert_int_equal(trust_guard_screen_response(g, out, sip_object(out)), 2);
    assert_null(sip_hdr_get(sip_object(out), "P-Asserted-Identity"));
    assert_null(sip_hdr_get(sip_object(out), "P-Charging-Vector"));
    assert_int_equal(trust_guard_screen_response(g, out, sip_object(out)), 0);
    char *text = metrics_render(metrics);
    assert_non_null(
        strstr(text, "cscf_untrusted_requests_total{action=\"response_pai_removed\"} 1"));
    free(text);
    msg_destroy(in);
    msg_destroy(out);
    trust_guard_free(g);
    metrics_free(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_addresses_and_networks),
        cmocka_unit_test(refuses_what_is_no_address),
        cmocka_unit_test(matches_ipv4),
        cmocka_unit_test(matches_ipv6),
        cmocka_unit_test(empty_list_trusts_nobody),
        cmocka_unit_test(strips_trust_domain_headers),
        cmocka_unit_test(guard_judges_the_source_address),
        cmocka_unit_test(screens_untrusted_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
