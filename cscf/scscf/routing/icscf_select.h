/* Which S-CSCF serves a user, from what the HSS answered to a UAR or LIR (TS 29.228 6.1.1.1,
 * 6.1.4.1; TS 23.228 5.4.3 S-CSCF assignment). Pure functions: no loop, no network. */
#ifndef CSCF_SCSCF_ICSCF_SELECT_H
#define CSCF_SCSCF_ICSCF_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "diameter/cx_msg.h"

#define ICSCF_URI_MAX  256
#define ICSCF_MAX_CAPS 16

/* One S-CSCF the I-CSCF knows, with the capabilities it offers (operator-defined numbers,
 * the values of Mandatory-/Optional-Capability). */
typedef struct icscf_scscf {
    char uri[ICSCF_URI_MAX];
    uint32_t caps[ICSCF_MAX_CAPS];
    size_t ncaps;
} icscf_scscf_t;

/* "sip:host[:port][;params] [capability ...]" (capabilities: decimal, space-separated).
 * 0, or -1 with the reason in err. */
int icscf_scscf_parse(const char *text, icscf_scscf_t *out, char *err, size_t errlen);

/* The S-CSCF for an answer: its Server-Name when it has one; else, from Server-Capabilities,
 * the S-CSCF that has every mandatory capability and most optional ones, preferring the names
 * the HSS listed (in its order; a listed name we have no entry for counts as having what is
 * asked, since the HSS offered it) over our own list (in configured order). NULL: none fits.
 * The result points into ans or list. */
const char *icscf_choose(const icscf_scscf_t *list, size_t n, const cx_msg_t *ans);

#endif
