/* common/ipsec/sa_table: the userspace datapath's SA sets. SPI allocation (in range, unique
 * among sets and pending allocations, exhaustion, released by remove), install refusals,
 * lookups by SPI and by address and ports, ipsec_dp.h's outbound choice between two sets of one
 * UE, and the per-set counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "common/ipsec/sa_table.h"

#define UE "10.0.0.2"

static uint32_t ue_addr(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

static ipsec_sa_set_t set_of(const char *ue, uint32_t spi_pc, uint32_t spi_ps)
{
    ipsec_sa_set_t s = {.port_uc = 5080,
                        .port_us = 5081,
                        .port_pc = 5062,
                        .port_ps = 5063,
                        .spi_uc = 7001,
                        .spi_us = 7002,
                        .spi_pc = spi_pc,
                        .spi_ps = spi_ps};
    snprintf(s.ue_addr, sizeof s.ue_addr, "%s", ue);
    s.keys.alg = IPSEC_ALG_HMAC_SHA1_96;
    s.keys.ealg = IPSEC_EALG_NULL;
    s.keys.auth_key_len = 20;
    return s;
}

static void test_new_refuses_bad_ranges(void **state)
{
    assert_null(sa_table_new(255, 1000)); /* 1-255 are reserved (RFC 4303 2.1) */
    assert_null(sa_table_new(2000, 1000));
    sa_table_t *t = sa_table_new(256, 256);
    assert_non_null(t);
    uint32_t pc, ps;
    assert_int_equal(sa_table_alloc(t, 0, &pc, &ps), -1); /* one SPI cannot make a pair */
    sa_table_free(t);
}

/* Every SPI of a 64-wide range is handed out exactly once, whatever the random start, and
 * then the range is exhausted. */
static void test_alloc_unique_until_exhausted(void **state)
{
    sa_table_t *t = sa_table_new(1000, 1063);
    uint8_t seen[64] = {0};
    for (uint32_t i = 0; i < 32; i++) {
        uint32_t pc = 0, ps = 0;
        assert_int_equal(sa_table_alloc(t, i * 2654435761u, &pc, &ps), 0);
        assert_true(pc >= 1000 && pc <= 1063 && ps >= 1000 && ps <= 1063);
        assert_int_not_equal(pc, ps);
        assert_int_equal(seen[pc - 1000]++, 0);
        assert_int_equal(seen[ps - 1000]++, 0);
    }
    uint32_t pc, ps;
    assert_int_equal(sa_table_alloc(t, 5, &pc, &ps), -1);
    sa_table_free(t);
}

/* An allocation removed before it was installed gives its SPIs back; an installed set keeps
 * its SPIs out of later allocations. */
static void test_alloc_release_and_install(void **state)
{
    sa_table_t *t = sa_table_new(300, 303);
    uint32_t a_pc, a_ps, b_pc, b_ps, c_pc, c_ps;
    assert_int_equal(sa_table_alloc(t, 0, &a_pc, &a_ps), 0);
    assert_int_equal(sa_table_alloc(t, 0, &b_pc, &b_ps), 0);
    assert_int_equal(sa_table_alloc(t, 0, &c_pc, &c_ps), -1);
    assert_int_equal(sa_table_remove(t, b_pc, b_ps), 0); /* pending only */
    assert_int_equal(sa_table_count(t), 0);
    assert_int_equal(sa_table_alloc(t, 0, &c_pc, &c_ps), 0);
    ipsec_sa_set_t s = set_of(UE, a_pc, a_ps);
    assert_int_equal(sa_table_install(t, &s), 0);
    assert_int_equal(sa_table_count(t), 1);
    assert_int_equal(sa_table_alloc(t, 0, &b_pc, &b_ps), -1); /* still 4 in use */
    assert_int_equal(sa_table_remove(t, a_pc, a_ps), 0);
    assert_int_equal(sa_table_count(t), 0);
    assert_int_equal(sa_table_remove(t, a_pc, a_ps), -1);
    assert_int_equal(sa_table_alloc(t, 0, &b_pc, &b_ps), 0);
    sa_table_free(t);
}

static void test_install_refusals(void **state)
{
    sa_table_t *t = sa_table_new(256, 100000);
    ipsec_sa_set_t s = set_of(UE, 500, 501);
    assert_int_equal(sa_table_install(t, &s), 0);
    ipsec_sa_set_t clash = set_of("10.0.0.3", 501, 600); /* 501 is the first set's spi_ps */
    assert_int_equal(sa_table_install(t, &clash), -1);
    ipsec_sa_set_t same = set_of(UE, 700, 700);
    assert_int_equal(sa_table_install(t, &same), -1);
    ipsec_sa_set_t bad_addr = set_of("ue.example", 700, 701);
    assert_int_equal(sa_table_install(t, &bad_addr), -1);
    ipsec_sa_set_t v6 = set_of("2001:db8::1", 700, 701);
    assert_int_equal(sa_table_install(t, &v6), -1);
    ipsec_sa_set_t no_port = set_of(UE, 700, 701);
    no_port.port_us = 0;
    assert_int_equal(sa_table_install(t, &no_port), -1);
    ipsec_sa_set_t no_spi = set_of(UE, 700, 701);
    no_spi.spi_uc = 0;
    assert_int_equal(sa_table_install(t, &no_spi), -1);
    /* A pending allocation of someone else holds its SPIs against an install. */
    uint32_t pc, ps;
    assert_int_equal(sa_table_alloc(t, 0, &pc, &ps), 0);
    ipsec_sa_set_t steal = set_of("10.0.0.4", pc, 999);
    assert_int_equal(sa_table_install(t, &steal), -1);
    assert_int_equal(sa_table_count(t), 1);
    ipsec_sa_set_t own = set_of("10.0.0.4", pc, ps); /* the allocation's own install */
    assert_int_equal(sa_table_install(t, &own), 0);
    assert_int_equal(sa_table_count(t), 2);
    sa_table_free(t);
}

static void test_lookups(void **state)
{
    sa_table_t *t = sa_table_new(256, 100000);
    ipsec_sa_set_t s = set_of(UE, 500, 501);
    assert_int_equal(sa_table_install(t, &s), 0);
    esp_sa_t *sa = NULL;
    sa_entry_t *e = sa_table_find_in(t, 500, &sa);
    assert_non_null(e);
    assert_ptr_equal(sa, &e->in_pc);
    assert_ptr_equal(sa_table_find_in(t, 501, &sa), e);
    assert_ptr_equal(sa, &e->in_ps);
    assert_null(sa_table_find_in(t, 502, &sa));
    assert_null(sa_table_find_in(t, 7001, &sa)); /* the UE's SPIs are not ours to receive */
    assert_ptr_equal(sa_table_get(t, 500, 501), e);
    assert_null(sa_table_get(t, 501, 500));

    /* Responses: port_ps -> port_uc on spi_uc; requests: port_pc -> port_us on spi_us. */
    assert_ptr_equal(sa_table_find_out(t, ue_addr(UE), 5080, 5063, &sa), e);
    assert_ptr_equal(sa, &e->out_uc);
    assert_int_equal(sa->spi, 7001);
    assert_ptr_equal(sa_table_find_out(t, ue_addr(UE), 5081, 5062, &sa), e);
    assert_ptr_equal(sa, &e->out_us);
    assert_int_equal(sa->spi, 7002);
    /* Crossed ports, another UE, or the UE's unprotected port: no SA. */
    assert_null(sa_table_find_out(t, ue_addr(UE), 5081, 5063, &sa));
    assert_null(sa_table_find_out(t, ue_addr(UE), 5080, 5062, &sa));
    assert_null(sa_table_find_out(t, ue_addr("10.0.0.3"), 5080, 5063, &sa));
    assert_null(sa_table_find_out(t, ue_addr(UE), 5060, 5063, &sa));
    sa_table_free(t);
}

/* ipsec_dp.h: between two sets with the same addresses and ports, the one whose inbound most
 * recently carried a packet; among sets not used yet, the newest installed. */
static void test_outbound_choice(void **state)
{
    sa_table_t *t = sa_table_new(256, 100000);
    ipsec_sa_set_t olds = set_of(UE, 500, 501), news = set_of(UE, 600, 601);
    news.spi_uc = 8001;
    assert_int_equal(sa_table_install(t, &olds), 0);
    assert_int_equal(sa_table_install(t, &news), 0);
    sa_entry_t *old = sa_table_get(t, 500, 501), *nw = sa_table_get(t, 600, 601);
    esp_sa_t *sa;
    uint32_t ue = ue_addr(UE);
    assert_ptr_equal(sa_table_find_out(t, ue, 5080, 5063, &sa), nw); /* neither used: newest */
    assert_int_equal(sa->spi, 8001);
    sa_table_note_in(t, old, 100, 1000); /* a re-REGISTER over the old set */
    assert_ptr_equal(sa_table_find_out(t, ue, 5080, 5063, &sa), old);
    assert_int_equal(sa->spi, 7001);
    sa_table_note_in(t, nw, 100, 1000); /* same millisecond: order still decides */
    assert_ptr_equal(sa_table_find_out(t, ue, 5080, 5063, &sa), nw);
    sa_table_note_in(t, old, 100, 1001);
    assert_ptr_equal(sa_table_find_out(t, ue, 5081, 5062, &sa), old);
    assert_int_equal(sa_table_remove(t, 500, 501), 0);
    assert_ptr_equal(sa_table_find_out(t, ue, 5080, 5063, &sa), nw);
    sa_table_free(t);
}

static void test_counters(void **state)
{
    sa_table_t *t = sa_table_new(256, 100000);
    ipsec_sa_set_t s = set_of(UE, 500, 501);
    s.seq_out_uc = 41; /* resumed after a restart */
    assert_int_equal(sa_table_install(t, &s), 0);
    sa_entry_t *e = sa_table_get(t, 500, 501);
    assert_int_equal(e->out_uc.seq_out, 41);
    assert_int_equal(e->stats.seq_out_uc, 41);
    assert_int_equal(e->stats.last_in_ms, 0);
    sa_table_note_in(t, e, 120, 5000);
    sa_table_note_in(t, e, 80, 6000);
    e->out_uc.seq_out++; /* what esp_encrypt does */
    sa_entry_note_out(e, 150);
    assert_int_equal(e->stats.packets_in, 2);
    assert_int_equal(e->stats.bytes_in, 200);
    assert_int_equal(e->stats.last_in_ms, 6000);
    assert_int_equal(e->stats.packets_out, 1);
    assert_int_equal(e->stats.bytes_out, 150);
    assert_int_equal(e->stats.seq_out_uc, 42);
    assert_int_equal(e->stats.seq_out_us, 0);
    sa_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_refuses_bad_ranges),
        cmocka_unit_test(test_alloc_unique_until_exhausted),
        cmocka_unit_test(test_alloc_release_and_install),
        cmocka_unit_test(test_install_refusals),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_outbound_choice),
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
