/* A redis-server of the test's own, for the unit tests of the "redis" store backend: started on
 * a free loopback port (no persistence), killed by PID at exit even when a test fails (atexit),
 * and stopped, killed or started again on the same port by the tests that need Redis to fail.
 * Header only, after cmocka.h: each test binary includes it once. */
#ifndef CSCF_TESTS_REDIS_SERVER_H
#define CSCF_TESTS_REDIS_SERVER_H

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "tests/unit/test_port.h"

#define REDIS_SERVER_BIN "/usr/bin/redis-server"
#define REDIS_READY_MS   10000 /* how long a starting server may take to answer PING */

static pid_t redis_pid = -1;
static int redis_port = -1;

static void redis_kill(void)
{
    if (redis_pid <= 0)
        return;
    kill(redis_pid, SIGKILL); /* also when stopped (SIGSTOP) */
    while (waitpid(redis_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    redis_pid = -1;
}

static inline int64_t redis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A blocking command (hiredis's format: %s for an argument, %b for bytes and length) on a
 * short-lived connection, the test's side, never the store's: the reply (freeReplyObject), or
 * NULL when Redis did not answer. */
static inline redisReply *redis_vquery(const char *fmt, va_list ap)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    redisReply *r = NULL;
    if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK)
        r = redisvCommand(c, fmt, ap);
    if (c)
        redisFree(c);
    return r;
}

/* 0 when Redis answered the command without an error, -1 otherwise. */
static inline int redis_sync(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redis_vquery(fmt, ap);
    va_end(ap);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (r)
        freeReplyObject(r);
    return rc;
}

/* The integer Redis answered (EXISTS, ZCARD...), -1 for anything else. */
static inline long long redis_int(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redis_vquery(fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

/* Starts redis-server on redis_port (a free one the first time); 0 once it answers PING. */
static inline int redis_start(void)
{
    static int registered;
    if (!registered) {
        atexit(redis_kill);
        /* The store writes to a server the tests kill: EPIPE, not death (the programs ignore
         * SIGPIPE the same way, common/program/program.c). */
        signal(SIGPIPE, SIG_IGN);
        registered = 1;
    }
    if (redis_port < 0)
        redis_port = test_free_port();
    if (redis_port < 0 || access(REDIS_SERVER_BIN, X_OK) != 0) {
        fprintf(stderr, "redis_server: %s is missing (make test installs redis-server)\n",
                REDIS_SERVER_BIN);
        return -1;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", redis_port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execl(REDIS_SERVER_BIN, REDIS_SERVER_BIN, "--port", port, "--bind", "127.0.0.1", "--save",
              "", "--appendonly", "no", "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    redis_pid = pid;
    for (int64_t end = redis_now_ms() + REDIS_READY_MS; redis_now_ms() < end;) {
        if (redis_sync("PING") == 0)
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) { /* it died (port taken?) */
            redis_pid = -1;
            return -1;
        }
        usleep(20000); /* polling for readiness, bounded by REDIS_READY_MS */
    }
    redis_kill();
    return -1;
}

#endif
