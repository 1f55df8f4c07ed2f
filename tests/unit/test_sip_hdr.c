/* The proxies' header and URI helpers: the address-of-record form the store is keyed by, the
 * name-addr list walk used on P-Associated-URI, and unknown-header edits on a real message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "common/sip/sip_hdr.h"

static void aor_of_text(void **state)
{
    char out[300];
    assert_int_equal(sip_uri_aor_str("<sip:Bob@IMS.Example.ORG:5060;user=phone>", out, sizeof out),
                     0);
    assert_string_equal(out, "sip:Bob@ims.example.org"); /* user part keeps its case */
    assert_int_equal(sip_uri_aor_str("\"Bob\" <tel:+1-555-0002;phone-context=x>", out, sizeof out),
                     0);
    assert_string_equal(out, "tel:+15550002");
    assert_int_equal(sip_uri_aor_str("sip:alice@example.org;tag=1", out, sizeof out), 0);
    assert_string_equal(out, "sip:alice@example.org");
    assert_int_equal(sip_uri_aor_str("<sip:example.org>", out, sizeof out), -1); /* no user */
    assert_int_equal(sip_uri_aor_str("<mailto:a@b>", out, sizeof out), -1);
    assert_int_equal(sip_uri_aor_str("<>", out, sizeof out), -1);
    assert_int_equal(sip_uri_aor_str("", out, sizeof out), -1);
    char tiny[8];
    assert_int_equal(sip_uri_aor_str("<sip:alice@example.org>", tiny, sizeof tiny), -1);
}

typedef struct seen {
    char items[4][128];
    int n;
} seen_t;

static int collect(void *ctx, const char *uri)
{
    seen_t *s = ctx;
    if (s->n >= 4)
        return 7;
    snprintf(s->items[s->n++], sizeof s->items[0], "%s", uri);
    return 0;
}

static void uri_list(void **state)
{
    seen_t s = {0};
    assert_int_equal(
        sip_uri_list_each("<sip:a@x>;p=1, \"B, the second\" <tel:+1>,  <sip:c@y;lr>", collect, &s),
        0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.items[0], "<sip:a@x>;p=1");
    assert_string_equal(s.items[1], "\"B, the second\" <tel:+1>"); /* comma inside quotes */
    assert_string_equal(s.items[2], "<sip:c@y;lr>");
    seen_t many = {0};
    assert_int_equal(sip_uri_list_each("<a>,<b>,<c>,<d>,<e>", collect, &many), 7); /* stops */
    seen_t none = {0};
    assert_int_equal(sip_uri_list_each(",, ,", collect, &none), 0);
    assert_int_equal(none.n, 0);
    assert_int_equal(sip_uri_list_each(NULL, collect, &none), 0);
}

static void unknown_headers(void **state)
{
    const char *text = "INVITE sip:bob@example.org SIP/2.0\r\n"
                       "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
                       "From: <sip:alice@example.org>;tag=1\r\n"
                       "To: <sip:bob@example.org>\r\n"
                       "Call-ID: c1\r\n"
                       "CSeq: 1 INVITE\r\n"
                       "P-Asserted-Identity: <sip:mallory@example.org>\r\n"
                       "p-asserted-identity: <tel:+1>\r\n"
                       "Content-Length: 0\r\n\r\n";
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
    assert_non_null(msg);
    sip_t *sip = sip_object(msg);
    assert_string_equal(sip_hdr_get(sip, "P-ASSERTED-IDENTITY"), "<sip:mallory@example.org>");
    assert_int_equal(sip_hdr_remove(msg, sip, "P-Asserted-Identity"), 2);
    assert_null(sip_hdr_get(sip, "P-Asserted-Identity"));
    assert_int_equal(sip_hdr_add(msg, sip, "P-Asserted-Identity", "<sip:alice@example.org>"), 0);
    assert_string_equal(sip_hdr_get(sip, "P-Asserted-Identity"), "<sip:alice@example.org>");
    /* What goes on the wire has it before the body, once. */
    msg_serialize(msg, (msg_pub_t *)sip);
    size_t len = 0;
    char *wire = msg_as_string(msg_home(msg), msg, NULL, 0, &len);
    assert_non_null(wire);
    assert_non_null(strstr(wire, "P-Asserted-Identity: <sip:alice@example.org>\r\n"));
    assert_null(strstr(wire, "mallory"));
    assert_true(strstr(wire, "P-Asserted-Identity") < strstr(wire, "\r\n\r\n"));
    msg_destroy(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aor_of_text),
        cmocka_unit_test(uri_list),
        cmocka_unit_test(unknown_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
