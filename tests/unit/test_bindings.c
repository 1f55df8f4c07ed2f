/* bindings.c on the wire, after a real challenge round with the fixture's fake HSS: a new
 * registration's 200 (every Contact with its expires, P-Associated-URI from the SAA's profile
 * without the barred IMPU, Service-Route, Path) and what the store holds; a refresh (SAR
 * re-registration, max_expires cap); Expires 0 for one contact and for the last one (the
 * registration goes, SAR user-deregistration); Contact: * (with and without Expires 0);
 * registrar.max_contacts (403 for a new contact, a bound one still refreshed); contacts matched
 * by +sip.instance and reg-id (RFC 5626) rather than by URI; a query without Contact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cscf/scscf/registration/reg_admin.h"
#include "scscf_fixture.h"

#define C1 "Contact: <sip:alice@127.0.0.1:5091>\r\n"
#define C2 "Contact: <sip:alice@127.0.0.1:5092>\r\n"
#define C3 "Contact: <sip:alice@127.0.0.1:5093>\r\n"

static int setup(void **state)
{
    *state = fx_new(NULL);
    return *state ? 0 : -1;
}

static int setup_two_contacts(void **state)
{
    *state = fx_new("registrar:\n  max_contacts: 2\n");
    return *state ? 0 : -1;
}

/* A REGISTER through the challenge that must end in status; the response is freed. */
static void registered(fx_t *f, const char *extra, const char *status_line)
{
    char *r = fx_register_auth(f, extra);
    fx_expect_status(r, status_line);
    free(r);
}

static size_t stored_contacts(fx_t *f)
{
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    size_t n = reg ? reg->ncontacts : 0;
    store_reg_free(reg);
    return n;
}

/* The expires=N the 200 gives the Contact uri. */
static long granted(const char *resp, const char *uri)
{
    const char *c = strstr(resp, uri);
    const char *e = c ? strstr(c, "expires=") : NULL;
    return e ? atol(e + 8) : -1;
}

static void new_registration_200_and_store(void **state)
{
    fx_t *f = *state;
    char *r = fx_register_auth(f, C1 "Path: <sip:term@pcscf.ims.test;lr>\r\n"
                                     "User-Agent: unit-ue\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    long exp = granted(r, "<sip:alice@127.0.0.1:5091>");
    assert_in_range(exp, 3590, 3600); /* registrar.default_expires */
    char h[600], sr[300];
    fx_header(r, "P-Associated-URI", h, sizeof h);
    assert_string_equal(h, "P-Associated-URI: <" FX_IMPU ">, <" FX_TEL ">");
    snprintf(sr, sizeof sr, "Service-Route: <sip:orig@%s;lr>", f->listen);
    assert_string_equal(fx_header(r, "Service-Route", h, sizeof h), sr);
    assert_string_equal(fx_header(r, "Path", h, sizeof h), "Path: <sip:term@pcscf.ims.test;lr>");
    free(r);
    assert_int_equal(f->hss.sars, 1);
    assert_int_equal(f->hss.last_sat, CX_SAT_REGISTRATION);

    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_non_null(reg);
    assert_int_equal(reg->ncontacts, 1);
    assert_string_equal(reg->contacts[0].uri, "sip:alice@127.0.0.1:5091");
    assert_string_equal(reg->contacts[0].path, "<sip:term@pcscf.ims.test;lr>");
    assert_string_equal(reg->contacts[0].user_agent, "unit-ue");
    assert_string_equal(reg->contacts[0].call_id, "reg-call@ue");
    assert_int_equal(reg->nimpus, 3);
    assert_string_equal(reg->impus[0], FX_IMPU); /* the registered IMPU first */
    assert_int_equal(reg->nbarred, 1);
    assert_string_equal(reg->barred[0], "sip:barred@" FX_DOMAIN);
    assert_non_null(reg->profile);
    assert_string_equal(reg->server_name, f->s.server_name); /* the HSS's assignment */
    assert_int_equal(reg->rev, 1);                           /* created by one write */
    store_reg_free(reg);
    store_reg_t *by_tel = fx_stored(f, FX_TEL); /* the implicit set finds it too */
    assert_non_null(by_tel);
    store_reg_free(by_tel);
}

static void refresh_and_max_expires(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    char *r = fx_register_auth(f, C1 "Expires: 99999999\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    assert_in_range(granted(r, "<sip:alice@127.0.0.1:5091>"), 599990, 600000); /* the cap */
    free(r);
    assert_int_equal(f->hss.last_sat, CX_SAT_RE_REGISTRATION);
    assert_int_equal(stored_contacts(f), 1); /* the same binding, refreshed */
}

static void expires_zero_removes_then_ends(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    registered(f, C2, "SIP/2.0 200");
    assert_int_equal(stored_contacts(f), 2);
    char *r = fx_register_auth(f, "Contact: <sip:alice@127.0.0.1:5091>;expires=0\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    assert_null(strstr(r, "<sip:alice@127.0.0.1:5091>")); /* its Contact; a Via port 5091x is not */
    assert_non_null(strstr(r, "127.0.0.1:5092"));
    free(r);
    assert_int_equal(stored_contacts(f), 1);
    registered(f, C2 "Expires: 0\r\n", "SIP/2.0 200");
    assert_int_equal(f->hss.last_sat, CX_SAT_USER_DEREGISTRATION);
    assert_null(fx_stored(f, FX_IMPU)); /* the registration went */
}

static void star_contact(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    registered(f, C2, "SIP/2.0 200");
    registered(f, "Contact: *\r\n", "SIP/2.0 400"); /* * needs Expires: 0 */
    assert_int_equal(stored_contacts(f), 2);
    registered(f, "Contact: *\r\nExpires: 0\r\n", "SIP/2.0 200");
    assert_int_equal(f->hss.last_sat, CX_SAT_USER_DEREGISTRATION);
    assert_null(fx_stored(f, FX_IMPU));
}

static void max_contacts_refuses_a_new_one(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    registered(f, C2, "SIP/2.0 200");
    int sars = f->hss.sars;
    char *r = fx_register_auth(f, C3);
    fx_expect_status(r, "SIP/2.0 403 Too Many Contacts");
    free(r);
    assert_int_equal(f->hss.sars, sars); /* refused before the SAR */
    assert_int_equal(stored_contacts(f), 2);
    registered(f, C2, "SIP/2.0 200"); /* a bound contact is still refreshed */
}

static void instance_and_reg_id_match(void **state)
{
    fx_t *f = *state;
    registered(f, "Contact: <sip:alice@127.0.0.1:5091>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\n",
               "SIP/2.0 200");
    /* the same instance and reg-id from a new address: the flow is replaced, not added */
    char *r = fx_register_auth(
        f, "Contact: <sip:alice@127.0.0.1:5092>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    assert_non_null(strstr(r, "+sip.instance=\"<urn:uuid:1>\";reg-id=1;expires="));
    free(r);
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_non_null(reg);
    assert_int_equal(reg->ncontacts, 1);
    assert_string_equal(reg->contacts[0].uri, "sip:alice@127.0.0.1:5092");
    assert_int_equal(reg->contacts[0].reg_id, 1);
    store_reg_free(reg);
    /* another reg-id is another flow of the same instance */
    registered(f, "Contact: <sip:alice@127.0.0.1:5093>;+sip.instance=\"<urn:uuid:1>\";reg-id=2\r\n",
               "SIP/2.0 200");
    assert_int_equal(stored_contacts(f), 2);
}

static void query_lists_without_sar(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    int sars = f->hss.sars;
    char *r = fx_register_auth(f, NULL);
    fx_expect_status(r, "SIP/2.0 200");
    assert_in_range(granted(r, "<sip:alice@127.0.0.1:5091>"), 3500, 3600);
    free(r);
    assert_int_equal(f->hss.sars, sars);
}

/* ---- replicas sharing the store: writes between the registrar's read and its write ---- */

/* Another replica's REGISTER added this contact to the stored record (or created it). */
static void other_adds_5094(fx_t *f, const char *impi)
{
    store_reg_t *r = fx_other_get(f, impi);
    if (!r) {
        r = store_reg_new(impi);
        const char *one[] = {FX_IMPU};
        store_reg_set_impus(r, one, 1, NULL, 0);
    }
    store_contact_t *c = store_reg_add_contact(r);
    store_contact_set(&c->uri, "sip:alice@127.0.0.1:5094");
    c->expires_at = time(NULL) + 3600;
    assert_int_equal(fx_other_put(f, r), 0);
    store_reg_free(r);
}

/* Another replica wrote the record unchanged: only its revision moved. */
static void other_rewrites(fx_t *f, const char *impi)
{
    store_reg_t *r = fx_other_get(f, impi);
    assert_non_null(r);
    assert_int_equal(fx_other_put(f, r), 0);
    store_reg_free(r);
}

static void other_deletes(fx_t *f, const char *impi)
{
    assert_int_equal(fx_other_del(f, impi), 0);
}

static void write_between_read_and_put_keeps_both(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    f->before_write = other_adds_5094;
    f->before_writes = 1;
    char *r = fx_register_auth(f, C3);
    fx_expect_status(r, "SIP/2.0 200");
    assert_int_equal(f->before_writes, 0); /* the other write happened */
    /* the 200 lists what is stored now: ours, the other replica's and the new one */
    assert_non_null(strstr(r, "<sip:alice@127.0.0.1:5091>"));
    assert_non_null(strstr(r, "<sip:alice@127.0.0.1:5094>"));
    assert_non_null(strstr(r, "<sip:alice@127.0.0.1:5093>"));
    free(r);
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_non_null(reg);
    assert_int_equal(reg->ncontacts, 3);
    assert_non_null(store_reg_find_contact(reg, "sip:alice@127.0.0.1:5094", NULL, 0));
    assert_non_null(store_reg_find_contact(reg, "sip:alice@127.0.0.1:5093", NULL, 0));
    assert_int_equal(reg->rev, 3); /* ours, the other replica's, ours again */
    store_reg_free(reg);
}

static void new_registration_created_meanwhile_keeps_both(void **state)
{
    fx_t *f = *state;
    f->before_write = other_adds_5094; /* creates the record before our first write */
    f->before_writes = 1;
    registered(f, C1, "SIP/2.0 200");
    assert_int_equal(f->before_writes, 0);
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_non_null(reg);
    assert_int_equal(reg->ncontacts, 2);
    assert_non_null(store_reg_find_contact(reg, "sip:alice@127.0.0.1:5091", NULL, 0));
    assert_non_null(store_reg_find_contact(reg, "sip:alice@127.0.0.1:5094", NULL, 0));
    assert_non_null(reg->profile); /* the SAA's, applied to the record read again */
    store_reg_free(reg);
}

static void endless_conflicts_get_500_with_retry_after(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    f->before_write = other_rewrites;
    f->before_writes = 10;
    char *r = fx_register_auth(f, C2);
    fx_expect_status(r, "SIP/2.0 500");
    char h[64];
    assert_string_equal(fx_header(r, "Retry-After", h, sizeof h), "Retry-After: 7");
    free(r);
    assert_int_equal(f->before_writes, 7);   /* three tries, then the answer */
    assert_int_equal(stored_contacts(f), 1); /* C2 was not written */
}

static void deregistration_of_a_record_deleted_meanwhile(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    f->before_write = other_deletes;
    f->before_writes = 1;
    registered(f, C1 "Expires: 0\r\n", "SIP/2.0 200");
    assert_int_equal(f->before_writes, 0);
    assert_null(fx_stored(f, FX_IMPU));
}

/* A refresh whose SAA has no User-Data (re-registration) finds the record deleted meanwhile: it
 * is written anew with the profile it had, not without one. */
static void refresh_of_a_record_deleted_meanwhile_keeps_the_profile(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    f->hss.user_data = NULL;
    f->before_write = other_deletes;
    f->before_writes = 1;
    registered(f, C1, "SIP/2.0 200");
    assert_int_equal(f->before_writes, 0);
    assert_int_equal(f->hss.last_sat, CX_SAT_RE_REGISTRATION);
    store_reg_t *reg = fx_stored(f, FX_TEL); /* the implicit set is there again */
    assert_non_null(reg);
    assert_non_null(reg->profile);
    assert_int_equal(reg->nimpus, 3);
    assert_int_equal(reg->ncontacts, 1);
    store_reg_free(reg);
}

/* ---- expiry ---- */

/* The stored contacts of FX_IMPI expired a second ago (as after a restart). */
static void expire_now(fx_t *f)
{
    store_reg_t *r = fx_other_get(f, FX_IMPI);
    assert_non_null(r);
    for (size_t i = 0; i < r->ncontacts; i++)
        r->contacts[i].expires_at = time(NULL) - 1;
    assert_int_equal(fx_other_put(f, r), 0);
    store_reg_free(r);
}

static void expiry_sends_one_sar(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    int sars = f->hss.sars;
    expire_now(f);
    reg_admin_sweep(&f->s);
    fx_settle(f, 5);
    assert_int_equal(f->hss.sars, sars + 1);
    assert_int_equal(f->hss.last_sat, CX_SAT_TIMEOUT_DEREGISTRATION);
    assert_null(fx_stored(f, FX_IMPU));
    reg_admin_sweep(&f->s); /* a second replica's sweep right after: nothing left to do */
    fx_settle(f, 5);
    assert_int_equal(f->hss.sars, sars + 1);
}

static void expiry_racing_a_deletion_sends_no_sar(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    int sars = f->hss.sars;
    expire_now(f);
    f->before_write = other_deletes; /* another replica's sweep got there first */
    f->before_writes = 1;
    reg_admin_sweep(&f->s);
    fx_settle(f, 5);
    assert_int_equal(f->before_writes, 0);
    assert_int_equal(f->hss.sars, sars); /* the other replica told the HSS, not us */
    assert_null(fx_stored(f, FX_IMPU));
}

static void expiry_racing_a_refresh_keeps_it(void **state)
{
    fx_t *f = *state;
    registered(f, C1, "SIP/2.0 200");
    int sars = f->hss.sars;
    expire_now(f);
    f->before_write = other_adds_5094; /* the UE registered again through another replica */
    f->before_writes = 1;
    reg_admin_sweep(&f->s);
    fx_settle(f, 5);
    assert_int_equal(f->before_writes, 0);
    assert_int_equal(f->hss.sars, sars);
    assert_int_equal(stored_contacts(f), 2); /* left for the next sweep to look at again */
}

static int setup_retry_after(void **state)
{
    *state = fx_new("store:\n  retry_after: 7\n");
    return *state ? 0 : -1;
}

int main(void)
{
    srand((unsigned)getpid());
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_registration_200_and_store, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(refresh_and_max_expires, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(expires_zero_removes_then_ends, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(star_contact, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(max_contacts_refuses_a_new_one, setup_two_contacts,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(instance_and_reg_id_match, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(query_lists_without_sar, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(write_between_read_and_put_keeps_both, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(new_registration_created_meanwhile_keeps_both, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(endless_conflicts_get_500_with_retry_after,
                                        setup_retry_after, fx_teardown),
        cmocka_unit_test_setup_teardown(deregistration_of_a_record_deleted_meanwhile, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(refresh_of_a_record_deleted_meanwhile_keeps_the_profile,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(expiry_sends_one_sar, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(expiry_racing_a_deletion_sends_no_sar, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(expiry_racing_a_refresh_keeps_it, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
