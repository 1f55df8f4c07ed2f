/* The P-CSCF's IPsec datapath for Gm (TS 33.203 7, DESIGN: two datapaths behind one interface):
 * it installs and removes the four SAs of one UE and protects every packet between the UE's
 * ports and the P-CSCF's protected ports.
 *
 *   UE port_uc ==ESP spi_ps==> port_ps  P-CSCF   (the UE's requests, our responses: spi_uc)
 *   UE port_us <==ESP spi_us== port_pc  P-CSCF   (our requests, the UE's responses: spi_pc)
 *
 * Two kinds, chosen by ipsec.datapath:
 *   - userspace: a raw IPPROTO_ESP socket receives ESP; the datapath checks the ICV and the
 *     replay window, decrypts, checks the inner ports against the SA's selectors and writes the
 *     inner packet into a TUN device, so the kernel's UDP/TCP delivers it to the protected
 *     sockets. Packets the P-CSCF sends from port_pc/port_ps are routed into the TUN device
 *     (policy routing by source port, and the protected sockets bound to the device), protected
 *     and sent on the raw socket. Runs on the su_root thread: no locks.
 *   - xfrm: the kernel's IPsec over NETLINK_XFRM (xfrm_msg.h): SAs and policies for exactly the
 *     UE's addresses and ports, marked with ipsec.xfrm_mark so only ours are flushed.
 * Both need CAP_NET_ADMIN; ipsec_dp_open() says so in err when it is missing.
 *
 * Outbound SA choice when two sets of one UE share addresses and ports (a re-registration
 * before the old set is removed): the set whose inbound SA most recently carried a packet, and
 * among sets not used yet the newest installed. So the 401 to a re-REGISTER over the old set
 * goes back over the old set, and the 200 to the REGISTER that came over the new set goes back
 * over the new one. xfrm: the kernel chooses, the newest installed set (dp_xfrm.c). */
#ifndef CSCF_IPSEC_DP_H
#define CSCF_IPSEC_DP_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/su_wait.h>

#include "common/ipsec/sa_keys.h"
#include "common/ops/metrics.h"

typedef enum ipsec_dp_kind {
    IPSEC_DP_USERSPACE,
    IPSEC_DP_XFRM,
} ipsec_dp_kind_t;

/* "userspace" or "xfrm"; 0, or -1 for anything else. */
int ipsec_dp_kind_parse(const char *s, ipsec_dp_kind_t *out);
const char *ipsec_dp_kind_name(ipsec_dp_kind_t kind);

typedef struct ipsec_dp_config {
    ipsec_dp_kind_t kind;
    const char *local_addr; /* the P-CSCF's Gm address, numeric IPv4 (IPv6: not yet) */
    uint16_t port_pc, port_ps;
    const char *tun_name;      /* userspace: the TUN device's name ("cscf-esp0") */
    uint32_t route_table;      /* userspace: policy routing table for port_pc/port_ps */
    uint32_t rule_pref;        /* userspace: priority of our ip rules */
    uint32_t xfrm_mark;        /* xfrm: nonzero; our SAs and policies carry mark 0 under this
                                  mask (value 0 so unmarked packets match: dp_xfrm.c) */
    uint32_t spi_min, spi_max; /* our SPIs come from this range (>= 256) */
} ipsec_dp_config_t;

typedef struct ipsec_dp ipsec_dp_t;

/* Opens the datapath: userspace creates the TUN device, its address-less link, the routing
 * rules and the raw socket and registers them on root; xfrm opens NETLINK_XFRM and removes SAs
 * and policies carrying our mark that a previous run left behind. NULL with the reason in err
 * (e.g. "CAP_NET_ADMIN is needed to create the TUN device cscf-esp0: run as root or add
 * NET_ADMIN"). Metrics (may be NULL) get the ESP counters:
 *   ipsec_esp_packets_total{dir=in|out}, ipsec_esp_bytes_total{dir=in|out},
 *   ipsec_esp_dropped_total{reason=icv|replay|malformed|no_sa|selector|...}. */
ipsec_dp_t *ipsec_dp_open(const ipsec_dp_config_t *cfg, su_root_t *root, metrics_t *metrics,
                          char *err, size_t errlen);
/* Removes every SA, policy, rule and device it made, then frees. NULL is allowed. */
void ipsec_dp_close(ipsec_dp_t *dp);

/* After the SIP core bound its protected listeners: makes sure the sockets on port_pc/port_ps
 * only ever take packets the datapath let through (userspace: SO_BINDTODEVICE to the TUN device
 * on every socket of this process bound to those ports; xfrm: nothing). 0, or -1 with err. */
int ipsec_dp_guard_sockets(ipsec_dp_t *dp, char *err, size_t errlen);

/* One UE's SA set: four SAs with one pair of keys (TS 33.203 7.1). Addresses numeric. */
typedef struct ipsec_sa_set {
    char ue_addr[46];
    uint16_t port_uc, port_us; /* the UE's, from its Security-Client */
    uint16_t port_pc, port_ps; /* ours */
    uint32_t spi_uc, spi_us;   /* the UE's inbound SPIs: our outbound SAs */
    uint32_t spi_pc, spi_ps;   /* our inbound SPIs (ipsec_dp_alloc_spis) */
    ipsec_keys_t keys;
    /* Where outbound sequence numbers resume (0: fresh SAs). After a restart the caller passes
     * the last numbers it stored, rounded up past anything sent (never reuse a number). */
    uint32_t seq_out_uc, seq_out_us;
} ipsec_sa_set_t;

/* Two SPIs for our inbound SAs to this UE, unique among the sets installed and allocated. 0, or
 * -1 when the range is exhausted or the kernel refused (xfrm: XFRM_MSG_ALLOCSPI). An allocation
 * that is never installed is released by ipsec_dp_remove() with the same SPIs. */
int ipsec_dp_alloc_spis(ipsec_dp_t *dp, const char *ue_addr, uint32_t *spi_pc, uint32_t *spi_ps);

/* Installs the set's four SAs (xfrm: and its policies). 0, or -1 (nothing left installed). */
int ipsec_dp_install(ipsec_dp_t *dp, const ipsec_sa_set_t *s);

/* Removes the set whose inbound SPIs are these (and a pending allocation of them). 0, or -1
 * when there is no such set. */
int ipsec_dp_remove(ipsec_dp_t *dp, uint32_t spi_pc, uint32_t spi_ps);

typedef struct ipsec_sa_stats {
    uint64_t packets_in, bytes_in;   /* accepted on spi_pc and spi_ps */
    uint64_t packets_out, bytes_out; /* sent on spi_uc and spi_us */
    uint32_t seq_out_uc, seq_out_us; /* the last sequence numbers sent */
    int64_t last_in_ms;              /* monotonic ms of the last accepted packet; 0: none */
} ipsec_sa_stats_t;

/* The counters of the set whose inbound SPIs are these: 0, or -1 when there is no such set. */
int ipsec_dp_stats(ipsec_dp_t *dp, uint32_t spi_pc, uint32_t spi_ps, ipsec_sa_stats_t *out);

#endif
