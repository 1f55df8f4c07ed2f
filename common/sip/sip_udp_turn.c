/* Reading the UDP listeners more than once per turn of the loop (sip_core_internal.h).
 *
 * tport reads one datagram per readiness event of a UDP socket, but up to 64 messages
 * (sip_stream_read.c) per event of a TCP connection, and sofia's epoll port handles at most four
 * ready sockets per turn. So when the loop's CPU goes to a busy TCP leg, the datagrams of every
 * handset wait: in `make soak` the oldest one on a listener aged at the wall clock's pace while
 * the loop ticked on time, and in a flood with the core leg's dialogs on TCP the kernel dropped
 * thousands from the listener's full queue (docs/BENCHMARKS.md, ninth run). Before each turn
 * (su_root's prepoll hook, run by su_root_run() ahead of timers and the poll) each UDP listener
 * is read until it is empty, at most TURN_MAX times, by tport_recv_event(): what tport
 * does itself for a readable primary UDP socket (tport_base_wakeup()). That function is exported
 * by libsofia-sip-ua but not declared in its headers; it is declared here.
 *
 * Both kinds get a bounded share of a turn: a datagram the kernel drops from a full queue is a
 * lost request (for an INVITE, a lost call), and a connection read too slowly fills its
 * sender's queue, which then loses what it cannot take (the core leg carries the answers and
 * in-dialog requests of admitted calls). Seven more reads a turn were not enough
 * in CI's flood (the ASan builds compiling beside it): 1,717 datagrams dropped. TURN_MAX bounds
 * the turn (64 INVITEs take a few ms) so timers and the TCP leg still run. */
#include "common/sip/sip_core_internal.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>

#include "common/util/log.h"

void tport_recv_event(tport_t *self);

enum { TURN_MAX = 64, MAX_UDP_TPORTS = SIP_UDP_LISTENERS_MAX };
/* A listener found with nothing waiting is looked at again only after this long (a peek is a
 * system call, and an idle loop turns thousands of times a second); one with datagrams waiting
 * is looked at every turn until it has none. */
#define IDLE_RECHECK_NS 1000000

struct sip_udp_turn {
    struct {
        tport_t *tp;
        int fd;
        int busy;        /* datagrams were waiting at the last look */
        int64_t next_ns; /* when idle: the next look */
    } l[MAX_UDP_TPORTS];
    size_t n;
    uint64_t extra; /* datagrams read by the hook */
};

void sip_udp_turn_refresh(sip_udp_turn_t *t, const sip_udp_listener_t *l, size_t n)
{
    t->n = n < MAX_UDP_TPORTS ? n : MAX_UDP_TPORTS;
    for (size_t i = 0; i < t->n; i++) {
        t->l[i].tp = l[i].tp;
        t->l[i].fd = l[i].fd;
        t->l[i].busy = 0;
        t->l[i].next_ns = 0;
    }
    log_debug("sip: %zu UDP listener(s) read until empty (at most %d) each turn", t->n, TURN_MAX);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void before_turn(su_prepoll_magic_t *magic, su_root_t *root)
{
    sip_udp_turn_t *t = (sip_udp_turn_t *)magic;
    int64_t now = 0;
    (void)root;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->l[i].busy && (now ? now : (now = now_ns())) < t->l[i].next_ns)
            continue;
        int k = 0;
        for (char byte; k < TURN_MAX; k++) {
            if (recv(t->l[i].fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0)
                break; /* nothing waits */
            tport_recv_event(t->l[i].tp);
        }
        t->extra += (uint64_t)k;
        t->l[i].busy = k == TURN_MAX;
        if (!t->l[i].busy)
            t->l[i].next_ns = (now ? now : (now = now_ns())) + IDLE_RECHECK_NS;
    }
}

sip_udp_turn_t *sip_udp_turn_new(su_root_t *root, const sip_udp_listener_t *l, size_t n)
{
    sip_udp_turn_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    sip_udp_turn_refresh(t, l, n);
    if (su_root_add_prepoll(root, before_turn, (su_prepoll_magic_t *)t) < 0) {
        log_warn("sip: the loop's prepoll hook is taken: UDP listeners read once a turn");
        free(t);
        return NULL;
    }
    return t;
}

uint64_t sip_udp_turn_reads(const sip_udp_turn_t *t)
{
    return t ? t->extra : 0;
}

void sip_udp_turn_free(sip_udp_turn_t *t, su_root_t *root)
{
    if (!t)
        return;
    su_root_remove_prepoll(root);
    free(t);
}
