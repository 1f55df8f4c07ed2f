/* subscriber.c, subscriber_file.c, user_data.c: the lab HSS's subscriber schema, the YAML file
 * with PATH:LINE errors, JSON both ways, and the Cx User-Data XML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "diameter/hss/subscriber.h"
#include "diameter/hss/user_data.h"

/* Lines 1-5 of most error cases: one valid subscriber to append fields to. */
#define HEAD                                                                                       \
    "subscribers:\n"                                                                               \
    "  - impi: alice@ims.test\n"                                                                   \
    "    impus: [sip:alice@ims.test, tel:+15550001]\n"
#define KEY   "    k: 000102030405060708090a0b0c0d0e0f\n"
#define OPC   "    opc: 00112233445566778899AABBCCDDEEFF\n"
#define ALICE HEAD KEY OPC
#define BOB                                                                                        \
    "  - impi: bob@ims.test\n"                                                                     \
    "    impus: [sip:bob@ims.test]\n"                                                              \
    "    k: 000102030405060708090a0b0c0d0e0f\n"                                                    \
    "    op: 00112233445566778899aabbccddeeff\n"

static const char good_yaml[] =
    "# two subscribers\n"                                    /* 1 */
    "subscribers:\n"                                         /* 2 */
    "  - impi: alice@ims.test\n"                             /* 3 */
    "    impus:\n"                                           /* 4 */
    "      - sip:alice@ims.test\n"                           /* 5 */
    "      - tel:+15550001\n"                                /* 6 */
    "      - sip:alice.old@ims.test\n"                       /* 7 */
    "    k: 6162636465666768696A6B6C6D6E6F70\n"              /* 8 */
    "    opc: 00112233445566778899aabbccddeeff\n"            /* 9 */
    "    amf: b9B9\n"                                        /* 10 */
    "    sqn: ff9bb4d0b607\n"                                /* 11 */
    "    auth_schemes: [AKAv1-MD5, Digest-AKAv2-MD5, MD5]\n" /* 12 */
    "    password: \"s3cret & <safe>\"\n"                    /* 13 */
    "    barred_impus: [sip:alice.old@ims.test]\n"           /* 14 */
    "    ifc:\n"                                             /* 15 */
    "      - priority: \"20\"\n"                             /* 16 */
    "        condition: dnf\n"                               /* 17 */
    "        as: sip:as.ims.test;transport=tcp\n"            /* 18 */
    "        default_handling: session_terminated\n"         /* 19 */
    "        service_info: \"x < y & z\"\n"                  /* 20 */
    "        include_register_request: \"true\"\n"           /* 21 */
    "        include_register_response: false\n"             /* 22 */
    "        triggers:\n"                                    /* 23 */
    "          - method: INVITE\n"                           /* 24 */
    "          - {group: 1, negated: true, session_case: terminating_unregistered}\n"
    "          - {group: \"2\", header: Accept-Contact, content: \"a<&b\"}\n"
    "          - {group: 2, header: P-Asserted-Identity}\n"
    "          - {group: 3, request_uri: \"sip:.*@ims\\\\.test\"}\n"
    "      - priority: 10\n"
    "        as: sips:first.ims.test\n"
    "  - impi: bob@ims.test\n"
    "    impus: [sip:bob@ims.test]\n"
    "    k: 626f62626f62626f62626f62626f6231\n"
    "    op: 706f6e6d6c6b6a696867666564636261\n";

static void load_good(hss_subscriber_t **subs, size_t *n)
{
    char err[512] = "";
    if (hss_subscribers_load_string("t.yaml", good_yaml, subs, n, err, sizeof err) != 0)
        fail_msg("good file rejected: %s", err);
    assert_int_equal(*n, 2);
}

static void expect_error(const char *yaml, const char *needle)
{
    char err[512] = "";
    hss_subscriber_t *subs = (hss_subscriber_t *)&err;
    size_t n = 7;
    assert_int_equal(hss_subscribers_load_string("t.yaml", yaml, &subs, &n, err, sizeof err), -1);
    assert_null(subs);
    assert_int_equal(n, 0);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void good_file_loads(void **state)
{
    hss_subscriber_t *subs;
    size_t n;
    load_good(&subs, &n);
    const hss_subscriber_t *a = &subs[0], *b = &subs[1];

    assert_string_equal(a->impi, "alice@ims.test");
    assert_int_equal(a->nimpus, 3);
    assert_string_equal(a->impus[0], "sip:alice@ims.test");
    assert_string_equal(a->impus[1], "tel:+15550001");
    assert_memory_equal(a->k, "abcdefghijklmnop", 16);
    assert_true(a->op_is_opc);
    assert_int_equal(a->op[0], 0x00);
    assert_int_equal(a->op[15], 0xff);
    assert_int_equal(a->amf[0], 0xb9);
    assert_int_equal(a->amf[1], 0xb9);
    assert_true(a->sqn == 0xff9bb4d0b607ULL);
    assert_int_equal(a->schemes, HSS_SCHEME_AKAV1 | HSS_SCHEME_AKAV2 | HSS_SCHEME_MD5);
    assert_string_equal(a->password, "s3cret & <safe>");
    assert_int_equal(a->nbarred, 1);
    assert_true(hss_subscriber_is_barred(a, "sip:alice.old@ims.test"));
    assert_false(hss_subscriber_is_barred(a, "sip:alice@ims.test"));
    assert_true(hss_subscriber_has_impu(a, "tel:+15550001"));
    assert_false(hss_subscriber_has_impu(a, "sip:bob@ims.test"));

    assert_int_equal(a->nifcs, 2);
    const hss_ifc_t *ifc = &a->ifcs[0];
    assert_int_equal(ifc->priority, 20);
    assert_false(ifc->cnf);
    assert_string_equal(ifc->as_uri, "sip:as.ims.test;transport=tcp");
    assert_int_equal(ifc->default_handling, 1);
    assert_string_equal(ifc->service_info, "x < y & z");
    assert_true(ifc->include_register_request);
    assert_false(ifc->include_register_response);
    assert_int_equal(ifc->nspts, 5);
    assert_int_equal(ifc->spts[0].kind, SPT_METHOD);
    assert_string_equal(ifc->spts[0].value, "INVITE");
    assert_int_equal(ifc->spts[0].group, 0);
    assert_false(ifc->spts[0].negated);
    assert_int_equal(ifc->spts[1].kind, SPT_SESSION_CASE);
    assert_int_equal(ifc->spts[1].session_case, HSS_SESSION_TERMINATING_UNREGISTERED);
    assert_int_equal(ifc->spts[1].group, 1);
    assert_true(ifc->spts[1].negated);
    assert_int_equal(ifc->spts[2].kind, SPT_HEADER);
    assert_string_equal(ifc->spts[2].value, "Accept-Contact");
    assert_string_equal(ifc->spts[2].content, "a<&b");
    assert_int_equal(ifc->spts[2].group, 2);
    assert_int_equal(ifc->spts[3].kind, SPT_HEADER);
    assert_null(ifc->spts[3].content);
    assert_int_equal(ifc->spts[4].kind, SPT_REQUEST_URI);
    assert_string_equal(ifc->spts[4].value, "sip:.*@ims\\.test");
    assert_int_equal(a->ifcs[1].priority, 10);
    assert_true(a->ifcs[1].cnf); /* the defaults */
    assert_int_equal(a->ifcs[1].nspts, 0);
    assert_int_equal(a->ifcs[1].default_handling, 0);
    assert_null(a->ifcs[1].service_info);

    assert_string_equal(b->impi, "bob@ims.test");
    assert_false(b->op_is_opc);
    assert_memory_equal(b->k, "bobbobbobbobbob1", 16);
    assert_memory_equal(b->op, "ponmlkjihgfedcba", 16);
    assert_int_equal(b->amf[0], 0x80); /* defaults */
    assert_int_equal(b->amf[1], 0x00);
    assert_true(b->sqn == 0);
    assert_int_equal(b->schemes, HSS_SCHEME_AKAV1);
    assert_null(b->password);
    assert_int_equal(b->nbarred, 0);
    assert_int_equal(b->nifcs, 0);
    hss_subscribers_free(subs, n);
}

static void shipped_file_loads(void **state)
{
    hss_subscriber_t *subs;
    size_t n;
    char err[512] = "";
    if (hss_subscribers_load("config/subscribers.yaml", &subs, &n, err, sizeof err) != 0)
        fail_msg("config/subscribers.yaml: %s", err);
    assert_int_equal(n, 2);
    assert_memory_equal(subs[0].k, "abcdefghijklmnop", 16);
    assert_memory_equal(subs[0].op, "ponmlkjihgfedcba", 16);
    assert_false(subs[0].op_is_opc);
    assert_int_equal(subs[0].ifcs[0].nspts, 3);
    assert_string_equal(subs[0].ifcs[0].spts[1].content, "application/vnd.3gpp.sms");
    assert_memory_equal(subs[1].k, "bobbobbobbobbob1", 16);
    hss_subscribers_free(subs, n);
}

static void subscriber_field_errors(void **state)
{
    expect_error(ALICE "    color: blue\n",
                 "t.yaml:6: subscribers[0] (impi alice@ims.test): color: unknown field");
    expect_error(HEAD "    k: 000102030405060708090a0b0c0d0e0g\n" OPC,
                 "t.yaml:4: subscribers[0] (impi alice@ims.test): k: expected 32 hex digits");
    expect_error(HEAD "    k: 000102\n" OPC, "t.yaml:4: subscribers[0] (impi alice@ims.test): k: "
                                             "expected 32 hex digits");
    expect_error(ALICE "    op: 00112233445566778899aabbccddeeff\n",
                 "t.yaml:6: subscribers[0] (impi alice@ims.test): op: give either op or opc");
    expect_error(HEAD KEY, "t.yaml:2: subscribers[0] (impi alice@ims.test): opc: required");
    expect_error(ALICE "    amf: 80\n", "t.yaml:6: subscribers[0] (impi alice@ims.test): amf: "
                                        "expected 4 hex digits");
    expect_error(ALICE "    sqn: 0000000001\n", "t.yaml:6: subscribers[0] (impi alice@ims.test): "
                                                "sqn: expected 12 hex digits");
    expect_error(ALICE "    auth_schemes: [AKAv1-MD5, SHA-256]\n",
                 "t.yaml:6: subscribers[0] (impi alice@ims.test): auth_schemes[1]: unknown "
                 "scheme 'SHA-256'");
    expect_error(ALICE "    auth_schemes: []\n", "auth_schemes: expected a non-empty list");
    expect_error(ALICE "    auth_schemes: [AKAv1-MD5, MD5]\n",
                 "t.yaml:2: subscribers[0] (impi alice@ims.test): password: required when "
                 "auth_schemes includes MD5");
    expect_error(ALICE "    barred_impus: [sip:bob@ims.test]\n",
                 "t.yaml:6: subscribers[0] (impi alice@ims.test): barred_impus[0]: "
                 "'sip:bob@ims.test' is not one of impus");
    expect_error(ALICE "    barred_impus:\n      - tel:+15550001\n      - sip:alice@ims.test\n",
                 "t.yaml:8: subscribers[0] (impi alice@ims.test): barred_impus[1]: the default "
                 "IMPU (impus[0]) cannot be barred");
}

static void identity_errors(void **state)
{
    expect_error("subscribers:\n  - impus: [sip:a@ims.test]\n" KEY OPC,
                 "t.yaml:2: subscribers[0]: impi: required");
    expect_error("subscribers:\n  - impi: a b\n    impus: [sip:a@ims.test]\n" KEY OPC,
                 "t.yaml:2: subscribers[0] (impi a b): impi: must not contain spaces");
    expect_error("subscribers:\n  - impi: a\n    impus: []\n" KEY OPC,
                 "t.yaml:3: subscribers[0] (impi a): impus: expected a non-empty list");
    expect_error("subscribers:\n  - impi: a\n    impus: [mailto:a@ims.test]\n" KEY OPC,
                 "impus[0]: expected a sip:, sips: or tel: URI");
    expect_error("subscribers:\n  - impi: a\n    impus: [tel:+1, tel:+1]\n" KEY OPC,
                 "impus[1]: duplicate of impus[0]");
    expect_error("subscribers:\n  - impi: a\n    impus: sip:a@ims.test\n" KEY OPC,
                 "t.yaml:3: subscribers[0] (impi a): impus: expected a list");
}

static void cross_entry_errors(void **state)
{
    expect_error(ALICE "  - impi: alice@ims.test\n    impus: [sip:other@ims.test]\n" KEY OPC,
                 "t.yaml:6: subscribers[1] (impi alice@ims.test): impi: duplicate of "
                 "subscribers[0]");
    expect_error(ALICE BOB "  - impi: carol@ims.test\n"
                           "    impus:\n"
                           "      - sip:carol@ims.test\n"
                           "      - tel:+15550001\n" KEY OPC,
                 "t.yaml:13: subscribers[2] (impi carol@ims.test): impus[1]: 'tel:+15550001' is "
                 "already an IMPU of subscribers[0] (impi alice@ims.test)");
}

static void ifc_errors(void **state)
{
    expect_error(ALICE "    ifc:\n"
                       "      - priority: 1\n"
                       "        as: sip:as.ims.test\n"
                       "        triggers:\n"
                       "          - session_case: outgoing\n",
                 "t.yaml:10: subscribers[0] (impi alice@ims.test): "
                 "ifc[0].triggers[0].session_case: expected one of originating, "
                 "terminating_registered, terminating_unregistered, originating_unregistered, "
                 "originating_cdiv");
    expect_error(ALICE "    ifc:\n"
                       "      - priority: 1\n"
                       "        as: sip:as.ims.test\n"
                       "        triggers:\n"
                       "          - method: INVITE\n"
                       "          - method: MESSAGE\n"
                       "            header: Content-Type\n",
                 "t.yaml:11: subscribers[0] (impi alice@ims.test): ifc[0].triggers[1]: give "
                 "exactly one of method, session_case, header, request_uri (got method and "
                 "header)");
    expect_error(ALICE "    ifc:\n"
                       "      - {priority: 1, as: \"sip:a.ims.test\"}\n"
                       "      - {priority: \"1\", as: \"sip:b.ims.test\"}\n",
                 "t.yaml:8: subscribers[0] (impi alice@ims.test): ifc[1].priority: 1 is also "
                 "the priority of ifc[0]");
    expect_error(ALICE "    ifc:\n      - {as: sip:a.ims.test}\n", "ifc[0].priority: required");
    expect_error(ALICE "    ifc:\n      - {priority: -1, as: sip:a.ims.test}\n",
                 "ifc[0].priority: expected an integer >= 0");
    expect_error(ALICE "    ifc:\n      - {priority: 1, as: http://a.ims.test}\n",
                 "t.yaml:7: subscribers[0] (impi alice@ims.test): ifc[0].as: expected a sip: or "
                 "sips: URI");
    expect_error(ALICE "    ifc:\n      - {priority: 1, as: sip:a, condition: xnf}\n",
                 "ifc[0].condition: expected cnf or dnf");
    expect_error(ALICE "    ifc:\n      - {priority: 1, as: sip:a, default_handling: retry}\n",
                 "ifc[0].default_handling: expected session_continued or session_terminated");
    expect_error(ALICE "    ifc:\n      - {priority: 1, as: sip:a, include_register_request: 2}\n",
                 "ifc[0].include_register_request: expected true or false");
    expect_error(ALICE "    ifc:\n      - {priority: 1, as: sip:a, triggers: [{}]}\n",
                 "ifc[0].triggers[0]: expected one of method, session_case, header or "
                 "request_uri");
    expect_error(ALICE
                 "    ifc:\n      - {priority: 1, as: sip:a, triggers: [{method: \"IN VITE\"}]}\n",
                 "ifc[0].triggers[0].method: expected a SIP method token");
    expect_error(
        ALICE "    ifc:\n      - {priority: 1, as: sip:a, triggers: [{method: A, content: x}]}\n",
        "ifc[0].triggers[0].content: only allowed with header");
    expect_error(
        ALICE
        "    ifc:\n      - {priority: 1, as: sip:a, triggers: [{header: A, content: \"(\"}]}\n",
        "ifc[0].triggers[0].content: not a valid (POSIX extended) regular expression");
    expect_error(ALICE
                 "    ifc:\n      - {priority: 1, as: sip:a, triggers: [{method: A, grp: 1}]}\n",
                 "t.yaml:7: subscribers[0] (impi alice@ims.test): ifc[0].triggers[0].grp: "
                 "unknown field");
}

static void yaml_errors(void **state)
{
    expect_error(ALICE "    password: &pw secret\n"
                       "    auth_schemes: [MD5]\n" BOB "    password: *pw\n",
                 "t.yaml:12: YAML aliases are not supported (the value anchored at line 6");
    expect_error(ALICE "  - *x\n", "t.yaml:6: YAML syntax error: found undefined alias");
    expect_error(ALICE "    k: 000102030405060708090a0b0c0d0e0f\n", "t.yaml:6: duplicate key 'k'");
    expect_error("subscribers: []\nsubscriber: []\n",
                 "t.yaml:2: subscriber: unknown top-level key (expected subscribers)");
    expect_error("", "t.yaml:1: empty file: expected a mapping with the key subscribers");
    expect_error("# nothing yet\n", "t.yaml:1: empty file");
    expect_error("- a\n", "t.yaml:1: expected a mapping with the key subscribers");
    expect_error("other: 1\n", "t.yaml:1: other: unknown top-level key");
    expect_error("subscribers:\n", "t.yaml:1: subscribers: expected a list (use [] for none)");
    expect_error("subscribers:\n  - just a string\n",
                 "t.yaml:2: subscribers[0]: expected a mapping");
    expect_error("subscribers: [\n", "t.yaml:2: YAML syntax error");
    expect_error(ALICE "    impi: [x\n", "t.yaml:7: YAML syntax error");
    expect_error("subscribers: []\n---\nsubscribers: []\n",
                 "t.yaml:3: only one YAML document is allowed");
    expect_error(ALICE "    password: !secret x\n", "t.yaml:6: unsupported YAML tag '!secret'");
}

static void empty_list_is_fine(void **state)
{
    hss_subscriber_t *subs = NULL;
    size_t n = 3;
    char err[256] = "";
    assert_int_equal(
        hss_subscribers_load_string("t.yaml", "subscribers: []\n", &subs, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    hss_subscribers_free(subs, n);
}

static void file_errors(void **state)
{
    char err[512] = "";
    hss_subscriber_t *subs;
    size_t n;
    assert_int_equal(hss_subscribers_load("/nonexistent/subs.yaml", &subs, &n, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/subs.yaml: cannot open"));
    assert_null(subs);

    char path[] = "/tmp/test_subscriber_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = ALICE "    sqn: 12\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    assert_int_equal(hss_subscribers_load(path, &subs, &n, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "%s:6: subscribers[0] (impi alice@ims.test): sqn:", path);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("'%s' does not start with '%s'", err, want);
    unlink(path);
}

/* The REST side: native JSON types and messages without a file position. */
static void from_json_errors(void **state)
{
    static const char *const cases[][2] = {
        {"{\"impi\":\"a\",\"impus\":[\"sip:a@x\"],\"k\":\"000102030405060708090a0b0c0d0e0f\","
         "\"opc\":\"000102030405060708090a0b0c0d0e0f\",\"color\":\"blue\"}",
         "color: unknown field"},
        {"{\"impi\":\"a\",\"impus\":[\"sip:a@x\"],\"k\":\"000102030405060708090a0b0c0d0e0f\","
         "\"opc\":\"000102030405060708090a0b0c0d0e0f\",\"ifc\":[{\"priority\":1,\"as\":\"sip:"
         "as\",\"triggers\":[{\"session_case\":\"outbound\"}]},{\"priority\":2,\"as\":\"sip:b\"}]}",
         "ifc[0].triggers[0].session_case: expected one of originating, terminating_registered, "
         "terminating_unregistered, originating_unregistered, originating_cdiv"},
        {"{\"impi\":\"a\",\"impus\":[\"sip:a@x\"],\"k\":\"000102030405060708090a0b0c0d0e0f\","
         "\"opc\":\"000102030405060708090a0b0c0d0e0f\",\"ifc\":[{\"priority\":1.5,\"as\":\"sip:"
         "as\"}]}",
         "ifc[0].priority: expected an integer >= 0"},
        {"{\"impi\":\"a\",\"impus\":[\"sip:a@x\"],\"k\":1,\"opc\":\"00\"}",
         "k: expected 32 hex digits"},
        {"{\"impi\":7}", "impi: expected a string"},
        {"[]", "expected a mapping (JSON object)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_loads(cases[i][0], 0, NULL);
        assert_non_null(j);
        hss_subscriber_t s;
        memset(&s, 0xa5, sizeof s); /* untouched on failure */
        char err[512] = "";
        assert_int_equal(hss_subscriber_from_json(j, &s, err, sizeof err), -1);
        assert_string_equal(err, cases[i][1]);
        assert_int_equal(((unsigned char *)&s)[0], 0xa5);
        json_decref(j);
    }
}

static void json_round_trip(void **state)
{
    hss_subscriber_t *subs;
    size_t n;
    load_good(&subs, &n);
    for (size_t i = 0; i < n; i++) {
        char err[512] = "";
        hss_subscriber_t again;
        json_t *j1 = hss_subscriber_to_json(&subs[i], 1);
        assert_non_null(j1);
        if (hss_subscriber_from_json(j1, &again, err, sizeof err) != 0)
            fail_msg("to_json output rejected: %s", err);
        json_t *j2 = hss_subscriber_to_json(&again, 1);
        if (!json_equal(j1, j2)) {
            char *a = json_dumps(j1, JSON_SORT_KEYS), *b = json_dumps(j2, JSON_SORT_KEYS);
            fail_msg("round trip differs:\n%s\n%s", a, b);
        }
        assert_memory_equal(again.k, subs[i].k, 16);
        assert_memory_equal(again.op, subs[i].op, 16);
        assert_int_equal(again.op_is_opc, subs[i].op_is_opc);
        assert_memory_equal(again.amf, subs[i].amf, 2);
        assert_true(again.sqn == subs[i].sqn);
        assert_int_equal(again.schemes, subs[i].schemes);
        assert_int_equal(again.nifcs, subs[i].nifcs);
        json_decref(j1);
        json_decref(j2);
        hss_subscriber_clear(&again);
    }

    /* Field formats: lowercase hex, native integers and booleans. */
    json_t *j = hss_subscriber_to_json(&subs[0], 1);
    assert_string_equal(json_string_value(json_object_get(j, "k")),
                        "6162636465666768696a6b6c6d6e6f70");
    assert_string_equal(json_string_value(json_object_get(j, "opc")),
                        "00112233445566778899aabbccddeeff");
    assert_null(json_object_get(j, "op"));
    assert_string_equal(json_string_value(json_object_get(j, "sqn")), "ff9bb4d0b607");
    assert_string_equal(json_string_value(json_object_get(j, "amf")), "b9b9");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "auth_schemes"), 1)),
                        "AKAv2-MD5");
    json_t *ifc = json_array_get(json_object_get(j, "ifc"), 0);
    assert_true(json_is_integer(json_object_get(ifc, "priority")));
    assert_true(json_is_true(json_object_get(ifc, "include_register_request")));
    json_t *spt = json_array_get(json_object_get(ifc, "triggers"), 1);
    assert_string_equal(json_string_value(json_object_get(spt, "session_case")),
                        "terminating_unregistered");
    json_decref(j);
    j = hss_subscriber_to_json(&subs[1], 1);
    assert_string_equal(json_string_value(json_object_get(j, "sqn")), "000000000000");
    assert_string_equal(json_string_value(json_object_get(j, "op")),
                        "706f6e6d6c6b6a696867666564636261");
    json_decref(j);
    hss_subscribers_free(subs, n);
}

static void json_without_secrets(void **state)
{
    hss_subscriber_t *subs;
    size_t n;
    load_good(&subs, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *j = hss_subscriber_to_json(&subs[i], 0);
        assert_non_null(j);
        assert_null(json_object_get(j, "k"));
        assert_null(json_object_get(j, "op"));
        assert_null(json_object_get(j, "opc"));
        assert_null(json_object_get(j, "password"));
        assert_non_null(json_object_get(j, "impi"));
        assert_non_null(json_object_get(j, "sqn"));
        char *text = json_dumps(j, 0);
        assert_null(strstr(text, "6162636465666768696a6b6c6d6e6f70"));
        assert_null(strstr(text, "s3cret"));
        free(text);
        json_decref(j);
    }
    hss_subscribers_free(subs, n);
}

static void user_data_xml(void **state)
{
    hss_subscriber_t *subs;
    size_t n;
    load_good(&subs, &n);
    char *xml = hss_user_data_xml(&subs[0]);
    assert_non_null(xml);
    const char *want =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><IMSSubscription>"
        "<PrivateID>alice@ims.test</PrivateID><ServiceProfile>"
        "<PublicIdentity><Identity>sip:alice@ims.test</Identity></PublicIdentity>"
        "<PublicIdentity><Identity>tel:+15550001</Identity></PublicIdentity>"
        "<PublicIdentity><BarringIndication>1</BarringIndication>"
        "<Identity>sip:alice.old@ims.test</Identity></PublicIdentity>"
        /* priority 10 first although it is listed second */
        "<InitialFilterCriteria><Priority>10</Priority><ApplicationServer>"
        "<ServerName>sips:first.ims.test</ServerName><DefaultHandling>0</DefaultHandling>"
        "</ApplicationServer></InitialFilterCriteria>"
        "<InitialFilterCriteria><Priority>20</Priority>"
        "<TriggerPoint><ConditionTypeCNF>0</ConditionTypeCNF>"
        "<SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>INVITE</Method></SPT>"
        "<SPT><ConditionNegated>1</ConditionNegated><Group>1</Group>"
        "<SessionCase>2</SessionCase></SPT>"
        "<SPT><ConditionNegated>0</ConditionNegated><Group>2</Group><SIPHeader>"
        "<Header>Accept-Contact</Header><Content>a&lt;&amp;b</Content></SIPHeader></SPT>"
        "<SPT><ConditionNegated>0</ConditionNegated><Group>2</Group><SIPHeader>"
        "<Header>P-Asserted-Identity</Header></SIPHeader></SPT>"
        "<SPT><ConditionNegated>0</ConditionNegated><Group>3</Group>"
        "<RequestURI>sip:.*@ims\\.test</RequestURI></SPT>"
        "</TriggerPoint>"
        "<ApplicationServer><ServerName>sip:as.ims.test;transport=tcp</ServerName>"
        "<DefaultHandling>1</DefaultHandling><ServiceInfo>x &lt; y &amp; z</ServiceInfo>"
        "<Extension><IncludeRegisterRequest/></Extension></ApplicationServer>"
        "</InitialFilterCriteria>"
        "</ServiceProfile></IMSSubscription>";
    assert_string_equal(xml, want);
    free(xml);

    xml = hss_user_data_xml(&subs[1]);
    assert_string_equal(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><IMSSubscription>"
                             "<PrivateID>bob@ims.test</PrivateID><ServiceProfile>"
                             "<PublicIdentity><Identity>sip:bob@ims.test</Identity>"
                             "</PublicIdentity></ServiceProfile></IMSSubscription>");
    free(xml);
    hss_subscribers_free(subs, n);
}

static void xml_escapes_quotes(void **state)
{
    json_t *j = json_loads("{\"impi\":\"o'neil\\\"<&>@ims.test\",\"impus\":[\"sip:o@ims.test\"],"
                           "\"k\":\"000102030405060708090a0b0c0d0e0f\","
                           "\"op\":\"000102030405060708090a0b0c0d0e0f\"}",
                           0, NULL);
    hss_subscriber_t s;
    char err[256] = "";
    assert_int_equal(hss_subscriber_from_json(j, &s, err, sizeof err), 0);
    char *xml = hss_user_data_xml(&s);
    assert_non_null(strstr(xml, "<PrivateID>o&apos;neil&quot;&lt;&amp;&gt;@ims.test</PrivateID>"));
    free(xml);
    hss_subscriber_clear(&s);
    json_decref(j);
}

static void scheme_names(void **state)
{
    hss_scheme_t s;
    assert_int_equal(hss_scheme_parse("akav1-md5", &s), 0);
    assert_int_equal(s, HSS_SCHEME_AKAV1);
    assert_int_equal(hss_scheme_parse("Digest-AKAv2-MD5", &s), 0);
    assert_int_equal(s, HSS_SCHEME_AKAV2);
    assert_int_equal(hss_scheme_parse("SIP Digest", &s), 0);
    assert_int_equal(s, HSS_SCHEME_MD5);
    assert_int_equal(hss_scheme_parse("digest-md5", &s), 0);
    assert_int_equal(s, HSS_SCHEME_MD5);
    assert_int_equal(hss_scheme_parse("MD5-sess", &s), -1);
    assert_string_equal(hss_scheme_name(HSS_SCHEME_AKAV1), "AKAv1-MD5");
    assert_string_equal(hss_scheme_name(HSS_SCHEME_AKAV2), "AKAv2-MD5");
    assert_string_equal(hss_scheme_name(HSS_SCHEME_MD5), "MD5");
    assert_null(hss_scheme_name((hss_scheme_t)3));
    assert_string_equal(hss_session_case_name(4), "originating_cdiv");
    assert_null(hss_session_case_name(5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_file_loads),
        cmocka_unit_test(shipped_file_loads),
        cmocka_unit_test(subscriber_field_errors),
        cmocka_unit_test(identity_errors),
        cmocka_unit_test(cross_entry_errors),
        cmocka_unit_test(ifc_errors),
        cmocka_unit_test(yaml_errors),
        cmocka_unit_test(empty_list_is_fine),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(from_json_errors),
        cmocka_unit_test(json_round_trip),
        cmocka_unit_test(json_without_secrets),
        cmocka_unit_test(user_data_xml),
        cmocka_unit_test(xml_escapes_quotes),
        cmocka_unit_test(scheme_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
