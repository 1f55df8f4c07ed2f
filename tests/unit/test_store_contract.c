/* The store contract (common/store/store.h), run against every backend through store_open_on(), so
 * through the backend's table of operations: put/get/update/delete, callbacks exactly once and
 * either always before the call returns or never (as store_synchronous() says), copies that are
 * the caller's, limits, list order and paging, expiry batches, counts, and hostile input (huge
 * strings, NUL bytes, bytes of every value, many contacts). A new backend joins by a line in
 * backends[] below; under ASan (make SAN=1 unit) a leak fails the run. The "redis" backend runs
 * against a redis-server this binary starts on a free port (tests/unit/redis_server.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sofia-sip/su_wait.h>

#include "common/store/store.h"
#include "tests/unit/redis_server.h"
#include "tests/unit/store_result.h"

#define NOW 1700000000

/* ---- the backends under test ---- */

typedef struct backend {
    const char *name;
    const char *options;
    /* For an asynchronous backend: runs its loop once (answers may arrive). NULL: synchronous. */
    void (*drive)(store_t *s);
    /* Before each store_open(): empties what the backend keeps outside the process. NULL: none. */
    void (*reset)(void);
} backend_t;

static su_root_t *root; /* the loop of the backends that need one */
static char redis_options[64];

/* One turn of the loop: waits up to 1 ms when nothing is ready. */
static void drive_loop(store_t *s)
{
    (void)s;
    su_root_step(root, 1);
}

/* The test's redis-server (redis_server.h), emptied. Fails when there is none. */
static void redis_reset(void)
{
    assert_true(redis_pid > 0);
    assert_int_equal(redis_sync("FLUSHALL"), 0);
}

/* The memory backend with its journal: a file of this run's own (main() names it), emptied
 * before each open so every case starts from an empty store, removed at the end. */
static char journal_path[64], journal_options[80];

static void journal_reset(void)
{
    char tmp[sizeof journal_path + 4];
    snprintf(tmp, sizeof tmp, "%s.tmp", journal_path);
    unlink(journal_path);
    unlink(tmp);
}

static const backend_t backends[] = {
    {"memory", NULL, NULL, NULL},
    {"redis", redis_options, drive_loop, redis_reset},
    {"memory", journal_options, NULL, journal_reset},
};
#define NBACKENDS   (sizeof backends / sizeof backends[0])
#define DRIVE_MAX   10000 /* loop turns an asynchronous answer may take (10 s at 1 ms) */
#define DRIVE_AFTER 5     /* turns after an answer in which a second one would show */

static const backend_t *current; /* the backend a case is running against */

static store_t *open_store(size_t max_regs, size_t max_contacts)
{
    store_limits_t limits = {max_regs, max_contacts};
    if (current->reset)
        current->reset();
    store_t *s = store_open_on(current->name, &limits, current->options, root);
    assert_non_null(s);
    assert_string_equal(store_backend(s), current->name);
    assert_int_equal(store_synchronous(s), current->drive == NULL);
    return s;
}

/* Runs fn against every backend, saying which one a failure belongs to. */
static void each_backend(void (*fn)(void))
{
    for (size_t i = 0; i < NBACKENDS; i++) {
        current = &backends[i];
        print_message("  backend %s%s%s\n", current->name, current->options ? " " : "",
                      current->options ? current->options : "");
        fn();
    }
}

/* Called right after a store call: the answer came before the return when the backend is
 * synchronous, not before when it is not; either way exactly once in the end. */
static void settle(store_t *s, result_t *r)
{
    if (store_synchronous(s)) {
        assert_int_equal(r->calls, 1);
        return;
    }
    assert_int_equal(r->calls, 0);
    for (int i = 0; i < DRIVE_MAX && !r->calls; i++)
        current->drive(s);
    assert_int_equal(r->calls, 1);
    for (int i = 0; i < DRIVE_AFTER; i++) /* and no second answer */
        current->drive(s);
    assert_int_equal(r->calls, 1);
}

static int put(store_t *s, const store_reg_t *reg)
{
    result_t r = {0};
    store_put(s, reg, on_done, &r);
    settle(s, &r);
    assert_true(r.rc == 0 || r.rc == -1 || (reg->rev && r.rc == STORE_CONFLICT));
    return r.rc;
}

static int del_if(store_t *s, const char *impi, uint64_t rev)
{
    result_t r = {0};
    store_del_if(s, impi, rev, on_done, &r);
    settle(s, &r);
    assert_true(r.rc == 0 || r.rc == -1 || r.rc == STORE_CONFLICT);
    return r.rc;
}

static int del(store_t *s, const char *impi)
{
    result_t r = {0};
    store_del(s, impi, on_done, &r);
    settle(s, &r);
    assert_true(r.rc == 0 || r.rc == -1);
    return r.rc;
}

/* The registration found (the caller's), or NULL when not found. */
static store_reg_t *get(store_t *s, const char *key, int by_impi)
{
    result_t r = {0};
    if (by_impi)
        store_get_impi(s, key, on_get, &r);
    else
        store_get(s, key, on_get, &r);
    settle(s, &r);
    assert_int_equal(r.rc, r.reg ? 0 : 1);
    return r.reg;
}

/* The IMPI found by IMPU (or by IMPI), "" when none. */
static const char *found(store_t *s, const char *key, int by_impi)
{
    static char impi[256];
    store_reg_t *r = get(s, key, by_impi);
    snprintf(impi, sizeof impi, "%s", r ? r->impi : "");
    store_reg_free(r);
    return impi;
}

static result_t list(store_t *s, const char *prefix, size_t offset, size_t limit)
{
    result_t r = {0};
    store_list(s, prefix, offset, limit, on_list, &r);
    settle(s, &r);
    assert_int_equal(r.rc, 0);
    assert_non_null(r.regs);
    assert_true(r.n <= r.total);
    return r;
}

/* ---- registrations ---- */

/* A registration with every field set. */
static store_reg_t *full_reg(const char *impi, const char *impu, const char *tel)
{
    const char *impus[] = {impu, tel};
    store_reg_t *r = make_reg(impi, impus, 2);
    const char *barred[] = {tel};
    assert_int_equal(store_reg_set_impus(r, impus, 2, barred, 1), 0);
    assert_int_equal(store_contact_set(&r->profile, "<IMSSubscription/>"), 0);
    assert_int_equal(store_contact_set(&r->scheme, "AKAv1-MD5"), 0);
    store_contact_t *c = add_contact(r, "sip:ue@192.0.2.1:5060;transport=tcp", NOW + 600);
    assert_int_equal(store_contact_set(&c->params, "+sip.instance=\"<urn:uuid:1>\";+g.3gpp.smsip"),
                     0);
    assert_int_equal(store_contact_set(&c->instance, "\"<urn:uuid:1>\""), 0);
    c->reg_id = 1;
    assert_int_equal(store_contact_set(&c->path, "<sip:term@pcscf;lr>"), 0);
    assert_int_equal(store_contact_set(&c->received, "tcp:192.0.2.1:40000"), 0);
    assert_int_equal(store_contact_set(&c->call_id, "cid-1"), 0);
    c->cseq = 7;
    assert_int_equal(store_contact_set(&c->user_agent, "UE/1"), 0);
    c->registered_at = NOW - 5;
    assert_int_equal(store_contact_set(&r->server_name, "sip:scscf.ims.example:6060"), 0);
    store_sub_t *u = store_reg_add_sub(r);
    assert_non_null(u);
    assert_int_equal(store_contact_set(&u->call_id, "sub-cid@ue"), 0);
    assert_int_equal(store_contact_set(&u->local_tag, "ltag"), 0);
    assert_int_equal(store_contact_set(&u->remote_tag, "rtag"), 0);
    assert_int_equal(store_contact_set(&u->local_uri, impu), 0);
    assert_int_equal(store_contact_set(&u->remote_uri, impu), 0);
    assert_int_equal(store_contact_set(&u->target, "sip:ue@192.0.2.1:5060;transport=tcp"), 0);
    assert_int_equal(store_contact_set(&u->route_set, "<sip:term@pcscf;lr>,<sip:b;lr>"), 0);
    assert_int_equal(store_contact_set(&u->impu, impu), 0);
    assert_int_equal(store_contact_set(&u->subscriber, impu), 0);
    u->cseq = 3;
    u->version = 2;
    u->expires_at = NOW + 600000;
    assert_non_null(store_reg_add_sub(r)); /* a second one, every field empty */
    return r;
}

/* ---- the cases ---- */

static void put_get_update_delete_case(void)
{
    store_t *s = open_store(10, 4);
    store_reg_t *a = full_reg("alice@ims", "sip:alice@ims", "tel:+1555");
    assert_null(get(s, "sip:alice@ims", 0));
    assert_int_equal(put(s, a), 0);
    for (int by_impi = 0; by_impi <= 1; by_impi++) {
        const char *key = by_impi ? "alice@ims" : "sip:alice@ims";
        store_reg_t *got = get(s, key, by_impi);
        assert_non_null(got);
        assert_same_reg(got, a);
        store_reg_free(got);
    }
    assert_string_equal(found(s, "tel:+1555", 0), "alice@ims");
    assert_string_equal(found(s, "alice@ims", 0), ""); /* an IMPI is no IMPU */
    assert_string_equal(found(s, "sip:alice@ims", 1), "");
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_contact_count(s), 1);

    /* Update: the tel IMPU leaves the set, another joins, a second contact. */
    const char *impus[] = {"sip:alice@ims", "sip:alice2@ims"};
    assert_int_equal(store_reg_set_impus(a, impus, 2, NULL, 0), 0);
    add_contact(a, "sip:ue@192.0.2.2", NOW + 60);
    assert_int_equal(put(s, a), 0);
    assert_string_equal(found(s, "tel:+1555", 0), "");
    assert_string_equal(found(s, "sip:alice2@ims", 0), "alice@ims");
    store_reg_t *got = get(s, "alice@ims", 1);
    assert_non_null(got);
    assert_same_reg(got, a);
    store_reg_free(got);
    assert_int_equal(store_count(s), 1);
    assert_int_equal(store_contact_count(s), 2);

    /* Another IMPI may not take an IMPU held by alice; nothing changes. */
    const char *taken[] = {"sip:bob@ims", "sip:alice2@ims"};
    store_reg_t *b = make_reg("bob@ims", taken, 2);
    assert_int_equal(put(s, b), -1);
    assert_string_equal(found(s, "sip:bob@ims", 0), "");
    assert_string_equal(found(s, "bob@ims", 1), "");

    assert_int_equal(del(s, "alice@ims"), 0);
    assert_int_equal(del(s, "alice@ims"), -1);
    assert_int_equal(del(s, "nobody@ims"), -1);
    assert_string_equal(found(s, "sip:alice@ims", 0), "");
    assert_string_equal(found(s, "sip:alice2@ims", 0), "");
    assert_int_equal(store_count(s), 0);
    assert_int_equal(store_contact_count(s), 0);
    /* Now bob may have it. */
    assert_int_equal(put(s, b), 0);
    assert_string_equal(found(s, "sip:alice2@ims", 0), "bob@ims");
    store_reg_free(a);
    store_reg_free(b);
    store_free(s);
}

static void put_get_update_delete(void **state)
{
    (void)state;
    each_backend(put_get_update_delete_case);
}

/* What the store hands out and takes in is a copy: changing either side changes nothing else. */
static void copies_case(void)
{
    store_t *s = open_store(10, 4);
    store_reg_t *a = full_reg("alice@ims", "sip:alice@ims", "tel:+1555");
    assert_int_equal(put(s, a), 0);
    store_reg_t *keep = store_reg_dup(a);
    assert_non_null(keep);
    assert_int_equal(store_contact_set(&a->contacts[0].uri, "sip:changed@x"), 0);
    store_reg_free(a); /* the store keeps its own */
    store_reg_t *got = get(s, "sip:alice@ims", 0);
    assert_non_null(got);
    assert_same_reg(got, keep);
    assert_int_equal(store_contact_set(&got->scheme, "changed"), 0);
    store_reg_free(got);
    got = get(s, "sip:alice@ims", 0);
    assert_non_null(got);
    assert_same_reg(got, keep);
    store_reg_free(got);
    result_t r = list(s, NULL, 0, 10);
    assert_int_equal(r.n, 1);
    store_regs_free(r.regs, r.n);
    got = get(s, "alice@ims", 1);
    assert_same_reg(got, keep);
    store_reg_free(got);
    store_reg_free(keep);
    store_free(s);
}

static void copies_are_the_callers(void **state)
{
    (void)state;
    each_backend(copies_case);
}

/* ---- callbacks: exactly once, before the return or never, and re-entrant ---- */

typedef struct chain {
    store_t *s;
    store_reg_t *next; /* put from inside the callback */
    result_t inner;
    int calls;
} chain_t;

static void chained_put(void *arg, int rc, store_reg_t *reg)
{
    chain_t *c = arg;
    c->calls++;
    assert_int_equal(rc, 0);
    store_reg_free(reg);
    store_put(c->s, c->next, on_done, &c->inner); /* the store called from its own callback */
}

static void reentrant_case(void)
{
    store_t *s = open_store(10, 4);
    const char *ia[] = {"sip:a@ims"}, *ib[] = {"sip:b@ims"};
    store_reg_t *a = make_reg("a@ims", ia, 1), *b = make_reg("b@ims", ib, 1);
    assert_int_equal(put(s, a), 0);
    chain_t c = {.s = s, .next = b};
    store_get(s, "sip:a@ims", chained_put, &c);
    if (store_synchronous(s)) {
        assert_int_equal(c.calls, 1);
        assert_int_equal(c.inner.calls, 1);
    } else {
        assert_int_equal(c.calls, 0);
        for (int i = 0; i < DRIVE_MAX && !c.inner.calls; i++)
            current->drive(s);
    }
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.inner.calls, 1);
    assert_int_equal(c.inner.rc, 0);
    assert_string_equal(found(s, "sip:b@ims", 0), "b@ims");

    /* Every call answers through settle() (once; before the return iff synchronous). */
    result_t r = {0};
    store_expired(s, NOW, on_list, &r);
    settle(s, &r);
    assert_int_equal(r.rc, 0);
    store_regs_free(r.regs, r.n);
    r = (result_t){0};
    store_get_impi(s, "nobody", on_get, &r);
    settle(s, &r);
    assert_int_equal(r.rc, 1);
    assert_null(r.reg);
    store_reg_free(a);
    store_reg_free(b);
    store_free(s);
}

static void callbacks_once_and_reentrant(void **state)
{
    (void)state;
    each_backend(reentrant_case);
}

/* ---- limits ---- */

static void limits_case(void)
{
    store_t *s = open_store(2, 2);
    const char *ia[] = {"sip:a@ims"}, *ib[] = {"sip:b@ims"}, *ic[] = {"sip:c@ims"};
    store_reg_t *a = make_reg("a@ims", ia, 1), *b = make_reg("b@ims", ib, 1),
                *c = make_reg("c@ims", ic, 1);
    add_contact(a, "sip:a@1", NOW + 60);
    assert_int_equal(put(s, a), 0);
    assert_int_equal(put(s, b), 0);
    assert_int_equal(put(s, c), -1); /* max_regs */
    assert_string_equal(found(s, "sip:c@ims", 0), "");
    add_contact(a, "sip:a@2", NOW + 60);
    assert_int_equal(put(s, a), 0); /* replacing at max_regs, at max_contacts */
    add_contact(a, "sip:a@3", NOW + 60);
    assert_int_equal(put(s, a), -1); /* max_contacts_per_reg: the old one stays */
    store_reg_t *got = get(s, "a@ims", 1);
    assert_int_equal(got->ncontacts, 2);
    store_reg_free(got);
    assert_int_equal(store_contact_count(s), 2);

    /* Raised: both fit now. Lowered: what is held stays, the next put is bounded. */
    assert_int_equal(store_set_limits(s, &(store_limits_t){3, 3}), 0);
    assert_int_equal(put(s, c), 0);
    assert_int_equal(put(s, a), 0);
    assert_int_equal(store_contact_count(s), 3);
    assert_int_equal(store_set_limits(s, &(store_limits_t){1, 1}), 0);
    assert_int_equal(store_count(s), 3);
    assert_string_equal(found(s, "sip:a@ims", 0), "a@ims");
    assert_int_equal(put(s, a), -1);
    assert_int_equal(put(s, b), 0); /* no contact, a replacement */
    const char *id[] = {"sip:d@ims"};
    store_reg_t *d = make_reg("d@ims", id, 1);
    assert_int_equal(put(s, d), -1);
    assert_int_equal(del(s, "a@ims"), 0);
    assert_int_equal(del(s, "b@ims"), 0);
    assert_int_equal(put(s, d), -1); /* c still held: one is the bound */
    assert_int_equal(del(s, "c@ims"), 0);
    assert_int_equal(put(s, d), 0);
    store_reg_free(a);
    store_reg_free(b);
    store_reg_free(c);
    store_reg_free(d);
    store_free(s);

    /* Nothing at all: every put refused. */
    s = open_store(0, 0);
    d = make_reg("d@ims", id, 1);
    assert_int_equal(put(s, d), -1);
    assert_int_equal(store_count(s), 0);
    store_reg_free(d);
    store_free(s);
}

static void limits_are_kept(void **state)
{
    (void)state;
    each_backend(limits_case);
}

/* ---- order and paging ---- */

#define PAGED 53

static void paging_case(void)
{
    store_t *s = open_store(1000, 4);
    /* Inserted out of order (i * 17 mod PAGED), listed by IMPI (strcmp). */
    for (int k = 0; k < PAGED; k++) {
        int i = k * 17 % PAGED;
        char impi[32], impu[40];
        snprintf(impi, sizeof impi, "user%03d@ims", i);
        snprintf(impu, sizeof impu, "sip:%s%03d@ims", i % 2 ? "odd" : "even", i);
        const char *impus[] = {impu};
        store_reg_t *r = make_reg(impi, impus, 1);
        assert_int_equal(put(s, r), 0);
        store_reg_free(r);
    }
    for (size_t page = 1; page <= 8; page++) {
        size_t seen = 0;
        char last[32] = "";
        for (size_t offset = 0; offset < PAGED + page; offset += page) {
            result_t r = list(s, "", offset, page);
            assert_int_equal(r.total, PAGED);
            assert_int_equal(r.n, offset >= PAGED         ? 0
                                  : PAGED - offset < page ? PAGED - offset
                                                          : page);
            for (size_t j = 0; j < r.n; j++) {
                char want[32];
                snprintf(want, sizeof want, "user%03zu@ims", seen++);
                assert_string_equal(r.regs[j]->impi, want);
                assert_true(strcmp(last, r.regs[j]->impi) < 0);
                snprintf(last, sizeof last, "%s", r.regs[j]->impi);
            }
            store_regs_free(r.regs, r.n);
        }
        assert_int_equal(seen, PAGED);
    }
    /* Prefix by IMPI, by IMPU, none; limit 0 still counts. */
    result_t r = list(s, "user01", 0, 100);
    assert_int_equal(r.total, 10);
    assert_string_equal(r.regs[0]->impi, "user010@ims");
    store_regs_free(r.regs, r.n);
    r = list(s, "sip:odd", 0, 100);
    assert_int_equal(r.total, PAGED / 2);
    for (size_t j = 0; j < r.n; j++)
        assert_memory_equal(r.regs[j]->impus[0], "sip:odd", 7);
    store_regs_free(r.regs, r.n);
    r = list(s, NULL, 0, 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.total, PAGED);
    store_regs_free(r.regs, r.n);
    r = list(s, "nobody", 0, 10);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.total, 0);
    store_regs_free(r.regs, r.n);
    r = list(s, NULL, SIZE_MAX, SIZE_MAX);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.total, PAGED);
    store_regs_free(r.regs, r.n);
    store_free(s);
}

static void list_order_and_paging(void **state)
{
    (void)state;
    each_backend(paging_case);
}

/* ---- expiry ---- */

static void expired_case(void)
{
    store_t *s = open_store(5000, 4);
    size_t want = 0;
    for (int i = 0; i < 1500; i++) {
        char impi[32], impu[40];
        snprintf(impi, sizeof impi, "u%04d@ims", i);
        snprintf(impu, sizeof impu, "sip:u%04d@ims", i);
        const char *impus[] = {impu};
        store_reg_t *r = make_reg(impi, impus, 1);
        add_contact(r, "sip:live@1", NOW + 100);
        if (i % 3 == 0) { /* 500 expired, one at exactly now */
            add_contact(r, "sip:gone@1", i == 0 ? NOW : NOW - i);
            want++;
        }
        assert_int_equal(put(s, r), 0);
        store_reg_free(r);
    }
    result_t r = {0};
    store_expired(s, NOW, on_list, &r);
    settle(s, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.total, want);
    assert_int_equal(r.n, want);
    for (size_t i = 0; i < r.n; i++) {
        assert_int_equal(r.regs[i]->ncontacts, 2);
        assert_true(r.regs[i]->contacts[1].expires_at <= NOW);
    }
    store_regs_free(r.regs, r.n);
    /* Later, everyone: at most 1000 at a time, total says how many. */
    r = (result_t){0};
    store_expired(s, NOW + 100, on_list, &r);
    settle(s, &r);
    assert_int_equal(r.total, 1500);
    assert_int_equal(r.n, 1000);
    store_regs_free(r.regs, r.n);
    store_free(s);
}

static void expired_in_batches(void **state)
{
    (void)state;
    each_backend(expired_case);
}

/* ---- hostile input ---- */

#define HUGE (1024 * 1024)

static char *filled(size_t n, char c)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

static void hostile_case(void)
{
    store_t *s = open_store(10, 2000);

    /* Huge strings: a 1 MiB IMPI, IMPU, URI and profile come back whole. */
    char *big = filled(HUGE, 'x');
    big[0] = 'a';
    char *big_impu = filled(HUGE, 'y');
    memcpy(big_impu, "sip:", 4);
    const char *impus[] = {big_impu};
    store_reg_t *r = make_reg(big, impus, 1);
    add_contact(r, big, NOW + 60);
    assert_int_equal(store_contact_set(&r->profile, big), 0);
    assert_int_equal(put(s, r), 0);
    store_reg_t *got = get(s, big_impu, 0);
    assert_non_null(got);
    assert_same_reg(got, r);
    store_reg_free(got);
    got = get(s, big, 1);
    assert_non_null(got);
    assert_string_equal(got->impi, big);
    store_reg_free(got);
    assert_int_equal(del(s, big), 0);
    store_reg_free(r);
    free(big);
    free(big_impu);

    /* NUL bytes: a key is what comes before its first NUL. */
    const char nul_impu[] = "sip:eve@ims\0sip:mallory@ims";
    const char *ni[] = {nul_impu};
    r = make_reg("eve@ims\0mallory", ni, 1);
    assert_int_equal(put(s, r), 0);
    assert_string_equal(found(s, "sip:eve@ims", 0), "eve@ims");
    assert_string_equal(found(s, "sip:mallory@ims", 0), "");
    assert_string_equal(found(s, "eve@ims", 1), "eve@ims");
    assert_int_equal(del(s, "eve@ims"), 0);
    store_reg_free(r);

    /* Every byte value but NUL, in a key and a value. */
    char bytes[256];
    for (int i = 1; i < 256; i++)
        bytes[i - 1] = (char)i;
    bytes[255] = '\0';
    const char *bi[] = {bytes};
    r = make_reg(bytes, bi, 1);
    add_contact(r, bytes, NOW + 60);
    assert_int_equal(put(s, r), 0);
    got = get(s, bytes, 0);
    assert_non_null(got);
    assert_same_reg(got, r);
    store_reg_free(got);
    assert_int_equal(del(s, bytes), 0);
    store_reg_free(r);

    /* Empty strings are keys like any other; NULL ones are refused. */
    const char *ei[] = {""};
    r = make_reg("", ei, 1);
    assert_int_equal(put(s, r), 0);
    for (int by_impi = 0; by_impi <= 1; by_impi++) {
        assert_non_null((got = get(s, "", by_impi)));
        assert_string_equal(got->impi, "");
        store_reg_free(got);
    }
    assert_int_equal(del(s, ""), 0);
    store_reg_free(r);
    r = make_reg("x@ims", ei, 1);
    free(r->impus[0]);
    r->impus[0] = NULL;
    assert_int_equal(put(s, r), -1);
    store_reg_free(r);
    r = calloc(1, sizeof *r); /* no IMPI */
    assert_int_equal(put(s, r), -1);
    store_reg_free(r);
    assert_null(get(s, NULL, 0));
    assert_null(get(s, NULL, 1));
    assert_int_equal(del(s, NULL), -1);
    assert_int_equal(store_count(s), 0);

    /* Many contacts and a large implicit set, in order. */
    r = store_reg_new("many@ims");
    assert_non_null(r);
    char *set[300];
    for (int i = 0; i < 300; i++) {
        set[i] = malloc(32);
        snprintf(set[i], 32, "sip:many%03d@ims", i);
    }
    assert_int_equal(store_reg_set_impus(r, (const char *const *)set, 300, NULL, 0), 0);
    for (int i = 0; i < 2000; i++) {
        char uri[48];
        snprintf(uri, sizeof uri, "sip:ue%04d@192.0.2.1", i);
        add_contact(r, uri, NOW + i);
    }
    assert_int_equal(put(s, r), 0);
    assert_int_equal(store_contact_count(s), 2000);
    got = get(s, set[299], 0);
    assert_non_null(got);
    assert_same_reg(got, r);
    store_reg_free(got);
    add_contact(r, "sip:one-too-many@192.0.2.1", NOW);
    assert_int_equal(put(s, r), -1);
    assert_int_equal(store_contact_count(s), 2000);
    for (int i = 0; i < 300; i++)
        free(set[i]);
    store_reg_free(r);
    store_free(s);
}

static void hostile_input(void **state)
{
    (void)state;
    each_backend(hostile_case);
}

/* Two writers that read the same revision: the second one's put is refused, nothing lost. */
static void revisions_case(void)
{
    store_t *s = open_store(10, 4);
    store_reg_t *a = full_reg("rev@x", "sip:rev@x", "tel:+100");
    a->rev = STORE_REV_NEW;
    assert_int_equal(put(s, a), 0);
    assert_int_equal(put(s, a), STORE_CONFLICT); /* exists now */
    store_reg_t *one = get(s, "rev@x", 1), *two = get(s, "sip:rev@x", 0);
    assert_non_null(one);
    assert_non_null(two);
    assert_int_equal(one->rev, 1);
    assert_int_equal(two->rev, 1);
    assert_int_equal(store_contact_set(&one->scheme, "Digest"), 0);
    assert_int_equal(put(s, one), 0);
    assert_int_equal(put(s, two), STORE_CONFLICT);
    store_reg_t *now = get(s, "rev@x", 1);
    assert_int_equal(now->rev, 2);
    assert_string_equal(now->scheme, "Digest");
    assert_same_reg(now, one);
    assert_int_equal(del_if(s, "rev@x", 1), STORE_CONFLICT);
    assert_non_null(now = (store_reg_free(now), get(s, "rev@x", 1)));
    a->rev = 0; /* unconditional */
    assert_int_equal(put(s, a), 0);
    store_reg_t *three = get(s, "rev@x", 1);
    assert_int_equal(three->rev, 3);
    assert_int_equal(del_if(s, "rev@x", 3), 0);
    assert_null(get(s, "rev@x", 1));
    assert_int_equal(del_if(s, "rev@x", 3), -1);
    store_reg_free(a);
    store_reg_free(one);
    store_reg_free(two);
    store_reg_free(now);
    store_reg_free(three);
    store_free(s);
}

static void revisions_refuse_lost_updates(void **state)
{
    (void)state;
    each_backend(revisions_case);
}

static void unknown_backend_and_options(void **state)
{
    (void)state;
    store_limits_t limits = {1, 1};
    assert_null(store_open("no-such-backend", &limits, NULL));
    assert_null(store_open(NULL, &limits, NULL));
    assert_null(store_open("memory", &limits, "bogus=1"));    /* memory: journal=, fsync= only */
    assert_null(store_open("redis", &limits, redis_options)); /* redis needs the loop */
    size_t n = 0;
    while (store_backend_name(n))
        n++;
    assert_true(n >= 1);
    for (size_t i = 0; i < NBACKENDS; i++) { /* every backend under test is one the store knows */
        int listed = 0;
        for (size_t j = 0; j < n; j++)
            listed |= strcmp(store_backend_name(j), backends[i].name) == 0;
        assert_true(listed);
    }
    for (size_t j = 0; j < n; j++) { /* and every backend the store knows is under test */
        int tested = 0;
        for (size_t i = 0; i < NBACKENDS; i++)
            tested |= strcmp(store_backend_name(j), backends[i].name) == 0;
        assert_true(tested);
    }
    store_free(NULL);
}

/* The loop, and the redis-server the "redis" backend talks to (its cases fail without one). */
static int setup(void **state)
{
    (void)state;
    if (su_init() != 0 || !(root = su_root_create(NULL)))
        return -1;
    if (redis_start() == 0)
        snprintf(redis_options, sizeof redis_options, "address=127.0.0.1:%d,timeout_ms=5000",
                 redis_port);
    else
        snprintf(redis_options, sizeof redis_options, "address=127.0.0.1:1");
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

int main(void)
{
    snprintf(journal_path, sizeof journal_path, "/tmp/test_store_contract.%d.journal",
             (int)getpid());
    snprintf(journal_options, sizeof journal_options, "journal=%s", journal_path);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_update_delete),
        cmocka_unit_test(copies_are_the_callers),
        cmocka_unit_test(callbacks_once_and_reentrant),
        cmocka_unit_test(limits_are_kept),
        cmocka_unit_test(list_order_and_paging),
        cmocka_unit_test(expired_in_batches),
        cmocka_unit_test(hostile_input),
        cmocka_unit_test(revisions_refuse_lost_updates),
        cmocka_unit_test(unknown_backend_and_options),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    journal_reset();
    return failed;
}
