#include "common/ipsec/ip_packet.h"

#include <netinet/in.h>
#include <string.h>

#define UDP_HDR_LEN 8
#define TCP_HDR_LEN 20 /* without options: enough for the ports */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

uint16_t ip4_checksum(const uint8_t *data, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(data + i);
    if (len & 1)
        sum += (uint32_t)data[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    uint8_t be[2];
    put16(be, c);
    memcpy(&c, be, 2);
    return c;
}

int ip4_parse(const uint8_t *pkt, size_t len, ip4_hdr_t *out)
{
    if (!pkt || len < IP4_HDR_LEN || pkt[0] >> 4 != 4)
        return -1;
    size_t hdr_len = (size_t)(pkt[0] & 0x0f) * 4;
    size_t total = get16(pkt + 2);
    /* A header summed with its own checksum folds to 0 (RFC 1071). */
    if (hdr_len < IP4_HDR_LEN || hdr_len > total || total > len || ip4_checksum(pkt, hdr_len))
        return -1;
    uint16_t frag = get16(pkt + 6);
    out->hdr_len = hdr_len;
    out->total_len = total;
    out->fragment = (frag & 0x2000) || (frag & 0x1fff);
    out->proto = pkt[9];
    memcpy(&out->src, pkt + 12, 4);
    memcpy(&out->dst, pkt + 16, 4);
    return 0;
}

int ip4_build(uint8_t out[IP4_HDR_LEN], uint32_t src, uint32_t dst, uint8_t proto,
              size_t payload_len, uint16_t id)
{
    if (!out || payload_len > 65535 - IP4_HDR_LEN)
        return -1;
    memset(out, 0, IP4_HDR_LEN);
    out[0] = 0x45;
    put16(out + 2, (uint16_t)(IP4_HDR_LEN + payload_len));
    put16(out + 4, id);
    out[8] = 64;
    out[9] = proto;
    memcpy(out + 12, &src, 4);
    memcpy(out + 16, &dst, 4);
    uint16_t c = ip4_checksum(out, IP4_HDR_LEN);
    memcpy(out + 10, &c, 2);
    return 0;
}

int ip_l4_ports(uint8_t proto, const uint8_t *l4, size_t len, uint16_t *sport, uint16_t *dport)
{
    size_t need = proto == IPPROTO_UDP ? UDP_HDR_LEN : proto == IPPROTO_TCP ? TCP_HDR_LEN : 0;
    if (!need || !l4 || len < need)
        return -1;
    *sport = get16(l4);
    *dport = get16(l4 + 2);
    return 0;
}
