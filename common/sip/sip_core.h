/* The shared SIP core: one nta agent on the process's su_root, bound to every sip.listen
 * entry for each configured transport, acting as a transaction-stateful proxy (NTATAG_UA(0)).
 *
 * Every request nta accepts reaches sip_core first (metrics, draining, checks RFC 3261 asks of
 * every element), then the program's handler. Programs speak in our terms (sip_core_reply(),
 * sip_forward()) rather than in raw nta tag lists. */
#ifndef CSCF_SIP_CORE_H
#define CSCF_SIP_CORE_H

#include <stddef.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_wait.h>

#include <jansson.h>

#include "common/ops/metrics.h"
#include "common/sip/sip_tls.h"

typedef struct sip_core sip_core_t;
struct adm_config;
/* A server transaction: a request nta accepted, answered with sip_core_reply(). Programs name
 * it only through this type and the functions of common/sip. */
typedef nta_incoming_t sip_incoming_t;

typedef struct sip_core_config {
    const char *const *listen; /* "host:port" entries */
    size_t nlisten;
    const char *const *transports; /* "udp", "tcp" */
    size_t ntransports;
    const char *advertise;      /* host:port put in Via/Record-Route/Path; NULL: first listen */
    const char *const *aliases; /* other host names or host:port that mean this node */
    size_t naliases;
    const char *domain; /* home domain (also means "this node" for OPTIONS) */
    unsigned max_message_size;
    unsigned max_pending; /* INVITE server transactions in proceeding before 503 */
    /* limits.* (common/ops/limits.h); 0 takes the default of the key table. */
    size_t max_transactions; /* server transactions nta holds, completed ones included */
    size_t max_relays;       /* requests being relayed (sip_fork) */
    size_t max_dialogs;      /* dialogs of the bookkeeping (dialogs.h) */
    unsigned retry_after;    /* seconds, in the 503 a request gets at a cap */
    unsigned t1x64_ms;       /* nta's 64*T1 (Timers B, F, H, J); 0: RFC 3261's 32 s */
    unsigned t4_ms;          /* nta's T4 (Timers I, K, an answered INVITE's); 0: 5 s */
    unsigned timer_c_ms;     /* Timer C of an INVITE branch taken from nta; 0: 185 s */
    const char *server;      /* Server header value */
    const char *allow;       /* Allow header value: methods the program handles */
    const char *supported;   /* option tags the program supports (Supported, Require checks) */
    const char *accept;      /* Accept header value */
    /* Admission control (common/sip/admission.h); NULL: its defaults. */
    const struct adm_config *admission;
    /* sip.tls.* (sip_tls.h): a TLS listener besides the others when tls.listen is set. */
    sip_tls_config_t tls;
} sip_core_config_t;

/* The program's request handler, on the loop thread. Return a status (>= 100) for nta to
 * answer with, or 0 when the handler answered itself or keeps the transaction (forwarding). */
typedef int (*sip_request_f)(void *app, sip_core_t *core, sip_incoming_t *irq, sip_t const *sip);

sip_core_t *sip_core_new(su_root_t *root, const sip_core_config_t *cfg, metrics_t *metrics,
                         sip_request_f handler, void *app);
void sip_core_free(sip_core_t *core);

nta_agent_t *sip_core_agent(const sip_core_t *core);
/* The per-user trace (common/sip/sip_trace.h); used on the loop thread only. */
struct sip_trace *sip_core_trace(const sip_core_t *core);
su_root_t *sip_core_root(const sip_core_t *core);
const sip_core_config_t *sip_core_config(const sip_core_t *core);
metrics_t *sip_core_metrics(const sip_core_t *core);

/* The URI of this node for Record-Route and Path: <sip:advertise;lr>. */
const url_t *sip_core_self_url(const sip_core_t *core);

/* With a TLS listener (sip.tls.listen): <sip:host:port;transport=tls;lr> of it (the host of
 * sip.advertise when set), for the Record-Route, Path and Service-Route entries peers reach over
 * TLS. NULL without one. */
const url_t *sip_core_tls_url(const sip_core_t *core);
/* With TCP among sip.transports: <sip:advertise;transport=tcp;lr>, the Record-Route entry for a
 * peer reached over TCP, so that the dialog's requests come back over TCP too (without the
 * parameter they would come over UDP: RFC 3263). NULL without TCP. */
const url_t *sip_core_tcp_url(const sip_core_t *core);
/* Did this request arrive over TLS? (sip_core marks each request nta delivers over TLS.) */
int sip_core_msg_over_tls(msg_t *msg);

/* True when host and port name this node itself (listen, advertise or alias entries); the
 * home domain does not count, so a Request-URI of a user in our domain is not mistaken for a
 * Route to us. */
int sip_core_is_node(const sip_core_t *core, const url_t *url);

/* limits.retry_after_seconds: the Retry-After (seconds) of a 503 at a table's cap. */
unsigned sip_core_retry_after(const sip_core_t *core);

/* Dialog bookkeeping of the proxy (REST /api/v1/dialogs, call metrics). */
struct dialogs *sip_core_dialogs(const sip_core_t *core);

/* True when the URI names this node: host and port match a listen, advertise or alias entry,
 * or the host is the home domain. */
int sip_core_is_self(const sip_core_t *core, const url_t *url);

/* True when this node answers the request itself rather than routing it (OPTIONS pings): the
 * Request-URI names this node or the home domain without a user part (a user's URI is routed
 * to the user), and no Route leads past this node. */
int sip_core_request_is_for_us(const sip_core_t *core, sip_t const *sip);

/* Answer a request (counts the response). Tags as for nta_incoming_treply(). */
int sip_core_reply(sip_core_t *core, nta_incoming_t *irq, int status, const char *phrase,
                   tag_type_t tag, tag_value_t value, ...);
/* As a UAS: 420 with Unsupported when Require names a tag we lack. Returns 420 (answered) or 0. */
int sip_core_check_require(sip_core_t *core, nta_incoming_t *irq, sip_t const *sip);
/* Answer OPTIONS addressed to this node: 200 with Allow, Supported, Accept (or 420). Returns the
 * status sent. */
int sip_core_reply_options(sip_core_t *core, nta_incoming_t *irq, sip_t const *sip);

/* A request the handler keeps past its return (answered after a store or HSS lookup, or
 * handed on). Its message, as a new reference (msg_destroy() it; sip_object() of it stays
 * valid), e.g. for the source address. */
msg_t *sip_incoming_request(nta_incoming_t *irq);
/* The response sent so far (a new reference, or NULL). */
msg_t *sip_incoming_response(nta_incoming_t *irq);
/* The status sent so far: 0 before any, >= 200 when answered (a CANCEL answers 487 too). */
int sip_incoming_status(nta_incoming_t *irq);
/* Done with a kept request: the transaction goes (after its retransmissions) and msg too
 * (NULL: none was taken). */
void sip_incoming_release(nta_incoming_t *irq, msg_t *msg);

/* Count a response going out on behalf of this node (relayed responses too). */
void sip_core_count_response(sip_core_t *core, int status);
/* The same for a response to irq; a final one also goes into the transaction-duration
 * histogram (from the request's arrival). */
void sip_core_count_final(sip_core_t *core, nta_incoming_t *irq, int status);

/* Draining: new requests get 503 with Retry-After; transactions in flight finish. */
void sip_core_drain(sip_core_t *core);
int sip_core_draining(const sip_core_t *core);
/* Server and client transactions not yet terminated, from nta's counters. */
size_t sip_core_pending(sip_core_t *core);

/* The most one read takes from a SIP TCP connection (sip_stream_read.c: the programs' own
 * su_getmsgsize(), so a backlog in the socket never makes nta drop the connection). */
size_t sip_stream_read_max(void);
/* The age (s) of the oldest data a cut stream read left waiting on this thread since the last
 * call, 0 when none was cut; for admission control's lag (sip_stream_read.c). */
double sip_stream_backlog_take(void);

/* Loop thread: copy nta's counters (malformed messages, transactions held) into the metrics. */
void sip_core_publish_stats(sip_core_t *core);

/* A Contact's expires parameter (delta-seconds, RFC 3261 20.10/20.19): its value, capped at
 * 2^31-1, or dflt when it is absent or not all digits (so "expires=abc" cannot deregister). */
long sip_core_contact_expires(const sip_contact_t *m, long dflt);

/* Where a received message came from, as "udp:192.0.2.1:5060" (the flow a UE registered);
 * "tcp:" for a TCP connection, "tls:" for a TLS one (a request sent to the flow as
 * sip:192.0.2.1:5060;transport=tls takes the same connection). */
void sip_core_flow_of(msg_t *msg, char *out, size_t len);

/* An IMPU as registrations are keyed: "sip:user@host" (no port, parameters or headers), or
 * "tel:number". 0, or -1 for other schemes or when it does not fit. */
int sip_impu_of(const url_t *u, char *out, size_t len);

/* Listeners of the default ident: every sip.listen entry. */
#define SIP_CORE_IDENT_DEFAULT "sip"

/* Binds one more host:port for every configured transport (the pcscf's IPsec-protected ports,
 * TS 33.203 7), tagged with ident so that sends can be made from it (sip_core_set_source()).
 * The address counts as this node (sip_core_is_node()). Only at start-up, before any request
 * was sent or received (nta frees the Vias connections made so far point to): -1 after. 0, or
 * -1 (logged). */
int sip_core_add_listener(sip_core_t *core, const char *hostport, const char *ident);
/* From now on this option tag is accepted in Proxy-Require and listed in Supported. 0 or -1. */
int sip_core_add_supported(sip_core_t *core, const char *tag);
/* The local port the request arrived on (the listener's, for a connection too); 0 if unknown. */
unsigned sip_incoming_local_port(sip_core_t *core, sip_incoming_t *irq);

/* Where a forwarded request leaves from: fn gets the address it goes to (the next hop, else
 * its topmost Route, else its Request-URI) and returns the ident of a listener added with
 * sip_core_add_listener(), or NULL for the default listeners. Applies to every request the
 * proxy sends (stateful, stateless, its CANCELs). Such a request is never moved from UDP to
 * TCP for its size (RFC 3261 18.1.1): nta's TCP connection would not leave from the listener. */
typedef const char *(*sip_core_source_f)(void *ctx, const url_t *dest);
void sip_core_set_source(sip_core_t *core, sip_core_source_f fn, void *ctx);
/* The listener ident a request to dest leaves from (sip_core_set_source), or NULL: for a
 * program sending a request of its own (the pcscf's BYE when the network ends a call). */
const char *sip_core_source_ident(sip_core_t *core, const url_t *dest);

/* Admission control (common/sip/admission.h): every new request is classed and may be refused
 * with a stateless 503 + Retry-After before a server transaction exists (a refusal costs no
 * memory) and before the program's handler sees it. The program refines the classes
 * with a cheap callback, on the loop, for requests outside a dialog (not ACK, CANCEL, OPTIONS
 * to this node, emergency); it returns a mix of: */
#define SIP_ADM_KNOWN 1u /* a known UE's re-REGISTER (without it: an initial REGISTER) */
#define SIP_ADM_PEER  2u /* from a core node whose flow carries many UEs: no per-flow limit */
/* admitted by the other CSCF already, or the answer to a challenge this node sent or relayed:
 * never refused for lag */
#define SIP_ADM_ADMITTED 4u
#define SIP_ADM_EMERGENCY                                                                          \
    8u /* an emergency request the program recognises: never refused for lag */
/* flow (flow_len bytes) holds the request's flow (sip_core_flow_of()) once someone built it, and
 * is empty until then: a callback that needs the flow builds it there, and admission's per-flow
 * limit takes it from there, so it is built once per request. */
typedef unsigned (*sip_adm_classify_f)(void *ctx, sip_core_t *core, msg_t *msg, sip_t const *sip,
                                       char *flow, size_t flow_len);
void sip_core_set_classify(sip_core_t *core, sip_adm_classify_f fn, void *ctx);
/* New admission settings (a reload). */
void sip_core_set_admission(sip_core_t *core, const struct adm_config *cfg);
/* GET /api/v1/admission: lag, shed ratio, counters, the `top` flows and IMPIs refused most. */
json_t *sip_core_admission_json(sip_core_t *core, size_t top);

/* Comma-separated list helper: is `tag` (case-insensitive) in `list`? */
int sip_tag_in_list(const char *list, const char *tag);

#endif
