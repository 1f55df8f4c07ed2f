/* milenage.c and aka.c against 3GPP TS 35.208 test sets 1-20 (tests/data/milenage), the issue's
 * AUTN for set 1, AUTS resynchronisation, RFC 2617's digest example and hostile nonces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/auth/aka.h"
#include "common/util/hex.h"
#include "common/auth/milenage.h"

typedef struct set {
    int n;
    uint8_t k[16], rand[16], sqn[6], amf[2], op[16], opc[16], mac_a[8], mac_s[8], res[8], ck[16],
        ik[16], ak[6], ak_star[6];
} set_t;

static set_t sets[32];
static int nsets;

static void field(char **save, uint8_t *out, size_t n)
{
    char *tok = strtok_r(NULL, "\t\r\n", save);
    assert_non_null(tok);
    assert_int_equal(hex_decode(tok, out, n), 0);
}

static int load_vectors(void **state)
{
    /* Relative to the repository root, where make runs the unit tests. */
    const char *path = "tests/data/milenage/ts35208_sets.tsv";
    char line[1024];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s from the repository root: TS 35.208 sets required\n", path);
        return -1;
    }
    while (fgets(line, sizeof line, f) && nsets < 32) {
        char *save, *tok = strtok_r(line, "\t", &save);
        if (!tok || strcmp(tok, "set") == 0)
            continue;
        set_t *s = &sets[nsets++];
        s->n = atoi(tok);
        field(&save, s->k, 16);
        field(&save, s->rand, 16);
        field(&save, s->sqn, 6);
        field(&save, s->amf, 2);
        field(&save, s->op, 16);
        field(&save, s->opc, 16);
        field(&save, s->mac_a, 8);
        field(&save, s->mac_s, 8);
        field(&save, s->res, 8);
        field(&save, s->ck, 16);
        field(&save, s->ik, 16);
        field(&save, s->ak, 6);
        field(&save, s->ak_star, 6);
    }
    fclose(f);
    return nsets == 20 ? 0 : -1;
}

static void all_sets(void **state)
{
    for (int i = 0; i < nsets; i++) {
        const set_t *s = &sets[i];
        uint8_t opc[16], mac_a[8], mac_s[8], res[8], ck[16], ik[16], ak[6], ak_star[6];
        assert_int_equal(milenage_opc(s->k, s->op, opc), 0);
        assert_memory_equal(opc, s->opc, 16);
        assert_int_equal(milenage_f1(s->k, opc, s->rand, s->sqn, s->amf, mac_a, mac_s), 0);
        assert_memory_equal(mac_a, s->mac_a, 8);
        assert_memory_equal(mac_s, s->mac_s, 8);
        assert_int_equal(milenage_f2345(s->k, opc, s->rand, res, ck, ik, ak, ak_star), 0);
        assert_memory_equal(res, s->res, 8);
        assert_memory_equal(ck, s->ck, 16);
        assert_memory_equal(ik, s->ik, 16);
        assert_memory_equal(ak, s->ak, 6);
        assert_memory_equal(ak_star, s->ak_star, 6);
    }
}

static void set1_autn(void **state)
{
    const set_t *s = &sets[0];
    aka_vector_t v;
    assert_int_equal(s->n, 1);
    assert_int_equal(aka_vector_make(s->k, s->opc, s->rand, s->sqn, s->amf, &v), 0);
    char hex[33];
    hex_encode(v.autn, 16, hex);
    assert_string_equal(hex, "55f328b43577b9b94a9ffac354dfafb3");
    assert_memory_equal(v.xres, s->res, 8);
    assert_memory_equal(v.ck, s->ck, 16);
}

static void auts_round_trip(void **state)
{
    for (int i = 0; i < nsets; i++) {
        const set_t *s = &sets[i];
        uint8_t auts[14], sqn_ms[6];
        assert_int_equal(aka_auts_make(s->k, s->opc, s->rand, s->sqn, auts), 0);
        assert_int_equal(aka_auts_verify(s->k, s->opc, s->rand, auts, sqn_ms), 0);
        assert_memory_equal(sqn_ms, s->sqn, 6);
        /* the SQN is hidden by AK*: with RAND and keys of the set, AUTS[0..5] = SQN xor AK* */
        for (int b = 0; b < 6; b++)
            assert_int_equal(auts[b], s->sqn[b] ^ s->ak_star[b]);
        auts[13] ^= 1;
        memset(sqn_ms, 0xee, 6);
        assert_int_equal(aka_auts_verify(s->k, s->opc, s->rand, auts, sqn_ms), -1);
        assert_int_equal(sqn_ms[0], 0xee); /* untouched on failure */
    }
}

static void rfc2617_example(void **state)
{
    char out[33];
    const char *pw = "Circle Of Life";
    aka_digest_response("Mufasa", "testrealm@host.com", (const uint8_t *)pw, strlen(pw), "GET",
                        "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001",
                        "0a4f113b", "auth", out);
    assert_string_equal(out, "6629fae49393a05397450978507c4ef1");
}

static void aka_password_is_raw_xres(void **state)
{
    /* RFC 3310: the password is the XRES bytes, which may hold any value, NUL included */
    const uint8_t xres[8] = {0x00, 0xff, 0x10, 0x00, 0x7f, 0x80, 0x01, 0x02};
    char a[33], b[33];
    aka_digest_response("u", "r", xres, 8, "REGISTER", "sip:r", "n", "00000001", "c", "auth", a);
    aka_digest_response("u", "r", xres, 1, "REGISTER", "sip:r", "n", "00000001", "c", "auth", b);
    assert_string_not_equal(a, b);
}

static void akav2_password_shape(void **state)
{
    const set_t *s = &sets[0];
    char pw[64], pw2[64];
    assert_int_equal(aka_v2_password(s->res, 8, s->ik, s->ck, pw, sizeof pw), 0);
    assert_int_equal(strlen(pw), 24); /* base64 of a 16-byte HMAC-MD5 */
    assert_int_equal(aka_v2_password(s->res, 8, s->ck, s->ik, pw2, sizeof pw2), 0);
    assert_string_not_equal(pw, pw2); /* the key order XRES || IK || CK matters */
    assert_int_equal(aka_v2_password(s->res, 8, s->ik, s->ck, pw2, 10), -1);
}

static void nonce_round_trip_and_hostile(void **state)
{
    const set_t *s = &sets[1];
    aka_vector_t v;
    assert_int_equal(aka_vector_make(s->k, s->opc, s->rand, s->sqn, s->amf, &v), 0);
    char nonce[64];
    uint8_t rand[16], autn[16];
    assert_int_equal(aka_nonce_encode(v.rand, v.autn, nonce, sizeof nonce), 0);
    assert_int_equal(strlen(nonce), 44);
    assert_int_equal(aka_nonce_decode(nonce, rand, autn), 0);
    assert_memory_equal(rand, v.rand, 16);
    assert_memory_equal(autn, v.autn, 16);
    const char *bad[] = {"", "abc", "====", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         /* found by tests/fuzz/fuzz_tokens.c: '=' inside, accepted by OpenSSL */
                         "EEEEEEEEEE44EEEEEEEEE444EEEEEEE=4EEEEEEE1EE=",
                         /* non-canonical: low bits set in the last character before '=' */
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(aka_nonce_decode(bad[i], rand, autn), -1);
    assert_int_equal(aka_nonce_decode(NULL, rand, autn), -1);
}

static void hex_helpers(void **state)
{
    uint8_t b[3];
    char s[7];
    assert_int_equal(hex_decode("0aFf10", b, 3), 0);
    hex_encode(b, 3, s);
    assert_string_equal(s, "0aff10");
    assert_int_equal(hex_decode("0aFf1", b, 3), -1);
    assert_int_equal(hex_decode("0aFf10aa", b, 3), -1);
    assert_int_equal(hex_decode("0aFg10", b, 3), -1);
    assert_int_equal(hex_decode(NULL, b, 3), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_sets),
        cmocka_unit_test(set1_autn),
        cmocka_unit_test(auts_round_trip),
        cmocka_unit_test(rfc2617_example),
        cmocka_unit_test(aka_password_is_raw_xres),
        cmocka_unit_test(akav2_password_shape),
        cmocka_unit_test(nonce_round_trip_and_hostile),
        cmocka_unit_test(hex_helpers),
    };
    return cmocka_run_group_tests(tests, load_vectors, NULL);
}
