/* A Cx request sent from an HTTP handler, which waits for the answer: the request goes out on
 * the loop (cx_client is loop-only), the answer callback runs on the loop and wakes the HTTP
 * thread. For operator actions (REST), never for SIP traffic. */
#ifndef CSCF_CX_CALL_H
#define CSCF_CX_CALL_H

#include <jansson.h>

#include "common/ops/loopq.h"
#include "diameter/cx_client.h"

typedef struct cx_call_result {
    int sent;           /* 0: could not be sent (status meaningless) */
    cx_status_t status; /* CX_ANSWERED, CX_TIMEOUT, CX_FAILED */
    uint32_t result_code, experimental_result;
    json_t *answer; /* the decoded answer (cx_msg_to_json), or NULL; the caller decrefs */
} cx_call_result_t;

/* HTTP thread. Blocks for at most 2 timeout_ms + 1 s (a request that times out is sent once
 * more to another peer); not answered by then (or the loop refused the call): sent 1, status
 * CX_TIMEOUT. */
void cx_call(loopq_t *q, cx_client_t *client, const cx_msg_t *req, int timeout_ms,
             cx_call_result_t *out);

#endif
