/* Unit tests for common/ops/api.c against a real server on 127.0.0.1, spoken to with a tiny
 * raw-socket HTTP/1.1 client (one request per connection, "Connection: close"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/ops/api.h"

#define TOKEN "s3cret-token"

/* ---- client ----------------------------------------------------------------------------- */

typedef struct http_resp {
    int status;
    char *raw;           /* whole response, NUL-terminated */
    const char *headers; /* into raw, after the status line */
    const char *body;    /* into raw */
} http_resp_t;

static void http_resp_free(http_resp_t *r)
{
    free(r->raw);
    memset(r, 0, sizeof *r);
}

static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Errors while sending are ignored: the server may answer and close before reading it all. */
static void send_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static char *read_all(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (ssize_t n; buf; len += (size_t)n) {
        if (cap - len < 2048) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
        }
        n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

static int parse_response(http_resp_t *r)
{
    if (!r->raw || sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    char *eol = strstr(r->raw, "\r\n");
    char *end = strstr(r->raw, "\r\n\r\n");
    if (!eol || !end)
        return -1;
    r->headers = eol + 2;
    end[2] = '\0'; /* headers end with one CRLF; the body starts after the blank line */
    r->body = end + 4;
    return 0;
}

static int http_raw(int port, const char *req, size_t len, http_resp_t *out)
{
    memset(out, 0, sizeof *out);
    int fd = connect_local(port);
    if (fd < 0)
        return -1;
    send_all(fd, req, len);
    out->raw = read_all(fd);
    close(fd);
    return parse_response(out);
}

static int http(int port, const char *method, const char *path, const char *extra_headers,
                const char *body, http_resp_t *out)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + strlen(path) + 512 + (extra_headers ? strlen(extra_headers) : 0);
    char *req = malloc(cap);
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, extra_headers ? extra_headers : "", blen);
    memcpy(req + n, body ? body : "", blen);
    int rc = http_raw(port, req, (size_t)n + blen, out);
    free(req);
    return rc;
}

/* The value of a response header (case-insensitive name), copied into buf; NULL if absent. */
static const char *header(const http_resp_t *r, const char *name, char *buf, size_t size)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, size, "%.*s", (int)(eol - v), v);
            return buf;
        }
        line = eol + 2;
    }
    return NULL;
}

/* ---- server fixture --------------------------------------------------------------------- */

typedef struct fixture {
    api_t *api;
    int port;
} fixture_t;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void hello(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    (void)req;
    api_json(resp, 200, json_pack("{s:s}", "hello", "world"));
}

static void item_part(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    const char *q = api_query(req, "q");
    api_json(resp, 200,
             json_pack("{s:s,s:s,s:I,s:s?,s:o}", "id", req->params[0], "part", req->params[1],
                       "nparams", (json_int_t)req->nparams, "q", q, "missing",
                       api_query(req, "nope") ? json_true() : json_false()));
}

static void item_put(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    api_json(resp, 200, json_pack("{s:s,s:s?}", "id", req->params[0], "body", req->body));
}

/* Answers with the body length and a check that it is NUL-terminated and intact. */
static void echo(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    int intact = req->body && req->body[req->body_len] == '\0';
    for (size_t i = 0; intact && i < req->body_len; i++)
        intact = req->body[i] == (char)('a' + i % 26);
    api_json(resp, 201,
             json_pack("{s:I,s:b}", "length", (json_int_t)req->body_len, "intact", intact));
}

static void plain(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    (void)req;
    api_text(resp, 200, "text/plain; charset=utf-8", strdup("just text\n"));
}

static void silent(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    (void)req;
    (void)resp; /* forgets to answer */
}

/* GET /paged: api_query_size() on limit (default 100, at most 1000) and offset. */
static void paged(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    size_t limit, offset;
    if (api_query_size(req, "limit", 100, 1000, &limit, resp) < 0 ||
        api_query_size(req, "offset", 0, API_MAX_OFFSET, &offset, resp) < 0)
        return;
    api_json(resp, 200,
             json_pack("{s:I,s:I}", "limit", (json_int_t)limit, "offset", (json_int_t)offset));
}

static int handler_calls;

static void counted(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    handler_calls++;
    api_json(resp, 200, json_pack("{s:s}", "id", req->params[0]));
}

static int start_server_cfg(fixture_t *f, const char *token, api_config_t cfg)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        char listen[64];
        f->port = free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%d", f->port);
        cfg.listen = listen;
        cfg.token = token;
        f->api = api_new(&cfg);
        if (!f->api)
            return -1;
        int rc = 0;
        rc |= api_route(f->api, "GET", "/api/v1/hello", 0, hello, NULL);
        rc |= api_route(f->api, "GET", "/api/v1/items/{id}/parts/{part}", 0, item_part, NULL);
        rc |= api_route(f->api, "PUT", "/api/v1/items/{id}", API_MUTATING, item_put, NULL);
        rc |= api_route(f->api, "GET", "/api/v1/items/{id}", 0, item_put, NULL);
        rc |= api_route(f->api, "POST", "/api/v1/echo", 0, echo, NULL);
        rc |= api_route(f->api, "GET", "/plain", 0, plain, NULL);
        rc |= api_route(f->api, "GET", "/silent", 0, silent, NULL);
        rc |= api_route(f->api, "GET", "/paged", 0, paged, NULL);
        rc |= api_route(f->api, "DELETE", "/api/v1/things/{id}", API_MUTATING, counted, NULL);
        if (rc == 0 && api_start(f->api) == 0)
            return 0;
        /* Someone else may have taken the port between free_port() and the bind. */
        api_free(f->api);
        f->api = NULL;
    }
    return -1;
}

static int start_server(fixture_t *f, const char *token)
{
    return start_server_cfg(f, token, (api_config_t){0});
}

static int setup_with_token(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    *state = f;
    return f && start_server(f, TOKEN) == 0 ? 0 : -1;
}

static int setup_without_token(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    *state = f;
    return f && start_server(f, NULL) == 0 ? 0 : -1;
}

static int setup_empty_token(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    *state = f;
    return f && start_server(f, "") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f)
        api_free(f->api);
    free(f);
    return 0;
}

/* ---- assertions ------------------------------------------------------------------------- */

static json_t *json_body(const http_resp_t *r)
{
    json_error_t err;
    json_t *j = json_loads(r->body, 0, &err);
    if (!j)
        fail_msg("body is not JSON: %s (%s)", err.text, r->body);
    return j;
}

static void assert_problem(const http_resp_t *r, int status)
{
    char buf[128];
    assert_int_equal(r->status, status);
    assert_non_null(header(r, "Content-Type", buf, sizeof buf));
    assert_string_equal(buf, "application/problem+json");
    json_t *j = json_body(r);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "about:blank");
    assert_non_null(json_string_value(json_object_get(j, "title")));
    assert_true(strlen(json_string_value(json_object_get(j, "title"))) > 0);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    assert_non_null(json_string_value(json_object_get(j, "detail")));
    json_decref(j);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_get_json(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    char buf[128];
    assert_int_equal(http(f->port, "GET", "/api/v1/hello", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type", buf, sizeof buf), "application/json");
    assert_string_equal(r.body, "{\"hello\":\"world\"}");
    http_resp_free(&r);

    assert_int_equal(http(f->port, "GET", "/plain", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type", buf, sizeof buf), "text/plain; charset=utf-8");
    assert_string_equal(r.body, "just text\n");
    http_resp_free(&r);
}

static void test_path_params_and_query(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    assert_int_equal(http(f->port, "GET", "/api/v1/items/sip:alice%40example.com/parts/7?q=a%20b",
                          NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    json_t *j = json_body(&r);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "sip:alice@example.com");
    assert_string_equal(json_string_value(json_object_get(j, "part")), "7");
    assert_int_equal(json_integer_value(json_object_get(j, "nparams")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "q")), "a b");
    assert_true(json_is_false(json_object_get(j, "missing")));
    json_decref(j);
    http_resp_free(&r);
}

static void test_not_found(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    const char *paths[] = {"/",
                           "/nope",
                           "/api/v1/hello/",
                           "/api/v1/items//parts/1",
                           "/api/v1/items/a/parts/1/extra",
                           "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/"
                           "r/s/t/u/v/w/x/y/z/1/2/3/4/5/6/7/8/9"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        assert_int_equal(http(f->port, "GET", paths[i], NULL, NULL, &r), 0);
        assert_problem(&r, 404);
        http_resp_free(&r);
    }
}

static void test_method_not_allowed(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    char buf[128];
    assert_int_equal(http(f->port, "POST", "/api/v1/hello", NULL, "{}", &r), 0);
    assert_problem(&r, 405);
    assert_string_equal(header(&r, "Allow", buf, sizeof buf), "GET");
    http_resp_free(&r);

    assert_int_equal(http(f->port, "DELETE", "/api/v1/items/x", NULL, NULL, &r), 0);
    assert_problem(&r, 405);
    assert_string_equal(header(&r, "Allow", buf, sizeof buf), "PUT, GET");
    http_resp_free(&r);
}

static char *pattern_body(size_t len)
{
    char *body = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + i % 26);
    body[len] = '\0';
    return body;
}

static void test_body_accumulated(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    /* Larger than one socket read, so it arrives over several upload callbacks. */
    char *body = pattern_body(API_MAX_BODY);
    assert_int_equal(http(f->port, "POST", "/api/v1/echo", NULL, body, &r), 0);
    assert_int_equal(r.status, 201);
    json_t *j = json_body(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "length")), API_MAX_BODY);
    assert_true(json_is_true(json_object_get(j, "intact")));
    json_decref(j);
    http_resp_free(&r);
    free(body);
}

static void test_body_too_large_declared(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    char req[256];
    /* Only the headers: the server must answer from Content-Length alone. */
    int n = snprintf(req, sizeof req,
                     "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n",
                     API_MAX_BODY + 1);
    assert_int_equal(http_raw(f->port, req, (size_t)n, &r), 0);
    assert_problem(&r, 413);
    http_resp_free(&r);
}

static void test_body_too_large_chunked(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    const char *head = "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    size_t chunk = 8192, nchunks = API_MAX_BODY / chunk + 2;
    size_t cap = strlen(head) + nchunks * (chunk + 16) + 16;
    char *req = malloc(cap);
    size_t len = (size_t)snprintf(req, cap, "%s", head);
    for (size_t i = 0; i < nchunks; i++) {
        len += (size_t)snprintf(req + len, cap - len, "%zx\r\n", chunk);
        memset(req + len, 'x', chunk);
        len += chunk;
        len += (size_t)snprintf(req + len, cap - len, "\r\n");
    }
    len += (size_t)snprintf(req + len, cap - len, "0\r\n\r\n");
    assert_int_equal(http_raw(f->port, req, len, &r), 0);
    assert_problem(&r, 413);
    http_resp_free(&r);
    free(req);

    /* The server is still fine afterwards. */
    assert_int_equal(http(f->port, "GET", "/api/v1/hello", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
}

/* Far past the limit the server stops draining and drops the connection instead. */
static void test_body_endless_chunked(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    const char *head = "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    int fd = connect_local(f->port);
    assert_true(fd >= 0);
    send_all(fd, head, strlen(head));
    char chunk[8192 + 16];
    int n = snprintf(chunk, sizeof chunk, "%x\r\n", 8192);
    memset(chunk + n, 'x', 8192);
    memcpy(chunk + n + 8192, "\r\n", 2);
    /* What is in flight when the server drops us is bounded by the socket buffers (the
     * receiver's autotunes up to net.ipv4.tcp_rmem's maximum, 6 MiB by default), not by how
     * fast the server reads: a slow (sanitizer) build may take in megabytes past its limit. */
    int sndbuf = 32 * 1024;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t sent = 0, limit = 256 * (size_t)API_MAX_BODY;
    int err = 0;
    for (; sent < limit; sent += 8192) {
        ssize_t w = send(fd, chunk, (size_t)n + 8192 + 2, MSG_NOSIGNAL);
        if (w <= 0) {
            err = errno;
            break;
        }
    }
    assert_true(sent < limit);
    /* Dropped, not merely stalled (a stall ends the loop with EAGAIN after the timeout). */
    assert_true(err == EPIPE || err == ECONNRESET);
    close(fd);

    assert_int_equal(http(f->port, "GET", "/api/v1/hello", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
}

static void test_mutating_without_token(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    assert_int_equal(
        http(f->port, "PUT", "/api/v1/items/x", "Authorization: Bearer \r\n", "{}", &r), 0);
    assert_problem(&r, 403);
    http_resp_free(&r);
    assert_int_equal(http(f->port, "PUT", "/api/v1/items/x", NULL, "{}", &r), 0);
    assert_problem(&r, 403);
    http_resp_free(&r);
    /* Reads stay open. */
    assert_int_equal(http(f->port, "GET", "/api/v1/items/x", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
}

static void test_mutating_with_token(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    char buf[128];

    assert_int_equal(http(f->port, "PUT", "/api/v1/items/x", NULL, "{}", &r), 0);
    assert_problem(&r, 401);
    assert_string_equal(header(&r, "WWW-Authenticate", buf, sizeof buf), "Bearer");
    http_resp_free(&r);

    const char *wrong[] = {
        "Authorization: Bearer wrong\r\n",  "Authorization: Bearer " TOKEN "x\r\n",
        "Authorization: Bearer s3cret\r\n", "Authorization: Basic czNjcmV0LXRva2Vu\r\n",
        "Authorization: " TOKEN "\r\n",     "Authorization: Bearer\r\n"};
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
        assert_int_equal(http(f->port, "PUT", "/api/v1/items/x", wrong[i], "{}", &r), 0);
        assert_problem(&r, 401);
        assert_string_equal(header(&r, "WWW-Authenticate", buf, sizeof buf), "Bearer");
        http_resp_free(&r);
    }

    const char *right[] = {"Authorization: Bearer " TOKEN "\r\n",
                           "authorization: bearer " TOKEN "\r\n"};
    for (size_t i = 0; i < sizeof right / sizeof *right; i++) {
        assert_int_equal(http(f->port, "PUT", "/api/v1/items/x", right[i], "{\"a\":1}", &r), 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"id\":\"x\",\"body\":\"{\\\"a\\\":1}\"}");
        http_resp_free(&r);
    }
}

static void test_handler_without_response(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    assert_int_equal(http(f->port, "GET", "/silent", NULL, NULL, &r), 0);
    assert_problem(&r, 500);
    http_resp_free(&r);
}

static void test_garbage_input(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    const char *inputs[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /api/v1/hello HTTP/9.9\r\n\r\n",
        "GET /api/v1/hello HTTP/1.1\r\nContent-Length: -5\r\nConnection: close\r\n\r\n",
        "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n"
        "Connection: close\r\n\r\n",
        "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\nzz\r\n",
        "\x01\x02\x03\xff\xfe\r\n\r\n",
        "GET /api/v1/items/%ff%fe/parts/%00?q=%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        int fd = connect_local(f->port);
        assert_true(fd >= 0);
        send_all(fd, inputs[i], strlen(inputs[i]));
        shutdown(fd, SHUT_WR);
        free(read_all(fd));
        close(fd);
    }
    assert_int_equal(http(f->port, "GET", "/api/v1/hello", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
}

/* %00 or another control character in the path or the query: 400 before any handler runs (a
 * path cut at the NUL would name another resource). */
static void test_control_characters(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    const char *auth = "Authorization: Bearer " TOKEN "\r\n";
    const char *bad[] = {
        "/api/v1/things/sip:carol@example.com%00x",
        "/api/v1/things/sip:carol@example.com%00",
        "/api/v1/things/a%0Ab",
        "/api/v1/things/a%0d%0aX-Injected:%201",
        "/api/v1/things/a%7Fb",
        "/api/v1/things/a%1fb",
        "/api/v1/things/x?q=a%00b",
        "/api/v1/things/x?a%01=1",
        "/nowhere%00",
    };
    handler_calls = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(http(f->port, "DELETE", bad[i], auth, NULL, &r), 0);
        if (r.status != 400)
            fail_msg("%s: %d, not 400", bad[i], r.status);
        assert_problem(&r, 400);
        http_resp_free(&r);
    }
    assert_int_equal(handler_calls, 0);
    /* A raw control byte in the request line. */
    const char raw[] =
        "DELETE /api/v1/things/a\x01z HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
        "\r\nConnection: close\r\n\r\n";
    assert_int_equal(http_raw(f->port, raw, sizeof raw - 1, &r), 0);
    assert_int_equal(r.status, 400);
    http_resp_free(&r);
    assert_int_equal(handler_calls, 0);

    /* What stays allowed: escapes that decode to printable bytes, a '%' that escapes nothing,
     * UTF-8. */
    assert_int_equal(
        http(f->port, "DELETE", "/api/v1/things/sip:carol%40example.com", auth, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = json_body(&r);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "sip:carol@example.com");
    json_decref(j);
    http_resp_free(&r);
    assert_int_equal(http(f->port, "DELETE", "/api/v1/things/100%25%zz%c3%a9", auth, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    j = json_body(&r);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "100%%zz\xc3\xa9");
    json_decref(j);
    http_resp_free(&r);
    assert_int_equal(handler_calls, 2);
}

static void expect_paged(int port, const char *query, int status, long limit, long offset)
{
    char path[256];
    http_resp_t r;
    snprintf(path, sizeof path, "/paged%s", query);
    assert_int_equal(http(port, "GET", path, NULL, NULL, &r), 0);
    if (r.status != status)
        fail_msg("%s: %d, not %d (%s)", path, r.status, status, r.body);
    if (status == 200) {
        json_t *j = json_body(&r);
        assert_int_equal(json_integer_value(json_object_get(j, "limit")), limit);
        assert_int_equal(json_integer_value(json_object_get(j, "offset")), offset);
        json_decref(j);
    } else {
        assert_problem(&r, status);
        json_t *j = json_body(&r);
        /* the detail names the parameter and its range */
        assert_non_null(strstr(json_string_value(json_object_get(j, "detail")),
                               strstr(query, "offset") ? "offset" : "limit"));
        json_decref(j);
    }
    http_resp_free(&r);
}

static void test_query_size(void **state)
{
    fixture_t *f = *state;
    expect_paged(f->port, "", 200, 100, 0);
    expect_paged(f->port, "?limit=5&offset=7", 200, 5, 7);
    expect_paged(f->port, "?limit=0", 200, 0, 0);
    expect_paged(f->port, "?limit=1000", 200, 1000, 0);
    expect_paged(f->port, "?limit=007", 200, 7, 0);
    expect_paged(f->port, "?offset=100000000", 200, 100, 100000000);
    const char *bad[] = {"?limit=-1",
                         "?limit=abc",
                         "?limit=",
                         "?limit=1001",
                         "?limit=%2B5",
                         "?limit=%205",
                         "?limit=5x",
                         "?limit=1e3",
                         "?offset=-5",
                         "?offset=0x10",
                         "?offset=100000001",
                         "?limit=99999999999999999999999999",
                         "?offset=18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_paged(f->port, bad[i], 400, 0, 0);

    /* Without a response to fill (NULL), only the result says it. */
    size_t v = 42;
    api_request_t none = {0};
    assert_int_equal(api_query_size(&none, "limit", 9, 10, &v, NULL), 0);
    assert_int_equal(v, 9);
}

/* A connection that has not sent anything yet: for the budget tests. */
static int connect_from(int port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 1 when the server closed fd (end of file or reset) within the receive timeout. */
static int closed_by_server(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int has_line(const char *text, const char *line)
{
    const char *p = text ? strstr(text, line) : NULL;
    return p && (p == text || p[-1] == '\n');
}

typedef struct budget_fixture {
    fixture_t f;
    metrics_t *m;
} budget_fixture_t;

static int setup_budget(void **state)
{
    budget_fixture_t *b = calloc(1, sizeof *b);
    *state = b;
    if (!b || !(b->m = metrics_new()))
        return -1;
    return start_server_cfg(&b->f, TOKEN,
                            (api_config_t){.max_connections = 4,
                                           .max_connections_per_ip = 2,
                                           .header_timeout = 1,
                                           .metrics = b->m});
}

static int teardown_budget(void **state)
{
    budget_fixture_t *b = *state;
    if (b) {
        api_free(b->f.api);
        metrics_free(b->m);
    }
    free(b);
    return 0;
}

static void expect_hello(int port, const char *src)
{
    int fd = connect_from(port, src);
    assert_true(fd >= 0);
    const char req[] = "GET /api/v1/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, sizeof req - 1);
    http_resp_t r = {.raw = read_all(fd)};
    close(fd);
    assert_int_equal(parse_response(&r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
}

/* Silent connections fill an address's share and then the whole budget; a client that sends
 * its request at once is still served, taking the slot of the oldest silent one. */
static void test_connection_budget(void **state)
{
    budget_fixture_t *b = *state;
    int port = b->f.port;
    int same[2];
    for (int i = 0; i < 2; i++)
        assert_true((same[i] = connect_from(port, "127.0.0.1")) >= 0);
    usleep(300 * 1000); /* accepted, in that order */
    expect_hello(port, "127.0.0.1");
    assert_true(closed_by_server(same[0])); /* the oldest of that address made room */

    /* Other addresses fill the rest of the budget (4): 127.0.0.1 still holds same[1]. */
    int other[3];
    for (int i = 0; i < 3; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", i + 2);
        assert_true((other[i] = connect_from(port, src)) >= 0);
        usleep(100 * 1000);
    }
    expect_hello(port, "127.0.0.9");
    assert_true(closed_by_server(same[1])); /* the oldest overall */

    /* The header deadline (1 s) closes the rest. */
    for (int i = 0; i < 3; i++)
        assert_true(closed_by_server(other[i]));
    /* The served connections leave the gauge once MHD has closed them: up to 3 s. */
    char *text = NULL;
    for (int i = 0; i < 30; i++) {
        free(text);
        text = metrics_render(b->m);
        if (has_line(text, "cscf_api_connections_dropped_total{reason=\"evicted\"} 2") &&
            has_line(text, "cscf_api_connections_dropped_total{reason=\"header_timeout\"} 3") &&
            has_line(text, "cscf_api_connections_open 0"))
            break;
        usleep(100 * 1000);
    }
    if (!has_line(text, "cscf_api_connections_dropped_total{reason=\"evicted\"} 2") ||
        !has_line(text, "cscf_api_connections_dropped_total{reason=\"header_timeout\"} 3") ||
        !has_line(text, "cscf_api_connections_open 0"))
        fail_msg("metrics:\n%s", text);
    free(text);
    for (int i = 0; i < 2; i++)
        close(same[i]);
    for (int i = 0; i < 3; i++)
        close(other[i]);
}

static void test_token_equal(void **state)
{
    (void)state;
    assert_true(api_token_equal("abc", "abc"));
    assert_true(api_token_equal(TOKEN, TOKEN));
    assert_false(api_token_equal("abd", "abc"));
    assert_false(api_token_equal("ab", "abc"));
    assert_false(api_token_equal("abcd", "abc"));
    assert_false(api_token_equal("", "abc"));
    assert_false(api_token_equal(NULL, "abc"));
    assert_false(api_token_equal("abc", NULL));
    assert_false(api_token_equal(NULL, NULL));
    /* An empty expected token is "none configured" and matches nothing. */
    assert_false(api_token_equal("", ""));
}

static void dummy(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)ctx;
    (void)req;
    api_problem(resp, 418, NULL, NULL);
}

static void test_bad_config(void **state)
{
    (void)state;
    const char *bad[] = {"",         "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:80x",
                         "::1:8080", "[::1]8080", "[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_t *api = api_new(&(api_config_t){.listen = bad[i]});
        assert_non_null(api);
        assert_int_equal(api_start(api), -1);
        api_free(api);
    }
    assert_null(api_new(NULL));
    assert_null(api_new(&(api_config_t){.listen = NULL}));

    api_t *api = api_new(&(api_config_t){.listen = "127.0.0.1:1"});
    assert_int_equal(api_route(api, "GET", "/x", 0, dummy, NULL), 0);
    assert_int_equal(api_route(api, "GET", "/x", 0, dummy, NULL), -1); /* twice */
    assert_int_equal(api_route(api, "PUT", "/x", 0, dummy, NULL), 0);
    assert_int_equal(api_route(api, "GET", "no-slash", 0, dummy, NULL), -1);
    assert_int_equal(api_route(api, "GET", "/a{b}", 0, dummy, NULL), -1);
    assert_int_equal(api_route(api, "GET", "/{}", 0, dummy, NULL), -1);
    assert_int_equal(api_route(api, "GET", "/{a}/{b}/{c}/{d}/{e}", 0, dummy, NULL), -1);
    assert_int_equal(api_route(api, "GET", "/{a}/{b}/{c}/{d}", 0, dummy, NULL), 0);
    assert_int_equal(api_route(api, "GET", "/y", 0, NULL, NULL), -1);
    assert_int_equal(api_route(api, "", "/y", 0, dummy, NULL), -1);
    api_free(api);
}

static void test_port_in_use(void **state)
{
    fixture_t *f = *state;
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", f->port);
    api_t *api = api_new(&(api_config_t){.listen = listen});
    assert_non_null(api);
    assert_int_equal(api_start(api), -1);
    api_free(api);
}

static void test_ipv6_listen(void **state)
{
    (void)state;
    int port = free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "[::1]:%d", port);
    api_t *api = api_new(&(api_config_t){.listen = listen});
    assert_non_null(api);
    /* Hosts without IPv6 cannot bind ::1; only insist that it does not crash. */
    if (api_start(api) == 0)
        api_stop(api);
    api_stop(api); /* twice is harmless */
    api_free(api);
}

static void test_response_helpers(void **state)
{
    (void)state;
    api_response_t resp = {0};
    api_json(&resp, 200, NULL); /* a failed json_pack() */
    assert_int_equal(resp.status, 500);
    assert_string_equal(resp.content_type, "application/problem+json");
    api_problem(&resp, 404, "Not Found", "bad \xff utf-8 is left out");
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.body,
                        "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404}");
    api_text(&resp, 200, "text/plain", strdup("x"));
    assert_string_equal(resp.body, "x");
    api_json(&resp, 200, json_pack("[i,i]", 1, 2));
    assert_string_equal(resp.body, "[1,2]");
    assert_string_equal(resp.content_type, "application/json");
    free(resp.body);
}

static int v4_loopback(const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    return api_addr_is_loopback((struct sockaddr *)&sa);
}

static int v6_loopback(const char *addr)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
    return api_addr_is_loopback((struct sockaddr *)&sa);
}

/* Reads without a token are served to these only (see api.h). */
static void test_loopback_addresses(void **state)
{
    assert_true(v4_loopback("127.0.0.1"));
    assert_true(v4_loopback("127.255.0.9"));
    assert_false(v4_loopback("128.0.0.1"));
    assert_false(v4_loopback("10.127.0.1"));
    assert_false(v4_loopback("0.0.0.0"));
    assert_false(v4_loopback("192.0.2.2"));
    assert_true(v6_loopback("::1"));
    assert_true(v6_loopback("::ffff:127.0.0.1"));
    assert_false(v6_loopback("::ffff:192.0.2.2"));
    assert_false(v6_loopback("::"));
    assert_false(v6_loopback("::2"));
    assert_false(v6_loopback("fe80::1"));
    assert_false(v6_loopback("::127.0.0.1")); /* v4-compatible, not v4-mapped */
    struct sockaddr other = {.sa_family = AF_UNIX};
    assert_false(api_addr_is_loopback(&other));
    assert_false(api_addr_is_loopback(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_json, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_path_params_and_query, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_body_accumulated, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large_declared, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large_chunked, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_body_endless_chunked, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_mutating_without_token, setup_without_token, teardown),
        cmocka_unit_test_setup_teardown(test_mutating_without_token, setup_empty_token, teardown),
        cmocka_unit_test_setup_teardown(test_mutating_with_token, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_handler_without_response, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_input, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_control_characters, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_query_size, setup_with_token, teardown),
        cmocka_unit_test_setup_teardown(test_connection_budget, setup_budget, teardown_budget),
        cmocka_unit_test(test_token_equal),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test_setup_teardown(test_port_in_use, setup_with_token, teardown),
        cmocka_unit_test(test_ipv6_listen),
        cmocka_unit_test(test_response_helpers),
        cmocka_unit_test(test_loopback_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
