#include "diameter/cx_dict.h"

#include <errno.h>
#include <string.h>

#include "common/util/log.h"

#define V AVP_FLAG_VENDOR
#define M AVP_FLAG_MANDATORY

/* TS 29.229 6.1: Cx commands, requests and answers, all proxiable. */
static const struct {
    command_code_t code;
    const char *name;
    int request;
} cmds[CX_CMD_COUNT] = {
    [CX_CMD_UAR] = {300, "User-Authorization-Request", 1},
    [CX_CMD_UAA] = {300, "User-Authorization-Answer", 0},
    [CX_CMD_SAR] = {301, "Server-Assignment-Request", 1},
    [CX_CMD_SAA] = {301, "Server-Assignment-Answer", 0},
    [CX_CMD_LIR] = {302, "Location-Info-Request", 1},
    [CX_CMD_LIA] = {302, "Location-Info-Answer", 0},
    [CX_CMD_MAR] = {303, "Multimedia-Auth-Request", 1},
    [CX_CMD_MAA] = {303, "Multimedia-Auth-Answer", 0},
    [CX_CMD_RTR] = {304, "Registration-Termination-Request", 1},
    [CX_CMD_RTA] = {304, "Registration-Termination-Answer", 0},
    [CX_CMD_PPR] = {305, "Push-Profile-Request", 1},
    [CX_CMD_PPA] = {305, "Push-Profile-Answer", 0},
};

/* Every AVP the Cx code uses: code, vendor, name, base type and the flags that must be set. The
 * loaded dictionaries must agree; only the vendor-0 Digest-* AVPs are ours to add. */
static const struct {
    avp_code_t code;
    vendor_id_t vendor;
    const char *name;
    enum dict_avp_basetype type;
    uint8_t flags;
    int ours;
} avps[CX_AVP_COUNT] = {
    [CX_AVP_SESSION_ID] = {263, 0, "Session-Id", AVP_TYPE_OCTETSTRING, M, 0},
    [CX_AVP_ORIGIN_HOST] = {264, 0, "Origin-Host", AVP_TYPE_OCTETSTRING, M, 0},
    [CX_AVP_ORIGIN_REALM] = {296, 0, "Origin-Realm", AVP_TYPE_OCTETSTRING, M, 0},
    [CX_AVP_DESTINATION_HOST] = {293, 0, "Destination-Host", AVP_TYPE_OCTETSTRING, M, 0},
    [CX_AVP_DESTINATION_REALM] = {283, 0, "Destination-Realm", AVP_TYPE_OCTETSTRING, M, 0},
    [CX_AVP_AUTH_SESSION_STATE] = {277, 0, "Auth-Session-State", AVP_TYPE_INTEGER32, M, 0},
    [CX_AVP_VENDOR_SPECIFIC_APP_ID] = {260, 0, "Vendor-Specific-Application-Id", AVP_TYPE_GROUPED,
                                       M, 0},
    [CX_AVP_VENDOR_ID] = {266, 0, "Vendor-Id", AVP_TYPE_UNSIGNED32, M, 0},
    [CX_AVP_AUTH_APP_ID] = {258, 0, "Auth-Application-Id", AVP_TYPE_UNSIGNED32, M, 0},
    [CX_AVP_RESULT_CODE] = {268, 0, "Result-Code", AVP_TYPE_UNSIGNED32, M, 0},
    [CX_AVP_EXPERIMENTAL_RESULT] = {297, 0, "Experimental-Result", AVP_TYPE_GROUPED, M, 0},
    [CX_AVP_EXPERIMENTAL_RESULT_CODE] = {298, 0, "Experimental-Result-Code", AVP_TYPE_UNSIGNED32, M,
                                         0},
    [CX_AVP_USER_NAME] = {1, 0, "User-Name", AVP_TYPE_OCTETSTRING, M, 0},
    [CX_AVP_VISITED_NETWORK_ID] = {600, CX_VENDOR_3GPP, "Visited-Network-Identifier",
                                   AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_PUBLIC_IDENTITY] = {601, CX_VENDOR_3GPP, "Public-Identity", AVP_TYPE_OCTETSTRING, V | M,
                                0},
    [CX_AVP_SERVER_NAME] = {602, CX_VENDOR_3GPP, "Server-Name", AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_SERVER_CAPABILITIES] = {603, CX_VENDOR_3GPP, "Server-Capabilities", AVP_TYPE_GROUPED,
                                    V | M, 0},
    [CX_AVP_MANDATORY_CAPABILITY] = {604, CX_VENDOR_3GPP, "Mandatory-Capability",
                                     AVP_TYPE_UNSIGNED32, V | M, 0},
    [CX_AVP_OPTIONAL_CAPABILITY] = {605, CX_VENDOR_3GPP, "Optional-Capability", AVP_TYPE_UNSIGNED32,
                                    V | M, 0},
    [CX_AVP_USER_DATA] = {606, CX_VENDOR_3GPP, "User-Data", AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_SIP_NUMBER_AUTH_ITEMS] = {607, CX_VENDOR_3GPP, "SIP-Number-Auth-Items",
                                      AVP_TYPE_UNSIGNED32, V | M, 0},
    [CX_AVP_SIP_AUTH_SCHEME] = {608, CX_VENDOR_3GPP, "SIP-Authentication-Scheme",
                                AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_SIP_AUTHENTICATE] = {609, CX_VENDOR_3GPP, "SIP-Authenticate", AVP_TYPE_OCTETSTRING,
                                 V | M, 0},
    [CX_AVP_SIP_AUTHORIZATION] = {610, CX_VENDOR_3GPP, "SIP-Authorization", AVP_TYPE_OCTETSTRING,
                                  V | M, 0},
    [CX_AVP_SIP_AUTH_DATA_ITEM] = {612, CX_VENDOR_3GPP, "SIP-Auth-Data-Item", AVP_TYPE_GROUPED,
                                   V | M, 0},
    [CX_AVP_SIP_ITEM_NUMBER] = {613, CX_VENDOR_3GPP, "SIP-Item-Number", AVP_TYPE_UNSIGNED32, V | M,
                                0},
    [CX_AVP_SERVER_ASSIGNMENT_TYPE] = {614, CX_VENDOR_3GPP, "Server-Assignment-Type",
                                       AVP_TYPE_INTEGER32, V | M, 0},
    [CX_AVP_DEREGISTRATION_REASON] = {615, CX_VENDOR_3GPP, "Deregistration-Reason",
                                      AVP_TYPE_GROUPED, V | M, 0},
    [CX_AVP_REASON_CODE] = {616, CX_VENDOR_3GPP, "Reason-Code", AVP_TYPE_INTEGER32, V | M, 0},
    [CX_AVP_REASON_INFO] = {617, CX_VENDOR_3GPP, "Reason-Info", AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_CHARGING_INFORMATION] = {618, CX_VENDOR_3GPP, "Charging-Information", AVP_TYPE_GROUPED,
                                     V | M, 0},
    [CX_AVP_PRIMARY_EVENT_CF] = {619, CX_VENDOR_3GPP, "Primary-Event-Charging-Function-Name",
                                 AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_PRIMARY_CCF] = {621, CX_VENDOR_3GPP, "Primary-Charging-Collection-Function-Name",
                            AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_USER_AUTHORIZATION_TYPE] = {623, CX_VENDOR_3GPP, "User-Authorization-Type",
                                        AVP_TYPE_INTEGER32, V | M, 0},
    [CX_AVP_USER_DATA_ALREADY_AVAILABLE] = {624, CX_VENDOR_3GPP, "User-Data-Already-Available",
                                            AVP_TYPE_INTEGER32, V | M, 0},
    [CX_AVP_CONFIDENTIALITY_KEY] = {625, CX_VENDOR_3GPP, "Confidentiality-Key",
                                    AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_INTEGRITY_KEY] = {626, CX_VENDOR_3GPP, "Integrity-Key", AVP_TYPE_OCTETSTRING, V | M, 0},
    [CX_AVP_SUPPORTED_FEATURES] = {628, CX_VENDOR_3GPP, "Supported-Features", AVP_TYPE_GROUPED, V,
                                   0},
    [CX_AVP_FEATURE_LIST_ID] = {629, CX_VENDOR_3GPP, "Feature-List-ID", AVP_TYPE_UNSIGNED32, V, 0},
    [CX_AVP_FEATURE_LIST] = {630, CX_VENDOR_3GPP, "Feature-List", AVP_TYPE_UNSIGNED32, V, 0},
    [CX_AVP_ASSOCIATED_IDENTITIES] = {632, CX_VENDOR_3GPP, "Associated-Identities",
                                      AVP_TYPE_GROUPED, V, 0},
    [CX_AVP_WILDCARDED_PUBLIC_IDENTITY] = {634, CX_VENDOR_3GPP, "Wildcarded-Public-Identity",
                                           AVP_TYPE_OCTETSTRING, V, 0},
    [CX_AVP_SIP_DIGEST_AUTHENTICATE] = {635, CX_VENDOR_3GPP, "SIP-Digest-Authenticate",
                                        AVP_TYPE_GROUPED, V, 0},
    [CX_AVP_DIGEST_REALM] = {104, 0, "Digest-Realm", AVP_TYPE_OCTETSTRING, M, 1},
    [CX_AVP_DIGEST_QOP] = {110, 0, "Digest-QoP", AVP_TYPE_OCTETSTRING, M, 1},
    [CX_AVP_DIGEST_ALGORITHM] = {111, 0, "Digest-Algorithm", AVP_TYPE_OCTETSTRING, M, 1},
    [CX_AVP_DIGEST_HA1] = {121, 0, "Digest-HA1", AVP_TYPE_OCTETSTRING, M, 1},
};

const char *cx_cmd_abbrev(cx_cmd_t cmd)
{
    static const char *const abbrev[CX_CMD_COUNT] = {"UAR", "UAA", "SAR", "SAA", "LIR", "LIA",
                                                     "MAR", "MAA", "RTR", "RTA", "PPR", "PPA"};
    return cmd < CX_CMD_COUNT ? abbrev[cmd] : "?";
}

const char *cx_cmd_name(cx_cmd_t cmd)
{
    return cmd < CX_CMD_COUNT ? cmds[cmd].name : "?";
}

static int find_avp(struct dictionary *dict, avp_code_t code, vendor_id_t vendor,
                    struct dict_object **out)
{
    struct dict_avp_request req = {.avp_vendor = vendor, .avp_code = code};
    *out = NULL;
    return fd_dict_search(dict, DICT_AVP, AVP_BY_CODE_AND_VENDOR, &req, out, 0);
}

/* Our own vendor-0 AVPs, typed UTF8String like the rest of RFC 4590's. */
static int add_avp(cx_dict_t *cx, int i, struct dict_object **out)
{
    struct dict_object *utf8 = NULL;
    fd_dict_search(cx->dict, DICT_TYPE, TYPE_BY_NAME, "UTF8String", &utf8, 0);
    struct dict_avp_data d = {avps[i].code,         avps[i].vendor,
                              (char *)avps[i].name, AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY,
                              avps[i].flags,        avps[i].type};
    return fd_dict_new(cx->dict, DICT_AVP, &d, utf8, out);
}

static int resolve_avp(cx_dict_t *cx, int i)
{
    struct dict_object *o;
    int rc = find_avp(cx->dict, avps[i].code, avps[i].vendor, &o);
    if (rc == 0 && !o && avps[i].ours)
        rc = add_avp(cx, i, &o);
    if (rc || !o) {
        log_error("diameter: AVP %s (%u, vendor %u) is not in the dictionary; is "
                  "dict_dcca_3gpp.fdx loaded?",
                  avps[i].name, avps[i].code, avps[i].vendor);
        return rc ? rc : ENOENT;
    }
    struct dict_avp_data d;
    fd_dict_getval(o, &d);
    if (d.avp_basetype != avps[i].type || (d.avp_flag_val & (V | M)) != avps[i].flags) {
        log_error("diameter: AVP %s (%u) in the dictionary has type %d flags 0x%x; Cx needs "
                  "type %d flags 0x%x",
                  avps[i].name, avps[i].code, d.avp_basetype, d.avp_flag_val, avps[i].type,
                  avps[i].flags);
        return EINVAL;
    }
    cx->avp[i] = o;
    return 0;
}

static int add_app(cx_dict_t *cx)
{
    vendor_id_t vid = CX_VENDOR_3GPP;
    application_id_t aid = CX_APP_ID;
    int rc = fd_dict_search(cx->dict, DICT_VENDOR, VENDOR_BY_ID, &vid, &cx->vendor, ENOENT);
    if (rc) {
        log_error("diameter: vendor 3GPP (10415) is not in the dictionary");
        return rc;
    }
    fd_dict_search(cx->dict, DICT_APPLICATION, APPLICATION_BY_ID, &aid, &cx->app, 0);
    if (cx->app)
        return 0;
    struct dict_application_data app = {CX_APP_ID, "3GPP Cx"};
    return fd_dict_new(cx->dict, DICT_APPLICATION, &app, cx->vendor, &cx->app);
}

static int add_cmd(cx_dict_t *cx, int i)
{
    command_code_t code = cmds[i].code;
    int rc = fd_dict_search(cx->dict, DICT_COMMAND, cmds[i].request ? CMD_BY_CODE_R : CMD_BY_CODE_A,
                            &code, &cx->cmd[i], 0);
    if (rc == 0 && cx->cmd[i])
        return 0;
    struct dict_cmd_data d = {
        cmds[i].code, (char *)cmds[i].name, CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE,
        (uint8_t)((cmds[i].request ? CMD_FLAG_REQUEST : 0) | CMD_FLAG_PROXIABLE)};
    if (cmds[i].request)
        d.cmd_flag_mask |= CMD_FLAG_ERROR; /* a request never has E set */
    return fd_dict_new(cx->dict, DICT_COMMAND, &d, cx->app, &cx->cmd[i]);
}

int cx_dict_init(struct dictionary *dict, cx_dict_t *cx)
{
    memset(cx, 0, sizeof *cx);
    cx->dict = dict;
    int rc = add_app(cx);
    for (int i = 0; rc == 0 && i < CX_CMD_COUNT; i++)
        rc = add_cmd(cx, i);
    for (int i = 0; rc == 0 && i < CX_AVP_COUNT; i++)
        rc = resolve_avp(cx, i);
    if (rc)
        log_error("diameter: the Cx dictionary could not be set up (%s)", strerror(rc));
    return rc;
}
