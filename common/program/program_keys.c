/* The configuration keys every program shares. Port defaults differ per program and are
 * filled in from program_def_t by program_schema(). */
#include "common/program/program_internal.h"

#include <stdlib.h>
#include <string.h>

static const cfg_key_t common_keys[] = {
    {"log.level", CFG_ENUM, "info", "least severe level written", 0, 0, "error|warning|info|debug"},
    {"log.format", CFG_ENUM, "text", "text lines or JSON lines", 0, 0, "text|json"},
    {"log.file", CFG_STRING, NULL, "write logs to this file instead of stderr (reopened on SIGHUP)",
     0, 0, NULL},
    {"api.listen", CFG_ADDR, NULL, "REST and /metrics address", 0, 0, NULL},
    {"api.token", CFG_STRING, NULL,
     "bearer token for mutating REST calls; none configured: they are refused", 0, 0, NULL},
    {"api.token_file", CFG_STRING, NULL, "file holding the bearer token (wins over api.token)", 0,
     0, NULL},
    {"api.max_connections", CFG_INT, "256",
     "REST connections open at once; at the limit a new one takes the slot of the oldest still "
     "without a request head, or is closed when every slot is inside a request",
     1, 100000, NULL},
    {"api.max_connections_per_ip", CFG_INT, "32",
     "REST connections open at once from one address (same rule at the limit)", 1, 100000, NULL},
    {"api.header_timeout_seconds", CFG_INT, "5",
     "how long a REST connection may wait with no complete request head (new or keep-alive)", 1,
     3600, NULL},
    {"api.request_timeout_seconds", CFG_INT, "30",
     "how long one REST request (body, handler, response) may take before its connection is "
     "closed",
     1, 3600, NULL},
    {"shutdown.grace_seconds", CFG_INT, "5",
     "on SIGTERM, how long transactions in flight may take before exit", 0, 300, NULL},
    CFG_END,
};

static const cfg_key_t sip_keys[] = {
    {"sip.listen", CFG_ADDR_LIST, NULL, "addresses to bind, each for every sip.transports entry", 0,
     0, NULL},
    {"sip.transports", CFG_LIST, "udp,tcp", "transports bound on each listen address (udp, tcp)", 0,
     0, NULL},
    {"sip.advertise", CFG_ADDR, NULL,
     "address put in Record-Route and Path when it differs from the first listen entry (NAT, "
     "Kubernetes Service)",
     0, 0, NULL},
    {"sip.aliases", CFG_LIST, "", "other host or host:port names that mean this node", 0, 0, NULL},
    {"sip.domain", CFG_STRING, "ims.mnc001.mcc001.3gppnetwork.org", "IMS home domain", 0, 0, NULL},
    {"sip.max_message_size", CFG_INT, "65536", "largest SIP message accepted, bytes", 1024, 1048576,
     NULL},
    /* SIP over TLS (common/sip/sip_tls.h); read at start. */
    {"sip.tls.listen", CFG_STRING, "",
     "host:port of a TLS listener (sips:, transport=tls; 5061 is the usual port) besides "
     "sip.listen; empty: no TLS",
     0, 0, NULL},
    {"sip.tls.certificate", CFG_STRING, NULL,
     "PEM file with this node's certificate, then any intermediate CA certificates (sent after "
     "it)",
     0, 0, NULL},
    {"sip.tls.private_key", CFG_STRING, NULL, "PEM file with the certificate's key, unencrypted", 0,
     0, NULL},
    {"sip.tls.ca_file", CFG_STRING, NULL,
     "PEM file with the CAs a peer's certificate must chain to (needed unless verify_peer is "
     "none)",
     0, 0, NULL},
    {"sip.tls.verify_peer", CFG_ENUM, "outgoing",
     "whose certificate is verified against ca_file (the chain and its dates; the names: "
     "verify_peer_names, allowed_subjects): none; incoming (connections peers open: a peer without "
     "a good certificate is "
     "refused in the handshake, so handsets need one); outgoing (connections this node opens, "
     "e.g. to the other CSCF); both",
     0, 0, "none|incoming|outgoing|both"},
    {"sip.tls.min_version", CFG_ENUM, "1.2", "lowest TLS version accepted or offered", 0, 0,
     "1.2|1.3"},
    {"sip.tls.verify_peer_names", CFG_BOOL, "true",
     "a server this node dials over TLS must name the host dialled (the Request-URI's or Route's "
     "host) in its certificate: subjectAltName DNS, IP or sip: URI, or the CN (RFC 5922 7.2), "
     "when verify_peer covers outgoing connections; otherwise the connection is refused, "
     "counted in cscf_tls_name_mismatch_total, and its requests fail at once (503; relayed "
     "upstream as 500)",
     0, 0, NULL},
    {"sip.tls.allowed_subjects", CFG_LIST, "",
     "names one of which a client's certificate must carry (subjectAltName DNS, IP or sip: URI, "
     "or CN) when verify_peer covers incoming connections; empty: any certificate of ca_file",
     0, 0, NULL},
    {"sip.max_pending_invites", CFG_INT, "10000",
     "INVITEs relayed and not yet answered finally before new ones get 503 with Retry-After "
     "(the pending_invites table of the cscf_table_* metrics; a re-INVITE may use 10% more)",
     1, 1000000, NULL},
    /* Caps (common/ops/limits.h: cscf_table_* metrics); read at start. */
    {"limits.transactions", CFG_INT, "100000",
     "SIP transactions the stack holds, server and client, completed ones kept for "
     "retransmissions included (about 14 KiB each: an INVITE answered 2xx, or a request sent "
     "over UDP, for limits.t4_ms); a request that would need one more gets 503 without one, except "
     "work admitted already (in a dialog, admitted by the other CSCF, emergency), up to 10% more. "
     "The answers to other requests over UDP and the ACKs of refused calls, kept as bytes for "
     "limits.t1x64_ms (under 1 KiB), are tables of their own of as many entries each, the "
     "oldest dropped first",
     100, 10000000, NULL},
    {"limits.relays", CFG_INT, "20000",
     "requests being relayed (awaiting their final response); more get 503 (a request in a "
     "dialog: up to 10% more)",
     10, 10000000, NULL},
    {"limits.dialogs", CFG_INT, "100000",
     "calls (INVITE dialogs) tracked; a new initial INVITE at the cap gets 503", 10, 10000000,
     NULL},
    {"limits.retry_after_seconds", CFG_INT, "5", "Retry-After of the 503 a request gets at a cap",
     1, 3600, NULL},
    {"limits.t1x64_ms", CFG_INT, "32000",
     "64*T1 of the SIP stack: how long a completed UDP transaction absorbs retransmissions "
     "(Timers J and H; an INVITE's ACK sent again, Timer D), and also how long a relayed request "
     "waits for a final (non-INVITE: then "
     "it ends unanswered, RFC 4320) or first (INVITE: then 408) response (Timers F and B); lower "
     "holds less memory per request rate than RFC 3261's 32 s",
     4000, 32000, NULL},
    {"limits.t4_ms", CFG_INT, "5000",
     "T4 of the SIP stack (RFC 3261: how long a message may stay in the network): how long an "
     "INVITE answered 2xx is kept to absorb its retransmissions (sofia-sip keeps it over TCP "
     "too), an ACK to a non-2xx over UDP (Timer I) and a request sent over UDP its answer sent "
     "again (Timer K); each holds both messages, about 14 KiB, so at 1,400 calls/s the 5 s "
     "hold about 190 MiB (tests/e2e/t_flood.sh: 170 MiB less at 500 ms); lower it where "
     "messages cannot linger that long between the handsets and this node",
     500, 10000, NULL},
    {"limits.timer_c_ms", CFG_INT, "185000",
     "Timer C (RFC 3261 16.8): how long a relayed INVITE may ring at a handset over UDP before "
     "it is cancelled (then 64*T1 more for the answer to the CANCEL, else 408); RFC 3261 wants "
     "more than 3 minutes",
     1000, 3600000, NULL},
    /* Admission control (common/sip/admission.h); a reload applies every admission key. */
    {"admission.enabled", CFG_BOOL, "true",
     "refuse new work with 503 + Retry-After when the SIP loop lags (false: measure and count "
     "only)",
     0, 0, NULL},
    {"admission.target_ms", CFG_INT, "100",
     "loop lag (queueing delay: a timer's lateness, the oldest datagram waiting on a UDP "
     "listener, the oldest data a TCP read left waiting; the smallest sample of the last 0.1 s "
     "and the one before) admission control holds the node to: past it a growing "
     "share of new initial requests (INVITE, MESSAGE, SUBSCRIBE, initial REGISTER) is refused, "
     "all of them at twice it; a known UE's re-REGISTER from 3x to 4x; in-dialog requests, "
     "ACK, CANCEL, requests the other CSCF admitted, emergency and OPTIONS to this node "
     "never",
     1, 10000, NULL},
    {"admission.retry_after", CFG_INT, "2",
     "Retry-After of a refusal, seconds: each 503 says a value between this and twice it", 1, 3600,
     NULL},
    {"admission.flow_rate", CFG_INT, "0",
     "requests outside a dialog per second one flow (transport source address and port, or TCP "
     "connection) may send; beyond its burst they get 503; 0: no limit (SIPp tests and "
     "benchmarks send everything from one port)",
     0, 1000000, NULL},
    {"admission.flow_burst", CFG_INT, "20", "requests a flow may send at once (bucket size)", 1,
     1000000, NULL},
    {"admission.impi_rate", CFG_INT, "0",
     "requests outside a dialog per second under one IMPI (Authorization username, else the From "
     "URI); 0: no limit",
     0, 1000000, NULL},
    {"admission.impi_burst", CFG_INT, "20", "requests an IMPI may send at once (bucket size)", 1,
     1000000, NULL},
    {"admission.table_size", CFG_INT, "10000",
     "flows and IMPIs tracked for their limits (each table); the least recently seen makes room", 1,
     10000000, NULL},
    CFG_END,
};

/* A copy of `keys` with the default of `path` replaced. */
static cfg_key_t *with_default(const cfg_key_t *keys, const char *path, const char *dflt)
{
    size_t n = 0;
    while (keys[n].path)
        n++;
    cfg_key_t *copy = calloc(n + 1, sizeof *copy);
    if (!copy)
        return NULL;
    memcpy(copy, keys, (n + 1) * sizeof *copy);
    for (size_t i = 0; i < n; i++)
        if (strcmp(copy[i].path, path) == 0)
            copy[i].dflt = dflt;
    return copy;
}

cfg_t *program_schema(const program_def_t *def, cfg_key_t **owned, size_t nowned)
{
    const cfg_key_t *tables[4] = {NULL};
    size_t t = 0;
    memset(owned, 0, nowned * sizeof *owned);
    owned[0] = with_default(common_keys, "api.listen", def->default_api_listen);
    tables[t++] = owned[0];
    if (def->has_sip) {
        owned[1] = with_default(sip_keys, "sip.listen", def->default_sip_listen);
        tables[t++] = owned[1];
    }
    if (def->keys)
        tables[t++] = def->keys;
    for (size_t i = 0; i < t; i++)
        if (!tables[i])
            return NULL;
    return cfg_new(def->env_prefix, tables);
}
