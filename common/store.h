/* The registration store (DESIGN.md section 5): bindings per registration, i.e. per IMPI with
 * its implicit set of IMPUs sharing contacts, plus the profile and the scheme used.
 *
 * Every call completes through its callback. The in-memory backend calls it before returning;
 * a non-blocking backend (Redis, a later issue) calls it later from the loop: callers must cope
 * with both. What a callback hands over (a store_reg_t, an array of them) is the caller's to
 * free. All on the loop thread; no locks. The in-memory backend serves one process (a later
 * issue adds Redis for replicas and an optional snapshot to disk). */
#ifndef CSCF_STORE_H
#define CSCF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct store_contact {
    char *uri;      /* Contact URI */
    char *params;   /* the Contact header's parameters as text (without expires), or NULL */
    char *instance; /* +sip.instance value, or NULL */
    int reg_id;     /* RFC 5626 reg-id, 0 when absent */
    char *path;     /* the REGISTER's Path values, comma-joined, or NULL */
    char *received; /* where the REGISTER came from: "udp:192.0.2.1:5060" */
    char *call_id;
    uint32_t cseq;
    char *user_agent;
    int64_t expires_at; /* Unix seconds */
    int64_t registered_at;
} store_contact_t;

typedef struct store_reg {
    char *impi;
    char **impus; /* implicit set; impus[0] is the IMPU that registered */
    size_t nimpus;
    char **barred;
    size_t nbarred;
    char *profile; /* the HSS's User-Data XML, or NULL */
    char *scheme;  /* "AKAv1-MD5", ... */
    store_contact_t *contacts;
    size_t ncontacts;
} store_reg_t;

typedef struct store store_t;
/* rc 0: found (reg is the caller's), 1: not found (reg NULL), -1: error */
typedef void (*store_get_f)(void *arg, int rc, store_reg_t *reg);
typedef void (*store_done_f)(void *arg, int rc);
/* regs (n of them, total matching) are the caller's: store_regs_free() */
typedef void (*store_list_f)(void *arg, int rc, store_reg_t **regs, size_t n, size_t total);

store_t *store_mem_new(size_t max_regs, size_t max_contacts_per_reg);
void store_free(store_t *s);

/* By any IMPU of the set (exact string), or by IMPI. */
void store_get(store_t *s, const char *impu, store_get_f cb, void *arg);
void store_get_impi(store_t *s, const char *impi, store_get_f cb, void *arg);
/* Insert or replace (keyed by impi; every IMPU of the set indexed). -1 when another IMPI holds
 * one of the IMPUs, or a limit is reached. */
void store_put(store_t *s, const store_reg_t *reg, store_done_f cb, void *arg);
/* 0, or -1 when unknown. */
void store_del(store_t *s, const char *impi, store_done_f cb, void *arg);
/* Registrations whose IMPI or an IMPU starts with prefix (NULL or "": all), by IMPI. */
void store_list(store_t *s, const char *prefix, size_t offset, size_t limit, store_list_f cb,
                void *arg);
/* Registrations with a contact whose expires_at <= now (at most 1000 per call). */
void store_expired(store_t *s, int64_t now, store_list_f cb, void *arg);
size_t store_count(const store_t *s);
size_t store_contact_count(const store_t *s);

/* Helpers, whatever the backend. */
store_reg_t *store_reg_new(const char *impi);
store_reg_t *store_reg_dup(const store_reg_t *r);
void store_reg_free(store_reg_t *r);
void store_regs_free(store_reg_t **regs, size_t n);
int store_reg_set_impus(store_reg_t *r, const char *const *impus, size_t n,
                        const char *const *barred, size_t nbarred);
/* RFC 5626/3261: with an instance, the contact with that instance (and reg-id when non-zero);
 * else the one with that URI. */
store_contact_t *store_reg_find_contact(store_reg_t *r, const char *uri, const char *instance,
                                        int reg_id);
store_contact_t *store_reg_add_contact(store_reg_t *r); /* zeroed, appended; NULL on failure */
void store_reg_remove_contact(store_reg_t *r, size_t index);
size_t store_reg_drop_expired(store_reg_t *r, int64_t now);
int store_contact_set(char **field, const char *value); /* strdup, NULL-safe; 0 or -1 */
/* For REST: contacts with seconds left ("expires"). */
json_t *store_reg_to_json(const store_reg_t *r, int64_t now);

#endif
