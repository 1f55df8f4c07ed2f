/* regevent.c on the wire: the UE, registered through the registrar and the fixture's fake HSS,
 * subscribes to its reg event. A SUBSCRIBE gets 200 and a full-state NOTIFY (version 0); a
 * REGISTER that adds or removes a contact brings a partial NOTIFY with that contact's event
 * and the next version; the end of the registration terminates the subscription; a change of
 * the implicit set (a PPR) brings full state again; a NOTIFY answered 481 drops the
 * subscription; a refresh in the dialog gets full state, Expires 0 ends it; more than
 * REGEVENT_MAX_PER_REG subscriptions to one registration get 403, more than twice
 * registrar.max_registrations in all 503; a subscription ends when it expires; strangers, unknown
 * identities and a wrong Accept are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cscf/scscf/registration/reg_admin.h"
#include "scscf_fixture.h"

#define C1 "Contact: <sip:alice@127.0.0.1:5091>\r\n"
#define C2 "Contact: <sip:alice@127.0.0.1:5092>\r\n"

/* How many subscriptions the stored registration holds (the truth regevent keeps). */
static size_t stored_subs(fx_t *f)
{
    store_reg_t *r = fx_stored(f, FX_IMPU);
    size_t n = r ? r->nsubs : 0;
    assert_int_equal(regevent_watched(r), n > 0);
    store_reg_free(r);
    return n;
}

static int setup(void **state)
{
    fx_t *f = fx_new(NULL);
    *state = f;
    if (!f)
        return -1;
    char *r = fx_register_auth(f, C1); /* the registration the tests subscribe to */
    int ok = r && strncmp(r, "SIP/2.0 200", 11) == 0;
    free(r);
    return ok ? 0 : -1;
}

static int setup_one_registration(void **state)
{
    fx_t *f = fx_new("registrar:\n  max_registrations: 1\n");
    *state = f;
    if (!f)
        return -1;
    char *r = fx_register_auth(f, C1);
    int ok = r && strncmp(r, "SIP/2.0 200", 11) == 0;
    free(r);
    return ok ? 0 : -1;
}

/* SUBSCRIBE number n (its own Call-ID and tag) from `from` to ruri; to_tag set: in the dialog
 * the 200 made. Returns the response (the caller frees it). */
static char *subscribe(fx_t *f, int n, const char *from, const char *ruri, const char *to_tag,
                       const char *extra)
{
    char text[2048];
    int cseq = ++f->seq;
    snprintf(text, sizeof text,
             "SUBSCRIBE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-sub%d\r\n"
             "Max-Forwards: 70\r\nFrom: <%s>;tag=sub%d\r\nTo: <%s>%s%s\r\n"
             "Call-ID: sub%d@ue\r\nCSeq: %d SUBSCRIBE\r\nEvent: reg\r\n"
             "Contact: <sip:alice@127.0.0.1:%d>\r\n%sContent-Length: 0\r\n\r\n",
             ruri, f->uport, cseq, from, n, ruri, to_tag ? ";tag=" : "", to_tag ? to_tag : "", n,
             cseq, f->uport, extra ? extra : "Accept: application/reginfo+xml\r\n");
    fx_send(f, text);
    char needle[64];
    snprintf(needle, sizeof needle, "CSeq: %d SUBSCRIBE", cseq);
    return fx_wait(f, "SIP/2.0", needle);
}

/* The NOTIFY of subscription n (the caller frees it); fails the test when none comes. */
static char *notify_of(fx_t *f, int n)
{
    char needle[32];
    snprintf(needle, sizeof needle, "Call-ID: sub%d@ue", n);
    char *m = fx_wait(f, "NOTIFY", needle);
    if (!m)
        fail_msg("no NOTIFY for subscription %d", n);
    return m;
}

/* The UE subscribes as n and takes the first NOTIFY; the To tag the 200 gave goes to tag. */
static void subscribed(fx_t *f, int n, char *tag, size_t len)
{
    char *r = subscribe(f, n, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 200");
    char to[300];
    const char *t = strstr(fx_header(r, "To", to, sizeof to), "tag=");
    assert_non_null(t);
    if (tag)
        snprintf(tag, len, "%s", t + 4);
    free(r);
    free(notify_of(f, n));
}

/* No NOTIFY arrives while the loop runs a while (about 100 ms of steps). */
static void no_notify(fx_t *f)
{
    fx_settle(f, 20);
    for (size_t i = 0; i < f->nmsgs; i++)
        if (strncmp(f->msgs[i], "NOTIFY", 6) == 0)
            fail_msg("unexpected NOTIFY:\n%s", f->msgs[i]);
}

static void subscribe_gets_200_and_full_state(void **state)
{
    fx_t *f = *state;
    assert_false(stored_subs(f));
    char *r = subscribe(f, 1, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 200");
    char h[300];
    fx_header(r, "Expires", h, sizeof h);
    assert_in_range(atol(h + 9), 3500, 3600); /* no longer than the registration */
    free(r);
    char *n = notify_of(f, 1);
    assert_non_null(strstr(n, "Event: reg"));
    assert_non_null(strstr(fx_header(n, "Subscription-State", h, sizeof h), "active;expires="));
    assert_non_null(strstr(n, "Content-Type: application/reginfo+xml"));
    assert_non_null(strstr(n, "version=\"0\" state=\"full\""));
    assert_non_null(strstr(n, "<uri>sip:alice@127.0.0.1:5091</uri>"));
    assert_non_null(strstr(n, "aor=\"" FX_IMPU "\""));
    free(n);
    assert_true(stored_subs(f));
}

static void register_changes_send_partial_state(void **state)
{
    fx_t *f = *state;
    subscribed(f, 1, NULL, 0);
    char *r = fx_register_auth(f, C2);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    char *n = notify_of(f, 1);
    assert_non_null(strstr(n, "version=\"1\" state=\"partial\""));
    assert_non_null(strstr(n, "event=\"registered\""));
    assert_non_null(strstr(n, "<uri>sip:alice@127.0.0.1:5092</uri>"));
    /* Unchanged contacts are not in a partial. The contact element, not the bare host:port: a
     * port such as 50912 in the NOTIFY's own headers would contain that. */
    assert_null(strstr(n, "<uri>sip:alice@127.0.0.1:5091</uri>"));
    free(n);

    r = fx_register_auth(f, "Contact: <sip:alice@127.0.0.1:5092>;expires=0\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    n = notify_of(f, 1);
    assert_non_null(strstr(n, "version=\"2\" state=\"partial\""));
    assert_non_null(strstr(n, "state=\"terminated\" event=\"unregistered\""));
    assert_non_null(strstr(n, "<uri>sip:alice@127.0.0.1:5092</uri>"));
    free(n);

    /* the last contact goes: the subscription ends with the registration */
    r = fx_register_auth(f, C1 "Expires: 0\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    n = notify_of(f, 1);
    char h[200];
    assert_string_equal(fx_header(n, "Subscription-State", h, sizeof h),
                        "Subscription-State: terminated;reason=noresource");
    assert_non_null(strstr(n, "version=\"3\""));
    free(n);
    assert_false(stored_subs(f));
}

static void identities_changed_sends_full_state(void **state)
{
    fx_t *f = *state;
    subscribed(f, 1, NULL, 0);
    store_reg_t *before = fx_stored(f, FX_IMPU), *after = store_reg_dup(before);
    assert_non_null(after);
    const char *impus[] = {FX_IMPU, FX_TEL, "sip:alice-work@" FX_DOMAIN};
    assert_int_equal(store_reg_set_impus(after, impus, 3, NULL, 0), 0);
    regevent_changed(&f->s, before, after, REGEVENT_REGISTER); /* as a PPR does */
    char *n = notify_of(f, 1);
    assert_non_null(strstr(n, "version=\"1\" state=\"full\""));
    assert_non_null(strstr(n, "aor=\"sip:alice-work@" FX_DOMAIN "\""));
    assert_non_null(strstr(n, "<uri>sip:alice@127.0.0.1:5091</uri>"));
    free(n);
    /* nothing changed: no NOTIFY */
    regevent_changed(&f->s, after, after, REGEVENT_REGISTER);
    no_notify(f);
    store_reg_free(before);
    store_reg_free(after);
}

static void answer_481_drops_the_subscription(void **state)
{
    fx_t *f = *state;
    subscribed(f, 1, NULL, 0);
    f->notify_status = 481;
    char *r = fx_register_auth(f, C2);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    free(notify_of(f, 1));
    for (int i = 0; i < 200 && stored_subs(f); i++)
        fx_pump(f);
    assert_false(stored_subs(f));
    /* later changes notify nobody */
    f->notify_status = 200;
    r = fx_register_auth(f, "Contact: <sip:alice@127.0.0.1:5092>;expires=0\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    no_notify(f);
}

static void refresh_in_dialog_and_unsubscribe(void **state)
{
    fx_t *f = *state;
    char tag[64];
    subscribed(f, 1, tag, sizeof tag);
    char *r = subscribe(f, 1, FX_IMPU, FX_IMPU, tag, NULL);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    char *n = notify_of(f, 1);
    assert_non_null(strstr(n, "version=\"1\" state=\"full\""));
    free(n);
    r = subscribe(f, 1, FX_IMPU, FX_IMPU, tag, "Expires: 0\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    n = notify_of(f, 1);
    char h[200];
    assert_string_equal(fx_header(n, "Subscription-State", h, sizeof h),
                        "Subscription-State: terminated");
    free(n);
    assert_false(stored_subs(f));
    r = subscribe(f, 1, FX_IMPU, FX_IMPU, tag, NULL); /* the dialog is gone */
    fx_expect_status(r, "SIP/2.0 481");
    free(r);
}

static void at_most_eight_per_registration(void **state)
{
    fx_t *f = *state;
    for (int i = 1; i <= REGEVENT_MAX_PER_REG; i++)
        subscribed(f, i, NULL, 0);
    char *r = subscribe(f, 99, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 403 Too Many Subscriptions");
    free(r);
}

/* Twice registrar.max_registrations in all (the UE and its P-CSCF per registration). */
static void total_bounded_by_registrations(void **state)
{
    fx_t *f = *state;
    subscribed(f, 1, NULL, 0);
    subscribed(f, 2, NULL, 0);
    char *r = subscribe(f, 3, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 503");
    assert_non_null(strstr(r, "Retry-After: 60"));
    free(r);
}

/* The next message of subscription n while the S-CSCF's expiry sweep (reg_admin_tick, once a
 * second in the program) runs now and then; fails the test when none comes within 10 s. */
static char *notify_swept(fx_t *f, int n)
{
    char needle[32];
    snprintf(needle, sizeof needle, "Call-ID: sub%d@ue", n);
    for (double end = fx_now() + 10; fx_now() < end;) {
        for (size_t j = 0; j < f->nmsgs; j++)
            if (strncmp(f->msgs[j], "NOTIFY", 6) == 0 && strstr(f->msgs[j], needle)) {
                char *m = f->msgs[j];
                memmove(&f->msgs[j], &f->msgs[j + 1], (f->nmsgs - j - 1) * sizeof *f->msgs);
                f->nmsgs--;
                return m;
            }
        reg_admin_tick(&f->s);
        fx_settle(f, 10);
    }
    fail_msg("no NOTIFY for subscription %d", n);
    return NULL;
}

static void subscription_expires(void **state)
{
    fx_t *f = *state;
    char *r = subscribe(f, 1, FX_IMPU, FX_IMPU, NULL, "Expires: 1\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    free(notify_of(f, 1));
    assert_int_equal(stored_subs(f), 1);
    char *n = notify_swept(f, 1); /* the expiry sweep ends it */
    char h[200];
    assert_string_equal(fx_header(n, "Subscription-State", h, sizeof h),
                        "Subscription-State: terminated;reason=timeout");
    assert_non_null(strstr(fx_header(n, "CSeq", h, sizeof h), " 2 NOTIFY"));
    free(n);
    assert_int_equal(stored_subs(f), 0);
    store_reg_t *reg = fx_stored(f, FX_IMPU); /* the registration itself stays */
    assert_non_null(reg);
    assert_int_equal(reg->ncontacts, 1);
    store_reg_free(reg);
}

static void refused_subscribers(void **state)
{
    fx_t *f = *state;
    char *r = subscribe(f, 1, "sip:mallory@" FX_DOMAIN, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 403"); /* neither the UE nor its P-CSCF */
    free(r);
    r = subscribe(f, 2, "sip:bob@" FX_DOMAIN, "sip:bob@" FX_DOMAIN, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 480"); /* ours, not registered */
    free(r);
    r = subscribe(f, 3, FX_IMPU, FX_IMPU, NULL, "Accept: text/plain\r\n");
    fx_expect_status(r, "SIP/2.0 406");
    free(r);
    assert_false(stored_subs(f));
}

int main(void)
{
    srand((unsigned)getpid());
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(subscribe_gets_200_and_full_state, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(register_changes_send_partial_state, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(identities_changed_sends_full_state, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(answer_481_drops_the_subscription, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(refresh_in_dialog_and_unsubscribe, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(at_most_eight_per_registration, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(total_bounded_by_registrations, setup_one_registration,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(subscription_expires, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(refused_subscribers, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
