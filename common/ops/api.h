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

#define API_MAX_BODY        (64 * 1024)
#define API_MAX_PATH_PARAMS 4
#define API_MUTATING        1u
#define API_PUBLIC          2u

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

typedef struct api_config {
    const char *listen; /* "host:port", IPv4 or [IPv6] */
    const char *token;  /* NULL or "": mutating calls refused */
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
/* A query parameter as a count: missing or not a plain number gives dflt; above max, max. */
size_t api_query_size(const api_request_t *req, const char *key, size_t dflt, size_t max);

/* Response helpers. api_json steals the reference to body. */
void api_json(api_response_t *resp, int status, json_t *body);
void api_text(api_response_t *resp, int status, const char *content_type, char *body);
void api_problem(api_response_t *resp, int status, const char *title, const char *detail);

/* Token comparison that takes the same time wherever the strings differ. */
int api_token_equal(const char *given, const char *expected);

#endif
