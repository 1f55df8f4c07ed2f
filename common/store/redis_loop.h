/* hiredis's asynchronous context driven by sofia's su_root: the context's socket is registered
 * with the loop while hiredis wants to read or write, and the loop calls hiredis back when the
 * socket is ready. Nothing here blocks; hiredis tells us what it wants through its ev hooks. */
#ifndef CSCF_STORE_REDIS_LOOP_H
#define CSCF_STORE_REDIS_LOOP_H

struct redisAsyncContext;
struct su_root_s;

/* Attaches ac (from redisAsyncConnect) to root: until hiredis frees ac (redisAsyncFree, or a
 * failed connection), the loop runs its reads and writes. 0, or -1 (logged; not attached). */
int redis_loop_attach(struct redisAsyncContext *ac, struct su_root_s *root);

#endif
