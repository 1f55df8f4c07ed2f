/* The REST server's accept thread (api.c's front door). MHD stops accepting at its connection
 * limit and leaves the rest in the kernel's listen queue, where a health probe then waits behind
 * every slow client (and, after they leave, behind their dead connections). This thread drains
 * the queue at once, applies the budget of api.h (per address, in all, header and request
 * deadlines, eviction of the oldest connection without a request head), keeps each new
 * connection until its request head is complete (peeking, so MHD still reads it all) and then
 * hands it to MHD_add_connection(). It sees every connection in its table; MHD's notifications
 * (api_accept_on_connection, api_accept_mark) keep the table's states current. */
#ifndef CSCF_API_ACCEPT_H
#define CSCF_API_ACCEPT_H

#include <microhttpd.h>

#include "common/ops/metrics.h"

typedef struct api_accept api_accept_t;

/* The budget, defaults already filled in (api_new()); metrics may be NULL. NULL: no memory. */
api_accept_t *api_accept_new(unsigned max_conns, unsigned max_per_ip, unsigned header_timeout,
                             unsigned request_timeout, metrics_t *metrics);
void api_accept_free(api_accept_t *acc);

/* Takes the listening socket (closed by api_accept_stop(), or here on failure) and sets up the
 * thread's polling. 0, or -1 with a logged reason. */
int api_accept_prepare(api_accept_t *acc, int listen_fd);
/* Starts the thread, handing connections to daemon (started with MHD_USE_NO_LISTEN_SOCKET and
 * the two notifications below). 0 or -1. */
int api_accept_run(api_accept_t *acc, struct MHD_Daemon *daemon);
/* Joins the thread, closes the listening socket and the connections still without a request
 * head. Before MHD_stop_daemon(); api_accept_forget() after it. */
void api_accept_stop(api_accept_t *acc);
/* After MHD_stop_daemon(): drops whatever entries are left (MHD owned their sockets). */
void api_accept_forget(api_accept_t *acc);

/* MHD_OPTION_NOTIFY_CONNECTION (cls: the api_accept_t): "started" ties MHD's connection to our
 * entry, "closed" removes it. */
void api_accept_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe);
/* A request head came (to_busy 1), or a request ended (0): the deadline that applies changes.
 * From the HTTP thread's request callbacks. */
void api_accept_mark(api_accept_t *acc, struct MHD_Connection *mc, int to_busy);

/* The MHD connection limit that goes with this budget: only a backstop far above ours (api.c). */
unsigned api_accept_mhd_limit(const api_accept_t *acc);

#endif
