/* sip_proxy.c header work (RFC 3261 16.3-16.6) on messages parsed by sofia, checked as text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include "common/sip/sip_guard.h"
#include "common/sip/sip_proxy.h"

static const url_t *self_url(void)
{
    static url_t u;
    static char buf[] = "sip:10.0.0.1:5060;lr";
    static int done;
    if (!done) {
        url_d(&u, buf);
        done = 1;
    }
    return &u;
}

static int is_self(const void *ctx, const url_t *url)
{
    return url && url->url_host && strcmp(url->url_host, "10.0.0.1") == 0 && url->url_port &&
           strcmp(url->url_port, "5060") == 0;
}

static msg_t *parse(const char *head)
{
    /* The literals below end lines with \n; SIP wants CRLF. */
    char text[4096];
    size_t n = 0;
    for (const char *p = head; *p && n + 2 < sizeof text; p++) {
        if (*p == '\n')
            text[n++] = '\r';
        text[n++] = *p;
    }
    snprintf(text + n, sizeof text - n, "\r\nContent-Length: 0\r\n\r\n");
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(msg);
    assert_non_null(sip_object(msg)->sip_request);
    return msg;
}

/* The message as it would go on the wire; freed with the message. */
static const char *wire(msg_t *msg)
{
    sip_t *sip = sip_object(msg);
    assert_int_equal(msg_serialize(msg, (msg_pub_t *)sip), 0);
    size_t len;
    char *s = msg_as_string(msg_home(msg), msg, NULL, 0, &len);
    assert_non_null(s);
    return s;
}

static void expect_line(const char *text, const char *line)
{
    char needle[512];
    snprintf(needle, sizeof needle, "%s\r\n", line);
    if (!strstr(text, needle))
        fail_msg("missing line '%s' in:\n%s", line, text);
}

#define BASE                                                                                       \
    "Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1\n"                                            \
    "From: <sip:a@ims.example.org>;tag=1\n"                                                        \
    "To: <sip:b@ims.example.org>\n"                                                                \
    "Call-ID: c1@192.0.2.1\n"                                                                      \
    "CSeq: 1 INVITE"

static void max_forwards_zero_is_483(void **state)
{
    msg_t *m0 = parse("INVITE sip:b@ims.example.org SIP/2.0\n" BASE "\nMax-Forwards: 0");
    msg_t *m1 = parse("INVITE sip:b@ims.example.org SIP/2.0\n" BASE "\nMax-Forwards: 1");
    msg_t *none = parse("INVITE sip:b@ims.example.org SIP/2.0\n" BASE);
    assert_int_equal(sip_proxy_check_max_forwards(sip_object(m0)), 483);
    assert_int_equal(sip_proxy_check_max_forwards(sip_object(m1)), 0);
    assert_int_equal(sip_proxy_check_max_forwards(sip_object(none)), 0);
    msg_destroy(m0);
    msg_destroy(m1);
    msg_destroy(none);
}

static void prepare_decrements_and_record_routes(void **state)
{
    msg_t *msg = parse("INVITE sip:b@ims.example.org SIP/2.0\n" BASE
                       "\nMax-Forwards: 70\nRecord-Route: <sip:p1.example.org;lr>\n"
                       "X-Unknown-Header: keep  this ;as=is\n");
    assert_int_equal(sip_proxy_prepare(msg, sip_object(msg), self_url()), 0);
    const char *t = wire(msg);
    expect_line(t, "Max-Forwards: 69");
    /* ours goes on top of the ones already there */
    const char *ours = strstr(t, "Record-Route: <sip:10.0.0.1:5060;lr>");
    const char *theirs = strstr(t, "Record-Route: <sip:p1.example.org;lr>");
    assert_non_null(ours);
    assert_non_null(theirs);
    assert_true(ours < theirs);
    expect_line(t, "X-Unknown-Header: keep  this ;as=is");
    expect_line(t, "INVITE sip:b@ims.example.org SIP/2.0");
    expect_line(t, "Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1");
    msg_destroy(msg);
}

static void prepare_adds_missing_max_forwards(void **state)
{
    msg_t *msg = parse("INVITE sip:b@ims.example.org SIP/2.0\n" BASE);
    assert_int_equal(sip_proxy_prepare(msg, sip_object(msg), NULL), 0);
    const char *t = wire(msg);
    expect_line(t, "Max-Forwards: 70");
    assert_null(strcasestr(t, "Record-Route"));
    msg_destroy(msg);
}

static void own_route_is_removed(void **state)
{
    msg_t *msg = parse("INVITE sip:b@ims.example.org SIP/2.0\n" BASE
                       "\nRoute: <sip:10.0.0.1:5060;lr>, <sip:scscf.example.org;lr>");
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_self, NULL);
    assert_string_equal(sip_proxy_next_hop(sip)->url_host, "scscf.example.org");
    const char *t = wire(msg);
    expect_line(t, "Route: <sip:scscf.example.org;lr>");
    assert_null(strstr(t, "10.0.0.1"));
    msg_destroy(msg);
}

static void foreign_route_is_kept(void **state)
{
    msg_t *msg =
        parse("INVITE sip:b@ims.example.org SIP/2.0\n" BASE "\nRoute: <sip:other.example.org;lr>");
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_self, NULL);
    assert_string_equal(sip_proxy_next_hop(sip)->url_host, "other.example.org");
    msg_destroy(msg);
}

static void no_route_goes_to_request_uri(void **state)
{
    msg_t *msg = parse("INVITE sip:b@ue.example.org:5090 SIP/2.0\n" BASE);
    sip_proxy_preprocess_route(msg, sip_object(msg), is_self, NULL);
    assert_string_equal(sip_proxy_next_hop(sip_object(msg))->url_host, "ue.example.org");
    msg_destroy(msg);
}

static void request_uri_restored_after_strict_router(void **state)
{
    /* A strict router put our Record-Route in the Request-URI; the target is the last Route. */
    msg_t *msg = parse("INVITE sip:10.0.0.1:5060;lr SIP/2.0\n" BASE
                       "\nRoute: <sip:p2.example.org;lr>, <sip:b@ue.example.org>");
    sip_t *sip = sip_object(msg);
    sip_proxy_preprocess_route(msg, sip, is_self, NULL);
    const char *t = wire(msg);
    expect_line(t, "INVITE sip:b@ue.example.org SIP/2.0");
    expect_line(t, "Route: <sip:p2.example.org;lr>");
    assert_null(strstr(t, "Route: <sip:b@ue"));
    msg_destroy(msg);
}

static void strict_next_hop_gets_request_uri(void **state)
{
    msg_t *msg =
        parse("INVITE sip:b@ue.example.org SIP/2.0\n" BASE
              "\nMax-Forwards: 10\nRoute: <sip:strict.example.org>, <sip:p3.example.org;lr>");
    sip_t *sip = sip_object(msg);
    assert_int_equal(sip_proxy_prepare(msg, sip, NULL), 0);
    const char *t = wire(msg);
    expect_line(t, "INVITE sip:strict.example.org SIP/2.0");
    expect_line(t, "Max-Forwards: 9");
    const char *p3 = strstr(t, "<sip:p3.example.org;lr>");
    const char *orig = strstr(t, "<sip:b@ue.example.org>");
    assert_non_null(p3);
    assert_non_null(orig);
    assert_true(p3 < orig); /* the old Request-URI is appended at the end */
    assert_null(strstr(t, "<sip:strict.example.org>"));
    msg_destroy(msg);
}

/* Contact expires: digits only; anything else falls back to the default instead of meaning 0
 * (which would deregister). */
static void contact_expires_is_strict(void **state)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    struct {
        const char *contact;
        long want;
    } cases[] = {{"<sip:a@b>;expires=600", 600},
                 {"<sip:a@b>;expires=0", 0},
                 {"<sip:a@b>;expires=abc", 77},
                 {"<sip:a@b>;expires=-5", 77},
                 {"<sip:a@b>", 77},
                 {"<sip:a@b>;expires=99999999999", 2147483647}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sip_contact_t *m = sip_contact_make(home, cases[i].contact);
        assert_non_null(m);
        assert_int_equal(sip_core_contact_expires(m, 77), cases[i].want);
    }
    su_home_deinit(home);
}

/* sofia-sip 1.12 aborts serializing a message that repeats a single-valued header (a forwarded
 * request with two Max-Forwards killed the scscf; found by t_mutation.sh): such messages are
 * recognised so that they are never forwarded or relayed (common/sip/sip_guard.c). */
static void duplicate_single_headers_are_recognised(void **state)
{
    msg_t *clean = parse("INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\n"
                         "Max-Forwards: 70\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\n"
                         "CSeq: 1 INVITE\nRoute: <sip:r1;lr>\nRoute: <sip:r2;lr>");
    assert_false(sip_guard_duplicate_single(sip_object(clean)));
    msg_destroy(clean);
    msg_t *twice = parse("INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\n"
                         "Max-Forwards: 70\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: c\n"
                         "CSeq: 1 INVITE\nMax-Forwards: 10");
    assert_true(sip_guard_duplicate_single(sip_object(twice)));
    msg_destroy(twice);
    msg_t *after_error = parse("INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\n"
                               "Max-Forwards: 70\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>\n"
                               "Call-ID: c\nCSeq: 1 INVITE\nRSeq: x\nCall-ID: d");
    assert_true(sip_guard_duplicate_single(sip_object(after_error)));
    msg_destroy(after_error);
    assert_false(sip_guard_duplicate_single(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_forwards_zero_is_483),
        cmocka_unit_test(duplicate_single_headers_are_recognised),
        cmocka_unit_test(contact_expires_is_strict),
        cmocka_unit_test(prepare_decrements_and_record_routes),
        cmocka_unit_test(prepare_adds_missing_max_forwards),
        cmocka_unit_test(own_route_is_removed),
        cmocka_unit_test(foreign_route_is_kept),
        cmocka_unit_test(no_route_goes_to_request_uri),
        cmocka_unit_test(request_uri_restored_after_strict_router),
        cmocka_unit_test(strict_next_hop_gets_request_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
