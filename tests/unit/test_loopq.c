/* loopq.c: work posted from other threads runs on the loop thread, in order, exactly once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(many_producers_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(call_runs_on_loop_and_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(call_times_out_and_never_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(bounded_and_closable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
