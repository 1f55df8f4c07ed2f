/* rtnetlink (libmnl) for the userspace datapath's plumbing:
 *   - the TUN device up with a large MTU, so inner packets are never fragmented before ESP;
 *   - "from <ours> sport <port> lookup <table>" rules (one per protected port) and
 *     "default dev <tun> table <table>", so what the P-CSCF sends from port_pc/port_ps goes into
 *     the TUN device whatever socket sends it (also TCP connections it opens later);
 *   - removal of our rules by priority and table, at close and at open (a restart after a crash
 *     finds the previous run's rules still there; its device and routes died with it).
 * Each call is one request and its acknowledgement: 0, or -errno. */
#ifndef CSCF_ROUTE_RULES_H
#define CSCF_ROUTE_RULES_H

#include <stdint.h>

typedef struct rtnl rtnl_t;

/* NULL with errno set. */
rtnl_t *rtnl_open(void);
void rtnl_close(rtnl_t *nl);

int rtnl_link_up(rtnl_t *nl, unsigned ifindex, uint32_t mtu);
/* The default route via ifindex in table (added or replaced; or deleted when add is 0). */
int rtnl_default_route(rtnl_t *nl, int add, unsigned ifindex, uint32_t table);
/* "from src/32 sport port lookup table" at priority pref (src: network byte order). */
int rtnl_sport_rule(rtnl_t *nl, uint32_t src, uint16_t port, uint32_t table, uint32_t pref);
/* Deletes every IPv4 rule with this priority and table: how many went, or -errno. */
int rtnl_flush_rules(rtnl_t *nl, uint32_t table, uint32_t pref);

#endif
