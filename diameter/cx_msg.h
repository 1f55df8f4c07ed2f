/* A Cx request or answer as a plain C struct, so that code on the SIP loop never touches
 * freeDiameter objects (ARCHITECTURE.md section 2). One struct serves every command: each command
 * uses the fields TS 29.229 section 6.1 gives it, the others stay empty.
 *
 * cx_encode() adds the set fields to a freeDiameter message; cx_decode() fills the struct from
 * a received one. Neither judges which fields a command needs: the handlers do. */
#ifndef CSCF_CX_MSG_H
#define CSCF_CX_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "diameter/cx_dict.h"

#define CX_MAX_ITEMS 8 /* auth vectors per MAA */
#define CX_MAX_IDS   32
#define CX_MAX_CAPS  16
#define CX_ABSENT    (-1)

/* Result codes (RFC 6733 7.1, TS 29.229 6.2) */
#define DIAMETER_SUCCESS                           2001
#define DIAMETER_UNABLE_TO_COMPLY                  5012
#define DIAMETER_MISSING_AVP                       5005
#define DIAMETER_INVALID_AVP_VALUE                 5004
#define DIAMETER_UNABLE_TO_DELIVER                 3002
#define DIAMETER_TOO_BUSY                          3004
#define DIAMETER_FIRST_REGISTRATION                2001 /* experimental */
#define DIAMETER_SUBSEQUENT_REGISTRATION           2002
#define DIAMETER_UNREGISTERED_SERVICE              2003
#define DIAMETER_SERVER_SELECTION                  2004
#define DIAMETER_ERROR_USER_UNKNOWN                5001
#define DIAMETER_ERROR_IDENTITIES_DONT_MATCH       5002
#define DIAMETER_ERROR_IDENTITY_NOT_REGISTERED     5003
#define DIAMETER_ERROR_ROAMING_NOT_ALLOWED         5004
#define DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED 5005
#define DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED   5006
#define DIAMETER_ERROR_IN_ASSIGNMENT_TYPE          5007
#define DIAMETER_ERROR_TOO_MUCH_DATA               5008
#define DIAMETER_ERROR_NOT_SUPPORTED_USER_DATA     5009

/* Server-Assignment-Type (TS 29.229 6.3.15) */
typedef enum {
    CX_SAT_NO_ASSIGNMENT = 0,
    CX_SAT_REGISTRATION = 1,
    CX_SAT_RE_REGISTRATION = 2,
    CX_SAT_UNREGISTERED_USER = 3,
    CX_SAT_TIMEOUT_DEREGISTRATION = 4,
    CX_SAT_USER_DEREGISTRATION = 5,
    CX_SAT_TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME = 6,
    CX_SAT_USER_DEREGISTRATION_STORE_SERVER_NAME = 7,
    CX_SAT_ADMINISTRATIVE_DEREGISTRATION = 8,
    CX_SAT_AUTHENTICATION_FAILURE = 9,
    CX_SAT_AUTHENTICATION_TIMEOUT = 10,
    CX_SAT_DEREGISTRATION_TOO_MUCH_DATA = 11,
    CX_SAT_AAA_USER_DATA_REQUEST = 12,
    CX_SAT_PGW_UPDATE = 13,
    CX_SAT_RESTORATION = 14,
} cx_sat_t;

typedef struct cx_auth_item {
    uint32_t item_number; /* 0: absent */
    char *scheme;         /* "Digest-AKAv1-MD5", "SIP Digest", ... */
    uint8_t authenticate[64];
    size_t authenticate_len; /* RAND || AUTN */
    uint8_t authorization[64];
    size_t authorization_len; /* XRES; in a resync MAR, RAND || AUTS */
    uint8_t ck[16], ik[16];
    int has_ck, has_ik;
    /* SIP-Digest-Authenticate (MD5 scheme) */
    char *digest_realm, *digest_qop, *digest_algorithm, *digest_ha1;
} cx_auth_item_t;

typedef struct cx_msg {
    cx_cmd_t cmd;
    /* routing; on decode: who sent it */
    char *origin_host, *origin_realm, *destination_host, *destination_realm;
    /* answers: one of the two is non-zero */
    uint32_t result_code, experimental_result;
    char *user_name; /* IMPI */
    char *public_ids[CX_MAX_IDS];
    size_t npublic;
    char *visited_network;
    char *server_name;
    int32_t user_authorization_type;     /* CX_ABSENT when not present */
    int32_t server_assignment_type;      /* cx_sat_t */
    int32_t user_data_already_available; /* 0 / 1 */
    uint32_t auth_items;                 /* SIP-Number-Auth-Items */
    cx_auth_item_t items[CX_MAX_ITEMS];
    size_t nitems;
    char *user_data; /* IMS subscription XML */
    char *charging_ecf, *charging_ccf;
    /* Server-Capabilities */
    uint32_t mandatory_caps[CX_MAX_CAPS], optional_caps[CX_MAX_CAPS];
    size_t nmandatory, noptional;
    char *cap_servers[CX_MAX_CAPS];
    size_t ncap_servers;
    /* Deregistration-Reason (RTR) */
    int32_t reason_code;
    char *reason_info;
    char *associated_ids[CX_MAX_IDS]; /* Associated-Identities: User-Name values */
    size_t nassociated;
} cx_msg_t;

/* An empty message of cmd (integers CX_ABSENT, pointers NULL). */
void cx_msg_init(cx_msg_t *m, cx_cmd_t cmd);
/* Frees every owned string and resets to empty. */
void cx_msg_clear(cx_msg_t *m);

/* dst (uninitialised) becomes a deep copy of src: 0, or -1 (out of memory) with dst empty. */
int cx_msg_copy(cx_msg_t *dst, const cx_msg_t *src);

/* Helpers that copy (NULL-safe, s may be NULL): */
int cx_msg_set(char **field, const char *s);
int cx_msg_add_public(cx_msg_t *m, const char *impu);
cx_auth_item_t *cx_msg_add_item(cx_msg_t *m);

/* Human-readable name of a result ("DIAMETER_SUCCESS", "DIAMETER_ERROR_USER_UNKNOWN"). */
const char *cx_result_name(uint32_t result_code, uint32_t experimental);

/* A new request of m->cmd carrying m's fields, with Session-Id, Vendor-Specific-Application-Id,
 * Auth-Session-State, Origin-* (ours) and Destination-*. 0 or an errno. */
int cx_encode_request(const cx_dict_t *cx, const cx_msg_t *m, struct msg **out);

/* Turns *req (a received request) into its answer carrying m's fields and result. */
int cx_encode_answer(const cx_dict_t *cx, const cx_msg_t *m, struct msg **req);

/* Fills m (cx_msg_init'ed by the call) from a parsed message. 0, or an errno with m cleared. */
int cx_decode(const cx_dict_t *cx, struct msg *msg, cx_msg_t *m);

/* Which Cx command a message is (CX_CMD_COUNT when none). */
cx_cmd_t cx_msg_command(struct msg *msg);

#endif
