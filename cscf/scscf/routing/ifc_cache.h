/* Parsed iFCs per IMPI, so an initial request does not parse the subscription XML again. An
 * entry is keyed by IMPI and holds the text it was parsed from: a new profile (SAR, PPR) is
 * parsed once on its first use. */
#ifndef CSCF_SCSCF_IFC_CACHE_H
#define CSCF_SCSCF_IFC_CACHE_H

#include <stddef.h>

#include "cscf/scscf/routing/ifc.h"

typedef struct ifc_cache ifc_cache_t;

/* At most max IMPIs; when full, the cache starts again empty (a parse costs tens of
 * microseconds, so a rare full reset is cheaper than LRU bookkeeping on every request). */
ifc_cache_t *ifc_cache_new(size_t max);
void ifc_cache_free(ifc_cache_t *c);

/* The iFCs of profile (the User-Data of impi's registration), or NULL when it has none or
 * cannot be read (logged once per profile text). Valid until the next call. */
const ifc_list_t *ifc_cache_get(ifc_cache_t *c, const char *impi, const char *profile);
size_t ifc_cache_size(const ifc_cache_t *c);

#endif
