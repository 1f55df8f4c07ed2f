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
 * read on the loop's next turn. Datagrams are never cut (one read is one datagram).
 *
 * What stays behind is a queue admission control must see (sip_admission.c): its lag looks at
 * the timer's lateness and at the datagrams waiting on the UDP listeners, and a connection read
 * 16 KiB a turn can hold seconds of requests while the loop ticks on time (the core leg in a
 * flood: 2.5 MiB waiting on one connection, nothing refused for it). So when a read is cut, the age of the oldest
 * data left behind is read too: the kernel's receive timestamp (SO_TIMESTAMPNS) of the first
 * unread segment, with MSG_PEEK. It errs young: the kernel appends small segments to the last
 * one queued and keeps the newest stamp, so it is the age of the newest data in the first
 * segment, a lower bound; and the kernel stamps segments only while some socket asks for
 * stamps (admission's UDP listeners do from the start; a program without one from its first
 * cut read on). Kept per thread: su_getmsgsize() has no context of ours, and each
 * program reads its sockets on one loop thread. */
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/su.h>

#include "common/sip/sip_core.h"

enum { STREAM_READ_MAX = 16 << 10 };

size_t sip_stream_read_max(void)
{
    return STREAM_READ_MAX;
}

static _Thread_local double backlog_age; /* seconds, the oldest since the last take */

static double oldest_unread_age(su_socket_t s)
{
    int on = 1;
    char byte, control[128];
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0 ||
        recvmsg(s, &mh, MSG_PEEK | MSG_DONTWAIT) <= 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            double age =
                (double)(now.tv_sec - ts.tv_sec) + (double)(now.tv_nsec - ts.tv_nsec) / 1e9;
            return age > 0 && age < 3600 ? age : 0;
        }
    return 0;
}

double sip_stream_backlog_take(void)
{
    double age = backlog_age;
    backlog_age = 0;
    return age;
}

issize_t su_getmsgsize(su_socket_t s)
{
    int n = -1;
    if (ioctl(s, FIONREAD, &n) == -1)
        return -1;
    if (n > STREAM_READ_MAX) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM) {
            double age = oldest_unread_age(s);
            if (age > backlog_age)
                backlog_age = age;
            return STREAM_READ_MAX;
        }
    }
    return n;
}
