/* The lab HSS's subscriber: identities, AKA and Digest credentials, and the service profile
 * (initial filter criteria) that the SAA's User-Data carries. One JSON schema serves the
 * subscriber file (subscriber_file.c) and the REST API; field names are listed in
 * config/subscribers.yaml. */
#ifndef CSCF_HSS_SUBSCRIBER_H
#define CSCF_HSS_SUBSCRIBER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Bit flags: a subscriber's `schemes` is a set of them. */
typedef enum { HSS_SCHEME_AKAV1 = 1, HSS_SCHEME_AKAV2 = 2, HSS_SCHEME_MD5 = 4 } hss_scheme_t;

/* TS 29.228 SessionCase values (tDirectionOfRequest). */
enum {
    HSS_SESSION_ORIGINATING = 0,
    HSS_SESSION_TERMINATING_REGISTERED = 1,
    HSS_SESSION_TERMINATING_UNREGISTERED = 2,
    HSS_SESSION_ORIGINATING_UNREGISTERED = 3,
    HSS_SESSION_ORIGINATING_CDIV = 4,
};

typedef enum { SPT_METHOD, SPT_SESSION_CASE, SPT_HEADER, SPT_REQUEST_URI } hss_spt_kind_t;

/* One service point trigger. */
typedef struct {
    int group;
    int negated;
    hss_spt_kind_t kind;
    char *value;      /* method, header name or request-URI; NULL for SPT_SESSION_CASE */
    char *content;    /* SPT_HEADER: regular expression for the content, or NULL (= presence) */
    int session_case; /* SPT_SESSION_CASE: 0..4 (HSS_SESSION_*) */
} hss_spt_t;

/* One initial filter criterion. */
typedef struct {
    int priority;
    int cnf; /* 1: conjunctive normal form (ConditionTypeCNF), 0: disjunctive */
    hss_spt_t *spts;
    size_t nspts; /* 0: always matches */
    char *as_uri;
    int default_handling; /* 0 SESSION_CONTINUED, 1 SESSION_TERMINATED */
    char *service_info;   /* or NULL */
    int include_register_request, include_register_response;
} hss_ifc_t;

typedef struct {
    char *impi;
    char **impus; /* the implicit registration set; impus[0] is the default IMPU */
    size_t nimpus;
    uint8_t k[16];
    uint8_t op[16]; /* OPc when op_is_opc, else OP */
    int op_is_opc;
    uint8_t amf[2];
    uint64_t sqn;     /* 48 bits */
    unsigned schemes; /* hss_scheme_t flags, never 0 */
    char *password;   /* Digest (MD5) password, or NULL */
    char **barred;    /* each is one of impus, never impus[0] */
    size_t nbarred;
    hss_ifc_t *ifcs; /* in the order given; priorities are unique */
    size_t nifcs;
} hss_subscriber_t;

/* Validates obj against the schema and fills *out (owned by the caller: hss_subscriber_clear).
 * Returns 0, or -1 with err = "FIELD: reason" (e.g. "ifc[1].triggers[0].method: expected a SIP
 * method token"); *out is untouched and nothing is leaked on -1. Integers and booleans may be
 * JSON numbers/booleans or strings ("3", "true"), as the YAML loader gives every scalar as a
 * string. Secrets (k, op, opc, password) are never quoted in err. */
int hss_subscriber_from_json(const json_t *obj, hss_subscriber_t *out, char *err, size_t errlen);

/* The same schema back (new reference). with_secrets = 0 leaves out k, op, opc and password
 * (REST reads: keys are write-only). sqn is 12 and amf 4 lowercase hex digits. NULL when out of
 * memory. */
json_t *hss_subscriber_to_json(const hss_subscriber_t *s, int with_secrets);

/* Frees the members and zeroes *s (keys included); safe on a zeroed struct. */
void hss_subscriber_clear(hss_subscriber_t *s);

/* 1 when impu (exact string) is one of the subscriber's IMPUs / barred IMPUs, else 0. */
int hss_subscriber_has_impu(const hss_subscriber_t *s, const char *impu);
int hss_subscriber_is_barred(const hss_subscriber_t *s, const char *impu);

/* "AKAv1-MD5", "AKAv2-MD5", "MD5"; parsing also takes "Digest-AKAv1-MD5", "Digest-AKAv2-MD5",
 * "Digest-MD5" and "SIP Digest", all case-insensitively. parse returns 0 or -1; name returns NULL
 * for a value that is not exactly one scheme. */
int hss_scheme_parse(const char *name, hss_scheme_t *out);
const char *hss_scheme_name(hss_scheme_t scheme);

/* "originating", "terminating_registered", ... for 0..4; NULL otherwise. */
const char *hss_session_case_name(int session_case);

/* ---- the subscriber file (subscriber_file.c) ---- */

/* Loads a YAML file whose only top-level key, `subscribers`, holds a list of subscribers in the
 * schema above. Returns 0 with a malloc'd array in *out (NULL when the list is empty) and its
 * length in *n, or -1 with nothing allocated and err = "PATH:LINE: subscribers[INDEX] (impi
 * NAME): FIELD: reason" (LINE is the field's line when it is in the file, else the entry's; the
 * impi part only when known), or "PATH:LINE: reason" for the file as a whole (YAML syntax, a
 * top-level key other than subscribers, aliases, duplicate keys) or "PATH: cannot open: ...".
 * Also rejected: an impi given twice, and an IMPU that belongs to two subscribers. */
int hss_subscribers_load(const char *path, hss_subscriber_t **out, size_t *n, char *err,
                         size_t errlen);
/* The same from text; name stands for PATH in messages. */
int hss_subscribers_load_string(const char *name, const char *yaml, hss_subscriber_t **out,
                                size_t *n, char *err, size_t errlen);
void hss_subscribers_free(hss_subscriber_t *subs, size_t n);

#endif
