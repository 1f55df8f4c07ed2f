/* What only the "redis" store backend has (the contract, test_store_contract.c, runs the rest
 * against it): options, two handles on one Redis (two replicas), data planted in Redis by
 * someone else, and Redis failing: killed, stopped (SIGSTOP), started again. Against a
 * redis-server this binary starts on a free port (redis_server.h); without one every case
 * fails. Waits are bounded loops on the answer or the status, never fixed sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sofia-sip/su_wait.h>

#include "common/ops/metrics.h"
#include "common/store/store.h"
#include "tests/unit/redis_server.h"
#include "tests/unit/store_result.h"

#define NOW        1700000000
#define TIMEOUT_MS 300
/* How late an answer may be beyond its timeout on a loaded machine (two cores shared by
 * several test runs): generous, as COMMON.md asks; the point is "not hanging". */
#define SLACK_MS 3000
#define WAIT_MS  15000 /* status changes: reconnect backoff is at most 2 s */

static su_root_t *root;

static store_t *open_redis(const char *extra)
{
    char options[128];
    snprintf(options, sizeof options, "address=127.0.0.1:%d,timeout_ms=%d%s", redis_port,
             TIMEOUT_MS, extra ? extra : "");
    store_limits_t limits = {100, 10};
    store_t *s = store_open_on("redis", &limits, options, root);
    assert_non_null(s);
    assert_int_equal(store_synchronous(s), 0);
    return s;
}

/* Runs the loop until r was answered (bounded); how long it took, in ms. */
static int64_t wait_answer(result_t *r, int64_t bound_ms)
{
    int64_t start = redis_now_ms();
    assert_int_equal(r->calls, 0); /* never before the call returned */
    while (!r->calls && redis_now_ms() - start < bound_ms)
        su_root_step(root, 5);
    assert_int_equal(r->calls, 1);
    return redis_now_ms() - start;
}

/* Runs the loop until store_status(s) is want (bounded). */
static void wait_status(store_t *s, const char *want)
{
    int64_t end = redis_now_ms() + WAIT_MS;
    while (strcmp(store_status(s), want) != 0 && redis_now_ms() < end)
        su_root_step(root, 10);
    assert_string_equal(store_status(s), want);
}

/* cscf_store_errors_total{op,kind} as rendered, -1 when the series is not there. */
static double errors_of(metrics_t *m, const char *op, const char *kind)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "cscf_store_errors_total{op=\"%s\",kind=\"%s\"} ", op, kind);
    char *text = metrics_render(m);
    assert_non_null(text);
    const char *at = strstr(text, prefix);
    double v = at ? strtod(at + strlen(prefix), NULL) : -1;
    free(text);
    return v;
}

static int put(store_t *s, const store_reg_t *reg)
{
    result_t r = {0};
    store_put(s, reg, on_done, &r);
    wait_answer(&r, TIMEOUT_MS + SLACK_MS);
    return r.rc;
}

static result_t get(store_t *s, const char *key, int by_impi)
{
    result_t r = {0};
    if (by_impi)
        store_get_impi(s, key, on_get, &r);
    else
        store_get(s, key, on_get, &r);
    wait_answer(&r, TIMEOUT_MS + SLACK_MS);
    assert_true(r.rc != 0 || r.reg);
    return r;
}

static int del_if(store_t *s, const char *impi, uint64_t rev)
{
    result_t r = {0};
    store_del_if(s, impi, rev, on_done, &r);
    wait_answer(&r, TIMEOUT_MS + SLACK_MS);
    return r.rc;
}

static store_reg_t *one_reg(const char *impi, const char *impu)
{
    const char *impus[] = {impu};
    store_reg_t *r = make_reg(impi, impus, 1);
    add_contact(r, "sip:ue@192.0.2.1", NOW + 600);
    return r;
}

/* ---- the cases ---- */

static void options_are_checked(void **state)
{
    (void)state;
    store_limits_t limits = {1, 1};
    const char *bad[] = {NULL,
                         "",
                         "address=127.0.0.1",
                         "address=127.0.0.1:0",
                         "address=127.0.0.1:65536",
                         "address=:6379",
                         "address=127.0.0.1:6379x",
                         "address=127.0.0.1:6379,timeout_ms=0",
                         "address=127.0.0.1:6379,timeout_ms=abc",
                         "address=127.0.0.1:6379,bogus=1",
                         "address=127.0.0.1:6379,prefix"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(store_open_on("redis", &limits, bad[i], root));
    assert_null(store_open_on("redis", &limits, "address=127.0.0.1:6379", NULL)); /* no loop */
    store_t *s = store_open_on("redis", &limits, "address=[::1]:1,timeout_ms=50,prefix=x:", root);
    assert_non_null(s);
    assert_string_equal(store_status(s), "connecting");
    wait_status(s, "down"); /* nothing listens there: refused, and it keeps trying */
    result_t r = {0};
    store_get_impi(s, "a@ims", on_get, &r);
    wait_answer(&r, 50 + SLACK_MS);
    assert_int_equal(r.rc, STORE_ERROR);
    store_free(s);

    /* A name: resolved away from the loop, then connected; one that does not resolve: down. */
    char named[96];
    snprintf(named, sizeof named, "address=localhost:%d,timeout_ms=%d", redis_port, TIMEOUT_MS);
    s = store_open_on("redis", &limits, named, root);
    assert_non_null(s);
    wait_status(s, "ok");
    r = (result_t){0};
    store_get_impi(s, "nobody@ims", on_get, &r);
    wait_answer(&r, TIMEOUT_MS + SLACK_MS);
    assert_int_equal(r.rc, 1);
    store_free(s);
    s = store_open_on("redis", &limits, "address=no-such-host.invalid:6379", root);
    assert_non_null(s);
    wait_status(s, "down");
    store_free(s);
    s = store_open_on("redis", &limits, named, root); /* freed while resolving */
    store_free(s);

    s = open_redis(",prefix=p1:");
    wait_status(s, "ok");
    assert_int_equal(store_count(s), 0);
    store_reg_t *a = one_reg("a@ims", "sip:a@ims");
    assert_int_equal(put(s, a), 0);
    assert_int_equal(redis_int("EXISTS p1:reg:a@ims"), 1); /* the prefix is the option's */
    assert_int_equal(redis_int("EXISTS p1:impu:sip:a@ims"), 1);
    assert_int_equal(redis_int("ZCARD p1:exp"), 1);
    long long ttl = redis_int("TTL p1:reg:a@ims"); /* expired long ago (NOW): the grace */
    assert_true(ttl > 3000 && ttl <= 3600);
    assert_int_equal(redis_int("EXISTS ims:reg:a@ims"), 0);
    /* A live one: until its latest expiry (contact or subscription) + the grace; none: kept. */
    a->contacts[0].expires_at = time(NULL) + 600;
    store_sub_t *sub = store_reg_add_sub(a);
    assert_non_null(sub);
    sub->expires_at = time(NULL) + 900;
    assert_int_equal(put(s, a), 0);
    ttl = redis_int("TTL p1:reg:a@ims");
    assert_true(ttl > 900 + 3000 && ttl <= 900 + 3600);
    ttl = redis_int("TTL p1:impu:sip:a@ims");
    assert_true(ttl > 900 + 3000 && ttl <= 900 + 3600);
    const char *bi[] = {"sip:b@ims"};
    store_reg_t *b = make_reg("b@ims", bi, 1);
    assert_int_equal(put(s, b), 0);
    assert_int_equal(redis_int("TTL p1:reg:b@ims"), -1);
    store_reg_free(b);
    store_reg_free(a);
    store_free(s);
}

/* Two handles on one Redis: what one writes the other reads; stale revisions conflict. */
static void two_replicas(void **state)
{
    (void)state;
    assert_int_equal(redis_sync("FLUSHALL"), 0);
    store_t *a = open_redis(NULL), *b = open_redis(NULL);
    store_reg_t *r = one_reg("alice@ims", "sip:alice@ims");
    r->rev = STORE_REV_NEW;
    assert_int_equal(put(a, r), 0);
    assert_int_equal(put(b, r), STORE_CONFLICT); /* b sees it exists */

    result_t ga = get(a, "sip:alice@ims", 0), gb = get(b, "sip:alice@ims", 0);
    assert_int_equal(ga.rc, 0);
    assert_int_equal(gb.rc, 0);
    assert_same_reg(gb.reg, ga.reg);
    assert_int_equal(gb.reg->rev, 1);
    add_contact(ga.reg, "sip:a-side@192.0.2.2", NOW + 60);
    add_contact(gb.reg, "sip:b-side@192.0.2.3", NOW + 60);
    assert_int_equal(put(a, ga.reg), 0);
    assert_int_equal(put(b, gb.reg), STORE_CONFLICT); /* a's contact is not lost */
    assert_int_equal(del_if(b, "alice@ims", 1), STORE_CONFLICT);
    result_t again = get(b, "alice@ims", 1);
    assert_int_equal(again.rc, 0);
    assert_int_equal(again.reg->rev, 2);
    assert_same_reg(again.reg, ga.reg);
    add_contact(again.reg, "sip:b-side@192.0.2.3", NOW + 60);
    assert_int_equal(put(b, again.reg), 0); /* read again, applied again: both contacts */

    /* b's counts come with its own writes; a's catch up by themselves (every 5 s). */
    assert_int_equal(store_contact_count(b), 3);
    int64_t end = redis_now_ms() + WAIT_MS;
    while (store_contact_count(a) != 3 && redis_now_ms() < end)
        su_root_step(root, 50);
    assert_int_equal(store_contact_count(a), 3);
    assert_int_equal(store_count(a), 1);

    /* An IMPU held through b cannot be taken through a. */
    store_reg_t *m = one_reg("mallory@ims", "sip:alice@ims");
    assert_int_equal(put(a, m), -1);
    assert_int_equal(del_if(a, "alice@ims", 3), 0);
    result_t gone = get(b, "sip:alice@ims", 0);
    assert_int_equal(gone.rc, 1);
    assert_int_equal(put(a, m), 0);
    store_reg_free(m);
    store_reg_free(r);
    store_reg_free(ga.reg);
    store_reg_free(gb.reg);
    store_reg_free(again.reg);
    store_free(a);
    store_free(b);
}

/* Data written into Redis by someone else: errors or not found, never a crash. */
static void hostile_data_in_redis(void **state)
{
    (void)state;
    assert_int_equal(redis_sync("FLUSHALL"), 0);
    store_t *s = open_redis(NULL);
    store_reg_t *good = one_reg("good@ims", "sip:good@ims");
    assert_int_equal(put(s, good), 0);

    /* A record key of the wrong type: reads and writes of it fail cleanly. */
    assert_int_equal(redis_sync("SET ims:reg:str@ims notahash"), 0);
    assert_int_equal(get(s, "str@ims", 1).rc, STORE_ERROR);
    store_reg_t *str = one_reg("str@ims", "sip:str@ims");
    assert_int_equal(put(s, str), STORE_ERROR);
    assert_int_equal(get(s, "sip:str@ims", 0).rc, 1); /* nothing was written */

    /* Garbage where the record should be, and a revision that is no number. */
    const char *garbage[] = {"{not json", "", "[]", "{\"impi\":1}", "\xff\xfe\x00\x01"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        assert_int_equal(redis_sync("HSET ims:reg:bad@ims rec %b rev 1", garbage[i],
                                    i == 4 ? (size_t)4 : strlen(garbage[i])),
                         0);
        assert_int_equal(redis_sync("SET ims:impu:sip:bad@ims bad@ims"), 0);
        assert_int_equal(get(s, "sip:bad@ims", 0).rc, STORE_ERROR);
        assert_int_equal(get(s, "bad@ims", 1).rc, STORE_ERROR);
    }
    assert_int_equal(redis_sync("HSET ims:reg:good@ims rev x1"), 0);
    assert_int_equal(get(s, "good@ims", 1).rc, STORE_ERROR);
    assert_int_equal(redis_sync("HSET ims:reg:good@ims rev 1"), 0);
    result_t ok = get(s, "good@ims", 1); /* readable again */
    assert_int_equal(ok.rc, 0);
    assert_same_reg(ok.reg, good);
    store_reg_free(ok.reg);

    /* An IMPU key naming a record that is not there: not found, and free to take. */
    assert_int_equal(redis_sync("SET ims:impu:sip:ghost@ims ghost@ims"), 0);
    assert_int_equal(get(s, "sip:ghost@ims", 0).rc, 1);
    store_reg_t *ghost = one_reg("new@ims", "sip:ghost@ims");
    assert_int_equal(put(s, ghost), 0);
    result_t g = get(s, "sip:ghost@ims", 0);
    assert_int_equal(g.rc, 0);
    assert_string_equal(g.reg->impi, "new@ims");
    store_reg_free(g.reg);

    /* Indexes naming records that are gone (a TTL ran out): left out, then forgotten. */
    assert_int_equal(redis_sync("ZADD ims:regs 0 aaa-missing@ims"), 0);
    assert_int_equal(redis_sync("ZADD ims:exp 0 aaa-missing@ims"), 0);
    result_t l = {0};
    store_list(s, NULL, 0, 100, on_list, &l);
    wait_answer(&l, TIMEOUT_MS + SLACK_MS);
    assert_int_equal(l.rc, 0);
    for (size_t i = 0; i < l.n; i++)
        assert_string_not_equal(l.regs[i]->impi, "aaa-missing@ims");
    assert_int_equal(l.total, l.n);
    store_regs_free(l.regs, l.n);
    assert_int_equal(redis_int("ZSCORE ims:regs aaa-missing@ims"), -1); /* nil now */
    assert_int_equal(redis_sync("ZADD ims:exp 0 aaa-missing@ims"), 0);
    result_t e = {0};
    store_expired(s, NOW, on_list, &e);
    wait_answer(&e, TIMEOUT_MS + SLACK_MS);
    assert_int_equal(e.rc, 0);
    assert_int_equal(e.n, 0);
    assert_int_equal(e.total, 0);
    store_regs_free(e.regs, e.n);
    /* A garbage record among good ones: listed without it. */
    assert_int_equal(redis_sync("ZADD ims:regs 0 bad@ims"), 0);
    l = (result_t){0};
    store_list(s, "", 0, 100, on_list, &l);
    wait_answer(&l, TIMEOUT_MS + SLACK_MS);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, 2); /* good, new */
    assert_int_equal(l.total, 2);
    store_regs_free(l.regs, l.n);

    /* An index key of the wrong type: writes refuse, nothing half done; fine once it is gone. */
    assert_int_equal(redis_sync("DEL ims:exp"), 0);
    assert_int_equal(redis_sync("SET ims:exp garbage"), 0);
    store_reg_t *other = one_reg("other@ims", "sip:other@ims");
    assert_int_equal(put(s, other), STORE_ERROR);
    assert_int_equal(redis_int("EXISTS ims:reg:other@ims"), 0);
    assert_int_equal(redis_int("EXISTS ims:impu:sip:other@ims"), 0);
    e = (result_t){0};
    store_expired(s, NOW, on_list, &e);
    wait_answer(&e, TIMEOUT_MS + SLACK_MS);
    assert_int_equal(e.rc, STORE_ERROR);
    assert_int_equal(redis_sync("DEL ims:exp"), 0);
    assert_int_equal(put(s, other), 0);
    assert_string_equal(store_status(s), "ok");

    /* The scripts flushed behind the store's back: sent again with their text, unnoticed. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(redis_sync("SCRIPT FLUSH"), 0);
        result_t back = get(s, "other@ims", 1);
        assert_int_equal(back.rc, 0);
        assert_same_reg(back.reg, other);
        store_reg_free(back.reg);
        assert_int_equal(put(s, other), 0); /* and a write (the script checks the revision) */
    }

    store_reg_free(good);
    store_reg_free(str);
    store_reg_free(ghost);
    store_reg_free(other);
    store_free(s);
}

/* Redis killed: pending and new calls fail at once; it comes back on the same port: the same
 * handle works again by itself. */
static void redis_killed_and_back(void **state)
{
    (void)state;
    assert_int_equal(redis_sync("FLUSHALL"), 0);
    store_t *s = open_redis(NULL);
    store_reg_t *a = one_reg("a@ims", "sip:a@ims");
    assert_int_equal(put(s, a), 0);
    assert_string_equal(store_status(s), "ok");

    result_t pending = {0};
    store_get(s, "sip:a@ims", on_get, &pending);
    redis_kill();
    int64_t took = wait_answer(&pending, TIMEOUT_MS + SLACK_MS);
    assert_true(pending.rc == STORE_ERROR || pending.rc == STORE_TIMEOUT);
    assert_true(took <= TIMEOUT_MS + SLACK_MS);
    wait_status(s, "down");
    for (int i = 0; i < 3; i++) { /* while down: at once, from the loop, each once */
        result_t r = {0};
        store_put(s, a, on_done, &r);
        took = wait_answer(&r, TIMEOUT_MS + SLACK_MS);
        assert_int_equal(r.rc, STORE_ERROR);
        for (int j = 0; j < 5; j++)
            su_root_step(root, 1);
        assert_int_equal(r.calls, 1);
    }

    assert_int_equal(redis_start(), 0); /* same port, empty */
    wait_status(s, "ok");
    assert_int_equal(put(s, a), 0);
    result_t g = get(s, "sip:a@ims", 0);
    assert_int_equal(g.rc, 0);
    assert_same_reg(g.reg, a);
    store_reg_free(g.reg);
    store_reg_free(a);
    store_free(s);
}

/* Redis stopped (SIGSTOP): no answer, so STORE_TIMEOUT within the timeout; SIGCONT: back. */
static void redis_stopped_and_continued(void **state)
{
    (void)state;
    store_t *s = open_redis(NULL);
    metrics_t *m = metrics_new();
    assert_non_null(m);
    store_set_metrics(s, m);
    wait_status(s, "ok");
    store_reg_t *a = one_reg("a@ims", "sip:a@ims");
    assert_int_equal(put(s, a), 0);

    assert_int_equal(kill(redis_pid, SIGSTOP), 0);
    result_t r1 = {0}, r2 = {0};
    store_get(s, "sip:a@ims", on_get, &r1);
    store_put(s, a, on_done, &r2);
    int64_t took = wait_answer(&r1, TIMEOUT_MS + SLACK_MS);
    assert_int_equal(r1.rc, STORE_TIMEOUT);
    assert_true(took >= TIMEOUT_MS - 50); /* not before its deadline */
    assert_int_equal(r2.calls, 1);        /* every pending one with it */
    assert_int_equal(r2.rc, STORE_TIMEOUT);
    assert_string_equal(store_status(s), "down");
    assert_true(errors_of(m, "get", "timeout") == 1); /* what the metrics wrapper counts */
    assert_true(errors_of(m, "put", "timeout") == 1);
    result_t r3 = {0}; /* and while still stopped: an error or a timeout, never a hang */
    store_get(s, "sip:a@ims", on_get, &r3);
    wait_answer(&r3, TIMEOUT_MS + SLACK_MS);
    assert_true(r3.rc == STORE_ERROR || r3.rc == STORE_TIMEOUT);

    assert_int_equal(kill(redis_pid, SIGCONT), 0);
    wait_status(s, "ok");
    result_t g = get(s, "sip:a@ims", 0);
    assert_int_equal(g.rc, 0);
    assert_same_reg(g.reg, a);
    store_reg_free(g.reg);
    store_reg_free(a);
    store_free(s);
    metrics_free(m);
}

/* Freed with commands in flight: none of them is answered, nothing leaks (ASan). Also from
 * inside a callback, with others still pending. */
typedef struct freer {
    store_t *s;
    int calls;
} freer_t;

static void free_in_callback(void *arg, int rc, store_reg_t *reg)
{
    freer_t *f = arg;
    (void)rc;
    f->calls++;
    store_reg_free(reg);
    store_free(f->s);
}

static void freed_with_pending(void **state)
{
    (void)state;
    store_t *s = open_redis(NULL);
    metrics_t *m = metrics_new();
    assert_non_null(m);
    store_set_metrics(s, m); /* its per-call records are freed with the store too */
    wait_status(s, "ok");
    store_reg_t *a = one_reg("a@ims", "sip:a@ims");
    result_t r[4] = {{0}};
    store_put(s, a, on_done, &r[0]);
    store_get(s, "sip:a@ims", on_get, &r[1]);
    store_list(s, NULL, 0, 10, on_list, &r[2]);
    store_get(s, NULL, on_get, &r[3]); /* answered from the queue, not Redis */
    store_free(s);
    for (int i = 0; i < 50; i++)
        su_root_step(root, 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(r[i].calls, 0);

    s = open_redis(NULL);
    wait_status(s, "ok");
    freer_t f = {s, 0};
    result_t after[2] = {{0}};
    store_get(s, "sip:a@ims", free_in_callback, &f);
    store_get(s, "sip:a@ims", on_get, &after[0]);
    store_list(s, NULL, 0, 10, on_list, &after[1]);
    for (int i = 0; i < 200 && !f.calls; i++)
        su_root_step(root, 5);
    for (int i = 0; i < 50; i++)
        su_root_step(root, 2);
    assert_int_equal(f.calls, 1);
    assert_int_equal(after[0].calls, 0);
    assert_int_equal(after[1].calls, 0);
    store_reg_free(a);
    metrics_free(m);
}

/* The loop, and the redis-server (a missing one fails every case: make test installs it). */
static int setup(void **state)
{
    (void)state;
    if (su_init() != 0 || !(root = su_root_create(NULL)))
        return -1;
    redis_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    redis_kill();
    su_root_destroy(root);
    su_deinit();
    return 0;
}

static int need_redis(void **state)
{
    (void)state;
    assert_true(redis_pid > 0 || redis_start() == 0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(options_are_checked, need_redis),
        cmocka_unit_test_setup(two_replicas, need_redis),
        cmocka_unit_test_setup(hostile_data_in_redis, need_redis),
        cmocka_unit_test_setup(redis_killed_and_back, need_redis),
        cmocka_unit_test_setup(redis_stopped_and_continued, need_redis),
        cmocka_unit_test_setup(freed_with_pending, need_redis),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
