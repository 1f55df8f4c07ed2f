/* A small HTTP/2 server on the su_root loop (libnghttp2): cleartext HTTP/2 with prior knowledge
 * (h2c), for the notifications a PCF sends to the URI the P-CSCF gave it (TS 29.514 4.2.4,
 * 4.2.5: POST {notifUri}/terminate, {notifUri}/notify). PCFs speak HTTP/2 only (TS 29.500
 * 5.2), which the REST server (libmicrohttpd, HTTP/1.1) cannot. Each complete request goes to
 * the handler on the loop, whose status is the answer (no body; a Location
 * header when the handler gives one). At most H2S_MAX_CONNS
 * connections, each closed after H2S_IDLE_MS without a byte read; a body of at most 64 KiB
 * (413 beyond). One thread: the loop's. */
#ifndef CSCF_PCSCF_H2_SERVER_H
#define CSCF_PCSCF_H2_SERVER_H

#include <stddef.h>

#include <sofia-sip/su_wait.h>

#define H2S_MAX_CONNS 64
#define H2S_IDLE_MS   60000 /* a connection that read nothing this long is closed */

typedef struct h2s h2s_t;

/* A complete request (body NUL-terminated); returns the HTTP status to answer. location
 * (loclen bytes, "" on entry) may be filled for a Location header (a test PCF's 201). */
typedef int (*h2s_handler)(void *arg, const char *method, const char *path, const char *body,
                           size_t body_len, char *location, size_t loclen);

/* Listens on host (numeric IPv4/IPv6) and port (0: any free one, see h2s_port). NULL with a
 * message in err. */
h2s_t *h2s_new(su_root_t *root, const char *host, unsigned port, h2s_handler fn, void *arg,
               char *err, size_t errlen);
unsigned h2s_port(const h2s_t *s);
/* The idle limit (0: H2S_IDLE_MS), for tests. */
void h2s_set_idle_ms(h2s_t *s, unsigned idle_ms);
void h2s_free(h2s_t *s);

#endif
