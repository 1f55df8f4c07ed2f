/* The Diameter Cx application (3GPP TS 29.228/29.229) in freeDiameter's dictionary.
 *
 * freeDiameter's dict_dcca_3gpp.fdx (loaded after dict_nasreq and dict_dcca) already defines
 * every Cx AVP (codes 600-650, vendor 10415) but neither the application nor its commands.
 * cx_dict_init() adds those, checks that each AVP we use exists with the type and flags
 * TS 29.229 gives it, and adds the RFC 4590 Digest-* AVPs that Cx carries in
 * SIP-Digest-Authenticate: dict_dcca_3gpp defines them under vendor 10415, but they are IETF
 * AVPs (vendor 0), and a 3GPP-vendor copy on the wire would not decode at the peer. */
#ifndef CSCF_CX_DICT_H
#define CSCF_CX_DICT_H

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdproto.h>

#define CX_VENDOR_3GPP 10415
#define CX_APP_ID      16777216

typedef enum {
    CX_CMD_UAR,
    CX_CMD_UAA,
    CX_CMD_SAR,
    CX_CMD_SAA,
    CX_CMD_LIR,
    CX_CMD_LIA,
    CX_CMD_MAR,
    CX_CMD_MAA,
    CX_CMD_RTR,
    CX_CMD_RTA,
    CX_CMD_PPR,
    CX_CMD_PPA,
    CX_CMD_COUNT
} cx_cmd_t;

typedef enum {
    /* base protocol */
    CX_AVP_SESSION_ID,
    CX_AVP_ORIGIN_HOST,
    CX_AVP_ORIGIN_REALM,
    CX_AVP_DESTINATION_HOST,
    CX_AVP_DESTINATION_REALM,
    CX_AVP_AUTH_SESSION_STATE,
    CX_AVP_VENDOR_SPECIFIC_APP_ID,
    CX_AVP_VENDOR_ID,
    CX_AVP_AUTH_APP_ID,
    CX_AVP_RESULT_CODE,
    CX_AVP_EXPERIMENTAL_RESULT,
    CX_AVP_EXPERIMENTAL_RESULT_CODE,
    CX_AVP_USER_NAME,
    /* TS 29.229 */
    CX_AVP_VISITED_NETWORK_ID,
    CX_AVP_PUBLIC_IDENTITY,
    CX_AVP_SERVER_NAME,
    CX_AVP_SERVER_CAPABILITIES,
    CX_AVP_MANDATORY_CAPABILITY,
    CX_AVP_OPTIONAL_CAPABILITY,
    CX_AVP_USER_DATA,
    CX_AVP_SIP_NUMBER_AUTH_ITEMS,
    CX_AVP_SIP_AUTH_SCHEME,
    CX_AVP_SIP_AUTHENTICATE,
    CX_AVP_SIP_AUTHORIZATION,
    CX_AVP_SIP_AUTH_DATA_ITEM,
    CX_AVP_SIP_ITEM_NUMBER,
    CX_AVP_SERVER_ASSIGNMENT_TYPE,
    CX_AVP_DEREGISTRATION_REASON,
    CX_AVP_REASON_CODE,
    CX_AVP_REASON_INFO,
    CX_AVP_CHARGING_INFORMATION,
    CX_AVP_PRIMARY_EVENT_CF,
    CX_AVP_PRIMARY_CCF,
    CX_AVP_USER_AUTHORIZATION_TYPE,
    CX_AVP_USER_DATA_ALREADY_AVAILABLE,
    CX_AVP_CONFIDENTIALITY_KEY,
    CX_AVP_INTEGRITY_KEY,
    CX_AVP_SUPPORTED_FEATURES,
    CX_AVP_FEATURE_LIST_ID,
    CX_AVP_FEATURE_LIST,
    CX_AVP_ASSOCIATED_IDENTITIES,
    CX_AVP_WILDCARDED_PUBLIC_IDENTITY,
    CX_AVP_SIP_DIGEST_AUTHENTICATE,
    /* RFC 4590, inside SIP-Digest-Authenticate */
    CX_AVP_DIGEST_REALM,
    CX_AVP_DIGEST_QOP,
    CX_AVP_DIGEST_ALGORITHM,
    CX_AVP_DIGEST_HA1,
    CX_AVP_COUNT
} cx_avp_t;

typedef struct cx_dict {
    struct dictionary *dict;
    struct dict_object *vendor, *app;
    struct dict_object *cmd[CX_CMD_COUNT];
    struct dict_object *avp[CX_AVP_COUNT];
} cx_dict_t;

/* 0, or an errno value with one logged line naming what is missing or inconsistent. */
int cx_dict_init(struct dictionary *dict, cx_dict_t *cx);

const char *cx_cmd_name(cx_cmd_t cmd);
/* "MAR", "MAA", ...: metric labels and log lines. */
const char *cx_cmd_abbrev(cx_cmd_t cmd);

#endif
