#include "diameter/cx_call.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/util/log.h"
#include "diameter/cx_json.h"

typedef struct call {
    cx_client_t *client;
    const cx_msg_t *req;
    uint64_t id;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    cx_call_result_t result;
} call_t;

/* Loop thread. */
static void on_answer(void *arg, cx_status_t status, const cx_msg_t *answer)
{
    call_t *c = arg;
    json_t *j = answer ? cx_msg_to_json(answer) : NULL;
    pthread_mutex_lock(&c->lock);
    c->result.status = status;
    c->result.answer = j;
    if (answer) {
        c->result.result_code = answer->result_code;
        c->result.experimental_result = answer->experimental_result;
    }
    c->done = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void send_on_loop(void *arg)
{
    call_t *c = arg;
    c->id = cx_client_send(c->client, c->req, on_answer, c);
}

static void cancel_on_loop(void *arg)
{
    call_t *c = arg;
    cx_client_cancel(c->client, c->id);
}

static int wait_done(call_t *c, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000 + 1;
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    while (!c->done && rc == 0)
        rc = pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    int done = c->done;
    pthread_mutex_unlock(&c->lock);
    return done;
}

static void free_call(call_t *c)
{
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
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
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (loopq_call(q, send_on_loop, c, 1000) < 0 || c->id == 0) {
        free_call(c);
        return;
    }
    out->sent = 1;
    if (wait_done(c, timeout_ms)) {
        *out = c->result;
        out->sent = 1;
        free_call(c);
        return;
    }
    out->status = CX_TIMEOUT;
    /* Once the cancel has run on the loop, the callback can no longer touch c. */
    if (loopq_call(q, cancel_on_loop, c, 5000) < 0) {
        log_error("api: the loop did not take a Cx cancel within 5 s; leaving the call");
        return;
    }
    json_decref(c->result.answer);
    free_call(c);
}
