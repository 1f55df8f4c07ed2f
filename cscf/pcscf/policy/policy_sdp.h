/* SDP offer/answer -> the media of a policy_desc_t (sofia's SDP parser). Pure: unit-tested. */
#ifndef CSCF_POLICY_SDP_H
#define CSCF_POLICY_SDP_H

#include <stddef.h>

#include "cscf/pcscf/policy/policy_desc.h"

/* Fills d->media and d->n_media from the UE's SDP and the far side's (either NULL/0 when not
 * known yet); ue_offered: the UE's SDP is the offer (else the far side's is). d->answered
 * becomes 1 when both are there. 0, or -1 when an SDP given does not parse or has no m= line. */
int policy_sdp_fill(policy_desc_t *d, const char *ue_sdp, size_t ue_len, const char *peer_sdp,
                    size_t peer_len, int ue_offered);

#endif
