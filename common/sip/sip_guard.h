/* The SIP message class every nta agent of ours parses with: sofia-sip's own, with one guard
 * against a crash in sofia-sip 1.12 (see sip_guard.c). */
#ifndef CSCF_SIP_GUARD_H
#define CSCF_SIP_GUARD_H

#include <sofia-sip/msg_mclass.h>

/* The largest body any message may announce: the most sip.max_message_size allows. */
#define SIP_GUARD_MAX_BODY (1024u * 1024u)

/* sip_default_mclass() with the body extraction guarded; made once, kept for the process.
 * NULL when it cannot be made. */
msg_mclass_t const *sip_guard_mclass(void);

#endif
