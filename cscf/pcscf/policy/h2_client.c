/* See h2_client.h. The connection is DOWN, CONNECTING (a non-blocking connect in flight; the
 * requests wait in the list without a stream) or UP (an nghttp2 client session: every request
 * has its stream). nghttp2 does the framing and the flow control; we move bytes between it
 * and the socket when the loop says the socket is ready. Callbacks of finished requests are
 * queued and run from a zero-delay timer, so none runs inside nghttp2 or inside the call of the
 * user that caused it. */
#include "cscf/pcscf/policy/h2_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/util/log.h"

#define MAX_BODY (64 * 1024) /* a response body beyond this is cut (ours are small JSON) */

typedef enum { H2C_DOWN, H2C_CONNECTING, H2C_UP } h2c_state_t;

struct h2c_req {
    h2c_t *c;
    h2c_req_t *prev, *next; /* in c->reqs (open) or c->done (finished, callback due) */
    int finished;
    char *method, *path, *ctype, *body;
    size_t body_len, body_sent;
    h2c_cb cb;
    void *arg;
    int32_t stream;  /* 0: not submitted yet */
    int64_t sent_ms; /* when it was submitted */
    su_timer_t *timer;
    int status;
    char *location, *rbody;
    size_t rlen;
    const char *error;
};

struct h2c {
    su_root_t *root;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char authority[80];
    unsigned timeout_ms;
    h2c_state_t state;
    int fd;
    su_wait_t wait[1];
    int index, events;
    nghttp2_session *ng;
    h2c_req_t *reqs, *done;
    su_timer_t *soon;
    int soon_set; /* the zero-delay timer is armed */
    unsigned connects;
    int64_t rx_ms; /* when the connection last received anything */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flush(h2c_t *c);

static void list_add(h2c_req_t **head, h2c_req_t *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void list_del(h2c_req_t **head, h2c_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(h2c_req_t *r)
{
    if (r->timer)
        su_timer_destroy(r->timer);
    free(r->method);
    free(r->path);
    free(r->ctype);
    free(r->body);
    free(r->location);
    free(r->rbody);
    free(r);
}

static void run_done(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
    (void)m;
    (void)t;
    h2c_t *c = arg;
    c->soon_set = 0;
    /* One at a time from the head: a callback may cancel another finished request. */
    while (c->done) {
        h2c_req_t *r = c->done;
        list_del(&c->done, r);
        h2c_response_t resp = {r->status, r->error, r->location, r->rbody ? r->rbody : "", r->rlen};
        if (resp.error)
            resp.status = 0;
        r->cb(r->arg, &resp);
        req_free(r);
    }
}

/* r leaves the open list; its callback is due. Its stream (if still open) no longer finds it. */
static void finish(h2c_req_t *r, const char *error)
{
    h2c_t *c = r->c;
    if (r->finished)
        return;
    r->finished = 1;
    r->error = error;
    if (r->timer)
        su_timer_reset(r->timer);
    if (r->stream > 0 && c->ng)
        nghttp2_session_set_stream_user_data(c->ng, r->stream, NULL);
    list_del(&c->reqs, r);
    list_add(&c->done, r);
    if (!c->soon_set && su_timer_set_interval(c->soon, run_done, c, 0) == 0)
        c->soon_set = 1;
}

static void watch(h2c_t *c, int events)
{
    if (events == c->events || c->index <= 0)
        return;
    c->events = events;
    su_root_eventmask(c->root, c->index, c->fd, events);
}

/* Ends the connection; every open request fails with error (a request waiting for a connect
 * fails with it too: the server is not there, and the caller's policy decides what then). */
static void down(h2c_t *c, const char *error)
{
    if (c->index > 0)
        su_root_deregister(c->root, c->index);
    c->index = 0;
    c->events = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    /* Requests first: finish() clears their streams' user data in the session. */
    while (c->reqs)
        finish(c->reqs, error);
    if (c->ng)
        nghttp2_session_del(c->ng);
    c->ng = NULL;
    if (c->state == H2C_UP && error)
        log_info("policy: h2 %s: connection %s", c->authority, error);
    c->state = H2C_DOWN;
}

/* --- nghttp2 callbacks (user_data is the h2c_t) --- */

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *u)
{
    (void)s;
    (void)flags;
    h2c_t *c = u;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return NGHTTP2_ERR_WOULDBLOCK;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *u)
{
    (void)flags;
    (void)u;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    h2c_req_t *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!r)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        char v[8] = "";
        memcpy(v, value, valuelen < sizeof v - 1 ? valuelen : sizeof v - 1);
        r->status = atoi(v);
    } else if (namelen == 8 && memcmp(name, "location", 8) == 0 && !r->location) {
        r->location = strndup((const char *)value, valuelen);
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream, const uint8_t *data,
                   size_t len, void *u)
{
    (void)flags;
    (void)u;
    h2c_req_t *r = nghttp2_session_get_stream_user_data(s, stream);
    if (!r || r->rlen >= MAX_BODY)
        return 0;
    if (len > MAX_BODY - r->rlen)
        len = MAX_BODY - r->rlen;
    char *b = realloc(r->rbody, r->rlen + len + 1);
    if (!b)
        return 0;
    memcpy(b + r->rlen, data, len);
    r->rlen += len;
    b[r->rlen] = '\0';
    r->rbody = b;
    return 0;
}

static int on_close(nghttp2_session *s, int32_t stream, uint32_t error_code, void *u)
{
    (void)u;
    h2c_req_t *r = nghttp2_session_get_stream_user_data(s, stream);
    if (r)
        finish(r, error_code || r->status < 200 ? "reset" : NULL);
    return 0;
}

/* The request body, from the request the stream still belongs to (a cancelled one is gone). */
static ssize_t read_body(nghttp2_session *s, int32_t stream, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *u)
{
    (void)src;
    (void)u;
    h2c_req_t *r = nghttp2_session_get_stream_user_data(s, stream);
    if (!r)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = r->body_len - r->body_sent;
    if (n > len)
        n = len;
    memcpy(buf, r->body + r->body_sent, n);
    r->body_sent += n;
    if (r->body_sent == r->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE                 \
    }

static void submit(h2c_t *c, h2c_req_t *r)
{
    char clen[24];
    snprintf(clen, sizeof clen, "%zu", r->body_len);
    nghttp2_nv nv[8] = {NV(":method", r->method), NV(":scheme", "http"),
                        NV(":authority", c->authority), NV(":path", r->path),
                        NV("accept", "application/json, application/problem+json")};
    size_t n = 5;
    if (r->body_len) {
        nghttp2_nv t[2] = {NV("content-type", r->ctype), NV("content-length", clen)};
        nv[n++] = t[0];
        nv[n++] = t[1];
    }
    nghttp2_data_provider dp = {.source = {.ptr = NULL}, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(c->ng, NULL, nv, n, r->body_len ? &dp : NULL, r);
    if (id < 0) { /* stream ids used up, or no memory: a new connection for the next ones */
        log_warn("policy: h2 %s: cannot submit: %s", c->authority, nghttp2_strerror(id));
        finish(r, "closed");
        return;
    }
    r->stream = id;
    r->sent_ms = now_ms();
}

static int session_new(h2c_t *c)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return -1;
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    int rv = nghttp2_session_client_new(&c->ng, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return -1;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                   {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    return nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2) == 0 ? 0 : -1;
}

/* Writes what nghttp2 has (until the socket would block), then watches for what comes next;
 * a session that wants nothing more (GOAWAY both ways) ends the connection. */
static void flush(h2c_t *c)
{
    if (c->state != H2C_UP)
        return;
    if (nghttp2_session_send(c->ng) != 0) {
        down(c, "closed");
        return;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        down(c, "closed");
        return;
    }
    watch(c, SU_WAIT_IN | (nghttp2_session_want_write(c->ng) ? SU_WAIT_OUT : 0));
}

static void connected(h2c_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        log_info("policy: h2 %s: connect: %s", c->authority, strerror(err ? err : errno));
        down(c, "connect");
        return;
    }
    if (session_new(c) < 0) {
        down(c, "connect");
        return;
    }
    c->state = H2C_UP;
    c->connects++;
    c->rx_ms = now_ms();
    log_info("policy: h2 %s: connected", c->authority);
    for (h2c_req_t *r = c->reqs, *next; r; r = next) {
        next = r->next;
        if (!r->stream)
            submit(c, r);
    }
    flush(c);
}

static void readable(h2c_t *c)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            down(c, "closed");
            return;
        }
        c->rx_ms = now_ms();
        ssize_t used = nghttp2_session_mem_recv(c->ng, buf, (size_t)n);
        if (used < 0) {
            log_warn("policy: h2 %s: %s", c->authority, nghttp2_strerror((int)used));
            down(c, "closed");
            return;
        }
        if ((size_t)n < sizeof buf)
            break;
    }
    flush(c);
}

static int on_event(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg)
{
    (void)m;
    h2c_t *c = (h2c_t *)arg;
    int revents = su_wait_events(w, c->fd);
    if (c->state == H2C_CONNECTING) {
        if (revents & (SU_WAIT_OUT | SU_WAIT_ERR | SU_WAIT_HUP))
            connected(c);
        return 0;
    }
    if (c->state != H2C_UP)
        return 0;
    if (revents & (SU_WAIT_IN | SU_WAIT_ERR | SU_WAIT_HUP))
        readable(c);
    else if (revents & SU_WAIT_OUT)
        flush(c);
    return 0;
}

/* A non-blocking connect; the loop says when it is done (on_event). */
static void connect_start(h2c_t *c)
{
    c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        log_warn("policy: h2 %s: socket: %s", c->authority, strerror(errno));
        down(c, "connect");
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = H2C_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&c->addr, c->addr_len) < 0 && errno != EINPROGRESS) {
        log_info("policy: h2 %s: connect: %s", c->authority, strerror(errno));
        down(c, "connect");
        return;
    }
    c->events = SU_WAIT_OUT;
    if (su_wait_create(c->wait, c->fd, SU_WAIT_OUT) < 0 ||
        (c->index = su_root_register(c->root, c->wait, on_event, (su_wakeup_arg_t *)c,
                                     su_pri_normal)) <= 0) {
        c->index = 0;
        log_error("policy: h2 %s: cannot watch socket %d in the loop", c->authority, c->fd);
        down(c, "connect");
    }
}

static void on_timeout(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
    (void)m;
    (void)t;
    h2c_req_t *r = arg;
    h2c_t *c = r->c;
    int32_t stream = r->stream;
    int silent = c->state == H2C_UP && stream > 0 && c->rx_ms <= r->sent_ms;
    finish(r, "timeout");
    if (silent) {
        /* Nothing came back since the request went: the peer may be gone without a word (a
         * host down, a cut path). A new connection for the next request, not this one. */
        log_warn("policy: h2 %s: no answer in %u ms, nothing received: closing", c->authority,
                 c->timeout_ms);
        down(c, "timeout");
    } else if (c->state == H2C_UP && stream > 0) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL);
        flush(c);
    } else if (c->state == H2C_CONNECTING && !c->reqs) {
        down(c, NULL); /* nobody waits: the connect ends with the last deadline */
    }
}

h2c_req_t *h2c_request(h2c_t *c, const char *method, const char *path, const char *ctype,
                       const char *body, size_t body_len, h2c_cb cb, void *arg)
{
    h2c_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->c = c;
    r->cb = cb;
    r->arg = arg;
    r->method = strdup(method);
    r->path = strdup(path);
    r->ctype = strdup(ctype ? ctype : "application/json");
    r->body = malloc(body_len + 1);
    r->timer = su_timer_create(su_root_task(c->root), c->timeout_ms);
    if (!r->method || !r->path || !r->ctype || !r->body || !r->timer) {
        req_free(r);
        return NULL;
    }
    if (body_len)
        memcpy(r->body, body, body_len);
    r->body_len = body_len;
    list_add(&c->reqs, r);
    su_timer_set(r->timer, on_timeout, r);
    if (c->state == H2C_DOWN)
        connect_start(c);
    else if (c->state == H2C_UP) {
        submit(c, r);
        flush(c);
    }
    return r;
}

void h2c_cancel(h2c_req_t *r)
{
    h2c_t *c = r->c;
    if (r->finished) { /* its callback is queued: drop it */
        list_del(&c->done, r);
        req_free(r);
        return;
    }
    int32_t stream = r->stream;
    if (stream > 0 && c->ng)
        nghttp2_session_set_stream_user_data(c->ng, stream, NULL);
    list_del(&c->reqs, r);
    req_free(r);
    if (c->state == H2C_UP && stream > 0) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL);
        flush(c);
    } else if (c->state == H2C_CONNECTING && !c->reqs) {
        down(c, NULL);
    }
}

h2c_t *h2c_new(su_root_t *root, const char *host, unsigned port, unsigned timeout_ms)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (!host || port == 0 || port > 65535 || getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
        return NULL;
    h2c_t *c = calloc(1, sizeof *c);
    if (!c) {
        freeaddrinfo(ai);
        return NULL;
    }
    memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
    c->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    snprintf(c->authority, sizeof c->authority, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
             port);
    c->root = root;
    c->timeout_ms = timeout_ms ? timeout_ms : 1000;
    c->fd = -1;
    c->soon = su_timer_create(su_root_task(root), 0);
    if (!c->soon) {
        free(c);
        return NULL;
    }
    return c;
}

void h2c_free(h2c_t *c)
{
    if (!c)
        return;
    down(c, NULL);
    while (c->done) {
        h2c_req_t *r = c->done;
        list_del(&c->done, r);
        req_free(r);
    }
    su_timer_destroy(c->soon);
    free(c);
}

size_t h2c_open_streams(const h2c_t *c)
{
    size_t n = 0;
    for (const h2c_req_t *r = c->reqs; r; r = r->next)
        n++;
    return n;
}

unsigned h2c_connects(const h2c_t *c)
{
    return c->connects;
}
