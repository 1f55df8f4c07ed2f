/* Initial filter criteria (TS 29.228 Annex B/C/F): read every InitialFilterCriteria from the
 * IMS subscription XML of a SAA's User-Data and find the next one a request matches, so the
 * S-CSCF can route it to that application server over ISC. */
#ifndef CSCF_SCSCF_IFC_H
#define CSCF_SCSCF_IFC_H

#include <stddef.h>

#include <sofia-sip/sip.h>

/* Bounds on what one subscription may carry; beyond them the whole profile is refused. */
#define IFC_MAX_IFCS   64
#define IFC_MAX_SPTS   64
#define IFC_MAX_GROUPS 16 /* <Group> elements in one SPT */
/* Characters in one regular expression; no real trigger needs more. */
#define IFC_MAX_REGEX 1024
/* Atoms in one regular expression once its repetitions are expanded (see ifc.c). */
#define IFC_MAX_REGEX_ATOMS 4096

/* TS 29.228 SessionCase values. */
typedef enum {
    IFC_ORIG = 0,
    IFC_TERM_REG = 1,
    IFC_TERM_UNREG = 2,
    IFC_ORIG_UNREG = 3,
    IFC_ORIG_CDIV = 4,
} ifc_case_t;

typedef struct ifc ifc_t;           /* one InitialFilterCriteria (opaque) */
typedef struct ifc_list ifc_list_t; /* all iFCs of a subscription, Priority ascending */

/* The ApplicationServer of one iFC; strings live as long as the list. */
typedef struct ifc_as {
    const char *server_name;
    int default_handling;     /* 0 SESSION_CONTINUED, 1 SESSION_TERMINATED */
    const char *service_info; /* or NULL */
    int include_register_request, include_register_response;
    int priority;
} ifc_as_t;

/* Every InitialFilterCriteria of every ServiceProfile of the <IMSSubscription> in xml, in
 * ascending Priority (document order among equal priorities). The XML comes from a peer: no
 * network, no DTD (a document with one is refused), no entity expansion. Returns NULL with err
 * set when the XML is malformed, a value is out of range, a regular expression does not
 * compile or a bound above is exceeded; a subscription without iFCs gives an empty list. */
ifc_list_t *ifc_list_parse(const char *xml, size_t len, char *err, size_t errlen);
void ifc_list_free(ifc_list_t *l);
size_t ifc_list_count(const ifc_list_t *l);

/* The index of the first iFC at index >= from whose trigger point matches the request for
 * session case sc, or -1. Call with from = 0, then with the last index + 1 when the request
 * comes back from the application server. */
int ifc_next_match(const ifc_list_t *l, size_t from, ifc_case_t sc, sip_t const *sip);

/* 1 when iFC index's trigger point matches (ProfilePartIndicator included), else 0. */
int ifc_matches(const ifc_list_t *l, size_t index, ifc_case_t sc, sip_t const *sip);

/* The application server of iFC index, or NULL when index is out of range. */
const ifc_as_t *ifc_get_as(const ifc_list_t *l, size_t index);

#endif
