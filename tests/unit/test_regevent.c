/* regevent.c on the wire: the UE, registered through the registrar and the fixture's fake HSS,
 * subscribes to its reg event. A SUBSCRIBE gets 200 and a full-state NOTIFY (version 0); a
 * REGISTER that adds or removes a contact brings a partial NOTIFY with that contact's event
 * and the next version; the end of the registration terminates the subscription; a change of
 * the implicit set (a PPR) brings full state again; a NOTIFY answered 481 drops the
 * subscription; a refresh in the dialog gets full state, Expires 0 ends it; more than
 * REGEVENT_MAX_PER_REG subscriptions to one registration get 403, more than twice
 * registrar.max_registrations in all 503; a subscription ends when it expires (the S-CSCF's
 * expiry sweep); strangers, unknown identities and a wrong Accept are refused.
 * The subscriptions live in the stored registration (store_reg_t.subs): the checks read them
 * there; a second context sharing only the store (a restarted process, a replica) carries a
 * dialog on; a stale revision, a store that fails, times out or conflicts, and a store that
 * answers later (asynchronous, as Redis) are handled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/store/store_internal.h"
#include "cscf/scscf/registration/reg_admin.h"
#include "scscf_fixture.h"

#define C1 "Contact: <sip:alice@127.0.0.1:5091>\r\n"
#define C2 "Contact: <sip:alice@127.0.0.1:5092>\r\n"

/* The tag=... of a header line, in a static buffer. */
static const char *tag_of(const char *hdr)
{
    static char tag[64];
    const char *p = strstr(hdr, "tag=");
    snprintf(tag, sizeof tag, "%.*s", p ? (int)strcspn(p + 4, ";>") : 0, p ? p + 4 : "");
    return tag;
}

/* How many subscriptions the stored registration holds (the truth regevent keeps). */
static size_t stored_subs(fx_t *f)
{
    store_reg_t *r = fx_stored(f, FX_IMPU);
    size_t n = r ? r->nsubs : 0;
    assert_int_equal(regevent_watched(r), n > 0);
    store_reg_free(r);
    return n;
}

static void fx_put_done(void *arg, int rc)
{
    *(int *)arg = rc;
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
    /* the subscription is in the stored record, its first NOTIFY's CSeq and version taken */
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_non_null(reg);
    assert_int_equal(reg->nsubs, 1);
    const store_sub_t *u = &reg->subs[0];
    char target[64];
    snprintf(target, sizeof target, "sip:alice@127.0.0.1:%d", f->uport);
    assert_string_equal(u->call_id, "sub1@ue");
    assert_string_equal(u->remote_tag, "sub1");
    assert_string_equal(u->local_tag, tag_of(fx_header(n, "From", h, sizeof h)));
    assert_string_equal(u->local_uri, FX_IMPU);
    assert_string_equal(u->remote_uri, FX_IMPU);
    assert_string_equal(u->target, target);
    assert_null(u->route_set);
    assert_string_equal(u->impu, FX_IMPU);
    assert_int_equal(u->cseq, atol(fx_header(n, "CSeq", h, sizeof h) + 6));
    assert_int_equal(u->version, 1);
    assert_in_range(u->expires_at - time(NULL), 3500, 3600);
    store_reg_free(reg);
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

/* The UE registers again from a new Contact URI with the same +sip.instance and reg-id (RFC
 * 5626: the binding is replaced): the subscriber hears first the old contact terminated, alone,
 * then, once that NOTIFY is answered, the new one active, alone: never both in one document. */
#define INST ";+sip.instance=\"<urn:gsma:imei:35000000-000000-1>\";reg-id=1\r\n"
static void replaced_contact_in_two_notifies(void **state)
{
    fx_t *f = *state;
    char *r = fx_register_auth(f, "Contact: <sip:alice@127.0.0.1:5093>" INST);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    subscribed(f, 1, NULL, 0);
    r = fx_register_auth(f, "Contact: <sip:alice@127.0.0.1:5094>" INST);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    char *n1 = notify_of(f, 1), *n2 = notify_of(f, 1), h[200];
    assert_non_null(strstr(n1, "version=\"1\" state=\"partial\""));
    assert_non_null(strstr(n1, "state=\"terminated\" event=\"unregistered\""));
    assert_non_null(strstr(n1, "<uri>sip:alice@127.0.0.1:5093</uri>"));
    assert_null(strstr(n1, "<uri>sip:alice@127.0.0.1:5094</uri>"));
    assert_null(strstr(n1, "state=\"active\" event="));
    assert_non_null(strstr(fx_header(n1, "CSeq", h, sizeof h), " 2 NOTIFY"));
    assert_int_equal(strncmp(fx_header(n1, "Subscription-State", h, sizeof h),
                             "Subscription-State: active;expires=", 35),
                     0);
    assert_non_null(strstr(n2, "version=\"2\" state=\"partial\""));
    assert_non_null(strstr(n2, "state=\"active\" event=\"registered\""));
    assert_non_null(strstr(n2, "<uri>sip:alice@127.0.0.1:5094</uri>"));
    assert_null(strstr(n2, "<uri>sip:alice@127.0.0.1:5093</uri>"));
    assert_null(strstr(n2, "state=\"terminated\""));
    assert_non_null(strstr(fx_header(n2, "CSeq", h, sizeof h), " 3 NOTIFY"));
    free(n1);
    free(n2);
    /* the record's counters moved by two: the next change is version 3 */
    r = fx_register_auth(f, C2);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    n1 = notify_of(f, 1);
    assert_non_null(strstr(n1, "version=\"3\" state=\"partial\""));
    assert_non_null(strstr(fx_header(n1, "CSeq", h, sizeof h), " 4 NOTIFY"));
    free(n1);
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

/* A message from the S-CSCF on f's UE socket while the other context (a second S-CSCF sharing
 * the store) runs; its NOTIFYs are answered 200 to that context. 10 s bound. */
static char *wait_other(fx_t *f, fx_t *other, const char *prefix)
{
    char buf[16384];
    for (double end = fx_now() + 10; fx_now() < end;) {
        su_root_step(other->root, 5);
        fx_settle(other, 1);
        ssize_t got = recv(f->sock, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (got <= 0)
            continue;
        buf[got] = '\0';
        if (strncmp(buf, "NOTIFY ", 7) == 0) {
            int keep = f->port; /* fx_answer answers to f->port */
            f->port = other->port;
            fx_answer(f, buf, 200);
            f->port = keep;
        }
        if (strncmp(buf, prefix, strlen(prefix)) == 0)
            return strdup(buf);
    }
    fail_msg("nothing starting with '%s' came", prefix);
    return NULL;
}

static unsigned long cseq_of(const char *msg)
{
    char h[100];
    return strtoul(fx_header(msg, "CSeq", h, sizeof h) + 6, NULL, 10);
}

/* What a restart (kill -9, the same store) or a second replica sees: a context with nothing of
 * the subscription in memory, sharing only the store, carries the dialog on. A REGISTER through
 * it brings the next NOTIFY in the same dialog (Call-ID, tags, CSeq + 1, version + 1, along the
 * route set to the target), and a refresh SUBSCRIBE in the dialog reaching it is accepted. */
static void another_process_carries_the_dialog_on(void **state)
{
    fx_t *f = *state;
    char rr[128], extra[300], ruri[128], tag[64], h[300];
    snprintf(rr, sizeof rr, "<sip:127.0.0.1:%d;lr;rr=pcscf>", f->uport);
    snprintf(extra, sizeof extra, "Record-Route: %s\r\nAccept: application/reginfo+xml\r\n", rr);
    snprintf(ruri, sizeof ruri, "NOTIFY sip:alice@127.0.0.1:%d SIP/2.0", f->uport);
    char *r = subscribe(f, 1, FX_IMPU, FX_IMPU, NULL, extra);
    fx_expect_status(r, "SIP/2.0 200");
    snprintf(tag, sizeof tag, "%s", tag_of(fx_header(r, "To", h, sizeof h)));
    free(r);
    char *n = notify_of(f, 1);
    assert_memory_equal(n, ruri, strlen(ruri));
    assert_string_equal(fx_header(n, "Route", h, sizeof h) + 7, rr);
    unsigned long c1 = cseq_of(n);
    free(n);

    fx_t *b = fx_new(NULL); /* the other process, on the same store */
    assert_non_null(b);
    store_t *own = b->s.store;
    b->s.store = f->s.store;
    r = fx_register_auth(b, C2);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    n = wait_other(f, b, "NOTIFY ");
    assert_memory_equal(n, ruri, strlen(ruri));
    assert_string_equal(fx_header(n, "Route", h, sizeof h) + 7, rr);
    assert_string_equal(fx_header(n, "Call-ID", h, sizeof h), "Call-ID: sub1@ue");
    assert_string_equal(tag_of(fx_header(n, "From", h, sizeof h)), tag);
    assert_string_equal(tag_of(fx_header(n, "To", h, sizeof h)), "sub1");
    assert_int_equal(cseq_of(n), c1 + 1);
    assert_non_null(strstr(n, "version=\"1\" state=\"partial\""));
    assert_non_null(strstr(n, "<uri>sip:alice@127.0.0.1:5092</uri>"));
    free(n);

    /* a refresh in the dialog at the other process: 200, full state; its Contact is the new
     * target (the route set stays) */
    r = subscribe(b, 1, FX_IMPU, FX_IMPU, tag, NULL);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    n = wait_other(f, b, "NOTIFY ");
    snprintf(ruri, sizeof ruri, "NOTIFY sip:alice@127.0.0.1:%d SIP/2.0", b->uport);
    assert_memory_equal(n, ruri, strlen(ruri));
    assert_string_equal(fx_header(n, "Route", h, sizeof h) + 7, rr);
    assert_int_equal(cseq_of(n), c1 + 2);
    assert_non_null(strstr(n, "version=\"2\" state=\"full\""));
    free(n);
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_int_equal(reg->nsubs, 1);
    assert_int_equal(reg->subs[0].cseq, c1 + 2);
    assert_int_equal(reg->subs[0].version, 3);
    store_reg_free(reg);
    b->s.store = own;
    fx_free(b);
}

/* regevent_changed() with a revision the store no longer has (someone wrote since): the
 * reservation conflicts, regevent reads the record again and still sends, counters moved once. */
static void stale_revision_is_retried(void **state)
{
    fx_t *f = *state;
    subscribed(f, 1, NULL, 0);
    store_reg_t *before = fx_stored(f, FX_IMPU), *after = store_reg_dup(before);
    assert_non_null(after);
    uint32_t cseq = before->subs[0].cseq;
    int rc = 99;
    store_put(f->s.store, before, fx_put_done, &rc); /* the record moves on a revision */
    assert_int_equal(rc, 0);
    const char *impus[] = {FX_IMPU, FX_TEL, "sip:alice-work@" FX_DOMAIN};
    assert_int_equal(store_reg_set_impus(after, impus, 3, NULL, 0), 0);
    regevent_changed(&f->s, before, after, REGEVENT_REGISTER); /* after->rev is stale */
    char *n = notify_of(f, 1);
    assert_int_equal(cseq_of(n), cseq + 1);
    assert_non_null(strstr(n, "version=\"1\" state=\"full\""));
    free(n);
    store_reg_t *reg = fx_stored(f, FX_IMPU);
    assert_int_equal(reg->subs[0].cseq, cseq + 1);
    assert_int_equal(reg->subs[0].version, 2);
    assert_int_equal(reg->rev, before->rev + 2); /* ours, and the reservation */
    store_reg_free(reg);
    store_reg_free(before);
    store_reg_free(after);
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

/* ---- a store that fails on demand: the memory backend, its put replaced ---- */

typedef enum { FLAKY_OK, FLAKY_TIMEOUT, FLAKY_ERROR, FLAKY_CONFLICT, FLAKY_CONFLICT_ONCE } flaky_t;
static flaky_t flaky_mode;
static int flaky_puts;
static store_t *flaky_inner, flaky_store;
static store_ops_t flaky_ops;

static void flaky_ignore(void *arg, int rc)
{
    (void)arg;
    (void)rc;
}

/* Someone else writes the record (unchanged) first: its revision moves on. */
static void flaky_bump(void *arg, int rc, store_reg_t *reg)
{
    if (rc == 0)
        store_put(flaky_inner, reg, flaky_ignore, NULL);
    store_reg_free(reg);
}

static void flaky_put(void *be, const store_reg_t *reg, store_done_f cb, void *arg)
{
    flaky_puts++;
    if (flaky_mode == FLAKY_TIMEOUT || flaky_mode == FLAKY_ERROR || flaky_mode == FLAKY_CONFLICT) {
        cb(arg, flaky_mode == FLAKY_TIMEOUT ? STORE_TIMEOUT
                : flaky_mode == FLAKY_ERROR ? STORE_ERROR
                                            : STORE_CONFLICT);
        return;
    }
    if (flaky_mode == FLAKY_CONFLICT_ONCE) {
        flaky_mode = FLAKY_OK;
        store_get_impi(flaky_inner, reg->impi, flaky_bump, NULL);
    }
    flaky_inner->ops->put(be, reg, cb, arg);
}

/* f's store from now on goes through flaky_put, until flaky_teardown. */
static void flaky_install(fx_t *f)
{
    flaky_inner = f->s.store;
    flaky_ops = *flaky_inner->ops;
    flaky_ops.put = flaky_put;
    flaky_store = *flaky_inner; /* the same backend state */
    flaky_store.ops = &flaky_ops;
    f->s.store = &flaky_store;
    flaky_mode = FLAKY_OK;
    flaky_puts = 0;
}

/* The fixture frees its own store, also when the test failed half way. */
static int flaky_teardown(void **state)
{
    fx_t *f = *state;
    if (f && flaky_inner)
        f->s.store = flaky_inner;
    flaky_inner = NULL;
    return fx_teardown(state);
}

/* The store refuses or times out: 500 / 504 with Retry-After, nothing kept; it keeps
 * conflicting: 500 after a bounded number of tries; it conflicts once: read again, accepted. A
 * NOTIFY answered 481 whose removal conflicts once is removed all the same. */
static void store_failures_and_conflicts(void **state)
{
    fx_t *f = *state;
    flaky_install(f);
    flaky_mode = FLAKY_TIMEOUT;
    char *r = subscribe(f, 1, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 504");
    assert_non_null(strstr(r, "Retry-After: 5"));
    free(r);
    flaky_mode = FLAKY_ERROR;
    r = subscribe(f, 2, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 500");
    assert_non_null(strstr(r, "Retry-After: 5"));
    free(r);
    flaky_mode = FLAKY_CONFLICT;
    flaky_puts = 0;
    r = subscribe(f, 3, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 500 Store Busy");
    assert_non_null(strstr(r, "Retry-After: 5"));
    assert_in_range(flaky_puts, 2, 10); /* tried again, and not for ever */
    free(r);
    assert_int_equal(stored_subs(f), 0);
    no_notify(f);

    flaky_mode = FLAKY_CONFLICT_ONCE;
    flaky_puts = 0;
    r = subscribe(f, 4, FX_IMPU, FX_IMPU, NULL, NULL);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    assert_int_equal(flaky_puts, 2);
    char *n = notify_of(f, 4);
    assert_non_null(strstr(n, "version=\"0\" state=\"full\""));
    free(n);
    assert_int_equal(stored_subs(f), 1);

    f->notify_status = 481; /* the next NOTIFY is refused; its removal conflicts once */
    r = fx_register_auth(f, C2);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    /* The 481 may be on the wire already, but the S-CSCF reads it at its next loop step. */
    flaky_mode = FLAKY_CONFLICT_ONCE;
    flaky_puts = 0;
    free(notify_of(f, 4));
    for (int i = 0; i < 200 && stored_subs(f); i++)
        fx_pump(f);
    assert_int_equal(stored_subs(f), 0);
    assert_int_equal(flaky_puts, 2);
}

/* ---- an asynchronous store: the memory backend, every answer deferred to the loop ---- */

typedef struct later {
    int kind; /* 0 get, 1 done, 2 list */
    store_get_f get;
    store_done_f done;
    store_list_f list;
    void *arg;
    int rc;
    store_reg_t *reg, **regs;
    size_t n, total;
} later_t;

static fx_t *async_fx;

static void later_run(void *arg)
{
    later_t *l = arg;
    if (l->kind == 0)
        l->get(l->arg, l->rc, l->reg);
    else if (l->kind == 1)
        l->done(l->arg, l->rc);
    else
        l->list(l->arg, l->rc, l->regs, l->n, l->total);
    free(l);
}

static void later_post(later_t *l)
{
    if (loopq_post(async_fx->queue, later_run, l) < 0)
        fail_msg("loopq_post failed");
}

static void async_got(void *arg, int rc, store_reg_t *reg)
{
    later_t *l = arg;
    l->rc = rc;
    l->reg = reg;
    later_post(l);
}

static void async_done(void *arg, int rc)
{
    later_t *l = arg;
    l->rc = rc;
    later_post(l);
}

static void async_listed(void *arg, int rc, store_reg_t **regs, size_t n, size_t total)
{
    later_t *l = arg;
    l->rc = rc;
    l->regs = regs;
    l->n = n;
    l->total = total;
    later_post(l);
}

static later_t *later_new(int kind, void *arg)
{
    later_t *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->kind = kind;
    l->arg = arg;
    return l;
}

static void async_get(void *be, const char *impu, store_get_f cb, void *arg)
{
    later_t *l = later_new(0, arg);
    l->get = cb;
    flaky_inner->ops->get(be, impu, async_got, l);
}

static void async_get_impi(void *be, const char *impi, store_get_f cb, void *arg)
{
    later_t *l = later_new(0, arg);
    l->get = cb;
    flaky_inner->ops->get_impi(be, impi, async_got, l);
}

static void async_put(void *be, const store_reg_t *reg, store_done_f cb, void *arg)
{
    later_t *l = later_new(1, arg);
    l->done = cb;
    flaky_inner->ops->put(be, reg, async_done, l);
}

static void async_del(void *be, const char *impi, uint64_t rev, store_done_f cb, void *arg)
{
    later_t *l = later_new(1, arg);
    l->done = cb;
    flaky_inner->ops->del(be, impi, rev, async_done, l);
}

static void async_list(void *be, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                       void *arg)
{
    later_t *l = later_new(2, arg);
    l->list = cb;
    flaky_inner->ops->list(be, prefix, offset, limit, async_listed, l);
}

/* The registration of the setup stays; from now on the store answers later, from the loop. */
static void async_install(fx_t *f)
{
    flaky_install(f);
    async_fx = f;
    flaky_ops.synchronous = 0;
    flaky_ops.get = async_get;
    flaky_ops.get_impi = async_get_impi;
    flaky_ops.put = async_put;
    flaky_ops.del = async_del;
    flaky_ops.list = async_list;
}

/* The registration as stored, read straight from the backend (no deferral). */
static size_t async_subs(void)
{
    store_reg_t *r = NULL;
    store_get(flaky_inner, FX_IMPU, fx_got, &r);
    size_t n = r ? r->nsubs : 0;
    store_reg_free(r);
    return n;
}

/* The same flows with a store that answers later (as Redis does): subscribe, a change, a
 * refresh, a refused NOTIFY; every continuation is in a callback. */
static void asynchronous_store(void **state)
{
    fx_t *f = *state;
    async_install(f);
    char tag[64];
    subscribed(f, 1, tag, sizeof tag);
    assert_int_equal(async_subs(), 1);
    char *r = fx_register_auth(f, C2);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    char *n = notify_of(f, 1);
    assert_non_null(strstr(n, "version=\"1\" state=\"partial\""));
    free(n);
    r = subscribe(f, 1, FX_IMPU, FX_IMPU, tag, NULL);
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    n = notify_of(f, 1);
    assert_non_null(strstr(n, "version=\"2\" state=\"full\""));
    free(n);
    f->notify_status = 481;
    r = fx_register_auth(f, "Contact: <sip:alice@127.0.0.1:5092>;expires=0\r\n");
    fx_expect_status(r, "SIP/2.0 200");
    free(r);
    free(notify_of(f, 1));
    for (int i = 0; i < 200 && async_subs(); i++)
        fx_pump(f);
    assert_int_equal(async_subs(), 0);
}

int main(void)
{
    srand((unsigned)getpid());
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(subscribe_gets_200_and_full_state, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(register_changes_send_partial_state, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(replaced_contact_in_two_notifies, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(identities_changed_sends_full_state, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(answer_481_drops_the_subscription, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(refresh_in_dialog_and_unsubscribe, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(at_most_eight_per_registration, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(total_bounded_by_registrations, setup_one_registration,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(subscription_expires, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(refused_subscribers, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(another_process_carries_the_dialog_on, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(stale_revision_is_retried, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(store_failures_and_conflicts, setup, flaky_teardown),
        cmocka_unit_test_setup_teardown(asynchronous_store, setup, flaky_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
