/* The HTTP/2 client and server on one su_root (cscf/pcscf/policy/h2_client.c, h2_server.c):
 * a request and its answer (status, Location-less, body), many streams at once on one
 * connection, a server that is not there (connect error), one that accepts but never speaks
 * (the deadline), a server that comes back (a new connection), cancel, and the server's
 * refusals (405/404 from the handler, 413 for a body beyond 64 KiB), an HTTP/1.1 client closed,
 * an idle one closed after the limit. Also the apiRoot parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sofia-sip/su_wait.h>

#include "cscf/pcscf/policy/h2_client.h"
#include "cscf/pcscf/policy/h2_server.h"
#include "cscf/pcscf/policy/n5_json.h"

typedef struct fx {
    su_root_t *root;
    h2s_t *srv;
    int handled;
    char last_path[256], last_body[256], last_method[16];
} fx_t;

typedef struct answer {
    fx_t *f;
    int done, status;
    char error[16], body[256], location[64];
    int *pending; /* counts down; the loop stops at 0 */
} answer_t;

static int handler(void *arg, const char *method, const char *path, const char *body, size_t len,
                   char *location, size_t loclen)
{
    fx_t *f = arg;
    f->handled++;
    snprintf(f->last_method, sizeof f->last_method, "%s", method);
    snprintf(f->last_path, sizeof f->last_path, "%s", path);
    snprintf(f->last_body, sizeof f->last_body, "%.*s", (int)len, body);
    if (strcmp(method, "POST") != 0)
        return 405;
    if (strcmp(path, "/ok/create") == 0) {
        snprintf(location, loclen, "/things/1");
        return 201;
    }
    return strncmp(path, "/ok", 3) == 0 ? 204 : 404;
}

static int setup(void **state)
{
    su_init();
    fx_t *f = calloc(1, sizeof *f);
    f->root = su_root_create(NULL);
    char err[128];
    f->srv = h2s_new(f->root, "127.0.0.1", 0, handler, f, err, sizeof err);
    assert_non_null(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    h2s_free(f->srv);
    su_root_destroy(f->root);
    free(f);
    su_deinit();
    return 0;
}

static void on_answer(void *arg, const h2c_response_t *r)
{
    answer_t *a = arg;
    a->done++;
    a->status = r->status;
    snprintf(a->error, sizeof a->error, "%s", r->error ? r->error : "");
    snprintf(a->body, sizeof a->body, "%s", r->body);
    snprintf(a->location, sizeof a->location, "%s", r->location ? r->location : "");
    if (a->pending && --*a->pending == 0)
        su_root_break(a->f->root);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until *pending reaches 0 or 5 s pass (a bound, not a wait: it ends earlier).
 * Bounded by the clock, not by steps: a step may return well before its 10 ms. */
static void run(fx_t *f, int *pending)
{
    for (int64_t end = now_ms() + 5000; *pending > 0 && now_ms() < end;)
        su_root_step(f->root, 10);
}

static void request_answer(void **state)
{
    fx_t *f = *state;
    h2c_t *c = h2c_new(f->root, "127.0.0.1", h2s_port(f->srv), 3000);
    assert_non_null(c);
    int pending = 3;
    answer_t a = {.f = f, .pending = &pending}, b = {.f = f, .pending = &pending},
             l = {.f = f, .pending = &pending};
    assert_non_null(
        h2c_request(c, "POST", "/ok/terminate", "application/json", "{\"x\":1}", 7, on_answer, &a));
    assert_non_null(h2c_request(c, "GET", "/ok", NULL, NULL, 0, on_answer, &b));
    assert_non_null(h2c_request(c, "POST", "/ok/create", NULL, "{}", 2, on_answer, &l));
    assert_int_equal(a.done, 0); /* never inside h2c_request */
    run(f, &pending);
    assert_int_equal(a.done, 1);
    assert_int_equal(a.status, 204);
    assert_string_equal(a.error, "");
    assert_string_equal(a.location, "");
    assert_int_equal(b.status, 405);
    assert_int_equal(l.status, 201);
    assert_string_equal(l.location, "/things/1");
    assert_int_equal(f->handled, 3);
    assert_int_equal(h2c_connects(c), 1);
    assert_int_equal(h2c_open_streams(c), 0);
    h2c_free(c);
}

static void many_streams_one_connection(void **state)
{
    fx_t *f = *state;
    h2c_t *c = h2c_new(f->root, "127.0.0.1", h2s_port(f->srv), 5000);
    enum { N = 150 }; /* more than the server's 100 concurrent streams: nghttp2 queues */
    static answer_t a[N];
    int pending = N;
    for (int i = 0; i < N; i++) {
        a[i] = (answer_t){.f = f, .pending = &pending};
        char path[32];
        snprintf(path, sizeof path, "/ok/%d", i);
        assert_non_null(h2c_request(c, "POST", path, NULL, "{}", 2, on_answer, &a[i]));
    }
    run(f, &pending);
    for (int i = 0; i < N; i++) {
        assert_int_equal(a[i].done, 1);
        assert_int_equal(a[i].status, 204);
    }
    assert_int_equal(h2c_connects(c), 1);
    h2c_free(c);
}

/* A port with nothing listening: the connect fails, so does the request, soon. */
static void nobody_there(void **state)
{
    fx_t *f = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    bind(s, (struct sockaddr *)&sin, sizeof sin);
    getsockname(s, (struct sockaddr *)&sin, &len);
    close(s); /* bound once, now free: nobody listens there */
    h2c_t *c = h2c_new(f->root, "127.0.0.1", ntohs(sin.sin_port), 3000);
    int pending = 1;
    answer_t a = {.f = f, .pending = &pending};
    h2c_request(c, "POST", "/ok", NULL, "{}", 2, on_answer, &a);
    run(f, &pending);
    assert_int_equal(a.done, 1);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.error, "connect");
    h2c_free(c);
}

/* A server that takes the connection (the kernel's backlog) but never speaks HTTP/2: the
 * request's deadline ends it, and the connection with it. */
static void silent_server_deadline(void **state)
{
    fx_t *f = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    bind(s, (struct sockaddr *)&sin, sizeof sin);
    listen(s, 4);
    getsockname(s, (struct sockaddr *)&sin, &len);
    h2c_t *c = h2c_new(f->root, "127.0.0.1", ntohs(sin.sin_port), 200);
    int pending = 1;
    answer_t a = {.f = f, .pending = &pending};
    h2c_request(c, "POST", "/ok", NULL, "{}", 2, on_answer, &a);
    run(f, &pending);
    assert_int_equal(a.done, 1);
    assert_string_equal(a.error, "timeout");
    assert_int_equal(h2c_open_streams(c), 0);
    /* Nothing ever came back: that connection was given up, the next request opens another. */
    pending = 1;
    a = (answer_t){.f = f, .pending = &pending};
    h2c_request(c, "POST", "/ok", NULL, "{}", 2, on_answer, &a);
    run(f, &pending);
    assert_string_equal(a.error, "timeout");
    assert_int_equal(h2c_connects(c), 2);
    h2c_free(c);
    close(s);
}

/* The server goes and comes back on the same port: the next request opens a new connection. */
static void reconnects(void **state)
{
    fx_t *f = *state;
    unsigned port = h2s_port(f->srv);
    h2c_t *c = h2c_new(f->root, "127.0.0.1", port, 3000);
    int pending = 1;
    answer_t a = {.f = f, .pending = &pending};
    h2c_request(c, "POST", "/ok", NULL, "{}", 2, on_answer, &a);
    run(f, &pending);
    assert_int_equal(a.status, 204);
    h2s_free(f->srv);
    char err[128];
    f->srv = h2s_new(f->root, "127.0.0.1", port, handler, f, err, sizeof err);
    assert_non_null(f->srv);
    /* The old connection's end is seen (closed) or the request meets it: either way one more
     * try gets through on a new connection. */
    for (int tries = 0; tries < 3; tries++) {
        pending = 1;
        a = (answer_t){.f = f, .pending = &pending};
        h2c_request(c, "POST", "/ok", NULL, "{}", 2, on_answer, &a);
        run(f, &pending);
        if (a.status == 204)
            break;
    }
    assert_int_equal(a.status, 204);
    assert_int_equal(h2c_connects(c), 2);
    h2c_free(c);
}

static void cancel_and_server_refusals(void **state)
{
    fx_t *f = *state;
    h2c_t *c = h2c_new(f->root, "127.0.0.1", h2s_port(f->srv), 3000);
    int pending = 2;
    answer_t gone = {.f = f}, a = {.f = f, .pending = &pending},
             big = {.f = f, .pending = &pending};
    h2c_req_t *r = h2c_request(c, "POST", "/ok", NULL, "{}", 2, on_answer, &gone);
    h2c_cancel(r);
    h2c_request(c, "POST", "/nowhere", NULL, "{}", 2, on_answer, &a);
    size_t n = 70 * 1024;
    char *body = malloc(n);
    memset(body, 'x', n);
    h2c_request(c, "POST", "/ok", NULL, body, n, on_answer, &big);
    free(body);
    run(f, &pending);
    assert_int_equal(gone.done, 0);
    assert_int_equal(a.status, 404);
    assert_int_equal(big.status, 413);
    h2c_free(c);
}

/* An HTTP/1.1 client (not a PCF) on the notification listener: the connection is closed. */
static void http1_client_closed(void **state)
{
    fx_t *f = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)h2s_port(f->srv)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof sin), 0);
    static const char req[] = "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(send(s, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    int closed = 0;
    char buf[512];
    for (int64_t end = now_ms() + 5000; !closed && now_ms() < end;) {
        su_root_step(f->root, 10);
        ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
        closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    assert_true(closed);
    assert_int_equal(f->handled, 0);
    close(s);
}

/* A client that connects and says nothing is closed after the idle limit. */
static void idle_connection_closed(void **state)
{
    fx_t *f = *state;
    h2s_set_idle_ms(f->srv, 200);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)h2s_port(f->srv)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof sin), 0);
    int64_t start = now_ms();
    int closed = 0;
    char buf[512];
    for (int64_t end = start + 5000; !closed && now_ms() < end;) {
        su_root_step(f->root, 10);
        ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
        closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    assert_true(closed);
    assert_true(now_ms() - start >= 200); /* not before the limit */
    close(s);
}

static void api_roots(void **state)
{
    char host[64], prefix[64];
    unsigned port = 0;
    assert_int_equal(
        n5_parse_uri("http://127.0.0.1:7777", host, sizeof host, &port, prefix, sizeof prefix), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7777);
    assert_string_equal(prefix, "");
    assert_int_equal(n5_parse_uri("http://[2001:db8::5]:80/pcf/", host, sizeof host, &port, prefix,
                                  sizeof prefix),
                     0);
    assert_string_equal(host, "2001:db8::5");
    assert_int_equal(port, 80);
    assert_string_equal(prefix, "/pcf");
    assert_int_equal(
        n5_parse_uri("https://127.0.0.1:7777", host, sizeof host, &port, prefix, sizeof prefix),
        -1);
    assert_int_equal(
        n5_parse_uri("http://127.0.0.1", host, sizeof host, &port, prefix, sizeof prefix), -1);
    assert_int_equal(
        n5_parse_uri("http://127.0.0.1:0", host, sizeof host, &port, prefix, sizeof prefix), -1);
    assert_int_equal(
        n5_parse_uri("http://127.0.0.1:77x", host, sizeof host, &port, prefix, sizeof prefix), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(request_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(many_streams_one_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(nobody_there, setup, teardown),
        cmocka_unit_test_setup_teardown(silent_server_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(reconnects, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_and_server_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(http1_client_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_connection_closed, setup, teardown),
        cmocka_unit_test(api_roots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
