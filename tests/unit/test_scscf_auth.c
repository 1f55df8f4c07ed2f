/* The S-CSCF's authentication pieces: Digest credentials parsing (hostile quoting included),
 * challenges from MAA vectors (single use, expiry), the 401 header, and the check of AKAv1,
 * AKAv2 and MD5 answers computed the way a handset does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sofia-sip/sip_header.h>

#include "common/auth/aka.h"
#include "common/util/hex.h"
#include "common/auth/milenage.h"
#include "common/auth/sip_digest.h"
#include "cscf/scscf/core/auth.h"

#define IMPI  "alice@ims.test"
#define IMPU  "sip:alice@ims.test"
#define REALM "ims.test"

static su_home_t home[1] = {SU_HOME_INIT(home)};

static sip_authorization_t *au(const char *value)
{
    sip_authorization_t *a = sip_authorization_make(home, value);
    assert_non_null(a);
    return a;
}

/* Refused either by sofia's header parser (the message never reaches us) or by ours. */
static void refused(const char *value)
{
    digest_creds_t c;
    sip_authorization_t *a = sip_authorization_make(home, value);
    if (a)
        assert_int_equal(digest_creds_parse(a, NULL, &c), -1);
}

static void parses_credentials(void **state)
{
    digest_creds_t c;
    assert_int_equal(digest_creds_parse(au("Digest username=\"" IMPI "\", realm=\"" REALM "\", "
                                           "nonce=\"abc\", uri=\"sip:ims.test\", response=\"\", "
                                           "integrity-protected=\"no\", auts=\"q\\\"x\""),
                                        REALM, &c),
                     0);
    assert_string_equal(c.username, IMPI);
    assert_string_equal(c.nonce, "abc");
    assert_string_equal(c.response, "");
    assert_string_equal(c.integrity_protected, "no");
    assert_string_equal(c.auts, "q\"x"); /* \-escape undone */
    /* hostile: an unterminated quote, text after the closing quote, no username */
    refused("Digest username=\"abc");
    refused("Digest username=\"a\"b");
    refused("Digest realm=\"x\"");
    refused("Basic dXNlcjpwdw==");
    char long_user[400];
    memset(long_user, 'a', sizeof long_user);
    long_user[sizeof long_user - 1] = '\0';
    char value[512];
    snprintf(value, sizeof value, "Digest username=\"%s\"", long_user);
    refused(value); /* does not fit */
}

/* TS 35.208 set 1 as the HSS would hand it over in an MAA. */
static void vector_item(cx_auth_item_t *it, aka_vector_t *v)
{
    uint8_t k[16], opc[16], rand[16], sqn[6], amf[2];
    hex_decode("465b5ce8b199b49faa5f0a2ee238a6bc", k, 16);
    hex_decode("cd63cb71954a9f4e48a5994e37a02baf", opc, 16);
    hex_decode("23553cbe9637a89d218ae64dae47bf35", rand, 16);
    hex_decode("ff9bb4d0b607", sqn, 6);
    hex_decode("b9b9", amf, 2);
    assert_int_equal(aka_vector_make(k, opc, rand, sqn, amf, v), 0);
    memset(it, 0, sizeof *it);
    it->scheme = "Digest-AKAv1-MD5";
    memcpy(it->authenticate, v->rand, 16);
    memcpy(it->authenticate + 16, v->autn, 16);
    it->authenticate_len = 32;
    memcpy(it->authorization, v->xres, 8);
    it->authorization_len = 8;
    memcpy(it->ck, v->ck, 16);
    memcpy(it->ik, v->ik, 16);
    it->has_ck = it->has_ik = 1;
}

/* The handset's side, written out from RFC 2617 with OpenSSL's MD5 directly. */
static void md5hex(const char *s, size_t len, char out[33])
{
    unsigned char md[16];
    unsigned n;
    EVP_Digest(s, len, md, &n, EVP_md5(), NULL);
    hex_encode(md, 16, out);
}

static void ue_response(const uint8_t *pw, size_t pwlen, const char *nonce, char out[33])
{
    char a1[512], ha1[33], ha2[33], all[512];
    int n = snprintf(a1, sizeof a1, "%s:%s:", IMPI, REALM);
    memcpy(a1 + n, pw, pwlen);
    md5hex(a1, (size_t)n + pwlen, ha1);
    md5hex("REGISTER:sip:ims.test", strlen("REGISTER:sip:ims.test"), ha2);
    n = snprintf(all, sizeof all, "%s:%s:00000001:0a4f113b:auth:%s", ha1, nonce, ha2);
    md5hex(all, (size_t)n, out);
}

static void creds(digest_creds_t *c, const char *nonce, const char *response)
{
    memset(c, 0, sizeof *c);
    strcpy(c->username, IMPI);
    strcpy(c->realm, REALM);
    snprintf(c->nonce, sizeof c->nonce, "%s", nonce);
    strcpy(c->uri, "sip:ims.test");
    snprintf(c->response, sizeof c->response, "%s", response);
    strcpy(c->qop, "auth");
    strcpy(c->nc, "00000001");
    strcpy(c->cnonce, "0a4f113b");
}

/* digest_param(): one parameter of the first Digest header, unquoted, whatever its case;
 * nothing from a Basic header, an absent parameter, or a value that does not fit. */
static void reads_one_digest_parameter(void **state)
{
    (void)state;
    char out[8];
    const sip_authorization_t *a = au("Digest NONCE=\"abc\", username=\"u\", realm=r");
    assert_int_equal(digest_param(a, "nonce", out, sizeof out), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(digest_param(a, "realm", out, sizeof out), 0);
    assert_string_equal(out, "r");
    assert_int_equal(digest_param(a, "cnonce", out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(digest_param(au("Basic dXNlcjpwdw=="), "nonce", out, sizeof out), -1);
    assert_int_equal(digest_param(au("Digest nonce=\"0123456789\""), "nonce", out, sizeof out), -1);
    assert_string_equal(out, "");
}

static void akav1_challenge_and_answer(void **state)
{
    auth_table_t t;
    cx_auth_item_t it;
    aka_vector_t v;
    assert_int_equal(auth_table_init(&t, 10, 30000), 0);
    vector_item(&it, &v);
    auth_challenge_t *c = auth_challenge_add(&t, &it, IMPI, IMPU, REALM, 0, 1000);
    assert_non_null(c);
    char nonce[64], hdr[512];
    assert_int_equal(aka_nonce_encode(v.rand, v.autn, nonce, sizeof nonce), 0);
    assert_string_equal(c->nonce, nonce);
    assert_int_equal(auth_www_authenticate(c, 0, hdr, sizeof hdr), 0);
    assert_non_null(strstr(hdr, "algorithm=AKAv1-MD5, qop=\"auth\""));
    assert_non_null(strstr(hdr, "ck=\"b40ba9a3c58b2a05bbf0d987b21bf8cb\""));
    assert_non_null(strstr(hdr, "ik=\"f769bcd751044604127672711c6d3441\""));

    char resp[33];
    digest_creds_t cr;
    ue_response(v.xres, 8, nonce, resp);
    creds(&cr, nonce, resp);
    auth_challenge_t *got = auth_challenge_take(&t, nonce, 2000);
    assert_non_null(got);
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), 0);
    cr.response[0] = cr.response[0] == '0' ? '1' : '0';
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), -1);
    creds(&cr, nonce, resp);
    strcpy(cr.username, "mallory@ims.test");
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), -1);
    creds(&cr, nonce, resp);
    cr.qop[0] = '\0';
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), -1); /* qop gone, nc and cnonce not */
    /* The RFC 2069 form (a handset profile's strip_qop): no qop, nc, cnonce at all. */
    char bare[33], ha1[33], ha2[33], a1[256], all[256];
    int n = snprintf(a1, sizeof a1, "%s:%s:", IMPI, REALM);
    memcpy(a1 + n, v.xres, 8);
    md5hex(a1, (size_t)n + 8, ha1);
    md5hex("REGISTER:sip:ims.test", strlen("REGISTER:sip:ims.test"), ha2);
    n = snprintf(all, sizeof all, "%s:%s:%s", ha1, nonce, ha2);
    md5hex(all, (size_t)n, bare);
    creds(&cr, nonce, bare);
    cr.qop[0] = cr.nc[0] = cr.cnonce[0] = '\0';
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), 0);
    cr.response[0] = cr.response[0] == '0' ? '1' : '0';
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), -1);
    free(got);
    /* single use */
    assert_null(auth_challenge_take(&t, nonce, 2000));
    auth_table_fini(&t);
}

static void challenges_expire(void **state)
{
    auth_table_t t;
    cx_auth_item_t it;
    aka_vector_t v;
    assert_int_equal(auth_table_init(&t, 1, 30000), 0);
    vector_item(&it, &v);
    auth_challenge_t *c = auth_challenge_add(&t, &it, IMPI, IMPU, REALM, 0, 0);
    assert_non_null(c);
    char nonce[64];
    strcpy(nonce, c->nonce);
    it.authenticate[0] ^= 1; /* another vector: the table is full */
    assert_null(auth_challenge_add(&t, &it, IMPI, IMPU, REALM, 0, 0));
    assert_int_equal(auth_table_expire(&t, 29999), 0);
    assert_null(auth_challenge_take(&t, nonce, 30000)); /* taken too late */
    assert_int_equal(auth_table_expire(&t, 40000), 0);
    auth_table_fini(&t);
}

static void akav2_and_md5_answers(void **state)
{
    auth_table_t t;
    cx_auth_item_t it;
    aka_vector_t v;
    assert_int_equal(auth_table_init(&t, 10, 30000), 0);
    vector_item(&it, &v);
    it.scheme = "Digest-AKAv2-MD5";
    auth_challenge_t *c = auth_challenge_add(&t, &it, IMPI, IMPU, REALM, 0, 0);
    assert_non_null(c);
    char pw[32], resp[33], nonce[64];
    assert_int_equal(aka_v2_password(v.xres, 8, v.ik, v.ck, pw, sizeof pw), 0);
    strcpy(nonce, c->nonce);
    ue_response((const uint8_t *)pw, strlen(pw), nonce, resp);
    digest_creds_t cr;
    creds(&cr, nonce, resp);
    auth_challenge_t *got = auth_challenge_take(&t, nonce, 1);
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), 0);
    free(got);

    /* MD5: the HSS gives HA1 = MD5(impi:realm:password) */
    memset(&it, 0, sizeof it);
    it.scheme = "SIP Digest";
    char a1[128], ha1[33];
    snprintf(a1, sizeof a1, "%s:%s:secret", IMPI, REALM);
    md5hex(a1, strlen(a1), ha1);
    it.digest_ha1 = ha1;
    it.digest_realm = REALM;
    c = auth_challenge_add(&t, &it, IMPI, IMPU, "other.realm", 0, 0);
    assert_non_null(c);
    assert_string_equal(c->realm, REALM); /* HA1's realm wins */
    char hdr[512];
    assert_int_equal(auth_www_authenticate(c, 1, hdr, sizeof hdr), 0);
    assert_null(strstr(hdr, "ck="));
    assert_non_null(strstr(hdr, "stale=TRUE"));
    strcpy(nonce, c->nonce);
    ue_response((const uint8_t *)"secret", 6, nonce, resp);
    creds(&cr, nonce, resp);
    got = auth_challenge_take(&t, nonce, 1);
    assert_int_equal(auth_verify(got, &cr, "REGISTER"), 0);
    free(got);
    auth_table_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_credentials),         cmocka_unit_test(reads_one_digest_parameter),
        cmocka_unit_test(akav1_challenge_and_answer), cmocka_unit_test(challenges_expire),
        cmocka_unit_test(akav2_and_md5_answers),
    };
    int rc = cmocka_run_group_tests_name("scscf_auth", tests, NULL, NULL);
    su_home_deinit(home);
    return rc;
}
