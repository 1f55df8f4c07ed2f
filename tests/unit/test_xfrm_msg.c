/* xfrm_msg.c: the NETLINK_XFRM messages checked byte by byte against the kernel's uapi layout
 * (walked here by hand, not through libmnl, so an encoder bug is not hidden by the same library
 * reading it back), the kernel's answers decoded, and small buffers and bad input refused.
 * The kernel itself is not exercised (this machine's kernel has no ESP in xfrm). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <linux/netlink.h>

#include "common/ipsec/xfrm_msg.h"

#define UE4 "192.0.2.10"
#define US4 "198.51.100.1"
#define UE6 "2001:db8::10"
#define US6 "2001:db8::1"

static const xfrm_msg_mark_t our_mark = {.value = 0x5ec0, .mask = 0xffff};
static const uint8_t ik_key[20] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
                                   0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0,    0,    0,    0};
static const uint8_t ck_key[24] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                                   0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
                                   0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7};

static xfrm_msg_flow_t flow(uint16_t family, const char *src, const char *dst, uint16_t sport,
                            uint16_t dport, uint8_t l4proto)
{
    xfrm_msg_flow_t f = {.family = family, .sport = sport, .dport = dport, .l4proto = l4proto};
    assert_int_equal(inet_pton(family, src, &f.src), 1);
    assert_int_equal(inet_pton(family, dst, &f.dst), 1);
    return f;
}

static xfrm_address_t addr(uint16_t family, const char *text)
{
    xfrm_address_t a;
    memset(&a, 0, sizeof a);
    assert_int_equal(inet_pton(family, text, &a), 1);
    return a;
}

static xfrm_msg_sa_t sa_v4(void)
{
    xfrm_msg_sa_t sa = {
        .flow = flow(AF_INET, US4, UE4, 5064, 6001, IPPROTO_UDP),
        .spi = 0x01020304,
        .reqid = 7,
        .replay_window = 32,
        .auth = XFRM_MSG_AUTH_HMAC_SHA1_96,
        .auth_key = ik_key,
        .auth_key_len = 20,
        .enc = XFRM_MSG_ENC_AES_CBC,
        .enc_key = ck_key,
        .enc_key_len = 16,
        .mark = our_mark,
    };
    return sa;
}

/* The netlink header as the kernel reads it. */
static const struct nlmsghdr *check_hdr(const uint8_t *buf, int len, uint16_t type, uint16_t flags,
                                        uint32_t seq)
{
    assert_true(len >= NLMSG_HDRLEN);
    const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
    assert_int_equal(nlh->nlmsg_len, (uint32_t)len);
    assert_int_equal(nlh->nlmsg_len % NLMSG_ALIGNTO, 0);
    assert_int_equal(nlh->nlmsg_type, type);
    assert_int_equal(nlh->nlmsg_flags, flags);
    assert_int_equal(nlh->nlmsg_seq, seq);
    assert_int_equal(nlh->nlmsg_pid, 0);
    return nlh;
}

/* The attributes after the fixed payload, walked by hand: each 4-aligned, lengths adding up
 * exactly to nlmsg_len. Fills types[]/lens[]/payloads[]; returns how many. */
static int walk_attrs(const uint8_t *buf, size_t fixed, uint16_t *types, uint16_t *lens,
                      const uint8_t **payloads, int max)
{
    const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(fixed);
    int n = 0;
    while (off < nlh->nlmsg_len) {
        assert_true(n < max);
        assert_int_equal(off % 4, 0);
        const struct nlattr *a = (const struct nlattr *)(buf + off);
        assert_true(a->nla_len >= NLA_HDRLEN);
        assert_true(off + NLA_ALIGN(a->nla_len) <= nlh->nlmsg_len);
        types[n] = a->nla_type;
        lens[n] = a->nla_len;
        payloads[n] = buf + off + NLA_HDRLEN;
        /* Padding is zero (the kernel ignores it; stale bytes would leak memory contents). */
        for (size_t i = (size_t)a->nla_len; i < (size_t)NLA_ALIGN(a->nla_len); i++)
            assert_int_equal(buf[off + i], 0);
        off += NLA_ALIGN(a->nla_len);
        n++;
    }
    assert_int_equal(off, nlh->nlmsg_len);
    return n;
}

static void check_mark(uint16_t type, uint16_t len, const uint8_t *payload)
{
    assert_int_equal(type, XFRMA_MARK);
    assert_int_equal(len, NLA_HDRLEN + sizeof(struct xfrm_mark));
    struct xfrm_mark m;
    memcpy(&m, payload, sizeof m);
    assert_int_equal(m.v, our_mark.value);
    assert_int_equal(m.m, our_mark.mask);
}

/* Ports in network order, exact masks, full-length prefixes. */
static void check_selector(const struct xfrm_selector *sel, uint16_t family, const char *src,
                           const char *dst, uint16_t sport, uint16_t dport, uint8_t proto)
{
    xfrm_address_t s = addr(family, src), d = addr(family, dst);
    assert_memory_equal(&sel->saddr, &s, sizeof s);
    assert_memory_equal(&sel->daddr, &d, sizeof d);
    const uint8_t *sp = (const uint8_t *)&sel->sport, *dp = (const uint8_t *)&sel->dport;
    assert_int_equal(sp[0], sport >> 8);
    assert_int_equal(sp[1], sport & 0xff);
    assert_int_equal(dp[0], dport >> 8);
    assert_int_equal(dp[1], dport & 0xff);
    assert_int_equal(sel->sport_mask, sport ? 0xffff : 0);
    assert_int_equal(sel->dport_mask, dport ? 0xffff : 0);
    assert_int_equal(sel->family, family);
    int bits = family == AF_INET ? 32 : 128;
    assert_int_equal(sel->prefixlen_s, bits);
    assert_int_equal(sel->prefixlen_d, bits);
    assert_int_equal(sel->proto, proto);
    assert_int_equal(sel->ifindex, 0);
    assert_int_equal(sel->user, 0);
}

static void check_no_limits(const struct xfrm_lifetime_cfg *lft)
{
    assert_true(lft->soft_byte_limit == XFRM_INF && lft->hard_byte_limit == XFRM_INF);
    assert_true(lft->soft_packet_limit == XFRM_INF && lft->hard_packet_limit == XFRM_INF);
    assert_true(lft->soft_add_expires_seconds == 0 && lft->hard_add_expires_seconds == 0);
}

static void test_allocspi(void **state)
{
    uint8_t buf[512];
    memset(buf, 0xa5, sizeof buf); /* every byte we do not set must come out zero */
    xfrm_msg_flow_t f = flow(AF_INET, UE4, US4, 0, 0, 0);
    int len = xfrm_msg_allocspi(buf, sizeof buf, 41, &f, 7, 0x1000, 0x1fff, &our_mark);
    size_t fixed = sizeof(struct xfrm_userspi_info);
    assert_int_equal(len, NLMSG_HDRLEN + NLMSG_ALIGN(fixed) + NLA_ALIGN(NLA_HDRLEN + 8));
    check_hdr(buf, len, XFRM_MSG_ALLOCSPI, NLM_F_REQUEST, 41);
    struct xfrm_userspi_info sp;
    memcpy(&sp, buf + NLMSG_HDRLEN, sizeof sp);
    xfrm_address_t ue = addr(AF_INET, UE4), us = addr(AF_INET, US4);
    assert_memory_equal(&sp.info.saddr, &ue, sizeof ue);
    assert_memory_equal(&sp.info.id.daddr, &us, sizeof us);
    assert_int_equal(((const uint8_t *)&sp.info.id.daddr)[0], 198); /* network order */
    assert_int_equal(sp.info.id.spi, 0);
    assert_int_equal(sp.info.id.proto, IPPROTO_ESP);
    assert_int_equal(sp.info.family, AF_INET);
    assert_int_equal(sp.info.mode, XFRM_MODE_TRANSPORT);
    assert_int_equal(sp.info.reqid, 7);
    assert_int_equal(sp.min, 0x1000); /* host order: the kernel converts */
    assert_int_equal(sp.max, 0x1fff);
    struct xfrm_usersa_info zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&sp.info.sel, &zero.sel, sizeof zero.sel);
    uint16_t t[4], l[4];
    const uint8_t *p[4];
    assert_int_equal(walk_attrs(buf, fixed, t, l, p, 4), 1);
    check_mark(t[0], l[0], p[0]);
}

static void test_newsa_v4_sha1_aes(void **state)
{
    uint8_t buf[1024];
    memset(buf, 0xa5, sizeof buf);
    xfrm_msg_sa_t sa = sa_v4();
    int len = xfrm_msg_newsa(buf, sizeof buf, 42, &sa, 0);
    assert_true(len > 0);
    check_hdr(buf, len, XFRM_MSG_NEWSA, NLM_F_REQUEST | NLM_F_ACK, 42);
    struct xfrm_usersa_info info;
    memcpy(&info, buf + NLMSG_HDRLEN, sizeof info);
    check_selector(&info.sel, AF_INET, US4, UE4, 5064, 6001, IPPROTO_UDP);
    /* SPI in network order: 0x01020304 reads 01 02 03 04 on the wire. */
    const uint8_t *spi = (const uint8_t *)&info.id.spi;
    assert_true(spi[0] == 1 && spi[1] == 2 && spi[2] == 3 && spi[3] == 4);
    assert_int_equal(info.id.proto, IPPROTO_ESP);
    xfrm_address_t ue = addr(AF_INET, UE4), us = addr(AF_INET, US4);
    assert_memory_equal(&info.id.daddr, &ue, sizeof ue);
    assert_memory_equal(&info.saddr, &us, sizeof us);
    check_no_limits(&info.lft);
    assert_int_equal(info.family, AF_INET);
    assert_int_equal(info.mode, XFRM_MODE_TRANSPORT);
    assert_int_equal(info.replay_window, 32);
    assert_int_equal(info.reqid, 7);
    assert_int_equal(info.flags, 0);
    assert_int_equal(info.seq, 0);

    uint16_t t[8], l[8];
    const uint8_t *p[8];
    assert_int_equal(walk_attrs(buf, sizeof info, t, l, p, 8), 3);
    assert_int_equal(t[0], XFRMA_ALG_AUTH_TRUNC);
    assert_int_equal(l[0], NLA_HDRLEN + sizeof(struct xfrm_algo_auth) + 20);
    struct xfrm_algo_auth auth;
    memcpy(&auth, p[0], sizeof auth);
    assert_string_equal(auth.alg_name, "hmac(sha1)");
    assert_int_equal(auth.alg_key_len, 160); /* bits */
    assert_int_equal(auth.alg_trunc_len, 96);
    assert_memory_equal(p[0] + sizeof auth, ik_key, 20);
    assert_int_equal(t[1], XFRMA_ALG_CRYPT);
    assert_int_equal(l[1], NLA_HDRLEN + sizeof(struct xfrm_algo) + 16);
    struct xfrm_algo enc;
    memcpy(&enc, p[1], sizeof enc);
    assert_string_equal(enc.alg_name, "cbc(aes)");
    assert_int_equal(enc.alg_key_len, 128);
    assert_memory_equal(p[1] + sizeof enc, ck_key, 16);
    check_mark(t[2], l[2], p[2]);
}

static void test_updsa_v6_md5_null(void **state)
{
    uint8_t buf[1024];
    memset(buf, 0xa5, sizeof buf);
    xfrm_msg_sa_t sa = sa_v4();
    sa.flow = flow(AF_INET6, UE6, US6, 6001, 5064, IPPROTO_TCP);
    sa.auth = XFRM_MSG_AUTH_HMAC_MD5_96;
    sa.auth_key_len = 16;
    sa.enc = XFRM_MSG_ENC_NULL;
    sa.enc_key = NULL;
    sa.enc_key_len = 0;
    int len = xfrm_msg_newsa(buf, sizeof buf, 43, &sa, 1);
    assert_true(len > 0);
    /* UPDSA fills the larval SA ALLOCSPI made (NEWSA would fail with EEXIST). */
    check_hdr(buf, len, XFRM_MSG_UPDSA, NLM_F_REQUEST | NLM_F_ACK, 43);
    struct xfrm_usersa_info info;
    memcpy(&info, buf + NLMSG_HDRLEN, sizeof info);
    check_selector(&info.sel, AF_INET6, UE6, US6, 6001, 5064, IPPROTO_TCP);
    xfrm_address_t us = addr(AF_INET6, US6);
    assert_memory_equal(&info.id.daddr, &us, sizeof us);
    assert_int_equal(info.family, AF_INET6);
    uint16_t t[8], l[8];
    const uint8_t *p[8];
    assert_int_equal(walk_attrs(buf, sizeof info, t, l, p, 8), 3);
    struct xfrm_algo_auth auth;
    memcpy(&auth, p[0], sizeof auth);
    assert_string_equal(auth.alg_name, "hmac(md5)");
    assert_int_equal(auth.alg_key_len, 128);
    assert_int_equal(auth.alg_trunc_len, 96);
    assert_int_equal(l[1], NLA_HDRLEN + sizeof(struct xfrm_algo));
    struct xfrm_algo enc;
    memcpy(&enc, p[1], sizeof enc);
    assert_string_equal(enc.alg_name, "ecb(cipher_null)");
    assert_int_equal(enc.alg_key_len, 0);
    check_mark(t[2], l[2], p[2]);
}

static void test_newsa_des3_any_port(void **state)
{
    uint8_t buf[1024];
    xfrm_msg_sa_t sa = sa_v4();
    sa.flow.sport = 0;
    sa.flow.l4proto = 0; /* UDP and TCP */
    sa.enc = XFRM_MSG_ENC_DES3_CBC;
    sa.enc_key_len = 24;
    int len = xfrm_msg_newsa(buf, sizeof buf, 1, &sa, 0);
    assert_true(len > 0);
    struct xfrm_usersa_info info;
    memcpy(&info, buf + NLMSG_HDRLEN, sizeof info);
    check_selector(&info.sel, AF_INET, US4, UE4, 0, 6001, 0);
    uint16_t t[8], l[8];
    const uint8_t *p[8];
    assert_int_equal(walk_attrs(buf, sizeof info, t, l, p, 8), 3);
    assert_int_equal(l[1], NLA_HDRLEN + sizeof(struct xfrm_algo) + 24);
    struct xfrm_algo enc;
    memcpy(&enc, p[1], sizeof enc);
    assert_string_equal(enc.alg_name, "cbc(des3_ede)");
    assert_int_equal(enc.alg_key_len, 192);
    assert_memory_equal(p[1] + sizeof enc, ck_key, 24);
}

static void test_newpolicy(void **state)
{
    static const uint8_t dirs[] = {XFRM_POLICY_IN, XFRM_POLICY_OUT};
    for (size_t i = 0; i < 2; i++) {
        uint8_t buf[512];
        memset(buf, 0xa5, sizeof buf);
        xfrm_msg_policy_t pol = {.flow = flow(AF_INET6, UE6, US6, 6001, 5064, IPPROTO_UDP),
                                 .dir = dirs[i],
                                 .priority = 100,
                                 .reqid = 7,
                                 .mark = our_mark};
        int len = xfrm_msg_newpolicy(buf, sizeof buf, 44, &pol);
        assert_true(len > 0);
        check_hdr(buf, len, XFRM_MSG_NEWPOLICY, NLM_F_REQUEST | NLM_F_ACK, 44);
        struct xfrm_userpolicy_info p;
        memcpy(&p, buf + NLMSG_HDRLEN, sizeof p);
        check_selector(&p.sel, AF_INET6, UE6, US6, 6001, 5064, IPPROTO_UDP);
        check_no_limits(&p.lft);
        assert_int_equal(p.dir, dirs[i]);
        assert_int_equal(p.action, XFRM_POLICY_ALLOW);
        assert_int_equal(p.priority, 100);
        assert_int_equal(p.index, 0);
        assert_int_equal(p.flags, 0);
        uint16_t t[4], l[4];
        const uint8_t *a[4];
        assert_int_equal(walk_attrs(buf, sizeof p, t, l, a, 4), 2);
        assert_int_equal(t[0], XFRMA_TMPL);
        assert_int_equal(l[0], NLA_HDRLEN + sizeof(struct xfrm_user_tmpl));
        struct xfrm_user_tmpl tmpl;
        memcpy(&tmpl, a[0], sizeof tmpl);
        xfrm_address_t ue = addr(AF_INET6, UE6), us = addr(AF_INET6, US6);
        assert_memory_equal(&tmpl.saddr, &ue, sizeof ue);
        assert_memory_equal(&tmpl.id.daddr, &us, sizeof us);
        assert_int_equal(tmpl.id.spi, 0); /* any SPI of the pair */
        assert_int_equal(tmpl.id.proto, IPPROTO_ESP);
        assert_int_equal(tmpl.family, AF_INET6);
        assert_int_equal(tmpl.reqid, 7);
        assert_int_equal(tmpl.mode, XFRM_MODE_TRANSPORT);
        assert_int_equal(tmpl.optional, 0); /* required: never in clear */
        assert_true(tmpl.aalgos == ~0u && tmpl.ealgos == ~0u && tmpl.calgos == ~0u);
        check_mark(t[1], l[1], a[1]);
    }
}

static void test_delsa_delpolicy_dump(void **state)
{
    uint8_t buf[512];
    memset(buf, 0xa5, sizeof buf);
    xfrm_address_t ue = addr(AF_INET, UE4);
    int len = xfrm_msg_delsa(buf, sizeof buf, 45, AF_INET, &ue, 0xc0ffee01, &our_mark);
    assert_int_equal(len, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct xfrm_usersa_id)) + 12);
    check_hdr(buf, len, XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK, 45);
    struct xfrm_usersa_id id;
    memcpy(&id, buf + NLMSG_HDRLEN, sizeof id);
    assert_memory_equal(&id.daddr, &ue, sizeof ue);
    assert_int_equal(id.spi, htonl(0xc0ffee01));
    assert_int_equal(id.family, AF_INET);
    assert_int_equal(id.proto, IPPROTO_ESP);
    uint16_t t[4], l[4];
    const uint8_t *p[4];
    assert_int_equal(walk_attrs(buf, sizeof id, t, l, p, 4), 1);
    check_mark(t[0], l[0], p[0]);

    /* By selector. */
    memset(buf, 0xa5, sizeof buf);
    xfrm_msg_flow_t f = flow(AF_INET, UE4, US4, 6001, 5064, IPPROTO_UDP);
    len = xfrm_msg_delpolicy(buf, sizeof buf, 46, &f, XFRM_POLICY_IN, 0, &our_mark);
    check_hdr(buf, len, XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK, 46);
    struct xfrm_userpolicy_id pid;
    memcpy(&pid, buf + NLMSG_HDRLEN, sizeof pid);
    check_selector(&pid.sel, AF_INET, UE4, US4, 6001, 5064, IPPROTO_UDP);
    assert_int_equal(pid.index, 0);
    assert_int_equal(pid.dir, XFRM_POLICY_IN);
    assert_int_equal(walk_attrs(buf, sizeof pid, t, l, p, 4), 1);
    check_mark(t[0], l[0], p[0]);

    /* By index (from a dump): no flow needed, the selector stays zero. */
    memset(buf, 0xa5, sizeof buf);
    len = xfrm_msg_delpolicy(buf, sizeof buf, 47, NULL, XFRM_POLICY_OUT, 0x1234, &our_mark);
    check_hdr(buf, len, XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK, 47);
    memcpy(&pid, buf + NLMSG_HDRLEN, sizeof pid);
    assert_int_equal(pid.index, 0x1234);
    assert_int_equal(pid.dir, XFRM_POLICY_OUT);
    assert_int_equal(pid.sel.family, 0);
    assert_int_equal(walk_attrs(buf, sizeof pid, t, l, p, 4), 1);
    check_mark(t[0], l[0], p[0]);

    len = xfrm_msg_dump_sa(buf, sizeof buf, 48);
    assert_int_equal(len, NLMSG_HDRLEN);
    check_hdr(buf, len, XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_DUMP, 48);
    len = xfrm_msg_dump_policy(buf, sizeof buf, 49);
    assert_int_equal(len, NLMSG_HDRLEN);
    check_hdr(buf, len, XFRM_MSG_GETPOLICY, NLM_F_REQUEST | NLM_F_DUMP, 49);
}

/* Each builder with a heap buffer of exactly its length succeeds, one byte less is refused
 * (ASan catches a write past either). */
typedef int (*build_fn)(void *buf, size_t size);

static int b_alloc(void *b, size_t n)
{
    xfrm_msg_flow_t f = flow(AF_INET6, UE6, US6, 0, 0, 0);
    return xfrm_msg_allocspi(b, n, 1, &f, 0, 256, 0xffffffff, &our_mark);
}
static int b_newsa(void *b, size_t n)
{
    xfrm_msg_sa_t sa = sa_v4();
    sa.enc = XFRM_MSG_ENC_DES3_CBC;
    sa.enc_key_len = 24; /* 24 + 68 is a multiple of 4: also try the md5 one below */
    return xfrm_msg_newsa(b, n, 1, &sa, 0);
}
static int b_newsa_md5(void *b, size_t n)
{
    xfrm_msg_sa_t sa = sa_v4();
    sa.auth = XFRM_MSG_AUTH_HMAC_MD5_96;
    sa.auth_key_len = 16;
    return xfrm_msg_newsa(b, n, 1, &sa, 1);
}
static int b_pol(void *b, size_t n)
{
    xfrm_msg_policy_t pol = {.flow = flow(AF_INET, UE4, US4, 1, 2, IPPROTO_TCP),
                             .dir = XFRM_POLICY_OUT,
                             .mark = our_mark};
    return xfrm_msg_newpolicy(b, n, 1, &pol);
}
static int b_delsa(void *b, size_t n)
{
    xfrm_address_t a = addr(AF_INET, UE4);
    return xfrm_msg_delsa(b, n, 1, AF_INET, &a, 1000, &our_mark);
}
static int b_delpol(void *b, size_t n)
{
    return xfrm_msg_delpolicy(b, n, 1, NULL, XFRM_POLICY_IN, 9, &our_mark);
}
static int b_dump(void *b, size_t n)
{
    return xfrm_msg_dump_sa(b, n, 1);
}

static void test_small_buffers(void **state)
{
    build_fn fns[] = {b_alloc, b_newsa, b_newsa_md5, b_pol, b_delsa, b_delpol, b_dump};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        uint8_t big[1024];
        int len = fns[i](big, sizeof big);
        assert_true(len > 0);
        uint8_t *exact = malloc((size_t)len);
        assert_int_equal(fns[i](exact, (size_t)len), len);
        assert_memory_equal(exact, big, (size_t)len);
        free(exact);
        uint8_t *shortb = malloc((size_t)len - 1);
        assert_int_equal(fns[i](shortb, (size_t)len - 1), -1);
        free(shortb);
        assert_int_equal(fns[i](NULL, sizeof big), -1);
        assert_int_equal(fns[i](big, 0), -1);
    }
}

static void test_bad_input(void **state)
{
    uint8_t buf[1024];
    size_t n = sizeof buf;
    xfrm_msg_flow_t f = flow(AF_INET, UE4, US4, 1, 2, IPPROTO_UDP);
    assert_int_equal(xfrm_msg_allocspi(buf, n, 1, &f, 0, 255, 1000, &our_mark), -1); /* reserved */
    assert_int_equal(xfrm_msg_allocspi(buf, n, 1, &f, 0, 2000, 1000, &our_mark), -1);
    assert_int_equal(xfrm_msg_allocspi(buf, n, 1, &f, 0, 256, 1000, NULL), -1);
    assert_int_equal(xfrm_msg_allocspi(buf, n, 1, NULL, 0, 256, 1000, &our_mark), -1);
    xfrm_msg_flow_t bad = f;
    bad.family = AF_UNIX;
    assert_int_equal(xfrm_msg_allocspi(buf, n, 1, &bad, 0, 256, 1000, &our_mark), -1);
    bad = f;
    bad.l4proto = IPPROTO_ICMP;
    assert_int_equal(xfrm_msg_allocspi(buf, n, 1, &bad, 0, 256, 1000, &our_mark), -1);

    xfrm_msg_sa_t sa = sa_v4();
    assert_true(xfrm_msg_newsa(buf, n, 1, &sa, 0) > 0);
    sa.spi = 0;
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, &sa, 0), -1);
    sa = sa_v4();
    sa.auth_key_len = 16; /* sha1 wants 20 */
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, &sa, 0), -1);
    sa = sa_v4();
    sa.enc_key_len = 24; /* aes-128 wants 16 */
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, &sa, 0), -1);
    sa = sa_v4();
    sa.enc_key = NULL;
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, &sa, 0), -1);
    sa = sa_v4();
    sa.auth_key = NULL;
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, &sa, 0), -1);
    sa = sa_v4();
    sa.enc = (xfrm_msg_enc_t)9;
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, &sa, 0), -1);
    sa = sa_v4();
    sa.auth = (xfrm_msg_auth_t)9;
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, &sa, 0), -1);
    assert_int_equal(xfrm_msg_newsa(buf, n, 1, NULL, 0), -1);

    xfrm_msg_policy_t pol = {.flow = f, .dir = XFRM_POLICY_FWD, .mark = our_mark};
    assert_int_equal(xfrm_msg_newpolicy(buf, n, 1, &pol), -1); /* in or out only */
    assert_int_equal(xfrm_msg_delpolicy(buf, n, 1, &f, XFRM_POLICY_FWD, 0, &our_mark), -1);
    assert_int_equal(xfrm_msg_delpolicy(buf, n, 1, NULL, XFRM_POLICY_IN, 0, &our_mark), -1);
    assert_int_equal(xfrm_msg_delpolicy(buf, n, 1, &f, XFRM_POLICY_IN, 0, NULL), -1);
    xfrm_address_t a = addr(AF_INET, UE4);
    assert_int_equal(xfrm_msg_delsa(buf, n, 1, AF_INET, &a, 0, &our_mark), -1);
    assert_int_equal(xfrm_msg_delsa(buf, n, 1, 0, &a, 1000, &our_mark), -1);
    assert_int_equal(xfrm_msg_delsa(buf, n, 1, AF_INET, NULL, 1000, &our_mark), -1);
}

/* An answer as the kernel sends it: header, fixed payload, attributes. */
static size_t put_answer(uint8_t *buf, uint16_t type, const void *fixed, size_t flen,
                         const struct xfrm_mark *mark, uint16_t mark_len)
{
    memset(buf, 0, 1024);
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    nlh->nlmsg_type = type;
    nlh->nlmsg_seq = 41;
    nlh->nlmsg_pid = 0;
    memcpy(buf + NLMSG_HDRLEN, fixed, flen);
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(flen);
    if (mark) {
        struct nlattr *a = (struct nlattr *)(buf + off);
        a->nla_type = XFRMA_MARK;
        a->nla_len = (uint16_t)(NLA_HDRLEN + mark_len);
        memcpy(buf + off + NLA_HDRLEN, mark, mark_len);
        off += NLA_ALIGN(a->nla_len);
    }
    nlh->nlmsg_len = (uint32_t)off;
    return off;
}

static void test_parse_error(void **state)
{
    uint8_t buf[1024];
    struct nlmsgerr e = {.error = -EPERM};
    e.msg.nlmsg_type = XFRM_MSG_NEWSA;
    e.msg.nlmsg_seq = 42;
    size_t len = put_answer(buf, NLMSG_ERROR, &e, sizeof e, NULL, 0);
    int err = 1;
    assert_int_equal(xfrm_msg_parse_error(buf, len, &err), 0);
    assert_int_equal(err, -EPERM);
    e.error = 0; /* an ACK */
    len = put_answer(buf, NLMSG_ERROR, &e, sizeof e, NULL, 0);
    assert_int_equal(xfrm_msg_parse_error(buf, len, &err), 0);
    assert_int_equal(err, 0);
    assert_int_equal(xfrm_msg_parse_error(buf, len - 1, &err), -1); /* truncated */
    assert_int_equal(xfrm_msg_parse_error(buf, 8, &err), -1);
    assert_int_equal(xfrm_msg_parse_error(NULL, len, &err), -1);
    assert_int_equal(xfrm_msg_parse_error(buf, len, NULL), -1);
    e.error = EPERM; /* positive: not what a kernel sends */
    len = put_answer(buf, NLMSG_ERROR, &e, sizeof e, NULL, 0);
    assert_int_equal(xfrm_msg_parse_error(buf, len, &err), -1);
    e.error = -EEXIST;
    len = put_answer(buf, XFRM_MSG_NEWSA, &e, sizeof e, NULL, 0); /* wrong type */
    assert_int_equal(xfrm_msg_parse_error(buf, len, &err), -1);
    len = put_answer(buf, NLMSG_ERROR, &e, 4, NULL, 0); /* payload too short */
    assert_int_equal(xfrm_msg_parse_error(buf, len, &err), -1);
}

static void test_parse_sa(void **state)
{
    uint8_t buf[1024];
    struct xfrm_usersa_info info;
    memset(&info, 0, sizeof info);
    info.family = AF_INET6;
    info.id.daddr = addr(AF_INET6, US6);
    info.saddr = addr(AF_INET6, UE6);
    info.id.spi = htonl(0x8000abcd);
    info.id.proto = IPPROTO_ESP;
    info.reqid = 7;
    struct xfrm_mark m = {.v = our_mark.value, .m = our_mark.mask};
    size_t len = put_answer(buf, XFRM_MSG_NEWSA, &info, sizeof info, &m, sizeof m);
    xfrm_msg_sa_id_t id;
    assert_int_equal(xfrm_msg_parse_sa(buf, len, &id), 0);
    assert_int_equal(id.spi, 0x8000abcd);
    assert_int_equal(id.family, AF_INET6);
    assert_int_equal(id.proto, IPPROTO_ESP);
    assert_int_equal(id.reqid, 7);
    assert_memory_equal(&id.dst, &info.id.daddr, sizeof id.dst);
    assert_memory_equal(&id.src, &info.saddr, sizeof id.src);
    assert_true(id.has_mark);
    assert_true(xfrm_msg_mark_is_ours(id.has_mark, &id.mark, &our_mark));
    xfrm_msg_mark_t other = {.value = 0x5ec1, .mask = 0xffff};
    assert_false(xfrm_msg_mark_is_ours(id.has_mark, &id.mark, &other));

    /* Another user's SA, without a mark: never ours. */
    len = put_answer(buf, XFRM_MSG_NEWSA, &info, sizeof info, NULL, 0);
    assert_int_equal(xfrm_msg_parse_sa(buf, len, &id), 0);
    assert_false(id.has_mark);
    assert_false(xfrm_msg_mark_is_ours(id.has_mark, &id.mark, &our_mark));

    len = put_answer(buf, XFRM_MSG_NEWSA, &info, sizeof info, &m, 4); /* short mark */
    assert_int_equal(xfrm_msg_parse_sa(buf, len, &id), -1);
    len = put_answer(buf, XFRM_MSG_NEWSA, &info, sizeof info, &m, sizeof m);
    assert_int_equal(xfrm_msg_parse_sa(buf, len - 1, &id), -1);
    assert_int_equal(xfrm_msg_parse_sa(buf, len, NULL), -1);
    len = put_answer(buf, XFRM_MSG_NEWSA, &info, sizeof info - 4, NULL, 0); /* short payload */
    assert_int_equal(xfrm_msg_parse_sa(buf, len, &id), -1);
    len = put_answer(buf, XFRM_MSG_DELSA, &info, sizeof info, NULL, 0);
    assert_int_equal(xfrm_msg_parse_sa(buf, len, &id), -1);
    info.family = AF_UNIX;
    len = put_answer(buf, XFRM_MSG_NEWSA, &info, sizeof info, NULL, 0);
    assert_int_equal(xfrm_msg_parse_sa(buf, len, &id), -1);

    /* Our own NEWSA reads back the same: encoder and decoder agree on every field. */
    xfrm_msg_sa_t sa = sa_v4();
    int n = xfrm_msg_newsa(buf, sizeof buf, 1, &sa, 0);
    assert_true(n > 0);
    assert_int_equal(xfrm_msg_parse_sa(buf, (size_t)n, &id), 0);
    assert_int_equal(id.spi, sa.spi);
    assert_memory_equal(&id.dst, &sa.flow.dst, 4);
    assert_true(xfrm_msg_mark_is_ours(id.has_mark, &id.mark, &our_mark));
}

static void test_parse_policy(void **state)
{
    uint8_t buf[1024];
    struct xfrm_userpolicy_info p;
    memset(&p, 0, sizeof p);
    p.index = 0x99;
    p.dir = XFRM_POLICY_OUT;
    struct xfrm_mark m = {.v = our_mark.value, .m = our_mark.mask};
    size_t len = put_answer(buf, XFRM_MSG_NEWPOLICY, &p, sizeof p, &m, sizeof m);
    xfrm_msg_policy_id_t id;
    assert_int_equal(xfrm_msg_parse_policy(buf, len, &id), 0);
    assert_int_equal(id.index, 0x99);
    assert_int_equal(id.dir, XFRM_POLICY_OUT);
    assert_true(xfrm_msg_mark_is_ours(id.has_mark, &id.mark, &our_mark));
    len = put_answer(buf, XFRM_MSG_NEWPOLICY, &p, sizeof p, NULL, 0);
    assert_int_equal(xfrm_msg_parse_policy(buf, len, &id), 0);
    assert_false(xfrm_msg_mark_is_ours(id.has_mark, &id.mark, &our_mark));
    len = put_answer(buf, XFRM_MSG_NEWSA, &p, sizeof p, NULL, 0);
    assert_int_equal(xfrm_msg_parse_policy(buf, len, &id), -1);
    struct xfrm_mark long_mark[2] = {m, m};
    len = put_answer(buf, XFRM_MSG_NEWPOLICY, &p, sizeof p, long_mark, 12);
    assert_int_equal(xfrm_msg_parse_policy(buf, len, &id), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocspi),          cmocka_unit_test(test_newsa_v4_sha1_aes),
        cmocka_unit_test(test_updsa_v6_md5_null), cmocka_unit_test(test_newsa_des3_any_port),
        cmocka_unit_test(test_newpolicy),         cmocka_unit_test(test_delsa_delpolicy_dump),
        cmocka_unit_test(test_small_buffers),     cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_parse_error),       cmocka_unit_test(test_parse_sa),
        cmocka_unit_test(test_parse_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
