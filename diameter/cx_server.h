/* Cx requests received from peers (RTR/PPR at the S-CSCF; MAR/SAR/UAR/LIR at the HSS).
 *
 * On the freeDiameter thread the request becomes a plain cx_msg_t and goes through the loop
 * queue; on the loop the program's handler looks at it, acts, and answers with
 * cx_server_answer(), at once or later. So the answer says what the loop really did. */
#ifndef CSCF_CX_SERVER_H
#define CSCF_CX_SERVER_H

#include "common/ops/loopq.h"
#include "common/ops/metrics.h"
#include "diameter/cx_msg.h"

typedef struct cx_server cx_server_t;
typedef struct cx_reply cx_reply_t;

/* Loop thread. req is valid during the call; reply must be answered exactly once. */
typedef void (*cx_request_f)(void *app, cx_reply_t *reply, const cx_msg_t *req);

cx_server_t *cx_server_new(const cx_dict_t *cx, loopq_t *q, metrics_t *m);
/* Before fd_core_start(): route requests of cmd to fn. 0 or an errno. */
int cx_server_handle(cx_server_t *s, cx_cmd_t cmd, cx_request_f fn, void *app);
/* After freeDiameter stopped and the queue was flushed. */
void cx_server_free(cx_server_t *s);

/* Sends the answer carrying ans's fields and result; frees reply. Loop thread. */
void cx_server_answer(cx_reply_t *reply, const cx_msg_t *ans);
/* Shorthand: an answer with only a Result-Code (or, when experimental, Experimental-Result). */
void cx_server_answer_code(cx_reply_t *reply, uint32_t code, int experimental);

#endif
