/* Bytes kept under a key for a while: answers and ACKs sent again to a peer's retransmissions
 * (sip_answered.c, sip_proxy.c's detached branches). A string-keyed table whose entries expire
 * in the order they were kept, after the same time each, with a cap on how many it holds (the
 * oldest goes first). One thread. */
#ifndef CSCF_KEPT_H
#define CSCF_KEPT_H

#include <stddef.h>
#include <stdint.h>

typedef struct kept_table kept_table_t;

/* ttl_ms: how long an entry is kept; cap: most entries kept (at least 1). NULL: out of memory. */
kept_table_t *kept_new(unsigned ttl_ms, size_t cap);
void kept_free(kept_table_t *t);

/* A buffer of len bytes kept under key from now on, for the caller to fill at once; NULL when
 * the key is kept already (its first bytes stay) or memory ran out. */
char *kept_put(kept_table_t *t, const char *key, size_t len, int64_t now_ms);
/* The bytes kept under key and their length, or NULL. */
const char *kept_get(const kept_table_t *t, const char *key, size_t *len);
/* Forgets what is older than ttl_ms; now_ms from a monotonic clock. */
void kept_expire(kept_table_t *t, int64_t now_ms);
size_t kept_count(const kept_table_t *t);

#endif
