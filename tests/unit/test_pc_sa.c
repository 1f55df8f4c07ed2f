/* The P-CSCF's SA sets as values (cscf/pcscf/pc_sa.c): ipsec.algorithms parsed, CK/IK read
 * from the registrar's 401, the set built from the UE's chosen offer with Annex I keys, the
 * Security-Server it implies and the Security-Verify matched against it, the pending table
 * (one pending set per UE: a second 401 replaces the first), and a binding's slots moving
 * TEMPORARY -> ACTIVE -> OLD -> removed (TS 33.203 7.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>

#include "cscf/pcscf/pc_sa.h"
#include "cscf/pcscf/reg_ipsec.h"

static const uint8_t CK[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                               0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t IK[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
                               0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};

/* A message with these header lines (each ending in CRLF), parsed by sofia. */
static msg_t *parse(const char *first, const char *headers)
{
    char text[8192];
    snprintf(text, sizeof text,
             "%s\r\n"
             "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
             "From: <sip:alice@ims.example>;tag=1\r\n"
             "To: <sip:alice@ims.example>\r\n"
             "Call-ID: pcsa1\r\n"
             "CSeq: 1 REGISTER\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             first, headers);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(msg);
    assert_non_null(sip_object(msg));
    return msg;
}

static void parses_algorithm_config(void **state)
{
    sec_agree_pref_t p[4];
    char err[200];
    const char *good[] = {"hmac-sha-1-96/aes-cbc", "HMAC-MD5-96/null", "hmac-md5-96/des-ede3-cbc"};
    assert_int_equal(pc_sa_parse_algorithms(good, 3, p, 4, err, sizeof err), 3);
    assert_int_equal(p[0].alg, IPSEC_ALG_HMAC_SHA1_96);
    assert_int_equal(p[0].ealg, IPSEC_EALG_AES_CBC);
    assert_int_equal(p[1].alg, IPSEC_ALG_HMAC_MD5_96);
    assert_int_equal(p[1].ealg, IPSEC_EALG_NULL);
    assert_int_equal(p[2].ealg, IPSEC_EALG_DES_EDE3_CBC);

    const char *bad[][1] = {{"hmac-sha-1-96"},
                            {"hmac-sha-256/aes-cbc"},
                            {"hmac-md5-96/aes-gcm"},
                            {"/aes-cbc"},
                            {"hmac-md5-96/"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (pc_sa_parse_algorithms(bad[i], 1, p, 4, err, sizeof err) != -1 ||
            !strstr(err, bad[i][0]))
            fail_msg("'%s' accepted or not named: %s", bad[i][0], err);
    }
    const char *twice[] = {"hmac-md5-96/null", "hmac-md5-96/NULL"};
    assert_int_equal(pc_sa_parse_algorithms(twice, 2, p, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(pc_sa_parse_algorithms(good, 0, p, 4, err, sizeof err), -1);
    assert_int_equal(pc_sa_parse_algorithms(good, 3, p, 2, err, sizeof err), -1);
}

static int ck_ik_of(const char *www, uint8_t ck[16], uint8_t ik[16])
{
    msg_t *m = parse("SIP/2.0 401 Unauthorized", www);
    int rc = pc_sa_ck_ik(sip_object(m)->sip_www_authenticate, ck, ik);
    msg_destroy(m);
    return rc;
}

#define WWW "WWW-Authenticate: Digest realm=\"ims.example\", nonce=\"abc\", algorithm=AKAv1-MD5"

static void reads_ck_ik(void **state)
{
    uint8_t ck[16], ik[16];
    assert_int_equal(ck_ik_of(WWW ", ck=\"00112233445566778899aabbccddeeff\", "
                                  "ik=\"ffeeddccbbaa99887766554433221100\"\r\n",
                              ck, ik),
                     0);
    assert_memory_equal(ck, CK, 16);
    assert_memory_equal(ik, IK, 16);
    /* Unquoted, upper case, in the second challenge of two. */
    assert_int_equal(ck_ik_of(WWW "\r\n" WWW ", ck=00112233445566778899AABBCCDDEEFF, "
                                  "ik=FFEEDDCCBBAA99887766554433221100\r\n",
                              ck, ik),
                     0);
    assert_memory_equal(ck, CK, 16);
    assert_memory_equal(ik, IK, 16);
    /* Missing, short, long, not hex: refused, nothing left in ck/ik. */
    assert_int_equal(ck_ik_of(WWW "\r\n", ck, ik), -1);
    assert_int_equal(ck_ik_of(WWW ", ck=\"00112233445566778899aabbccddeeff\"\r\n", ck, ik), -1);
    assert_int_equal(ck_ik_of(WWW ", ck=\"00112233445566778899aabbccddee\", "
                                  "ik=\"ffeeddccbbaa99887766554433221100\"\r\n",
                              ck, ik),
                     -1);
    assert_int_equal(ck_ik_of(WWW ", ck=\"00112233445566778899aabbccddeeff00\", "
                                  "ik=\"ffeeddccbbaa99887766554433221100\"\r\n",
                              ck, ik),
                     -1);
    assert_int_equal(ck_ik_of(WWW ", ck=\"0011223344556677889xaabbccddeeff\", "
                                  "ik=\"ffeeddccbbaa99887766554433221100\"\r\n",
                              ck, ik),
                     -1);
    static const uint8_t zero[16];
    assert_memory_equal(ck, zero, 16);
    assert_memory_equal(ik, zero, 16);
}

static const sec_agree_offer_t OFFER = {
    IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_AES_CBC, 1111, 2222, 5080, 5081, SEC_AGREE_Q_NONE};

static pc_sa_t set_of(const char *ue, uint16_t port_uc, uint32_t spi_pc, pc_sa_state_t st)
{
    pc_sa_t s;
    memset(&s, 0, sizeof s);
    sec_agree_offer_t o = OFFER;
    o.port_c = port_uc;
    assert_int_equal(pc_sa_make_set(&o, ue, 5062, 5063, spi_pc, spi_pc + 1, CK, IK, &s.set), 0);
    s.state = st;
    return s;
}

static void makes_a_set(void **state)
{
    ipsec_sa_set_t s;
    assert_int_equal(pc_sa_make_set(&OFFER, "10.1.2.2", 5062, 5063, 4096, 4097, CK, IK, &s), 0);
    assert_string_equal(s.ue_addr, "10.1.2.2");
    assert_int_equal(s.port_uc, 5080);
    assert_int_equal(s.port_us, 5081);
    assert_int_equal(s.spi_uc, 1111);
    assert_int_equal(s.spi_us, 2222);
    assert_int_equal(s.port_pc, 5062);
    assert_int_equal(s.port_ps, 5063);
    assert_int_equal(s.spi_pc, 4096);
    assert_int_equal(s.spi_ps, 4097);
    assert_int_equal(s.seq_out_uc, 0);
    /* Annex I: hmac-sha-1-96 key is IK || 32 zero bits, aes-cbc key is CK. */
    assert_int_equal(s.keys.alg, IPSEC_ALG_HMAC_SHA1_96);
    assert_int_equal(s.keys.ealg, IPSEC_EALG_AES_CBC);
    assert_int_equal(s.keys.auth_key_len, 20);
    assert_memory_equal(s.keys.auth_key, IK, 16);
    static const uint8_t zero4[4];
    assert_memory_equal(s.keys.auth_key + 16, zero4, 4);
    assert_int_equal(s.keys.enc_key_len, 16);
    assert_memory_equal(s.keys.enc_key, CK, 16);

    sec_agree_offer_t md5null = OFFER;
    md5null.alg = IPSEC_ALG_HMAC_MD5_96;
    md5null.ealg = IPSEC_EALG_NULL;
    assert_int_equal(pc_sa_make_set(&md5null, "10.1.2.2", 5062, 5063, 9, 10, CK, IK, &s), 0);
    assert_int_equal(s.keys.auth_key_len, 16);
    assert_memory_equal(s.keys.auth_key, IK, 16);
    assert_int_equal(s.keys.enc_key_len, 0);

    /* No SPI, no port, an address too long: refused. */
    assert_int_equal(pc_sa_make_set(&OFFER, "10.1.2.2", 5062, 5063, 0, 4097, CK, IK, &s), -1);
    assert_int_equal(pc_sa_make_set(&OFFER, "10.1.2.2", 0, 5063, 1, 2, CK, IK, &s), -1);
    char longaddr[100];
    memset(longaddr, '1', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = '\0';
    assert_int_equal(pc_sa_make_set(&OFFER, longaddr, 5062, 5063, 1, 2, CK, IK, &s), -1);
}

/* The Security-Server of a set, through the header text and back as a Security-Verify. */
static int verify_slot(const pc_sa_t slots[2], const char *ue, uint16_t port, const char *sv)
{
    char h[600];
    snprintf(h, sizeof h, "Security-Verify: %s\r\n", sv);
    msg_t *m = parse("REGISTER sip:ims.example SIP/2.0", h);
    int i = pc_sa_match_verify(slots, ue, port, sip_object(m)->sip_security_verify);
    msg_destroy(m);
    return i;
}

static void server_and_verify(void **state)
{
    pc_sa_t slots[2] = {set_of("10.1.2.2", 5080, 4096, PC_SA_ACTIVE),
                        set_of("10.1.2.2", 5080, 5000, PC_SA_OLD)};
    sec_agree_server_t srv;
    char v0[300], v1[300];
    assert_int_equal(pc_sa_server(&slots[0].set, &srv), 0);
    assert_int_equal(srv.alg, IPSEC_ALG_HMAC_SHA1_96);
    assert_int_equal(srv.ealg, IPSEC_EALG_AES_CBC);
    assert_int_equal(srv.spi_pc, 4096);
    assert_int_equal(srv.spi_ps, 4097);
    assert_int_equal(srv.port_pc, 5062);
    assert_int_equal(srv.port_ps, 5063);
    assert_int_equal(srv.q, SEC_AGREE_Q_NONE);
    assert_true(sec_agree_server_value(&srv, v0, sizeof v0) > 0);
    assert_int_equal(pc_sa_server(&slots[1].set, &srv), 0);
    assert_true(sec_agree_server_value(&srv, v1, sizeof v1) > 0);

    assert_int_equal(verify_slot(slots, "10.1.2.2", 5080, v0), 0);
    assert_int_equal(verify_slot(slots, "10.1.2.2", 5080, v1), 1);
    /* From another address or port, or naming other SPIs: no set. */
    assert_int_equal(verify_slot(slots, "10.1.2.3", 5080, v0), -1);
    assert_int_equal(verify_slot(slots, "10.1.2.2", 5090, v0), -1);
    assert_int_equal(verify_slot(slots, "10.1.2.2", 5080,
                                 "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;prot=esp;mod=trans;"
                                 "spi-c=4096;spi-s=4098;port-c=5062;port-s=5063"),
                     -1);
    /* A removed (NONE) slot matches nothing. */
    slots[1].state = PC_SA_NONE;
    assert_int_equal(verify_slot(slots, "10.1.2.2", 5080, v1), -1);
}

static pc_pending_t pending(const char *ue, uint16_t port_uc, const char *impi, uint32_t spi,
                            int64_t until)
{
    pc_pending_t p;
    memset(&p, 0, sizeof p);
    p.sa = set_of(ue, port_uc, spi, PC_SA_TEMPORARY);
    p.sa.until_ms = until;
    snprintf(p.impi, sizeof p.impi, "%s", impi);
    snprintf(p.flow, sizeof p.flow, "udp:%s:%u", ue, port_uc);
    return p;
}

static void pending_table(void **state)
{
    pc_pending_table_t t = {0};
    pc_pending_t out, a = pending("10.1.2.2", 5080, "alice", 100, 1000),
                      b = pending("10.1.2.2", 5080, "bob", 200, 2000),
                      c = pending("10.1.2.3", 5080, "alice", 300, 3000);
    assert_int_equal(pc_pending_add(&t, &a, &out), 0);
    assert_int_equal(pc_pending_add(&t, &b, &out), 0);
    assert_int_equal(pc_pending_add(&t, &c, &out), 0);
    assert_int_equal(t.n, 3);
    assert_non_null(pc_pending_find(&t, "10.1.2.2", 5080, "alice"));
    assert_int_equal(pc_pending_find(&t, "10.1.2.2", 5080, "alice")->sa.set.spi_pc, 100);
    assert_null(pc_pending_find(&t, "10.1.2.2", 5081, "alice"));
    assert_null(pc_pending_find(&t, "10.1.2.4", 5080, "alice"));
    assert_null(pc_pending_find(&t, "10.1.2.2", 5080, "carol"));

    /* A second 401 for alice at 10.1.2.2 (a resync, on another port): the first set is handed
     * back for removal, never two pending. */
    pc_pending_t a2 = pending("10.1.2.2", 5090, "alice", 400, 4000);
    assert_int_equal(pc_pending_add(&t, &a2, &out), 1);
    assert_int_equal(out.sa.set.spi_pc, 100);
    assert_int_equal(t.n, 3);
    assert_null(pc_pending_find(&t, "10.1.2.2", 5080, "alice"));
    assert_int_equal(pc_pending_find(&t, "10.1.2.2", 5090, "alice")->sa.set.spi_pc, 400);

    assert_int_equal(pc_pending_take_ue(&t, "10.1.2.3", "bob", &out), -1);
    assert_int_equal(pc_pending_take_ue(&t, "10.1.2.3", "alice", &out), 0);
    assert_int_equal(out.sa.set.spi_pc, 300);
    assert_int_equal(pc_pending_take_ue(&t, "10.1.2.3", "alice", &out), -1);
    assert_int_equal(pc_pending_add(&t, &c, &out), 0);
    assert_int_equal(pc_pending_take(&t, 200, 201, &out), 0);
    assert_string_equal(out.impi, "bob");
    assert_int_equal(pc_pending_take(&t, 200, 201, &out), -1);
    assert_int_equal(pc_pending_take(&t, 300, 999, &out), -1);

    /* Expiry by until_ms: none at 2999, c at 3000, a2 at 4000. */
    assert_int_equal(pc_pending_expire(&t, 2999, &out), 0);
    assert_int_equal(pc_pending_expire(&t, 3000, &out), 1);
    assert_int_equal(out.sa.set.spi_pc, 300);
    assert_int_equal(pc_pending_expire(&t, 3000, &out), 0);
    assert_int_equal(pc_pending_expire(&t, 5000, &out), 1);
    assert_int_equal(out.sa.set.spi_pc, 400);
    assert_int_equal(t.n, 0);
    pc_pending_free(&t);
    assert_null(t.items);
}

static void slots_move(void **state)
{
    pc_sa_t slots[2], rm[2];
    memset(slots, 0, sizeof slots);
    pc_sa_t s1 = set_of("10.1.2.2", 5080, 100, PC_SA_TEMPORARY),
            s2 = set_of("10.1.2.2", 5080, 200, PC_SA_TEMPORARY),
            s3 = set_of("10.1.2.2", 5082, 300, PC_SA_TEMPORARY);

    /* Initial registration: the first set becomes ACTIVE, nothing to remove. */
    assert_int_equal(pc_sa_activate(slots, &s1, 1000, 30000, rm), 0);
    assert_int_equal(slots[0].state, PC_SA_ACTIVE);
    assert_int_equal(slots[0].set.spi_pc, 100);
    assert_int_equal(slots[0].until_ms, 0);
    assert_int_equal(slots[1].state, PC_SA_NONE);
    /* A refresh over it: nothing moves. */
    s1.state = PC_SA_ACTIVE;
    assert_int_equal(pc_sa_activate(slots, &s1, 2000, 30000, rm), 0);
    assert_int_equal(slots[0].set.spi_pc, 100);
    assert_int_equal(slots[1].state, PC_SA_NONE);
    /* Re-registration: the new set ACTIVE, the old one OLD for the grace period. */
    assert_int_equal(pc_sa_activate(slots, &s2, 3000, 30000, rm), 0);
    assert_int_equal(slots[0].state, PC_SA_ACTIVE);
    assert_int_equal(slots[0].set.spi_pc, 200);
    assert_int_equal(slots[1].state, PC_SA_OLD);
    assert_int_equal(slots[1].set.spi_pc, 100);
    assert_int_equal(slots[1].until_ms, 33000);
    /* The UE comes back over the old set: it is the registration's again. */
    pc_sa_t back = slots[1];
    assert_int_equal(pc_sa_activate(slots, &back, 4000, 30000, rm), 0);
    assert_int_equal(slots[0].set.spi_pc, 100);
    assert_int_equal(slots[0].state, PC_SA_ACTIVE);
    assert_int_equal(slots[1].set.spi_pc, 200);
    assert_int_equal(slots[1].state, PC_SA_OLD);
    assert_int_equal(slots[1].until_ms, 34000);
    /* Another re-registration within the grace: the OLD set goes at once. */
    assert_int_equal(pc_sa_activate(slots, &s3, 5000, 30000, rm), 1);
    assert_int_equal(rm[0].set.spi_pc, 200);
    assert_int_equal(slots[0].set.spi_pc, 300);
    assert_int_equal(slots[1].set.spi_pc, 100);
    assert_int_equal(slots[1].state, PC_SA_OLD);
    assert_true(pc_sa_same(&slots[0], &s3));
    assert_false(pc_sa_same(&slots[0], &s2));

    /* The binding ends: both go. */
    assert_int_equal(pc_sa_clear(slots, rm), 2);
    assert_int_equal(rm[0].set.spi_pc, 300);
    assert_int_equal(rm[1].set.spi_pc, 100);
    assert_int_equal(slots[0].state, PC_SA_NONE);
    assert_int_equal(slots[1].state, PC_SA_NONE);
    assert_int_equal(pc_sa_clear(slots, rm), 0);
    /* NONE is never the same as anything. */
    pc_sa_t none;
    memset(&none, 0, sizeof none);
    assert_false(pc_sa_same(&none, &none));
}

/* The ipsec.* rows as the pcscf has them, and a sip.listen to take the address from. */
static const cfg_key_t rows[] = {
    {"sip.listen", CFG_ADDR_LIST, "192.0.2.10:5060", "", 0, 0, NULL},
    PC_IPSEC_KEYS,
    CFG_END,
};

/* pc_sa_check_config() of this YAML: 0, or -1 with the message in err. */
static int check(const char *yaml, char *err, size_t len)
{
    static const cfg_key_t *const tables[] = {rows, NULL};
    cfg_t *cfg = cfg_new("TESTPCSA", tables);
    assert_non_null(cfg);
    err[0] = '\0';
    if (cfg_load_string(cfg, "t.yaml", yaml, err, len) < 0)
        fail_msg("%s", err);
    int rc = pc_sa_check_config(cfg, err, len);
    char addr[64] = "";
    if (rc == 0 && pc_sa_config_address(cfg, addr, sizeof addr) == 0)
        snprintf(err, len, "%s", addr); /* the address taken, for the caller to see */
    cfg_free(cfg);
    return rc;
}

static void config_checks(void **state)
{
    char err[300];
    /* Defaults: mode off, everything valid; the address from sip.listen. */
    assert_int_equal(check("ipsec:\n  grace: 30\n", err, sizeof err), 0);
    assert_string_equal(err, "192.0.2.10");
    assert_int_equal(check("ipsec:\n  mode: required\n  address: 10.0.0.1\n", err, sizeof err), 0);
    assert_string_equal(err, "10.0.0.1");
    /* Each refusal names its key. */
    static const struct {
        const char *yaml, *key;
    } bad[] = {
        {"ipsec:\n  algorithms: [hmac-sha-1-96/aes-gcm]\n", "ipsec.algorithms"},
        {"ipsec:\n  algorithms: [hmac-sha-1-96/null, hmac-sha-1-96/null]\n", "ipsec.algorithms"},
        {"ipsec:\n  port_pc: 5070\n  port_ps: 5070\n", "ipsec.port_pc"},
        {"ipsec:\n  spi_min: 5000\n  spi_max: 4999\n", "ipsec.spi_min"},
        {"ipsec:\n  route_table: 254\n", "ipsec.route_table"},
        {"ipsec:\n  mode: optional\n  address: pcscf.example\n", "ipsec.address"},
        {"ipsec:\n  mode: optional\n  address: 0.0.0.0\n", "ipsec.address"},
        {"sip:\n  listen: [\"0.0.0.0:5060\"]\nipsec:\n  mode: optional\n", "ipsec.address"},
        {"ipsec:\n  mode: required\n  address: \"2001:db8::1\"\n", "ipsec.address"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (check(bad[i].yaml, err, sizeof err) != -1 || !strstr(err, bad[i].key))
            fail_msg("accepted, or the message does not name %s: %s (yaml %s)", bad[i].key, err,
                     bad[i].yaml);
    }
    /* An unusable address is fine while mode is off: nothing binds it. */
    assert_int_equal(check("ipsec:\n  address: 0.0.0.0\n", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_algorithm_config),
        cmocka_unit_test(reads_ck_ik),
        cmocka_unit_test(makes_a_set),
        cmocka_unit_test(server_and_verify),
        cmocka_unit_test(pending_table),
        cmocka_unit_test(slots_move),
        cmocka_unit_test(config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
