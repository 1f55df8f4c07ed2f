/* store_reg.c, store_uri.c, store_json.c, store_mem.c: registrations found by IMPI and by every
 * IMPU of their set, replaced and deleted without stale index entries, limits refused, expiry and
 * listing exact, copies that the caller owns; contact matching by RFC 5626 instance/reg-id and RFC
 * 3261 URI equality; and the memory a registration costs (bounded, and printed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/store/store.h"
#include "common/util/heap.h"
#include "tests/unit/store_result.h"

#define DOMAIN "ims.mnc001.mcc001.3gppnetwork.org"
#define NOW    1700000000

/* The IMPI of the registration found by IMPU (or by IMPI when by_impi), "" when not found. */
static const char *found(store_t *s, const char *key, int by_impi)
{
    static char impi[256];
    result_t r = {0};
    if (by_impi)
        store_get_impi(s, key, on_get, &r);
    else
        store_get(s, key, on_get, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, r.reg ? 0 : 1);
    snprintf(impi, sizeof impi, "%s", r.reg ? r.reg->impi : "");
    store_reg_free(r.reg);
    return impi;
}

/* ---- building registrations ---- */

/* A registration like a VoLTE handset's: an IMPI, a SIP and a tel IMPU, one contact with about
 * 200 bytes of parameters and a Path. */
static store_reg_t *ue_reg(int i, const char *profile)
{
    char impi[96], sip[96], tel[32], uri[96], params[256], instance[64], call_id[64], received[48];
    snprintf(impi, sizeof impi, "0010100000%05d@" DOMAIN, i);
    snprintf(sip, sizeof sip, "sip:0010100000%05d@" DOMAIN, i);
    snprintf(tel, sizeof tel, "tel:+1555010%05d", i);
    snprintf(uri, sizeof uri, "sip:0010100000%05d@10.45.%d.%d:5060;transport=tcp", i, i / 250 % 250,
             i % 250 + 1);
    snprintf(instance, sizeof instance, "\"<urn:gsma:imei:35609204-%06d-0>\"", i);
    snprintf(params, sizeof params,
             "+sip.instance=%s;+g.3gpp.icsi-ref=\"urn%%3Aurn-7%%3A3gpp-service.ims.icsi.mmtel\";"
             "+g.3gpp.smsip;audio;video;+sip.reg-id=1;q=1.0;+g.3gpp.accesstype=\"cellular2\";+g."
             "3gpp.mid-call",
             instance);
    snprintf(call_id, sizeof call_id, "a84b4c76e66710-%08d@10.45.0.1", i);
    snprintf(received, sizeof received, "tcp:10.45.%d.%d:5060", i / 250 % 250, i % 250 + 1);
    const char *impus[] = {sip, tel};
    store_reg_t *r = make_reg(impi, impus, 2);
    store_contact_t *c = add_contact(r, uri, NOW + 3600);
    assert_int_equal(store_contact_set(&c->params, params), 0);
    assert_int_equal(store_contact_set(&c->instance, instance), 0);
    c->reg_id = 1;
    assert_int_equal(
        store_contact_set(&c->path, "<sip:MTAuNDUuMC4xOjUwNjA@pcscf." DOMAIN ":5060;lr;ob>"), 0);
    assert_int_equal(store_contact_set(&c->received, received), 0);
    assert_int_equal(store_contact_set(&c->call_id, call_id), 0);
    c->cseq = 2;
    assert_int_equal(store_contact_set(&c->user_agent, "Samsung IMS 6.0"), 0);
    c->registered_at = NOW;
    assert_int_equal(store_contact_set(&r->scheme, "AKAv1-MD5"), 0);
    assert_int_equal(store_contact_set(&r->profile, profile), 0);
    return r;
}

/* ---- helpers ---- */

static void dup_free_round_trip(void **state)
{
    (void)state;
    store_reg_t *r = ue_reg(7, "<IMSSubscription/>");
    const char *impus[] = {"sip:a@" DOMAIN, "sip:b@" DOMAIN, "tel:+1555"};
    const char *barred[] = {"sip:b@" DOMAIN};
    assert_int_equal(store_reg_set_impus(r, impus, 3, barred, 1), 0);
    store_contact_t *c = add_contact(r, "sip:a@192.0.2.9", NOW + 10); /* NULL fields too */
    assert_null(c->params);
    assert_int_equal(c->reg_id, 0);

    store_reg_t *d = store_reg_dup(r);
    assert_non_null(d);
    assert_same_reg(r, d);
    assert_ptr_not_equal(d->impus[0], r->impus[0]); /* copies, not shared */
    assert_ptr_not_equal(d->contacts[0].params, r->contacts[0].params);
    store_reg_free(r);
    store_reg_t *dd = store_reg_dup(d);
    assert_same_reg(d, dd);
    store_reg_free(d);
    store_reg_free(dd);

    store_reg_t *empty = store_reg_new("only@" DOMAIN);
    d = store_reg_dup(empty);
    assert_same_reg(empty, d);
    store_reg_free(empty);
    store_reg_free(d);
    assert_null(store_reg_new(NULL));
    store_reg_free(NULL);
    store_regs_free(NULL, 0);
}

static void field_and_contact_helpers(void **state)
{
    (void)state;
    char *f = NULL;
    assert_int_equal(store_contact_set(&f, "x"), 0);
    assert_string_equal(f, "x");
    assert_int_equal(store_contact_set(&f, NULL), 0);
    assert_null(f);

    store_reg_t *r = store_reg_new("u@" DOMAIN);
    const char *one[] = {"sip:u@" DOMAIN}, *two[] = {"sip:u@" DOMAIN, "tel:+1"};
    assert_int_equal(store_reg_set_impus(r, two, 2, two + 1, 1), 0);
    assert_int_equal(store_reg_set_impus(r, one, 1, NULL, 0), 0); /* replaces, no leak */
    assert_int_equal(r->nimpus, 1);
    assert_int_equal(r->nbarred, 0);
    assert_null(r->barred);

    add_contact(r, "sip:u@192.0.2.1", NOW - 1);
    add_contact(r, "sip:u@192.0.2.2", NOW + 100);
    add_contact(r, "sip:u@192.0.2.3", NOW);
    add_contact(r, "sip:u@192.0.2.4", NOW + 1);
    assert_int_equal(store_reg_drop_expired(r, NOW), 2);
    assert_int_equal(r->ncontacts, 2);
    assert_string_equal(r->contacts[0].uri, "sip:u@192.0.2.2");
    assert_string_equal(r->contacts[1].uri, "sip:u@192.0.2.4");
    store_reg_remove_contact(r, 5); /* out of range: nothing */
    store_reg_remove_contact(r, 0);
    assert_int_equal(r->ncontacts, 1);
    assert_string_equal(r->contacts[0].uri, "sip:u@192.0.2.4");
    assert_int_equal(store_reg_drop_expired(r, NOW), 0);
    store_reg_free(r);
}

static void json_for_rest(void **state)
{
    (void)state;
    store_reg_t *r = ue_reg(3, NULL);
    json_t *j = store_reg_to_json(r, NOW + 3000);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "impi")), r->impi);
    assert_int_equal(json_array_size(json_object_get(j, "impus")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "barred")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "scheme")), "AKAv1-MD5");
    json_t *c = json_array_get(json_object_get(j, "contacts"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "uri")), r->contacts[0].uri);
    assert_int_equal(json_integer_value(json_object_get(c, "expires")), 600);
    assert_int_equal(json_integer_value(json_object_get(c, "reg_id")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "cseq")), 2);
    assert_int_equal(json_integer_value(json_object_get(c, "registered_at")), NOW);
    assert_string_equal(json_string_value(json_object_get(c, "user_agent")), "Samsung IMS 6.0");
    assert_non_null(json_object_get(c, "path"));
    assert_non_null(json_object_get(c, "received"));
    assert_non_null(json_object_get(c, "call_id"));
    assert_non_null(json_object_get(c, "params"));
    assert_non_null(json_object_get(c, "instance"));
    json_decref(j);
    store_reg_free(r);
}

/* ---- contact matching ---- */

static void contact_matching_by_instance(void **state)
{
    (void)state;
    store_reg_t *r = store_reg_new("u@" DOMAIN);
    store_contact_t *a = add_contact(r, "sip:u@192.0.2.1:5060", NOW);
    store_contact_set(&a->instance, "\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"");
    a->reg_id = 1;
    store_contact_t *b = add_contact(r, "sip:u@192.0.2.1:5062", NOW);
    store_contact_set(&b->instance, "\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"");
    b->reg_id = 2;
    add_contact(r, "sip:u@192.0.2.7:5060", NOW); /* no instance */
    a = &r->contacts[0];
    b = &r->contacts[1];

    const char *inst = "\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"";
    /* same instance and reg-id, whatever the URI (a new flow from the same device) */
    assert_ptr_equal(store_reg_find_contact(r, "sip:u@198.51.100.1", inst, 1), a);
    assert_ptr_equal(store_reg_find_contact(r, "sip:u@198.51.100.1", inst, 2), b);
    assert_null(store_reg_find_contact(r, "sip:u@192.0.2.1:5060", inst, 3));
    /* instance without reg-id (RFC 5627): the first binding of that instance */
    assert_ptr_equal(store_reg_find_contact(r, "sip:u@198.51.100.1", inst, 0), a);
    /* instance-ids compare case-insensitively, with or without their quotes */
    assert_ptr_equal(
        store_reg_find_contact(r, NULL, "<urn:uuid:00000000-0000-1000-8000-aabbccddeeff>", 2), b);
    /* another instance never takes a binding over, even with the same URI */
    assert_null(store_reg_find_contact(r, "sip:u@192.0.2.7:5060",
                                       "\"<urn:gsma:imei:35609204-079301-0>\"", 0));
    /* without an instance: by URI, whichever binding it is */
    assert_ptr_equal(store_reg_find_contact(r, "sip:u@192.0.2.7:5060", NULL, 0), &r->contacts[2]);
    assert_ptr_equal(store_reg_find_contact(r, "sip:u@192.0.2.1:5062", NULL, 0), b);
    assert_null(store_reg_find_contact(r, "sip:u@192.0.2.9", NULL, 0));
    store_reg_free(r);
}

static int uri_matches(const char *stored, const char *given)
{
    store_reg_t *r = store_reg_new("u@" DOMAIN);
    add_contact(r, stored, NOW);
    int hit = store_reg_find_contact(r, given, NULL, 0) != NULL;
    store_reg_free(r);
    /* and the other way round */
    store_reg_t *back = store_reg_new("u@" DOMAIN);
    add_contact(back, given, NOW);
    assert_int_equal(hit, store_reg_find_contact(back, stored, NULL, 0) != NULL);
    store_reg_free(back);
    return hit;
}

/* RFC 3261 19.1.4, with its own examples. */
static void contact_matching_by_uri(void **state)
{
    (void)state;
    assert_true(uri_matches("sip:%61lice@atlanta.com;transport=TCP",
                            "sip:alice@AtLanTa.CoM;Transport=tcp"));
    assert_true(uri_matches("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
    assert_true(uri_matches("sip:carol@chicago.com;security=on", "sip:carol@chicago.com"));
    assert_true(
        uri_matches("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                    "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
    assert_true(uri_matches("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
    assert_true(uri_matches("SIP:u@[2001:DB8::1]:5060;lr", "sip:u@[2001:db8::1]:5060"));
    assert_true(uri_matches("sip:+15551234;npdi@h.example;user=phone",
                            "sip:+15551234;npdi@H.example;user=phone"));

    assert_false(uri_matches("SIP:ALICE@AtLanTa.CoM;Transport=udp",
                             "sip:alice@AtLanTa.CoM;Transport=UDP"));           /* user case */
    assert_false(uri_matches("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060")); /* no default */
    assert_false(uri_matches("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
    assert_false(uri_matches("sip:bob@biloxi.com", "sips:bob@biloxi.com"));
    assert_false(uri_matches("sip:bob@biloxi.com:6000;transport=tcp",
                             "sip:bob@biloxi.com:6000;transport=udp"));
    assert_false(
        uri_matches("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"));
    assert_false(
        uri_matches("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
    assert_false(uri_matches("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
    assert_false(uri_matches("sip:u@[2001:db8::1]:5060", "sip:u@[2001:db8::1]:5061"));
    assert_false(uri_matches("sip:biloxi.com", "sip:u@biloxi.com"));
    /* a URI names its own contact even with a parameter given twice (found by fuzz_store_uri:
     * such a contact could not be refreshed or removed) */
    assert_true(uri_matches("sip:u@h;maddr=a;maddr=b", "sip:u@h;maddr=a;maddr=b"));
    /* other schemes: as strings */
    assert_true(uri_matches("tel:+15551234", "tel:+15551234"));
    assert_false(uri_matches("tel:+15551234", "TEL:+15551234"));
}

/* ---- the in-memory backend ---- */

static void get_by_every_impu_and_impi(void **state)
{
    (void)state;
    store_t *s = store_mem_new(10, 4);
    const char *impus[] = {"sip:alice@" DOMAIN, "tel:+15551001", "sip:alice.work@" DOMAIN};
    store_reg_t *r = make_reg("alice@" DOMAIN, impus, 3);
    const char *barred[] = {"sip:alice.work@" DOMAIN};
    store_reg_set_impus(r, impus, 3, barred, 1);
    add_contact(r, "sip:alice@192.0.2.1:5060", NOW + 600);
    add_contact(r, "sip:alice@192.0.2.1:5062", NOW + 600);
    store_contact_set(&r->contacts[1].path, "<sip:p@pcscf;lr>");
    store_contact_set(&r->contacts[0].path, "<sip:p@pcscf;lr>"); /* kept once, handed out twice */
    store_contact_set(&r->profile, "<IMSSubscription/>");
    assert_int_equal(sync_put(s, r), 0);
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_contact_count(s), 2);

    for (size_t i = 0; i < 3; i++)
        assert_string_equal(found(s, impus[i], 0), "alice@" DOMAIN);
    assert_string_equal(found(s, "alice@" DOMAIN, 1), "alice@" DOMAIN);
    assert_string_equal(found(s, "alice@" DOMAIN, 0), ""); /* an IMPI is not an IMPU */
    assert_string_equal(found(s, "sip:alice@" DOMAIN, 1), "");
    assert_string_equal(found(s, "sip:ALICE@" DOMAIN, 0), ""); /* exact strings */
    assert_string_equal(found(s, "sip:alice@" DOMAIN "x", 0), "");

    /* what comes back is an equal copy, the caller's, independent of the store */
    result_t g = {0};
    store_get(s, "tel:+15551001", on_get, &g);
    assert_same_reg(r, g.reg);
    store_contact_set(&g.reg->contacts[0].uri, "sip:changed@192.0.2.2");
    store_reg_free(g.reg);
    store_reg_free(r);
    g = (result_t){0};
    store_get_impi(s, "alice@" DOMAIN, on_get, &g);
    assert_string_equal(g.reg->contacts[0].uri, "sip:alice@192.0.2.1:5060");
    assert_string_equal(g.reg->contacts[1].path, "<sip:p@pcscf;lr>");
    assert_string_equal(g.reg->barred[0], "sip:alice.work@" DOMAIN);
    store_reg_free(g.reg);
    store_free(s);
}

static void replace_keeps_the_index_right(void **state)
{
    (void)state;
    store_t *s = store_mem_new(10, 4);
    const char *set1[] = {"sip:bob@" DOMAIN, "tel:+15552001", "sip:bob.old@" DOMAIN};
    const char *set2[] = {"sip:bob@" DOMAIN, "sip:bob.new@" DOMAIN};
    store_reg_t *r = make_reg("bob@" DOMAIN, set1, 3);
    add_contact(r, "sip:bob@192.0.2.5", NOW + 60);
    add_contact(r, "sip:bob@192.0.2.6", NOW + 60);
    assert_int_equal(sync_put(s, r), 0);
    assert_int_equal(store_contact_count(s), 2);

    assert_int_equal(store_reg_set_impus(r, set2, 2, NULL, 0), 0);
    store_reg_remove_contact(r, 0);
    assert_int_equal(sync_put(s, r), 0);
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_contact_count(s), 1);
    assert_string_equal(found(s, "sip:bob@" DOMAIN, 0), "bob@" DOMAIN);
    assert_string_equal(found(s, "sip:bob.new@" DOMAIN, 0), "bob@" DOMAIN);
    assert_string_equal(found(s, "tel:+15552001", 0), "");
    assert_string_equal(found(s, "sip:bob.old@" DOMAIN, 0), "");

    /* a dropped IMPU is free for another IMPI; a held one is not */
    const char *carol[] = {"sip:carol@" DOMAIN, "tel:+15552001"};
    store_reg_t *c = make_reg("carol@" DOMAIN, carol, 2);
    assert_int_equal(sync_put(s, c), 0);
    assert_string_equal(found(s, "tel:+15552001", 0), "carol@" DOMAIN);
    const char *grab[] = {"sip:carol2@" DOMAIN, "sip:bob.new@" DOMAIN};
    store_reg_t *thief = make_reg("mallory@" DOMAIN, grab, 2);
    assert_int_equal(sync_put(s, thief), -1);
    assert_string_equal(found(s, "sip:carol2@" DOMAIN, 0), ""); /* nothing half-done */
    assert_string_equal(found(s, "mallory@" DOMAIN, 1), "");
    assert_int_equal(store_count(s), 2);
    /* nor may carol's replacement take bob's */
    assert_int_equal(store_reg_set_impus(c, grab + 1, 1, NULL, 0), 0);
    assert_int_equal(sync_put(s, c), -1);
    assert_string_equal(found(s, "tel:+15552001", 0), "carol@" DOMAIN);

    /* an IMPU listed twice is indexed once and unindexed cleanly */
    const char *twice[] = {"sip:dave@" DOMAIN, "sip:dave@" DOMAIN};
    store_reg_t *d = make_reg("dave@" DOMAIN, twice, 2);
    assert_int_equal(sync_put(s, d), 0);
    assert_string_equal(found(s, "sip:dave@" DOMAIN, 0), "dave@" DOMAIN);
    assert_int_equal(sync_del(s, "dave@" DOMAIN), 0);
    assert_string_equal(found(s, "sip:dave@" DOMAIN, 0), "");

    store_reg_free(r);
    store_reg_free(c);
    store_reg_free(thief);
    store_reg_free(d);
    store_free(s);
}

static void delete_removes_every_index_entry(void **state)
{
    (void)state;
    store_t *s = store_mem_new(10, 4);
    const char *impus[] = {"sip:erin@" DOMAIN, "tel:+15553001", "sip:erin2@" DOMAIN};
    store_reg_t *r = make_reg("erin@" DOMAIN, impus, 3);
    add_contact(r, "sip:erin@192.0.2.8", NOW + 60);
    assert_int_equal(sync_put(s, r), 0);
    assert_int_equal(sync_del(s, "erin@" DOMAIN), 0);
    assert_int_equal(sync_del(s, "erin@" DOMAIN), -1);
    assert_int_equal(sync_del(s, "nobody@" DOMAIN), -1);
    assert_int_equal(store_count(s), 0);
    assert_int_equal(store_contact_count(s), 0);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(found(s, impus[i], 0), "");
    assert_string_equal(found(s, "erin@" DOMAIN, 1), "");
    /* the IMPUs are free again, for anyone */
    store_reg_t *o = make_reg("other@" DOMAIN, impus, 3);
    assert_int_equal(sync_put(s, o), 0);
    assert_string_equal(found(s, "tel:+15553001", 0), "other@" DOMAIN);
    store_reg_free(r);
    store_reg_free(o);
    store_free(s);
}

static void limits_are_refused(void **state)
{
    (void)state;
    store_t *s = store_mem_new(2, 2);
    const char *a[] = {"sip:a@" DOMAIN}, *b[] = {"sip:b@" DOMAIN}, *c[] = {"sip:c@" DOMAIN};
    store_reg_t *ra = make_reg("a@" DOMAIN, a, 1), *rb = make_reg("b@" DOMAIN, b, 1),
                *rc = make_reg("c@" DOMAIN, c, 1);
    assert_int_equal(sync_put(s, ra), 0);
    assert_int_equal(sync_put(s, rb), 0);
    assert_int_equal(sync_put(s, rc), -1); /* max_regs */
    assert_string_equal(found(s, "sip:c@" DOMAIN, 0), "");
    add_contact(ra, "sip:a@192.0.2.1", NOW + 60);
    assert_int_equal(sync_put(s, ra), 0); /* replacing at max_regs is fine */
    add_contact(ra, "sip:a@192.0.2.2", NOW + 60);
    assert_int_equal(sync_put(s, ra), 0);
    add_contact(ra, "sip:a@192.0.2.3", NOW + 60);
    assert_int_equal(sync_put(s, ra), -1); /* max_contacts_per_reg */
    assert_int_equal(store_contact_count(s), 2);
    result_t g = {0};
    store_get_impi(s, "a@" DOMAIN, on_get, &g);
    assert_int_equal(g.reg->ncontacts, 2); /* the refused put changed nothing */
    store_reg_free(g.reg);
    assert_int_equal(sync_del(s, "b@" DOMAIN), 0);
    assert_int_equal(sync_put(s, rc), 0); /* room again */
    store_reg_free(ra);
    store_reg_free(rb);
    store_reg_free(rc);
    store_free(s);
}

static void expired_lists_exactly_the_expired(void **state)
{
    (void)state;
    store_t *s = store_mem_new(5000, 4);
    char impi[64], impu[64];
    for (int i = 0; i < 30; i++) {
        snprintf(impi, sizeof impi, "u%02d@" DOMAIN, i);
        snprintf(impu, sizeof impu, "sip:u%02d@" DOMAIN, i);
        const char *impus[] = {impu};
        store_reg_t *r = make_reg(impi, impus, 1);
        add_contact(r, "sip:u@192.0.2.1", NOW + 100); /* live */
        if (i % 3 == 0)
            add_contact(r, "sip:u@192.0.2.2", NOW - (i % 2)); /* expired: at or before now */
        else if (i % 3 == 1)
            add_contact(r, "sip:u@192.0.2.2", NOW + 1); /* one second left */
        assert_int_equal(sync_put(s, r), 0);
        store_reg_free(r);
    }
    result_t l = {0};
    store_expired(s, NOW, on_list, &l);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.total, 10);
    for (size_t i = 0; i < l.n; i++) {
        int k = atoi(l.regs[i]->impi + 1);
        assert_int_equal(k % 3, 0);
        assert_int_equal(l.regs[i]->ncontacts, 2);
    }
    store_regs_free(l.regs, l.n);

    /* what the registrar does: drop the expired contacts and put back, from the callback */
    l = (result_t){0};
    store_expired(s, NOW + 1, on_list, &l);
    assert_int_equal(l.n, 20);
    for (size_t i = 0; i < l.n; i++) {
        store_reg_drop_expired(l.regs[i], NOW + 1);
        assert_int_equal(sync_put(s, l.regs[i]), 0);
    }
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_expired(s, NOW + 1, on_list, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 0);
    store_regs_free(l.regs, l.n);
    assert_int_equal(store_contact_count(s), 30);

    /* at most 1000 per call; total says how many there are */
    for (int i = 0; i < 1200; i++) {
        snprintf(impi, sizeof impi, "x%04d@" DOMAIN, i);
        store_reg_t *r = store_reg_new(impi);
        add_contact(r, "sip:x@192.0.2.3", NOW);
        assert_int_equal(sync_put(s, r), 0);
        store_reg_free(r);
    }
    l = (result_t){0};
    store_expired(s, NOW + 50, on_list, &l);
    assert_int_equal(l.n, 1000);
    assert_int_equal(l.total, 1200);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(sync_del(s, l.regs[i]->impi), 0);
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_expired(s, NOW + 50, on_list, &l);
    assert_int_equal(l.n, 200);
    assert_int_equal(l.total, 200);
    store_regs_free(l.regs, l.n);
    store_free(s);
}

static void list_orders_filters_and_pages(void **state)
{
    (void)state;
    store_t *s = store_mem_new(100, 4);
    /* inserted out of order */
    const int order[] = {7, 2, 9, 0, 4, 1, 8, 3, 6, 5};
    for (size_t i = 0; i < 10; i++) {
        char impi[64], impu[64], tel[40];
        snprintf(impi, sizeof impi, "user%d@" DOMAIN, order[i]);
        snprintf(impu, sizeof impu, "sip:user%d@" DOMAIN, order[i]);
        snprintf(tel, sizeof tel, "tel:+1555000%d%d", order[i] < 5 ? 1 : 2, order[i]);
        const char *impus[] = {impu, tel};
        store_reg_t *r = make_reg(impi, impus, 2);
        assert_int_equal(sync_put(s, r), 0);
        store_reg_free(r);
    }
    result_t l = {0};
    store_list(s, NULL, 0, 100, on_list, &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.total, 10);
    for (size_t i = 0; i < 10; i++) {
        char want[64];
        snprintf(want, sizeof want, "user%zu@" DOMAIN, i);
        assert_string_equal(l.regs[i]->impi, want);
    }
    store_regs_free(l.regs, l.n);

    /* pages */
    l = (result_t){0};
    store_list(s, "", 3, 4, on_list, &l);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.total, 10);
    assert_string_equal(l.regs[0]->impi, "user3@" DOMAIN);
    assert_string_equal(l.regs[3]->impi, "user6@" DOMAIN);
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_list(s, NULL, 8, 4, on_list, &l);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.regs[1]->impi, "user9@" DOMAIN);
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_list(s, NULL, 10, 4, on_list, &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 10);
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_list(s, NULL, 0, 0, on_list, &l);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 10);
    store_regs_free(l.regs, l.n);

    /* prefix on the IMPI, on any IMPU */
    l = (result_t){0};
    store_list(s, "user4", 0, 100, on_list, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.regs[0]->impi, "user4@" DOMAIN);
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_list(s, "tel:+15550002", 0, 2, on_list, &l); /* users 5..9, second IMPU */
    assert_int_equal(l.total, 5);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.regs[0]->impi, "user5@" DOMAIN);
    assert_string_equal(l.regs[1]->impi, "user6@" DOMAIN);
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_list(s, "sip:user", 0, 100, on_list, &l);
    assert_int_equal(l.total, 10);
    store_regs_free(l.regs, l.n);
    l = (result_t){0};
    store_list(s, "nobody", 0, 100, on_list, &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 0);
    store_regs_free(l.regs, l.n);

    /* an empty store */
    store_t *e = store_mem_new(1, 1);
    l = (result_t){0};
    store_list(e, NULL, 0, 10, on_list, &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.total, 0);
    store_regs_free(l.regs, l.n);
    assert_string_equal(found(e, "sip:x@" DOMAIN, 0), "");
    assert_int_equal(sync_del(e, "x@" DOMAIN), -1);
    store_free(e);
    store_free(s);
}

/* The tables grow and shrink under a random mix of puts, set changes and deletes; every lookup
 * agrees with a plain model of what should be there. */
#define MODEL_REGS 3000
static void index_agrees_with_a_model(void **state)
{
    (void)state;
    store_t *s = store_mem_new(MODEL_REGS, 2);
    int variant[MODEL_REGS]; /* 0: absent; else which IMPU set the IMPI has */
    memset(variant, 0, sizeof variant);
    unsigned seed = 12345;
    char impi[64], a[64], b[64];
    for (int step = 0; step < 60000; step++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 8) % MODEL_REGS), v = (int)((seed >> 4) % 4);
        snprintf(impi, sizeof impi, "m%d@" DOMAIN, k);
        if (v == 0 || step > 45000) { /* delete more towards the end: the tables shrink */
            assert_int_equal(sync_del(s, impi), variant[k] ? 0 : -1);
            variant[k] = 0;
        } else {
            snprintf(a, sizeof a, "sip:m%d@" DOMAIN, k);
            snprintf(b, sizeof b, "sip:m%d.v%d@" DOMAIN, k, v);
            const char *impus[] = {a, b};
            store_reg_t *r = make_reg(impi, impus, v == 3 ? 1 : 2);
            assert_int_equal(sync_put(s, r), 0);
            store_reg_free(r);
            variant[k] = v;
        }
        if (step % 5000 != 4999)
            continue;
        size_t present = 0;
        for (int i = 0; i < MODEL_REGS; i++) {
            snprintf(impi, sizeof impi, "m%d@" DOMAIN, i);
            snprintf(a, sizeof a, "sip:m%d@" DOMAIN, i);
            const char *want = variant[i] ? impi : "";
            assert_string_equal(found(s, impi, 1), want);
            assert_string_equal(found(s, a, 0), want);
            for (int w = 1; w <= 3; w++) {
                snprintf(b, sizeof b, "sip:m%d.v%d@" DOMAIN, i, w);
                assert_string_equal(found(s, b, 0), variant[i] == w && w != 3 ? impi : "");
            }
            present += variant[i] != 0;
        }
        assert_int_equal(store_count(s), present);
    }
    store_free(s);
}

/* ---- memory ---- */

#ifdef __SANITIZE_ADDRESS__
/* ASan replaces malloc, so glibc's mallinfo2() sees nothing; ASan's allocator counts the bytes
 * asked for (declared here: GCC ships no sanitizer/allocator_interface.h). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Heap bytes in use. jemalloc counts whole size classes (as glibc counted chunks), ASan only
 * the bytes asked for, so the same registration measures a little less under ASan: the bounds
 * below hold for both (the upper one from glibc, the lower one from what must be stored). */
static size_t bytes_in_use(void)
{
#ifdef __SANITIZE_ADDRESS__
    return __sanitizer_get_current_allocated_bytes();
#else
    return heap_in_use(); /* jemalloc's count in the plain build (common/util/heap.c) */
#endif
}

#define MEASURED 10000
/* docs/BENCHMARKS.md: 848 bytes per registration with glibc; the bound leaves room for it to
 * move with the allocator but catches a store that copies or leaks per registration. */
#define MAX_BYTES_PER_REG 1200

/* Bytes malloc'd per registration, for MEASURED registrations like ue_reg()'s; *text is the
 * length of the strings one of them holds (what the store cannot do without). */
static double bytes_per_reg(const char *profile, size_t *text_out)
{
    store_t *s = store_mem_new(MEASURED, 4);
    size_t before = bytes_in_use();
    for (int i = 0; i < MEASURED; i++) {
        store_reg_t *r = ue_reg(i, profile);
        assert_int_equal(sync_put(s, r), 0);
        store_reg_free(r);
    }
    size_t after = bytes_in_use();
    assert_int_equal(store_count(s), MEASURED);
    assert_int_equal(store_contact_count(s), MEASURED);
    char key[96];
    for (int i = 0; i < MEASURED; i++) {
        char impi[96];
        snprintf(impi, sizeof impi, "0010100000%05d@" DOMAIN, i);
        assert_string_equal(found(s, impi, 1), impi);
        snprintf(key, sizeof key, "sip:0010100000%05d@" DOMAIN, i);
        assert_string_equal(found(s, key, 0), impi);
        snprintf(key, sizeof key, "tel:+1555010%05d", i);
        assert_string_equal(found(s, key, 0), impi);
    }
    store_reg_t *r = ue_reg(42, profile); /* what one stored registration is made of */
    size_t text = strlen(r->impi) + strlen(r->impus[0]) + strlen(r->impus[1]) + 5;
    text += strlen(r->scheme) + (profile ? strlen(profile) + 1 : 0) + 1;
    const store_contact_t *c = &r->contacts[0];
    text += strlen(c->uri) + strlen(c->params) + strlen(c->instance) + strlen(c->path) +
            strlen(c->received) + strlen(c->call_id) + strlen(c->user_agent) + 7;
    printf("    store: %zu bytes of strings per registration (contact params %zu, profile %zu)\n",
           text, strlen(c->params), profile ? strlen(profile) : 0);
    *text_out = text;
    store_reg_free(r);
    for (int i = 0; i < MEASURED; i++) {
        char impi[96];
        snprintf(impi, sizeof impi, "0010100000%05d@" DOMAIN, i);
        assert_int_equal(sync_del(s, impi), 0);
    }
    assert_int_equal(store_count(s), 0);
    snprintf(key, sizeof key, "tel:+1555010%05d", 5);
    assert_string_equal(found(s, key, 0), "");
    store_free(s);
    return after > before ? (double)(after - before) / MEASURED : 0;
}

static void memory_per_registration(void **state)
{
    (void)state;
    const char *profile =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><IMSSubscription><PrivateID>"
        "001010000012345@" DOMAIN "</PrivateID><ServiceProfile><PublicIdentity><Identity>"
        "sip:001010000012345@" DOMAIN "</Identity></PublicIdentity><PublicIdentity><Identity>"
        "tel:+15550112345</Identity></PublicIdentity></ServiceProfile></IMSSubscription>";
    size_t text, text_with_profile;
    double plain = bytes_per_reg(NULL, &text);
    double with_profile = bytes_per_reg(profile, &text_with_profile);
    printf("    store: %.0f bytes malloc'd per registration (1 IMPI, 2 IMPUs, 1 contact with "
           "params and Path; %d of them)\n",
           plain, MEASURED);
    printf("    store: %.0f bytes with a %zu-byte User-Data profile as well\n", with_profile,
           strlen(profile));
    /* The lower bounds keep a measurement that sees nothing (a heap the counter does not
     * watch) from passing. */
    assert_true(plain >= (double)text);
    assert_true(plain < MAX_BYTES_PER_REG);
    assert_true(with_profile >= (double)text_with_profile);
    assert_true(with_profile - plain >= (double)strlen(profile) - 16); /* glibc's rounding */
    assert_true(with_profile < MAX_BYTES_PER_REG + (double)strlen(profile) + 16);
}

/* A string repeated within a registration (here the Path of two contacts) is stored once. */
static void repeated_strings_kept_once(void **state)
{
    (void)state;
    char path[4001];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    store_t *s = store_mem_new(10, 4);
    store_reg_t *r = store_reg_new("twice@" DOMAIN);
    store_contact_set(&add_contact(r, "sip:t@192.0.2.1:5060", NOW + 60)->path, path);
    store_contact_set(&add_contact(r, "sip:t@192.0.2.1:5062", NOW + 60)->path, path);
    size_t before = bytes_in_use();
    assert_int_equal(sync_put(s, r), 0);
    size_t grew = bytes_in_use() - before;
    printf("    store: %zu bytes for a registration with two 4000-byte Paths\n", grew);
    assert_true(grew > 4000 && grew < 6000); /* one copy, not two */
    result_t g = {0};
    store_get_impi(s, "twice@" DOMAIN, on_get, &g);
    assert_same_reg(r, g.reg);
    store_reg_free(g.reg);
    store_reg_free(r);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dup_free_round_trip),
        cmocka_unit_test(field_and_contact_helpers),
        cmocka_unit_test(json_for_rest),
        cmocka_unit_test(contact_matching_by_instance),
        cmocka_unit_test(contact_matching_by_uri),
        cmocka_unit_test(get_by_every_impu_and_impi),
        cmocka_unit_test(replace_keeps_the_index_right),
        cmocka_unit_test(delete_removes_every_index_entry),
        cmocka_unit_test(limits_are_refused),
        cmocka_unit_test(expired_lists_exactly_the_expired),
        cmocka_unit_test(list_orders_filters_and_pages),
        cmocka_unit_test(index_agrees_with_a_model),
        cmocka_unit_test(memory_per_registration),
        cmocka_unit_test(repeated_strings_kept_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
