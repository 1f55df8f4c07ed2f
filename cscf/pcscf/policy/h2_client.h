/* An HTTP/2 client on the su_root loop (libnghttp2): cleartext HTTP/2 with prior knowledge (h2c,
 * RFC 9113 3.3) to one server, the way 5G core SBIs speak inside a lab (TS 29.500 allows http
 * on a trusted network). One TCP connection carries every request as its own stream; it is
 * opened when a request needs it (a non-blocking connect, so the loop never waits) and opened
 * again by the next request after it failed or closed. Every request has a deadline (the
 * connect counts against it); a deadline passing on a connection that received nothing since
 * that request went closes it (a peer gone without a word), so the next request reconnects; its
 * callback runs exactly once, on the loop, never inside h2c_request(). No TLS, no name resolution:
 * the host is a numeric IPv4 or IPv6 address. One thread: the loop's. */
#ifndef CSCF_PCSCF_H2_CLIENT_H
#define CSCF_PCSCF_H2_CLIENT_H

#include <stddef.h>

#include <sofia-sip/su_wait.h>

typedef struct h2c h2c_t;
typedef struct h2c_req h2c_req_t;

typedef struct h2c_response {
    int status;           /* the HTTP status; 0 when there was none (error says why) */
    const char *error;    /* NULL, or "timeout", "connect", "closed", "reset" */
    const char *location; /* the Location header, or NULL */
    const char *body;     /* NUL-terminated; "" when none */
    size_t body_len;
} h2c_response_t;

/* r and what it points to live for the call only. */
typedef void (*h2c_cb)(void *arg, const h2c_response_t *r);

/* host: numeric address; port; timeout_ms: each request's deadline from h2c_request(), connect
 * included. NULL on a bad address or no memory. */
h2c_t *h2c_new(su_root_t *root, const char *host, unsigned port, unsigned timeout_ms);
/* The callbacks of requests still open are not called. Not from inside a callback. */
void h2c_free(h2c_t *c);

/* Queues method path (with body of ctype when body_len > 0; both copied) and returns the
 * request, or NULL (no memory). cb(arg, response) follows once, later; the request is gone
 * after its callback. A callback may send new requests and cancel others. */
h2c_req_t *h2c_request(h2c_t *c, const char *method, const char *path, const char *ctype,
                       const char *body, size_t body_len, h2c_cb cb, void *arg);
/* The callback of r will not run (its stream, if any, is reset). r is gone. */
void h2c_cancel(h2c_req_t *r);

/* Streams on the connection now / requests waiting for it, for tests and logs. */
size_t h2c_open_streams(const h2c_t *c);
/* Connections made so far (1 after the first success; each reconnect adds one). */
unsigned h2c_connects(const h2c_t *c);

#endif
