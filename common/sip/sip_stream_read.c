/* How a SIP TCP connection is read: how much one read takes, and how many reads one turn of the
 * loop makes (sip_core.h: sip_stream_read_max(), sip_stream_backlog_take()).
 *
 * sofia-sip's tport reads a stream socket by asking su_getmsgsize() (FIONREAD) how much the
 * socket holds and taking all of it into one message buffer, once per readiness event. Three
 * costs follow from that, all measured between the CSCFs under load:
 * - When a read is more than nta's message size limit (NTATAG_MAXSIZE), the message is marked
 *   too large and tport stops reading the connection for good (tp_recv_close): every message
 *   still on it is lost, and TCP has no SIP retransmission to repair it (tests/e2e/t_flood.sh:
 *   calls with 100 Trying and then nothing).
 * - Each message split off a read gets a copy of everything after it (msg_next()), and keeps
 *   that buffer for as long as nta keeps the message: a read of B bytes costs about B * B / 2 KB
 *   of copying, and its messages hold B / 2 each on average (a flood's peak at the pcscf was
 *   mostly such buffers).
 * - One read a turn is too little for the core leg, which carries admitted work (the answers
 *   and in-dialog requests of calls let in): in a flood the scscf's send queue to the pcscf
 *   filled while the pcscf spent its turns on the handsets' datagrams, and what the queue could
 *   not take was lost with nobody told (sip_send_errors.c).
 *
 * So the programs define su_getmsgsize() themselves: libsofia-sip-ua calls it through its PLT
 * (from tport_recv_stream and tport_recv_dgram only), and a definition in the executable takes
 * precedence. A datagram is answered as sofia does (one read is one datagram). A stream socket
 * with more than SMALL_READ waiting is peeked, and the read stops at the end of the first
 * message when that lies in the peek: one message per read, its buffer its own size, nothing
 * copied. Otherwise (a message longer than the peek, or one not yet whole) it takes what waits,
 * at most STREAM_READ_MAX. And they define tport_recv_event() (called through the PLT too, by
 * tport's wakeup) to read a TCP connection again while the last read left data behind, up to
 * READS_PER_TURN reads a turn; the rest waits for the next turn (the socket polls readable).
 *
 * What stays behind is a queue admission control must see (sip_admission.c): its lag looks at
 * the timer's lateness and at the datagrams waiting on the UDP listeners, and a connection can
 * hold seconds of requests while the loop ticks on time. So when a read leaves data behind, the
 * age of what it reads is taken too: the kernel's receive timestamp (SO_TIMESTAMPNS) of the
 * first unread segment, from the same peek. It errs young: the kernel appends small segments
 * to the last one queued and keeps the newest stamp, so it is the age of the newest data in the
 * first segment, a lower bound; and the kernel stamps segments only while some socket asks for
 * stamps (admission's UDP listeners do from the start; a program without one from its first
 * backlog on). Kept per thread: su_getmsgsize() has no context of ours, and each program reads
 * its sockets on one loop thread. */
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/su.h>
#include <sofia-sip/tport.h>

#include "common/sip/sip_core.h"

enum {
    STREAM_READ_MAX = 16 << 10,
    PEEK_MAX = 8 << 10,   /* a VoLTE INVITE with its SDP is 2-5 KiB */
    SMALL_READ = 2 << 10, /* read whole: its copies cost little */
    READS_PER_TURN = 64,
};

size_t sip_stream_read_max(void)
{
    return STREAM_READ_MAX;
}

static _Thread_local double backlog_age; /* seconds, the oldest since the last take */
static _Thread_local int left_behind;    /* the last stream read left data in the socket */

static double stamp_age(struct msghdr *mh)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            double age =
                (double)(now.tv_sec - ts.tv_sec) + (double)(now.tv_nsec - ts.tv_nsec) / 1e9;
            return age > 0 && age < 3600 ? age : 0;
        }
    return -1; /* no stamp: the socket does not ask for them yet */
}

double sip_stream_backlog_take(void)
{
    double age = backlog_age;
    backlog_age = 0;
    return age;
}

/* The value of a Content-Length (or its compact form l) header field in the header block
 * h[0..n), 0 when it has none (RFC 3261 18.3 makes it mandatory on a stream; a message without
 * one is read as what waits, and tport's parser decides), -1 when it is not a number. */
static long content_length(const char *h, size_t n)
{
    for (const char *p = h, *end = h + n; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *q = p;
        if (end - q > 14 && strncasecmp(q, "Content-Length", 14) == 0)
            q += 14;
        else if (*q == 'l' || *q == 'L')
            q += 1;
        else
            q = NULL;
        while (q && q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q && q < end && *q == ':') {
            const char *d = q + 1, *d0;
            while (d < end && (*d == ' ' || *d == '\t'))
                d++;
            long v = 0;
            for (d0 = d; d < end && *d >= '0' && *d <= '9'; d++) {
                if (v > INT32_MAX / 10)
                    return -1;
                v = v * 10 + (*d - '0');
            }
            return d > d0 ? v : -1;
        }
        p = eol ? eol + 1 : end;
    }
    return 0;
}

/* The length of the first message in b[0..n) when all of it is there: leading CRLFs (a
 * keep-alive, RFC 5626 4.4.1) alone, for tport to answer; otherwise the message through its
 * body. 0 when its end is not in b. */
static size_t first_message_length(const char *b, size_t n)
{
    size_t ws = 0;
    while (ws < n && (b[ws] == '\r' || b[ws] == '\n'))
        ws++;
    if (ws > 0)
        return ws < n ? ws : 0;
    const char *eoh = memmem(b, n, "\r\n\r\n", 4);
    if (!eoh)
        return 0;
    size_t head = (size_t)(eoh - b) + 4;
    long body = content_length(b, head);
    return body >= 0 && head + (size_t)body <= n ? head + (size_t)body : 0;
}

/* How much a read of stream socket s with n bytes waiting takes. */
static issize_t stream_read_size(su_socket_t s, int n)
{
    char buf[PEEK_MAX], control[128];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    ssize_t got = recvmsg(s, &mh, MSG_PEEK | MSG_DONTWAIT);
    size_t len = got > 0 ? first_message_length(buf, (size_t)got) : 0;
    if (len == 0)
        len = n < STREAM_READ_MAX ? (size_t)n : STREAM_READ_MAX;
    left_behind = (size_t)n > len;
    if (left_behind && got > 0) {
        double age = stamp_age(&mh);
        int on = 1;
        if (age < 0) /* from now on, for the next backlog */
            (void)setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
        else if (age > backlog_age)
            backlog_age = age;
    }
    return (issize_t)len;
}

issize_t su_getmsgsize(su_socket_t s)
{
    int n = -1;
    if (ioctl(s, FIONREAD, &n) == -1)
        return -1;
    left_behind = 0;
    if (n <= SMALL_READ)
        return n;
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
        return stream_read_size(s, n);
    return n;
}

/* tport's reaction to a readable socket. A TCP connection is read again while its last read
 * left data behind, so that a turn takes up to READS_PER_TURN messages from it. tport frees a
 * closed connection only from a timer (tport_secondary_timer()), never inside this call. */
void tport_recv_event(tport_t *self)
{
    static void (*sofia)(tport_t *);
    if (!sofia)
        sofia = (void (*)(tport_t *))dlsym(RTLD_NEXT, "tport_recv_event");
    if (!sofia)
        return;
    int again = tport_is_secondary(self) && tport_is_tcp(self);
    for (int i = 0; i < READS_PER_TURN; i++) {
        left_behind = 0;
        sofia(self);
        if (!again || !left_behind || tport_is_closed(self) || tport_is_shutdown(self))
            return;
    }
}
