/* The SIP message class every nta agent of ours parses with: sofia-sip's own, with one guard
 * against a crash in sofia-sip 1.12 (see sip_guard.c). */
#ifndef CSCF_SIP_GUARD_H
#define CSCF_SIP_GUARD_H

#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip.h>

/* The largest body any message may announce: the most sip.max_message_size allows. */
#define SIP_GUARD_MAX_BODY (1024u * 1024u)

/* sip_default_mclass() with the body extraction guarded; made once, kept for the process.
 * NULL when it cannot be made. */
msg_mclass_t const *sip_guard_mclass(void);

/* True when the message repeats a header that may appear once (Max-Forwards, CSeq, Expires...).
 * sofia-sip 1.12 keeps the extra copy in the message's list of erroneous headers, and
 * serializing such a message (forwarding it, relaying it) fails an assertion in
 * serialize_one() that aborts the process: a request with two Max-Forwards headers that the
 * scscf forwarded killed it (found by t_mutation.sh). Such a message is malformed (RFC 3261
 * 7.3.1): a request gets 400, a response is dropped. */
int sip_guard_duplicate_single(sip_t const *sip);

#endif
