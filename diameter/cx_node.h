/* What a Cx node (scscf, hss) runs on top of fd_setup: the client for its own requests, the
 * server for requests it answers, the peers REST route and the peer gauge. */
#ifndef CSCF_CX_NODE_H
#define CSCF_CX_NODE_H

#include "common/program/program.h"
#include "diameter/cx_client.h"
#include "diameter/cx_server.h"
#include "diameter/fd_setup.h"

typedef struct cx_node {
    cx_dict_t cx;
    cx_client_t *client;
    cx_server_t *server;
    metric_t *m_peer_up;
    int started;
} cx_node_t;

typedef struct cx_node_handler {
    cx_cmd_t cmd;
    cx_request_f fn;
} cx_node_handler_t;

/* Starts freeDiameter from p's `diameter:` keys and answers the listed commands with fns (app
 * is their first argument). 0, or -1 with the reason logged. */
int cx_node_start(cx_node_t *n, program_t *p, const cx_node_handler_t *handlers, size_t nhandlers,
                  void *app);
/* On the loop, in the program's fini: stops taking requests, runs what is queued, stops
 * freeDiameter (DPR to peers) and frees the client and server. */
void cx_node_stop(cx_node_t *n, program_t *p);

/* cscf_diameter_peer_up{peer} from freeDiameter's peer table. */
void cx_node_publish(cx_node_t *n);

#endif
