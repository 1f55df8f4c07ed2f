/* The P-CSCF's SA sets as values (TS 33.203 7.1 and 7.4): the set one REGISTER's negotiation
 * and the 401's CK/IK make, what our Security-Server said of it, the pending (TEMPORARY) sets
 * waiting for their protected REGISTER, and how a binding's sets move when a new one is
 * confirmed. Pure: no datapath, no SIP transactions (reg_ipsec.c does those with what these
 * return), so every transition is unit tested (tests/unit/test_pc_sa.c). */
#ifndef CSCF_PCSCF_PC_SA_H
#define CSCF_PCSCF_PC_SA_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/sip.h>

#include "common/ipsec/sa_keys.h"
#include "common/ops/config.h"
#include "cscf/pcscf/pcscf.h"
#include "cscf/pcscf/sec_agree.h"

/* ipsec.algorithms: "alg/ealg" entries ("hmac-sha-1-96/aes-cbc"), most preferred first, into
 * out (at most max). How many, or -1 with the offending entry in err (an unknown name, no
 * slash, a duplicate, too many, or none at all). */
int pc_sa_parse_algorithms(const char *const *items, size_t n, sec_agree_pref_t *out, size_t max,
                           char *err, size_t errlen);

/* The most ipsec.algorithms pairs taken. */
#define PC_SA_MAX_PREFS 16

/* The ipsec.* keys that make sense together (the schema checked each alone): the algorithm
 * list, port_pc != port_ps, spi_min <= spi_max, a route table that is not the kernel's, and
 * with mode not off a Gm address that is a numeric, specified IPv4 address (ipsec.address,
 * else the first sip.listen host). 0, or -1 with one message naming the key in err. */
int pc_sa_check_config(const cfg_t *cfg, char *err, size_t len);
/* ipsec.address, else the host of the first sip.listen entry. 0, or -1. */
int pc_sa_config_address(const cfg_t *cfg, char *out, size_t len);

/* CK and IK of an AKA challenge, as the S-CSCF puts them in the 401's WWW-Authenticate (ck="hex",
 * ik="hex", TS 24.229 5.4.1.2.1 / Cx): from the first challenge carrying both. 0, or -1 when
 * none does or they are not 32 hex digits each. */
int pc_sa_ck_ik(const sip_www_authenticate_t *w, uint8_t ck[IPSEC_AKA_KEY_LEN],
                uint8_t ik[IPSEC_AKA_KEY_LEN]);

/* The set for the UE's chosen offer (its SPIs and ports from Security-Client) and ours (ports
 * from config, SPIs allocated), keys derived from CK/IK by Annex I. 0, or -1 for a bad value. */
int pc_sa_make_set(const sec_agree_offer_t *ue, const char *ue_addr, uint16_t port_pc,
                   uint16_t port_ps, uint32_t spi_pc, uint32_t spi_ps,
                   const uint8_t ck[IPSEC_AKA_KEY_LEN], const uint8_t ik[IPSEC_AKA_KEY_LEN],
                   ipsec_sa_set_t *out);

/* What our Security-Server said of this set (no q), to build the header and to compare the
 * Security-Verify of a later request with. 0, or -1 when the set's algorithms are unknown. */
int pc_sa_server(const ipsec_sa_set_t *s, sec_agree_server_t *out);

/* The same set (its inbound SPIs name it in the datapath). */
int pc_sa_same(const pc_sa_t *a, const pc_sa_t *b);

/* ---- pending sets: installed at the 401, waiting for the protected REGISTER ---- */

typedef struct pc_pending {
    char impi[256];
    char flow[96]; /* the flow the challenged REGISTER came from: a re-registration's old one */
    pc_sa_t sa;    /* state TEMPORARY, until_ms its expiry */
} pc_pending_t;

typedef struct pc_pending_table {
    pc_pending_t *items;
    size_t n, cap;
} pc_pending_table_t;

void pc_pending_free(pc_pending_table_t *t);
/* Adds p. A UE has one pending set at most (a second 401, a resync, replaces it): an entry of
 * the same UE address and IMPI is taken out into *replaced (return 1; the caller removes its
 * SAs). 0 when nothing was replaced, -1 when memory ran out (nothing added). */
int pc_pending_add(pc_pending_table_t *t, const pc_pending_t *p, pc_pending_t *replaced);
/* The pending set of this UE address, port_uc and IMPI, or NULL. */
pc_pending_t *pc_pending_find(pc_pending_table_t *t, const char *ue_addr, uint16_t port_uc,
                              const char *impi);
/* Takes out the entry whose set has these inbound SPIs into *out; 0, or -1 when none. */
int pc_pending_take(pc_pending_table_t *t, uint32_t spi_pc, uint32_t spi_ps, pc_pending_t *out);
/* Takes out the pending set of this UE address and IMPI (there is one at most) into *out; 0,
 * or -1 when none. */
int pc_pending_take_ue(pc_pending_table_t *t, const char *ue_addr, const char *impi,
                       pc_pending_t *out);
/* Takes out the first entry whose until_ms is <= now_ms into *out; 1, or 0 when none. */
int pc_pending_expire(pc_pending_table_t *t, int64_t now_ms, pc_pending_t *out);

/* ---- a binding's two slots ([0] ACTIVE, [1] OLD) ---- */

/* The set nw was confirmed (the 200 to the REGISTER that came over it): it becomes ACTIVE in
 * slot 0; the set it replaces becomes OLD until now_ms + grace_ms; a set already OLD goes at
 * once. The sets to remove now are copied to rm (at most 2); how many. When nw is already the
 * ACTIVE set nothing moves. */
size_t pc_sa_activate(pc_sa_t slots[2], const pc_sa_t *nw, int64_t now_ms, int64_t grace_ms,
                      pc_sa_t rm[2]);
/* Every set of the slots goes (the binding ends): copied to rm, slots cleared; how many. */
size_t pc_sa_clear(pc_sa_t slots[2], pc_sa_t rm[2]);

/* The slot of slots[0..1] holding the set that our Security-Server described as sv says, among
 * the sets of this UE address and port_uc: 0 or 1, or -1 when none matches. */
int pc_sa_match_verify(const pc_sa_t *slots, const char *ue_addr, uint16_t port_uc,
                       const sip_security_verify_t *sv);

#endif
