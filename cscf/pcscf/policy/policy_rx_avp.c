/* The parts of an AAR that are plain values (policy_rx.h): flow descriptions, Flow-Status,
 * Media-Type. No freeDiameter here, so the unit test needs none. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cscf/pcscf/policy/policy_rx.h"

static void endpoint(const char *addr, unsigned port, char *out, size_t len)
{
    if (addr && *addr && port)
        snprintf(out, len, "%s %u", addr, port);
    else
        snprintf(out, len, "any");
}

static void one_flow(const policy_media_t *m, unsigned number, unsigned delta, rx_flow_t *f)
{
    char ue[96], peer[96];
    endpoint(m->ue_addr, m->ue_port ? m->ue_port + delta : 0, ue, sizeof ue);
    endpoint(m->peer_addr, m->peer_port ? m->peer_port + delta : 0, peer, sizeof peer);
    f->number = number;
    f->usage = delta ? RX_USAGE_RTCP : RX_USAGE_NO_INFORMATION;
    /* TS 29.214 5.3.8: direction "in" is the uplink (the UE is the source), "out" the downlink
     * (the UE is the destination); a PCRF (Open5GS's among them) installs "permit out" as a
     * downlink filter, so an uplink written "out" would miss the dedicated bearer. */
    snprintf(f->uplink, sizeof f->uplink, "permit in 17 from %s to %s", ue, peer);
    snprintf(f->downlink, sizeof f->downlink, "permit out 17 from %s to %s", peer, ue);
}

size_t rx_flows(const policy_media_t *m, rx_flow_t out[2])
{
    if (m->port_zero)
        return 0;
    one_flow(m, 1, 0, &out[0]);
    one_flow(m, 2, 1, &out[1]); /* RTCP on the next port (RFC 3550 11) */
    return 2;
}

int rx_flow_status(const policy_media_t *m)
{
    if (m->port_zero)
        return RX_FLOW_REMOVED;
    if (strcmp(m->dir, "sendonly") == 0)
        return RX_FLOW_ENABLED_UPLINK;
    if (strcmp(m->dir, "recvonly") == 0)
        return RX_FLOW_ENABLED_DOWNLINK;
    if (strcmp(m->dir, "inactive") == 0)
        return RX_FLOW_DISABLED;
    return RX_FLOW_ENABLED;
}

int rx_media_type(const char *type)
{
    static const char *const names[] = {"audio",   "video", "data",   "application",
                                        "control", "text",  "message"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(type, names[i]) == 0)
            return (int)i;
    return -1; /* OTHER: 0xFFFFFFFF */
}
