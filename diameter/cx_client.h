/* Asynchronous Cx requests from the SIP loop (ARCHITECTURE.md section 2).
 *
 * cx_client_send() encodes a cx_msg_t and hands it to freeDiameter; the answer, or the timeout,
 * comes back later as a plain cx_msg_t through the loop queue, so the callback runs on the loop
 * thread and never blocks it. Every function here is called on the loop thread. */
#ifndef CSCF_CX_CLIENT_H
#define CSCF_CX_CLIENT_H

#include <stdint.h>
#include <sofia-sip/su_wait.h>

#include "common/ops/loopq.h"
#include "common/ops/metrics.h"
#include "diameter/cx_msg.h"

typedef enum {
    CX_ANSWERED, /* answer holds what the peer (or freeDiameter's routing) said */
    CX_TIMEOUT,  /* no answer within the timeout */
    CX_FAILED,   /* could not be sent (encoding, freeDiameter refused) */
} cx_status_t;

typedef struct cx_client cx_client_t;

/* answer is NULL unless status is CX_ANSWERED; it is freed after the callback returns. */
typedef void (*cx_answer_f)(void *arg, cx_status_t status, const cx_msg_t *answer);

/* dest_realm: Destination-Realm when a request has none. timeout_ms: per request. */
cx_client_t *cx_client_new(const cx_dict_t *cx, su_root_t *root, loopq_t *q, metrics_t *m,
                           const char *dest_realm, int timeout_ms);
/* After freeDiameter has stopped: callbacks of requests still pending are not called. */
void cx_client_free(cx_client_t *c);

/* Sends req (left untouched, still the caller's). Returns a request id (> 0), or 0 when it
 * could not be sent: then cb is not called. */
uint64_t cx_client_send(cx_client_t *c, const cx_msg_t *req, cx_answer_f cb, void *arg);

/* The callback of request id will not be called (the SIP transaction it served went away). */
void cx_client_cancel(cx_client_t *c, uint64_t id);

size_t cx_client_pending(const cx_client_t *c);

/* Unit tests' stand-in for the peer: when set, every request goes to fn instead of
 * freeDiameter (nothing is encoded, no dictionary needed). fn fills answer (initialised) and
 * returns the status; the callback still runs later on the loop, as with a real answer. */
typedef cx_status_t (*cx_client_fake_f)(void *arg, const cx_msg_t *req, cx_msg_t *answer);
void cx_client_fake(cx_client_t *c, cx_client_fake_f fn, void *arg);

/* Shared with cx_server: the metric families both sides update. */
void cx_metrics_register(metrics_t *m, metric_t **requests, metric_t **latency);
/* Shared with fd_setup's hooks: cscf_diameter_peer_requests_total{peer} and
 * cscf_diameter_peer_failovers_total{peer,reason}. */
void cx_peer_metrics_register(metrics_t *m, metric_t **requests, metric_t **failovers);

#endif
