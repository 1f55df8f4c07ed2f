/* See redis_loop.h. hiredis 0.14 asks through five hooks: addRead/delRead/addWrite/delWrite
 * (what it waits for, idempotent) and cleanup (the context is being freed). We keep one su_root
 * registration for the socket, with the event mask hiredis currently wants; none while it wants
 * nothing, so a hung-up socket nobody reads does not wake the loop over and over. */
#include "common/store/redis_loop.h"

#include <stdlib.h>

#include <hiredis/async.h>
#include <sofia-sip/su_wait.h>

#include "common/util/log.h"

typedef struct rloop {
    redisAsyncContext *ac;
    su_root_t *root;
    su_wait_t wait[1];
    int index;  /* su_root registration, 0 when none */
    int events; /* SU_WAIT_IN | SU_WAIT_OUT hiredis wants */
    /* While on_event runs: where to say that hiredis freed the context (and us) meanwhile, as
     * a reply callback may (a failed read frees the context, and so may the store's owner). */
    int *alive;
} rloop_t;

static int on_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    (void)magic;
    rloop_t *l = arg;
    redisAsyncContext *ac = l->ac;
    int revents = su_wait_events(w, ac->c.fd);
    int trouble = revents & (SU_WAIT_ERR | SU_WAIT_HUP); /* a read or a write finds out what */
    int alive = 1;
    l->alive = &alive;
    if ((l->events & SU_WAIT_IN) && (revents & SU_WAIT_IN || trouble))
        redisAsyncHandleRead(ac);
    if (alive && (l->events & SU_WAIT_OUT) && (revents & SU_WAIT_OUT || trouble))
        redisAsyncHandleWrite(ac);
    if (alive)
        l->alive = NULL;
    return 0;
}

/* Registers, changes or drops the loop's interest in the socket so that it is events. */
static void want(rloop_t *l, int events)
{
    if (events == l->events)
        return;
    l->events = events;
    if (!events) {
        if (l->index > 0)
            su_root_deregister(l->root, l->index);
        l->index = 0;
        return;
    }
    if (l->index > 0) {
        su_root_eventmask(l->root, l->index, l->ac->c.fd, events);
        return;
    }
    if (su_wait_create(l->wait, l->ac->c.fd, events) < 0 ||
        (l->index = su_root_register(l->root, l->wait, on_event, l, su_pri_normal)) <= 0) {
        /* The connection then never answers: the store's deadline drops it. */
        log_error("store: redis: cannot watch socket %d in the loop", l->ac->c.fd);
        l->index = 0;
        l->events = 0;
    }
}

static void add_read(void *data)
{
    rloop_t *l = data;
    if (l)
        want(l, l->events | SU_WAIT_IN);
}

static void del_read(void *data)
{
    rloop_t *l = data;
    if (l)
        want(l, l->events & ~SU_WAIT_IN);
}

static void add_write(void *data)
{
    rloop_t *l = data;
    if (l)
        want(l, l->events | SU_WAIT_OUT);
}

static void del_write(void *data)
{
    rloop_t *l = data;
    if (l)
        want(l, l->events & ~SU_WAIT_OUT);
}

static void cleanup(void *data)
{
    rloop_t *l = data;
    if (!l) /* called again */
        return;
    want(l, 0);
    if (l->alive)
        *l->alive = 0;
    l->ac->ev.data = NULL;
    free(l);
}

int redis_loop_attach(redisAsyncContext *ac, su_root_t *root)
{
    if (!ac || !root || ac->ev.data)
        return -1;
    rloop_t *l = calloc(1, sizeof *l);
    if (!l) {
        log_error("store: redis: out of memory");
        return -1;
    }
    l->ac = ac;
    l->root = root;
    ac->ev.data = l;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
