/* Nagle off on freeDiameter's connections (fd_nodelay.h).
 *
 * freeDiameter clears TCP_NODELAY on every Diameter socket (libfdcore/tcp.c, after RFC 3539
 * 3.2). With the peer's delayed ACK that holds an answer back whenever the one before it is
 * not yet acknowledged, and at a low rate that state feeds itself: each answer leaves when
 * the next request carries the ACK. make soak at 60 registrations/s: from the first expiry on
 * (two SARs in flight once) every SAR answer waited for the next Cx request, 16-19 ms, and
 * REGISTER->200 went from 3.5 to 19.5 ms on an idle machine. A Diameter message is written
 * whole, so Nagle saves nothing that matters here.
 *
 * The sockets are freeDiameter's own, so they are found by their ports in /proc/self/fd once
 * a peer connects: a socket on one of our Diameter listen ports (a peer that dialled us) or
 * one whose far end is the peer's port (a peer we dialled). Setting it on a socket that
 * already has it, or on another TCP socket that happens to match (sofia's SIP connections set
 * it themselves), changes nothing. */
#include "diameter/fd_nodelay.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common/util/own_fds.h"

static int port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return -1;
}

static int is_listen_port(int port, const uint16_t *listen, size_t nlisten)
{
    for (size_t i = 0; i < nlisten; i++)
        if (listen[i] && port == listen[i])
            return 1;
    return 0;
}

/* 1 when fd is a connected TCP socket of a Diameter connection as described above */
static int is_diameter(int fd, const uint16_t *listen, size_t nlisten, uint16_t remote)
{
    int type = 0, proto = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
        return 0;
    len = sizeof proto;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0 || proto != IPPROTO_TCP)
        return 0;
    struct sockaddr_storage here, there;
    socklen_t hl = sizeof here, tl = sizeof there;
    if (getsockname(fd, (struct sockaddr *)&here, &hl) < 0 ||
        getpeername(fd, (struct sockaddr *)&there, &tl) < 0) /* a listener, or not connected */
        return 0;
    return is_listen_port(port_of(&here), listen, nlisten) || (remote && port_of(&there) == remote);
}

struct scan {
    const uint16_t *listen;
    size_t nlisten;
    uint16_t remote;
    int set;
};

static int nodelay_if_diameter(int fd, void *ctx)
{
    struct scan *s = ctx;
    int one = 1;
    if (is_diameter(fd, s->listen, s->nlisten, s->remote) &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
        s->set++;
    return 0;
}

int fd_nodelay_connections(const uint16_t *listen, size_t nlisten, uint16_t remote)
{
    struct scan s = {listen, nlisten, remote, 0};
    return own_fds_each(nodelay_if_diameter, &s) < 0 ? -1 : s.set;
}
