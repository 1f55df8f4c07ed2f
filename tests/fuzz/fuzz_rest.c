/* libFuzzer: the REST server as a client meets it, over a real socket: libmicrohttpd's request
 * parsing, our router (segments, {params}, 404/405 with Allow), the bearer check, the body
 * limits (declared and chunked), and JSON bodies through jansson into the HSS subscriber
 * validation the PUT/POST routes use. The first input byte picks a mode:
 *   0-2  a well-formed request built from the input: "METHOD URL\nTOKEN\n" then the body,
 *        sent with Content-Length (0), chunked (1), or with a false Content-Length (2)
 *   3    the input as raw bytes on the connection
 * Every answer must be an HTTP status line; any crash or sanitizer report fails. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/ops/api.h"
#include "common/util/log.h"
#include "diameter/hss/subscriber.h"

#define TOKEN "fuzz-token"

static api_t *api;
static int port;

/* What the subscriber routes do with a body, minus the database. */
static void subscriber_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    json_error_t jerr;
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    if (!json_is_object(body) && !json_is_array(body)) {
        json_decref(body);
        api_problem(resp, 400, "Bad Request", "the body must be a subscriber JSON object");
        return;
    }
    size_t i;
    json_t *item;
    json_t *one = json_is_object(body) ? body : NULL;
    json_array_foreach(body, i, item)
    {
        one = item; /* the last element of an array, as bulk POST would take each */
    }
    hss_subscriber_t sub = {0};
    char err[300];
    if (one && hss_subscriber_from_json(one, &sub, err, sizeof err) == 0) {
        api_json(resp, 201, hss_subscriber_to_json(&sub, 0));
        hss_subscriber_clear(&sub);
    } else {
        api_problem(resp, 400, "Bad Request", err);
    }
    json_decref(body);
}

static void echo_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    api_json(resp, 200,
             json_pack("{s:s?,s:s?,s:s?,s:I}", "param", req->nparams ? req->params[0] : NULL,
                       "limit", api_query(req, "limit"), "prefix", api_query(req, "prefix"),
                       "body_len", (json_int_t)req->body_len));
}

static void silent_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    /* a handler that forgets to answer: the server must still send a 500 */
}

static int start_server(void)
{
    static const struct {
        const char *method, *pattern;
        unsigned flags;
        api_handler_f fn;
    } routes[] = {
        {"GET", "/healthz", 0, echo_route},
        {"GET", "/api/v1/registrations", 0, echo_route},
        {"GET", "/api/v1/registrations/{impu}", 0, echo_route},
        {"DELETE", "/api/v1/registrations/{impu}", API_MUTATING, echo_route},
        {"PUT", "/api/v1/log", API_MUTATING, subscriber_route},
        {"POST", "/api/v1/subscribers", API_MUTATING, subscriber_route},
        {"PUT", "/api/v1/subscribers/{impi}", API_MUTATING, subscriber_route},
        {"POST", "/api/v1/subscribers/{impi}/deregister", API_MUTATING, echo_route},
        {"POST", "/api/v1/cx/{command}", API_MUTATING, silent_route},
        {"GET", "/a/{b}/{c}/{d}/{e}", 0, echo_route},
    };
    for (int tries = 0; tries < 50; tries++) {
        char listen[32];
        port = 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)tries * 104729u) % 12000u);
        snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
        api = api_new(&(api_config_t){.listen = listen, .token = TOKEN});
        for (size_t i = 0; api && i < sizeof routes / sizeof routes[0]; i++)
            if (api_route(api, routes[i].method, routes[i].pattern, routes[i].flags, routes[i].fn,
                          NULL) < 0)
                abort();
        if (api && api_start(api) == 0)
            return 0;
        api_free(api);
        api = NULL;
    }
    return -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_ERROR);
    if (start_server() < 0) {
        fprintf(stderr, "fuzz_rest: cannot start the server\n");
        abort();
    }
    return 0;
}

/* Text up to '\n' (or the end) as a NUL-terminated copy without CR/LF/NUL; advances *p. */
static char *take_line(const uint8_t **p, const uint8_t *end, size_t max)
{
    char *out = malloc(max + 1);
    size_t n = 0;
    while (*p < end && **p != '\n') {
        uint8_t c = *(*p)++;
        if (n < max && c != '\r' && c != '\0')
            out[n++] = (char)c;
    }
    if (*p < end)
        (*p)++;
    out[n] = '\0';
    return out;
}

static char *build_request(const uint8_t *data, size_t size, int mode, size_t *len)
{
    const uint8_t *p = data, *end = data + size;
    char *line = take_line(&p, end, 2000), *auth = take_line(&p, end, 200);
    size_t body_len = (size_t)(end - p), line_len = strlen(line);
    char *sp = strchr(line, ' ');
    const char *method = "GET", *url = line;
    if (sp) {
        *sp = '\0';
        method = *line ? line : "GET";
        url = sp + 1;
        /* More spaces would end the request target early: a different, already covered case. */
        for (char *c = sp + 1; *c; c++)
            if (*c == ' ' || *c == '\t')
                *c = '+';
    }
    if (*url != '/' && *url != '*')
        url = "/";
    size_t cap = line_len + strlen(auth) + strlen(TOKEN) + body_len + 256;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", method, url);
    if (*auth)
        n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n",
                      strcmp(auth, "T") == 0 ? TOKEN : auth);
    if (mode == 1)
        n += snprintf(req + n, cap - (size_t)n, "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
                      body_len);
    else
        n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n\r\n",
                      mode == 2 ? body_len * 1000 + 1 : body_len);
    memcpy(req + n, p, body_len);
    n += (int)body_len;
    if (mode == 1)
        n += snprintf(req + n, cap - (size_t)n, "\r\n0\r\n\r\n");
    *len = (size_t)n;
    free(line);
    free(auth);
    return req;
}

static void exchange(const char *req, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        /* The server may answer (413, 401) and close before reading everything: not an error. */
        (void)!send(fd, req, len, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        char buf[4096];
        size_t got = 0;
        ssize_t r;
        while ((r = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0 && got < sizeof buf - 1)
            got += (size_t)r;
        buf[got] = '\0';
        /* Whatever came in, an answer (when there is one) starts with a status line. */
        if (got >= 5 && strncmp(buf, "HTTP/", 5) != 0)
            abort();
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 4;
    size_t len;
    if (mode == 3) {
        exchange((const char *)data + 1, size - 1);
        return 0;
    }
    char *req = build_request(data + 1, size - 1, mode, &len);
    exchange(req, len);
    free(req);
    return 0;
}
