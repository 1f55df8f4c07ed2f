/* Security mechanism agreement at the P-CSCF (RFC 3329, TS 33.203 7 and Annex H, TS 24.229
 * 5.2.2): the UE's Security-Client offers read into checked values, one offer chosen by our
 * preference, the Security-Server we put in the 401, the Security-Verify of a later request
 * compared with it, and the sec-agree option tags. Pure functions of sofia's parsed headers and
 * plain values: no sockets, no SAs, no keys (common/ipsec does those), so every case is unit
 * tested (tests/unit/test_sec_agree.c).
 *
 * What a REGISTER gets is sec_agree_decide()'s table (below): 420, 421 and 494 as RFC 3261
 * 8.2.2.3 and RFC 3329 2.3.1 give them. A Security-Verify that differs (sec_agree_verify()) is
 * 494 by RFC 3329 2.3.1 too. A protected request that did not arrive through the UE's SA is
 * the datapath's check (TS 24.229 5.2.2: discarded, or 403 Forbidden), not made here; the
 * TS 24.229 text was not at hand when this was written, so the wiring should check it. */
#ifndef CSCF_PCSCF_SEC_AGREE_H
#define CSCF_PCSCF_SEC_AGREE_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/sip.h>

#include "common/ipsec/sa_keys.h"

/* The algorithms are common/ipsec/sa_keys.h's ipsec_alg_t and ipsec_ealg_t, names included. */

/* q as thousandths (RFC 3329 qvalue "0.1" = 100); SEC_AGREE_Q_NONE when absent. */
#define SEC_AGREE_Q_NONE (-1)

/* One ipsec-3gpp mechanism, checked: every field holds a usable value. From a Security-Client
 * spi_c/spi_s/port_c/port_s are the UE's (spi_uc, spi_us, port_uc, port_us); from our
 * Security-Server and its Security-Verify echo, the P-CSCF's (spi_pc, spi_ps, port_pc,
 * port_ps). prot is always esp and mod always trans (nothing else is accepted). */
typedef struct sec_agree_offer {
    ipsec_alg_t alg;
    ipsec_ealg_t ealg;
    uint32_t spi_c, spi_s;   /* non-zero */
    uint16_t port_c, port_s; /* 1..65535 */
    int q;                   /* 0..1000, or SEC_AGREE_Q_NONE */
} sec_agree_offer_t;

/* Offers read from one Security-Client list; further ipsec-3gpp entries are refused as too
 * many (a phone sends one per algorithm pair it supports: a handful). */
#define SEC_AGREE_MAX_OFFERS 16

typedef enum {
    SEC_AGREE_OK,       /* at least one usable ipsec-3gpp offer */
    SEC_AGREE_ABSENT,   /* no Security-Client, or no ipsec-3gpp mechanism in it */
    SEC_AGREE_UNUSABLE, /* ipsec-3gpp offered, but every offer was refused */
} sec_agree_result_t;

typedef struct sec_agree_offers {
    sec_agree_offer_t offer[SEC_AGREE_MAX_OFFERS]; /* the usable ones, in the UE's order */
    size_t n;
    size_t refused;  /* ipsec-3gpp entries refused */
    size_t ignored;  /* other mechanisms (digest, tls, ipsec-ike, ...), skipped */
    char reason[80]; /* why the first refused entry was refused ("spi-c: zero"), else "" */
} sec_agree_offers_t;

/* Reads a Security-Client list (sip->sip_security_client; NULL allowed). Each ipsec-3gpp entry
 * is kept or refused on its own: a missing or duplicate parameter, a number out of range or
 * overlong, an unknown alg/ealg, prot other than esp, mod other than trans or a malformed q
 * refuses that entry only. Unknown extension parameters are ignored (RFC 3329 extension). */
sec_agree_result_t sec_agree_parse_client(const sip_security_client_t *sc, sec_agree_offers_t *out);

/* Our configured choice: (alg, ealg) pairs, most preferred first; a pair with null encryption
 * counts only when allow_null is set. */
typedef struct sec_agree_pref {
    ipsec_alg_t alg;
    ipsec_ealg_t ealg;
} sec_agree_pref_t;

typedef struct sec_agree_policy {
    const sec_agree_pref_t *prefs;
    size_t n;
    int allow_null;
} sec_agree_policy_t;

/* The index in offers->offer of the offer to take: the first preference pair some offer
 * matches; among offers of that pair the one with the highest q (absent q ranks lowest), the
 * first on a tie. -1 when nothing matches. */
int sec_agree_choose(const sec_agree_offers_t *offers, const sec_agree_policy_t *policy);

/* What we announce in the 401: the chosen algorithms with the P-CSCF's SPIs and ports. */
typedef struct sec_agree_server {
    ipsec_alg_t alg;
    ipsec_ealg_t ealg;
    uint32_t spi_pc, spi_ps;   /* non-zero */
    uint16_t port_pc, port_ps; /* non-zero */
    int q;                     /* 0..1000, or SEC_AGREE_Q_NONE for none */
} sec_agree_server_t;

/* The Security-Server header value ("ipsec-3gpp;alg=...;ealg=...;..."), NUL-terminated. Its
 * length, or -1 when a value is out of range or it does not fit in len. */
int sec_agree_server_value(const sec_agree_server_t *s, char *buf, size_t len);

/* RFC 3329 2.3.1: a later request's Security-Verify must list exactly what our Security-Server
 * said: one ipsec-3gpp mechanism with the same parameters, compared by value (order, case and
 * spelling such as q=0.1 / q=0.100 do not matter; a missing, extra or different one does). 0
 * when equal, else -1 with the difference in why (when why is not NULL). */
int sec_agree_verify(const sip_security_verify_t *sv, const sec_agree_server_t *sent, char *why,
                     size_t whylen);

/* ipsec.mode */
typedef enum {
    SEC_AGREE_MODE_OFF,      /* no agreement; a UE that requires one is told so (420) */
    SEC_AGREE_MODE_OPTIONAL, /* agree when the UE offers ipsec-3gpp, else serve it unprotected */
    SEC_AGREE_MODE_REQUIRED, /* agree, or refuse the REGISTER */
} sec_agree_mode_t;

/* "off", "optional" or "required"; 0, or -1 for anything else. */
int sec_agree_mode_parse(const char *s, sec_agree_mode_t *out);

typedef struct sec_agree_decision {
    int status;      /* 0: go on; else answer the REGISTER with this status */
    int protect;     /* go on with the chosen offer (set up SAs, Security-Server in the 401) */
    const char *why; /* for the log and the reason phrase's detail */
} sec_agree_decision_t;

/* What to do with a REGISTER, from the mode, the option tags (sec_agree_required() and
 * sec_agree_supported()), the result of sec_agree_parse_client() and sec_agree_choose()'s
 * index (-1 for none):
 *   - mode off, the UE requires sec-agree: 420 Bad Extension, the caller adds Unsupported:
 *     sec-agree (RFC 3261 8.2.2.3); mode off otherwise: go on unprotected.
 *   - a usable offer chosen: go on, protected.
 *   - ipsec-3gpp offered but nothing usable or in common with our preferences: 494 Security
 *     Agreement Required (RFC 3329 2.3.1: no mechanism both support), whatever the mode.
 *   - no ipsec-3gpp offer and mode optional: go on unprotected, unless the UE requires
 *     sec-agree (it offered only mechanisms we do not do): 494.
 *   - no ipsec-3gpp offer and mode required: 494 when the UE supports or requires sec-agree
 *     (RFC 3329 2.3.1: it can retry with an agreement), else 421 Extension Required, the caller
 *     adds Require: sec-agree (RFC 3329 2.3.1, RFC 3261 21.4.15). */
sec_agree_decision_t sec_agree_decide(sec_agree_mode_t mode, int ue_requires, int ue_supports,
                                      sec_agree_result_t result, int chosen);

/* Require or Proxy-Require names sec-agree: the UE insists on an agreement (RFC 3329 2.3.1). */
int sec_agree_required(const sip_t *sip);
/* Supported names sec-agree. */
int sec_agree_supported(const sip_t *sip);

#endif
