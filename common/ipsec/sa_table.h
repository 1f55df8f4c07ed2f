/* The userspace datapath's SA sets (ipsec_dp.h): found by our inbound SPI for ESP that arrives,
 * and by the UE's address and the ports for packets we send; our SPI allocation; each set's
 * counters. Pure state: no I/O, no clock (the caller passes the time), no locks (the datapath
 * runs on one thread).
 *
 * Lookups scan an array: a P-CSCF holds one or two sets per registered UE and SIP's packet
 * rate is low, so a scan of a few thousand entries per packet costs less than keeping indexes
 * right through re-registrations. */
#ifndef CSCF_SA_TABLE_H
#define CSCF_SA_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipsec/esp.h"
#include "common/ipsec/ipsec_dp.h"

/* One installed set: the four SAs ipsec_dp.h describes. */
typedef struct sa_entry {
    ipsec_sa_set_t set;
    uint32_t ue;             /* set.ue_addr, network byte order */
    esp_sa_t in_pc, in_ps;   /* ours: the UE's responses (spi_pc), the UE's requests (spi_ps) */
    esp_sa_t out_uc, out_us; /* the UE's: our responses (spi_uc), our requests (spi_us) */
    ipsec_sa_stats_t stats;
    uint64_t installed; /* order of installation, from 1 */
    uint64_t last_in;   /* order of the last accepted inbound packet; 0: none yet */
    uint32_t logged;    /* refusal kinds already logged for this set (bit per kind) */
} sa_entry_t;

typedef struct sa_table sa_table_t;

/* spi_min >= 256 and spi_min <= spi_max, else NULL. */
sa_table_t *sa_table_new(uint32_t spi_min, uint32_t spi_max);
void sa_table_free(sa_table_t *t);
size_t sa_table_count(const sa_table_t *t); /* sets installed */

/* Two SPIs in the range, distinct, unused by any installed set or pending allocation; held as
 * pending until installed or removed. rnd: a random number for where the search starts (the
 * caller's source, so tests can pin it). 0, or -1 when the range has fewer than two free. */
int sa_table_alloc(sa_table_t *t, uint32_t rnd, uint32_t *spi_pc, uint32_t *spi_ps);

/* Installs the set (its pending allocation, if any, is used up). -1 when an address is not
 * numeric IPv4, a port or SPI is 0, spi_pc == spi_ps, or either SPI belongs to another set or
 * to another pending allocation. */
int sa_table_install(sa_table_t *t, const ipsec_sa_set_t *s);

/* Removes the set with these inbound SPIs, or the pending allocation of them: 0, or -1. */
int sa_table_remove(sa_table_t *t, uint32_t spi_pc, uint32_t spi_ps);

/* The set with these inbound SPIs, or NULL. */
sa_entry_t *sa_table_get(sa_table_t *t, uint32_t spi_pc, uint32_t spi_ps);

/* The set one of whose inbound SAs has this SPI, and that SA in *sa; or NULL. */
sa_entry_t *sa_table_find_in(sa_table_t *t, uint32_t spi, esp_sa_t **sa);

/* The outbound SA for a packet from our port sport to the UE (ue: network byte order) on its
 * port dport: spi_uc for port_ps -> port_uc, spi_us for port_pc -> port_us. Among sets that
 * match, the one whose inbound most recently carried a packet, else the newest installed
 * (ipsec_dp.h). NULL when none matches. */
sa_entry_t *sa_table_find_out(sa_table_t *t, uint32_t ue, uint16_t dport, uint16_t sport,
                              esp_sa_t **sa);

/* Record an accepted inbound packet of bytes bytes at now_ms (monotonic), for the outbound
 * choice and the counters. */
void sa_table_note_in(sa_table_t *t, sa_entry_t *e, size_t bytes, int64_t now_ms);
/* Record a packet sent on the entry's outbound SA. */
void sa_entry_note_out(sa_entry_t *e, size_t bytes);

#endif
