/* Non-INVITE requests that arrived over UDP, once answered: their final responses, kept for
 * the client's retransmissions in place of nta's completed server transactions.
 *
 * nta keeps a completed non-INVITE server transaction over UDP for Timer J (64*T1, 32 s): the
 * request and the response as parsed messages, about 12 KiB, only to answer a retransmission
 * of the request. At a P-CSCF that is every REGISTER, MESSAGE, SUBSCRIBE and BYE from every
 * handset: 1,000 registrations/s hold 64,000 of them, 750 MiB. Here the response is kept as
 * its bytes (under 1 KiB) for the same 64*T1, nta ends the transaction at the final response
 * as it does over TCP (sip_answered_incoming_create()), and a retransmission that comes later
 * is answered again from the table (RFC 3261 17.2.2) before it can become a new request. */
#ifndef CSCF_SIP_ANSWERED_H
#define CSCF_SIP_ANSWERED_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>

typedef struct sip_answered sip_answered_t;

/* ttl_ms: how long a response is kept (64*T1); cap: most responses kept (the oldest goes). */
sip_answered_t *sip_answered_new(unsigned ttl_ms, size_t cap);
void sip_answered_free(sip_answered_t *a);

/* nta_incoming_create() for msg; a non-INVITE request over UDP with an RFC 3261 branch gets a
 * transaction that ends at its final response (sip_answered_keep() then keeps the answer). */
nta_incoming_t *sip_answered_incoming_create(nta_agent_t *agent, msg_t *msg, sip_t *sip);

/* A retransmission of a request answered within ttl_ms: the kept response is sent again and
 * the message freed (1); 0 otherwise. */
int sip_answered_absorb(sip_answered_t *a, nta_agent_t *agent, msg_t *msg, sip_t const *sip);

/* The final response to irq was sent: keep it when irq is one sip_answered_incoming_create()
 * made to end there. */
void sip_answered_keep(sip_answered_t *a, nta_incoming_t *irq);

/* Forget what is older than ttl_ms; now_ms from a monotonic clock. */
void sip_answered_expire(sip_answered_t *a, int64_t now_ms);

size_t sip_answered_count(const sip_answered_t *a);
/* Retransmissions answered from the table so far. */
uint64_t sip_answered_absorbed(const sip_answered_t *a);

#endif
