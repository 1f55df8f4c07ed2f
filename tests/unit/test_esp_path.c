/* common/ipsec/esp_path and ip_packet: the userspace datapath's packet paths over buffers.
 * The UE's side is esp.c with the same keys (and its own SAs), so each test builds the exact
 * packets a UE would send: accepted inbound, each refusal counted under its reason, outbound
 * chosen by ports and opened again by the UE's SA, and a datagram through both paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "common/ipsec/esp_path.h"
#include "common/ipsec/ip_packet.h"

#define UE_ADDR    "10.0.0.2"
#define LOCAL_ADDR "10.0.0.1"
#define SPI_PC     1111
#define SPI_PS     2222
#define SPI_UC     3333
#define SPI_US     4444
enum { PORT_PC = 5062, PORT_PS = 5063, PORT_UC = 5080, PORT_US = 5081 };

typedef struct fx {
    sa_table_t *t;
    esp_path_t p;
    ipsec_keys_t keys;
    esp_sa_t ue_ps, ue_pc, ue_uc, ue_us; /* the UE's copies: it sends on ps/pc, opens uc/us */
    uint8_t pkt[4096], out[4096];
} fx_t;

static uint32_t addr(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

static int setup(void **state)
{
    static fx_t f;
    memset(&f, 0, sizeof f);
    uint8_t ck[16], ik[16];
    for (int i = 0; i < 16; i++) {
        ck[i] = (uint8_t)(0x10 + i);
        ik[i] = (uint8_t)(0x80 + i);
    }
    if (ipsec_derive_keys(IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_AES_CBC, ck, ik, &f.keys))
        return -1;
    f.t = sa_table_new(256, 100000);
    f.p.table = f.t;
    f.p.local = addr(LOCAL_ADDR);
    ipsec_sa_set_t s = {.port_uc = PORT_UC,
                        .port_us = PORT_US,
                        .port_pc = PORT_PC,
                        .port_ps = PORT_PS,
                        .spi_uc = SPI_UC,
                        .spi_us = SPI_US,
                        .spi_pc = SPI_PC,
                        .spi_ps = SPI_PS,
                        .keys = f.keys};
    snprintf(s.ue_addr, sizeof s.ue_addr, UE_ADDR);
    if (sa_table_install(f.t, &s))
        return -1;
    esp_sa_init(&f.ue_ps, SPI_PS, &f.keys);
    esp_sa_init(&f.ue_pc, SPI_PC, &f.keys);
    esp_sa_init(&f.ue_uc, SPI_UC, &f.keys);
    esp_sa_init(&f.ue_us, SPI_US, &f.keys);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    sa_table_free(f->t);
    return 0;
}

/* A UDP header and text: the transport payload as a kernel would hand it to ESP. */
static size_t udp(uint8_t *buf, uint16_t sport, uint16_t dport, const char *text)
{
    size_t n = strlen(text);
    buf[0] = (uint8_t)(sport >> 8);
    buf[1] = (uint8_t)sport;
    buf[2] = (uint8_t)(dport >> 8);
    buf[3] = (uint8_t)dport;
    buf[4] = (uint8_t)((8 + n) >> 8);
    buf[5] = (uint8_t)(8 + n);
    buf[6] = buf[7] = 0;
    memcpy(buf + 8, text, n);
    return 8 + n;
}

/* The UE's ESP packet in an outer IPv4 header into f->pkt: what the raw socket receives. */
static size_t ue_sends(fx_t *f, esp_sa_t *sa, const char *src, uint8_t nh, const uint8_t *payload,
                       size_t len)
{
    size_t esp_len = 0;
    assert_int_equal(esp_encrypt(sa, payload, len, nh, f->pkt + IP4_HDR_LEN,
                                 sizeof f->pkt - IP4_HDR_LEN, &esp_len),
                     ESP_OK);
    assert_int_equal(ip4_build(f->pkt, addr(src), addr(LOCAL_ADDR), IPPROTO_ESP, esp_len, 1), 0);
    return IP4_HDR_LEN + esp_len;
}

static size_t ue_request(fx_t *f, const char *text)
{
    uint8_t l4[512];
    size_t n = udp(l4, PORT_UC, PORT_PS, text);
    return ue_sends(f, &f->ue_ps, UE_ADDR, IPPROTO_UDP, l4, n);
}

static void test_ip4(void **state)
{
    uint8_t p[64] = {0};
    assert_int_equal(ip4_build(p, addr("192.0.2.1"), addr("192.0.2.2"), IPPROTO_UDP, 12, 7), 0);
    ip4_hdr_t h;
    assert_int_equal(ip4_parse(p, 32, &h), 0);
    assert_int_equal(h.src, addr("192.0.2.1"));
    assert_int_equal(h.dst, addr("192.0.2.2"));
    assert_int_equal(h.proto, IPPROTO_UDP);
    assert_int_equal(h.hdr_len, 20);
    assert_int_equal(h.total_len, 32);
    assert_int_equal(h.fragment, 0);
    assert_int_equal(ip4_checksum(p, 20), 0); /* a header with its checksum sums to zero */
    /* A known header (192.168.0.1 -> 192.168.0.199, UDP): its checksum is b861. */
    uint8_t known[20] = {0x45, 0, 0,    0x73, 0, 0, 0x40, 0,    0x40, 0x11,
                         0,    0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0,    0xc7};
    uint16_t sum = ip4_checksum(known, 20);
    assert_memory_equal(&sum, "\xb8\x61", 2);
    assert_int_equal(ip4_parse(p, 31, &h), -1); /* total length beyond the buffer */
    p[8] ^= 1;                                  /* TTL changed: checksum now wrong */
    assert_int_equal(ip4_parse(p, 32, &h), -1);
    p[8] ^= 1;
    p[6] = 0x20; /* more fragments */
    p[10] = p[11] = 0;
    uint16_t c = ip4_checksum(p, 20);
    memcpy(p + 10, &c, 2);
    assert_int_equal(ip4_parse(p, 32, &h), 0);
    assert_int_equal(h.fragment, 1);
    p[0] = 0x60; /* IPv6 */
    assert_int_equal(ip4_parse(p, 32, &h), -1);
    assert_int_equal(ip4_build(p, 0, 0, 17, 65536 - 20, 0), -1);
    uint16_t sp, dp;
    uint8_t l4[20] = {0x13, 0xc4, 0x13, 0xb8};
    assert_int_equal(ip_l4_ports(IPPROTO_UDP, l4, 8, &sp, &dp), 0);
    assert_int_equal(sp, 5060);
    assert_int_equal(dp, 5048);
    assert_int_equal(ip_l4_ports(IPPROTO_UDP, l4, 7, &sp, &dp), -1);
    assert_int_equal(ip_l4_ports(IPPROTO_TCP, l4, 19, &sp, &dp), -1);
    assert_int_equal(ip_l4_ports(IPPROTO_TCP, l4, 20, &sp, &dp), 0);
    assert_int_equal(ip_l4_ports(IPPROTO_ICMP, l4, 20, &sp, &dp), -1);
}

static void test_inbound_accepted(void **state)
{
    fx_t *f = *state;
    uint8_t l4[64];
    size_t l4_len = udp(l4, PORT_UC, PORT_PS, "REGISTER");
    size_t n = ue_sends(f, &f->ue_ps, UE_ADDR, IPPROTO_UDP, l4, l4_len);
    esp_path_result_t r;
    assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 777, &r), ESP_DROP_NONE);
    ip4_hdr_t h;
    assert_int_equal(r.len, IP4_HDR_LEN + l4_len);
    assert_int_equal(ip4_parse(f->out, r.len, &h), 0);
    assert_int_equal(h.src, addr(UE_ADDR));
    assert_int_equal(h.dst, addr(LOCAL_ADDR));
    assert_int_equal(h.proto, IPPROTO_UDP);
    assert_memory_equal(f->out + IP4_HDR_LEN, l4, l4_len);
    assert_non_null(r.entry);
    assert_int_equal(r.entry->stats.packets_in, 1);
    assert_int_equal(r.entry->stats.bytes_in, n - IP4_HDR_LEN);
    assert_int_equal(r.esp_len, n - IP4_HDR_LEN);
    assert_int_equal(r.entry->stats.last_in_ms, 777);
    /* The UE's response to our request: port_us -> port_pc on spi_pc. */
    l4_len = udp(l4, PORT_US, PORT_PC, "SIP/2.0 200 OK");
    n = ue_sends(f, &f->ue_pc, UE_ADDR, IPPROTO_UDP, l4, l4_len);
    assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 778, &r), ESP_DROP_NONE);
    assert_int_equal(r.entry->stats.packets_in, 2);
    for (int d = 1; d < ESP_DROP_COUNT; d++)
        assert_int_equal(f->p.drops[d], 0);
}

/* The SPI names no set: counted as no_sa, nothing else touched. */
static void test_inbound_no_sa(void **state)
{
    fx_t *f = *state;
    esp_sa_t stranger;
    esp_sa_init(&stranger, 9999, &f->keys);
    uint8_t l4[64];
    size_t n = ue_sends(f, &stranger, UE_ADDR, IPPROTO_UDP, l4, udp(l4, PORT_UC, PORT_PS, "x"));
    esp_path_result_t r;
    assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 1, &r), ESP_DROP_NO_SA);
    assert_null(r.entry);
    assert_int_equal(f->p.drops[ESP_DROP_NO_SA], 1);
    assert_string_equal(esp_drop_name(ESP_DROP_NO_SA), "no_sa");
}

/* From another address with a valid packet of the set: refused before the SA is touched, so
 * the same packet from the UE is still accepted (its sequence number was not used up). */
static void test_inbound_wrong_source(void **state)
{
    fx_t *f = *state;
    uint8_t l4[64];
    size_t l4_len = udp(l4, PORT_UC, PORT_PS, "spoofed");
    size_t n = ue_sends(f, &f->ue_ps, "10.0.0.66", IPPROTO_UDP, l4, l4_len);
    esp_path_result_t r;
    assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 1, &r), ESP_DROP_ADDRESS);
    assert_int_equal(f->p.drops[ESP_DROP_ADDRESS], 1);
    assert_non_null(r.entry);
    assert_int_equal(r.entry->stats.packets_in, 0);
    assert_int_equal(r.entry->in_ps.replay.top, 0);
    /* the same ESP bytes, now from the UE's address */
    assert_int_equal(
        ip4_build(f->pkt, addr(UE_ADDR), addr(LOCAL_ADDR), IPPROTO_ESP, n - IP4_HDR_LEN, 1), 0);
    assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 1, &r), ESP_DROP_NONE);
}

/* The inner ports must be the SA's: a request on spi_ps from the UE's server port, a response
 * on spi_pc to our server port, or another protocol are refused. */
static void test_inbound_selectors(void **state)
{
    fx_t *f = *state;
    esp_path_result_t r;
    uint8_t l4[64];
    struct {
        esp_sa_t *sa;
        uint8_t proto;
        uint16_t sport, dport;
    } bad[] = {
        {&f->ue_ps, IPPROTO_UDP, PORT_US, PORT_PS}, /* from the wrong UE port */
        {&f->ue_ps, IPPROTO_UDP, PORT_UC, PORT_PC}, /* to the wrong port of ours */
        {&f->ue_ps, IPPROTO_UDP, PORT_UC, 5060},    /* to the unprotected port */
        {&f->ue_pc, IPPROTO_UDP, PORT_UC, PORT_PS}, /* spi_pc carrying spi_ps's flow */
        {&f->ue_ps, IPPROTO_ICMP, PORT_UC, PORT_PS},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = ue_sends(f, bad[i].sa, UE_ADDR, bad[i].proto, l4,
                            udp(l4, bad[i].sport, bad[i].dport, "x"));
        assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 1, &r),
                         ESP_DROP_SELECTOR);
    }
    assert_int_equal(f->p.drops[ESP_DROP_SELECTOR], 5);
    /* TCP with the right ports passes (SIP over TCP through the same SA). */
    uint8_t tcp[20] = {0};
    udp(tcp, PORT_UC, PORT_PS, "");
    size_t n = ue_sends(f, &f->ue_ps, UE_ADDR, IPPROTO_TCP, tcp, sizeof tcp);
    assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 1, &r), ESP_DROP_NONE);
    assert_int_equal(f->out[9], IPPROTO_TCP);
}

static void test_inbound_icv_replay_dummy_malformed(void **state)
{
    fx_t *f = *state;
    esp_path_result_t r;
    size_t n = ue_request(f, "first");
    uint8_t first[4096];
    memcpy(first, f->pkt, n);
    assert_int_equal(esp_path_in(&f->p, f->pkt, n, f->out, sizeof f->out, 1, &r), ESP_DROP_NONE);
    assert_int_equal(esp_path_in(&f->p, first, n, f->out, sizeof f->out, 1, &r), ESP_DROP_REPLAY);
    assert_int_equal(f->p.drops[ESP_DROP_REPLAY], 1);
    size_t m = ue_request(f, "forged");
    f->pkt[m - 1] ^= 0x01;
    assert_int_equal(esp_path_in(&f->p, f->pkt, m, f->out, sizeof f->out, 1, &r), ESP_DROP_ICV);
    assert_int_equal(f->p.drops[ESP_DROP_ICV], 1);
    assert_int_equal(r.entry->stats.packets_in, 1);
    uint8_t none[1] = {0};
    m = ue_sends(f, &f->ue_ps, UE_ADDR, ESP_NEXT_HEADER_NONE, none, 0);
    assert_int_equal(esp_path_in(&f->p, f->pkt, m, f->out, sizeof f->out, 1, &r), ESP_DROP_DUMMY);
    /* Cut short, not ESP, or a fragment. */
    m = ue_request(f, "short");
    assert_int_equal(esp_path_in(&f->p, f->pkt, 24, f->out, sizeof f->out, 1, &r),
                     ESP_DROP_MALFORMED);
    assert_int_equal(
        ip4_build(f->pkt, addr(UE_ADDR), addr(LOCAL_ADDR), IPPROTO_UDP, m - IP4_HDR_LEN, 1), 0);
    assert_int_equal(esp_path_in(&f->p, f->pkt, m, f->out, sizeof f->out, 1, &r),
                     ESP_DROP_MALFORMED);
    assert_int_equal(f->p.drops[ESP_DROP_MALFORMED], 2);
    assert_string_equal(esp_drop_name(ESP_DROP_ICV), "icv");
    assert_string_equal(esp_drop_name(ESP_DROP_REPLAY), "replay");
}

/* A packet the kernel routed into the TUN device, from us to the UE. */
static size_t we_send(fx_t *f, uint32_t src, uint8_t proto, uint16_t sport, uint16_t dport,
                      const char *text)
{
    size_t n = udp(f->pkt + IP4_HDR_LEN, sport, dport, text);
    assert_int_equal(ip4_build(f->pkt, src, addr(UE_ADDR), proto, n, 9), 0);
    return IP4_HDR_LEN + n;
}

static void test_outbound(void **state)
{
    fx_t *f = *state;
    esp_path_result_t r;
    uint8_t back[4096], nh = 0;
    size_t back_len = 0;
    /* Our response (port_ps -> port_uc) goes on spi_uc, our request on spi_us. */
    size_t n = we_send(f, addr(LOCAL_ADDR), IPPROTO_UDP, PORT_PS, PORT_UC, "SIP/2.0 401");
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, sizeof f->out, &r), ESP_DROP_NONE);
    assert_int_equal(r.ue, addr(UE_ADDR));
    assert_int_equal(esp_decrypt(&f->ue_uc, f->out, r.len, back, sizeof back, &back_len, &nh),
                     ESP_OK);
    assert_int_equal(nh, IPPROTO_UDP);
    assert_int_equal(back_len, n - IP4_HDR_LEN);
    assert_memory_equal(back, f->pkt + IP4_HDR_LEN, back_len);
    assert_int_equal(r.entry->stats.packets_out, 1);
    assert_int_equal(r.entry->stats.seq_out_uc, 1);
    n = we_send(f, addr(LOCAL_ADDR), IPPROTO_UDP, PORT_PC, PORT_US, "NOTIFY");
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, sizeof f->out, &r), ESP_DROP_NONE);
    assert_int_equal(esp_decrypt(&f->ue_us, f->out, r.len, back, sizeof back, &back_len, &nh),
                     ESP_OK);
    assert_int_equal(r.entry->stats.seq_out_us, 1);
    /* Refusals: not from our address, no SA for the ports, not UDP/TCP, a fragment. */
    n = we_send(f, addr("10.0.0.9"), IPPROTO_UDP, PORT_PS, PORT_UC, "x");
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, sizeof f->out, &r), ESP_DROP_ADDRESS);
    n = we_send(f, addr(LOCAL_ADDR), IPPROTO_UDP, PORT_PS, 5060, "x");
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, sizeof f->out, &r), ESP_DROP_NO_SA);
    n = we_send(f, addr(LOCAL_ADDR), IPPROTO_ICMP, PORT_PS, PORT_UC, "x");
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, sizeof f->out, &r), ESP_DROP_SELECTOR);
    n = we_send(f, addr(LOCAL_ADDR), IPPROTO_UDP, PORT_PS, PORT_UC, "x");
    f->pkt[6] = 0x20;
    f->pkt[10] = f->pkt[11] = 0;
    uint16_t c = ip4_checksum(f->pkt, IP4_HDR_LEN);
    memcpy(f->pkt + 10, &c, 2);
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, sizeof f->out, &r), ESP_DROP_MALFORMED);
    /* No room for the ESP packet. */
    n = we_send(f, addr(LOCAL_ADDR), IPPROTO_UDP, PORT_PS, PORT_UC, "a longer message");
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, 40, &r), ESP_DROP_SPACE);
    assert_int_equal(f->p.drops[ESP_DROP_ADDRESS], 1);
    assert_int_equal(f->p.drops[ESP_DROP_NO_SA], 1);
    assert_int_equal(f->p.drops[ESP_DROP_SELECTOR], 1);
    assert_int_equal(f->p.drops[ESP_DROP_MALFORMED], 1);
    assert_int_equal(f->p.drops[ESP_DROP_SPACE], 1);
}

/* Our datapath on both ends: what esp_path_out makes of a request, wrapped as the UE's kernel
 * would receive it, is what a second datapath (the "UE", whose set mirrors ours) delivers. */
static void test_round_trip(void **state)
{
    fx_t *f = *state;
    sa_table_t *ut = sa_table_new(256, 100000);
    esp_path_t up = {.table = ut, .local = addr(UE_ADDR)};
    /* The UE's view, roles swapped: its server port PORT_US takes our requests (from our
     * client port PORT_PC) on SPI_US, so that is its spi_ps; its client port PORT_UC takes our
     * responses on SPI_UC, its spi_pc. */
    ipsec_sa_set_t s = {.port_uc = PORT_PC,
                        .port_us = PORT_PS,
                        .port_pc = PORT_UC,
                        .port_ps = PORT_US,
                        .spi_uc = SPI_PC,
                        .spi_us = SPI_PS,
                        .spi_pc = SPI_UC,
                        .spi_ps = SPI_US,
                        .keys = f->keys};
    snprintf(s.ue_addr, sizeof s.ue_addr, LOCAL_ADDR);
    assert_int_equal(sa_table_install(ut, &s), 0);
    esp_path_result_t r;
    size_t n = we_send(f, addr(LOCAL_ADDR), IPPROTO_UDP, PORT_PC, PORT_US, "MESSAGE sip:ue");
    uint8_t sent[4096], wire[4096], got[4096];
    memcpy(sent, f->pkt, n);
    assert_int_equal(esp_path_out(&f->p, f->pkt, n, f->out, sizeof f->out, &r), ESP_DROP_NONE);
    assert_int_equal(ip4_build(wire, addr(LOCAL_ADDR), addr(UE_ADDR), IPPROTO_ESP, r.len, 3), 0);
    memcpy(wire + IP4_HDR_LEN, f->out, r.len);
    esp_path_result_t ur;
    assert_int_equal(esp_path_in(&up, wire, IP4_HDR_LEN + r.len, got, sizeof got, 1, &ur),
                     ESP_DROP_NONE);
    assert_int_equal(ur.len, n);
    assert_memory_equal(got + IP4_HDR_LEN, sent + IP4_HDR_LEN, n - IP4_HDR_LEN);
    assert_memory_equal(got + 12, sent + 12, 8); /* the same addresses */
    sa_table_free(ut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip4),
        cmocka_unit_test_setup_teardown(test_inbound_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbound_no_sa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbound_wrong_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbound_selectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbound_icv_replay_dummy_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
