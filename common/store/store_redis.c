/* The Redis store backend ("redis"), shared by replicas: store_redis_ops. Asynchronous: every
 * answer comes later from the su_root loop, never before the call returns, and nothing here
 * blocks the loop (hiredis's async API on redis_loop.c; the connect is non-blocking too).
 *
 * Each operation is one EVALSHA of a script (store_redis_lua.h, which also has the key
 * layout), so a put is atomic on the server: the revision, the IMPUs and the limits are
 * checked and everything is written, or nothing is. The scripts are loaded (SCRIPT LOAD) at the
 * head of every new connection, before any command of ours on it; an EVALSHA that still meets
 * NOSCRIPT (scripts flushed on the server) is sent once more as EVAL, which caches the script.
 *
 * A host that is a name is resolved by getaddrinfo_a() (glibc's resolver thread) before each
 * connect, the first IPv4 address taken (else the first IPv6 one); while it runs, calls fail
 * with STORE_ERROR as when there is no connection.
 *
 * Failures: every command has a deadline (timeout_ms). When the oldest pending one passes it,
 * every pending command answers STORE_TIMEOUT and the connection is dropped. A connection that
 * is refused or lost fails its pending commands with STORE_ERROR; while there is none, new
 * commands fail at once with STORE_ERROR (from the loop). A new connection is tried after
 * 100 ms, then after twice as long each time up to 2 s; it is "ok" once Redis answered on it.
 * Those answers that are not Redis replies go through a queue (later) drained by a zero-delay
 * timer, so a callback never runs inside the store call that caused it.
 *
 * Counts: the write scripts return the new totals, and a timer asks for them every 5 s (which
 * also finds a Redis that stopped answering), so store_count() answers at once. */
#include "common/store/store.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <sofia-sip/su_wait.h>

#include "common/store/redis_loop.h"
#include "common/store/store_internal.h"
#include "common/store/store_redis_lua.h"
#include "common/util/log.h"

#define DEFAULT_TIMEOUT_MS 500
#define DEFAULT_PREFIX     "ims:"
#define GRACE_S            3600 /* a record outlives its last expiry by this (the sweep's time) */
#define REFRESH_MS         5000
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     2000
#define CONNECT_MIN_MS     1000 /* a connect may take this long even with a short timeout */
#define INDEX_MAX          1e15 /* list offsets and limits beyond any real count */
#define TICK_MIN_MS        10
#define TICK_MAX_MS        50

enum script { SC_PUT, SC_DEL, SC_GET, SC_LIST, SC_EXPIRED, SC_COUNTS, NSCRIPTS };
static const char *const script_text[NSCRIPTS] = {lua_put,  lua_del,     lua_get,
                                                  lua_list, lua_expired, lua_counts};

/* What the reply is for: how to read it and which callback gets it. */
enum kind { K_GET, K_DONE, K_LIST, K_COUNTS, K_LOAD };
enum state { ST_CONNECTING, ST_OK, ST_DOWN };
static const char *const state_name[] = {"connecting", "ok", "down"};

typedef struct rstore rstore_t;

/* A name being resolved by glibc's getaddrinfo_a (its own thread), so a host name never
 * blocks the loop; one allocation, as the request must outlive the store when it cannot be
 * cancelled. */
typedef struct lookup {
    struct gaicb cb;
    struct addrinfo hints;
    char name[];
} lookup_t;

typedef struct cmd {
    struct cmd *prev, *next; /* in the store's pending list, or (next only) its later queue */
    rstore_t *s;             /* NULL: no answer owed any more (the store was closed) */
    enum kind kind;
    store_cb_t cb;
    void *arg;
    int64_t deadline; /* monotonic ms */
    int rc;           /* the answer, while in the later queue */
    /* An EVALSHA as sent (RESP), kept until answered: sent again as EVAL on NOSCRIPT. */
    char *resp;
    size_t resp_len;
    enum script script;
} cmd_t;

struct rstore {
    su_root_t *root;
    char *host;
    int port;
    int timeout_ms;
    char *prefix;
    size_t max_regs, max_contacts;
    char sha[NSCRIPTS][41];

    int numeric;           /* host is an address: no name resolution */
    lookup_t *lookup;      /* a name being resolved (ac NULL meanwhile) */
    redisAsyncContext *ac; /* NULL: no connection (until retry_at) */
    int verified;          /* Redis answered on ac */
    enum state state;      /* what store_status() says; logged when it changes */
    int fail_rc;           /* what pending commands get when the connection goes */
    int backoff_ms;
    int64_t retry_at, connect_deadline, refresh_at;

    cmd_t *head, *tail; /* pending: sent on ac, oldest first */
    cmd_t *later, *later_tail;
    su_timer_t *tick, *soon;
    int soon_set;
    int *alive; /* while drain() runs: cleared by a store_free() from a callback */

    size_t nregs, ncontacts;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_state(rstore_t *s, enum state st, const char *why)
{
    if (s->state == st)
        return;
    s->state = st;
    if (st == ST_OK)
        log_info("store: redis %s:%d is up", s->host, s->port);
    else
        log_warn("store: redis %s:%d is %s: %s", s->host, s->port, state_name[st], why);
}

/* ---- answers ---- */

static void cmd_free(cmd_t *c)
{
    free(c->resp);
    free(c);
}

static void answer(cmd_t *c, int rc, store_reg_t *reg, store_reg_t **regs, size_t n, size_t total)
{
    switch (c->kind) {
    case K_GET:
        c->cb.get(c->arg, rc, reg);
        break;
    case K_DONE:
        c->cb.done(c->arg, rc);
        break;
    case K_LIST:
        c->cb.list(c->arg, rc, regs, n, total);
        break;
    case K_COUNTS:
    case K_LOAD:
        break;
    }
}

static void drain(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    (void)magic;
    (void)t;
    rstore_t *s = (rstore_t *)arg;
    /* Only those queued so far: a callback that calls again is answered on the next turn. */
    cmd_t *list = s->later;
    s->later = s->later_tail = NULL;
    s->soon_set = 0;
    int alive = 1;
    s->alive = &alive;
    while (list) {
        cmd_t *c = list;
        list = c->next;
        answer(c, c->rc, NULL, NULL, 0, 0);
        cmd_free(c);
        if (!alive) { /* the store was freed by that callback: the rest owe nothing */
            while (list) {
                c = list;
                list = c->next;
                cmd_free(c);
            }
            return;
        }
    }
    s->alive = NULL;
}

/* c answers rc from the loop (next turn), not now. */
static void later(rstore_t *s, cmd_t *c, int rc)
{
    c->rc = rc;
    c->next = NULL;
    if (s->later_tail)
        s->later_tail->next = c;
    else
        s->later = c;
    s->later_tail = c;
    if (!s->soon_set && su_timer_set_interval(s->soon, drain, (su_timer_arg_t *)s, 0) == 0)
        s->soon_set = 1;
}

static cmd_t *cmd_new(rstore_t *s, enum kind kind, void *arg)
{
    cmd_t *c = calloc(1, sizeof *c);
    if (c) { /* cmd_free() */
        c->s = s;
        c->kind = kind;
        c->arg = arg;
    }
    return c;
}

static void unlink_pending(rstore_t *s, cmd_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        s->tail = c->prev;
    c->prev = c->next = NULL;
}

/* ---- reading replies ---- */

static int is_int(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER;
}

static int is_str(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING;
}

/* The record of a {record, rev} pair of replies; NULL (logged) when it is not one. */
static store_reg_t *record_of(const redisReply *text, const redisReply *rev)
{
    char err[128] = "not a string";
    store_reg_t *r = NULL;
    if (is_str(text) && is_str(rev))
        r = store_reg_decode(text->str, text->len, err, sizeof err);
    char *end = NULL;
    uint64_t v = r ? strtoull(rev->str, &end, 10) : 0;
    if (r && (!rev->len || *end || v == STORE_REV_NEW)) {
        snprintf(err, sizeof err, "bad revision");
        store_reg_free(r);
        r = NULL;
    }
    if (!r) {
        log_warn("store: redis: a stored record is unreadable (%s)", err);
        return NULL;
    }
    r->rev = v;
    return r;
}

static int counts_of(rstore_t *s, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 4 || !is_int(r->element[0]) ||
        !is_int(r->element[2]) || !is_int(r->element[3]))
        return -1;
    s->nregs = r->element[2]->integer > 0 ? (size_t)r->element[2]->integer : 0;
    s->ncontacts = r->element[3]->integer > 0 ? (size_t)r->element[3]->integer : 0;
    return 0;
}

static void reply_done(rstore_t *s, cmd_t *c, const redisReply *r)
{
    if (counts_of(s, r) < 0) {
        answer(c, STORE_ERROR, NULL, NULL, 0, 0);
        return;
    }
    long long code = r->element[0]->integer;
    if (code < 0 && is_str(r->element[1]) && strcmp(r->element[1]->str, "unknown") != 0)
        log_warn("store: redis: registration refused: %s", r->element[1]->str);
    answer(c, code == 0 ? 0 : code == 1 ? STORE_CONFLICT : STORE_ERROR, NULL, NULL, 0, 0);
}

static void reply_get(cmd_t *c, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || (r->elements != 0 && r->elements != 2)) {
        answer(c, STORE_ERROR, NULL, NULL, 0, 0);
        return;
    }
    if (!r->elements) {
        answer(c, 1, NULL, NULL, 0, 0);
        return;
    }
    store_reg_t *reg = record_of(r->element[0], r->element[1]);
    answer(c, reg ? 0 : STORE_ERROR, reg, NULL, 0, 0);
}

/* {total, {record, rev, ...}}: records that cannot be read are left out (and not counted). */
static void reply_list(cmd_t *c, const redisReply *r)
{
    const redisReply *recs =
        r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1] : NULL;
    if (!recs || !is_int(r->element[0]) || recs->type != REDIS_REPLY_ARRAY || recs->elements % 2) {
        answer(c, STORE_ERROR, NULL, NULL, 0, 0);
        return;
    }
    size_t total = r->element[0]->integer > 0 ? (size_t)r->element[0]->integer : 0, n = 0;
    store_reg_t **regs = calloc(recs->elements / 2 + 1, sizeof *regs);
    if (!regs) {
        answer(c, STORE_ERROR, NULL, NULL, 0, 0);
        return;
    }
    for (size_t i = 0; i + 1 < recs->elements; i += 2) {
        store_reg_t *reg = record_of(recs->element[i], recs->element[i + 1]);
        if (reg)
            regs[n++] = reg;
        else if (total)
            total--;
    }
    answer(c, 0, NULL, regs, n, total < n ? n : total);
}

/* Any answer says Redis is there (even an error: hostile data in an index key). */
static void reply_counts(rstore_t *s, const redisReply *r)
{
    counts_of(s, r);
    s->verified = 1;
    s->backoff_ms = BACKOFF_MIN_MS;
    set_state(s, ST_OK, "");
}

static int resend_as_eval(rstore_t *s, cmd_t *c);

/* hiredis's reply callback: once per command, with NULL when the connection went. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    cmd_t *c = privdata;
    rstore_t *s = c->s;
    if (!s) { /* the store is gone */
        cmd_free(c);
        return;
    }
    unlink_pending(s, c);
    redisReply *r = reply;
    if (!r) {
        later(s, c, s->fail_rc);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOSCRIPT", 8) != 0 || !c->resp)
            log_warn("store: redis: %s", r->str);
        if (c->kind == K_COUNTS)
            reply_counts(s, r);
        if (strncmp(r->str, "NOSCRIPT", 8) == 0 && resend_as_eval(s, c) == 0)
            return; /* flushed behind our back: EVAL sends the script (and caches it) */
        answer(c, STORE_ERROR, NULL, NULL, 0, 0);
        cmd_free(c);
        return;
    }
    switch (c->kind) {
    case K_GET:
        reply_get(c, r);
        break;
    case K_DONE:
        reply_done(s, c, r);
        break;
    case K_LIST:
        reply_list(c, r);
        break;
    case K_COUNTS:
        reply_counts(s, r);
        break;
    case K_LOAD:
        break;
    }
    cmd_free(c);
}

/* ---- sending ---- */

/* c joins the pending list (its reply is due before its deadline). */
static void pending(rstore_t *s, cmd_t *c)
{
    c->deadline = now_ms() + s->timeout_ms;
    c->prev = s->tail;
    c->next = NULL;
    if (s->tail)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
}

/* Sends argv on the connection for c, or has c answer STORE_ERROR from the loop when there is
 * none. c's callback runs exactly once either way. */
static void send_argv(rstore_t *s, cmd_t *c, int argc, const char **argv, const size_t *lens)
{
    if (!s->ac || redisAsyncCommandArgv(s->ac, on_reply, c, argc, argv, lens) != REDIS_OK) {
        later(s, c, STORE_ERROR);
        return;
    }
    pending(s, c);
}

/* The same for c->resp, a command already in RESP. */
static void send_resp(rstore_t *s, cmd_t *c)
{
    if (!s->ac ||
        redisAsyncFormattedCommand(s->ac, on_reply, c, c->resp, c->resp_len) != REDIS_OK) {
        later(s, c, STORE_ERROR);
        return;
    }
    pending(s, c);
}

/* c->resp, an EVALSHA, sent again as EVAL with the script's text: "*N\r\n$7\r\nEVALSHA\r\n
 * $40\r\n<sha>\r\n" becomes "*N\r\n$4\r\nEVAL\r\n$<len>\r\n<script>\r\n", the rest as it
 * was. 0, or -1 (c untouched). Once only: an EVAL does not answer NOSCRIPT. */
static int resend_as_eval(rstore_t *s, cmd_t *c)
{
    if (!c->resp || c->script >= NSCRIPTS)
        return -1;
    const char *head_end = memchr(c->resp, '\n', c->resp_len);
    size_t head = head_end ? (size_t)(head_end - c->resp) + 1 : 0, skip = head + 13 + 47;
    if (!head_end || c->resp_len < skip || memcmp(c->resp + head, "$7\r\nEVALSHA\r\n", 13) ||
        memcmp(c->resp + head + 13, "$40\r\n", 5))
        return -1;
    const char *text = script_text[c->script];
    char mid[64];
    int m = snprintf(mid, sizeof mid, "$4\r\nEVAL\r\n$%zu\r\n", strlen(text));
    size_t len = head + (size_t)m + strlen(text) + 2 + (c->resp_len - skip);
    char *eval = malloc(len);
    if (!eval)
        return -1;
    char *at = eval;
    at = (char *)memcpy(at, c->resp, head) + head;
    at = (char *)memcpy(at, mid, (size_t)m) + m;
    at = (char *)memcpy(at, text, strlen(text)) + strlen(text);
    at = (char *)memcpy(at, "\r\n", 2) + 2;
    memcpy(at, c->resp + skip, c->resp_len - skip);
    free(c->resp);
    c->resp = eval;
    c->resp_len = len;
    c->script = NSCRIPTS; /* no second time */
    send_resp(s, c);
    return 0;
}

/* EVALSHA of script with ARGV prefix, args[0..n). */
static void eval(rstore_t *s, cmd_t *c, enum script sc, size_t n, const char **args,
                 const size_t *lens)
{
    size_t argc = n + 4;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *len = malloc(argc * sizeof *len);
    int resp_len = -1;
    if (argv && len && argc <= INT_MAX) {
        argv[0] = "EVALSHA";
        argv[1] = s->sha[sc];
        argv[2] = "0";
        argv[3] = s->prefix;
        for (size_t i = 0; i < 4; i++)
            len[i] = strlen(argv[i]);
        for (size_t i = 0; i < n; i++) {
            argv[4 + i] = args[i];
            len[4 + i] = lens ? lens[i] : strlen(args[i]);
        }
        resp_len = redisFormatCommandArgv(&c->resp, (int)argc, argv, len);
    }
    free(argv);
    free(len);
    if (resp_len < 0) {
        c->resp = NULL;
        later(s, c, STORE_ERROR);
        return;
    }
    c->resp_len = (size_t)resp_len;
    c->script = sc;
    send_resp(s, c);
}

static void load_scripts(rstore_t *s)
{
    for (int i = 0; i < NSCRIPTS; i++) {
        cmd_t *c = cmd_new(s, K_LOAD, NULL);
        if (!c)
            return;
        const char *argv[] = {"SCRIPT", "LOAD", script_text[i]};
        send_argv(s, c, 3, argv, NULL);
    }
}

static void ask_counts(rstore_t *s)
{
    cmd_t *c = cmd_new(s, K_COUNTS, NULL);
    if (c)
        eval(s, c, SC_COUNTS, 0, NULL, NULL);
}

/* ---- the connection ---- */

static void retry_later(rstore_t *s, const char *why)
{
    s->ac = NULL;
    s->verified = 0;
    s->retry_at = now_ms() + s->backoff_ms;
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
    set_state(s, ST_DOWN, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rstore_t *s = ac->data;
    if (!s || status == REDIS_OK)
        return; /* up once Redis answered (reply_counts) */
    /* hiredis frees ac right after this, failing its commands (on_reply with NULL). */
    retry_later(s, ac->c.errstr[0] ? ac->c.errstr : "cannot connect");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    rstore_t *s = ac->data;
    if (s) /* lost: hiredis has failed the pending commands and frees ac */
        retry_later(s, ac->c.errstr[0] ? ac->c.errstr : "connection closed");
}

/* Connects to ip (an address, so hiredis's own getaddrinfo() does not block). */
static void connect_to(rstore_t *s, const char *ip)
{
    redisAsyncContext *ac = redisAsyncConnect(ip, s->port);
    if (!ac || ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac ? ac->c.errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        retry_later(s, why);
        return;
    }
    if (redis_loop_attach(ac, s->root) < 0) {
        redisAsyncFree(ac);
        retry_later(s, "cannot attach to the loop");
        return;
    }
    ac->data = s;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    s->ac = ac;
    s->verified = 0;
    int64_t wait = s->timeout_ms > CONNECT_MIN_MS ? s->timeout_ms : CONNECT_MIN_MS;
    s->connect_deadline = now_ms() + wait;
    s->refresh_at = now_ms() + REFRESH_MS;
    load_scripts(s);
    ask_counts(s); /* its answer says Redis is there */
}

/* Starts resolving s->host in the background; tick() picks the answer up. */
static void resolve(rstore_t *s)
{
    size_t n = strlen(s->host) + 1;
    lookup_t *l = calloc(1, sizeof *l + n);
    if (!l) {
        retry_later(s, "out of memory");
        return;
    }
    memcpy(l->name, s->host, n);
    l->hints.ai_socktype = SOCK_STREAM;
    l->cb.ar_name = l->name;
    l->cb.ar_request = &l->hints;
    struct gaicb *list[] = {&l->cb};
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
        free(l);
        retry_later(s, "cannot start resolving the name");
        return;
    }
    s->lookup = l;
    int64_t wait = s->timeout_ms > CONNECT_MIN_MS ? s->timeout_ms : CONNECT_MIN_MS;
    s->connect_deadline = now_ms() + wait;
}

/* The first IPv4 address of a (else the first IPv6 one) as text into ip; 0, or -1. */
static int pick_address(const struct addrinfo *a, char *ip, size_t len)
{
    const struct addrinfo *v6 = NULL;
    for (; a; a = a->ai_next) {
        if (a->ai_family == AF_INET)
            return inet_ntop(AF_INET, &((const struct sockaddr_in *)a->ai_addr)->sin_addr, ip,
                             (socklen_t)len)
                       ? 0
                       : -1;
        if (a->ai_family == AF_INET6 && !v6)
            v6 = a;
    }
    return v6 && inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)v6->ai_addr)->sin6_addr, ip,
                           (socklen_t)len)
               ? 0
               : -1;
}

/* From tick(): the name resolved (connect), failed (retry later), or still under way. */
static void resolved(rstore_t *s, int64_t now)
{
    lookup_t *l = s->lookup;
    int rc = gai_error(&l->cb);
    if (rc == EAI_INPROGRESS) {
        if (now < s->connect_deadline || gai_cancel(&l->cb) != EAI_CANCELED)
            return; /* wait on (a resolution that cannot be cancelled ends by itself) */
        s->lookup = NULL;
        free(l);
        retry_later(s, "name resolution timed out");
        return;
    }
    s->lookup = NULL;
    char ip[INET6_ADDRSTRLEN];
    int found = rc == 0 && pick_address(l->cb.ar_result, ip, sizeof ip) == 0;
    if (l->cb.ar_result)
        freeaddrinfo(l->cb.ar_result);
    free(l);
    if (!found) {
        char why[128];
        snprintf(why, sizeof why, "cannot resolve the name: %s",
                 rc ? gai_strerror(rc) : "no address");
        retry_later(s, why);
        return;
    }
    connect_to(s, ip);
}

/* A resolution nobody waits for any more (store_free): cancelled, or waited for a little
 * (blocking, but only when the store is freed); one still running after that is left to its
 * thread (its memory with it: logged), as glibc writes into it when it ends. */
static void abandon(lookup_t *l)
{
    if (gai_cancel(&l->cb) == EAI_NOTCANCELED) {
        const struct gaicb *list[] = {&l->cb};
        struct timespec wait = {2, 0};
        gai_suspend(list, 1, &wait);
        if (gai_error(&l->cb) == EAI_INPROGRESS) {
            log_warn("store: redis: name resolution of %s still running, left behind", l->name);
            return;
        }
    }
    if (gai_error(&l->cb) == 0 && l->cb.ar_result)
        freeaddrinfo(l->cb.ar_result);
    free(l);
}

static void connect_now(rstore_t *s)
{
    if (s->numeric)
        connect_to(s, s->host);
    else
        resolve(s);
}

/* Drops the connection: its pending commands answer rc (from the loop). */
static void drop(rstore_t *s, int rc, const char *why)
{
    redisAsyncContext *ac = s->ac;
    ac->data = NULL; /* no on_disconnect for what we do ourselves */
    retry_later(s, why);
    s->fail_rc = rc;
    redisAsyncFree(ac); /* on_reply(NULL) for each pending command */
    s->fail_rc = STORE_ERROR;
}

static void tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    (void)magic;
    (void)t;
    rstore_t *s = (rstore_t *)arg;
    int64_t now = now_ms();
    if (s->ac && s->head && s->head->deadline <= now) {
        char why[64];
        snprintf(why, sizeof why, "no answer in %d ms", s->timeout_ms);
        drop(s, STORE_TIMEOUT, why);
    } else if (s->ac && !s->verified && s->connect_deadline <= now) {
        drop(s, STORE_TIMEOUT, "connect timed out");
    }
    if (s->lookup)
        resolved(s, now);
    else if (!s->ac && s->retry_at <= now)
        connect_now(s);
    if (s->ac && s->verified && s->refresh_at <= now) {
        s->refresh_at = now + REFRESH_MS;
        ask_counts(s);
    }
    if (s->later && !s->soon_set) /* the zero-delay timer could not be set: answer now */
        drain(NULL, NULL, (su_timer_arg_t *)s); /* last: a callback may free s */
}

/* ---- options ---- */

static int parse_address(rstore_t *s, const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return -1;
    const char *host = v, *host_end = colon;
    if (*host == '[' && host_end[-1] == ']') { /* [v6]:port */
        host++;
        host_end--;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 1 || port > 65535 || host_end <= host)
        return -1;
    free(s->host);
    s->host = strndup(host, (size_t)(host_end - host));
    s->port = (int)port;
    unsigned char bin[sizeof(struct in6_addr)];
    s->numeric = s->host &&
                 (inet_pton(AF_INET, s->host, bin) == 1 || inet_pton(AF_INET6, s->host, bin) == 1);
    return s->host ? 0 : -1;
}

/* "address=HOST:PORT[,timeout_ms=N][,prefix=P]"; 0, or -1 (logged). */
static int parse_options(rstore_t *s, const char *options)
{
    char *copy = strdup(options ? options : ""), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && !rc;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '='), *end;
        const char *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (eq && strcmp(item, "address") == 0) {
            rc = parse_address(s, v);
        } else if (eq && strcmp(item, "timeout_ms") == 0) {
            long ms = strtol(v, &end, 10);
            rc = *v && !*end && ms >= 1 && ms <= 600000 ? 0 : -1;
            s->timeout_ms = (int)ms;
        } else if (eq && strcmp(item, "prefix") == 0) {
            free(s->prefix);
            rc = (s->prefix = strdup(v)) ? 0 : -1;
        } else {
            rc = -1;
        }
        if (rc)
            log_error("store: redis: bad option \"%s%s%s\"", item, eq ? "=" : "", v);
    }
    free(copy);
    if (!rc && !s->host) {
        log_error("store: redis: options need address=HOST:PORT (\"%s\")", options ? options : "");
        rc = -1;
    }
    return rc;
}

/* ---- the store ---- */

static int script_sha(const char *text, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL) || n != 20)
        return -1;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static void r_close(void *be);

static void *r_open(const store_limits_t *limits, const char *options, struct su_root_s *root)
{
    if (!root) {
        log_error("store: the redis backend needs the program's loop (store_open_on)");
        return NULL;
    }
    rstore_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->root = root;
    s->timeout_ms = DEFAULT_TIMEOUT_MS;
    s->max_regs = limits->max_regs;
    s->max_contacts = limits->max_contacts_per_reg;
    s->fail_rc = STORE_ERROR;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->state = ST_CONNECTING;
    int ok = (s->prefix = strdup(DEFAULT_PREFIX)) && parse_options(s, options) == 0;
    for (int i = 0; ok && i < NSCRIPTS; i++)
        ok = script_sha(script_text[i], s->sha[i]) == 0;
    int tick_ms = s->timeout_ms / 10;
    tick_ms = tick_ms < TICK_MIN_MS ? TICK_MIN_MS : tick_ms > TICK_MAX_MS ? TICK_MAX_MS : tick_ms;
    ok = ok && (s->tick = su_timer_create(su_root_task(root), tick_ms)) &&
         (s->soon = su_timer_create(su_root_task(root), 0)) &&
         su_timer_run(s->tick, tick, (su_timer_arg_t *)s) == 0;
    if (!ok) {
        r_close(s);
        return NULL;
    }
    log_info("store: redis %s:%d, prefix \"%s\", timeout %d ms", s->host, s->port, s->prefix,
             s->timeout_ms);
    connect_now(s);
    return s;
}

static void r_close(void *be)
{
    rstore_t *s = be;
    if (!s)
        return;
    if (s->alive)
        *s->alive = 0;
    for (cmd_t *c = s->head; c; c = c->next)
        c->s = NULL; /* hiredis still holds them: on_reply frees them without answering */
    while (s->later) {
        cmd_t *c = s->later;
        s->later = c->next;
        cmd_free(c);
    }
    if (s->ac) {
        s->ac->data = NULL;
        redisAsyncFree(s->ac); /* now, or after the reply callback running now */
    }
    if (s->lookup)
        abandon(s->lookup);
    if (s->tick)
        su_timer_destroy(s->tick);
    if (s->soon)
        su_timer_destroy(s->soon);
    free(s->host);
    free(s->prefix);
    free(s);
}

static int r_set_limits(void *be, const store_limits_t *limits)
{
    rstore_t *s = be;
    s->max_regs = limits->max_regs;
    s->max_contacts = limits->max_contacts_per_reg;
    return 0;
}

/* Out of memory for a command record: the one case where the answer comes at once (waiting for
 * the loop needs memory too). */
#define NEW_CMD_OR_FAIL(c, s, kind, arg, ...)                                                      \
    cmd_t *c = cmd_new(s, kind, arg);                                                              \
    if (!c) {                                                                                      \
        log_error("store: redis: out of memory");                                                  \
        __VA_ARGS__;                                                                               \
        return;                                                                                    \
    }

static void get_by(rstore_t *s, const char *by, const char *key, store_get_f cb, void *arg)
{
    NEW_CMD_OR_FAIL(c, s, K_GET, arg, cb(arg, STORE_ERROR, NULL));
    c->cb.get = cb;
    if (!key) {
        later(s, c, 1);
        return;
    }
    const char *args[] = {by, key};
    eval(s, c, SC_GET, 2, args, NULL);
}

static void r_get(void *be, const char *impu, store_get_f cb, void *arg)
{
    get_by(be, "impu", impu, cb, arg);
}

static void r_get_impi(void *be, const char *impi, store_get_f cb, void *arg)
{
    get_by(be, "impi", impi, cb, arg);
}

/* The earliest and latest expires_at of r's contacts and subscriptions; 0 when it has none. */
static int expiry_span(const store_reg_t *r, int64_t *first, int64_t *last)
{
    int any = 0;
    for (size_t i = 0; i < r->ncontacts + r->nsubs; i++) {
        int64_t at =
            i < r->ncontacts ? r->contacts[i].expires_at : r->subs[i - r->ncontacts].expires_at;
        *first = any && *first < at ? *first : at;
        *last = any && *last > at ? *last : at;
        any = 1;
    }
    return any;
}

/* Why reg cannot be sent at all; NULL when it can. */
static const char *refusal(const rstore_t *s, const store_reg_t *reg)
{
    if (!reg->impi)
        return "malformed";
    for (size_t i = 0; i < reg->nimpus; i++)
        if (!reg->impus[i])
            return "malformed";
    if (reg->ncontacts > s->max_contacts)
        return "too many contacts";
    return NULL;
}

static void r_put(void *be, const store_reg_t *reg, store_done_f cb, void *arg)
{
    rstore_t *s = be;
    NEW_CMD_OR_FAIL(c, s, K_DONE, arg, cb(arg, STORE_ERROR));
    c->cb.done = cb;
    const char *why = refusal(s, reg);
    char *rec = why ? NULL : store_reg_encode(reg);
    const char **args = why || !rec ? NULL : malloc((10 + reg->nimpus) * sizeof *args);
    if (!args) {
        log_warn("store: registration of %s refused: %s", reg->impi ? reg->impi : "?",
                 why ? why : "out of memory");
        free(rec);
        later(s, c, STORE_ERROR);
        return;
    }
    char want[24], ncont[24], first[24] = "", last[24] = "", now[24], grace[24], max_regs[24];
    int64_t f, l;
    if (expiry_span(reg, &f, &l)) {
        snprintf(first, sizeof first, "%" PRId64, f);
        snprintf(last, sizeof last, "%" PRId64, l);
    }
    if (reg->rev == STORE_REV_NEW)
        snprintf(want, sizeof want, "new");
    else
        snprintf(want, sizeof want, "%" PRIu64, reg->rev);
    snprintf(ncont, sizeof ncont, "%zu", reg->ncontacts);
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    snprintf(grace, sizeof grace, "%d", GRACE_S);
    snprintf(max_regs, sizeof max_regs, "%zu", s->max_regs);
    const char *fixed[] = {reg->impi, want, rec, ncont, first, last, now, grace, max_regs};
    memcpy(args, fixed, sizeof fixed);
    for (size_t i = 0; i < reg->nimpus; i++)
        args[9 + i] = reg->impus[i];
    eval(s, c, SC_PUT, 9 + reg->nimpus, args, NULL);
    free(args);
    free(rec);
}

static void r_del(void *be, const char *impi, uint64_t rev, store_done_f cb, void *arg)
{
    rstore_t *s = be;
    NEW_CMD_OR_FAIL(c, s, K_DONE, arg, cb(arg, STORE_ERROR));
    c->cb.done = cb;
    if (!impi) {
        later(s, c, STORE_ERROR);
        return;
    }
    char want[24];
    snprintf(want, sizeof want, "%" PRIu64, rev);
    const char *args[] = {impi, want};
    eval(s, c, SC_DEL, 2, args, NULL);
}

static void r_list(void *be, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                   void *arg)
{
    rstore_t *s = be;
    NEW_CMD_OR_FAIL(c, s, K_LIST, arg, cb(arg, STORE_ERROR, NULL, 0, 0));
    c->cb.list = cb;
    char off[24], lim[24];
    snprintf(off, sizeof off, "%.0f", offset > INDEX_MAX ? INDEX_MAX : (double)offset);
    snprintf(lim, sizeof lim, "%.0f", limit > INDEX_MAX ? INDEX_MAX : (double)limit);
    const char *args[] = {prefix ? prefix : "", off, lim};
    eval(s, c, SC_LIST, 3, args, NULL);
}

static void r_expired(void *be, int64_t now, store_list_f cb, void *arg)
{
    rstore_t *s = be;
    NEW_CMD_OR_FAIL(c, s, K_LIST, arg, cb(arg, STORE_ERROR, NULL, 0, 0));
    c->cb.list = cb;
    char at[24];
    snprintf(at, sizeof at, "%" PRId64, now);
    const char *args[] = {at};
    eval(s, c, SC_EXPIRED, 1, args, NULL);
}

static size_t r_count(const void *be)
{
    return ((const rstore_t *)be)->nregs;
}

static size_t r_contact_count(const void *be)
{
    return ((const rstore_t *)be)->ncontacts;
}

static const char *r_status(const void *be)
{
    return state_name[((const rstore_t *)be)->state];
}

const store_ops_t store_redis_ops = {
    .name = "redis",
    .synchronous = 0,
    .open = r_open,
    .close = r_close,
    .set_limits = r_set_limits,
    .get = r_get,
    .get_impi = r_get_impi,
    .put = r_put,
    .del = r_del,
    .list = r_list,
    .expired = r_expired,
    .count = r_count,
    .contact_count = r_contact_count,
    .status = r_status,
};
