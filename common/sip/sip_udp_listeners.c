/* The sockets of the UDP listeners (sip_core_internal.h).
 *
 * tport keeps its sockets to itself, yet two parts of the core need them: admission control
 * peeks the oldest datagram's age and the kernel's drop count (sip_admission.c), and the
 * prepoll hook reads each listener until it is empty (sip_udp_turn.c). A primary UDP tport is
 * matched to its socket by the address it is bound to, in one pass over /proc/self/fd, once after
 * each bind (sip_core_new(), sip_core_add_listener()); sip_core keeps the list for both. */
#include "common/sip/sip_core_internal.h"

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/tport.h>

#include "common/util/own_fds.h"

static int same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return 0;
}

/* The index in l[0..n) of the listener whose address fd is bound to, or -1. */
static int listener_of(int fd, const sip_udp_listener_t *l, const struct sockaddr **addrs, size_t n)
{
    int type = 0;
    socklen_t len = sizeof type;
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_DGRAM ||
        getsockname(fd, (struct sockaddr *)&ss, &slen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (l[i].fd < 0 && same_addr((const struct sockaddr *)&ss, addrs[i]))
            return (int)i;
    return -1;
}

struct scan {
    sip_udp_listener_t *l;
    const struct sockaddr **addrs;
    size_t n;
};

static int match_listener(int fd, void *ctx)
{
    struct scan *s = ctx;
    int i = listener_of(fd, s->l, s->addrs, s->n);
    if (i >= 0)
        s->l[i].fd = fd;
    return 0;
}

size_t sip_udp_listeners(nta_agent_t *agent, sip_udp_listener_t *out, size_t max)
{
    const struct sockaddr *addrs[SIP_UDP_LISTENERS_MAX];
    size_t n = 0;
    if (max > SIP_UDP_LISTENERS_MAX)
        max = SIP_UDP_LISTENERS_MAX;
    for (tport_t *tp = tport_primaries(nta_agent_tports(agent)); tp && n < max;
         tp = tport_next(tp)) {
        const su_addrinfo_t *ai = tport_is_udp(tp) ? tport_get_address(tp) : NULL;
        if (!ai || !ai->ai_addr)
            continue;
        out[n].tp = tp;
        out[n].fd = -1;
        addrs[n++] = ai->ai_addr;
    }
    struct scan s = {out, addrs, n};
    if (!n || own_fds_each(match_listener, &s) < 0)
        return 0;
    size_t found = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i].fd >= 0)
            out[found++] = out[i];
    return found;
}
