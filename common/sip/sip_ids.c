/* IMPU and IMPI of a REGISTER: the one rule, see sip_ids.h. */
#include "common/sip/sip_ids.h"

#include <stdio.h>
#include <string.h>

#include <sofia-sip/url.h>

#include "common/sip/sip_core.h"

/* The Authorization for realm, else the first Digest one of any realm (a UE sends its home
 * realm; one answering another realm still names its IMPI). 0, or -1 when none parses. */
static int creds_of(sip_t const *sip, const char *realm, digest_creds_t *cr)
{
    if (realm && digest_creds_parse(sip->sip_authorization, realm, cr) == 0)
        return 0;
    return digest_creds_parse(sip->sip_authorization, NULL, cr);
}

/* TS 23.003 13.3: the IMPI is a NAI, so only an IMPU with a user part gives one. */
static int derived_impi(const url_t *to, const char *impu, char *out, size_t len)
{
    if (!to->url_user || !*to->url_user)
        return -1;
    const char *nai = strchr(impu, ':') + 1; /* sip_impu_of() wrote "sip:" or "sips:" */
    int n = snprintf(out, len, "%s", nai);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

sip_ids_error_t sip_register_identities(sip_t const *sip, const char *realm, sip_ids_t *ids,
                                        digest_creds_t *creds)
{
    digest_creds_t local;
    digest_creds_t *cr = creds ? creds : &local;
    memset(ids, 0, sizeof *ids);
    memset(cr, 0, sizeof *cr);
    if (!sip || !sip->sip_to)
        return SIP_IDS_NO_TO;
    const url_t *to = sip->sip_to->a_url;
    if ((to->url_type != url_sip && to->url_type != url_sips) ||
        sip_impu_of(to, ids->impu, sizeof ids->impu) < 0) {
        ids->impu[0] = '\0';
        return SIP_IDS_BAD_IMPU;
    }
    if (creds_of(sip, realm, cr) == 0) {
        snprintf(ids->impi, sizeof ids->impi, "%s", cr->username); /* both hold 255 */
        ids->from_auth = 1;
        return SIP_IDS_OK;
    }
    memset(cr, 0, sizeof *cr); /* a malformed one is as none: the registrar challenges */
    if (derived_impi(to, ids->impu, ids->impi, sizeof ids->impi) < 0) {
        memset(ids, 0, sizeof *ids);
        return SIP_IDS_NO_IMPI;
    }
    return SIP_IDS_OK;
}

const char *sip_ids_phrase(sip_ids_error_t err)
{
    switch (err) {
    case SIP_IDS_OK:
        return "OK";
    case SIP_IDS_NO_IMPI:
        return "No IMPI (Authorization Needed)";
    case SIP_IDS_NO_TO:
    case SIP_IDS_BAD_IMPU:
        break;
    }
    return "Bad To (IMPU)";
}
