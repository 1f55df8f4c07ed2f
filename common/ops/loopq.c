#include "common/ops/loopq.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/util/log.h"

/* A synchronous call's life: the caller may give up only while it is still PENDING. */
enum call_state { CALL_PENDING, CALL_RUNNING, CALL_DONE, CALL_CANCELLED };

struct sync_call {
    loopq_fn fn;
    void *arg;
    enum call_state state;
    pthread_cond_t cond;
};

/* An asynchronous call's life: queued, then fn running until loopq_wait_done(), then done. The
 * waiter and the loop each hold a reference; whichever lets go last frees the wait. Its own
 * lock, not the queue's: loopq_wait_done() may come from a store callback that no item covers. */
enum wait_state { WAIT_QUEUED, WAIT_RUNNING, WAIT_DONE };

struct loopq_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    loopq_async_fn fn;
    void *arg;
    void (*free_arg)(void *);
    enum wait_state state;
    int abandoned; /* the waiter gave up: arg is the wait's to free */
    int refs;
};

typedef struct item {
    struct item *next;
    loopq_fn fn;
    void *arg;
    struct sync_call *call; /* non-NULL for loopq_call() */
    loopq_wait_t *wait;     /* non-NULL for loopq_call_async() */
} item_t;

struct loopq {
    su_root_t *root;
    su_wait_t wait[1];
    int index; /* su_root registration */
    int efd;
    pthread_mutex_t lock;
    item_t *head, *tail;
    size_t depth, max_depth;
    int closed;
};

static void wait_free(loopq_wait_t *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Drops one reference; with abandoned, the one who drops it frees arg (exactly once: the loop's
 * reference goes either here, before fn, or in loopq_wait_done()). */
static void wait_unref(loopq_wait_t *w, int free_arg)
{
    pthread_mutex_lock(&w->lock);
    void (*fa)(void *) = free_arg ? w->free_arg : NULL;
    void *arg = w->arg; /* read before letting go: the other side may free w then */
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (fa)
        fa(arg);
    if (last)
        wait_free(w);
}

static void run_wait(loopq_wait_t *w)
{
    pthread_mutex_lock(&w->lock);
    int abandoned = w->abandoned;
    if (!abandoned)
        w->state = WAIT_RUNNING;
    pthread_mutex_unlock(&w->lock);
    if (abandoned) /* the waiter gave up before fn started: it never runs */
        wait_unref(w, 1);
    else
        w->fn(w, w->arg);
}

void loopq_wait_done(loopq_wait_t *w)
{
    pthread_mutex_lock(&w->lock);
    if (w->state != WAIT_RUNNING) {
        pthread_mutex_unlock(&w->lock);
        log_error("loopq: loopq_wait_done() on a wait that is not running");
        return;
    }
    w->state = WAIT_DONE;
    int abandoned = w->abandoned;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    wait_unref(w, abandoned);
}

static void run_item(loopq_t *q, item_t *it)
{
    if (it->wait) {
        run_wait(it->wait);
        return;
    }
    if (!it->call) {
        it->fn(it->arg);
        return;
    }
    struct sync_call *c = it->call;
    pthread_mutex_lock(&q->lock);
    int cancelled = c->state == CALL_CANCELLED;
    if (!cancelled)
        c->state = CALL_RUNNING;
    pthread_mutex_unlock(&q->lock);
    if (cancelled) {
        pthread_cond_destroy(&c->cond);
        free(c);
        return;
    }
    c->fn(c->arg);
    pthread_mutex_lock(&q->lock);
    c->state = CALL_DONE;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&q->lock);
}

static int on_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    loopq_t *q = arg;
    uint64_t n;
    if (read(q->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn("loopq: eventfd read failed: %d", errno);

    pthread_mutex_lock(&q->lock);
    item_t *list = q->head;
    q->head = q->tail = NULL;
    q->depth = 0;
    pthread_mutex_unlock(&q->lock);

    while (list) {
        item_t *next = list->next;
        run_item(q, list);
        log_ctx_clear(); /* each item is its own piece of work */
        free(list);
        list = next;
    }
    return 0;
}

loopq_t *loopq_new(su_root_t *root, size_t max_depth)
{
    loopq_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->root = root;
    q->max_depth = max_depth ? max_depth : 65536;
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&q->lock, NULL);
    if (q->efd < 0 || su_wait_create(q->wait, q->efd, SU_WAIT_IN) < 0)
        goto fail;
    q->index = su_root_register(root, q->wait, on_event, q, su_pri_normal);
    if (q->index <= 0)
        goto fail;
    return q;
fail:
    log_error("loopq: cannot create the loop queue (errno %d)", errno);
    if (q->efd >= 0)
        close(q->efd);
    pthread_mutex_destroy(&q->lock);
    free(q);
    return NULL;
}

static int enqueue(loopq_t *q, item_t *it)
{
    pthread_mutex_lock(&q->lock);
    if (q->closed || q->depth >= q->max_depth) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->depth++;
    pthread_mutex_unlock(&q->lock);

    uint64_t one = 1;
    if (write(q->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn("loopq: eventfd write failed: %d", errno);
    return 0;
}

int loopq_post(loopq_t *q, loopq_fn fn, void *arg)
{
    item_t *it = calloc(1, sizeof *it);
    if (!it)
        return -1;
    it->fn = fn;
    it->arg = arg;
    if (enqueue(q, it) < 0) {
        free(it);
        return -1;
    }
    return 0;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int loopq_call(loopq_t *q, loopq_fn fn, void *arg, int timeout_ms)
{
    struct sync_call *c = calloc(1, sizeof *c);
    item_t *it = calloc(1, sizeof *it);
    if (!c || !it) {
        free(c);
        free(it);
        return -1;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    c->fn = fn;
    c->arg = arg;
    it->call = c;
    if (enqueue(q, it) < 0) {
        pthread_cond_destroy(&c->cond);
        free(c);
        free(it);
        return -1;
    }

    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    while (c->state == CALL_PENDING) {
        if (pthread_cond_timedwait(&c->cond, &q->lock, &deadline) == ETIMEDOUT &&
            c->state == CALL_PENDING) {
            /* The loop frees a cancelled call when it reaches it. */
            c->state = CALL_CANCELLED;
            rc = -1;
            break;
        }
    }
    /* Once running, fn is short and owned by the loop: wait for it so arg stays valid. */
    while (c->state == CALL_RUNNING)
        pthread_cond_wait(&c->cond, &q->lock);
    int done = c->state == CALL_DONE;
    pthread_mutex_unlock(&q->lock);
    if (done) {
        pthread_cond_destroy(&c->cond);
        free(c);
    }
    return rc;
}

static loopq_wait_t *wait_new(loopq_async_fn fn, void *arg, void (*free_arg)(void *))
{
    loopq_wait_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&w->lock, NULL);
    w->fn = fn;
    w->arg = arg;
    w->free_arg = free_arg;
    w->refs = 2; /* the waiter's and the loop's */
    return w;
}

int loopq_call_async(loopq_t *q, loopq_async_fn fn, void *arg, void (*free_arg)(void *),
                     int timeout_ms)
{
    loopq_wait_t *w = wait_new(fn, arg, free_arg);
    item_t *it = w ? calloc(1, sizeof *it) : NULL;
    if (it)
        it->wait = w;
    if (!it || enqueue(q, it) < 0) {
        free(it);
        if (w)
            wait_free(w);
        if (free_arg)
            free_arg(arg); /* fn never runs */
        return -1;
    }

    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&w->lock);
    while (w->state != WAIT_DONE &&
           pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != ETIMEDOUT)
        ;
    int done = w->state == WAIT_DONE;
    if (!done)
        w->abandoned = 1; /* whoever drops the loop's reference frees arg */
    pthread_mutex_unlock(&w->lock);
    wait_unref(w, 0);
    return done ? 0 : -1;
}

void loopq_close(loopq_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_mutex_unlock(&q->lock);
}

size_t loopq_depth(loopq_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t d = q->depth;
    pthread_mutex_unlock(&q->lock);
    return d;
}

void loopq_flush(loopq_t *q)
{
    if (q)
        on_event(NULL, q->wait, q);
}

void loopq_free(loopq_t *q)
{
    if (!q)
        return;
    loopq_close(q);
    /* Run what is left so no caller waits forever and no posted arg leaks. */
    on_event(NULL, q->wait, q);
    su_root_deregister(q->root, q->index);
    close(q->efd);
    pthread_mutex_destroy(&q->lock);
    free(q);
}
