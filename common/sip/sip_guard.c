/* Guards against two crashes in sofia-sip 1.12 that hostile input reaches (sip_guard.h).
 *
 * sofia-sip 1.12 sets the size limit (NTATAG_MAXSIZE) only on the first message of a stream
 * read: msg_next() makes the message for the bytes that follow in the same buffer without
 * one. For such a message a Content-Length of 2^31 or more overflows msg_extract_payload()'s
 * buffer arithmetic, and it writes past its buffer: one TCP connection sending any message and
 * then one announcing "Content-Length: 4294967295" crashed the pcscf and the scscf (found by
 * tests/e2e/t_mutation.sh; tests/unit/test_sip_core.c keeps the reproducer).
 *
 * So our message class extracts bodies through a wrapper that gives such a message the limit
 * back before sofia-sip looks at the body: the message is refused as too large (413), as the
 * first one of the stream is. The limit is the largest sip.max_message_size allows, since the
 * class is shared by every agent of the process (each program has one). */
#include "common/sip/sip_guard.h"

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_parser.h>

static issize_t extract_body(msg_t *msg, msg_pub_t *pub, char b[], isize_t bsiz, int eos)
{
    if (msg_maxsize(msg, 0) == 0) /* a later message of a stream read: no limit */
        msg_maxsize(msg, SIP_GUARD_MAX_BODY);
    return sip_extract_body(msg, (sip_t *)pub, b, bsiz, eos);
}

msg_mclass_t const *sip_guard_mclass(void)
{
    static msg_mclass_t *mc; /* made on the loop thread at start-up, then only read */
    if (!mc && (mc = msg_mclass_clone(sip_default_mclass(), 0, 0)) != NULL)
        mc->mc_extract_body = extract_body;
    return mc;
}

int sip_guard_duplicate_single(sip_t const *sip)
{
    for (msg_header_t const *h = sip ? (msg_header_t const *)sip->sip_error : NULL; h;
         h = h->sh_next)
        if (h->sh_class && h->sh_class->hc_kind == msg_kind_single)
            return 1;
    return 0;
}
