/* The nonces of the 401s this P-CSCF relayed to UEs, kept a short while so that admission
 * control knows a UE's answer to one (a REGISTER carrying that nonce) as work admitted already:
 * the S-CSCF spent a MAR on the challenge, and refusing the answer for lag wastes it (TS 24.229
 * 5.2.2; common/sip/admission.h: class "admitted"). Loop thread only.
 *
 * A fixed table of hashed nonces (no strings kept, no allocation after creation): a nonce
 * noted is found once (taken) until it expires; when its neighbourhood is full the one closest
 * to expiry makes room, so under churn an answer may go unrecognised and be classed as any
 * REGISTER (never the other way round, but for a 64-bit hash collision). */
#ifndef CSCF_PCSCF_CHALLENGED_H
#define CSCF_PCSCF_CHALLENGED_H

#include <stddef.h>
#include <stdint.h>

typedef struct pc_challenged pc_challenged_t;

/* slots: rounded up to a power of two (at least 64); ttl_ms: how long a nonce is kept. */
pc_challenged_t *pc_challenged_new(size_t slots, int64_t ttl_ms, uint64_t seed);
void pc_challenged_free(pc_challenged_t *c);
void pc_challenged_note(pc_challenged_t *c, const char *nonce, int64_t now_ms);
/* 1 when nonce was noted and has not expired nor been taken (it is taken now), else 0. */
int pc_challenged_take(pc_challenged_t *c, const char *nonce, int64_t now_ms);

#endif
