#include "common/ipsec/esp_path.h"

#include <netinet/in.h>
#include <string.h>

#include "common/ipsec/ip_packet.h"

const char *esp_drop_name(esp_drop_t d)
{
    switch (d) {
    case ESP_DROP_NONE:
        return "none";
    case ESP_DROP_MALFORMED:
        return esp_status_name(ESP_ERR_MALFORMED);
    case ESP_DROP_NO_SA:
        return "no_sa";
    case ESP_DROP_ADDRESS:
        return "address";
    case ESP_DROP_ICV:
        return esp_status_name(ESP_ERR_ICV);
    case ESP_DROP_REPLAY:
        return esp_status_name(ESP_ERR_REPLAY);
    case ESP_DROP_PADDING:
        return esp_status_name(ESP_ERR_PADDING);
    case ESP_DROP_SPACE:
        return esp_status_name(ESP_ERR_SPACE);
    case ESP_DROP_SEQ_EXHAUSTED:
        return esp_status_name(ESP_ERR_SEQ_EXHAUSTED);
    case ESP_DROP_CRYPTO:
        return esp_status_name(ESP_ERR_CRYPTO);
    case ESP_DROP_SELECTOR:
        return "selector";
    case ESP_DROP_DUMMY:
        return "dummy";
    case ESP_DROP_COUNT:
        break;
    }
    return "unknown";
}

static esp_drop_t drop_of(esp_status_t st)
{
    switch (st) {
    case ESP_OK:
        return ESP_DROP_NONE;
    case ESP_ERR_ICV:
        return ESP_DROP_ICV;
    case ESP_ERR_REPLAY:
        return ESP_DROP_REPLAY;
    case ESP_ERR_PADDING:
        return ESP_DROP_PADDING;
    case ESP_ERR_SPACE:
        return ESP_DROP_SPACE;
    case ESP_ERR_SEQ_EXHAUSTED:
        return ESP_DROP_SEQ_EXHAUSTED;
    case ESP_ERR_CRYPTO:
        return ESP_DROP_CRYPTO;
    case ESP_ERR_MALFORMED:
    case ESP_ERR_SPI: /* cannot happen: the SA was found by this SPI */
        break;
    }
    return ESP_DROP_MALFORMED;
}

static esp_drop_t done(esp_path_t *p, esp_path_result_t *r, esp_drop_t d)
{
    r->drop = d;
    if (d != ESP_DROP_NONE && d < ESP_DROP_COUNT)
        p->drops[d]++;
    return d;
}

/* The selectors of the inbound SA sa of set e: spi_ps is the UE's requests (port_uc ->
 * port_ps), spi_pc the UE's responses (port_us -> port_pc). */
static int selectors_ok(const sa_entry_t *e, const esp_sa_t *sa, uint8_t proto, const uint8_t *l4,
                        size_t len)
{
    uint16_t sport, dport;
    if (ip_l4_ports(proto, l4, len, &sport, &dport) < 0)
        return 0;
    if (sa == &e->in_ps)
        return sport == e->set.port_uc && dport == e->set.port_ps;
    return sport == e->set.port_us && dport == e->set.port_pc;
}

esp_drop_t esp_path_in(esp_path_t *p, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                       int64_t now_ms, esp_path_result_t *r)
{
    memset(r, 0, sizeof *r);
    ip4_hdr_t ip;
    uint32_t spi, seq;
    if (ip4_parse(pkt, len, &ip) < 0 || ip.proto != IPPROTO_ESP || ip.fragment)
        return done(p, r, ESP_DROP_MALFORMED);
    const uint8_t *esp = pkt + ip.hdr_len;
    size_t esp_len = ip.total_len - ip.hdr_len;
    if (esp_peek(esp, esp_len, &spi, &seq) < 0 || cap < IP4_HDR_LEN)
        return done(p, r, ESP_DROP_MALFORMED);
    esp_sa_t *sa = NULL;
    r->entry = sa_table_find_in(p->table, spi, &sa);
    if (!r->entry)
        return done(p, r, ESP_DROP_NO_SA);
    /* Checked before the ICV: a packet from elsewhere must not touch the SA at all. */
    if (ip.src != r->entry->ue || ip.dst != p->local)
        return done(p, r, ESP_DROP_ADDRESS);
    size_t plen = 0;
    uint8_t nh = 0;
    esp_status_t st =
        esp_decrypt(sa, esp, esp_len, out + IP4_HDR_LEN, cap - IP4_HDR_LEN, &plen, &nh);
    if (st != ESP_OK)
        return done(p, r, drop_of(st));
    if (nh == ESP_NEXT_HEADER_NONE)
        return done(p, r, ESP_DROP_DUMMY);
    if (!selectors_ok(r->entry, sa, nh, out + IP4_HDR_LEN, plen))
        return done(p, r, ESP_DROP_SELECTOR);
    /* The inner packet as the UE sent it in transport mode: its addresses are the outer ones,
     * which the transport checksum already covers. */
    if (ip4_build(out, ip.src, ip.dst, nh, plen, (uint16_t)seq) < 0)
        return done(p, r, ESP_DROP_MALFORMED);
    r->len = IP4_HDR_LEN + plen;
    r->esp_len = esp_len;
    sa_table_note_in(p->table, r->entry, esp_len, now_ms);
    return done(p, r, ESP_DROP_NONE);
}

esp_drop_t esp_path_out(esp_path_t *p, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                        esp_path_result_t *r)
{
    memset(r, 0, sizeof *r);
    ip4_hdr_t ip;
    uint16_t sport, dport;
    if (ip4_parse(pkt, len, &ip) < 0 || ip.fragment)
        return done(p, r, ESP_DROP_MALFORMED);
    const uint8_t *l4 = pkt + ip.hdr_len;
    size_t l4_len = ip.total_len - ip.hdr_len;
    if (ip.src != p->local)
        return done(p, r, ESP_DROP_ADDRESS);
    if (ip_l4_ports(ip.proto, l4, l4_len, &sport, &dport) < 0)
        return done(p, r, ESP_DROP_SELECTOR);
    esp_sa_t *sa = NULL;
    r->entry = sa_table_find_out(p->table, ip.dst, dport, sport, &sa);
    if (!r->entry)
        return done(p, r, ESP_DROP_NO_SA);
    esp_status_t st = esp_encrypt(sa, l4, l4_len, ip.proto, out, cap, &r->len);
    if (st != ESP_OK)
        return done(p, r, drop_of(st));
    r->ue = ip.dst;
    r->esp_len = r->len;
    sa_entry_note_out(r->entry, r->len);
    return done(p, r, ESP_DROP_NONE);
}
