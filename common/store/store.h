/* The registration store (ARCHITECTURE.md section 9): bindings per registration, i.e. per IMPI with
 * its implicit set of IMPUs sharing contacts, plus the HSS profile and the auth scheme used.
 *
 * The store is an interface: store_open() picks a backend by name and every store_*() call below
 * goes through that backend's table of operations (store_internal.h). Files: store.c (the handle
 * and the dispatch), store_mem.c (the "memory" backend), store_reg.c (record helpers), store_uri.c
 * (contact matching), store_json.c (the REST rendering), store_codec.c (a record as text, for the
 * backends that keep records outside the process), store_journal.c (the memory backend's journal).
 *
 * Contract, whatever the backend (tests/unit/test_store_contract.c runs it against each):
 * - Every call completes through its callback, exactly once. A backend is either synchronous
 *   (store_synchronous() 1: every callback runs before the call returns; "memory") or
 *   asynchronous (0: no callback ever runs before the call returns; they come later from the
 *   loop, e.g. Redis), never a mix. Callers must cope with both, and must not rely on anything
 *   the store handed out before (it hands out copies, never its own objects).
 * - What a callback hands over is the caller's: a store_reg_t (free with store_reg_free()), an
 *   array of them (store_regs_free()). On rc -1 nothing is handed over. What the caller passes
 *   in (store_put()'s reg, keys, prefix) stays the caller's; the store copies what it keeps.
 * - A callback may call the store again (e.g. store_put() from store_expired()'s callback).
 * - Everything runs on one thread (the SIP loop): no locks.
 *
 * - Keys and strings are C strings: a key is what comes before its first NUL byte.
 * - Limits (store_limits_t) bound what store_put() accepts; store_set_limits() changes them for
 *   the next store_put() and keeps what is held.
 *
 * Revisions (replicas sharing one store must not lose an update): every stored record has a
 * revision, handed out in store_reg_t.rev by get/list/expired. store_put() with rev 0 writes
 * whatever is stored; with STORE_REV_NEW it writes only when the IMPI is not stored; with any
 * other rev only when the stored record still has that revision. Otherwise the callback gets
 * STORE_CONFLICT and nothing changed: read again, apply the change again, put again. A put that
 * succeeds leaves the record at revision (revision before, 0 when absent) + 1, so a caller that
 * put with rev r (STORE_REV_NEW: 0) knows the record is now at r + 1. store_del_if() the same.
 *
 * Errors: -1 (STORE_ERROR) when the backend refused or cannot be reached (a SIP caller answers
 * 500 with Retry-After), STORE_TIMEOUT when it did not answer in time (504). Only an
 * asynchronous backend ever times out.
 *
 * Backends: "memory" keeps registrations in this process's memory, with an optional journal
 * file (options "journal=PATH") so one process restarts with them; "redis" (options
 * "address=HOST:PORT[,timeout_ms=N][,prefix=P]", needs the loop: store_open_on) shares them
 * between replicas. */
#ifndef CSCF_STORE_H
#define CSCF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct store_contact {
    char *uri;      /* Contact URI, e.g. "sip:alice@192.0.2.1:5070;transport=tcp" */
    char *params;   /* the Contact header's parameters as text (without expires), or NULL */
    char *instance; /* +sip.instance value, or NULL */
    int reg_id;     /* RFC 5626 reg-id, 0 when absent */
    char *path;     /* the REGISTER's Path values, comma-joined, or NULL */
    char *received; /* where the REGISTER came from: "udp:192.0.2.1:5060" */
    char *call_id;
    uint32_t cseq;
    char *user_agent;   /* or NULL */
    int64_t expires_at; /* Unix seconds */
    int64_t registered_at;
} store_contact_t;

/* A reg event subscription (RFC 3680, RFC 6665) to this registration, as its notifier keeps it:
 * enough to send the next NOTIFY in the dialog after a restart, or from another replica. */
typedef struct store_sub {
    char *call_id;
    char *local_tag;  /* the notifier's (ours) */
    char *remote_tag; /* the subscriber's */
    char *local_uri;  /* From of our NOTIFYs: the SUBSCRIBE's To URI */
    char *remote_uri; /* To of our NOTIFYs: the SUBSCRIBE's From URI */
    char *target;     /* remote target: the subscriber's Contact URI */
    char *route_set;  /* the route set in the order our NOTIFYs carry it, comma-joined, or NULL */
    char *impu;       /* the identity subscribed to */
    char *subscriber; /* who subscribed (the UE's IMPU or the P-CSCF's URI), for logs and REST */
    uint32_t cseq;    /* of the last request we sent in the dialog */
    uint32_t version; /* of the next reginfo document */
    int64_t expires_at;
} store_sub_t;

#define STORE_REV_NEW  UINT64_MAX /* store_reg_t.rev for a put that must create the record */
#define STORE_ERROR    (-1)
#define STORE_CONFLICT 1 /* store_put/store_del_if: the record changed since it was read */
#define STORE_TIMEOUT  (-2)

typedef struct store_reg {
    char *impi;
    char **impus; /* implicit set; impus[0] is the IMPU that registered */
    size_t nimpus;
    char **barred; /* barred members of the set */
    size_t nbarred;
    char *profile; /* the HSS's User-Data XML, or NULL */
    char *scheme;  /* auth scheme used: "AKAv1-MD5", ... */
    store_contact_t *contacts;
    size_t ncontacts;
    char *server_name; /* the S-CSCF name the HSS holds for this registration (SAR), or NULL */
    char *hss; /* Diameter identity of the HSS that answered its last SAR (the scscf pins the
                * registration's Cx requests to it), or NULL */
    store_sub_t *subs; /* reg event subscriptions to it */
    size_t nsubs;
    uint64_t rev; /* see "Revisions" above; store_reg_new() makes 0 */
} store_reg_t;

typedef struct store store_t;
/* rc 0: found (reg is the caller's: store_reg_free), 1: not found (reg NULL), < 0: error */
typedef void (*store_get_f)(void *arg, int rc, store_reg_t *reg);
/* rc 0, STORE_CONFLICT, or < 0 (STORE_ERROR, STORE_TIMEOUT) */
typedef void (*store_done_f)(void *arg, int rc);
/* rc 0 or < 0; regs (n of them, out of total) are the caller's: store_regs_free(regs, n) */
typedef void (*store_list_f)(void *arg, int rc, store_reg_t **regs, size_t n, size_t total);

typedef struct store_limits {
    size_t max_regs;             /* registrations (IMPIs) held */
    size_t max_contacts_per_reg; /* contacts in one registration */
} store_limits_t;

/* The backend called backend ("memory"), with its options (NULL or "" for none); NULL (logged)
 * when there is no such backend, its options are wrong, or out of memory. */
store_t *store_open(const char *backend, const store_limits_t *limits, const char *options);
/* The same for a backend that needs the program's loop (an asynchronous one: "redis"); root
 * may be NULL for the others. */
struct su_root_s;
store_t *store_open_on(const char *backend, const store_limits_t *limits, const char *options,
                       struct su_root_s *root);
/* store_open("memory", {max_regs, max_contacts_per_reg}, NULL). */
store_t *store_mem_new(size_t max_regs, size_t max_contacts_per_reg);
/* Callbacks still owed are not made. NULL is fine. */
void store_free(store_t *s);
/* The i-th backend's name (i from 0), NULL past the last: what store_open() knows. */
const char *store_backend_name(size_t i);
const char *store_backend(const store_t *s); /* the backend's name */
int store_synchronous(const store_t *s);     /* see the contract above */
/* 0, or -1 (the limits unchanged). */
int store_set_limits(store_t *s, const store_limits_t *limits);

/* By any IMPU of the set (exact string), or by IMPI. */
void store_get(store_t *s, const char *impu, store_get_f cb, void *arg);
void store_get_impi(store_t *s, const char *impi, store_get_f cb, void *arg);
/* Insert or replace, keyed by IMPI; every IMPU of the set is indexed, and IMPUs no longer in it
 * are dropped from the index. -1 (and nothing changed) when another IMPI holds one of the
 * IMPUs, when max_regs or max_contacts_per_reg would be exceeded, or out of memory. */
void store_put(store_t *s, const store_reg_t *reg, store_done_f cb, void *arg);
/* 0, or -1 when unknown. */
void store_del(store_t *s, const char *impi, store_done_f cb, void *arg);
/* The same when the stored record is at revision rev (0: any), else STORE_CONFLICT. */
void store_del_if(store_t *s, const char *impi, uint64_t rev, store_done_f cb, void *arg);
/* Registrations whose IMPI or any IMPU starts with prefix (NULL or "": all), ordered by IMPI
 * (strcmp); at most limit of them from offset; total is how many match. */
void store_list(store_t *s, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                void *arg);
/* Registrations with at least one contact or subscription whose expires_at <= now, at most 1000 per
 * call (in no particular order); total is how many there are in all (call again after handling
 * them). */
void store_expired(store_t *s, int64_t now, store_list_f cb, void *arg);
/* Answered at once, whatever the backend (an asynchronous one keeps them up to date). */
size_t store_count(const store_t *s);         /* registrations */
size_t store_contact_count(const store_t *s); /* contacts over all registrations */
/* "ok", or for a backend with a connection "connecting" / "down"; answered at once. */
const char *store_status(const store_t *s);

/* ---- Helpers, whatever the backend (store_reg.c, store_uri.c, store_json.c) ---- */

/* Measures every call from now on (store.c), whatever the backend: the histogram
 * cscf_store_op_seconds{op} (op: get, get_impi, put, del, list, expired), from the call to its
 * callback, and the counter cscf_store_errors_total{op,kind} (kind: error, timeout, conflict; a get
 * that finds nothing is no error, a del of an IMPI not held is one). m NULL: no longer. */
struct metrics;
void store_set_metrics(store_t *s, struct metrics *m);

store_reg_t *store_reg_new(const char *impi); /* empty; NULL when out of memory */
store_reg_t *store_reg_dup(const store_reg_t *r);
void store_reg_free(store_reg_t *r);
void store_regs_free(store_reg_t **regs, size_t n);
/* Replaces the implicit set and its barred members with copies; 0, or -1 (r unchanged). */
int store_reg_set_impus(store_reg_t *r, const char *const *impus, size_t n,
                        const char *const *barred, size_t nbarred);
/* The binding a Contact refers to. With an instance (RFC 5626/5627): the contact with that
 * +sip.instance (compared case-insensitively, quotes aside) and, when reg_id is not 0, that
 * reg-id. Without: the contact whose URI is equal to uri by the rules of RFC 3261 19.1.4. */
store_contact_t *store_reg_find_contact(store_reg_t *r, const char *uri, const char *instance,
                                        int reg_id);
store_contact_t *store_reg_add_contact(store_reg_t *r); /* zeroed, appended; NULL on failure */
store_sub_t *store_reg_add_sub(store_reg_t *r);         /* zeroed, appended; NULL on failure */
void store_reg_remove_sub(store_reg_t *r, size_t index);
/* The subscription with this dialog (Call-ID and both tags, compared exactly), or NULL. */
store_sub_t *store_reg_find_sub(store_reg_t *r, const char *call_id, const char *local_tag,
                                const char *remote_tag);
void store_reg_remove_contact(store_reg_t *r, size_t index);
/* Removes the contacts with expires_at <= now; how many (subscriptions stay). */
size_t store_reg_drop_expired(store_reg_t *r, int64_t now);
/* *field = a copy of value (NULL stays NULL), the old one freed; 0, or -1 (field unchanged). */
int store_contact_set(char **field, const char *value);
/* For REST: impi, impus, barred, scheme, contacts [{uri, params, instance, reg_id, path,
 * received, call_id, cseq, user_agent, expires (seconds left), registered_at}]. */
json_t *store_reg_to_json(const store_reg_t *r, int64_t now);

/* ---- Serialisation, for the backends that keep records outside this process (journal,
 * Redis): every field of a store_reg_t (rev aside), as one JSON object in text. ---- */

/* What store_reg_decode() accepts (and so store_reg_encode() writes): a bound on what hostile
 * text can make it allocate. Generous for an IMS registration (registrar.max_contacts is at
 * most 100, a User-Data document a few KiB); the memory backend alone holds larger ones. */
#define STORE_CODEC_MAX_TEXT     (8u << 20) /* bytes of text */
#define STORE_CODEC_MAX_STRING   (1u << 20) /* bytes of one string */
#define STORE_CODEC_MAX_IMPUS    1024       /* IMPUs in the set, and barred ones */
#define STORE_CODEC_MAX_CONTACTS 4096
#define STORE_CODEC_MAX_SUBS     256

/* malloc'd text (free()) without a newline; NULL when out of memory, and when r is not a record
 * store_reg_decode() would take back (no IMPI, a NULL IMPU, beyond the bounds above), so what
 * was written can always be read. */
char *store_reg_encode(const store_reg_t *r);
/* A record from text of len bytes (need not end in NUL); NULL with err set (a short reason) on
 * anything but a well-formed record: the text may have been written by anyone. */
store_reg_t *store_reg_decode(const char *text, size_t len, char *err, size_t errlen);

#endif
