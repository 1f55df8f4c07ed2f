/* Security agreement at the P-CSCF (cscf/pcscf/sec_agree.c): Security-Client lists as phones
 * send them read into offers, hostile entries refused one by one, the choice by our preference
 * (null encryption only when allowed), the Security-Server we send, its Security-Verify echo
 * compared by parameter, the sec-agree option tags, and the status a REGISTER gets by mode.
 * Headers go through sofia's parser, as in the pcscf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>

#include "cscf/pcscf/sec_agree.h"

/* A REGISTER with these extra header lines (each ending in CRLF), parsed by sofia. */
static msg_t *reg(const char *headers)
{
    char text[8192];
    snprintf(text, sizeof text,
             "REGISTER sip:ims.mnc001.mcc001.3gppnetwork.org SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
             "From: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>;tag=1\r\n"
             "To: <sip:001010000000001@ims.mnc001.mcc001.3gppnetwork.org>\r\n"
             "Call-ID: sa1\r\n"
             "CSeq: 1 REGISTER\r\n"
             "Contact: <sip:192.0.2.1:5060>\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             headers);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(msg);
    assert_non_null(sip_object(msg));
    return msg;
}

/* Security-Client header lines parsed into offers. */
static sec_agree_result_t client(const char *headers, sec_agree_offers_t *out)
{
    msg_t *msg = reg(headers);
    sec_agree_result_t r = sec_agree_parse_client(sip_object(msg)->sip_security_client, out);
    msg_destroy(msg);
    return r;
}

#define SC "Security-Client: "

static void parses_a_phones_offer(void **state)
{
    sec_agree_offers_t o;
    assert_int_equal(client(SC "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=12345678;"
                               "spi-s=87654321;port-c=5062;port-s=5064\r\n",
                            &o),
                     SEC_AGREE_OK);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.refused, 0);
    assert_string_equal(o.reason, "");
    assert_int_equal(o.offer[0].alg, IPSEC_ALG_HMAC_SHA1_96);
    assert_int_equal(o.offer[0].ealg, IPSEC_EALG_AES_CBC);
    assert_int_equal(o.offer[0].spi_c, 12345678);
    assert_int_equal(o.offer[0].spi_s, 87654321);
    assert_int_equal(o.offer[0].port_c, 5062);
    assert_int_equal(o.offer[0].port_s, 5064);
    assert_int_equal(o.offer[0].q, SEC_AGREE_Q_NONE);
}

/* As VoLTE phones send it: one entry per algorithm pair, spaces after the semicolons, q, prot
 * and mod spelt out, ealg absent (null), another mechanism in front, and the extreme values. */
static void parses_a_list(void **state)
{
    sec_agree_offers_t o;
    assert_int_equal(
        client(SC "digest;d-alg=md5, ipsec-3gpp; alg=hmac-md5-96; spi-c=4294967295; spi-s=1; "
                  "port-c=65535; port-s=1; prot=esp; mod=trans; q=0.1\r\n" SC
                  "ipsec-3gpp;q=0.5;alg=HMAC-SHA-1-96;ealg=des-ede3-cbc;prot=ESP;mod=trans;"
                  "spi-c=3333;spi-s=4444;port-c=40000;port-s=40001;x-vendor=7\r\n",
               &o),
        SEC_AGREE_OK);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.ignored, 1);
    assert_int_equal(o.refused, 0);
    assert_int_equal(o.offer[0].alg, IPSEC_ALG_HMAC_MD5_96);
    assert_int_equal(o.offer[0].ealg, IPSEC_EALG_NULL);
    assert_int_equal(o.offer[0].spi_c, 4294967295u);
    assert_int_equal(o.offer[0].spi_s, 1);
    assert_int_equal(o.offer[0].port_c, 65535);
    assert_int_equal(o.offer[0].port_s, 1);
    assert_int_equal(o.offer[0].q, 100);
    assert_int_equal(o.offer[1].alg, IPSEC_ALG_HMAC_SHA1_96);
    assert_int_equal(o.offer[1].ealg, IPSEC_EALG_DES_EDE3_CBC);
    assert_int_equal(o.offer[1].q, 500);
    assert_int_equal(o.offer[1].port_s, 40001);
}

/* The refusal of a single entry (prefixed with a good one, which must survive it). */
static void refused(const char *params, const char *reason)
{
    char h[4096];
    snprintf(h, sizeof h,
             SC "ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4, ipsec-3gpp;%s\r\n",
             params);
    sec_agree_offers_t o;
    sec_agree_result_t r = client(h, &o);
    if (r != SEC_AGREE_OK || o.n != 1 || o.refused != 1 || strcmp(o.reason, reason) != 0)
        fail_msg("%s: result %d, %zu usable, %zu refused, reason \"%s\", want \"%s\"", params, r,
                 o.n, o.refused, o.reason, reason);
}

#define OK_REST "spi-c=1;spi-s=2;port-c=3;port-s=4"

static void refuses_hostile_offers(void **state)
{
    refused("ealg=aes-cbc;" OK_REST, "alg missing");
    refused("alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3", "port-s missing");
    refused("alg=hmac-md5-96;alg=hmac-sha-1-96;" OK_REST, "duplicate alg");
    refused("alg=hmac-md5-96;" OK_REST ";SPI-C=7", "duplicate spi-c");
    refused("alg;" OK_REST, "alg: no value");
    refused("alg=hmac-sha-256-128;" OK_REST, "alg: unsupported hmac-sha-256-128");
    refused("alg=hmac-md5-96;ealg=aes-gcm;" OK_REST, "ealg: unsupported aes-gcm");
    refused("alg=hmac-md5-96;spi-c=0;spi-s=2;port-c=3;port-s=4", "spi-c: zero");
    refused("alg=hmac-md5-96;spi-c=4294967296;spi-s=2;port-c=3;port-s=4", "spi-c: out of range");
    refused("alg=hmac-md5-96;spi-c=1;spi-s=99999999999;port-c=3;port-s=4", "spi-s: too long");
    refused("alg=hmac-md5-96;spi-c=1;spi-s=-2;port-c=3;port-s=4", "spi-s: not a number");
    refused("alg=hmac-md5-96;spi-c=\"1\";spi-s=2;port-c=3;port-s=4", "spi-c: not a number");
    refused("alg=hmac-md5-96;spi-c=0x10;spi-s=2;port-c=3;port-s=4", "spi-c: not a number");
    refused("alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=65536;port-s=4", "port-c: out of range");
    refused("alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=0", "port-s: zero");
    refused("alg=hmac-md5-96;" OK_REST ";prot=ah", "prot: only esp");
    refused("alg=hmac-md5-96;" OK_REST ";mod=tun", "mod: only trans");
    refused("alg=hmac-md5-96;" OK_REST ";q=2", "q: malformed");
    refused("alg=hmac-md5-96;" OK_REST ";q=1.5", "q: malformed");
    refused("alg=hmac-md5-96;" OK_REST ";q=0.1234", "q: malformed");
    refused("alg=hmac-md5-96;" OK_REST ";q=0.x", "q: malformed");
    refused("alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s="
            "0000000000000000000000000000000000000004",
            "port-s: too long");
    refused("alg=hmac-md5-"
            "96aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;" OK_REST,
            "alg: too long");
}

static void nothing_usable(void **state)
{
    sec_agree_offers_t o;
    /* no Security-Client at all */
    assert_int_equal(client("", &o), SEC_AGREE_ABSENT);
    assert_int_equal(o.n + o.refused + o.ignored, 0);
    /* other mechanisms only */
    assert_int_equal(client(SC "tls;q=0.2, digest;d-alg=md5;d-qop=auth\r\n", &o), SEC_AGREE_ABSENT);
    assert_int_equal(o.ignored, 2);
    /* garbage sofia does not parse as a Security-Client: as good as none */
    assert_int_equal(client(SC ";;=,\"\r\n", &o), SEC_AGREE_ABSENT);
    assert_int_equal(o.n, 0);
    /* ipsec-3gpp, every entry refused: the first reason kept */
    assert_int_equal(client(SC "ipsec-3gpp;alg=hmac-md5-96;spi-c=0;spi-s=2;port-c=3;port-s=4, "
                               "ipsec-3gpp;alg=des;" OK_REST ", ipsec-3gpp\r\n",
                            &o),
                     SEC_AGREE_UNUSABLE);
    assert_int_equal(o.n, 0);
    assert_int_equal(o.refused, 3);
    assert_string_equal(o.reason, "spi-c: zero");
    /* more entries than we keep: the rest refused, the first ones usable */
    char h[8192] = SC;
    for (int i = 0; i < SEC_AGREE_MAX_OFFERS + 3; i++)
        strcat(h, "ipsec-3gpp;alg=hmac-md5-96;" OK_REST ",");
    strcpy(h + strlen(h) - 1, "\r\n");
    assert_int_equal(client(h, &o), SEC_AGREE_OK);
    assert_int_equal(o.n, SEC_AGREE_MAX_OFFERS);
    assert_int_equal(o.refused, 3);
    assert_string_equal(o.reason, "more than 16 offers");
}

static void names_both_ways(void **state)
{
    ipsec_alg_t a;
    ipsec_ealg_t e;
    assert_int_equal(ipsec_alg_from_name("HMAC-MD5-96", &a), 0);
    assert_int_equal(a, IPSEC_ALG_HMAC_MD5_96);
    assert_string_equal(ipsec_alg_name(a), "hmac-md5-96");
    assert_int_equal(ipsec_alg_from_name("hmac-sha-1", &a), -1);
    assert_int_equal(ipsec_alg_from_name(NULL, &a), -1);
    assert_int_equal(ipsec_ealg_from_name("des-ede3-cbc", &e), 0);
    assert_int_equal(e, IPSEC_EALG_DES_EDE3_CBC);
    assert_string_equal(ipsec_ealg_name(IPSEC_EALG_NULL), "null");
    assert_int_equal(ipsec_ealg_from_name("aes", &e), -1);
    assert_null(ipsec_alg_name((ipsec_alg_t)2));
    assert_null(ipsec_ealg_name((ipsec_ealg_t)-1));
}

/* Offers of all 2 x 3 pairs, sha-1 ones with q. */
static const char *ALL_PAIRS =
    SC "ipsec-3gpp;alg=hmac-md5-96;spi-c=11;spi-s=12;port-c=5062;port-s=5064, "
       "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=11;spi-s=12;port-c=5062;port-s=5064;q=0.9, "
       "ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;spi-c=11;spi-s=12;port-c=5062;port-s=5064, "
       "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=11;spi-s=12;port-c=5062;port-s=5064;q=0.1, "
       "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=11;spi-s=12;port-c=5062;port-s=5064;q=0.5, "
       "ipsec-3gpp;alg=hmac-md5-96;ealg=des-ede3-cbc;spi-c=11;spi-s=12;port-c=5062;port-s=5064\r\n";

static void chooses_by_preference(void **state)
{
    sec_agree_offers_t o;
    assert_int_equal(client(ALL_PAIRS, &o), SEC_AGREE_OK);
    assert_int_equal(o.n, 6);
    const sec_agree_pref_t prefs[] = {
        {IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_NULL},
        {IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_AES_CBC},
        {IPSEC_ALG_HMAC_MD5_96, IPSEC_EALG_DES_EDE3_CBC},
    };
    /* null not allowed: sha-1/aes-cbc, the one with the higher q */
    sec_agree_policy_t pol = {prefs, 3, 0};
    assert_int_equal(sec_agree_choose(&o, &pol), 4);
    /* allowed: the first preference wins over the UE's q */
    pol.allow_null = 1;
    assert_int_equal(sec_agree_choose(&o, &pol), 1);
    /* our order, not the UE's */
    pol.prefs = prefs + 2;
    pol.n = 1;
    assert_int_equal(sec_agree_choose(&o, &pol), 5);
}

static void null_refused_unless_allowed(void **state)
{
    sec_agree_offers_t o;
    assert_int_equal(client(SC "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;" OK_REST
                               ", ipsec-3gpp;alg=hmac-md5-96;" OK_REST "\r\n",
                            &o),
                     SEC_AGREE_OK);
    const sec_agree_pref_t prefs[] = {
        {IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_AES_CBC},
        {IPSEC_ALG_HMAC_MD5_96, IPSEC_EALG_NULL},
        {IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_NULL},
    };
    sec_agree_policy_t pol = {prefs, 3, 0};
    assert_int_equal(sec_agree_choose(&o, &pol), -1); /* the caller answers 494 */
    pol.allow_null = 1;
    assert_int_equal(sec_agree_choose(&o, &pol), 1);
    pol.n = 0;
    assert_int_equal(sec_agree_choose(&o, &pol), -1);
}

static const sec_agree_server_t SENT = {
    IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_AES_CBC, 0x10203040, 4000000000u, 5100, 5101, 100};

static void builds_security_server(void **state)
{
    char buf[256];
    int n = sec_agree_server_value(&SENT, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(buf, "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;"
                             "spi-c=270544960;spi-s=4000000000;port-c=5100;port-s=5101;q=0.1");
    sec_agree_server_t s = SENT;
    s.ealg = IPSEC_EALG_NULL;
    s.alg = IPSEC_ALG_HMAC_MD5_96;
    s.q = SEC_AGREE_Q_NONE;
    assert_true(sec_agree_server_value(&s, buf, sizeof buf) > 0);
    assert_string_equal(buf, "ipsec-3gpp;alg=hmac-md5-96;ealg=null;prot=esp;mod=trans;"
                             "spi-c=270544960;spi-s=4000000000;port-c=5100;port-s=5101");
    const int qs[] = {1000, 0, 5, 120};
    const char *want[] = {";q=1", ";q=0", ";q=0.005", ";q=0.12"};
    for (size_t i = 0; i < 4; i++) {
        s.q = qs[i];
        assert_true(sec_agree_server_value(&s, buf, sizeof buf) > 0);
        assert_non_null(strstr(buf, want[i]));
        assert_string_equal(strstr(buf, want[i]), want[i]);
    }
    /* what we would refuse from a UE, we never send */
    s = SENT;
    s.spi_pc = 0;
    assert_int_equal(sec_agree_server_value(&s, buf, sizeof buf), -1);
    s = SENT;
    s.port_ps = 0;
    assert_int_equal(sec_agree_server_value(&s, buf, sizeof buf), -1);
    s = SENT;
    s.q = 1001;
    assert_int_equal(sec_agree_server_value(&s, buf, sizeof buf), -1);
    s = SENT;
    s.ealg = (ipsec_ealg_t)3;
    assert_int_equal(sec_agree_server_value(&s, buf, sizeof buf), -1);
    /* too small a buffer */
    assert_int_equal(sec_agree_server_value(&SENT, buf, 40), -1);
}

/* Security-Verify header lines against SENT. */
static int verify(const char *headers, char *why, size_t whylen)
{
    msg_t *msg = reg(headers);
    int r = sec_agree_verify(sip_object(msg)->sip_security_verify, &SENT, why, whylen);
    msg_destroy(msg);
    return r;
}

#define SV "Security-Verify: "

static void verify_equal(void **state)
{
    char why[128];
    /* our Security-Server echoed as is */
    char h[512], value[256];
    assert_true(sec_agree_server_value(&SENT, value, sizeof value) > 0);
    snprintf(h, sizeof h, SV "%s\r\n", value);
    assert_int_equal(verify(h, why, sizeof why), 0);
    assert_string_equal(why, "");
    /* reordered, other case, spaces, q spelt differently: the same parameters */
    assert_int_equal(verify(SV "IPSEC-3GPP; q=0.100; port-s=5101; port-c=5100; spi-s=4000000000;"
                               " spi-c=270544960; MOD=trans; prot=esp; ealg=AES-CBC;"
                               " alg=hmac-sha-1-96\r\n",
                            why, sizeof why),
                     0);
}

static void verify_different(void **state)
{
    char why[128];
    struct {
        const char *h, *why;
    } cases[] = {
        {"", "no Security-Verify"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5102;q=0.1\r\n",
         "port-s differs"},
        {SV "ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5101;q=0.1\r\n",
         "alg differs"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5101;q=0.1\r\n",
         "ealg differs"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544961;"
            "spi-s=4000000000;port-c=5100;port-s=5101;q=0.1\r\n",
         "spi-c differs"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5101;q=0.2\r\n",
         "q differs"},
        /* ealg left out: null by default, but not what we sent */
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5101;q=0.1\r\n",
         "parameters missing or added"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5101;q=0.1;x=1\r\n",
         "parameters missing or added"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5101\r\n",
         "parameters missing or added"},
        /* a second mechanism, ours or not */
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=5101;q=0.1, tls\r\n",
         "not the one ipsec-3gpp mechanism we sent"},
        {SV "digest;d-alg=md5\r\n", "not the one ipsec-3gpp mechanism we sent"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;spi-s=4000000000;port-c=5100;port-s=5101;q=0.1\r\n",
         "malformed: duplicate spi-s"},
        {SV "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=270544960;"
            "spi-s=4000000000;port-c=5100;port-s=99999;q=0.1\r\n",
         "malformed: port-s: out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strcpy(why, "unset");
        if (verify(cases[i].h, why, sizeof why) != -1 || strcmp(why, cases[i].why) != 0)
            fail_msg("case %zu: why \"%s\", want \"%s\"", i, why, cases[i].why);
    }
}

static void option_tags(void **state)
{
    struct {
        const char *h;
        int required, supported;
    } cases[] = {
        {"Require: sec-agree\r\nProxy-Require: sec-agree\r\nSupported: path, sec-agree\r\n", 1, 1},
        {"Proxy-Require: sec-agree\r\n", 1, 0},
        {"Require: path, sec-agree\r\n", 1, 0},
        {"Supported: sec-agree\r\n", 0, 1},
        {"Require: path\r\nSupported: path, gruu\r\nProxy-Require: sec-agreement\r\n", 0, 0},
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msg_t *msg = reg(cases[i].h);
        int req = sec_agree_required(sip_object(msg));
        int sup = sec_agree_supported(sip_object(msg));
        msg_destroy(msg);
        if (!req != !cases[i].required || !sup != !cases[i].supported)
            fail_msg("case %zu: required %d supported %d", i, req, sup);
    }
}

static void modes(void **state)
{
    sec_agree_mode_t m = SEC_AGREE_MODE_OFF;
    assert_int_equal(sec_agree_mode_parse("required", &m), 0);
    assert_int_equal(m, SEC_AGREE_MODE_REQUIRED);
    assert_int_equal(sec_agree_mode_parse("optional", &m), 0);
    assert_int_equal(m, SEC_AGREE_MODE_OPTIONAL);
    assert_int_equal(sec_agree_mode_parse("off", &m), 0);
    assert_int_equal(m, SEC_AGREE_MODE_OFF);
    assert_int_equal(sec_agree_mode_parse("Off", &m), -1);
    assert_int_equal(sec_agree_mode_parse("on", &m), -1);
    assert_int_equal(sec_agree_mode_parse(NULL, &m), -1);
}

/* The status a REGISTER gets, mode by mode. */
static void decisions(void **state)
{
    enum { OFF = SEC_AGREE_MODE_OFF, OPT = SEC_AGREE_MODE_OPTIONAL, REQ = SEC_AGREE_MODE_REQUIRED };
    enum { OK = SEC_AGREE_OK, ABSENT = SEC_AGREE_ABSENT, UNUSABLE = SEC_AGREE_UNUSABLE };
    const struct {
        int mode, requires, supports, result, chosen, status, protect;
    } cases[] = {
        {OFF, 1, 1, OK, 0, 420, 0},        {OFF, 0, 1, OK, 0, 0, 0},
        {OFF, 0, 0, ABSENT, -1, 0, 0},     {OPT, 1, 1, OK, 2, 0, 1},
        {REQ, 1, 1, OK, 0, 0, 1},          {OPT, 1, 1, OK, -1, 494, 0},
        {REQ, 1, 1, OK, -1, 494, 0},       {OPT, 1, 1, UNUSABLE, -1, 494, 0},
        {REQ, 0, 0, UNUSABLE, -1, 494, 0}, {OPT, 0, 0, ABSENT, -1, 0, 0},
        {OPT, 0, 1, ABSENT, -1, 0, 0},     {OPT, 1, 0, ABSENT, -1, 494, 0},
        {REQ, 0, 1, ABSENT, -1, 494, 0},   {REQ, 1, 0, ABSENT, -1, 494, 0},
        {REQ, 0, 0, ABSENT, -1, 421, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sec_agree_decision_t d =
            sec_agree_decide((sec_agree_mode_t)cases[i].mode, cases[i].requires, cases[i].supports,
                             (sec_agree_result_t)cases[i].result, cases[i].chosen);
        if (d.status != cases[i].status || d.protect != cases[i].protect || !d.why)
            fail_msg("case %zu: status %d protect %d, want %d %d", i, d.status, d.protect,
                     cases[i].status, cases[i].protect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_a_phones_offer),
        cmocka_unit_test(parses_a_list),
        cmocka_unit_test(refuses_hostile_offers),
        cmocka_unit_test(nothing_usable),
        cmocka_unit_test(names_both_ways),
        cmocka_unit_test(chooses_by_preference),
        cmocka_unit_test(null_refused_unless_allowed),
        cmocka_unit_test(builds_security_server),
        cmocka_unit_test(verify_equal),
        cmocka_unit_test(verify_different),
        cmocka_unit_test(option_tags),
        cmocka_unit_test(modes),
        cmocka_unit_test(decisions),
    };
    return cmocka_run_group_tests_name("sec_agree", tests, NULL, NULL);
}
