/* The userspace datapath's two packet paths, over buffers (no sockets), so each refusal can be
 * tested with packets built in memory:
 *
 *   inbound:  IPv4 | ESP  (from the raw ESP socket)  ->  IPv4 | UDP/TCP  (into the TUN device)
 *             the set by SPI; the source must be the set's UE; ICV, replay window, decryption
 *             (esp.c); the inner ports must be the SA's selectors: spi_ps carries port_uc ->
 *             port_ps, spi_pc carries port_us -> port_pc.
 *   outbound: IPv4 | UDP/TCP  (from the TUN device)  ->  ESP  (to send to the UE)
 *             from our address and port_ps or port_pc; the SA by the UE's address and ports
 *             (sa_table_find_out); everything after the IP header is protected.
 *
 * Every refusal has a reason, counted in drops[]; dp_userspace.c turns them into metrics and
 * log lines. */
#ifndef CSCF_ESP_PATH_H
#define CSCF_ESP_PATH_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipsec/sa_table.h"

typedef enum esp_drop {
    ESP_DROP_NONE = 0,
    ESP_DROP_MALFORMED,     /* not an IPv4 packet we can read, a fragment, or bad ESP lengths */
    ESP_DROP_NO_SA,         /* no set has the SPI (inbound) or the addresses and ports (out) */
    ESP_DROP_ADDRESS,       /* from an address other than the set's UE, or not from ours */
    ESP_DROP_ICV,           /* esp.c's refusals, under esp_status_name()'s names */
    ESP_DROP_REPLAY,        /* ... */
    ESP_DROP_PADDING,       /* ... */
    ESP_DROP_SPACE,         /* ... */
    ESP_DROP_SEQ_EXHAUSTED, /* ... */
    ESP_DROP_CRYPTO,        /* ... */
    ESP_DROP_SELECTOR,      /* the inner protocol or ports are not the SA's */
    ESP_DROP_DUMMY,         /* a dummy packet (next header 59): dropped as RFC 4303 says */
    ESP_DROP_COUNT
} esp_drop_t;

/* The metric label: "no_sa", "address", "selector", "dummy", or esp_status_name()'s. */
const char *esp_drop_name(esp_drop_t d);

typedef struct esp_path {
    sa_table_t *table;
    uint32_t local; /* our Gm address, network byte order */
    uint64_t drops[ESP_DROP_COUNT];
} esp_path_t;

/* What one packet came to: on ESP_DROP_NONE out[0..len) is the packet to pass on; entry is the
 * set concerned (NULL when none was found), for the caller's per-set logging. */
typedef struct esp_path_result {
    esp_drop_t drop;
    sa_entry_t *entry;
    size_t len;
    size_t esp_len; /* the ESP packet's bytes (header to ICV): what the counters count */
    uint32_t ue;    /* outbound: where to send the ESP packet (network byte order) */
} esp_path_result_t;

/* Inbound: pkt is an outer IPv4 packet carrying ESP; out (cap >= len) gets the inner IPv4
 * packet. now_ms stamps the set's last_in_ms. Returns r->drop. */
esp_drop_t esp_path_in(esp_path_t *p, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                       int64_t now_ms, esp_path_result_t *r);

/* Outbound: pkt is an IPv4 packet the kernel routed into the TUN device; out gets the ESP
 * packet (ESP header onwards) to send to r->ue. Returns r->drop. */
esp_drop_t esp_path_out(esp_path_t *p, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                        esp_path_result_t *r);

#endif
