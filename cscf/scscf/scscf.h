/* The top of the scscf (main.c, cx_handlers.c, cx_debug.c): what it sets up over the
 * registration and routing layers. The context struct itself is core/context.h. */
#ifndef CSCF_SCSCF_H
#define CSCF_SCSCF_H

#include "cscf/scscf/core/context.h"

/* cx_handlers.c: what the scscf answers (RTR, PPR). */
extern const cx_node_handler_t scscf_cx_handlers[];
extern const size_t scscf_cx_nhandlers;

/* cx_debug.c: POST /api/v1/cx/{command}, an operator's way to ask the HSS by hand. */
int scscf_cx_debug_routes(scscf_t *s);

#endif
