/* store_reg_encode() / store_reg_decode() (common/store/store_codec.c): a full record comes back
 * field for field (bytes that are not UTF-8 too); encode refuses what decode would not take
 * back; decode refuses hostile text (wrong types, missing fields, out-of-range and huge
 * numbers, NUL in strings, over-long strings and arrays, non-objects, duplicate keys, deep
 * nesting, trailing bytes, truncation) with a reason, without reading past len, without a leak
 * (make SAN=1 unit); and every prefix or one-byte change of a valid text fails or decodes. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/store/store.h"
#include "tests/unit/store_result.h"

#define NOW 1700000000

/* Every field set, two contacts and two subscriptions, extremes of each number, bytes that
 * are not UTF-8, and NULL in every field that may be NULL (the second contact and sub). */
static store_reg_t *full_reg(void)
{
    const char *impus[] = {"sip:alice@ims", "tel:+1555", "sip:\xc3\xa9t\xc3\xa9@ims"};
    const char *barred[] = {"tel:+1555"};
    store_reg_t *r = store_reg_new("alice@ims");
    assert_non_null(r);
    assert_int_equal(store_reg_set_impus(r, impus, 3, barred, 1), 0);
    assert_int_equal(store_contact_set(&r->profile, "<IMSSubscription>\n\t\"x\"\\</>"), 0);
    assert_int_equal(store_contact_set(&r->scheme, "AKAv1-MD5"), 0);
    store_contact_t *c = add_contact(r, "sip:ue@192.0.2.1:5060;transport=tcp", NOW + 600);
    assert_int_equal(store_contact_set(&c->params, "+sip.instance=\"<urn:uuid:1>\";expires=5"), 0);
    assert_int_equal(store_contact_set(&c->instance, "\"<urn:uuid:1>\""), 0);
    c->reg_id = INT_MIN;
    assert_int_equal(store_contact_set(&c->path, "<sip:term@pcscf;lr>,<sip:b;lr>"), 0);
    assert_int_equal(store_contact_set(&c->received, "tcp:192.0.2.1:40000"), 0);
    assert_int_equal(store_contact_set(&c->call_id, "cid-1"), 0);
    c->cseq = UINT32_MAX;
    assert_int_equal(store_contact_set(&c->user_agent, "UE/1 \xff\xfe\x80 latin-1 \xe9"), 0);
    c->registered_at = INT64_MIN;
    c->expires_at = INT64_MAX;
    c = add_contact(r, "sip:ue2@192.0.2.2", NOW); /* the rest NULL / 0 */
    c->reg_id = INT_MAX;
    assert_int_equal(store_contact_set(&r->server_name, "sip:scscf.ims.example:6060"), 0);
    assert_int_equal(store_contact_set(&r->hss, "hss1.ims.example"), 0);
    store_sub_t *u = store_reg_add_sub(r);
    assert_non_null(u);
    assert_int_equal(store_contact_set(&u->call_id, "sub-cid@ue"), 0);
    assert_int_equal(store_contact_set(&u->local_tag, "ltag"), 0);
    assert_int_equal(store_contact_set(&u->remote_tag, "rtag"), 0);
    assert_int_equal(store_contact_set(&u->local_uri, "sip:alice@ims"), 0);
    assert_int_equal(store_contact_set(&u->remote_uri, "sip:pcscf@ims"), 0);
    assert_int_equal(store_contact_set(&u->target, "sip:ue@192.0.2.1:5060;transport=tcp"), 0);
    assert_int_equal(store_contact_set(&u->route_set, "<sip:term@pcscf;lr>,<sip:b;lr>"), 0);
    assert_int_equal(store_contact_set(&u->impu, "sip:alice@ims"), 0);
    assert_int_equal(store_contact_set(&u->subscriber, "sip:pcscf@ims"), 0);
    u->cseq = 3;
    u->version = UINT32_MAX;
    u->expires_at = -1;
    assert_non_null(store_reg_add_sub(r)); /* every field empty */
    r->rev = 42;                           /* not encoded */
    return r;
}

/* text decoded from a buffer of exactly len bytes (no NUL after it: ASan sees an overread). */
static store_reg_t *decode_exact(const char *text, size_t len, char *err, size_t errlen)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, text, len);
    store_reg_t *r = store_reg_decode(buf, len, err, errlen);
    free(buf);
    return r;
}

static void assert_refused_len(const char *text, size_t len)
{
    char err[128] = "";
    store_reg_t *r = decode_exact(text, len, err, sizeof err);
    if (r)
        fail_msg("accepted: %.200s", text);
    assert_true(err[0] != '\0'); /* a reason */
}

static void assert_refused(const char *text)
{
    assert_refused_len(text, strlen(text));
}

static char *encoded_full(void)
{
    store_reg_t *r = full_reg();
    char *text = store_reg_encode(r);
    assert_non_null(text);
    store_reg_free(r);
    return text;
}

/* ---- the cases ---- */

static void round_trip(void **state)
{
    (void)state;
    store_reg_t *r = full_reg();
    char *text = store_reg_encode(r);
    assert_non_null(text);
    assert_null(strchr(text, '\n')); /* one line: the journal's unit */
    char err[128] = "";
    store_reg_t *back = decode_exact(text, strlen(text), err, sizeof err);
    if (!back)
        fail_msg("refused: %s", err);
    assert_same_reg(back, r);
    assert_int_equal(back->rev, 0);
    char *again = store_reg_encode(back); /* a fixed point */
    assert_string_equal(again, text);
    free(again);
    store_reg_free(back);
    free(text);

    /* The least record: an IMPI, nothing else; every byte value but NUL in it. */
    char bytes[256];
    for (int i = 1; i < 256; i++)
        bytes[i - 1] = (char)i;
    bytes[255] = '\0';
    store_reg_free(r);
    r = store_reg_new(bytes);
    assert_non_null(text = store_reg_encode(r));
    back = decode_exact(text, strlen(text), err, sizeof err);
    assert_non_null(back);
    assert_same_reg(back, r);
    store_reg_free(back);
    free(text);
    /* The largest strings and arrays the bounds allow. */
    char *big = malloc(STORE_CODEC_MAX_STRING + 1);
    assert_non_null(big);
    memset(big, 'x', STORE_CODEC_MAX_STRING);
    big[STORE_CODEC_MAX_STRING] = '\0';
    assert_int_equal(store_contact_set(&r->profile, big), 0);
    for (int i = 0; i < STORE_CODEC_MAX_CONTACTS; i++)
        add_contact(r, "sip:c", i);
    assert_non_null(text = store_reg_encode(r));
    back = decode_exact(text, strlen(text), err, sizeof err);
    if (!back)
        fail_msg("refused: %s", err);
    assert_same_reg(back, r);
    store_reg_free(back);
    free(text);
    free(big);
    store_reg_free(r);
}

/* What decode would refuse is not written: encode says NULL. */
static void encode_refuses_what_cannot_come_back(void **state)
{
    (void)state;
    assert_null(store_reg_encode(NULL));
    store_reg_t *r = calloc(1, sizeof *r); /* no IMPI */
    assert_non_null(r);
    assert_null(store_reg_encode(r));
    store_reg_free(r);

    const char *one[] = {"sip:a"};
    r = make_reg("a", one, 1);
    free(r->impus[0]);
    r->impus[0] = NULL;
    assert_null(store_reg_encode(r));
    store_reg_free(r);

    char *big = malloc(STORE_CODEC_MAX_STRING + 2);
    assert_non_null(big);
    memset(big, 'x', STORE_CODEC_MAX_STRING + 1);
    big[STORE_CODEC_MAX_STRING + 1] = '\0';
    r = make_reg("a", one, 1);
    add_contact(r, "sip:c", NOW);
    assert_int_equal(store_contact_set(&r->contacts[0].user_agent, big), 0);
    assert_null(store_reg_encode(r));
    store_reg_free(r);
    free(big);

    r = make_reg("a", one, 1);
    for (int i = 0; i <= STORE_CODEC_MAX_CONTACTS; i++)
        add_contact(r, "sip:c", NOW);
    assert_null(store_reg_encode(r));
    store_reg_free(r);

    r = make_reg("a", one, 1);
    for (int i = 0; i <= STORE_CODEC_MAX_SUBS; i++)
        assert_non_null(store_reg_add_sub(r));
    assert_null(store_reg_encode(r));
    store_reg_free(r);

    /* Each string under the bound, the text over it. */
    r = make_reg("a", one, 1);
    char *half = malloc(STORE_CODEC_MAX_STRING + 1);
    assert_non_null(half);
    memset(half, 'y', STORE_CODEC_MAX_STRING);
    half[STORE_CODEC_MAX_STRING] = '\0';
    for (unsigned i = 0; i < STORE_CODEC_MAX_TEXT / STORE_CODEC_MAX_STRING + 1; i++)
        assert_int_equal(store_contact_set(&add_contact(r, half, NOW)->path, NULL), 0);
    assert_null(store_reg_encode(r));
    store_reg_free(r);
    free(half);
}

/* Text that is no record. */
static void decode_refuses_non_records(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        " ",
        "[]",
        "1",
        "\"impi\"",
        "null",
        "true",
        "{}",
        "{\"v\":1}",
        "{\"v\":2,\"impi\":\"a\",\"impus\":[],\"barred\":[],\"profile\":null,\"scheme\":null,"
        "\"server_name\":null,\"contacts\":[],\"subs\":[]}",
        "{\"v\":\"1\"}",
        "{\"v\":1.0}",
        "\xff\xfe",
        "{\"v\":1,,}",
        "{'v':1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(bad[i]);
    assert_null(store_reg_decode(NULL, 0, NULL, 0)); /* no room for a reason: still NULL */
    char err[8];
    assert_null(store_reg_decode("x", 1, err, sizeof err));
    assert_true(strlen(err) < sizeof err);
}

/* The valid minimal text with one field's value replaced: each must be refused. */
#define MINIMAL_HEAD "{\"v\":1,"
#define CONTACT_OK                                                                                 \
    "{\"uri\":\"sip:c\",\"params\":null,\"instance\":null,\"reg_id\":0,\"path\":null,"             \
    "\"received\":null,\"call_id\":null,\"cseq\":0,\"user_agent\":null,\"expires_at\":0,"          \
    "\"registered_at\":0}"
#define SUB_OK                                                                                     \
    "{\"call_id\":null,\"local_tag\":null,\"remote_tag\":null,\"local_uri\":null,"                 \
    "\"remote_uri\":null,\"target\":null,\"route_set\":null,\"impu\":null,\"subscriber\":null,"    \
    "\"cseq\":0,\"version\":0,\"expires_at\":0}"

static char *with(const char *impi, const char *impus, const char *contact, const char *sub)
{
    char *t = NULL;
    assert_true(asprintf(&t,
                         MINIMAL_HEAD "\"impi\":%s,\"impus\":%s,\"barred\":[],\"profile\":null,"
                                      "\"scheme\":null,\"server_name\":null,\"contacts\":[%s],"
                                      "\"subs\":[%s]}",
                         impi, impus, contact, sub) > 0);
    return t;
}

static void decode_refuses_wrong_values(void **state)
{
    (void)state;
    char *ok = with("\"a\"", "[\"sip:a\"]", CONTACT_OK, SUB_OK);
    char err[128];
    store_reg_t *r = store_reg_decode(ok, strlen(ok), err, sizeof err);
    if (!r)
        fail_msg("the valid base refused: %s", err);
    store_reg_free(r);
    free(ok);

    const char *impis[] = {
        "1",
        "null",
        "[]",
        "{}",
        "\"a\\u0000b\"",
        "{\"hex\":\"6100\"}",
        "{\"hex\":\"616\"}",
        "{\"hex\":\"6g\"}",
        "{\"hex\":1}",
        "{\"hex\":\"61\",\"x\":1}",
        "{\"bin\":\"61\"}",
        "\"\\ud800\"", /* a lone surrogate */
    };
    for (size_t i = 0; i < sizeof impis / sizeof impis[0]; i++) {
        char *t = with(impis[i], "[]", CONTACT_OK, SUB_OK);
        assert_refused(t);
        free(t);
    }
    const char *impus[] = {"null", "\"sip:a\"", "[1]", "[null]", "[[]]", "{}"};
    for (size_t i = 0; i < sizeof impus / sizeof impus[0]; i++) {
        char *t = with("\"a\"", impus[i], CONTACT_OK, SUB_OK);
        assert_refused(t);
        free(t);
    }
    /* Numbers: wrong type, negative where unsigned, past their C type, past 64 bits. */
    const char *contacts[] = {
        "1", "null", "[]", "{\"uri\":1}", CONTACT_OK "," CONTACT_OK "," CONTACT_OK ",7",
    };
    for (size_t i = 0; i < sizeof contacts / sizeof contacts[0]; i++) {
        char *t = with("\"a\"", "[]", contacts[i], SUB_OK);
        assert_refused(t);
        free(t);
    }
    const struct {
        const char *from, *to;
    } swaps[] = {
        {"\"cseq\":0", "\"cseq\":-1"},
        {"\"cseq\":0", "\"cseq\":4294967296"},
        {"\"cseq\":0", "\"cseq\":\"1\""},
        {"\"cseq\":0", "\"cseq\":1.5"},
        {"\"cseq\":0", "\"cseq\":null"},
        {"\"reg_id\":0", "\"reg_id\":2147483648"},
        {"\"reg_id\":0", "\"reg_id\":-2147483649"},
        {"\"expires_at\":0", "\"expires_at\":99999999999999999999999"},
        {"\"expires_at\":0", "\"expires_at\":1e300"},
        {"\"expires_at\":0", "\"expires_at\":true"},
        {"\"registered_at\":0", "\"registered_at\":-9223372036854775809"},
        {"\"uri\":\"sip:c\"", "\"uri\":[\"sip:c\"]"},
        {"\"uri\":\"sip:c\"", "\"uri\":\"sip:\\u0000c\""},
    };
    for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
        char contact[1024];
        const char *at = strstr(CONTACT_OK, swaps[i].from);
        assert_non_null(at);
        snprintf(contact, sizeof contact, "%.*s%s%s", (int)(at - CONTACT_OK), CONTACT_OK,
                 swaps[i].to, at + strlen(swaps[i].from));
        char *t = with("\"a\"", "[]", contact, SUB_OK);
        assert_refused(t);
        free(t);
    }
    const char *subs[] = {
        "1",
        "{}",
        SUB_OK ",null",
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char *t = with("\"a\"", "[]", CONTACT_OK, subs[i]);
        assert_refused(t);
        free(t);
    }
    char sub[1024];
    const char *at = strstr(SUB_OK, "\"version\":0");
    snprintf(sub, sizeof sub, "%.*s\"version\":-5%s", (int)(at - SUB_OK), SUB_OK, at + 11);
    char *t = with("\"a\"", "[]", CONTACT_OK, sub);
    assert_refused(t);
    free(t);
    /* A key twice; something after the object; a NUL byte inside the text or at its end. */
    t = with("\"a\"", "[]", CONTACT_OK, SUB_OK);
    size_t n = strlen(t);
    assert_refused_len(t, n + 1); /* the terminating NUL counted in */
    char *twice = NULL;
    assert_true(asprintf(&twice, "{\"impi\":\"b\",%s", t + 1) > 0);
    assert_refused(twice);
    free(twice);
    char *after = NULL;
    assert_true(asprintf(&after, "%s x", t) > 0);
    assert_refused(after);
    free(after);
    char *nul = strdup(t);
    assert_non_null(nul);
    *strstr(nul, "\"a\"") = '\0'; /* a raw NUL where the IMPI's quote was */
    assert_refused_len(nul, n);
    free(nul);
    free(t);

    /* Keys it does not know are ignored (a later version's). */
    t = with("\"a\"", "[]", CONTACT_OK, SUB_OK);
    char *more = NULL;
    assert_true(asprintf(&more, "{\"later\":{\"x\":[1,2]},%s", t + 1) > 0);
    assert_non_null((r = store_reg_decode(more, strlen(more), err, sizeof err)));
    store_reg_free(r);
    free(more);
    free(t);
}

/* Each key of the record, of its first contact and of its first subscription left out. */
static void decode_refuses_missing_fields(void **state)
{
    (void)state;
    char *text = encoded_full();
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    json_t *parts[] = {o, json_array_get(json_object_get(o, "contacts"), 0),
                       json_array_get(json_object_get(o, "subs"), 0)};
    size_t tried = 0;
    for (size_t p = 0; p < 3; p++) {
        assert_non_null(parts[p]);
        /* The names first: a key put back goes to the end, so no iteration over the object. */
        char *names[16];
        size_t nnames = 0;
        const char *key;
        json_t *value;
        json_object_foreach(parts[p], key, value)
        {
            assert_true(nnames < 16);
            assert_non_null((names[nnames++] = strdup(key)));
        }
        for (size_t k = 0; k < nnames; k++) {
            if (p == 0 && strcmp(names[k], "hss") == 0) {
                free(names[k]); /* optional: decode_takes_records_without_hss */
                continue;
            }
            value = json_incref(json_object_get(parts[p], names[k]));
            json_object_del(parts[p], names[k]);
            char *without = json_dumps(o, JSON_COMPACT);
            assert_non_null(without);
            assert_refused(without);
            free(without);
            json_object_set_new(parts[p], names[k], value);
            free(names[k]);
            tried++;
        }
    }
    assert_int_equal(tried, 9 + 11 + 12);
    json_decref(o);
    free(text);
}

/* Records written before "hss" existed (a journal, Redis) still decode, without one. */
static void decode_takes_records_without_hss(void **state)
{
    (void)state;
    char *text = encoded_full();
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_object_del(o, "hss"), 0);
    char *without = json_dumps(o, JSON_COMPACT);
    assert_non_null(without);
    char err[128] = "";
    store_reg_t *r = decode_exact(without, strlen(without), err, sizeof err);
    if (!r)
        fail_msg("refused: %s", err);
    assert_null(r->hss);
    assert_string_equal(r->server_name, "sip:scscf.ims.example:6060");
    store_reg_free(r);
    free(without);
    json_decref(o);
    free(text);
}

static char *repeated(const char *head, const char *item, size_t n, const char *tail)
{
    size_t hl = strlen(head), il = strlen(item), tl = strlen(tail);
    char *t = malloc(hl + n * (il + 1) + tl + 1), *p = t;
    assert_non_null(t);
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, item, il);
        p += il;
    }
    memcpy(p, tail, tl + 1);
    return t;
}

/* Past each bound by one; and a text longer than the whole bound, refused unread. */
static void decode_refuses_over_the_bounds(void **state)
{
    (void)state;
    const char *tail = ",\"profile\":null,\"scheme\":null,\"server_name\":null,\"contacts\":[],"
                       "\"subs\":[]}";
    char *t = repeated("{\"v\":1,\"impi\":\"a\",\"barred\":[],\"impus\":[", "\"i\"",
                       STORE_CODEC_MAX_IMPUS + 1, "]");
    char *full = NULL;
    assert_true(asprintf(&full, "%s%s", t, tail) > 0);
    assert_refused(full);
    free(full);
    free(t);
    t = repeated("{\"v\":1,\"impi\":\"a\",\"impus\":[],\"barred\":[", "\"i\"",
                 STORE_CODEC_MAX_IMPUS + 1, "]");
    assert_true(asprintf(&full, "%s%s", t, tail) > 0);
    assert_refused(full);
    free(full);
    free(t);
    t = repeated("{\"v\":1,\"impi\":\"a\",\"impus\":[],\"barred\":[],\"profile\":null,"
                 "\"scheme\":null,\"server_name\":null,\"subs\":[],\"contacts\":[",
                 CONTACT_OK, STORE_CODEC_MAX_CONTACTS + 1, "]}");
    assert_refused(t);
    free(t);
    t = repeated("{\"v\":1,\"impi\":\"a\",\"impus\":[],\"barred\":[],\"profile\":null,"
                 "\"scheme\":null,\"server_name\":null,\"contacts\":[],\"subs\":[",
                 SUB_OK, STORE_CODEC_MAX_SUBS + 1, "]}");
    assert_refused(t);
    free(t);

    /* One string a byte too long, as text and as hex. */
    char *big = malloc(2 * STORE_CODEC_MAX_STRING + 8);
    assert_non_null(big);
    big[0] = '"';
    memset(big + 1, 'x', STORE_CODEC_MAX_STRING + 1);
    strcpy(big + 2 + STORE_CODEC_MAX_STRING, "\"");
    t = with(big, "[]", CONTACT_OK, SUB_OK);
    assert_refused(t);
    free(t);
    free(big);

    char *hex = malloc(2 * STORE_CODEC_MAX_STRING + 16);
    assert_non_null(hex);
    strcpy(hex, "{\"hex\":\"");
    memset(hex + 8, '7', 2 * STORE_CODEC_MAX_STRING + 2);
    strcpy(hex + 8 + 2 * STORE_CODEC_MAX_STRING + 2, "\"}");
    t = with(hex, "[]", CONTACT_OK, SUB_OK);
    assert_refused(t);
    free(t);
    free(hex);

    /* Longer than the bound: refused before it is parsed. */
    size_t n = STORE_CODEC_MAX_TEXT + 1;
    char *huge = malloc(n);
    assert_non_null(huge);
    memset(huge, ' ', n);
    char err[128] = "";
    assert_null(store_reg_decode(huge, n, err, sizeof err));
    assert_non_null(strstr(err, "too long"));
    free(huge);

    /* Nested deeper than anything sane. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    assert_refused(deep);
    free(deep);
}

/* Every prefix of a valid text fails (no prefix of an object is one); every one-byte change
 * fails or decodes to a record that encodes again. */
static void fuzz_prefixes_and_bytes(void **state)
{
    (void)state;
    char *text = encoded_full();
    size_t n = strlen(text);
    for (size_t len = 0; len < n; len++)
        assert_refused_len(text, len);
    static const char swaps[] = {'\0', '"', '\\', '{', '}', '[',  ']',        ',',       ':',
                                 '0',  '9', '-',  'x', ' ', '\n', (char)0x80, (char)0xff};
    size_t decoded = 0, refused = 0;
    char *copy = malloc(n);
    assert_non_null(copy);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof swaps; k++) {
            memcpy(copy, text, n);
            copy[i] = swaps[k];
            char err[128];
            store_reg_t *r = store_reg_decode(copy, n, err, sizeof err);
            if (r) {
                char *again = store_reg_encode(r);
                assert_non_null(again);
                free(again);
                store_reg_free(r);
                decoded++;
            } else {
                assert_true(err[0] != '\0');
                refused++;
            }
        }
    }
    print_message("  %zu one-byte changes: %zu decoded, %zu refused\n", decoded + refused, decoded,
                  refused);
    assert_true(decoded > 0 && refused > 0);
    free(copy);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(encode_refuses_what_cannot_come_back),
        cmocka_unit_test(decode_refuses_non_records),
        cmocka_unit_test(decode_refuses_wrong_values),
        cmocka_unit_test(decode_refuses_missing_fields),
        cmocka_unit_test(decode_takes_records_without_hss),
        cmocka_unit_test(decode_refuses_over_the_bounds),
        cmocka_unit_test(fuzz_prefixes_and_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
