/* The IMS subscription XML the HSS sends in SAA User-Data (TS 29.228 Annex E): what the
 * registrar needs from it (the implicit registration set and barring). The iFCs are read by
 * ifc.c for routing (isc.c) and third-party registration (thirdparty.c). */
#ifndef CSCF_SCSCF_PROFILE_H
#define CSCF_SCSCF_PROFILE_H

#include <stddef.h>

#define PROFILE_MAX_IDS 32

typedef struct profile_ids {
    char *impi;
    char *impus[PROFILE_MAX_IDS];
    int barred[PROFILE_MAX_IDS];
    size_t n;
} profile_ids_t;

/* 0, or -1 when the XML is malformed or has no public identity. */
int profile_parse_ids(const char *xml, size_t len, profile_ids_t *out);
void profile_ids_clear(profile_ids_t *ids);

#endif
