/* loopq.c: work posted from other threads runs on the loop thread, in order, exactly once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <unistd.h>

#include "common/ops/loopq.h"

#define PRODUCERS    4
#define PER_PRODUCER 5000

typedef struct fixture {
    su_root_t *root;
    loopq_t *q;
    pthread_t loop_thread;
    long count;           /* touched only on the loop thread */
    long last[PRODUCERS]; /* last sequence number seen per producer */
    int out_of_order;
} fixture_t;

typedef struct job {
    fixture_t *f;
    int producer;
    long seq;
} job_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    su_init();
    f->root = su_root_create(NULL);
    f->q = loopq_new(f->root, 0);
    for (int i = 0; i < PRODUCERS; i++)
        f->last[i] = -1;
    *state = f;
    return f->root && f->q ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    loopq_free(f->q);
    su_root_destroy(f->root);
    su_deinit();
    free(f);
    return 0;
}

static void on_job(void *arg)
{
    job_t *j = arg;
    if (j->seq != j->f->last[j->producer] + 1)
        j->f->out_of_order = 1;
    j->f->last[j->producer] = j->seq;
    j->f->count++;
    free(j);
}

static void *producer(void *arg)
{
    job_t *proto = arg;
    for (long i = 0; i < PER_PRODUCER; i++) {
        job_t *j = malloc(sizeof *j);
        *j = *proto;
        j->seq = i;
        while (loopq_post(proto->f->q, on_job, j) < 0)
            ; /* full: the loop is draining it */
    }
    return NULL;
}

static void stop_loop(void *arg)
{
    fixture_t *f = arg;
    su_root_break(f->root);
}

static void *stopper(void *arg)
{
    fixture_t *f = arg;
    pthread_t threads[PRODUCERS];
    job_t protos[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        protos[i] = (job_t){f, i, 0};
        pthread_create(&threads[i], NULL, producer, &protos[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    loopq_post(f->q, stop_loop, f);
    return NULL;
}

static void many_producers_in_order(void **state)
{
    fixture_t *f = *state;
    pthread_t t;
    pthread_create(&t, NULL, stopper, f);
    su_root_run(f->root); /* this thread is the loop */
    pthread_join(t, NULL);
    assert_int_equal(f->count, PRODUCERS * PER_PRODUCER);
    assert_false(f->out_of_order);
    assert_int_equal(loopq_depth(f->q), 0);
}

typedef struct sync_arg {
    fixture_t *f;
    pthread_t caller_seen;
    int result;
} sync_arg_t;

static void on_sync(void *arg)
{
    sync_arg_t *s = arg;
    s->caller_seen = pthread_self();
    s->result = 42;
}

static void *caller(void *arg)
{
    sync_arg_t *s = arg;
    int rc = loopq_call(s->f->q, on_sync, s, 2000);
    loopq_post(s->f->q, stop_loop, s->f);
    return rc == 0 ? s : NULL;
}

static void call_runs_on_loop_and_waits(void **state)
{
    fixture_t *f = *state;
    sync_arg_t s = {.f = f};
    pthread_t t;
    void *ret;
    pthread_create(&t, NULL, caller, &s);
    su_root_run(f->root);
    pthread_join(t, &ret);
    assert_ptr_equal(ret, &s);
    assert_int_equal(s.result, 42);
    assert_true(pthread_equal(s.caller_seen, pthread_self()));
}

static void *timed_caller(void *arg)
{
    sync_arg_t *s = arg;
    s->result = loopq_call(s->f->q, on_sync, s, 100);
    return NULL;
}

static void call_times_out_and_never_runs(void **state)
{
    fixture_t *f = *state;
    sync_arg_t s = {.f = f};
    pthread_t t;
    pthread_create(&t, NULL, timed_caller, &s); /* the loop is not running */
    pthread_join(t, NULL);
    assert_int_equal(s.result, -1);
    s.result = 7;
    su_root_step(f->root, 10); /* the cancelled call is reached and freed, not run */
    assert_int_equal(s.result, 7);
}

static void bounded_and_closable(void **state)
{
    fixture_t *f = *state;
    loopq_t *small = loopq_new(f->root, 2);
    long counter = 0;
    assert_int_equal(loopq_post(small, (loopq_fn)free, malloc(1)), 0);
    assert_int_equal(loopq_post(small, (loopq_fn)free, malloc(1)), 0);
    void *third = malloc(1);
    assert_int_equal(loopq_post(small, (loopq_fn)free, third), -1); /* full */
    free(third);
    assert_int_equal(loopq_depth(small), 2);
    su_root_step(f->root, 10);
    assert_int_equal(loopq_depth(small), 0);
    loopq_close(small);
    assert_int_equal(loopq_post(small, (loopq_fn)free, &counter), -1);
    loopq_free(small);
}

/* ---- loopq_call_async() ---- */

static int freed;      /* free_arg calls */
static int done_calls; /* loopq_wait_done calls, on the loop */

typedef struct async_arg {
    fixture_t *f;
    int mode; /* what fn does: NOW, LATER (su_timer), NEVER (the test calls done) */
    int timeout_ms;
    int rc;
    int result;
    loopq_wait_t *w;
    su_timer_t *timer;
} async_arg_t;

enum { NOW, LATER, NEVER };

static loopq_wait_t *parked_w; /* a wait whose done is owed (arg no longer ours) */

static void free_async(void *arg)
{
    freed++;
    free(arg);
}

static void done(loopq_wait_t *w)
{
    done_calls++;
    loopq_wait_done(w);
}

static void on_timer(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
    async_arg_t *a = (async_arg_t *)arg;
    su_timer_destroy(t);
    a->result = 42;
    done(a->w);
}

static void on_async(loopq_wait_t *w, void *arg)
{
    async_arg_t *a = arg;
    a->w = w;
    if (a->mode == NOW) {
        a->result = 42;
        done(w);
    } else if (a->mode == LATER) {
        a->timer = su_timer_create(su_root_task(a->f->root), 50);
        su_timer_set(a->timer, on_timer, (su_timer_arg_t *)a);
    } else {
        parked_w = w;
    }
}

static async_arg_t *async_new(fixture_t *f, int mode, int timeout_ms)
{
    async_arg_t *a = calloc(1, sizeof *a);
    a->f = f;
    a->mode = mode;
    a->timeout_ms = timeout_ms;
    return a;
}

/* The caller thread: the call, then it stops the loop. Returns a's result, or -1. */
static void *async_caller(void *arg)
{
    async_arg_t *a = arg;
    fixture_t *f = a->f;
    int rc = loopq_call_async(f->q, on_async, a, free_async, a->timeout_ms);
    long result = rc == 0 ? a->result : -1;
    if (rc == 0)
        free(a); /* ours again */
    loopq_post(f->q, stop_loop, f);
    return (void *)result;
}

static long run_async(fixture_t *f, async_arg_t *a)
{
    pthread_t t;
    void *ret;
    freed = done_calls = 0;
    pthread_create(&t, NULL, async_caller, a);
    su_root_run(f->root);
    pthread_join(t, &ret);
    return (long)ret;
}

static void async_done_at_once(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(run_async(f, async_new(f, NOW, 2000)), 42);
    assert_int_equal(done_calls, 1);
    assert_int_equal(freed, 0); /* the caller freed it */
}

static void async_done_later_on_the_loop(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(run_async(f, async_new(f, LATER, 5000)), 42);
    assert_int_equal(done_calls, 1);
    assert_int_equal(freed, 0);
}

static int freed_before_done;

static void late_done(void *arg)
{
    fixture_t *f = arg;
    freed_before_done = freed;
    done(parked_w);
    su_root_break(f->root);
}

static void async_timeout_then_late_done(void **state)
{
    fixture_t *f = *state;
    parked_w = NULL;
    assert_int_equal(run_async(f, async_new(f, NEVER, 100)), -1); /* gave up */
    assert_non_null(parked_w);                                    /* fn ran, done still owed */
    assert_int_equal(freed, 0);
    loopq_post(f->q, late_done, f);
    su_root_run(f->root);
    assert_int_equal(freed_before_done, 0);
    assert_int_equal(freed, 1); /* in the done, once (ASan: no leak, no second free) */
}

static void async_queue_closed(void **state)
{
    fixture_t *f = *state;
    freed = done_calls = 0;
    loopq_close(f->q);
    assert_int_equal(loopq_call_async(f->q, on_async, async_new(f, NOW, 2000), free_async, 2000),
                     -1);
    assert_int_equal(freed, 1); /* at once */
    su_root_step(f->root, 10);
    assert_int_equal(done_calls, 0);
    assert_int_equal(freed, 1);
}

static void *lone_caller(void *arg)
{
    async_arg_t *a = arg;
    a->rc = loopq_call_async(a->f->q, on_async, a, free_async, a->timeout_ms);
    return NULL;
}

static void async_gave_up_before_fn_ran(void **state)
{
    fixture_t *f = *state;
    async_arg_t *a = async_new(f, NOW, 100);
    pthread_t t;
    freed = done_calls = 0;
    pthread_create(&t, NULL, lone_caller, a); /* the loop is not running */
    pthread_join(t, NULL);
    /* a->rc is not readable any more: a belongs to the wait */
    assert_int_equal(freed, 0);
    su_root_step(f->root, 10); /* reached: freed, fn not run */
    assert_int_equal(done_calls, 0);
    assert_int_equal(freed, 1);
}

static void async_runs_at_loopq_free(void **state)
{
    fixture_t *f = *state;
    async_arg_t *a = async_new(f, NOW, 30000);
    pthread_t t;
    freed = done_calls = 0;
    pthread_create(&t, NULL, lone_caller, a);
    for (int i = 0; i < 10000 && loopq_depth(f->q) == 0; i++)
        usleep(1000); /* bounded: 10 s */
    assert_int_equal(loopq_depth(f->q), 1);
    loopq_free(f->q); /* shutdown runs what is queued: the waiter gets its answer */
    f->q = NULL;
    pthread_join(t, NULL);
    assert_int_equal(a->rc, 0);
    assert_int_equal(a->result, 42);
    assert_int_equal(done_calls, 1);
    assert_int_equal(freed, 0);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(many_producers_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(call_runs_on_loop_and_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(call_times_out_and_never_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(bounded_and_closable, setup, teardown),
        cmocka_unit_test_setup_teardown(async_done_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(async_done_later_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(async_timeout_then_late_done, setup, teardown),
        cmocka_unit_test_setup_teardown(async_queue_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(async_gave_up_before_fn_ran, setup, teardown),
        cmocka_unit_test_setup_teardown(async_runs_at_loopq_free, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
