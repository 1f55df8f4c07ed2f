/* The identities a REGISTER names, derived once for every node that needs them (the P-CSCF's
 * binding, the I-CSCF's UAR, the S-CSCF's registrar):
 *
 *   IMPU: the To header's address of record, in the form registrations are keyed by
 *         (sip_impu_of()). TS 24.229 5.1.1.2.1: the To of a REGISTER is a SIP URI holding the
 *         public user identity, so a tel: (or any other) To is refused.
 *   IMPI: the Authorization header's username (TS 33.203 6.1.1, TS 24.229 5.1.1.2), preferring
 *         the credentials for `realm` (the home domain) when several are present; without one,
 *         the IMPU with its scheme stripped (TS 24.229 5.3.1.2 and 5.4.1.2.1, TS 23.003 13.3:
 *         the IMPI is a NAI, user@realm). A sip: IMPU without a user part gives no NAI, so then
 *         there is no IMPI and the REGISTER is refused. */
#ifndef CSCF_SIP_IDS_H
#define CSCF_SIP_IDS_H

#include <sofia-sip/sip.h>

#include "common/auth/sip_digest.h"

typedef enum sip_ids_error {
    SIP_IDS_OK = 0,
    SIP_IDS_NO_TO = -1,    /* no To header */
    SIP_IDS_BAD_IMPU = -2, /* To is not a sip: or sips: URI, has no host, or is too long */
    SIP_IDS_NO_IMPI = -3,  /* no Authorization username and the IMPU has no user part */
} sip_ids_error_t;

typedef struct sip_ids {
    char impu[256], impi[256];
    int from_auth; /* the IMPI is an Authorization header's username */
} sip_ids_t;

/* Fills ids (and creds, when not NULL, with the Authorization the IMPI came from: zeroed when
 * none) from a REGISTER. realm may be NULL (any realm). SIP_IDS_OK or an error; on an error
 * ids holds no identity. */
sip_ids_error_t sip_register_identities(sip_t const *sip, const char *realm, sip_ids_t *ids,
                                        digest_creds_t *creds);

/* The reason phrase of the 400 a REGISTER with this error gets. */
const char *sip_ids_phrase(sip_ids_error_t err);

#endif
