/* IPv4 headers and transport ports for the userspace datapath (RFC 791, RFC 768, RFC 9293):
 * parse what the raw ESP socket and the TUN device hand us, and build the header of the packet
 * written back into the TUN device. Pure functions over caller buffers. */
#ifndef CSCF_IP_PACKET_H
#define CSCF_IP_PACKET_H

#include <stddef.h>
#include <stdint.h>

#define IP4_HDR_LEN 20 /* the header we build: no options */

typedef struct ip4_hdr {
    uint32_t src, dst; /* network byte order, as struct in_addr holds them */
    uint8_t proto;
    size_t hdr_len;   /* with options */
    size_t total_len; /* header and payload, from the header (never more than the buffer) */
    int fragment;     /* more fragments, or a fragment offset: one piece of a packet */
} ip4_hdr_t;

/* 0 and *out for an IPv4 packet whose header checksum is right and whose total length fits
 * in len; -1 for anything else (IPv6 included). */
int ip4_parse(const uint8_t *pkt, size_t len, ip4_hdr_t *out);

/* The Internet checksum (RFC 1071) of data: the ones' complement of the ones' complement sum,
 * in network byte order as it goes into a header. */
uint16_t ip4_checksum(const uint8_t *data, size_t len);

/* A 20-byte header in front of payload_len bytes: TTL 64, no fragmentation, the checksum set.
 * 0, or -1 when the whole packet would exceed 65535 bytes or out is NULL. */
int ip4_build(uint8_t out[IP4_HDR_LEN], uint32_t src, uint32_t dst, uint8_t proto,
              size_t payload_len, uint16_t id);

/* The ports of a UDP or TCP header at the start of l4 (len bytes): 0, or -1 for another
 * protocol or a header cut short. Host byte order. */
int ip_l4_ports(uint8_t proto, const uint8_t *l4, size_t len, uint16_t *sport, uint16_t *dport);

#endif
