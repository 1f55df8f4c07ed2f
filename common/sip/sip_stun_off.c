/* No STUN server on the SIP ports.
 *
 * sofia-sip's tport answers STUN on every UDP SIP port with its built-in mini server (stun_mini),
 * whose error answer leaks 24 bytes per malformed STUN request (send_stun_error; found by
 * fuzz_sip_request): anyone could grow the programs by sending them. Debian's 1.12 creates that
 * server whatever TPTAG_STUN_SERVER says. So, as with su_getmsgsize() (sip_stream_read.c), the
 * programs define the function libsofia-sip-ua calls through its PLT to make it, and make none:
 * a datagram starting with 0x00 then gets tport's fixed "600 Not Implemented" STUN error, built on
 * the stack, and no STUN Binding is answered (RFC 5626 UDP keep-alives are not offered; TCP's
 * CRLF keep-alive is, flow_conn.c). tests/unit/test_sip_core.c pins it. */
#include <stddef.h>

#include "common/sip/sip_core_internal.h"

void *stun_mini_create(void);

void *stun_mini_create(void)
{
    return NULL;
}

/* sip_core_new() calls it, so the static archive's member holding stun_mini_create() is linked
 * into every program (nothing else refers to this file). */
int sip_stun_off(void)
{
    return 1;
}
