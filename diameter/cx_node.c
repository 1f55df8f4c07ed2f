#include "diameter/cx_node.h"

#include "common/util/log.h"

static void peers_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    api_json(resp, 200,
             json_pack("{s:s,s:s,s:o}", "identity", fd_setup_identity(), "realm", fd_setup_realm(),
                       "peers", fd_setup_peers_json()));
}

int cx_node_start(cx_node_t *n, program_t *p, const cx_node_handler_t *handlers, size_t nhandlers,
                  void *app)
{
    char err[512] = "";
    metric_t *peer_requests, *peer_failovers;
    cx_peer_metrics_register(p->metrics, &peer_requests, &peer_failovers);
    fd_setup_count_into(peer_requests, peer_failovers);
    if (fd_setup_start(p->cfg, &n->cx, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    n->started = 1;
    n->client = cx_client_new(&n->cx, p->root, p->queue, p->metrics, fd_setup_realm(),
                              (int)cfg_int(p->cfg, "diameter.request_timeout_ms"));
    n->server = cx_server_new(&n->cx, p->queue, p->metrics);
    if (!n->client || !n->server)
        return -1;
    for (size_t i = 0; i < nhandlers; i++) {
        if (cx_server_handle(n->server, handlers[i].cmd, handlers[i].fn, app) != 0) {
            log_error("diameter: cannot register the %s handler", cx_cmd_name(handlers[i].cmd));
            return -1;
        }
    }
    n->m_peer_up = metrics_gauge(p->metrics, "cscf_diameter_peer_up",
                                 "1 when the Diameter peer connection is open", "peer");
    return api_route(p->api, "GET", "/api/v1/diameter/peers", 0, peers_route, n);
}

void cx_node_stop(cx_node_t *n, program_t *p)
{
    if (!n->started)
        return;
    /* Nothing more may be posted; what was posted runs while freeDiameter can still send. */
    loopq_close(p->queue);
    loopq_flush(p->queue);
    fd_setup_stop();
    cx_client_free(n->client);
    cx_server_free(n->server);
    n->client = NULL;
    n->server = NULL;
    n->started = 0;
}

void cx_node_publish(cx_node_t *n)
{
    fd_peer_status_t peers[32];
    size_t count = fd_setup_peers(peers, 32);
    for (size_t i = 0; i < count; i++)
        metric_set(n->m_peer_up, peers[i].identity, peers[i].open ? 1 : 0);
}
