/* The REST server's accept thread (api_accept.h). */
#include "common/ops/api_accept.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/util/log.h"

#define SWEEP_MS     200  /* how often the deadlines are checked */
#define ACCEPT_BATCH 256  /* connections accepted before the next sweep */
#define HEAD_PEEK    8192 /* a request head longer than this goes to MHD unfinished */

/* One TCP connection, from accept() to MHD's "closed" notification. */
typedef enum {
    CONN_HEAD,    /* ours: accepted, its request head not complete yet */
    CONN_WAITING, /* MHD's, idle between keep-alive requests */
    CONN_BUSY,    /* MHD's: a request head came; the request is being served */
    CONN_CLOSING, /* MHD's, shut down by us; MHD has not noticed yet. Counts nowhere. */
} conn_state_t;

typedef struct conn {
    struct conn *prev, *next;
    /* ours while CONN_HEAD; then MHD's, valid while the entry is listed (MHD closes it after
     * "closed") */
    int fd;
    struct MHD_Connection *mhd; /* NULL until MHD's "started" notification */
    struct sockaddr_storage addr;
    conn_state_t state;
    double since; /* monotonic seconds: when the state began */
} conn_t;

struct api_accept {
    unsigned max_conns, max_per_ip, header_timeout, request_timeout;
    struct MHD_Daemon *daemon;
    int epfd; /* the listening socket, the wake pipe, connections still in CONN_HEAD */
    int listen_fd;
    int wake[2]; /* written by api_accept_stop() */
    pthread_t thread;
    int running;
    pthread_mutex_t lock; /* the connection list, between the accept and HTTP threads */
    conn_t *conns;
    size_t nopen; /* listed and not closing */
    metric_t *m_open, *m_refused, *m_dropped;
};

api_accept_t *api_accept_new(unsigned max_conns, unsigned max_per_ip, unsigned header_timeout,
                             unsigned request_timeout, metrics_t *metrics)
{
    api_accept_t *acc = calloc(1, sizeof *acc);
    if (!acc)
        return NULL;
    acc->listen_fd = acc->wake[0] = acc->wake[1] = acc->epfd = -1;
    pthread_mutex_init(&acc->lock, NULL);
    acc->max_conns = max_conns;
    acc->max_per_ip = max_per_ip;
    acc->header_timeout = header_timeout;
    acc->request_timeout = request_timeout;
    if (metrics) {
        acc->m_open =
            metrics_gauge(metrics, "cscf_api_connections_open",
                          "REST connections open (not counting those being closed)", NULL);
        acc->m_refused = metrics_counter(
            metrics, "cscf_api_connections_refused_total",
            "REST connections closed at once on arrival: ip_limit (their address at "
            "api.max_connections_per_ip), budget (api.max_connections, every slot in a request), "
            "server (the HTTP library refused them)",
            "reason");
        acc->m_dropped = metrics_counter(
            metrics, "cscf_api_connections_dropped_total",
            "REST connections we closed: evicted (the oldest without a request head, for a new "
            "connection at a limit), header_timeout, request_timeout",
            "reason");
    }
    return acc;
}

void api_accept_free(api_accept_t *acc)
{
    if (!acc)
        return;
    api_accept_stop(acc);
    api_accept_forget(acc);
    pthread_mutex_destroy(&acc->lock);
    free(acc);
}

unsigned api_accept_mhd_limit(const api_accept_t *acc)
{
    return acc->max_conns * 4 + 16;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return 0;
}

static void count_reason(metric_t *m, const char *reason)
{
    if (m)
        metric_inc(m, reason);
}

/* With the lock held. */
static void publish_open(api_accept_t *acc)
{
    if (acc->m_open)
        metric_set(acc->m_open, NULL, (double)acc->nopen);
}

static void unlink_conn(api_accept_t *acc, conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        acc->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->state != CONN_CLOSING) {
        acc->nopen--;
        publish_open(acc);
    }
}

/* Ends a connection. One still in our hands (no request head yet) is simply closed. One of
 * MHD's is shut down under its feet: MHD reads end-of-file and closes it as a client that went
 * away. Its fd is still MHD's and open (MHD closes it only after notifying us), so this cannot
 * hit another file. With the lock held. */
static void drop_conn(api_accept_t *acc, conn_t *c, const char *reason)
{
    count_reason(acc->m_dropped, reason);
    if (c->state == CONN_HEAD) {
        epoll_ctl(acc->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        unlink_conn(acc, c);
        free(c);
        return;
    }
    c->state = CONN_CLOSING;
    acc->nopen--;
    publish_open(acc);
    shutdown(c->fd, SHUT_RDWR); /* last: the client may look at the metrics once it sees this */
}

/* Bytes the client sent that MHD has not read yet (the next request of a keep-alive one). */
static int has_unread(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* The connection that may make room: the oldest without a complete request head, of that
 * address or of any (ip NULL); failing that, the oldest idle keep-alive one of MHD's with
 * nothing unread. With the lock held. */
static conn_t *victim(api_accept_t *acc, const struct sockaddr_storage *ip)
{
    conn_t *head = NULL, *idle = NULL;
    for (conn_t *c = acc->conns; c; c = c->next) {
        if (ip && !same_ip(&c->addr, ip))
            continue;
        if (c->state == CONN_HEAD && (!head || c->since < head->since))
            head = c;
        else if (c->state == CONN_WAITING && (!idle || c->since < idle->since) &&
                 !has_unread(c->fd))
            idle = c;
    }
    return head ? head : idle;
}

static size_t count_ip(api_accept_t *acc, const struct sockaddr_storage *ip)
{
    size_t n = 0;
    for (conn_t *c = acc->conns; c; c = c->next)
        n += c->state != CONN_CLOSING && same_ip(&c->addr, ip);
    return n;
}

/* Room for a new connection from ip: NULL, or the reason it is refused. With the lock held. */
static const char *make_room(api_accept_t *acc, const struct sockaddr_storage *ip)
{
    if (count_ip(acc, ip) >= acc->max_per_ip) {
        conn_t *v = victim(acc, ip);
        if (!v)
            return "ip_limit";
        drop_conn(acc, v, "evicted");
    }
    if (acc->nopen >= acc->max_conns) {
        conn_t *v = victim(acc, NULL);
        if (!v)
            return "budget";
        drop_conn(acc, v, "evicted");
    }
    return NULL;
}

static int listed(const api_accept_t *acc, const conn_t *c)
{
    for (const conn_t *x = acc->conns; x; x = x->next)
        if (x == c)
            return 1;
    return 0;
}

/* A new connection waits with us until its request head is complete (head_arrived()). */
static void admit(api_accept_t *acc, int fd, const struct sockaddr_storage *addr)
{
    conn_t *c = calloc(1, sizeof *c);
    pthread_mutex_lock(&acc->lock);
    const char *refused = c ? make_room(acc, addr) : "server";
    if (!refused) {
        c->fd = fd;
        c->addr = *addr;
        c->state = CONN_HEAD;
        c->since = mono_now();
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(acc->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            refused = "server";
        } else {
            c->next = acc->conns;
            if (c->next)
                c->next->prev = c;
            acc->conns = c;
            acc->nopen++;
            publish_open(acc);
        }
    }
    pthread_mutex_unlock(&acc->lock);
    if (refused) {
        free(c);
        close(fd);
        count_reason(acc->m_refused, refused);
    }
}

/* The request head is complete: the connection goes to MHD, which reads it from the start (we
 * only peeked). */
static void hand_over(api_accept_t *acc, conn_t *c)
{
    pthread_mutex_lock(&acc->lock);
    epoll_ctl(acc->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->state = CONN_BUSY; /* the request deadline applies from here */
    c->since = mono_now();
    int fd = c->fd;
    struct sockaddr_storage addr = c->addr;
    pthread_mutex_unlock(&acc->lock);
    socklen_t len =
        addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    /* From here c may be freed by the HTTP thread at any time; only its address is compared. */
    if (MHD_add_connection(acc->daemon, fd, (const struct sockaddr *)&addr, len) == MHD_YES)
        return;
    /* MHD closed the socket. If it never told us about the connection, the entry is ours. */
    pthread_mutex_lock(&acc->lock);
    if (listed(acc, c) && !c->mhd) {
        unlink_conn(acc, c);
        free(c);
    }
    pthread_mutex_unlock(&acc->lock);
    count_reason(acc->m_refused, "server");
}

/* New bytes on a connection still in our hands: hand it over once the head is complete (or
 * too big for us to judge: MHD answers that), close it when the client went away first. */
static void head_arrived(api_accept_t *acc, conn_t *c, uint32_t events)
{
    char buf[HEAD_PEEK];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    int complete = n > 0 && (memmem(buf, (size_t)n, "\r\n\r\n", 4) ||
                             memmem(buf, (size_t)n, "\n\n", 2) || (size_t)n == sizeof buf);
    if (complete) {
        hand_over(acc, c);
        return;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
        (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        pthread_mutex_lock(&acc->lock);
        epoll_ctl(acc->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        unlink_conn(acc, c);
        free(c);
        pthread_mutex_unlock(&acc->lock);
    }
}

/* Deadlines: a connection waits at most header_timeout for a request head (a new one, with
 * us; an idle keep-alive one, with MHD), and a request takes at most request_timeout. */
static void sweep(api_accept_t *acc)
{
    double now = mono_now();
    pthread_mutex_lock(&acc->lock);
    for (conn_t *c = acc->conns, *next; c; c = next) {
        next = c->next;
        if ((c->state == CONN_HEAD || c->state == CONN_WAITING) &&
            now - c->since > acc->header_timeout)
            drop_conn(acc, c, "header_timeout");
        else if (c->state == CONN_BUSY && now - c->since > acc->request_timeout)
            drop_conn(acc, c, "request_timeout");
    }
    pthread_mutex_unlock(&acc->lock);
}

/* 1 when accept() failed for lack of descriptors: the caller stops polling the listening
 * socket until the next sweep (it stays readable, so polling it again at once would spin). */
static int accept_some(api_accept_t *acc)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd =
            accept4(acc->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(acc, fd, &addr);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            count_reason(acc->m_refused, "server");
            return 1;
        }
        if (errno != EINTR && errno != ECONNABORTED)
            return 0; /* EAGAIN: the queue is empty */
    }
    return 0;
}

/* The accept thread. Within one batch of events the connections' come first: admitting a new
 * connection may free another (eviction), whose event must not be looked at afterwards. */
static void *acceptor_main(void *arg)
{
    api_accept_t *acc = arg;
    int starved = 0;
    double next_sweep = mono_now();
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(acc->epfd, evs, 64, SWEEP_MS);
        int stop = 0, incoming = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &acc->wake)
                stop = 1;
            else if (evs[i].data.ptr == &acc->listen_fd)
                incoming = 1;
            else
                head_arrived(acc, evs[i].data.ptr, evs[i].events);
        }
        if (stop)
            break;
        if (starved && mono_now() >= next_sweep) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &acc->listen_fd};
            epoll_ctl(acc->epfd, EPOLL_CTL_ADD, acc->listen_fd, &ev);
            starved = 0;
            incoming = 1;
        }
        if (incoming && accept_some(acc)) {
            epoll_ctl(acc->epfd, EPOLL_CTL_DEL, acc->listen_fd, NULL);
            starved = 1;
        }
        if (mono_now() >= next_sweep) {
            sweep(acc);
            next_sweep = mono_now() + SWEEP_MS / 1000.0;
        }
    }
    return NULL;
}

/* MHD's connection notifications (HTTP thread): "started" ties MHD's connection to our entry,
 * "closed" removes it (MHD closes the socket right after). */
void api_accept_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    api_accept_t *acc = cls;
    pthread_mutex_lock(&acc->lock);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = NULL;
        for (conn_t *c = acc->conns; ci && c; c = c->next)
            if (!c->mhd && c->state != CONN_HEAD && c->fd == ci->connect_fd) {
                c->mhd = mc;
                *socket_context = c;
                break;
            }
    } else if (*socket_context) {
        conn_t *c = *socket_context;
        unlink_conn(acc, c);
        free(c);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&acc->lock);
}

/* A request head came (to_busy 1), or a request ended (0): the deadline that applies changes. */
void api_accept_mark(api_accept_t *acc, struct MHD_Connection *mc, int to_busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_t *c = ci ? ci->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&acc->lock);
    if (c->state != CONN_CLOSING) {
        c->state = to_busy ? CONN_BUSY : CONN_WAITING;
        c->since = mono_now();
    }
    pthread_mutex_unlock(&acc->lock);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int api_accept_prepare(api_accept_t *acc, int listen_fd)
{
    acc->listen_fd = listen_fd;
    struct epoll_event wake_ev = {.events = EPOLLIN, .data.ptr = &acc->wake};
    struct epoll_event listen_ev = {.events = EPOLLIN, .data.ptr = &acc->listen_fd};
    if (pipe2(acc->wake, O_CLOEXEC) < 0 || (acc->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(acc->epfd, EPOLL_CTL_ADD, acc->wake[0], &wake_ev) < 0 ||
        epoll_ctl(acc->epfd, EPOLL_CTL_ADD, acc->listen_fd, &listen_ev) < 0) {
        log_error("api: cannot set up the accept thread's polling: %s", strerror(errno));
        api_accept_stop(acc);
        return -1;
    }
    return 0;
}

int api_accept_run(api_accept_t *acc, struct MHD_Daemon *daemon)
{
    acc->daemon = daemon;
    if (pthread_create(&acc->thread, NULL, acceptor_main, acc) != 0) {
        log_error("api: cannot start the accept thread");
        return -1;
    }
    acc->running = 1;
    return 0;
}

void api_accept_stop(api_accept_t *acc)
{
    if (acc->running) {
        ssize_t w = write(acc->wake[1], "x", 1);
        (void)w;
        pthread_join(acc->thread, NULL);
        acc->running = 0;
    }
    close_fd(&acc->listen_fd);
    close_fd(&acc->wake[0]);
    close_fd(&acc->wake[1]);
    close_fd(&acc->epfd);
    /* The connections still waiting for a request head are ours to close (the HTTP thread may
     * be removing others meanwhile). */
    pthread_mutex_lock(&acc->lock);
    for (conn_t *c = acc->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_HEAD) {
            close(c->fd);
            unlink_conn(acc, c);
            free(c);
        }
    }
    pthread_mutex_unlock(&acc->lock);
}

void api_accept_forget(api_accept_t *acc)
{
    while (acc->conns) { /* none should be left; MHD owned their sockets */
        conn_t *c = acc->conns;
        unlink_conn(acc, c);
        free(c);
    }
}
