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

/* A call whose answer the loop produces later than fn's return (e.g. an asynchronous store
 * answering in a later loop turn), for an HTTP or freeDiameter thread that must wait for it.
 * The lock and condition variable of the wait live here, not in the modules. */
typedef struct loopq_wait loopq_wait_t;

/* Runs on the loop. It must make loopq_wait_done(w) be called exactly once, now or from a later
 * callback on the loop (the store's answer). It also runs from loopq_flush()/loopq_free() at
 * shutdown, possibly after the module that posted it is gone: it must check (e.g. through the
 * program's app pointer) and then call loopq_wait_done(w) at once. */
typedef void (*loopq_async_fn)(loopq_wait_t *w, void *arg);

/* Any thread but the loop's: runs fn(w, arg) on the loop and waits up to timeout_ms for
 * loopq_wait_done(w).
 *  0: done in time; arg is the caller's again (free_arg is not called).
 * -1: not done in time, or the queue refused the call (closed, full, out of memory). arg then
 *     belongs to the wait and the caller must not touch it: free_arg(arg) (if not NULL) runs
 *     exactly once when nobody needs it any more: at once when refused; on the loop, without
 *     running fn, when the wait gave up before fn started; else in loopq_wait_done(). */
int loopq_call_async(loopq_t *q, loopq_async_fn fn, void *arg, void (*free_arg)(void *),
                     int timeout_ms);

/* Loop thread, exactly once per fn run: the answer is in arg. The waiter wakes up; w (and arg,
 * if the waiter gave up) may be freed before this returns, so touch neither afterwards. */
void loopq_wait_done(loopq_wait_t *w);

/* Stop accepting posts; pending items still run. */
void loopq_close(loopq_t *q);

size_t loopq_depth(loopq_t *q);

/* Loop thread: run what is queued now (at shutdown, after the producers have stopped). */
void loopq_flush(loopq_t *q);

#endif
