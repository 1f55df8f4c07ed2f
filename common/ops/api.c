/* The REST server: libmicrohttpd with one internal polling thread, so handlers run one at a
 * time on that thread as api.h promises. Routing, authorisation and the Content-Length check
 * all happen on the first callback of a request, before any body is read, so a refused client
 * cannot make us buffer anything.
 *
 * Connections are accepted by our own thread, not by MHD: MHD stops accepting at its connection
 * limit and leaves the rest in the kernel's listen queue, where a health probe then waits
 * behind every slow client (and, after they leave, behind their dead connections). Our thread
 * drains the queue at once, applies the budget of api.h (per address, in all, header and
 * request deadlines), keeps each new connection until its request head is complete (peeking,
 * so MHD still reads it all) and then hands it to MHD_add_connection(). It sees every
 * connection in the table below; MHD's notifications keep the table's states current. */
#include "common/ops/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/util/log.h"

#define CONNECTION_TIMEOUT 10u  /* seconds without a byte, inside the deadlines below */
#define SWEEP_MS           200  /* how often the deadlines are checked */
#define ACCEPT_BATCH       256  /* connections accepted before the next sweep */
#define HEAD_PEEK          8192 /* a request head longer than this goes to MHD unfinished */
#define MAX_SEGMENTS       32
/* A chunked body gives no length up front; past the limit we drain it to answer 413, but only
 * this much before dropping the connection. */
#define MAX_DISCARD (4 * API_MAX_BODY)

typedef struct route {
    char *method;
    char *pattern;
    char *segs_buf;
    char *segs[MAX_SEGMENTS];
    size_t nsegs;
    unsigned flags;
    api_handler_f handler;
    void *ctx;
} route_t;

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

struct api {
    char *listen;
    char *token; /* NULL when none is configured */
    route_t *routes;
    size_t nroutes;
    struct sockaddr_storage addr;
    struct MHD_Daemon *daemon;
    atomic_int running; /* read by the MHD logger on the HTTP thread */
    /* the budget (api_config_t, defaults filled in) */
    unsigned max_conns, max_per_ip, header_timeout, request_timeout;
    /* the accept thread */
    int epfd; /* the listening socket, the wake pipe, connections still in CONN_HEAD */
    int listen_fd;
    int wake[2]; /* written by api_stop() */
    pthread_t acceptor;
    int acceptor_running;
    pthread_mutex_t lock; /* the connection list, between the accept and HTTP threads */
    conn_t *conns;
    size_t nopen; /* listed and not closing */
    metric_t *m_open, *m_refused, *m_dropped;
};

/* Per request, from the first callback to MHD's completion notice. */
typedef struct request_state {
    const route_t *route;
    char *path_buf; /* the URL split in place; params point into it */
    char *segs[MAX_SEGMENTS];
    size_t nsegs;
    const char *params[API_MAX_PATH_PARAMS];
    size_t nparams;
    char *body;
    size_t len;
    size_t cap;
    size_t discarded;
    int too_big;
    int answered;
} request_state_t;

/* ---- response helpers ------------------------------------------------------------------ */

static void set_body(api_response_t *resp, int status, const char *content_type, char *body)
{
    free(resp->body);
    resp->status = status;
    resp->body = body;
    resp->content_type = content_type;
}

void api_text(api_response_t *resp, int status, const char *content_type, char *body)
{
    if (!resp) {
        free(body);
        return;
    }
    set_body(resp, status, content_type, body);
}

static void set_json_field(json_t *o, const char *key, const char *value)
{
    /* json_string() refuses invalid UTF-8; such a field is left out rather than failing. */
    json_t *s = value ? json_string(value) : NULL;
    if (s)
        json_object_set_new(o, key, s);
}

void api_problem(api_response_t *resp, int status, const char *title, const char *detail)
{
    if (!resp)
        return;
    json_t *o = json_object();
    char *text = NULL;
    if (o) {
        set_json_field(o, "type", "about:blank");
        set_json_field(o, "title", title ? title : MHD_get_reason_phrase_for((unsigned)status));
        json_object_set_new(o, "status", json_integer(status));
        set_json_field(o, "detail", detail);
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    }
    set_body(resp, status, "application/problem+json", text);
}

void api_json(api_response_t *resp, int status, json_t *body)
{
    if (!resp) {
        json_decref(body);
        return;
    }
    /* JSON_ENCODE_ANY: a handler may answer with an array or a bare value too. */
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    if (!text) {
        api_problem(resp, 500, "Internal Server Error", "cannot encode the response");
        return;
    }
    set_body(resp, status, "application/json", text);
}

int api_token_equal(const char *given, const char *expected)
{
    /* An empty expected token means "none configured" everywhere else, so it matches nothing. */
    if (!given || !expected || !*expected)
        return 0;
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int alen = 0, blen = 0;
    /* Comparing fixed-size digests hides both the length and the first differing byte. */
    if (!EVP_Digest(given, strlen(given), a, &alen, EVP_sha256(), NULL) ||
        !EVP_Digest(expected, strlen(expected), b, &blen, EVP_sha256(), NULL) || alen != blen)
        return 0;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

const char *api_query(const api_request_t *req, const char *key)
{
    if (!req || !req->conn || !key)
        return NULL;
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

int api_query_size(const api_request_t *req, const char *key, size_t dflt, size_t max, size_t *out,
                   api_response_t *resp)
{
    const char *v = api_query(req, key);
    *out = dflt;
    if (!v)
        return 0;
    /* Digits only: strtoull() alone would take "-1" (as a huge number), " 5" and "+5". */
    size_t digits = strspn(v, "0123456789");
    errno = 0;
    unsigned long long x = digits ? strtoull(v, NULL, 10) : 0;
    if (!digits || v[digits] || errno == ERANGE || x > max) {
        char detail[128];
        snprintf(detail, sizeof detail, "%s must be a whole number from 0 to %zu", key, max);
        api_problem(resp, 400, "Bad Request", detail);
        return -1;
    }
    *out = (size_t)x;
    return 0;
}

/* ---- lifecycle and routes -------------------------------------------------------------- */

api_t *api_new(const api_config_t *cfg)
{
    if (!cfg || !cfg->listen)
        return NULL;
    api_t *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->listen_fd = api->wake[0] = api->wake[1] = api->epfd = -1;
    pthread_mutex_init(&api->lock, NULL);
    api->listen = strdup(cfg->listen);
    api->token = cfg->token && *cfg->token ? strdup(cfg->token) : NULL;
    if (!api->listen || (cfg->token && *cfg->token && !api->token)) {
        api_free(api);
        return NULL;
    }
    api->max_conns = cfg->max_connections ? cfg->max_connections : API_DEFAULT_MAX_CONNECTIONS;
    api->max_per_ip = cfg->max_connections_per_ip ? cfg->max_connections_per_ip
                                                  : API_DEFAULT_MAX_CONNECTIONS_PER_IP;
    api->header_timeout = cfg->header_timeout ? cfg->header_timeout : API_DEFAULT_HEADER_TIMEOUT;
    api->request_timeout =
        cfg->request_timeout ? cfg->request_timeout : API_DEFAULT_REQUEST_TIMEOUT;
    if (cfg->metrics) {
        api->m_open =
            metrics_gauge(cfg->metrics, "cscf_api_connections_open",
                          "REST connections open (not counting those being closed)", NULL);
        api->m_refused = metrics_counter(
            cfg->metrics, "cscf_api_connections_refused_total",
            "REST connections closed at once on arrival: ip_limit (their address at "
            "api.max_connections_per_ip), budget (api.max_connections, every slot in a request), "
            "server (the HTTP library refused them)",
            "reason");
        api->m_dropped = metrics_counter(
            cfg->metrics, "cscf_api_connections_dropped_total",
            "REST connections we closed: evicted (the oldest without a request head, for a new "
            "connection at a limit), header_timeout, request_timeout",
            "reason");
    }
    return api;
}

static void route_free(route_t *r)
{
    free(r->method);
    free(r->pattern);
    free(r->segs_buf);
}

void api_free(api_t *api)
{
    if (!api)
        return;
    api_stop(api);
    for (size_t i = 0; i < api->nroutes; i++)
        route_free(&api->routes[i]);
    free(api->routes);
    free(api->listen);
    pthread_mutex_destroy(&api->lock);
    if (api->token)
        OPENSSL_cleanse(api->token, strlen(api->token));
    free(api->token);
    free(api);
}

/* "/a/b/" -> "a", "b", "" in place. -1 when there are too many segments to hold. */
static int split_path(char *buf, char **segs, size_t *nsegs)
{
    char *p = buf + (*buf == '/');
    *nsegs = 0;
    for (;;) {
        if (*nsegs == MAX_SEGMENTS)
            return -1;
        segs[(*nsegs)++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            return 0;
        *slash = '\0';
        p = slash + 1;
    }
}

static int is_param(const char *seg)
{
    size_t n = strlen(seg);
    return n > 2 && seg[0] == '{' && seg[n - 1] == '}';
}

static int parse_pattern(route_t *r)
{
    if (r->pattern[0] != '/')
        return -1;
    r->segs_buf = strdup(r->pattern);
    if (!r->segs_buf || split_path(r->segs_buf, r->segs, &r->nsegs) < 0)
        return -1;
    size_t nparams = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (is_param(r->segs[i]))
            nparams++;
        else if (strpbrk(r->segs[i], "{}"))
            return -1; /* "{x}y": a param must be a whole segment */
    }
    return nparams <= API_MAX_PATH_PARAMS ? 0 : -1;
}

static const route_t *find_route(const api_t *api, const char *method, const char *pattern)
{
    for (size_t i = 0; i < api->nroutes; i++)
        if (strcmp(api->routes[i].method, method) == 0 &&
            strcmp(api->routes[i].pattern, pattern) == 0)
            return &api->routes[i];
    return NULL;
}

int api_route(api_t *api, const char *method, const char *pattern, unsigned flags,
              api_handler_f handler, void *ctx)
{
    if (!api || !method || !*method || !pattern || !handler)
        return -1;
    /* The table is read by the HTTP thread without a lock, so it is frozen once started. */
    if (api->daemon) {
        log_error("api: route %s %s added after the server started", method, pattern);
        return -1;
    }
    if (find_route(api, method, pattern)) {
        log_error("api: route %s %s registered twice", method, pattern);
        return -1;
    }
    route_t r = {.flags = flags, .handler = handler, .ctx = ctx};
    r.method = strdup(method);
    r.pattern = strdup(pattern);
    if (!r.method || !r.pattern || parse_pattern(&r) < 0) {
        log_error("api: bad route %s %s", method, pattern);
        route_free(&r);
        return -1;
    }
    route_t *grown = realloc(api->routes, (api->nroutes + 1) * sizeof *grown);
    if (!grown) {
        route_free(&r);
        return -1;
    }
    api->routes = grown;
    api->routes[api->nroutes++] = r;
    return 0;
}

void api_routes_write(const api_t *api, FILE *out)
{
    for (size_t i = 0; api && i < api->nroutes; i++)
        fprintf(out, "%s %s%s\n", api->routes[i].method, api->routes[i].pattern,
                api->routes[i].flags & API_MUTATING ? " token"
                : api->routes[i].flags & API_PUBLIC ? ""
                                                    : " local");
}

/* ---- the connection budget ------------------------------------------------------------- */

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
static void publish_open(api_t *api)
{
    if (api->m_open)
        metric_set(api->m_open, NULL, (double)api->nopen);
}

static void unlink_conn(api_t *api, conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        api->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->state != CONN_CLOSING) {
        api->nopen--;
        publish_open(api);
    }
}

/* Ends a connection. One still in our hands (no request head yet) is simply closed. One of
 * MHD's is shut down under its feet: MHD reads end-of-file and closes it as a client that went
 * away. Its fd is still MHD's and open (MHD closes it only after notifying us), so this cannot
 * hit another file. With the lock held. */
static void drop_conn(api_t *api, conn_t *c, const char *reason)
{
    count_reason(api->m_dropped, reason);
    if (c->state == CONN_HEAD) {
        epoll_ctl(api->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        unlink_conn(api, c);
        free(c);
        return;
    }
    c->state = CONN_CLOSING;
    api->nopen--;
    publish_open(api);
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
static conn_t *victim(api_t *api, const struct sockaddr_storage *ip)
{
    conn_t *head = NULL, *idle = NULL;
    for (conn_t *c = api->conns; c; c = c->next) {
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

static size_t count_ip(api_t *api, const struct sockaddr_storage *ip)
{
    size_t n = 0;
    for (conn_t *c = api->conns; c; c = c->next)
        n += c->state != CONN_CLOSING && same_ip(&c->addr, ip);
    return n;
}

/* Room for a new connection from ip: NULL, or the reason it is refused. With the lock held. */
static const char *make_room(api_t *api, const struct sockaddr_storage *ip)
{
    if (count_ip(api, ip) >= api->max_per_ip) {
        conn_t *v = victim(api, ip);
        if (!v)
            return "ip_limit";
        drop_conn(api, v, "evicted");
    }
    if (api->nopen >= api->max_conns) {
        conn_t *v = victim(api, NULL);
        if (!v)
            return "budget";
        drop_conn(api, v, "evicted");
    }
    return NULL;
}

static int listed(const api_t *api, const conn_t *c)
{
    for (const conn_t *x = api->conns; x; x = x->next)
        if (x == c)
            return 1;
    return 0;
}

/* A new connection waits with us until its request head is complete (head_arrived()). */
static void admit(api_t *api, int fd, const struct sockaddr_storage *addr)
{
    conn_t *c = calloc(1, sizeof *c);
    pthread_mutex_lock(&api->lock);
    const char *refused = c ? make_room(api, addr) : "server";
    if (!refused) {
        c->fd = fd;
        c->addr = *addr;
        c->state = CONN_HEAD;
        c->since = mono_now();
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(api->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            refused = "server";
        } else {
            c->next = api->conns;
            if (c->next)
                c->next->prev = c;
            api->conns = c;
            api->nopen++;
            publish_open(api);
        }
    }
    pthread_mutex_unlock(&api->lock);
    if (refused) {
        free(c);
        close(fd);
        count_reason(api->m_refused, refused);
    }
}

/* The request head is complete: the connection goes to MHD, which reads it from the start (we
 * only peeked). */
static void hand_over(api_t *api, conn_t *c)
{
    pthread_mutex_lock(&api->lock);
    epoll_ctl(api->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->state = CONN_BUSY; /* the request deadline applies from here */
    c->since = mono_now();
    int fd = c->fd;
    struct sockaddr_storage addr = c->addr;
    pthread_mutex_unlock(&api->lock);
    socklen_t len =
        addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    /* From here c may be freed by the HTTP thread at any time; only its address is compared. */
    if (MHD_add_connection(api->daemon, fd, (const struct sockaddr *)&addr, len) == MHD_YES)
        return;
    /* MHD closed the socket. If it never told us about the connection, the entry is ours. */
    pthread_mutex_lock(&api->lock);
    if (listed(api, c) && !c->mhd) {
        unlink_conn(api, c);
        free(c);
    }
    pthread_mutex_unlock(&api->lock);
    count_reason(api->m_refused, "server");
}

/* New bytes on a connection still in our hands: hand it over once the head is complete (or
 * too big for us to judge: MHD answers that), close it when the client went away first. */
static void head_arrived(api_t *api, conn_t *c, uint32_t events)
{
    char buf[HEAD_PEEK];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    int complete = n > 0 && (memmem(buf, (size_t)n, "\r\n\r\n", 4) ||
                             memmem(buf, (size_t)n, "\n\n", 2) || (size_t)n == sizeof buf);
    if (complete) {
        hand_over(api, c);
        return;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
        (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        pthread_mutex_lock(&api->lock);
        epoll_ctl(api->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        unlink_conn(api, c);
        free(c);
        pthread_mutex_unlock(&api->lock);
    }
}

/* Deadlines: a connection waits at most header_timeout for a request head (a new one, with
 * us; an idle keep-alive one, with MHD), and a request takes at most request_timeout. */
static void sweep(api_t *api)
{
    double now = mono_now();
    pthread_mutex_lock(&api->lock);
    for (conn_t *c = api->conns, *next; c; c = next) {
        next = c->next;
        if ((c->state == CONN_HEAD || c->state == CONN_WAITING) &&
            now - c->since > api->header_timeout)
            drop_conn(api, c, "header_timeout");
        else if (c->state == CONN_BUSY && now - c->since > api->request_timeout)
            drop_conn(api, c, "request_timeout");
    }
    pthread_mutex_unlock(&api->lock);
}

/* 1 when accept() failed for lack of descriptors: the caller stops polling the listening
 * socket until the next sweep (it stays readable, so polling it again at once would spin). */
static int accept_some(api_t *api)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd =
            accept4(api->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(api, fd, &addr);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            count_reason(api->m_refused, "server");
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
    api_t *api = arg;
    int starved = 0;
    double next_sweep = mono_now();
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(api->epfd, evs, 64, SWEEP_MS);
        int stop = 0, incoming = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &api->wake)
                stop = 1;
            else if (evs[i].data.ptr == &api->listen_fd)
                incoming = 1;
            else
                head_arrived(api, evs[i].data.ptr, evs[i].events);
        }
        if (stop)
            break;
        if (starved && mono_now() >= next_sweep) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &api->listen_fd};
            epoll_ctl(api->epfd, EPOLL_CTL_ADD, api->listen_fd, &ev);
            starved = 0;
            incoming = 1;
        }
        if (incoming && accept_some(api)) {
            epoll_ctl(api->epfd, EPOLL_CTL_DEL, api->listen_fd, NULL);
            starved = 1;
        }
        if (mono_now() >= next_sweep) {
            sweep(api);
            next_sweep = mono_now() + SWEEP_MS / 1000.0;
        }
    }
    return NULL;
}

/* MHD's connection notifications (HTTP thread): "started" ties MHD's connection to our entry,
 * "closed" removes it (MHD closes the socket right after). */
static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    api_t *api = cls;
    pthread_mutex_lock(&api->lock);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = NULL;
        for (conn_t *c = api->conns; ci && c; c = c->next)
            if (!c->mhd && c->state != CONN_HEAD && c->fd == ci->connect_fd) {
                c->mhd = mc;
                *socket_context = c;
                break;
            }
    } else if (*socket_context) {
        conn_t *c = *socket_context;
        unlink_conn(api, c);
        free(c);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&api->lock);
}

/* A request head came (to_busy 1), or a request ended (0): the deadline that applies changes. */
static void conn_mark(api_t *api, struct MHD_Connection *mc, int to_busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_t *c = ci ? ci->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&api->lock);
    if (c->state != CONN_CLOSING) {
        c->state = to_busy ? CONN_BUSY : CONN_WAITING;
        c->since = mono_now();
    }
    pthread_mutex_unlock(&api->lock);
}

/* ---- sending --------------------------------------------------------------------------- */

static enum MHD_Result queue(struct MHD_Connection *conn, api_response_t *resp, const char *header,
                             const char *value)
{
    if (resp->status < 100 || resp->status > 599) {
        log_warn("api: handler set no valid status (%d)", resp->status);
        api_problem(resp, 500, "Internal Server Error", "the handler produced no response");
    }
    size_t len = resp->body ? strlen(resp->body) : 0;
    struct MHD_Response *r =
        resp->body ? MHD_create_response_from_buffer(len, resp->body, MHD_RESPMEM_MUST_FREE)
                   : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(resp->body);
        return MHD_NO;
    }
    if (resp->body)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type ? resp->content_type : "application/json");
    if (header)
        MHD_add_response_header(r, header, value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_problem(struct MHD_Connection *conn, request_state_t *st, int status,
                                    const char *detail, const char *header, const char *value)
{
    api_response_t resp = {0};
    api_problem(&resp, status, NULL, detail);
    st->answered = 1;
    return queue(conn, &resp, header, value);
}

static enum MHD_Result send_too_big(struct MHD_Connection *conn, request_state_t *st)
{
    char detail[80];
    snprintf(detail, sizeof detail, "the request body is larger than %d bytes", API_MAX_BODY);
    return send_problem(conn, st, 413, detail, NULL, NULL);
}

/* ---- routing and authorisation --------------------------------------------------------- */

static int route_matches(const route_t *r, request_state_t *st)
{
    if (r->nsegs != st->nsegs)
        return 0;
    size_t np = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (is_param(r->segs[i])) {
            if (!*st->segs[i])
                return 0;
            st->params[np++] = st->segs[i];
        } else if (strcmp(r->segs[i], st->segs[i]) != 0) {
            return 0;
        }
    }
    st->nparams = np;
    return 1;
}

/* The methods of every route whose pattern matches, for the Allow header of a 405. */
static void allowed_methods(const api_t *api, request_state_t *st, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < api->nroutes; i++) {
        const route_t *r = &api->routes[i];
        if (!route_matches(r, st))
            continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", r->method);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

static const char *bearer_token(struct MHD_Connection *conn)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    /* The scheme name is case-insensitive (RFC 7235). */
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

int api_addr_is_loopback(const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6)
        return 0;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    return IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a) ||
           (memcmp(a, mapped, sizeof mapped) == 0 && a[12] == 127);
}

static int from_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci && api_addr_is_loopback(ci->client_addr);
}

/* 0 when allowed; otherwise a response has been queued and *ret holds MHD's verdict. */
static int check_auth(const api_t *api, struct MHD_Connection *conn, request_state_t *st,
                      enum MHD_Result *ret)
{
    unsigned flags = st->route->flags;
    if ((flags & API_PUBLIC) || (!(flags & API_MUTATING) && from_loopback(conn)))
        return 0;
    if (!api->token) {
        *ret = send_problem(conn, st, 403,
                            flags & API_MUTATING
                                ? "no API token is configured, so changes are refused"
                                : "no API token is configured, so reads are open to loopback "
                                  "clients only",
                            NULL, NULL);
        return -1;
    }
    const char *given = bearer_token(conn);
    if (!given || !api_token_equal(given, api->token)) {
        *ret = send_problem(conn, st, 401,
                            given ? "the bearer token is not valid"
                                  : "this call needs \"Authorization: Bearer <token>\"",
                            MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return -1;
    }
    return 0;
}

static int declared_too_big(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return 0;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno == ERANGE || (end != cl && n > API_MAX_BODY);
}

static int has_control(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* MHD's unescaping of the path and of each query key and value (%HH; MHD has already turned
 * '+' into ' ' in queries). MHD's own stops at a decoded %00, so ".../carol@x%00y" would reach
 * the handler as ".../carol@x": here a decoded control character turns the whole string into a
 * single DEL, which begin_request() answers with 400. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    int bad = 0;
    for (const char *r = s; *r; w++) {
        int hi = r[0] == '%' ? hexval(r[1]) : -1, lo = hi >= 0 ? hexval(r[2]) : -1;
        if (lo >= 0) {
            *w = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w = *r++;
        }
        bad |= (unsigned char)*w < 0x20 || *w == 0x7f;
    }
    *w = '\0';
    if (bad) {
        s[0] = 0x7f;
        s[1] = '\0';
        return 1;
    }
    return (size_t)(w - s);
}

static enum MHD_Result find_control(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    int *found = cls;
    *found |= has_control(key) || has_control(value);
    return *found ? MHD_NO : MHD_YES;
}

/* Control characters (escaped or not) in the path or the query: a name cut short or carrying
 * bytes no URI, user or header may hold. */
static int request_has_control(struct MHD_Connection *conn, const char *url)
{
    int found = has_control(url);
    if (!found)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, find_control, &found);
    return found;
}

static enum MHD_Result begin_request(api_t *api, struct MHD_Connection *conn, const char *url,
                                     const char *method, void **con_cls)
{
    conn_mark(api, conn, 1);
    request_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return MHD_NO;
    *con_cls = st; /* from here on the completion callback frees it */
    if (request_has_control(conn, url))
        return send_problem(conn, st, 400, "control characters in the path or the query", NULL,
                            NULL);
    st->path_buf = strdup(url);
    if (!st->path_buf)
        return MHD_NO;
    if (split_path(st->path_buf, st->segs, &st->nsegs) < 0)
        return send_problem(conn, st, 404, "no resource at this path", NULL, NULL);

    int path_known = 0;
    for (size_t i = 0; i < api->nroutes && !st->route; i++) {
        const route_t *r = &api->routes[i];
        if (!route_matches(r, st))
            continue;
        path_known = 1;
        if (strcmp(r->method, method) == 0)
            st->route = r;
    }
    if (!path_known)
        return send_problem(conn, st, 404, "no resource at this path", NULL, NULL);
    if (!st->route) {
        char allow[128];
        allowed_methods(api, st, allow, sizeof allow);
        return send_problem(conn, st, 405, "method not allowed on this resource",
                            MHD_HTTP_HEADER_ALLOW, allow);
    }
    route_matches(st->route, st); /* the 405 scan may have overwritten params */

    enum MHD_Result ret;
    if (check_auth(api, conn, st, &ret) < 0)
        return ret;
    if (declared_too_big(conn))
        return send_too_big(conn, st);
    return MHD_YES;
}

/* ---- body ------------------------------------------------------------------------------ */

static int append_body(request_state_t *st, const char *data, size_t size)
{
    if (size > API_MAX_BODY - st->len) {
        st->too_big = 1;
        free(st->body);
        st->body = NULL;
        st->len = st->cap = 0;
        return 0;
    }
    if (st->len + size + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 1024;
        while (cap < st->len + size + 1)
            cap *= 2;
        if (cap > API_MAX_BODY + 1)
            cap = API_MAX_BODY + 1;
        char *grown = realloc(st->body, cap);
        if (!grown)
            return -1;
        st->body = grown;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, size);
    st->len += size;
    st->body[st->len] = '\0';
    return 0;
}

static enum MHD_Result take_upload(request_state_t *st, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (st->answered)
        return MHD_YES;
    if (!st->too_big)
        return append_body(st, data, n) < 0 ? MHD_NO : MHD_YES;
    st->discarded += n;
    if (st->discarded > MAX_DISCARD) {
        log_warn("api: dropping a connection that keeps sending an oversized body");
        return MHD_NO;
    }
    return MHD_YES;
}

/* ---- dispatch -------------------------------------------------------------------------- */

static enum MHD_Result finish_request(struct MHD_Connection *conn, request_state_t *st,
                                      const char *url, const char *method)
{
    if (st->answered)
        return MHD_YES;
    if (st->too_big)
        return send_too_big(conn, st);
    api_request_t req = {
        .method = method,
        .path = url,
        .body = st->len ? st->body : NULL,
        .body_len = st->len,
        .nparams = st->nparams,
        .conn = conn,
    };
    memcpy(req.params, st->params, sizeof req.params);
    api_response_t resp = {0};
    st->route->handler(st->route->ctx, &req, &resp);
    st->answered = 1;
    log_debug("api: %s %s -> %d", method, st->route->pattern, resp.status);
    return queue(conn, &resp, NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    request_state_t *st = *con_cls;
    if (!st)
        return begin_request(cls, conn, url, method, con_cls);
    if (*upload_size)
        return take_upload(st, upload_data, upload_size);
    return finish_request(conn, st, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    conn_mark(cls, conn, 0);
    request_state_t *st = *con_cls;
    if (!st)
        return;
    free(st->path_buf);
    free(st->body);
    free(st);
    *con_cls = NULL;
}

/* While starting, MHD reports why it cannot serve (bind failures); once running, nearly all it
 * says is about malformed client requests, which anyone could use to flood the log. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    api_t *api = cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (atomic_load(&api->running))
        log_debug("api: microhttpd: %s", buf);
    else
        log_warn("api: microhttpd: %s", buf);
}

/* ---- start and stop -------------------------------------------------------------------- */

/* "host:port", "[v6]:port"; an empty host or "*" means every address of that family. */
static int parse_listen(const char *listen, struct sockaddr_storage *out)
{
    char host[256];
    const char *port;
    const char *any = "0.0.0.0";
    if (listen[0] == '[') {
        any = "::";
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof host)
            return -1;
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host)
            return -1;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        if (strchr(host, ':'))
            return -1; /* an IPv6 address needs brackets */
        port = colon + 1;
    }
    if (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        atoi(port) > 65535)
        return -1;

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (!*host || strcmp(host, "*") == 0)
        snprintf(host, sizeof host, "%s", any);
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return -1;
    memset(out, 0, sizeof *out);
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Our listening socket, as MHD would have made it (address reuse; IPv6 only on an IPv6
 * address). -1 with a logged reason. */
static int open_listener(const struct sockaddr_storage *addr, const char *listen_str)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t len =
        addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        (addr->ss_family != AF_INET6 ||
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0) &&
        bind(fd, (const struct sockaddr *)addr, len) == 0 && listen(fd, SOMAXCONN) == 0)
        return fd;
    log_error("api: cannot listen on %s: %s", listen_str, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int api_start(api_t *api)
{
    if (!api || api->daemon)
        return -1;
    if (parse_listen(api->listen, &api->addr) < 0) {
        log_error("api: cannot parse listen address \"%s\" (want host:port or [v6]:port)",
                  api->listen);
        return -1;
    }
    if ((api->listen_fd = open_listener(&api->addr, api->listen)) < 0)
        return -1;
    struct epoll_event wake_ev = {.events = EPOLLIN, .data.ptr = &api->wake};
    struct epoll_event listen_ev = {.events = EPOLLIN, .data.ptr = &api->listen_fd};
    if (pipe2(api->wake, O_CLOEXEC) < 0 || (api->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(api->epfd, EPOLL_CTL_ADD, api->wake[0], &wake_ev) < 0 ||
        epoll_ctl(api->epfd, EPOLL_CTL_ADD, api->listen_fd, &listen_ev) < 0) {
        log_error("api: cannot set up the accept thread's polling: %s", strerror(errno));
        close_fd(&api->listen_fd);
        close_fd(&api->wake[0]);
        close_fd(&api->wake[1]);
        close_fd(&api->epfd);
        return -1;
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    /* MHD's own limit is only a backstop far above ours: a connection we shut down counts in
     * MHD until its thread notices, and the new one taking its slot must not be refused
     * meanwhile. For the same reason MHD's per-address limit is not used: it would refuse a
     * probe while the slow connections it replaces are still closing, and it never evicts. */
    unsigned mhd_limit = api->max_conns * 4 + 16;
    /* The logger goes first so that MHD reports problems with the later options through it. */
    api->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, api,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        api, MHD_OPTION_UNESCAPE_CALLBACK, unescape, api, MHD_OPTION_END);
    if (!api->daemon) {
        log_error("api: cannot start the HTTP server on %s", api->listen);
        close_fd(&api->listen_fd);
        close_fd(&api->wake[0]);
        close_fd(&api->wake[1]);
        close_fd(&api->epfd);
        return -1;
    }
    atomic_store(&api->running, 1);
    if (pthread_create(&api->acceptor, NULL, acceptor_main, api) != 0) {
        log_error("api: cannot start the accept thread");
        api_stop(api);
        return -1;
    }
    api->acceptor_running = 1;
    log_debug("api: listening on %s", api->listen);
    return 0;
}

void api_stop(api_t *api)
{
    if (!api || !api->daemon)
        return;
    atomic_store(&api->running, 0);
    if (api->acceptor_running) {
        ssize_t w = write(api->wake[1], "x", 1);
        (void)w;
        pthread_join(api->acceptor, NULL);
        api->acceptor_running = 0;
    }
    close_fd(&api->listen_fd);
    close_fd(&api->wake[0]);
    close_fd(&api->wake[1]);
    close_fd(&api->epfd);
    /* The connections still waiting for a request head are ours to close (the HTTP thread may
     * be removing others meanwhile). */
    pthread_mutex_lock(&api->lock);
    for (conn_t *c = api->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_HEAD) {
            close(c->fd);
            unlink_conn(api, c);
            free(c);
        }
    }
    pthread_mutex_unlock(&api->lock);
    MHD_stop_daemon(api->daemon); /* joins the polling thread; "closed" for every connection */
    api->daemon = NULL;
    while (api->conns) { /* none should be left; MHD owned their sockets */
        conn_t *c = api->conns;
        unlink_conn(api, c);
        free(c);
    }
}
