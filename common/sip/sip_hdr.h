/* Small header and URI helpers the proxies share: headers sofia's default parser keeps as
 * unknown (P-Asserted-Identity, P-Charging-Vector, ...), and the address-of-record form of a
 * URI that the registration store is keyed by. */
#ifndef CSCF_SIP_HDR_H
#define CSCF_SIP_HDR_H

#include <stddef.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

/* The value of the first header called `name` (case-insensitive) that sofia left unknown. */
const char *sip_hdr_get(sip_t const *sip, const char *name);
/* Removes every unknown header called `name`; how many. */
int sip_hdr_remove(msg_t *msg, sip_t *sip, const char *name);
/* Adds "Name: value" as a header of its own (before the body). 0 or -1. */
int sip_hdr_add(msg_t *msg, sip_t *sip, const char *name, const char *value);

/* "sip:user@host" (host lower-cased, no port or parameters) or "tel:+number" (visual
 * separators removed): the form IMPUs are stored and looked up in. 0, or -1 when the URI has no
 * such form (no user part for sip:, too long). */
int sip_uri_aor(const url_t *u, char *out, size_t len);
/* The same for a URI given as text, with or without <>, e.g. a P-Asserted-Identity value. */
int sip_uri_aor_str(const char *text, char *out, size_t len);

/* The service of an RFC 5031 service URN ("sos.fire" of urn:service:sos.fire), else NULL.
 * Sofia parses urn:service:x as host "service", port "x". */
const char *sip_url_urn_service(const url_t *u);
/* Is it urn:service:sos or one of its sub-services (urn:service:sos.police)? */
int sip_url_is_sos(const url_t *u);

/* Calls fn for each URI of a name-addr list ("<sip:a@x>;p, "B" <tel:+1>"), e.g.
 * P-Associated-URI; stops when fn returns non-zero and returns that value. */
int sip_uri_list_each(const char *list, int (*fn)(void *ctx, const char *uri), void *ctx);

#endif
