/* The Cx User-Data of a Server-Assignment-Answer: the subscriber's IMS subscription as the
 * TS 29.228 Annex E XML document (Annex B is its information model). */
#ifndef CSCF_HSS_USER_DATA_H
#define CSCF_HSS_USER_DATA_H

#include "diameter/hss/subscriber.h"

/* One <IMSSubscription> with the private identity and one <ServiceProfile>: a <PublicIdentity>
 * per IMPU (the implicit registration set, default first; barred ones flagged) and an
 * <InitialFilterCriteria> per iFC in ascending priority. Text is XML-escaped. malloc'd (free());
 * NULL when out of memory. */
char *hss_user_data_xml(const hss_subscriber_t *s);

#endif
