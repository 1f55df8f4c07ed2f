/* The one queue through which other threads (freeDiameter, HTTP) hand work to the SIP loop.
 *
 * A mutex-protected FIFO plus an eventfd registered in the su_root: posting wakes the loop,
 * which runs the callbacks in order on its own thread. Nothing else crosses threads. */
#ifndef CSCF_LOOPQ_H
#define CSCF_LOOPQ_H

#include <stddef.h>
#include <sofia-sip/su_wait.h>

typedef struct loopq loopq_t;
typedef void (*loopq_fn)(void *arg);

/* Created and freed on the loop thread. max_depth bounds memory (0 = 65536). */
loopq_t *loopq_new(su_root_t *root, size_t max_depth);
void loopq_free(loopq_t *q);

/* Any thread. fn(arg) runs later on the loop thread. Returns 0, or -1 when the queue is full
 * or closed (the caller still owns arg then). */
int loopq_post(loopq_t *q, loopq_fn fn, void *arg);

/* Any thread but the loop's: run fn(arg) on the loop and wait for it. Returns 0 when fn ran, -1
 * when it did not start within timeout_ms (it then never runs, so arg may live on the stack). */
int loopq_call(loopq_t *q, loopq_fn fn, void *arg, int timeout_ms);

/* Stop accepting posts; pending items still run. */
void loopq_close(loopq_t *q);

size_t loopq_depth(loopq_t *q);

/* Loop thread: run what is queued now (at shutdown, after the producers have stopped). */
void loopq_flush(loopq_t *q);

#endif
