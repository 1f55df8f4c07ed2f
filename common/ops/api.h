/* The REST server every program runs (libmicrohttpd in its own thread, JSON with jansson).
 *
 * Routes are registered before api_start(). Handlers run on the HTTP thread: anything that
 * touches SIP state must go through loopq_call(). Errors are RFC 7807 problem+json.
 *
 * Who may call what:
 * - API_MUTATING routes need "Authorization: Bearer <token>" from anywhere; with no token
 *   configured they are refused with 403.
 * - API_PUBLIC routes (probes, /metrics) are open to every address: kubelet and Prometheus
 *   come from other hosts and carry no token.
 * - Other routes (reads) are open to loopback clients; another address needs the token (401),
 *   and with none configured is refused (403). They name users, so they are not for the
 *   network at large. */
#ifndef CSCF_API_H
#define CSCF_API_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "common/ops/metrics.h"

#define API_MAX_BODY        (64 * 1024)
#define API_MAX_PATH_PARAMS 4
#define API_MUTATING        1u
#define API_PUBLIC          2u
/* Defaults for the connection budget (api_config_t fields left 0). */
/* The largest offset= a paged list takes (far past any table's cap). */
#define API_MAX_OFFSET                     100000000u
#define API_DEFAULT_MAX_CONNECTIONS        256u
#define API_DEFAULT_MAX_CONNECTIONS_PER_IP 32u
#define API_DEFAULT_HEADER_TIMEOUT         5u  /* seconds */
#define API_DEFAULT_REQUEST_TIMEOUT        30u /* seconds */

typedef struct api api_t;

typedef struct api_request {
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated; NULL when empty */
    size_t body_len;
    /* values captured by "{name}" segments of the route pattern, in order */
    const char *params[API_MAX_PATH_PARAMS];
    size_t nparams;
    void *conn; /* for api_query() */
} api_request_t;

typedef struct api_response {
    int status;
    char *body; /* malloc'd, freed by the server */
    const char *content_type;
} api_response_t;

typedef void (*api_handler_f)(void *ctx, const api_request_t *req, api_response_t *resp);

/* The connection budget. The server accepts every connection itself, so the kernel's listen
 * queue never fills and a probe never waits behind others; a new connection stays with the
 * accept thread (which only peeks) until its request head is complete, and only then reaches
 * the HTTP server. A connection without a complete request head (a new one, or one of MHD's
 * idle between keep-alive requests) holds its slot for at most header_timeout seconds; one
 * inside a request for at most request_timeout. When a new connection finds its address at
 * max_connections_per_ip, or the server at max_connections, it takes the slot of the oldest
 * connection (of that address, or of any) still without a request head; when every slot is
 * inside a request it is closed at once. So slow clients cannot starve /healthz: a probe sends
 * its whole request at once and is served, even from the slow clients' own address. */
typedef struct api_config {
    const char *listen; /* "host:port", IPv4 or [IPv6] */
    const char *token;  /* NULL or "": mutating calls refused */
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned header_timeout; /* seconds */
    unsigned request_timeout;
    /* NULL: none. cscf_api_connections_open, cscf_api_connections_refused_total{reason},
     * cscf_api_connections_dropped_total{reason} */
    metrics_t *metrics;
} api_config_t;

api_t *api_new(const api_config_t *cfg);
void api_free(api_t *api);

/* pattern: "/api/v1/registrations/{impu}". method: "GET", "PUT", ... */
int api_route(api_t *api, const char *method, const char *pattern, unsigned flags,
              api_handler_f handler, void *ctx);

/* One line per route, in registration order: "METHOD PATTERN", then " token" when the route
 * is API_MUTATING, " local" when it is neither that nor API_PUBLIC (token or loopback). */
void api_routes_write(const api_t *api, FILE *out);

struct sockaddr;
/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int api_addr_is_loopback(const struct sockaddr *sa);

int api_start(api_t *api); /* binds and starts the thread; -1 with a logged reason */
void api_stop(api_t *api);

/* The query-string value of key, or NULL. Valid during the handler. */
const char *api_query(const api_request_t *req, const char *key);
/* A query parameter as a count in 0..max: *out is dflt when it is missing. -1 when it is
 * present but not a plain decimal number in that range ("-1", "abc", "", too large); then a
 * 400 problem naming the parameter has been set in resp (when resp is not NULL). */
int api_query_size(const api_request_t *req, const char *key, size_t dflt, size_t max, size_t *out,
                   api_response_t *resp);

/* Response helpers. api_json steals the reference to body. */
void api_json(api_response_t *resp, int status, json_t *body);
void api_text(api_response_t *resp, int status, const char *content_type, char *body);
void api_problem(api_response_t *resp, int status, const char *title, const char *detail);

/* Token comparison that takes the same time wherever the strings differ. */
int api_token_equal(const char *given, const char *expected);

#endif
