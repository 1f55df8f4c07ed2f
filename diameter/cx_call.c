#include "diameter/cx_call.h"

#include <stdlib.h>

#include "diameter/cx_json.h"

typedef struct call {
    cx_client_t *client;
    const cx_msg_t *req; /* the caller's: read only while it waits (fn runs before it gives up) */
    loopq_wait_t *wait;
    cx_call_result_t result;
} call_t;

/* Loop thread. */
static void on_answer(void *arg, cx_status_t status, const cx_msg_t *answer)
{
    call_t *c = arg;
    c->result.status = status;
    c->result.answer = answer ? cx_msg_to_json(answer) : NULL;
    if (answer) {
        c->result.result_code = answer->result_code;
        c->result.experimental_result = answer->experimental_result;
    }
    loopq_wait_done(c->wait);
}

/* Loop thread: the answer (or cx_client's own timeout) ends the wait. */
static void send_on_loop(loopq_wait_t *w, void *arg)
{
    call_t *c = arg;
    c->wait = w;
    c->result.sent = cx_client_send(c->client, c->req, on_answer, c) != 0;
    if (!c->result.sent)
        loopq_wait_done(w);
}

static void free_call(void *arg)
{
    call_t *c = arg;
    json_decref(c->result.answer);
    free(c);
}

void cx_call(loopq_t *q, cx_client_t *client, const cx_msg_t *req, int timeout_ms,
             cx_call_result_t *out)
{
    *out = (cx_call_result_t){0};
    call_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->client = client;
    c->req = req;
    /* cx_client times the request out after the configured Diameter timeout, sends it once
     * more to another peer and times that out too, then answers CX_TIMEOUT; the extra second
     * covers the loop's own delay. A wait that gives up anyway leaves c to the late answer
     * (free_call then). */
    if (loopq_call_async(q, send_on_loop, c, free_call, 2 * timeout_ms + 1000) < 0) {
        out->sent = 1;
        out->status = CX_TIMEOUT;
        return;
    }
    *out = c->result;
    free(c);
}
