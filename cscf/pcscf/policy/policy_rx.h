/* The Rx back end (TS 29.214): the pcscf as the AF towards a PCRF over freeDiameter. AAR/AAA
 * with the media of a dialog (Media-Component-Description from policy_desc_t), STR/STA at the
 * end, RAR answered with RAA, ASR answered with ASA and then the call ended
 * (policy_session_lost). freeDiameter's answers reach the loop through the program's queue. */
#ifndef CSCF_POLICY_RX_H
#define CSCF_POLICY_RX_H

#include <stddef.h>

#include "cscf/pcscf/policy/policy.h"
#include "diameter/fd_setup.h"

#define RX_APP_ID 16777236u /* TS 29.214 5.6: the Rx application, vendor 3GPP */
#define RX_VENDOR 10415u

/* The `policy.rx.*` rows: freeDiameter's settings as the Cx nodes' `diameter.*` (identity,
 * realm, listen, peers "pcrf-identity@host:port", tls, timers), plus where AARs go. */
#define POLICY_RX_KEY_ROWS                                                                         \
    FD_SETUP_KEY_ROWS_P("policy.rx", "pcscf.ims.mnc001.mcc001.3gppnetwork.org", "127.0.0.1:3870",  \
                        "", "5"),                                                                  \
        {"policy.rx.destination_realm",                                                            \
         CFG_STRING,                                                                               \
         "",                                                                                       \
         "Destination-Realm of our AAR/STR (the PCRF's realm); \"\": policy.rx.realm",             \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
    {                                                                                              \
        "policy.rx.destination_host", CFG_STRING, "",                                              \
            "Destination-Host of our AAR/STR; \"\": the first of policy.rx.peers (realm routing "  \
            "alone when none)",                                                                    \
            0, 0, NULL                                                                             \
    }

int policy_rx_new(program_t *p, policy_t *pol, policy_backend_t *out, char *err, size_t errlen);

/* ---- the pure part (policy_rx_avp.c), unit-tested ---- */

/* Flow-Usage (TS 29.214 5.3.12) and Flow-Status (5.3.11) values. */
enum { RX_USAGE_NO_INFORMATION = 0, RX_USAGE_RTCP = 1 };
enum {
    RX_FLOW_ENABLED_UPLINK = 0,
    RX_FLOW_ENABLED_DOWNLINK = 1,
    RX_FLOW_ENABLED = 2,
    RX_FLOW_DISABLED = 3,
    RX_FLOW_REMOVED = 4,
};

/* One Media-Sub-Component: the RTP flow (1) or the RTCP flow (2, ports + 1), each with its
 * uplink Flow-Description "permit in 17 from <UE> <port> to <peer> <port>" and its downlink one
 * "permit out 17 from <peer> <port> to <UE> <port>" (TS 29.214 5.3.8: "in" = uplink, "out" =
 * downlink); "any" for a side not known yet. */
typedef struct rx_flow {
    unsigned number;
    int usage;
    char uplink[256], downlink[256];
} rx_flow_t;

/* The sub-components of one media component: 2 (RTP and RTCP), or 0 when it is disabled by
 * port 0 (then only Flow-Status REMOVED goes). */
size_t rx_flows(const policy_media_t *m, rx_flow_t out[2]);
/* Flow-Status from the direction the UE sees and port 0. */
int rx_flow_status(const policy_media_t *m);
/* Media-Type (5.3.19) from the m= type. */
int rx_media_type(const char *type);

#endif
