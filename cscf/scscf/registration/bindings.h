/* Bindings after a successful authentication (RFC 3261 10.3, TS 24.229 5.4.1.2): the REGISTER's
 * contacts applied to the registration, SAR, the store, and the 200 OK. */
#ifndef CSCF_SCSCF_BINDINGS_H
#define CSCF_SCSCF_BINDINGS_H

#include "common/store/store.h"
#include "cscf/scscf/registration/reg_req.h"

/* Applies req's contacts to req->reg and answers (req is consumed). */
void bindings_apply(reg_req_t *req);
/* The HSS's User-Data becomes reg's profile and implicit set (registered IMPU first). 0, or -1
 * when the XML names no identity (reg unchanged). */
int bindings_set_profile(store_reg_t *reg, const char *xml, const char *registered);

#endif
