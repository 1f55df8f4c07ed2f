/* The N5 bodies (Npcf_PolicyAuthorization, 3GPP TS 29.514 5.6) built from a policy
 * description, and what we read back: pure functions, no I/O (tests/unit/test_n5_json.c).
 * tests/data/ts29514_app_session.schema.json holds the parts of the spec's data types we rely
 * on; the e2e test validates every body the test PCF receives against it. */
#ifndef CSCF_PCSCF_N5_JSON_H
#define CSCF_PCSCF_N5_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "cscf/pcscf/policy/policy.h"

typedef struct n5_opts {
    const char *af_app_id; /* AfAppId; NULL or "": left out */
    const char *supp_feat; /* SupportedFeatures (hex), mandatory in the request */
    const char *notif_uri; /* the session's notification URI (we serve {notifUri}/terminate) */
} n5_opts_t;

/* One FlowDescription (TS 29.514 5.6.3.2: TS 29.214 5.3.8's Flow-Description): uplink (the UE
 * sends) "permit in 17 from UE UEPORT to PEER PEERPORT", downlink "permit out 17 from PEER
 * PEERPORT to UE UEPORT" ("in" is uplink, "out" downlink; the UE's address is the source of an
 * "in" rule). An empty address is "any", a port 0 is left out. The length, or -1 (too small). */
int n5_flow_desc(char *out, size_t len, int uplink, const char *ue, unsigned ue_port,
                 const char *peer, unsigned peer_port);

/* MediaType (5.6.3.x) of an m= media name: "audio" -> "AUDIO", unknown -> "OTHER". */
const char *n5_med_type(const char *sdp_media);
/* FlowStatus of a component from its direction as the UE sees it (TS 29.513 / 29.213 B.3):
 * sendrecv ENABLED, sendonly ENABLED-UPLINK, recvonly ENABLED-DOWNLINK, inactive DISABLED,
 * port 0 REMOVED. */
const char *n5_flow_status(const policy_media_t *m);

/* medComponents: a map from "<medCompN>" to MediaComponent, each with medSubComps "1" (RTP)
 * and "2" (RTCP, flowUsage RTCP), both directions each. New reference. */
json_t *n5_med_components(const policy_desc_t *d);
/* The AppSessionContext of the create request (POST .../app-sessions). New reference. */
json_t *n5_app_session_context(const policy_desc_t *d, const n5_opts_t *o);
/* The AppSessionContextUpdateDataPatch of an update (PATCH .../app-sessions/{id},
 * application/merge-patch+json). New reference. */
json_t *n5_update_patch(const policy_desc_t *d, const n5_opts_t *o);

/* The appSessionId from a 201's Location (".../app-sessions/{id}", absolute or not) into out.
 * 0, or -1 (none, or characters that do not belong in one path segment). */
int n5_app_session_id(const char *location, char *out, size_t len);

/* Splits an http apiRoot "http://HOST:PORT[/prefix]" (HOST numeric; IPv6 in brackets) into
 * host (no brackets), port and prefix (no trailing slash; "" when none). 0 or -1 (https too:
 * no TLS). */
int n5_parse_uri(const char *uri, char *host, size_t hostlen, unsigned *port, char *prefix,
                 size_t prefixlen);

#endif
