#include "diameter/hss/hss_db.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util/log.h"

#define SQN_MASK 0xffffffffffffULL

static const char *const state_names[] = {"not_registered", "authentication_pending", "registered",
                                          "unregistered"};

const char *hss_reg_state_name(hss_reg_state_t s)
{
    return (unsigned)s < 4 ? state_names[s] : "?";
}

static int parse_state(const char *s, hss_reg_state_t *out)
{
    for (int i = 0; s && i < 4; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (hss_reg_state_t)i;
            return 0;
        }
    }
    return -1;
}

void hss_entry_unassign(hss_entry_t *e)
{
    free(e->server_name);
    free(e->scscf_host);
    free(e->scscf_realm);
    e->server_name = e->scscf_host = e->scscf_realm = NULL;
    e->state = HSS_NOT_REGISTERED;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void hss_entry_assign(hss_entry_t *e, const char *server_name, const char *host, const char *realm,
                      hss_reg_state_t state)
{
    char *n = dup_or_null(server_name), *h = dup_or_null(host), *r = dup_or_null(realm);
    hss_entry_unassign(e);
    e->server_name = n;
    e->scscf_host = h;
    e->scscf_realm = r;
    e->state = state;
}

static void free_entry(hss_entry_t *e)
{
    hss_subscriber_clear(&e->sub);
    hss_entry_unassign(e);
    free(e);
}

void hss_db_free(hss_db_t *db)
{
    for (size_t i = 0; i < db->n; i++)
        free_entry(db->entries[i]);
    for (size_t i = 0; i < db->ndeleted; i++)
        free(db->deleted[i]);
    free(db->entries);
    free(db->deleted);
    free(db->state_path);
    memset(db, 0, sizeof *db);
}

hss_entry_t *hss_db_by_impi(hss_db_t *db, const char *impi)
{
    for (size_t i = 0; impi && i < db->n; i++)
        if (strcmp(db->entries[i]->sub.impi, impi) == 0)
            return db->entries[i];
    return NULL;
}

hss_entry_t *hss_db_by_impu(hss_db_t *db, const char *impu)
{
    for (size_t i = 0; impu && i < db->n; i++)
        if (hss_subscriber_has_impu(&db->entries[i]->sub, impu))
            return db->entries[i];
    return NULL;
}

static int append(hss_db_t *db, hss_entry_t *e)
{
    if (db->n == db->cap) {
        size_t cap = db->cap ? db->cap * 2 : 16;
        hss_entry_t **p = realloc(db->entries, cap * sizeof *p);
        if (!p)
            return -1;
        db->entries = p;
        db->cap = cap;
    }
    db->entries[db->n++] = e;
    return 0;
}

static hss_entry_t *new_entry(hss_subscriber_t *sub)
{
    hss_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->sub = *sub;
    e->sqn = sub->sqn & SQN_MASK;
    memset(sub, 0, sizeof *sub);
    return e;
}

/* Another subscriber than `self` holding one of sub's IMPUs, or NULL. */
static const char *impu_conflict(hss_db_t *db, const hss_subscriber_t *sub, hss_entry_t *self)
{
    for (size_t i = 0; i < sub->nimpus; i++) {
        hss_entry_t *o = hss_db_by_impu(db, sub->impus[i]);
        if (o && o != self)
            return sub->impus[i];
    }
    return NULL;
}

static void forget_deleted(hss_db_t *db, const char *impi)
{
    for (size_t i = 0; i < db->ndeleted; i++) {
        if (strcmp(db->deleted[i], impi) == 0) {
            free(db->deleted[i]);
            db->deleted[i] = db->deleted[--db->ndeleted];
            return;
        }
    }
}

int hss_db_put(hss_db_t *db, hss_subscriber_t *sub, int *created, char *err, size_t errlen)
{
    hss_entry_t *old = hss_db_by_impi(db, sub->impi);
    const char *clash = impu_conflict(db, sub, old);
    if (clash) {
        snprintf(err, errlen, "impus: %s belongs to another subscriber", clash);
        return -1;
    }
    *created = old == NULL;
    if (old) {
        /* The SQN only moves forward: a lower one from the client would replay vectors. */
        uint64_t sqn = old->sqn > (sub->sqn & SQN_MASK) ? old->sqn : sub->sqn & SQN_MASK;
        hss_subscriber_clear(&old->sub);
        old->sub = *sub;
        old->sqn = sqn;
        old->from_api = 1;
        memset(sub, 0, sizeof *sub);
        return 0;
    }
    hss_entry_t *e = new_entry(sub);
    if (!e || append(db, e) < 0) {
        snprintf(err, errlen, "out of memory");
        if (e)
            free_entry(e);
        return -1;
    }
    e->from_api = 1;
    forget_deleted(db, e->sub.impi);
    return 0;
}

int hss_db_delete(hss_db_t *db, const char *impi)
{
    for (size_t i = 0; i < db->n; i++) {
        hss_entry_t *e = db->entries[i];
        if (strcmp(e->sub.impi, impi) != 0)
            continue;
        char **d = realloc(db->deleted, (db->ndeleted + 1) * sizeof *d);
        if (d) {
            db->deleted = d;
            if ((d[db->ndeleted] = strdup(impi)))
                db->ndeleted++;
        }
        free_entry(e);
        db->entries[i] = db->entries[--db->n];
        return 0;
    }
    return -1;
}

/* ---- the state file ---- */

static json_t *entry_state(const hss_entry_t *e)
{
    char sqn[16];
    snprintf(sqn, sizeof sqn, "%012" PRIx64, e->sqn);
    return json_pack("{s:s,s:s?,s:s?,s:s?,s:s}", "sqn", sqn, "server_name", e->server_name,
                     "scscf_host", e->scscf_host, "scscf_realm", e->scscf_realm, "state",
                     hss_reg_state_name(e->state));
}

static json_t *state_json(hss_db_t *db)
{
    json_t *states = json_object(), *api = json_object(), *deleted = json_array();
    for (size_t i = 0; i < db->n; i++) {
        hss_entry_t *e = db->entries[i];
        json_object_set_new(states, e->sub.impi, entry_state(e));
        if (e->from_api)
            json_object_set_new(api, e->sub.impi, hss_subscriber_to_json(&e->sub, 1));
    }
    for (size_t i = 0; i < db->ndeleted; i++)
        json_array_append_new(deleted, json_string(db->deleted[i]));
    return json_pack("{s:i,s:o,s:o,s:o}", "version", 1, "subscribers", states, "api_subscribers",
                     api, "api_deleted", deleted);
}

int hss_db_save(hss_db_t *db)
{
    if (!db->state_path)
        return 0;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", db->state_path);
    json_t *j = state_json(db);
    char *text = j ? json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    /* 0600: REST-made subscribers carry their keys. */
    int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    size_t len = text ? strlen(text) : 0;
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    ok = ok && rename(tmp, db->state_path) == 0;
    free(text);
    if (!ok) {
        log_error("hss: cannot write the state file %s: %s", db->state_path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int apply_api(hss_db_t *db, json_t *api, json_t *deleted, char *err, size_t errlen)
{
    size_t i;
    json_t *v;
    json_array_foreach(deleted, i, v)
    {
        if (json_is_string(v))
            hss_db_delete(db, json_string_value(v));
    }
    const char *impi;
    json_object_foreach(api, impi, v)
    {
        hss_subscriber_t sub = {0};
        char why[256];
        int created;
        if (hss_subscriber_from_json(v, &sub, why, sizeof why) < 0 ||
            hss_db_put(db, &sub, &created, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: api_subscribers.%s: %s", db->state_path, impi, why);
            hss_subscriber_clear(&sub);
            return -1;
        }
    }
    return 0;
}

static int apply_states(hss_db_t *db, json_t *states, char *err, size_t errlen)
{
    const char *impi;
    json_t *v;
    json_object_foreach(states, impi, v)
    {
        hss_entry_t *e = hss_db_by_impi(db, impi);
        if (!e)
            continue; /* removed from the subscriber file since */
        const char *sqn = json_string_value(json_object_get(v, "sqn"));
        char *end = NULL;
        uint64_t x = sqn ? strtoull(sqn, &end, 16) : 0;
        hss_reg_state_t st = HSS_NOT_REGISTERED;
        if (!sqn || *end || strlen(sqn) != 12 ||
            parse_state(json_string_value(json_object_get(v, "state")), &st) < 0) {
            snprintf(err, errlen, "%s: subscribers.%s: bad sqn or state", db->state_path, impi);
            return -1;
        }
        if (x > e->sqn)
            e->sqn = x;
        const char *name = json_string_value(json_object_get(v, "server_name"));
        if (name)
            hss_entry_assign(e, name, json_string_value(json_object_get(v, "scscf_host")),
                             json_string_value(json_object_get(v, "scscf_realm")), st);
    }
    return 0;
}

static int load_state(hss_db_t *db, char *err, size_t errlen)
{
    if (access(db->state_path, F_OK) != 0)
        return 0; /* first start */
    json_error_t jerr;
    json_t *j = json_load_file(db->state_path, 0, &jerr);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "%s:%d: %s", db->state_path, jerr.line,
                 j ? "not an object" : jerr.text);
        json_decref(j);
        return -1;
    }
    int rc = apply_api(db, json_object_get(j, "api_subscribers"), json_object_get(j, "api_deleted"),
                       err, errlen);
    if (rc == 0)
        rc = apply_states(db, json_object_get(j, "subscribers"), err, errlen);
    json_decref(j);
    return rc;
}

int hss_db_load(hss_db_t *db, const char *subscribers_path, const char *state_path, char *err,
                size_t errlen)
{
    hss_subscriber_t *subs = NULL;
    size_t n = 0;
    memset(db, 0, sizeof *db);
    if (hss_subscribers_load(subscribers_path, &subs, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        hss_entry_t *e = new_entry(&subs[i]);
        if (!e || append(db, e) < 0) {
            snprintf(err, errlen, "out of memory");
            if (e)
                free_entry(e);
            hss_subscribers_free(subs, n);
            return -1;
        }
    }
    hss_subscribers_free(subs, n);
    db->state_path = state_path && *state_path ? strdup(state_path) : NULL;
    if (db->state_path && load_state(db, err, errlen) < 0)
        return -1;
    return 0;
}

json_t *hss_entry_to_json(const hss_entry_t *e)
{
    json_t *o = hss_subscriber_to_json(&e->sub, 0);
    if (!o)
        return NULL;
    char sqn[16];
    snprintf(sqn, sizeof sqn, "%012" PRIx64, e->sqn);
    json_object_set_new(o, "sqn", json_string(sqn));
    json_object_set_new(o, "state",
                        json_pack("{s:s,s:s?,s:s?}", "registration", hss_reg_state_name(e->state),
                                  "scscf", e->server_name, "scscf_host", e->scscf_host));
    return o;
}
