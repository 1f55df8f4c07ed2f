/* Admission control at ingress (common/sip/admission.h has the policy): how sip_core measures
 * the loop's lag, classifies each request and refuses with 503 + Retry-After.
 *
 * The lag: every LAG_TICK_MS a timer on the loop takes one sample, the larger of
 * - how late the timer itself fired: the loop was busy with other work (a long callback, a
 *   burst read from a TCP connection), as far as that work explains it: at most the CPU time
 *   the loop thread used since the last tick. A loop that is late because it waited for a CPU
 *   other processes held has no work of its own to refuse (make soak on two cores: each loop
 *   thread runnable but waiting 150-250 ms in every half second, on the CPU about as long;
 *   a gate on its CPU share, 50%, let those waits count half of the time, and the scscf
 *   refused initial REGISTERs in a run where nothing was overloaded);
 * - the age of the oldest datagram waiting on each UDP listener, from the kernel's receive
 *   timestamp (SO_TIMESTAMPNS) read with MSG_PEEK. nta reads one datagram per wake-up and
 *   stamps its arrival when it reads it, so neither the timer nor nta_incoming_received()
 *   sees the time a request spent in the socket's receive queue (16 MiB: about a second of
 *   a flood); the peek does, at the cost of one system call per listener per tick.
 * The kernel's drop counter for the listener (SO_RXQ_OVFL) comes with the same peek.
 * - the age of the oldest data a TCP read left in its socket since the last tick
 *   (sip_stream_backlog_take(), sip_stream_read.c): a turn reads a connection a bounded number
 *   of messages, so a busy connection's backlog waits in the kernel where the timer does not
 *   see it (in a flood,
 *   with the dialogs on the core leg's TCP, 2.5 MiB waited on one connection and nothing was
 *   refused for it). Counted in the share of the tick the loop ran rather than waited for a
 *   CPU, like the timer's lateness. */
#include "common/sip/sip_hdr.h"
#include "common/sip/admission.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "common/auth/sip_digest.h"
#include "common/sip/sip_core_internal.h"
#include "common/util/log.h"

enum { LAG_TICK_MS = 10, MAX_UDP = SIP_UDP_LISTENERS_MAX, EPISODE_QUIET = 5, RECENT = 12 };

/* One tick's sample and what made it, kept for the log line that starts a refusal episode:
 * whether the loop worked (own CPU), waited for a CPU, or found datagrams queued. ms. */
typedef struct tick_rec {
    double at, late, ran, waited, age, tcp;
} tick_rec_t;

struct sip_adm {
    sip_core_t *core;
    adm_t *adm;
    su_timer_t *tick;
    double due;            /* monotonic seconds the tick was due at */
    double last_tick;      /* monotonic seconds of the last tick */
    double cpu_prev, busy; /* the loop thread's CPU seconds then; its recent CPU share */
    int schedstat;         /* /proc/thread-self/schedstat of the loop thread, or -1 */
    double wait_prev;      /* its run-queue wait (seconds) at the last tick */
    tick_rec_t recent[RECENT];
    unsigned nrecent;
    int fds[MAX_UDP];
    size_t nfds;
    uint32_t drops[MAX_UDP]; /* the kernel's count at the last peek */
    uint64_t drops_total;
    double last_sample;
    sip_adm_classify_f classify;
    void *classify_ctx;
    metric_t *m_admitted, *m_shed, *m_lag, *m_acted, *m_drops;
    /* A refusal episode: logged when it starts and when none came for EPISODE_QUIET s. */
    int refusing;
    uint64_t episode_refused;
    double episode_start, last_refusal;
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- finding and peeking the UDP listeners ---- */

void sip_adm_find_listeners(sip_adm_t *sa)
{
    sa->nfds = 0;
    for (size_t i = 0; i < sa->core->nudp && sa->nfds < MAX_UDP; i++) {
        int on = 1, fd = sa->core->udp[i].fd;
        if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on); /* drops: nice to have */
        sa->drops[sa->nfds] = 0;
        sa->fds[sa->nfds++] = fd;
    }
    log_debug("admission: watching %zu UDP listener(s) for queueing delay", sa->nfds);
}

/* The age (seconds) of the oldest datagram waiting on fd; 0 when none. */
static double peek_age(sip_adm_t *sa, size_t i, const struct timespec *now)
{
    char byte, control[256];
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(sa->fds[i], &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) < 0)
        return 0; /* EAGAIN: nothing waits */
    double age = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            age = (double)(now->tv_sec - ts.tv_sec) + (double)(now->tv_nsec - ts.tv_nsec) / 1e9;
        } else if (c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t drops;
            memcpy(&drops, CMSG_DATA(c), sizeof drops);
            if (drops > sa->drops[i]) {
                sa->drops_total += drops - sa->drops[i];
                metric_addv(sa->m_drops, NULL, (double)(drops - sa->drops[i]));
            }
            sa->drops[i] = drops;
        }
    }
    return age > 0 && age < 3600 ? age : 0;
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds the loop thread has waited on a run queue (runnable, not running) since it started:
 * the second field of schedstat. 0 when the kernel does not keep it. */
static double thread_waited(const sip_adm_t *sa)
{
    char buf[96];
    ssize_t n = sa->schedstat >= 0 ? pread(sa->schedstat, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long run = 0, wait = 0;
    return sscanf(buf, "%llu %llu", &run, &wait) == 2 ? (double)wait / 1e9 : 0;
}

static void remember(sip_adm_t *sa, double now, double late, double ran, double waited, double age,
                     double tcp)
{
    sa->recent[sa->nrecent++ % RECENT] =
        (tick_rec_t){now, late * 1e3, ran * 1e3, waited * 1e3, age * 1e3, tcp * 1e3};
}

/* "-0.23s 240/110/130/0/0 ...": the last ticks, oldest first, relative to now. */
static void recent_text(const sip_adm_t *sa, double now, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    unsigned n = sa->nrecent < RECENT ? sa->nrecent : RECENT;
    for (unsigned i = sa->nrecent - n; i != sa->nrecent && used < len; i++) {
        const tick_rec_t *r = &sa->recent[i % RECENT];
        int w = snprintf(out + used, len - used, "%s%+.2fs %.0f/%.0f/%.0f/%.0f/%.0f",
                         used ? " " : "", r->at - now, r->late, r->ran, r->waited, r->age, r->tcp);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static void on_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    sip_adm_t *sa = (sip_adm_t *)arg;
    double now = mono_now(), cpu = thread_cpu(), ran = cpu - sa->cpu_prev;
    if (now > sa->last_tick) /* the CPU share, smoothed over about five ticks */
        sa->busy += 0.2 * (ran / (now - sa->last_tick) - sa->busy);
    sa->cpu_prev = cpu;
    sa->last_tick = now;
    double late = now - sa->due, lag = late < ran ? late : ran, oldest = 0;
    struct timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    for (size_t i = 0; i < sa->nfds; i++) {
        double age = peek_age(sa, i, &real);
        if (age > oldest)
            oldest = age;
    }
    double waited = thread_waited(sa), wait = waited - sa->wait_prev;
    sa->wait_prev = waited;
    double tcp = sip_stream_backlog_take();
    remember(sa, now, late, ran, wait, oldest, tcp);
    if (oldest > lag)
        lag = oldest;
    /* A connection gives a bounded number of messages a turn, so its backlog also ages while the
     * loop waits for a CPU other processes hold, which refusing does not cure (as for the timer's
     * lateness above): only the loop's own share of the time counts. CI's flood, with two SIPps and
     * a compiler beside the CSCFs: the pcscf used 6-9 ms a tick and waited 5-10, its TCP backlog
     * aged 75-130 ms, and it refused calls at a rate it served cleanly without the backlog in the
     * lag. */
    double own = ran + wait > 0 ? ran / (ran + wait) : 1;
    if (tcp * own > lag)
        lag = tcp * own;
    if (lag < 0)
        lag = 0;
    sa->last_sample = lag;
    adm_lag_sample(sa->adm, now, lag);
    if (sa->refusing && now - sa->last_refusal > EPISODE_QUIET) {
        sa->refusing = 0;
        log_info("admission: %llu request(s) refused over %.1f s; none for %d s now (lag %.0f ms)",
                 (unsigned long long)sa->episode_refused, sa->last_refusal - sa->episode_start,
                 EPISODE_QUIET, adm_lag(sa->adm) * 1e3);
    }
    metric_observe(sa->m_lag, NULL, lag);
    sa->due = mono_now() + LAG_TICK_MS / 1000.0;
    su_timer_set(t, on_tick, arg);
}

/* ---- classes ---- */

static adm_class_t classify(sip_adm_t *sa, msg_t *msg, sip_t const *sip, unsigned *flags,
                            char *flow, size_t flow_len)
{
    sip_method_t m = sip->sip_request->rq_method;
    *flags = 0;
    if (m == sip_method_ack || m == sip_method_cancel)
        return ADM_ACK_CANCEL;
    if (sip_url_is_sos(sip->sip_request->rq_url) ||
        (sip->sip_to && sip_url_is_sos(sip->sip_to->a_url)))
        return ADM_EMERGENCY;
    if (m == sip_method_options && sip_core_request_is_for_us(sa->core, sip))
        return ADM_OPTIONS;
    if (sip->sip_to && sip->sip_to->a_tag)
        return ADM_IN_DIALOG;
    if (sa->classify)
        *flags = sa->classify(sa->classify_ctx, sa->core, msg, sip, flow, flow_len);
    if (*flags & SIP_ADM_EMERGENCY) /* configured numbers, emergency REGISTER (the pcscf) */
        return ADM_EMERGENCY;
    if (m == sip_method_register) /* the answer to a challenge comes as ADMITTED */
        return *flags & SIP_ADM_ADMITTED ? ADM_ADMITTED
               : *flags & SIP_ADM_KNOWN  ? ADM_KNOWN
                                         : ADM_INITIAL_REGISTER;
    return *flags & SIP_ADM_ADMITTED ? ADM_ADMITTED
           : *flags & SIP_ADM_KNOWN  ? ADM_KNOWN
                                     : ADM_INITIAL;
}

/* The IMPI a request is counted under: Authorization username, else the From URI. */
static void impi_of(sip_t const *sip, char *out, size_t len)
{
    digest_param(sip->sip_authorization, "username", out, len);
    if (*out || !sip->sip_from)
        return;
    const url_t *u = sip->sip_from->a_url;
    if (sip_impu_of(u, out, len) < 0)
        out[0] = '\0';
}

int sip_adm_check(sip_adm_t *sa, msg_t *msg, sip_t const *sip, const char **phrase, char *retry,
                  size_t retry_len, int *ongoing)
{
    unsigned flags;
    char flow[96] = "", impi[256] = "";
    adm_class_t c = classify(sa, msg, sip, &flags, flow, sizeof flow);
    *ongoing = adm_class_ongoing(c);
    const adm_config_t *cfg = adm_config(sa->adm);
    int bucketed = c != ADM_ACK_CANCEL && c != ADM_IN_DIALOG && cfg->enabled;
    int by_flow = bucketed && cfg->flow_rate > 0 && !(flags & SIP_ADM_PEER);
    if (by_flow && !*flow) /* not built by the program's classify callback already */
        sip_core_flow_of(msg, flow, sizeof flow);
    if (bucketed && cfg->impi_rate > 0)
        impi_of(sip, impi, sizeof impi);
    double now = mono_now();
    adm_reason_t r = adm_decide(sa->adm, now, c, by_flow ? flow : "", impi);
    if (r == ADM_ADMIT) {
        metric_inc(sa->m_admitted, adm_class_name(c));
        return 0;
    }
    metric_addv(sa->m_shed, (const char *[]){adm_class_name(c), adm_reason_name(r)}, 1);
    if (!sa->refusing) {
        sa->refusing = 1;
        sa->episode_refused = 0;
        sa->episode_start = now;
        char recent[RECENT * 40];
        recent_text(sa, now, recent, sizeof recent);
        log_warn("admission: refusing requests with 503 (first: %s, class %s; lag %.0f ms, "
                 "target %.0f ms; last ticks, ms late/own CPU/waited for a CPU/oldest datagram/"
                 "oldest TCP backlog: %s)",
                 adm_reason_name(r), adm_class_name(c), adm_lag(sa->adm) * 1e3, cfg->target * 1e3,
                 recent);
    }
    sa->episode_refused++;
    sa->last_refusal = now;
    snprintf(retry, retry_len, "%u", adm_retry_after(sa->adm));
    *phrase = r == ADM_SHED_LAG ? "Overloaded" : "Rate Limited";
    return 503;
}

/* ---- life cycle ---- */

sip_adm_t *sip_adm_new(sip_core_t *core, const adm_config_t *cfg)
{
    sip_adm_t *sa = calloc(1, sizeof *sa);
    adm_config_t dflt = {.enabled = 1, .target = 0.1, .retry_after = 2, .table_size = 10000};
    if (!sa)
        return NULL;
    sa->core = core;
    sa->schedstat = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sa->adm = adm_new(cfg ? cfg : &dflt, (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32));
    metrics_t *m = core->metrics;
    sa->m_admitted = metrics_counter(m, "cscf_admission_admitted_total",
                                     "requests admission control let in, by class", "class");
    sa->m_shed = metrics_counter(m, "cscf_admission_shed_total",
                                 "requests refused with 503 by admission control, by class and "
                                 "reason (lag, flow, impi)",
                                 "class,reason");
    static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.2,   0.3,    0.5,   1,    2.5,   5};
    sa->m_lag = metrics_histogram(m, "cscf_loop_lag_seconds",
                                  "the SIP loop's lag, sampled every 10 ms: how late a timer "
                                  "fired, the oldest datagram waiting on a UDP listener or the "
                                  "oldest data a TCP read left waiting, whichever is most",
                                  NULL, bounds, sizeof bounds / sizeof bounds[0]);
    sa->m_acted = metrics_gauge(m, "cscf_admission_lag_seconds",
                                "the loop lag admission control acts on: the smallest sample of "
                                "the last 0.1 s and the one before",
                                NULL);
    sa->m_drops =
        metrics_counter(m, "cscf_sip_udp_drops_total",
                        "datagrams the kernel dropped on a full SIP UDP receive buffer", NULL);
    sa->tick = su_timer_create(su_root_task(core->root), LAG_TICK_MS);
    if (!sa->adm || !sa->tick) {
        sip_adm_free(sa);
        return NULL;
    }
    sip_adm_find_listeners(sa);
    /* The loop thread creates sip_core, so thread-self is the thread whose waits matter. */
    sa->schedstat = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    sa->wait_prev = thread_waited(sa);
    sa->last_tick = mono_now();
    sa->cpu_prev = thread_cpu();
    sa->due = sa->last_tick + LAG_TICK_MS / 1000.0;
    if (su_timer_set(sa->tick, on_tick, (su_timer_arg_t *)sa) < 0) {
        sip_adm_free(sa);
        return NULL;
    }
    return sa;
}

void sip_adm_free(sip_adm_t *sa)
{
    if (!sa)
        return;
    if (sa->tick)
        su_timer_destroy(sa->tick);
    if (sa->schedstat >= 0)
        close(sa->schedstat);
    adm_free(sa->adm);
    free(sa);
}

void sip_adm_set_config(sip_adm_t *sa, const adm_config_t *cfg)
{
    adm_set_config(sa->adm, cfg);
}

void sip_adm_set_classify(sip_adm_t *sa, sip_adm_classify_f fn, void *ctx)
{
    sa->classify = fn;
    sa->classify_ctx = ctx;
}

void sip_adm_publish(sip_adm_t *sa)
{
    metric_set(sa->m_acted, NULL, adm_lag(sa->adm));
}

json_t *sip_adm_json(sip_adm_t *sa, size_t top)
{
    json_t *o = adm_json(sa->adm, mono_now(), top);
    json_object_set_new(o, "last_sample_seconds", json_real(sa->last_sample));
    json_object_set_new(o, "loop_busy", json_real(sa->busy));
    json_object_set_new(o, "udp_listeners_watched", json_integer((json_int_t)sa->nfds));
    json_object_set_new(o, "udp_drops", json_integer((json_int_t)sa->drops_total));
    return o;
}
