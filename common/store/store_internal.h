/* What a store backend provides (store.h's contract applies to every entry): store.c's public
 * store_*() calls go through this table, so callers never know which backend they talk to.
 * A backend fills one store_ops_t and is listed in store.c's backends[]; nothing else changes. */
#ifndef CSCF_STORE_INTERNAL_H
#define CSCF_STORE_INTERNAL_H

#include "common/store/store.h"

/* A store call's callback, whichever kind the call takes (kept by what answers later). */
typedef union store_cb {
    store_get_f get;
    store_done_f done;
    store_list_f list;
} store_cb_t;

typedef struct store_ops {
    const char *name; /* what store_open() and the store.backend key call it */
    /* 1: every callback runs before the call returns; 0: never (later, from the loop). A backend
     * is one or the other for every call, never both (tests/unit/test_store_contract.c checks). */
    int synchronous;
    /* The backend's state; NULL (logged) when options are wrong, root is NULL for a backend
     * that needs the loop, or out of memory. */
    void *(*open)(const store_limits_t *limits, const char *options, struct su_root_s *root);
    void (*close)(void *be); /* callbacks still owed are not made */
    int (*set_limits)(void *be, const store_limits_t *limits);
    void (*get)(void *be, const char *impu, store_get_f cb, void *arg);
    void (*get_impi)(void *be, const char *impi, store_get_f cb, void *arg);
    void (*put)(void *be, const store_reg_t *reg, store_done_f cb, void *arg);
    void (*del)(void *be, const char *impi, uint64_t rev, store_done_f cb, void *arg);
    void (*list)(void *be, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                 void *arg);
    void (*expired)(void *be, int64_t now, store_list_f cb, void *arg);
    size_t (*count)(const void *be);
    size_t (*contact_count)(const void *be);
    const char *(*status)(const void *be); /* NULL: always "ok" */
} store_ops_t;

struct store_timed; /* store.c: one call being measured */

struct store {
    const store_ops_t *ops;
    void *be;
    struct metric *op_seconds, *errors; /* store_set_metrics(); NULL: not measured */
    struct store_timed *pending;        /* asynchronous calls measured and not answered yet */
};

extern const store_ops_t store_mem_ops;   /* store_mem.c */
extern const store_ops_t store_redis_ops; /* store_redis.c */

/* store_codec.c, for a backend that writes a lone string (a key) the way records write theirs:
 * a JSON string when s is UTF-8, else {"hex": ...}; JSON null for NULL; NULL when out of
 * memory. And back: a malloc'd string, or NULL with err set (a short reason). */
json_t *store_codec_string(const char *s);
char *store_codec_string_from(const json_t *v, char *err, size_t errlen);

#endif
