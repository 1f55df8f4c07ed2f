/* Per-user SIP trace: an operator names an IMPU (REST POST /api/v1/trace) and every SIP message
 * this node receives or sends that names it (From, To, P-Asserted-Identity or Request-URI) is
 * logged in full, for a limited time, so one handset's story can be followed without turning
 * on debug logging for everyone. Owned by the SIP loop thread. */
#ifndef CSCF_SIP_TRACE_H
#define CSCF_SIP_TRACE_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <sofia-sip/msg.h>

#define SIP_TRACE_MAX_USERS       100
#define SIP_TRACE_DEFAULT_SECONDS 600
#define SIP_TRACE_MAX_SECONDS     86400

typedef struct sip_trace sip_trace_t;

sip_trace_t *sip_trace_new(void);
void sip_trace_free(sip_trace_t *t);

/* Traces aor ("sip:user@host" or "tel:+n", any URI form is reduced to it) for seconds from
 * now. 0, or -1 when the URI has no such form or SIP_TRACE_MAX_USERS are traced already. */
int sip_trace_add(sip_trace_t *t, const char *uri, long seconds, time_t now);
/* 1 when it was traced. */
int sip_trace_remove(sip_trace_t *t, const char *uri);
/* {"traces": [{"impu", "expires_in"}...]} without the expired ones (which are dropped). */
json_t *sip_trace_json(sip_trace_t *t, time_t now);

/* Logs msg when it names a traced user; dir says "received" or "sent". Cheap when nobody is
 * traced. */
void sip_trace_msg(sip_trace_t *t, msg_t *msg, const char *dir);

#endif
