/* NETLINK_XFRM messages for the xfrm datapath (the kernel's IPsec): one UE's SA pair and its
 * policies, built into a caller's buffer with libmnl, and the kernel's answers parsed.
 * Pure encoding and decoding: no socket here (the datapath sends and receives).
 *
 * Byte order, as the kernel's uapi <linux/xfrm.h> wants it: addresses, SPIs and selector ports
 * in network order; family, reqid, ALLOCSPI's range, lifetimes and priorities in host order.
 * Callers pass ports, SPIs and the SPI range in host order; this file converts.
 *
 * Every SA and policy we add carries our XFRMA_MARK, and every delete names it: the kernel looks
 * an SA or policy up by its mark too, so we never touch the SAs of another IPsec user on the
 * host. The kernel's own XFRM_MSG_FLUSHSA/FLUSHPOLICY ignore marks (they would flush everyone's),
 * so "flush ours" is a dump (xfrm_msg_dump_*) whose entries xfrm_msg_parse_* decode, followed by
 * one delete per entry whose mark is ours (xfrm_msg_mark_is_ours). */
#ifndef CSCF_XFRM_MSG_H
#define CSCF_XFRM_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <linux/xfrm.h>

/* Integrity algorithms of TS 33.203 (both truncated to 96 bits on the wire). */
typedef enum xfrm_msg_auth {
    XFRM_MSG_AUTH_HMAC_SHA1_96, /* "hmac(sha1)", 160-bit key */
    XFRM_MSG_AUTH_HMAC_MD5_96,  /* "hmac(md5)", 128-bit key */
} xfrm_msg_auth_t;

/* Encryption algorithms of TS 33.203. */
typedef enum xfrm_msg_enc {
    XFRM_MSG_ENC_NULL,     /* "ecb(cipher_null)", no key */
    XFRM_MSG_ENC_AES_CBC,  /* "cbc(aes)", 128-bit key */
    XFRM_MSG_ENC_DES3_CBC, /* "cbc(des3_ede)", 192-bit key */
} xfrm_msg_enc_t;

/* The traffic of one direction between the UE and us: exact addresses, exact ports. */
typedef struct xfrm_msg_flow {
    uint16_t family; /* AF_INET or AF_INET6 (both addresses) */
    xfrm_address_t src, dst;
    uint16_t sport, dport; /* host order; 0 = any port */
    uint8_t l4proto;       /* IPPROTO_UDP, IPPROTO_TCP, or 0 for both */
} xfrm_msg_flow_t;

/* Our mark: an SA or policy is ours when (its mark & mask) == value. */
typedef struct xfrm_msg_mark {
    uint32_t value, mask;
} xfrm_msg_mark_t;

/* One ESP SA in transport mode: the flow's addresses are the SA's, its ports the selector's. */
typedef struct xfrm_msg_sa {
    xfrm_msg_flow_t flow;
    uint32_t spi;   /* host order, never 0 */
    uint32_t reqid; /* ties the SA to its policy's template; 0 = any */
    uint8_t replay_window;
    xfrm_msg_auth_t auth;
    const uint8_t *auth_key;
    size_t auth_key_len; /* bytes: 20 for hmac-sha-1-96, 16 for hmac-md5-96 */
    xfrm_msg_enc_t enc;
    const uint8_t *enc_key;
    size_t enc_key_len; /* bytes: 0 for null, 16 for aes-cbc, 24 for des-ede3-cbc */
    xfrm_msg_mark_t mark;
} xfrm_msg_sa_t;

/* A policy: the flow's packets in one direction must use an ESP SA between its addresses. */
typedef struct xfrm_msg_policy {
    xfrm_msg_flow_t flow;
    uint8_t dir;       /* XFRM_POLICY_IN or XFRM_POLICY_OUT */
    uint32_t priority; /* lower wins */
    uint32_t reqid;
    xfrm_msg_mark_t mark;
} xfrm_msg_policy_t;

/* The builders write one netlink message at buf (size bytes) with sequence number seq and
 * return its length, or -1 when an input is invalid or the message does not fit (nothing
 * useful is then in buf). */

/* XFRM_MSG_ALLOCSPI: an SPI in [min, max] (host order, min >= 256) for an ESP SA from the
 * flow's src to its dst; the kernel answers with XFRM_MSG_NEWSA (xfrm_msg_parse_sa) holding a
 * larval SA (with our mark) which xfrm_msg_newsa(update = 1) must then fill: a NEWSA for that
 * SPI fails with EEXIST, and the kernel drops an unfilled larval SA after its acquire timeout
 * (sysctl net.core.xfrm_acq_expires, 30 s by default). */
int xfrm_msg_allocspi(void *buf, size_t size, uint32_t seq, const xfrm_msg_flow_t *flow,
                      uint32_t reqid, uint32_t min, uint32_t max, const xfrm_msg_mark_t *mark);
/* XFRM_MSG_NEWSA (update 0) or XFRM_MSG_UPDSA (update 1, for an SPI from ALLOCSPI): the SA with
 * its algorithms, keys, selector and mark. Asks for an ACK. */
int xfrm_msg_newsa(void *buf, size_t size, uint32_t seq, const xfrm_msg_sa_t *sa, int update);
/* XFRM_MSG_NEWPOLICY for exactly the flow, with one ESP transport template. Asks for an ACK. */
int xfrm_msg_newpolicy(void *buf, size_t size, uint32_t seq, const xfrm_msg_policy_t *pol);
/* XFRM_MSG_DELSA: the ESP SA to dst with spi (host order) and our mark. */
int xfrm_msg_delsa(void *buf, size_t size, uint32_t seq, uint16_t family, const xfrm_address_t *dst,
                   uint32_t spi, const xfrm_msg_mark_t *mark);
/* XFRM_MSG_DELPOLICY: by index when index is not 0 (from a dump), else by the flow and dir. */
int xfrm_msg_delpolicy(void *buf, size_t size, uint32_t seq, const xfrm_msg_flow_t *flow,
                       uint8_t dir, uint32_t index, const xfrm_msg_mark_t *mark);
/* Dump requests (XFRM_MSG_GETSA / GETPOLICY with NLM_F_DUMP): the first step of a flush. */
int xfrm_msg_dump_sa(void *buf, size_t size, uint32_t seq);
int xfrm_msg_dump_policy(void *buf, size_t size, uint32_t seq);

/* What identifies an SA the kernel reported (ALLOCSPI's answer or a dump entry). */
typedef struct xfrm_msg_sa_id {
    uint16_t family;
    xfrm_address_t src, dst;
    uint32_t spi; /* host order */
    uint8_t proto;
    uint32_t reqid;
    int has_mark;
    xfrm_msg_mark_t mark;
} xfrm_msg_sa_id_t;

/* What identifies a policy the kernel reported (a dump entry). */
typedef struct xfrm_msg_policy_id {
    uint32_t index;
    uint8_t dir;
    int has_mark;
    xfrm_msg_mark_t mark;
} xfrm_msg_policy_id_t;

/* The one message at buf (len bytes received). Each returns 0, or -1 when it is not that
 * message or is malformed (truncated, wrong type, bad attribute length). */
/* NLMSG_ERROR: *err = 0 for an ACK, else the kernel's negative errno (-EPERM, -EEXIST...). */
int xfrm_msg_parse_error(const void *buf, size_t len, int *err);
int xfrm_msg_parse_sa(const void *buf, size_t len, xfrm_msg_sa_id_t *out);
int xfrm_msg_parse_policy(const void *buf, size_t len, xfrm_msg_policy_id_t *out);

/* 1 when a reported mark is ours: present and equal to ours under our mask. */
int xfrm_msg_mark_is_ours(int has_mark, const xfrm_msg_mark_t *theirs, const xfrm_msg_mark_t *ours);

#endif
