/* SDP -> policy media (policy_sdp.h). Skeleton. */
#include "cscf/pcscf/policy/policy_sdp.h"

int policy_sdp_fill(policy_desc_t *d, const char *ue_sdp, size_t ue_len, const char *peer_sdp,
                    size_t peer_len, int ue_offered)
{
    (void)ue_sdp;
    (void)ue_len;
    (void)peer_sdp;
    (void)peer_len;
    (void)ue_offered;
    d->n_media = 0;
    return -1;
}
