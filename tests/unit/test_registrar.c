/* registrar.c on the wire: a REGISTER that cannot succeed is refused before the HSS is asked
 * (423 Min-Expires, 403 without Path when allow_direct is off, 400 for a To that names no
 * IMPU), a first REGISTER is challenged through a MAR (401 with the vector's nonce), the HSS's
 * refusal or silence becomes 403 / 504, a right answer goes on to the SAR and a 200, a wrong
 * one gets 403 and an authentication-failure SAR. The HSS is the fixture's fake Cx peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "scscf_fixture.h"

#define CONTACT "Contact: <sip:alice@127.0.0.1:5099>\r\n"

static int setup(void **state)
{
    *state = fx_new(NULL);
    return *state ? 0 : -1;
}

static int setup_no_direct(void **state)
{
    *state = fx_new("registrar:\n  allow_direct: false\n");
    return *state ? 0 : -1;
}

static void too_brief_gets_423_before_the_hss(void **state)
{
    fx_t *f = *state;
    char *r = fx_register(f, FX_IMPU, CONTACT "Expires: 10\r\n");
    fx_expect_status(r, "SIP/2.0 423");
    assert_non_null(strstr(r, "Min-Expires: 60"));
    free(r);
    /* a contact's own expires counts too */
    r = fx_register(f, FX_IMPU, "Contact: <sip:alice@127.0.0.1:5099>;expires=59\r\n");
    fx_expect_status(r, "SIP/2.0 423");
    free(r);
    assert_int_equal(f->hss.mars, 0);
}

static void without_path_refused_when_direct_is_off(void **state)
{
    fx_t *f = *state;
    char *r = fx_register(f, FX_IMPU, CONTACT);
    fx_expect_status(r, "SIP/2.0 403");
    free(r);
    assert_int_equal(f->hss.mars, 0);
    /* through a P-CSCF (a Path) the same REGISTER is challenged */
    r = fx_register(f, FX_IMPU, CONTACT "Path: <sip:term@pcscf.ims.test;lr>\r\n");
    fx_expect_status(r, "SIP/2.0 401");
    free(r);
    assert_int_equal(f->hss.mars, 1);
}

static void to_without_impu_gets_400(void **state)
{
    fx_t *f = *state;
    char *r = fx_register(f, "sip:" FX_DOMAIN, CONTACT); /* no user part: no IMPI either */
    fx_expect_status(r, "SIP/2.0 400");
    free(r);
    r = fx_register(f, "tel:+15550001", CONTACT); /* not a sip: URI */
    fx_expect_status(r, "SIP/2.0 400");
    free(r);
    assert_int_equal(f->hss.mars, 0);
}

static void first_register_is_challenged(void **state)
{
    fx_t *f = *state;
    char *r = fx_register(f, FX_IMPU, CONTACT);
    fx_expect_status(r, "SIP/2.0 401");
    char nonce[128];
    assert_int_equal(fx_nonce(r, nonce, sizeof nonce), 0);
    assert_non_null(strstr(r, "WWW-Authenticate: Digest"));
    assert_non_null(strstr(r, "realm=\"" FX_DOMAIN "\""));
    free(r);
    assert_int_equal(f->hss.mars, 1);
    assert_string_equal(f->hss.last_user, FX_IMPI);
    assert_string_equal(f->hss.last_impu, FX_IMPU);
    assert_int_equal(f->hss.sars, 0);
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_null(reg); /* nothing registered by a challenge */
}

static void hss_refusal_and_silence(void **state)
{
    fx_t *f = *state;
    f->hss.mar_experimental = 5001; /* DIAMETER_ERROR_USER_UNKNOWN */
    char *r = fx_register(f, FX_IMPU, CONTACT);
    fx_expect_status(r, "SIP/2.0 403");
    free(r);
    f->hss.mar_experimental = 0;
    f->hss.status = CX_TIMEOUT;
    r = fx_register(f, FX_IMPU, CONTACT);
    fx_expect_status(r, "SIP/2.0 504");
    free(r);
}

static void right_answer_registers(void **state)
{
    fx_t *f = *state;
    f->hss.origin = "hss2.ims.example";
    char *r = fx_register_auth(f, CONTACT);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    assert_int_equal(f->hss.mars, 1);
    assert_int_equal(f->hss.sars, 1);
    assert_int_equal(f->hss.last_sat, CX_SAT_REGISTRATION);
    /* The SAR went to the HSS that answered the MAR, and the record keeps it. */
    assert_string_equal(f->hss.last_sar_host, "hss2.ims.example");
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_non_null(reg);
    assert_string_equal(reg->impi, FX_IMPI);
    assert_int_equal(reg->ncontacts, 1);
    assert_string_equal(reg->hss, "hss2.ims.example");
    store_reg_free(reg);
}

static void wrong_answer_gets_403(void **state)
{
    fx_t *f = *state;
    char *r = fx_register(f, FX_IMPU, CONTACT);
    char nonce[128], hdr[1024];
    assert_int_equal(fx_nonce(r, nonce, sizeof nonce), 0);
    free(r);
    fx_authorization(nonce, "not-the-password", hdr, sizeof hdr - 64);
    strcat(hdr, CONTACT);
    r = fx_register(f, FX_IMPU, hdr);
    fx_expect_status(r, "SIP/2.0 403");
    free(r);
    fx_settle(f, 5); /* the detached SAR's answer */
    assert_int_equal(f->hss.sars, 1);
    assert_int_equal(f->hss.last_sat, CX_SAT_AUTHENTICATION_FAILURE);
    assert_null(fx_stored(f, FX_IMPU));
    /* the nonce was used up: the same answer again gets a fresh challenge */
    fx_authorization(nonce, FX_PASS, hdr, sizeof hdr - 64);
    strcat(hdr, CONTACT);
    r = fx_register(f, FX_IMPU, hdr);
    fx_expect_status(r, "SIP/2.0 401");
    free(r);
}

/* The store fails: every REGISTER gets 500 (error) or 504 (timeout) with Retry-After at once,
 * before the HSS is asked; one warning for the outage; back to normal when it answers. */
static void store_failure_gets_500_or_504_with_retry_after(void **state)
{
    fx_t *f = *state;
    char h[64];
    f->store_fail = STORE_ERROR;
    char *r = fx_register(f, FX_IMPU, CONTACT);
    fx_expect_status(r, "SIP/2.0 500");
    assert_string_equal(fx_header(r, "Retry-After", h, sizeof h), "Retry-After: 5");
    free(r);
    assert_true(f->s.store_outage);
    f->store_fail = STORE_TIMEOUT;
    r = fx_register(f, FX_IMPU, CONTACT);
    fx_expect_status(r, "SIP/2.0 504");
    assert_string_equal(fx_header(r, "Retry-After", h, sizeof h), "Retry-After: 5");
    free(r);
    assert_int_equal(f->hss.mars, 0);
    f->store_fail = 0;
    r = fx_register(f, FX_IMPU, CONTACT);
    fx_expect_status(r, "SIP/2.0 401");
    free(r);
    assert_false(f->s.store_outage); /* the outage ended */
}

/* The write fails after the SAR: 500 with Retry-After, nothing stored. */
static void store_write_failure_gets_500(void **state)
{
    fx_t *f = *state;
    f->put_fail = STORE_ERROR;
    char *r = fx_register_auth(f, CONTACT);
    fx_expect_status(r, "SIP/2.0 500");
    char h[64];
    assert_string_equal(fx_header(r, "Retry-After", h, sizeof h), "Retry-After: 9");
    free(r);
    assert_int_equal(f->hss.sars, 1);
    f->put_fail = 0;
    assert_null(fx_stored(f, FX_IMPU));
}

/* A MESSAGE from the UE to ruri (route: a Route header line with CRLF, or ""); the final
 * response (the caller frees it). */
static char *message(fx_t *f, const char *ruri, const char *route)
{
    char text[2048];
    int n = ++f->seq;
    snprintf(text, sizeof text,
             "MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-msg%d\r\n"
             "Max-Forwards: 70\r\nFrom: <sip:bob@" FX_DOMAIN ">;tag=m%d\r\nTo: <%s>\r\n"
             "Call-ID: msg%d@ue\r\nCSeq: %d MESSAGE\r\n%s"
             "P-Asserted-Identity: <" FX_IMPU ">\r\nContent-Length: 0\r\n\r\n",
             ruri, f->uport, n, n, ruri, n, n, route);
    fx_send(f, text);
    char needle[64];
    snprintf(needle, sizeof needle, "CSeq: %d MESSAGE", n);
    return fx_wait(f, "SIP/2.0", needle);
}

/* Routing's lookups (route.c) when the store fails: terminating and originating requests get
 * 504 (timeout) or 500 (error) with Retry-After at once. */
static void routing_lookups_fail_with_retry_after(void **state)
{
    fx_t *f = *state;
    char h[64], route[128];
    assert_int_equal(fx_enable_routing(f), 0);
    f->store_fail = STORE_TIMEOUT;
    char *r = message(f, FX_IMPU, ""); /* terminating: the Request-URI is ours */
    fx_expect_status(r, "SIP/2.0 504");
    assert_string_equal(fx_header(r, "Retry-After", h, sizeof h), "Retry-After: 5");
    free(r);
    f->store_fail = STORE_ERROR;
    snprintf(route, sizeof route, "Route: <sip:orig@%s;lr>\r\n", f->listen);
    r = message(f, "sip:carol@" FX_DOMAIN, route); /* originating: the served user's lookup */
    fx_expect_status(r, "SIP/2.0 500");
    assert_string_equal(fx_header(r, "Retry-After", h, sizeof h), "Retry-After: 5");
    free(r);
    f->store_fail = 0;
    r = message(f, "sip:nobody@elsewhere.example", ""); /* the store answers: not ours, 404 */
    fx_expect_status(r, "SIP/2.0 404");
    assert_null(strstr(r, "Retry-After"));
    free(r);
    assert_false(f->s.store_outage);
}

static int setup_retry_9(void **state)
{
    *state = fx_new("store:\n  retry_after: 9\n");
    return *state ? 0 : -1;
}

int main(void)
{
    srand((unsigned)getpid());
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(too_brief_gets_423_before_the_hss, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(without_path_refused_when_direct_is_off, setup_no_direct,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(to_without_impu_gets_400, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(first_register_is_challenged, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(hss_refusal_and_silence, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(right_answer_registers, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(wrong_answer_gets_403, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(store_failure_gets_500_or_504_with_retry_after, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(routing_lookups_fail_with_retry_after, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(store_write_failure_gets_500, setup_retry_9, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
