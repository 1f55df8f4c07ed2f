/* What the policy interface tells a back end about one dialog side (policy.h): the media
 * components from the SDP offer/answer (policy_sdp.c). Types only. */
#ifndef CSCF_POLICY_DESC_H
#define CSCF_POLICY_DESC_H

#include <stddef.h>

#define POLICY_MAX_MEDIA 8

/* One m= line: a Media-Component-Description (Rx) / a medComponent (N5). */
typedef struct policy_media {
    unsigned number; /* 1-based m-line index = media component number */
    char type[16];   /* "audio", "video", ... */
    char proto[16];  /* "RTP/AVP", ...; the flows' transport is UDP */
    char ue_addr[64];
    unsigned ue_port; /* the UE's side (c=/m= of the UE's SDP); RTCP is port + 1 */
    char peer_addr[64];
    unsigned peer_port; /* the far side (c=/m= of the other SDP); 0/"" while unknown */
    char dir[12];       /* sendrecv / sendonly / recvonly / inactive, as the UE sees it */
    unsigned bw_as_kbps, bw_rs, bw_rr; /* b=AS (kbit/s), b=RS, b=RR (bit/s); 0: absent */
    /* Codec-Data (TS 29.214 5.3.7): "uplink\noffer\n" ("downlink" for the far side's SDP,
     * "answer"), then the m= line and its a= lines, one per line ("\n"); "" while unknown */
    char codec_offer[512], codec_answer[512];
    int port_zero; /* m= port 0 on either side: the component is disabled / removed */
} policy_media_t;

/* What a back end is told for one dialog side. */
typedef struct policy_desc {
    char call_id[128], from_tag[64], to_tag[64]; /* the dialog as the INVITE names it */
    char icid[128];  /* P-Charging-Vector icid-value: Rx AF-Charging-Identifier */
    char ue_ip[64];  /* the UE's signalling address: Framed-IP-Address / ueIpv4 */
    char impu[128];  /* the served user: Subscription-Id (SIP URI) */
    int originating; /* 1: the UE is the caller (its INVITE), 0: the callee */
    int answered;    /* 0: offer only (preliminary), 1: offer and answer known */
    size_t n_media;
    policy_media_t media[POLICY_MAX_MEDIA];
} policy_desc_t;

#endif
