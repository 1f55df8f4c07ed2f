#include "diameter/hss/hss_db.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/util/log.h"

#define SQN_MASK       0xffffffffffffULL
#define SCHEMA_VERSION 1

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

/* ---- memory: the entries and their two indexes ---- */

static void free_entry(hss_entry_t *e)
{
    hss_subscriber_clear(&e->sub);
    hss_entry_unassign(e);
    free(e);
}

hss_entry_t *hss_db_by_impi(hss_db_t *db, const char *impi)
{
    return impi && db->by_impi ? strmap_get(db->by_impi, impi) : NULL;
}

hss_entry_t *hss_db_by_impu(hss_db_t *db, const char *impu)
{
    return impu && db->by_impu ? strmap_get(db->by_impu, impu) : NULL;
}

static void unindex_impus(hss_db_t *db, hss_entry_t *e)
{
    for (size_t i = 0; i < e->sub.nimpus; i++)
        if (strmap_get(db->by_impu, e->sub.impus[i]) == e)
            strmap_take(db->by_impu, e->sub.impus[i]);
}

static int index_impus(hss_db_t *db, hss_entry_t *e)
{
    for (size_t i = 0; i < e->sub.nimpus; i++)
        if (strmap_put(db->by_impu, e->sub.impus[i], e, NULL) < 0)
            return -1;
    return 0;
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

/* Adds a new entry for sub (taking its contents). NULL when out of memory (sub untouched). */
static hss_entry_t *add_entry(hss_db_t *db, hss_subscriber_t *sub)
{
    if (db->n == db->cap) {
        size_t cap = db->cap ? db->cap * 2 : 64;
        hss_entry_t **p = realloc(db->entries, cap * sizeof *p);
        if (!p)
            return NULL;
        db->entries = p;
        db->cap = cap;
    }
    hss_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->sub = *sub;
    e->sqn = sub->sqn & SQN_MASK;
    if (strmap_put(db->by_impi, e->sub.impi, e, NULL) < 0 || index_impus(db, e) < 0) {
        unindex_impus(db, e);
        strmap_take(db->by_impi, e->sub.impi);
        free(e);
        return NULL;
    }
    memset(sub, 0, sizeof *sub);
    e->index = db->n;
    db->entries[db->n++] = e;
    return e;
}

static void remove_entry(hss_db_t *db, hss_entry_t *e)
{
    unindex_impus(db, e);
    strmap_take(db->by_impi, e->sub.impi);
    db->entries[e->index] = db->entries[--db->n];
    db->entries[e->index]->index = e->index;
    free_entry(e);
}

/* Replaces e's subscriber by sub (taking its contents); the SQN only moves forward. */
static void replace_entry(hss_db_t *db, hss_entry_t *e, hss_subscriber_t *sub)
{
    uint64_t sqn = sub->sqn & SQN_MASK;
    unindex_impus(db, e);
    hss_subscriber_clear(&e->sub);
    e->sub = *sub;
    memset(sub, 0, sizeof *sub);
    if (sqn > e->sqn)
        e->sqn = sqn;
    if (index_impus(db, e) < 0)
        log_error("hss: out of memory indexing the IMPUs of %s", e->sub.impi);
}

/* ---- the database: one row per change ---- */

/* Why WAL with synchronous=NORMAL: a commit is one append to the WAL file, no fsync, so a MAR
 * costs microseconds whatever the number of subscribers, readers (sqlite3, a backup) never
 * block the HSS, and a committed row survives the HSS being killed (kill -9, OOM, pod
 * restart): it is in the WAL, which the next open replays. Only an operating system crash or
 * power loss may lose the last commits; the database stays consistent, and a SQN that went
 * back is then refused by the USIM, which answers with AUTS and resynchronises the HSS. */
static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    /* data: the subscriber in subscriber.h's JSON schema, keys included; NULL with origin
     * 'deleted': deleted over REST, so the subscriber file does not bring it back */
    "CREATE TABLE IF NOT EXISTS subscribers (impi TEXT PRIMARY KEY, data TEXT,"
    " origin TEXT NOT NULL CHECK (origin IN ('file', 'api', 'deleted')),"
    " writes INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE IF NOT EXISTS sqn (impi TEXT PRIMARY KEY, sqn INTEGER NOT NULL,"
    " writes INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE IF NOT EXISTS assignment (impi TEXT PRIMARY KEY, server_name TEXT,"
    " scscf_host TEXT, scscf_realm TEXT, state TEXT NOT NULL,"
    " writes INTEGER NOT NULL DEFAULT 1);";

/* `writes` counts the writes of each row: what tests and operators can check. */
static const char *const stmt_sql[HSS_STMT_COUNT] = {
    [HSS_STMT_PUT_SUB] = "INSERT INTO subscribers (impi, data, origin) VALUES (?1, ?2, ?3)"
                         " ON CONFLICT (impi) DO UPDATE SET data = ?2, origin = ?3,"
                         " writes = writes + 1",
    [HSS_STMT_PUT_SQN] = "INSERT INTO sqn (impi, sqn) VALUES (?1, ?2)"
                         " ON CONFLICT (impi) DO UPDATE SET sqn = ?2, writes = writes + 1",
    [HSS_STMT_PUT_ASSIGN] =
        "INSERT INTO assignment (impi, server_name, scscf_host, scscf_realm, state)"
        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (impi) DO UPDATE SET server_name = ?2,"
        " scscf_host = ?3, scscf_realm = ?4, state = ?5, writes = writes + 1",
    [HSS_STMT_DEL_SQN] = "DELETE FROM sqn WHERE impi = ?1",
    [HSS_STMT_DEL_ASSIGN] = "DELETE FROM assignment WHERE impi = ?1",
    [HSS_STMT_BEGIN] = "BEGIN IMMEDIATE",
    [HSS_STMT_COMMIT] = "COMMIT",
    [HSS_STMT_ROLLBACK] = "ROLLBACK",
};

/* Runs a bound statement to completion and resets it. 0 or -1. */
static int run_stmt(hss_db_t *db, int which)
{
    sqlite3_stmt *st = db->stmt[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Transactions nest: only the outermost (hss_db_open's) begins and commits. */
static int begin(hss_db_t *db)
{
    if (db->txn++ > 0)
        return 0;
    if (run_stmt(db, HSS_STMT_BEGIN) == 0)
        return 0;
    db->txn = 0;
    return -1;
}

/* Commits when ok is 0, else rolls back; 0 or -1. */
static int commit(hss_db_t *db, int ok)
{
    if (--db->txn > 0)
        return ok;
    if (ok == 0 && run_stmt(db, HSS_STMT_COMMIT) == 0)
        return 0;
    /* the error of the failed statement, not ROLLBACK's, is what the log should say */
    char *why = strdup(sqlite3_errmsg(db->sql));
    if (!sqlite3_get_autocommit(db->sql))
        run_stmt(db, HSS_STMT_ROLLBACK);
    log_debug("hss: database %s: transaction rolled back: %s", db->path, why ? why : "?");
    free(why);
    return -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* data NULL: the tombstone of a deleted subscriber. */
static int put_sub_row(hss_db_t *db, const char *impi, const char *data, const char *origin)
{
    sqlite3_stmt *st = db->stmt[HSS_STMT_PUT_SUB];
    bind_text(st, 1, impi);
    bind_text(st, 2, data);
    bind_text(st, 3, origin);
    return run_stmt(db, HSS_STMT_PUT_SUB);
}

static int put_sqn_row(hss_db_t *db, const hss_entry_t *e)
{
    sqlite3_stmt *st = db->stmt[HSS_STMT_PUT_SQN];
    bind_text(st, 1, e->sub.impi);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(e->sqn & SQN_MASK));
    return run_stmt(db, HSS_STMT_PUT_SQN);
}

static int put_assign_row(hss_db_t *db, const hss_entry_t *e)
{
    sqlite3_stmt *st = db->stmt[HSS_STMT_PUT_ASSIGN];
    bind_text(st, 1, e->sub.impi);
    bind_text(st, 2, e->server_name);
    bind_text(st, 3, e->scscf_host);
    bind_text(st, 4, e->scscf_realm);
    bind_text(st, 5, hss_reg_state_name(e->state));
    return run_stmt(db, HSS_STMT_PUT_ASSIGN);
}

static int del_rows(hss_db_t *db, int which, const char *impi)
{
    bind_text(db->stmt[which], 1, impi);
    return run_stmt(db, which);
}

/* The outcome of a write at run time: the first failure of a run is an error line, the rest
 * debug lines (a full disk would otherwise log on every MAR); recovery is said once. */
static int note(hss_db_t *db, int rc, const char *what, const char *impi)
{
    if (rc == 0) {
        if (db->failing)
            log_info("hss: database %s is written again", db->path);
        db->failing = 0;
        return 0;
    }
    db->write_errors++;
    if (!db->failing)
        log_error("hss: database %s: cannot write %s of %s: %s; Cx answers "
                  "DIAMETER_UNABLE_TO_COMPLY and REST 500 until it can (further failures at "
                  "debug level)",
                  db->path, what, impi, sqlite3_errmsg(db->sql));
    else
        log_debug("hss: database %s: cannot write %s of %s: %s", db->path, what, impi,
                  sqlite3_errmsg(db->sql));
    db->failing = 1;
    return -1;
}

int hss_db_write(hss_db_t *db, hss_entry_t *e, unsigned what)
{
    if (!db->sql)
        return 0;
    int both = (what & HSS_DB_SQN) && (what & HSS_DB_ASSIGNMENT);
    int rc = both ? begin(db) : 0;
    if (rc == 0 && (what & HSS_DB_SQN))
        rc = put_sqn_row(db, e);
    if (rc == 0 && (what & HSS_DB_ASSIGNMENT))
        rc = put_assign_row(db, e);
    if (both)
        rc = commit(db, rc);
    return note(db, rc,
                both                ? "the SQN and assignment"
                : what & HSS_DB_SQN ? "the SQN"
                                    : "the assignment",
                e->sub.impi);
}

static int write_subscriber(hss_db_t *db, const hss_subscriber_t *sub, const char *origin)
{
    if (!db->sql)
        return 0;
    json_t *j = hss_subscriber_to_json(sub, 1);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    int rc = text ? put_sub_row(db, sub->impi, text, origin) : -1;
    free(text);
    return rc;
}

int hss_db_put(hss_db_t *db, hss_subscriber_t *sub, int *created, int *conflict, char *err,
               size_t errlen)
{
    hss_entry_t *old = hss_db_by_impi(db, sub->impi);
    const char *clash = impu_conflict(db, sub, old);
    *conflict = clash != NULL;
    if (clash) {
        snprintf(err, errlen, "impus: %s belongs to another subscriber", clash);
        return -1;
    }
    *created = old == NULL;
    /* The row keeps the SQN reached so far: a replacement naming a lower one (or none) must not
     * take the SQN back at the next start, when no SQN row was written yet. */
    if (old && old->sqn > (sub->sqn & SQN_MASK))
        sub->sqn = old->sqn;
    if (note(db, write_subscriber(db, sub, "api"), "the subscriber", sub->impi) < 0) {
        snprintf(err, errlen, "the HSS database cannot be written");
        return -1;
    }
    hss_entry_t *e = old;
    if (old)
        replace_entry(db, old, sub);
    else if (!(e = add_entry(db, sub))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->from_api = 1;
    return 0;
}

int hss_db_delete(hss_db_t *db, const char *impi)
{
    hss_entry_t *e = hss_db_by_impi(db, impi);
    if (!e)
        return 1;
    if (db->sql) {
        int rc = begin(db);
        rc = rc ? rc : put_sub_row(db, impi, NULL, "deleted");
        rc = rc ? rc : del_rows(db, HSS_STMT_DEL_SQN, impi);
        rc = rc ? rc : del_rows(db, HSS_STMT_DEL_ASSIGN, impi);
        if (note(db, commit(db, rc), "the deletion", impi) < 0)
            return -1;
    }
    remove_entry(db, e);
    return 0;
}

/* ---- opening: the file, the schema, the rows ---- */

static int fail_sql(hss_db_t *db, char *err, size_t errlen, const char *doing)
{
    snprintf(err, errlen, "%s: %s: %s", db->path, doing,
             db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
    return -1;
}

/* Creates the file 0600 (it holds the subscribers' keys; SQLite gives its -wal and -shm files
 * the same mode) and takes the one-writer lock. */
static int lock_file(hss_db_t *db, char *err, size_t errlen)
{
    db->lock_fd = open(db->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (db->lock_fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", db->path, strerror(errno));
        return -1;
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "%s: %s", db->path,
                 errno == EWOULDBLOCK ? "in use by another hss (one HSS per database: two would "
                                        "hand out the same SQN)"
                                      : strerror(errno));
        return -1;
    }
    return 0;
}

static int open_sql(hss_db_t *db, int readonly, char *err, size_t errlen)
{
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(db->path, &db->sql, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return fail_sql(db, err, errlen, "cannot open");
    sqlite3_extended_result_codes(db->sql, 1);
    /* a reader (sqlite3, a backup) may hold the file a moment; never longer on the loop */
    sqlite3_busy_timeout(db->sql, 200);
    /* The first statements read the header: a file that is not a database fails here. */
    if (sqlite3_exec(db->sql, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK)
        return fail_sql(db, err, errlen, "not a usable SQLite database");
    if (readonly)
        return 0;
    char *mode = NULL;
    if (sqlite3_exec(db->sql, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL, NULL,
                     &mode) != SQLITE_OK) {
        sqlite3_free(mode);
        return fail_sql(db, err, errlen, "cannot set WAL journal mode");
    }
    if (sqlite3_exec(db->sql, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail_sql(db, err, errlen, "cannot create the tables");
    for (int i = 0; i < HSS_STMT_COUNT; i++)
        if (sqlite3_prepare_v3(db->sql, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &db->stmt[i],
                               NULL) != SQLITE_OK)
            return fail_sql(db, err, errlen, "cannot prepare the statements");
    return 0;
}

/* The value of meta.key (malloc'd), or NULL (absent, or no meta table yet). */
static char *meta_get(hss_db_t *db, const char *key)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(db->sql, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        bind_text(st, 1, key);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            v = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
}

static int meta_put(hss_db_t *db, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sql, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        bind_text(st, 1, key);
        bind_text(st, 2, value);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

typedef struct load {
    hss_db_t *db;
    strmap_t *gone; /* IMPIs deleted over REST (tombstones) */
    char *err;
    size_t errlen;
} load_t;

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* One row of `subscribers`: an entry, or a tombstone. */
static int load_sub_row(load_t *l, sqlite3_stmt *st)
{
    const char *impi = col_text(st, 0), *data = col_text(st, 1), *origin = col_text(st, 2);
    if (!impi || !origin)
        return snprintf(l->err, l->errlen, "%s: subscribers: a row without impi or origin",
                        l->db->path),
               -1;
    if (strcmp(origin, "deleted") == 0) {
        if (strmap_put(l->gone, impi, l->gone, NULL) == 0)
            return 0;
        snprintf(l->err, l->errlen, "out of memory");
        return -1;
    }
    json_error_t jerr;
    json_t *j = data ? json_loads(data, 0, &jerr) : NULL;
    hss_subscriber_t sub = {0};
    char why[300] = "not a JSON object";
    int rc = json_is_object(j) ? hss_subscriber_from_json(j, &sub, why, sizeof why) : -1;
    json_decref(j);
    if (rc == 0 && strcmp(sub.impi, impi) != 0)
        rc = -1, snprintf(why, sizeof why, "impi: differs from the row's key");
    if (rc == 0 && (hss_db_by_impi(l->db, impi) || impu_conflict(l->db, &sub, NULL)))
        rc = -1, snprintf(why, sizeof why, "an identity of another subscriber");
    hss_entry_t *e = rc == 0 ? add_entry(l->db, &sub) : NULL;
    if (rc == 0 && !e)
        rc = -1, snprintf(why, sizeof why, "out of memory");
    if (e)
        e->from_api = strcmp(origin, "api") == 0;
    if (rc < 0) {
        hss_subscriber_clear(&sub);
        snprintf(l->err, l->errlen, "%s: subscribers row %.200s: %s", l->db->path, impi, why);
    }
    return rc;
}

static int load_sqn_row(load_t *l, sqlite3_stmt *st)
{
    hss_entry_t *e = hss_db_by_impi(l->db, col_text(st, 0));
    sqlite3_int64 v = sqlite3_column_int64(st, 1);
    if (sqlite3_column_type(st, 1) != SQLITE_INTEGER || v < 0 || (uint64_t)v > SQN_MASK) {
        snprintf(l->err, l->errlen, "%s: sqn row %.200s: not a 48-bit integer", l->db->path,
                 col_text(st, 0) ? col_text(st, 0) : "?");
        return -1;
    }
    if (e && (uint64_t)v > e->sqn)
        e->sqn = (uint64_t)v;
    return 0;
}

static int load_assign_row(load_t *l, sqlite3_stmt *st)
{
    hss_entry_t *e = hss_db_by_impi(l->db, col_text(st, 0));
    hss_reg_state_t s;
    if (parse_state(col_text(st, 4), &s) < 0) {
        snprintf(l->err, l->errlen, "%s: assignment row %.200s: bad state", l->db->path,
                 col_text(st, 0) ? col_text(st, 0) : "?");
        return -1;
    }
    if (e && col_text(st, 1))
        hss_entry_assign(e, col_text(st, 1), col_text(st, 2), col_text(st, 3), s);
    return 0;
}

static int load_table(load_t *l, const char *sql, int (*row)(load_t *, sqlite3_stmt *))
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db->sql, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_sql(l->db, l->err, l->errlen, "cannot read");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (row(l, st) < 0) {
            sqlite3_finalize(st);
            return -1;
        }
    if (rc != SQLITE_DONE) {
        fail_sql(l->db, l->err, l->errlen, "cannot read");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

static int load_rows(load_t *l)
{
    if (load_table(l, "SELECT impi, data, origin FROM subscribers", load_sub_row) < 0 ||
        load_table(l, "SELECT impi, sqn FROM sqn", load_sqn_row) < 0 ||
        load_table(l, "SELECT impi, server_name, scscf_host, scscf_realm, state FROM assignment",
                   load_assign_row) < 0)
        return -1;
    return 0;
}

/* ---- the subscriber file: seed and additions ---- */

/* Adds the file's subscribers the database does not hold (all of them into a fresh one); a
 * file subscriber that differs from the database's copy is left as the database has it. */
static void log_file_merge(hss_db_t *db, const char *path, int fresh, size_t added, size_t differ,
                           const char *first_differ, size_t gone)
{
    if (fresh) {
        log_info("hss: new database %s seeded with %zu subscriber(s) from %s", db->path, added,
                 path);
        return;
    }
    if (added)
        log_info("hss: %s: %zu subscriber(s) the database did not hold added", path, added);
    if (differ)
        log_warn("hss: %s: %zu subscriber(s) differ from the database's copy, which is kept "
                 "(first %s): change them over REST, or remove the database to seed a new one",
                 path, differ, first_differ);
    if (gone)
        log_info("hss: %s: %zu subscriber(s) deleted over REST stay deleted", path, gone);
}

static int merge_file(load_t *l, const char *path, int fresh)
{
    hss_subscriber_t *subs = NULL;
    size_t n = 0, added = 0, differ = 0, gone = 0;
    const char *first_differ = NULL;
    if (hss_subscribers_load(path, &subs, &n, l->err, l->errlen) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        hss_entry_t *e = hss_db_by_impi(l->db, subs[i].impi);
        if (strmap_get(l->gone, subs[i].impi)) {
            gone++;
        } else if (e && e->from_api) {
            continue; /* changed over REST: the database's copy is meant to differ */
        } else if (e) {
            json_t *a = hss_subscriber_to_json(&subs[i], 1),
                   *b = hss_subscriber_to_json(&e->sub, 1);
            if (!json_equal(a, b) && differ++ == 0)
                first_differ = e->sub.impi;
            json_decref(a);
            json_decref(b);
        } else if (impu_conflict(l->db, &subs[i], NULL)) {
            snprintf(l->err, l->errlen,
                     "%s: subscriber %.200s: an IMPU belongs to another subscriber of the "
                     "database %s",
                     path, subs[i].impi, l->db->path ? l->db->path : "");
            rc = -1;
        } else if (write_subscriber(l->db, &subs[i], "file") < 0) {
            rc = fail_sql(l->db, l->err, l->errlen, "cannot write a subscriber");
        } else if (!add_entry(l->db, &subs[i])) {
            snprintf(l->err, l->errlen, "out of memory");
            rc = -1;
        } else {
            added++;
        }
    }
    hss_subscribers_free(subs, n);
    if (rc == 0 && l->db->sql)
        log_file_merge(l->db, path, fresh, added, differ, first_differ, gone);
    return rc;
}

/* ---- importing an old JSON state file (subscribers.state_file) ---- */

static int import_api(load_t *l, const char *path, json_t *api, json_t *deleted)
{
    size_t i;
    json_t *v;
    json_array_foreach(deleted, i, v)
    {
        if (json_is_string(v) && hss_db_delete(l->db, json_string_value(v)) < 0)
            return fail_sql(l->db, l->err, l->errlen, "cannot import a deletion");
    }
    const char *impi;
    json_object_foreach(api, impi, v)
    {
        hss_subscriber_t sub = {0};
        char why[256];
        int created, conflict;
        if (hss_subscriber_from_json(v, &sub, why, sizeof why) < 0 ||
            hss_db_put(l->db, &sub, &created, &conflict, why, sizeof why) < 0) {
            snprintf(l->err, l->errlen, "%s: api_subscribers.%.200s: %s", path, impi, why);
            hss_subscriber_clear(&sub);
            return -1;
        }
    }
    return 0;
}

static int import_states(load_t *l, const char *path, json_t *states)
{
    const char *impi;
    json_t *v;
    json_object_foreach(states, impi, v)
    {
        hss_entry_t *e = hss_db_by_impi(l->db, impi);
        if (!e)
            continue; /* removed from the subscriber file since */
        const char *sqn = json_string_value(json_object_get(v, "sqn"));
        char *end = NULL;
        uint64_t x = sqn ? strtoull(sqn, &end, 16) : 0;
        hss_reg_state_t st = HSS_NOT_REGISTERED;
        if (!sqn || *end || strlen(sqn) != 12 ||
            parse_state(json_string_value(json_object_get(v, "state")), &st) < 0) {
            snprintf(l->err, l->errlen, "%s: subscribers.%.200s: bad sqn or state", path, impi);
            return -1;
        }
        if (x > e->sqn)
            e->sqn = x;
        const char *name = json_string_value(json_object_get(v, "server_name"));
        if (name)
            hss_entry_assign(e, name, json_string_value(json_object_get(v, "scscf_host")),
                             json_string_value(json_object_get(v, "scscf_realm")), st);
        if (l->db->sql && (put_sqn_row(l->db, e) < 0 || (name && put_assign_row(l->db, e) < 0)))
            return fail_sql(l->db, l->err, l->errlen, "cannot import a state");
    }
    return 0;
}

/* 1 imported, 0 no such file, -1 error. */
static int import_state_file(load_t *l, const char *path)
{
    if (!path || !*path || access(path, F_OK) != 0)
        return 0;
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!json_is_object(j)) {
        snprintf(l->err, l->errlen, "%s:%d: %s", path, jerr.line, j ? "not an object" : jerr.text);
        json_decref(j);
        return -1;
    }
    int rc = import_api(l, path, json_object_get(j, "api_subscribers"),
                        json_object_get(j, "api_deleted"));
    if (rc == 0)
        rc = import_states(l, path, json_object_get(j, "subscribers"));
    json_decref(j);
    return rc < 0 ? -1 : 1;
}

/* A fresh database: the file's subscribers, then the old state file over them, and the meta
 * rows that make it not fresh any more; in one transaction with the rest of the opening. */
static int fill_fresh(load_t *l, const hss_db_config_t *cfg)
{
    if (merge_file(l, cfg->subscribers_file, 1) < 0)
        return -1;
    int imported = import_state_file(l, cfg->state_file);
    if (imported < 0)
        return -1;
    if (imported && l->db->sql)
        log_info("hss: imported the state file %s (SQNs, assignments, REST changes) into the new "
                 "database %s; the state file is not read again and may be removed",
                 cfg->state_file, l->db->path);
    if (!l->db->sql)
        return 0;
    char now[32], version[8];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    snprintf(version, sizeof version, "%d", SCHEMA_VERSION);
    if (meta_put(l->db, "schema_version", version) < 0 || meta_put(l->db, "created", now) < 0 ||
        (imported && meta_put(l->db, "imported_state_file", cfg->state_file) < 0))
        return fail_sql(l->db, l->err, l->errlen, "cannot write meta");
    return 0;
}

static int check_version(hss_db_t *db, char *err, size_t errlen)
{
    char *v = meta_get(db, "schema_version");
    int ok = v && atoi(v) == SCHEMA_VERSION;
    if (!ok)
        snprintf(err, errlen, "%s: schema version %s, this hss reads %d", db->path, v ? v : "?",
                 SCHEMA_VERSION);
    free(v);
    return ok ? 0 : -1;
}

static int open_file(hss_db_t *db, const hss_db_config_t *cfg, load_t *l, int *fresh)
{
    int ro = cfg->check_only;
    *fresh = 1;
    if (ro && access(db->path, F_OK) != 0)
        return 0; /* --check before the first start: nothing to read */
    if ((!ro && lock_file(db, l->err, l->errlen) < 0) || open_sql(db, ro, l->err, l->errlen) < 0)
        return -1;
    char *created = meta_get(db, "created");
    *fresh = created == NULL;
    free(created);
    if (!*fresh && (check_version(db, l->err, l->errlen) < 0 || load_rows(l) < 0))
        return -1;
    if (ro) { /* the rest is checked in memory only */
        sqlite3_close(db->sql);
        db->sql = NULL;
    }
    return 0;
}

int hss_db_open(hss_db_t *db, const hss_db_config_t *cfg, char *err, size_t errlen)
{
    memset(db, 0, sizeof *db);
    db->lock_fd = -1;
    db->by_impi = strmap_new();
    db->by_impu = strmap_new();
    load_t l = {db, strmap_new(), err, errlen};
    int fresh = 1, rc = db->by_impi && db->by_impu && l.gone ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    if (rc == 0 && cfg->database && *cfg->database) {
        db->path = strdup(cfg->database);
        rc = db->path ? open_file(db, cfg, &l, &fresh) : -1;
    }
    /* One transaction: a start that fails half way leaves the database as it was. */
    int txn = rc == 0 && db->sql;
    if (txn && begin(db) < 0)
        rc = fail_sql(db, err, errlen, "cannot begin");
    if (rc == 0)
        rc = fresh ? fill_fresh(&l, cfg) : merge_file(&l, cfg->subscribers_file, 0);
    if (rc == 0 && !fresh && cfg->state_file && *cfg->state_file &&
        access(cfg->state_file, F_OK) == 0 && db->sql)
        log_info("hss: subscribers.state_file %s is not read: the database %s holds the state "
                 "(a state file is imported into a new database only)",
                 cfg->state_file, db->path);
    if (txn && rc == 0 && run_stmt(db, HSS_STMT_COMMIT) < 0)
        rc = fail_sql(db, err, errlen, "cannot commit");
    if (txn && rc < 0 && !sqlite3_get_autocommit(db->sql))
        run_stmt(db, HSS_STMT_ROLLBACK);
    db->txn = 0;
    strmap_free(l.gone, NULL);
    if (rc < 0) {
        hss_db_free(db);
        return -1;
    }
    return 0;
}

void hss_db_free(hss_db_t *db)
{
    for (size_t i = 0; i < db->n; i++)
        free_entry(db->entries[i]);
    free(db->entries);
    strmap_free(db->by_impi, NULL);
    strmap_free(db->by_impu, NULL);
    for (int i = 0; i < HSS_STMT_COUNT; i++)
        sqlite3_finalize(db->stmt[i]);
    if (db->sql)
        sqlite3_close(db->sql);
    /* after sqlite3_close: closing another descriptor of the file would drop SQLite's locks */
    if (db->lock_fd >= 0)
        close(db->lock_fd);
    free(db->path);
    memset(db, 0, sizeof *db);
    db->lock_fd = -1;
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
