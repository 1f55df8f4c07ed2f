/* How much of a SIP TCP connection one read takes (sip_core.h: sip_stream_read_max()).
 *
 * sofia-sip's tport reads a stream socket by asking su_getmsgsize() (FIONREAD) how much the
 * socket holds and taking all of it into one message buffer. When that is more than nta's
 * message size limit (NTATAG_MAXSIZE), the message is marked too large and tport stops reading
 * the connection for good (tp_recv_close): every request and response still on it, and every
 * one the peer sends later, is lost, and TCP has no SIP retransmission to repair it. Between
 * the CSCFs a backlog is ordinary under load: the socket's buffer grows (tcp_rmem, up to
 * 32 MiB) and a loop stall of ~0.2 s at a few hundred calls/s leaves more than the limit in it
 * (tests/e2e/t_flood.sh: calls with 100 Trying and then nothing). A larger limit is no cure:
 * each message split off a read gets a copy of everything after it (msg_next), so a read of B
 * bytes costs about B * B / 2 KB.
 *
 * So the programs define su_getmsgsize() themselves: libsofia-sip-ua calls it through its PLT
 * (from tport_recv_stream and tport_recv_dgram only), and a definition in the executable takes
 * precedence. It answers as sofia's does, except that a stream socket is read at most
 * STREAM_READ_MAX at a time; the rest stays in the socket, which polls readable again, and is
 * read on the loop's next turn. Datagrams are never cut (one read is one datagram). */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <sofia-sip/su.h>

#include "common/sip/sip_core.h"

enum { STREAM_READ_MAX = 16 << 10 };

size_t sip_stream_read_max(void)
{
    return STREAM_READ_MAX;
}

issize_t su_getmsgsize(su_socket_t s)
{
    int n = -1;
    if (ioctl(s, FIONREAD, &n) == -1)
        return -1;
    if (n > STREAM_READ_MAX) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
            return STREAM_READ_MAX;
    }
    return n;
}
