/* Services for a user of ours who is registered nowhere (TS 24.229 5.4.3.3, TS 29.228 6.1.2):
 * the first terminating request for such an IMPU asks the HSS for the profile with SAR
 * UNREGISTERED_USER (this S-CSCF is then assigned to the user), so its terminating-unregistered
 * iFCs (voicemail, SMS store) can run. The profile is kept for a while so the next request does
 * not ask again; a PPR or RTR for the user drops it. */
#ifndef CSCF_SCSCF_UNREG_H
#define CSCF_SCSCF_UNREG_H

#include "common/store/store.h"

typedef struct scscf scscf_t;
typedef struct unreg unreg_t;

/* The profile is kept this long after the SAR. */
#define UNREG_PROFILE_SECONDS 3600
#define UNREG_MAX_USERS       100000

unreg_t *unreg_new(scscf_t *s);
void unreg_free(unreg_t *u);

/* status 200: reg (impi, profile, the IMPU; no contacts) is valid during the call only;
 * 404: the HSS does not know the IMPU; 480: the HSS did not answer or refused (the callee is
 * unavailable either way, so the caller is not told about our HSS). */
typedef void (*unreg_f)(void *arg, int status, const store_reg_t *reg);
void unreg_get(unreg_t *u, const char *impu, unreg_f cb, void *arg);

/* Drops what is held for impi (PPR, RTR). 1 when something was held. */
int unreg_forget_impi(unreg_t *u, const char *impi);
size_t unreg_size(const unreg_t *u);

#endif
