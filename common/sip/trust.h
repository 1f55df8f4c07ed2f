/* The trust domain of RFC 3325 and TS 24.229 4.4: the peers (addresses and networks) whose
 * P-Asserted-Identity and other trust-domain headers a CSCF believes, and whose requests may ask
 * for originating service (the S-CSCF's orig Route) or reach a UE on the P-CSCF's Path token.
 *
 * The source of a request is the address it came from (the UDP datagram's source, the TCP
 * connection's peer), never anything a header says. Each program holds one trust_guard_t: the
 * configured list (trust.peers, replaced by a reload), the counter
 * cscf_untrusted_requests_total{action} and one log line per episode of untrusted requests. */
#ifndef CSCF_SIP_TRUST_H
#define CSCF_SIP_TRUST_H

#include <stddef.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include "common/ops/config.h"
#include "common/ops/metrics.h"
#include "common/sip/sip_core.h"

/* The key both CSCFs have (each with its own help text), as a row of a program's key table. */
#define TRUST_KEY_ROW(help)                                                                        \
    {                                                                                              \
        "trust.peers", CFG_LIST, "127.0.0.1,::1", help, 0, 0, NULL                                 \
    }

/* One entry: an address, or a network in CIDR form ("10.0.0.0/8", "fd00::/8"). */
typedef struct trust_net {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned bits;
} trust_net_t;

/* "192.0.2.1", "10.0.0.0/8", "::1", "[2001:db8::1]", "fd00::/8": 0, or -1 for anything else
 * (a DNS name, a port, a prefix longer than the address). Host bits past the prefix are
 * ignored ("10.1.2.3/8" is 10.0.0.0/8). */
int trust_net_parse(const char *text, trust_net_t *out);

/* Is the address (family AF_INET or AF_INET6, 4 or 16 bytes) inside one of the n entries? An
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1, a dual-stack socket's view of an IPv4 peer)
 * matches the IPv4 entries. */
int trust_nets_match(const trust_net_t *nets, size_t n, int family, const void *addr);

/* The headers only a trust domain may carry, removed from what an untrusted peer sends:
 * P-Asserted-Identity (RFC 3325), P-Asserted-Service (RFC 6050), P-Charging-Vector and
 * P-Charging-Function-Addresses (RFC 7315), P-Served-User (RFC 5502), P-Profile-Key
 * (RFC 5002), P-Private-Network-Indication (RFC 7316), P-Visited-Network-ID (RFC 7315: a
 * P-CSCF's, never a UE's). NULL-terminated. */
extern const char *const trust_domain_headers[];

/* Removes every trust_domain_headers entry from msg (sip its object); how many went. */
int trust_strip_headers(msg_t *msg, sip_t *sip);

typedef struct trust_guard trust_guard_t;

/* program names the log lines ("scscf"); peers/n the trust.peers entries. NULL on a bad entry
 * (err names it) or no memory. metrics may be NULL (unit tests). */
trust_guard_t *trust_guard_new(const char *program, metrics_t *metrics, const char *const *peers,
                               size_t n, char *err, size_t errlen);
void trust_guard_free(trust_guard_t *g);
/* A reload: the new list in place of the old. 0, or -1 (err filled, the old list stays). */
int trust_guard_set(trust_guard_t *g, const char *const *peers, size_t n, char *err, size_t errlen);
/* Checks the entries only (config validation): 0, or -1 with err naming the bad entry. */
int trust_peers_check(const char *const *peers, size_t n, char *err, size_t errlen);

/* Did the request come from a trusted peer? msg is a received message (msg_addr()). */
int trust_guard_msg_trusted(const trust_guard_t *g, msg_t *msg);
/* The same for a request nta accepted. */
int trust_guard_trusted(const trust_guard_t *g, sip_incoming_t *irq);
/* Is the host of a URI (a next hop) a trusted peer? Only an address literal can be: a DNS name
 * counts as outside the trust domain (nothing is resolved here, on the loop). */
int trust_guard_url_trusted(const trust_guard_t *g, const url_t *u);

/* An untrusted sender's request: its trust-domain headers are removed from the request itself
 * (so the handler and every copy made of it see them gone); when there were some, counted as
 * action "pai_removed" and logged (one line per episode). How many went. */
int trust_guard_strip(trust_guard_t *g, sip_incoming_t *irq);
/* An untrusted sender's request is refused (the caller answers 403): counted as action
 * "refused" and logged (one line per episode); what says what was asked ("originating"). */
void trust_guard_refused(trust_guard_t *g, sip_incoming_t *irq, const char *what);

/* A response received from a peer: unless it came from a trusted one, its trust-domain headers
 * are removed (RFC 3325 5: an element of the domain passes no identity it cannot vouch for, in
 * either direction); when there were some, counted as action "response_pai_removed" and logged
 * (one line per episode). How many went. */
int trust_guard_screen_response(trust_guard_t *g, msg_t *msg, sip_t *sip);
/* The same in the shape of sip_proxy_set_response_screen()'s callback (guard: the trust_guard_t).
 */
void trust_screen_response(void *guard, msg_t *msg, sip_t *sip);

/* Episodes: the first untrusted request after EPISODE_GAP_MS without one is logged. */
#define TRUST_EPISODE_GAP_MS 60000

#endif
