/* reginfo.c: full and partial documents built from a registration parse back to what was put in
 * (barred IMPUs left out, events and states, +sip.instance, escaping); malformed and hostile
 * documents are refused whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/sip/reginfo.h"

#define NOW 1700000000

static store_reg_t *two_contacts(void)
{
    store_reg_t *r = store_reg_new("alice@ims.test");
    const char *impus[] = {"sip:alice@ims.test", "tel:+15550001", "sip:hidden@ims.test"};
    const char *barred[] = {"sip:hidden@ims.test"};
    assert_int_equal(store_reg_set_impus(r, impus, 3, barred, 1), 0);
    store_contact_t *c = store_reg_add_contact(r);
    store_contact_set(&c->uri, "sip:alice@192.0.2.1:5070;transport=udp");
    store_contact_set(&c->instance, "\"<urn:gsma:imei:35000000-000000-1>\"");
    c->expires_at = NOW + 600;
    c = store_reg_add_contact(r);
    store_contact_set(&c->uri, "sip:alice@192.0.2.2:5070");
    c->expires_at = NOW + 30;
    return r;
}

static reginfo_t parse_ok(const char *xml)
{
    reginfo_t ri;
    assert_non_null(xml);
    assert_int_equal(reginfo_parse(xml, strlen(xml), &ri), 0);
    return ri;
}

static void full_round_trip(void **state)
{
    store_reg_t *r = two_contacts();
    char *xml = reginfo_build(r, 0, 1, NULL, 0, NOW);
    reginfo_t ri = parse_ok(xml);
    assert_int_equal(ri.version, 0);
    assert_true(ri.full);
    assert_int_equal(ri.nregs, 2); /* the barred IMPU is not shown */
    assert_string_equal(ri.regs[0].aor, "sip:alice@ims.test");
    assert_string_equal(ri.regs[1].aor, "tel:+15550001");
    assert_string_equal(ri.regs[0].state, "active");
    assert_int_equal(ri.regs[0].ncontacts, 2);
    reginfo_contact_t *c = &ri.regs[0].contacts[0];
    assert_string_equal(c->uri, "sip:alice@192.0.2.1:5070;transport=udp");
    assert_string_equal(c->state, "active");
    assert_string_equal(c->event, "registered");
    assert_int_equal(c->expires, 600);
    assert_string_equal(c->instance, "<urn:gsma:imei:35000000-000000-1>");
    assert_null(ri.regs[0].contacts[1].instance);
    assert_int_equal(ri.regs[0].contacts[1].expires, 30);
    /* ids are distinct and stable */
    assert_string_not_equal(ri.regs[0].id, ri.regs[1].id);
    assert_string_not_equal(ri.regs[0].contacts[0].id, ri.regs[1].contacts[0].id);
    char *again = reginfo_build(r, 0, 1, NULL, 0, NOW);
    assert_string_equal(xml, again);
    free(again);
    reginfo_clear(&ri);
    free(xml);
    store_reg_free(r);
}

static void partial_names_only_changes(void **state)
{
    store_reg_t *r = two_contacts();
    reginfo_change_t ch[] = {{&r->contacts[1], "shortened"}};
    char *xml = reginfo_build(r, 7, 0, ch, 1, NOW);
    reginfo_t ri = parse_ok(xml);
    assert_int_equal(ri.version, 7);
    assert_false(ri.full);
    assert_int_equal(ri.nregs, 2);
    assert_int_equal(ri.regs[0].ncontacts, 1);
    assert_string_equal(ri.regs[0].contacts[0].uri, "sip:alice@192.0.2.2:5070");
    assert_string_equal(ri.regs[0].contacts[0].event, "shortened");
    assert_string_equal(ri.regs[0].contacts[0].state, "active");
    reginfo_clear(&ri);
    free(xml);
    store_reg_free(r);
}

static void gone_contact_is_terminated(void **state)
{
    store_reg_t *before = two_contacts();
    store_reg_t *after = store_reg_dup(before);
    while (after->ncontacts)
        store_reg_remove_contact(after, 0);
    reginfo_change_t ch[] = {{&before->contacts[0], "unregistered"},
                             {&before->contacts[1], "expired"}};
    char *xml = reginfo_build(after, 3, 1, ch, 2, NOW);
    reginfo_t ri = parse_ok(xml);
    assert_string_equal(ri.regs[0].state, "terminated");
    assert_int_equal(ri.regs[0].ncontacts, 2);
    assert_string_equal(ri.regs[0].contacts[0].state, "terminated");
    assert_string_equal(ri.regs[0].contacts[0].event, "unregistered");
    assert_string_equal(ri.regs[0].contacts[1].event, "expired");
    assert_int_equal(ri.regs[0].contacts[1].expires, 0);
    reginfo_clear(&ri);
    free(xml);
    /* a full document marks a listed contact with its change's event */
    reginfo_change_t ref[] = {{&before->contacts[0], "refreshed"}};
    xml = reginfo_build(before, 4, 1, ref, 1, NOW);
    ri = parse_ok(xml);
    assert_int_equal(ri.regs[0].ncontacts, 2);
    assert_string_equal(ri.regs[0].contacts[0].event, "refreshed");
    assert_string_equal(ri.regs[0].contacts[1].event, "registered");
    reginfo_clear(&ri);
    free(xml);
    store_reg_free(before);
    store_reg_free(after);
}

static void escapes_what_it_writes(void **state)
{
    store_reg_t *r = store_reg_new("x");
    const char *impus[] = {"sip:a&b<c>\"'@ims.test"};
    store_reg_set_impus(r, impus, 1, NULL, 0);
    store_contact_t *c = store_reg_add_contact(r);
    store_contact_set(&c->uri, "sip:x@h;p=<&>\x01\xff");
    store_contact_set(&c->instance, "\"</unknown-param>\"");
    c->expires_at = NOW + 1;
    char *xml = reginfo_build(r, 1, 1, NULL, 0, NOW);
    reginfo_t ri = parse_ok(xml);
    assert_string_equal(ri.regs[0].aor, "sip:a&b<c>\"'@ims.test");
    assert_string_equal(ri.regs[0].contacts[0].uri, "sip:x@h;p=<&>??");
    assert_string_equal(ri.regs[0].contacts[0].instance, "</unknown-param>");
    reginfo_clear(&ri);
    free(xml);
    reginfo_change_t bad[] = {{&r->contacts[0], "exploded"}};
    assert_null(reginfo_build(r, 1, 0, bad, 1, NOW));
    store_reg_free(r);
}

#define HEAD "<?xml version=\"1.0\"?><reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" "

static void rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "", "not xml", HEAD "version=\"1\" state=\"full\">", /* unterminated */
        "<reginfo version=\"1\" state=\"full\"/>",           /* no namespace */
        HEAD "version=\"x\" state=\"full\"/>", HEAD "version=\"-1\" state=\"full\"/>",
        HEAD "version=\"99999999999\" state=\"full\"/>", HEAD "version=\"1\" state=\"some\"/>",
        HEAD "state=\"full\"/>",
        HEAD "version=\"1\" state=\"full\"><registration id=\"r\" state=\"active\"/></reginfo>",
        HEAD "version=\"1\" state=\"full\"><registration aor=\"a\" id=\"r\" state=\"busy\"/>"
             "</reginfo>",
        HEAD "version=\"1\" state=\"full\"><registration aor=\"a\" id=\"r\" state=\"active\">"
             "<contact id=\"c\" state=\"active\" event=\"registered\"/></registration></reginfo>",
        HEAD "version=\"1\" state=\"full\"><registration aor=\"a\" id=\"r\" state=\"active\">"
             "<contact id=\"c\" state=\"active\" event=\"nope\"><uri>sip:x</uri></contact>"
             "</registration></reginfo>",
        HEAD "version=\"1\" state=\"full\"><registration aor=\"a\" id=\"r\" state=\"active\">"
             "<contact id=\"c\" state=\"active\" event=\"registered\" expires=\"1e3\"><uri>sip:x"
             "</uri></contact></registration></reginfo>",
        HEAD "version=\"1\" state=\"full\"><registration aor=\"a\" id=\"r\" state=\"active\">"
             "<contact id=\"c\" state=\"active\" event=\"registered\"><uri>a</uri><uri>b</uri>"
             "</contact></registration></reginfo>",
        /* a DTD at all, even a harmless one */
        "<?xml version=\"1.0\"?><!DOCTYPE reginfo [<!ENTITY e \"x\">]>"
        "<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"1\" state=\"full\"/>",
        "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"http://127.0.0.1:9/x.dtd\">"
        "<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"1\" state=\"full\"/>",
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        reginfo_t ri;
        if (reginfo_parse(bad[i], strlen(bad[i]), &ri) != -1)
            fail_msg("accepted bad document %zu: %s", i, bad[i]);
        assert_int_equal(ri.nregs, 0);
        assert_null(ri.regs);
    }
}

static void limits(void **state)
{
    size_t cap = REGINFO_MAX_DOC + 1024, n = 0;
    char *xml = malloc(cap);
    n += (size_t)snprintf(xml, cap, HEAD "version=\"1\" state=\"full\">");
    for (int i = 0; i <= REGINFO_MAX_REGS; i++)
        n += (size_t)snprintf(xml + n, cap - n,
                              "<registration aor=\"a%d\" id=\"r%d\" state=\"init\"/>", i, i);
    n += (size_t)snprintf(xml + n, cap - n, "</reginfo>");
    reginfo_t ri;
    assert_int_equal(reginfo_parse(xml, n, &ri), -1); /* one registration too many */
    memset(xml, ' ', cap - 1);
    assert_int_equal(reginfo_parse(xml, REGINFO_MAX_DOC + 1, &ri), -1); /* too big */
    free(xml);
}

static void ignores_foreign_elements(void **state)
{
    const char *xml =
        HEAD "xmlns:x=\"urn:example\" version=\"2\" state=\"partial\"><x:extra>1</x:extra>"
             "<registration aor=\"sip:a@b\" id=\"r1\" state=\"terminated\"><x:y/>"
             "<contact id=\"c1\" state=\"terminated\" event=\"rejected\"><uri>sip:a@1.2.3.4"
             "</uri><display-name>A</display-name></contact></registration></reginfo>";
    reginfo_t ri = parse_ok(xml);
    assert_int_equal(ri.version, 2);
    assert_int_equal(ri.nregs, 1);
    assert_string_equal(ri.regs[0].state, "terminated");
    assert_string_equal(ri.regs[0].contacts[0].event, "rejected");
    assert_int_equal(ri.regs[0].contacts[0].expires, -1);
    reginfo_clear(&ri);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_round_trip),
        cmocka_unit_test(partial_names_only_changes),
        cmocka_unit_test(gone_contact_is_terminated),
        cmocka_unit_test(escapes_what_it_writes),
        cmocka_unit_test(rejects_malformed),
        cmocka_unit_test(limits),
        cmocka_unit_test(ignores_foreign_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
