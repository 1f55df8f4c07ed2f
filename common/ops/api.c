/* The REST server: libmicrohttpd with one internal polling thread, so handlers run one at a
 * time on that thread as api.h promises. Routing, authorisation and the Content-Length check
 * all happen on the first callback of a request, before any body is read, so a refused client
 * cannot make us buffer anything.
 *
 * Connections are accepted by our own thread, not by MHD (api_accept.h says why); MHD gets each
 * one once its request head is complete. */
#include "common/ops/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/ops/api_accept.h"
#include "common/util/log.h"

#define CONNECTION_TIMEOUT 10u /* seconds without a byte, inside the budget (api_accept.c) */
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

struct api {
    char *listen;
    char *token; /* NULL when none is configured */
    route_t *routes;
    size_t nroutes;
    struct sockaddr_storage addr;
    struct MHD_Daemon *daemon;
    atomic_int running; /* read by the MHD logger on the HTTP thread */
    api_accept_t *acc;  /* the accept thread and the connection budget */
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
    api->listen = strdup(cfg->listen);
    api->token = cfg->token && *cfg->token ? strdup(cfg->token) : NULL;
    if (!api->listen || (cfg->token && *cfg->token && !api->token)) {
        api_free(api);
        return NULL;
    }
    unsigned max_per_ip = cfg->max_connections_per_ip ? cfg->max_connections_per_ip
                                                      : API_DEFAULT_MAX_CONNECTIONS_PER_IP;
    api->acc = api_accept_new(
        cfg->max_connections ? cfg->max_connections : API_DEFAULT_MAX_CONNECTIONS, max_per_ip,
        cfg->header_timeout ? cfg->header_timeout : API_DEFAULT_HEADER_TIMEOUT,
        cfg->request_timeout ? cfg->request_timeout : API_DEFAULT_REQUEST_TIMEOUT, cfg->metrics);
    if (!api->acc) {
        api_free(api);
        return NULL;
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
    api_accept_free(api->acc);
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
    api_accept_mark(api->acc, conn, 1);
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
    api_accept_mark(((api_t *)cls)->acc, conn, 0);
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

int api_start(api_t *api)
{
    if (!api || api->daemon)
        return -1;
    if (parse_listen(api->listen, &api->addr) < 0) {
        log_error("api: cannot parse listen address \"%s\" (want host:port or [v6]:port)",
                  api->listen);
        return -1;
    }
    int listen_fd = open_listener(&api->addr, api->listen);
    if (listen_fd < 0 || api_accept_prepare(api->acc, listen_fd) < 0)
        return -1;
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    /* MHD's own limit is only a backstop far above ours: a connection we shut down counts in
     * MHD until its thread notices, and the new one taking its slot must not be refused
     * meanwhile. For the same reason MHD's per-address limit is not used: it would refuse a
     * probe while the slow connections it replaces are still closing, and it never evicts. */
    unsigned mhd_limit = api_accept_mhd_limit(api->acc);
    /* The logger goes first so that MHD reports problems with the later options through it. */
    api->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, api,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_NOTIFY_CONNECTION,
        api_accept_on_connection, api->acc, MHD_OPTION_UNESCAPE_CALLBACK, unescape, api,
        MHD_OPTION_END);
    if (!api->daemon) {
        log_error("api: cannot start the HTTP server on %s", api->listen);
        api_accept_stop(api->acc);
        return -1;
    }
    atomic_store(&api->running, 1);
    if (api_accept_run(api->acc, api->daemon) < 0) {
        api_stop(api);
        return -1;
    }
    log_debug("api: listening on %s", api->listen);
    return 0;
}

void api_stop(api_t *api)
{
    if (!api || !api->daemon)
        return;
    atomic_store(&api->running, 0);
    api_accept_stop(api->acc);
    MHD_stop_daemon(api->daemon); /* joins the polling thread; "closed" for every connection */
    api->daemon = NULL;
    api_accept_forget(api->acc);
}
