/* The one IMPU/IMPI rule of a REGISTER (common/sip/sip_ids.c), the P-CSCF, I-CSCF and registrar
 * all use: From the To and the Authorization, with hostile input refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "common/sip/sip_ids.h"

#define HOME "ims.example.org"

static msg_t *msg;

/* A REGISTER with this To value and these extra header lines (each ending in \r\n). */
static sip_t *reg(const char *to, const char *extra)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "REGISTER sip:" HOME " SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
             "From: <sip:alice@" HOME ">;tag=1\r\n"
             "%s%s%s"
             "Call-ID: c1\r\nCSeq: 1 REGISTER\r\n%s"
             "Content-Length: 0\r\n\r\n",
             to ? "To: " : "", to ? to : "", to ? "\r\n" : "", extra ? extra : "");
    if (msg)
        msg_destroy(msg);
    msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
    assert_non_null(msg);
    return sip_object(msg);
}

static int teardown(void **state)
{
    if (msg)
        msg_destroy(msg);
    msg = NULL;
    return 0;
}

#define AUTH(user, realm)                                                                          \
    "Authorization: Digest username=\"" user "\", realm=\"" realm                                  \
    "\", nonce=\"\", uri=\"sip:" HOME "\", response=\"\"\r\n"

static void impi_from_authorization(void **state)
{
    sip_ids_t ids;
    digest_creds_t cr;
    sip_t *sip = reg("<sip:Alice@" HOME ":5060;transport=udp>", AUTH("alice.impi@" HOME, HOME));
    assert_int_equal(sip_register_identities(sip, HOME, &ids, &cr), SIP_IDS_OK);
    assert_string_equal(ids.impu, "sip:Alice@" HOME); /* the address of record: no port, params */
    assert_string_equal(ids.impi, "alice.impi@" HOME);
    assert_true(ids.from_auth);
    assert_string_equal(cr.realm, HOME);
    assert_int_equal(sip_register_identities(sip, NULL, &ids, NULL), SIP_IDS_OK); /* any realm */
    assert_string_equal(ids.impi, "alice.impi@" HOME);
}

static void home_realm_preferred(void **state)
{
    sip_ids_t ids;
    digest_creds_t cr;
    sip_t *sip = reg("<sip:alice@" HOME ">",
                     AUTH("visited@other.example", "other.example") AUTH("home@" HOME, HOME));
    assert_int_equal(sip_register_identities(sip, HOME, &ids, &cr), SIP_IDS_OK);
    assert_string_equal(ids.impi, "home@" HOME);
    assert_string_equal(cr.username, "home@" HOME);
    /* Without a realm (the P-CSCF) or for an unknown one: the first Digest credentials. */
    assert_int_equal(sip_register_identities(sip, NULL, &ids, NULL), SIP_IDS_OK);
    assert_string_equal(ids.impi, "visited@other.example");
    assert_int_equal(sip_register_identities(sip, "third.example", &ids, NULL), SIP_IDS_OK);
    assert_string_equal(ids.impi, "visited@other.example");
}

static void impi_derived_without_authorization(void **state)
{
    sip_ids_t ids;
    digest_creds_t cr;
    memset(&cr, 0x55, sizeof cr);
    assert_int_equal(sip_register_identities(reg("<sip:alice@" HOME ">", NULL), HOME, &ids, &cr),
                     SIP_IDS_OK);
    assert_string_equal(ids.impu, "sip:alice@" HOME);
    assert_string_equal(ids.impi, "alice@" HOME); /* TS 23.003 13.3: the scheme stripped */
    assert_false(ids.from_auth);
    assert_string_equal(cr.username, ""); /* no credentials: zeroed */
    assert_int_equal(sip_register_identities(reg("<sips:bob@" HOME ">", NULL), HOME, &ids, NULL),
                     SIP_IDS_OK);
    assert_string_equal(ids.impu, "sips:bob@" HOME);
    assert_string_equal(ids.impi, "bob@" HOME);
    /* A Basic Authorization is none of ours. */
    sip_t *sip = reg("<sip:carol@" HOME ">", "Authorization: Basic Y2Fyb2w6eA==\r\n");
    assert_int_equal(sip_register_identities(sip, HOME, &ids, NULL), SIP_IDS_OK);
    assert_string_equal(ids.impi, "carol@" HOME);
    assert_false(ids.from_auth);
}

static void malformed_authorization_is_none(void **state)
{
    sip_ids_t ids;
    digest_creds_t cr;
    char big[400], extra[600];
    memset(big, 'u', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(extra, sizeof extra, "Authorization: Digest username=\"%s\", realm=\"" HOME "\"\r\n",
             big);
    assert_int_equal(sip_register_identities(reg("<sip:alice@" HOME ">", extra), HOME, &ids, &cr),
                     SIP_IDS_OK);
    assert_string_equal(ids.impi, "alice@" HOME); /* an overlong username is not taken */
    assert_false(ids.from_auth);
    assert_string_equal(cr.username, "");
    const char *unterminated = "Authorization: Digest username=\"eve, realm=\"" HOME "\"\r\n";
    assert_int_equal(
        sip_register_identities(reg("<sip:alice@" HOME ">", unterminated), HOME, &ids, &cr),
        SIP_IDS_OK);
    assert_string_equal(ids.impi, "alice@" HOME);
    assert_false(ids.from_auth);
}

static void no_user_part_needs_authorization(void **state)
{
    sip_ids_t ids;
    /* A sip: IMPU without a user part is no NAI: no IMPI to derive ... */
    assert_int_equal(sip_register_identities(reg("<sip:" HOME ">", NULL), HOME, &ids, NULL),
                     SIP_IDS_NO_IMPI);
    assert_string_equal(ids.impu, "");
    assert_string_equal(ids.impi, "");
    /* ... but the UE may still name its IMPI. */
    assert_int_equal(
        sip_register_identities(reg("<sip:" HOME ">", AUTH("alice@" HOME, HOME)), HOME, &ids, NULL),
        SIP_IDS_OK);
    assert_string_equal(ids.impu, "sip:" HOME);
    assert_string_equal(ids.impi, "alice@" HOME);
}

static void hostile_to_refused(void **state)
{
    sip_ids_t ids;
    assert_int_equal(sip_register_identities(NULL, HOME, &ids, NULL), SIP_IDS_NO_TO);
    assert_int_equal(sip_register_identities(reg(NULL, NULL), HOME, &ids, NULL), SIP_IDS_NO_TO);
    assert_int_equal(
        sip_register_identities(reg("<mailto:alice@" HOME ">", NULL), HOME, &ids, NULL),
        SIP_IDS_BAD_IMPU);
    assert_int_equal(sip_register_identities(reg("<http://" HOME "/alice>", AUTH("a@" HOME, HOME)),
                                             HOME, &ids, NULL),
                     SIP_IDS_BAD_IMPU); /* credentials do not make up for the To */
    assert_string_equal(ids.impi, "");
    char user[3001], to[3100];
    memset(user, 'a', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    snprintf(to, sizeof to, "<sip:%s@" HOME ">", user);
    assert_int_equal(sip_register_identities(reg(to, NULL), HOME, &ids, NULL), SIP_IDS_BAD_IMPU);
    assert_string_equal(ids.impu, "");
    /* Just fitting: 255 characters of IMPU, 251 of derived IMPI. */
    char fit[256];
    memset(fit, 'b', 255 - strlen("sip:@" HOME));
    fit[255 - strlen("sip:@" HOME)] = '\0';
    snprintf(to, sizeof to, "<sip:%s@" HOME ">", fit);
    assert_int_equal(sip_register_identities(reg(to, NULL), HOME, &ids, NULL), SIP_IDS_OK);
    assert_int_equal(strlen(ids.impu), 255);
    assert_int_equal(strlen(ids.impi), 255 - 4);
    snprintf(to, sizeof to, "<sip:%sb@" HOME ">", fit);
    assert_int_equal(sip_register_identities(reg(to, NULL), HOME, &ids, NULL), SIP_IDS_BAD_IMPU);
}

static void phrases(void **state)
{
    assert_string_equal(sip_ids_phrase(SIP_IDS_NO_TO), "Bad To (IMPU)");
    assert_string_equal(sip_ids_phrase(SIP_IDS_BAD_IMPU), "Bad To (IMPU)");
    assert_string_equal(sip_ids_phrase(SIP_IDS_NO_IMPI), "No IMPI (Authorization Needed)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(impi_from_authorization, teardown),
        cmocka_unit_test_teardown(home_realm_preferred, teardown),
        cmocka_unit_test_teardown(impi_derived_without_authorization, teardown),
        cmocka_unit_test_teardown(malformed_authorization_is_none, teardown),
        cmocka_unit_test_teardown(no_user_part_needs_authorization, teardown),
        cmocka_unit_test_teardown(hostile_to_refused, teardown),
        cmocka_unit_test(phrases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
