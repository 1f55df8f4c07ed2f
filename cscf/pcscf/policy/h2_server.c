/* See h2_server.h. A listening socket on the loop; each accepted connection gets an nghttp2
 * server session and its own loop registration. A stream collects its method, path and body;
 * at END_STREAM the handler answers with a status. A connection goes when the peer closes it,
 * on a protocol error (an HTTP/1.1 client fails the preface) or when both sides have sent
 * GOAWAY. */
#include "cscf/pcscf/policy/h2_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/util/log.h"

#define MAX_BODY (64 * 1024)

typedef struct h2s_conn h2s_conn_t;
typedef struct h2s_stream h2s_stream_t;

struct h2s {
    su_root_t *root;
    int fd;
    su_wait_t wait[1];
    int index;
    unsigned port;
    h2s_handler fn;
    void *arg;
    h2s_conn_t *conns;
    size_t nconns;
    su_timer_t *sweep;
    unsigned idle_ms; /* a connection that read nothing this long goes */
};

struct h2s_conn {
    h2s_t *s;
    h2s_conn_t *prev, *next;
    int fd;
    su_wait_t wait[1];
    int index, events;
    int64_t active_ms; /* when it last read anything */
    nghttp2_session *ng;
    h2s_stream_t *streams; /* ours, freed with the connection (nghttp2_session_del calls no
                            * on_close for the streams it still has) */
};

struct h2s_stream {
    h2s_conn_t *k;
    h2s_stream_t *prev, *next;
    char method[16], path[512];
    char *body;
    size_t len;
    int too_big;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stream_free(h2s_stream_t *st)
{
    h2s_conn_t *k = st->k;
    if (st->prev)
        st->prev->next = st->next;
    else
        k->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    free(st->body);
    free(st);
}

static void conn_close(h2s_conn_t *k)
{
    h2s_t *s = k->s;
    if (k->index > 0)
        su_root_deregister(s->root, k->index);
    if (k->ng)
        nghttp2_session_del(k->ng);
    while (k->streams)
        stream_free(k->streams);
    close(k->fd);
    if (k->prev)
        k->prev->next = k->next;
    else
        s->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    s->nconns--;
    free(k);
}

static ssize_t on_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *u)
{
    (void)ng;
    (void)flags;
    h2s_conn_t *k = u;
    ssize_t n = send(k->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return NGHTTP2_ERR_WOULDBLOCK;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *u)
{
    h2s_conn_t *k = u;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2s_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* that stream is reset */
    st->k = k;
    st->next = k->streams;
    if (k->streams)
        k->streams->prev = st;
    k->streams = st;
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, st);
    return 0;
}

static void copy(char *dst, size_t cap, const uint8_t *v, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *u)
{
    (void)flags;
    (void)u;
    h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!st)
        return 0;
    if (namelen == 7 && memcmp(name, ":method", 7) == 0)
        copy(st->method, sizeof st->method, value, valuelen);
    else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        if (valuelen >= sizeof st->path)
            st->too_big = 1; /* 414 rather than a cut path naming another session */
        copy(st->path, sizeof st->path, value, valuelen);
    }
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t stream, const uint8_t *data,
                   size_t len, void *u)
{
    (void)flags;
    (void)u;
    h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, stream);
    if (!st || st->too_big)
        return 0;
    if (st->len + len > MAX_BODY) {
        st->too_big = 1;
        return 0;
    }
    char *b = realloc(st->body, st->len + len + 1);
    if (!b) {
        st->too_big = 1;
        return 0;
    }
    memcpy(b + st->len, data, len);
    st->len += len;
    b[st->len] = '\0';
    st->body = b;
    return 0;
}

static void respond(nghttp2_session *ng, int32_t stream, int status, const char *location)
{
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)code, 7, strlen(code), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)"0", 14, 1, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"location", (uint8_t *)location, 8, strlen(location), NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_submit_response(ng, stream, nv, *location ? 3 : 2, NULL);
}

static int on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *u)
{
    h2s_conn_t *k = u;
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!st)
        return 0;
    char location[256] = "";
    int status;
    if (st->too_big)
        status = st->len ? 413 : 414;
    else if (!*st->method || !*st->path)
        status = 400;
    else
        status = k->s->fn(k->s->arg, st->method, st->path, st->body ? st->body : "", st->len,
                          location, sizeof location);
    respond(ng, f->hd.stream_id, status, location);
    return 0;
}

static int on_close(nghttp2_session *ng, int32_t stream, uint32_t error_code, void *u)
{
    (void)error_code;
    (void)u;
    h2s_stream_t *st = nghttp2_session_get_stream_user_data(ng, stream);
    if (st) {
        nghttp2_session_set_stream_user_data(ng, stream, NULL);
        stream_free(st);
    }
    return 0;
}

/* Writes what is due and watches for more; 0, or -1 when the connection is to go. */
static int conn_flush(h2s_conn_t *k)
{
    if (nghttp2_session_send(k->ng) != 0)
        return -1;
    if (!nghttp2_session_want_read(k->ng) && !nghttp2_session_want_write(k->ng))
        return -1;
    int ev = SU_WAIT_IN | (nghttp2_session_want_write(k->ng) ? SU_WAIT_OUT : 0);
    if (ev != k->events) {
        k->events = ev;
        su_root_eventmask(k->s->root, k->index, k->fd, ev);
    }
    return 0;
}

static int conn_read(h2s_conn_t *k)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(k->fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        if (nghttp2_session_mem_recv(k->ng, buf, (size_t)n) < 0)
            return -1;
        if ((size_t)n < sizeof buf)
            return 0;
    }
}

static int on_conn_event(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg)
{
    (void)m;
    h2s_conn_t *k = (h2s_conn_t *)arg;
    int revents = su_wait_events(w, k->fd);
    int bad = 0;
    if (revents & (SU_WAIT_IN | SU_WAIT_ERR | SU_WAIT_HUP)) {
        k->active_ms = now_ms();
        bad = conn_read(k) < 0;
    }
    if (bad || conn_flush(k) < 0)
        conn_close(k);
    return 0;
}

static int conn_session(h2s_conn_t *k)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return -1;
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    int rv = nghttp2_session_server_new(&k->ng, cbs, k);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return -1;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    return nghttp2_submit_settings(k->ng, NGHTTP2_FLAG_NONE, iv, 1) == 0 ? 0 : -1;
}

static int on_accept(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg)
{
    (void)m;
    (void)w;
    h2s_t *s = (h2s_t *)arg;
    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return 0;
        h2s_conn_t *k = s->nconns < H2S_MAX_CONNS ? calloc(1, sizeof *k) : NULL;
        if (!k) {
            log_warn("policy: n5 notifications: connection refused (%zu open)", s->nconns);
            close(fd);
            continue;
        }
        k->s = s;
        k->fd = fd;
        k->events = SU_WAIT_IN;
        k->active_ms = now_ms();
        k->next = s->conns;
        if (s->conns)
            s->conns->prev = k;
        s->conns = k;
        s->nconns++;
        if (conn_session(k) < 0 || su_wait_create(k->wait, fd, SU_WAIT_IN) < 0 ||
            (k->index = su_root_register(s->root, k->wait, on_conn_event, (su_wakeup_arg_t *)k,
                                         su_pri_normal)) <= 0) {
            k->index = 0;
            conn_close(k);
            continue;
        }
        if (conn_flush(k) < 0)
            conn_close(k);
    }
}

/* Idle connections go, so that clients holding connections open cannot keep a PCF out (at most
 * H2S_MAX_CONNS). Idle: nothing read for idle_ms (a request of ours completes in far less). */
static void sweep_idle(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
    (void)m;
    (void)t;
    h2s_t *s = arg;
    int64_t now = now_ms();
    for (h2s_conn_t *k = s->conns, *next; k; k = next) {
        next = k->next;
        if (now - k->active_ms >= (int64_t)s->idle_ms)
            conn_close(k);
    }
}

void h2s_set_idle_ms(h2s_t *s, unsigned idle_ms)
{
    s->idle_ms = idle_ms ? idle_ms : H2S_IDLE_MS;
    unsigned tick = s->idle_ms / 4 < 10 ? 10 : s->idle_ms / 4;
    if (s->sweep)
        su_timer_destroy(s->sweep);
    s->sweep = su_timer_create(su_root_task(s->root), tick);
    if (!s->sweep || su_timer_run(s->sweep, sweep_idle, (su_timer_arg_t *)s) < 0)
        log_warn("policy: n5 notifications: no idle sweep");
}

h2s_t *h2s_new(su_root_t *root, const char *host, unsigned port, h2s_handler fn, void *arg,
               char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (port > 65535 || getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) {
        snprintf(err, errlen, "not a numeric address and port: %s %u", host, port);
        return NULL;
    }
    h2s_t *s = calloc(1, sizeof *s);
    int fd = s ? socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "cannot listen on %s port %u: %s", host, port, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        free(s);
        return NULL;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage a;
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                            : ((struct sockaddr_in *)&a)->sin_port);
    s->root = root;
    s->fd = fd;
    s->fn = fn;
    s->arg = arg;
    if (su_wait_create(s->wait, fd, SU_WAIT_ACCEPT) < 0 ||
        (s->index = su_root_register(root, s->wait, on_accept, (su_wakeup_arg_t *)s,
                                     su_pri_normal)) <= 0) {
        snprintf(err, errlen, "cannot watch the listening socket in the loop");
        close(fd);
        free(s);
        return NULL;
    }
    h2s_set_idle_ms(s, H2S_IDLE_MS);
    return s;
}

unsigned h2s_port(const h2s_t *s)
{
    return s->port;
}

void h2s_free(h2s_t *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_close(s->conns);
    if (s->sweep)
        su_timer_destroy(s->sweep);
    su_root_deregister(s->root, s->index);
    close(s->fd);
    free(s);
}
