/* hss_db.c: the lab HSS's SQLite database. A new database seeded from the subscriber file; the
 * SQN, the assignment and REST changes read back after a reopen, each change writing its one
 * row; the subscriber file changing later; the import of an old JSON state file; a garbage
 * file, hostile rows, a locked database and a second HSS on the same file refused cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "diameter/hss/hss_db.h"

#define ALICE "alice@ims.test"
#define BOB   "bob@ims.test"
#define CAROL "carol@ims.test"

static const char seed_yaml[] = "subscribers:\n"
                                "  - impi: alice@ims.test\n"
                                "    impus: [sip:alice@ims.test, tel:+15550001]\n"
                                "    k: 6162636465666768696a6b6c6d6e6f70\n"
                                "    op: 706f6e6d6c6b6a696867666564636261\n"
                                "    sqn: 000000000020\n"
                                "  - impi: bob@ims.test\n"
                                "    impus: [sip:bob@ims.test]\n"
                                "    k: 626f62626f62626f62626f62626f6231\n"
                                "    op: 706f6e6d6c6b6a696867666564636261\n";

typedef struct fx {
    char dir[64], yaml[96], db_path[96], state[96];
    hss_db_t db;
    int open;
} fx_t;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hss-db-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->yaml, sizeof f->yaml, "%s/subs.yaml", f->dir);
    snprintf(f->db_path, sizeof f->db_path, "%s/hss.db", f->dir);
    snprintf(f->state, sizeof f->state, "%s/hss-state.json", f->dir);
    write_file(f->yaml, seed_yaml);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->open)
        hss_db_free(&f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Opens f->db; -1 with err filled on failure. */
static int try_open(fx_t *f, const char *state_file, char *err, size_t errlen)
{
    hss_db_config_t c = {
        .subscribers_file = f->yaml, .database = f->db_path, .state_file = state_file};
    int rc = hss_db_open(&f->db, &c, err, errlen);
    f->open = rc == 0;
    return rc;
}

static void open_db(fx_t *f, const char *state_file)
{
    char err[512] = "";
    if (try_open(f, state_file, err, sizeof err) < 0)
        fail_msg("hss_db_open: %s", err);
}

static void reopen(fx_t *f)
{
    hss_db_free(&f->db);
    f->open = 0;
    open_db(f, NULL);
}

/* The integer an SQL query on the database file answers (another connection, as an operator's
 * sqlite3 would be); -1 when there is no row. */
static long long sql_int(fx_t *f, const char *sql)
{
    sqlite3 *s;
    sqlite3_stmt *st;
    long long v = -1;
    assert_int_equal(sqlite3_open(f->db_path, &s), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(s);
    return v;
}

static void sql_exec(fx_t *f, const char *sql)
{
    sqlite3 *s;
    assert_int_equal(sqlite3_open(f->db_path, &s), SQLITE_OK);
    assert_int_equal(sqlite3_exec(s, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(s);
}

/* The sum of every row's writes counter: what one change may move by exactly one. */
static long long total_writes(fx_t *f)
{
    return sql_int(f, "SELECT (SELECT coalesce(sum(writes), 0) FROM subscribers) + "
                      "(SELECT coalesce(sum(writes), 0) FROM sqn) + "
                      "(SELECT coalesce(sum(writes), 0) FROM assignment)");
}

static void subscriber(hss_subscriber_t *sub, const char *json)
{
    char err[256] = "";
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    assert_non_null(j);
    memset(sub, 0, sizeof *sub);
    if (hss_subscriber_from_json(j, sub, err, sizeof err) < 0)
        fail_msg("subscriber: %s", err);
    json_decref(j);
}

static void fresh_database_is_seeded(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    assert_int_equal(f->db.n, 2);
    hss_entry_t *a = hss_db_by_impi(&f->db, ALICE);
    assert_non_null(a);
    assert_ptr_equal(hss_db_by_impu(&f->db, "tel:+15550001"), a);
    assert_ptr_equal(hss_db_by_impu(&f->db, "sip:bob@ims.test"), hss_db_by_impi(&f->db, BOB));
    assert_null(hss_db_by_impu(&f->db, "sip:nobody@ims.test"));
    assert_null(hss_db_by_impi(&f->db, NULL));
    assert_int_equal(a->sqn, 0x20);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM subscribers WHERE origin = 'file'"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sqn"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM meta WHERE key = 'created'"), 1);
    /* WAL, and the file keeps the subscribers' keys from other users */
    sqlite3 *s;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db_path, &s), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(s, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(s);
    assert_int_equal(access(f->db_path, R_OK), 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test \"$(stat -c %%a '%s')\" = 600", f->db_path);
    assert_int_equal(system(cmd), 0);
}

static void sqn_written_one_row_and_read_back(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    hss_entry_t *a = hss_db_by_impi(&f->db, ALICE);
    long long before = total_writes(f);
    a->sqn = 0x123456789abcULL;
    assert_int_equal(hss_db_write(&f->db, a, HSS_DB_SQN), 0);
    assert_int_equal(total_writes(f), before + 1); /* one row, nothing else rewritten */
    assert_int_equal(sql_int(f, "SELECT sqn FROM sqn WHERE impi = 'alice@ims.test'"),
                     0x123456789abcLL);
    a->sqn++;
    assert_int_equal(hss_db_write(&f->db, a, HSS_DB_SQN), 0);
    assert_int_equal(total_writes(f), before + 2);
    assert_int_equal(sql_int(f, "SELECT writes FROM sqn WHERE impi = 'alice@ims.test'"), 2);
    reopen(f);
    assert_int_equal(hss_db_by_impi(&f->db, ALICE)->sqn, 0x123456789abdULL);
    assert_int_equal(hss_db_by_impi(&f->db, BOB)->sqn, 0);
}

static void assignment_survives_reopen(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    hss_entry_t *b = hss_db_by_impi(&f->db, BOB);
    long long before = total_writes(f);
    hss_entry_assign(b, "sip:scscf.ims.test:6060", "scscf.ims.test", "ims.test", HSS_REGISTERED);
    assert_int_equal(hss_db_write(&f->db, b, HSS_DB_ASSIGNMENT), 0);
    assert_int_equal(total_writes(f), before + 1);
    /* a MAR that also assigns writes both rows in one transaction */
    hss_entry_t *a = hss_db_by_impi(&f->db, ALICE);
    a->sqn = 0x40;
    hss_entry_assign(a, "sip:other:6060", "other", "ims.test", HSS_AUTH_PENDING);
    assert_int_equal(hss_db_write(&f->db, a, HSS_DB_SQN | HSS_DB_ASSIGNMENT), 0);
    reopen(f);
    b = hss_db_by_impi(&f->db, BOB);
    assert_int_equal(b->state, HSS_REGISTERED);
    assert_string_equal(b->server_name, "sip:scscf.ims.test:6060");
    assert_string_equal(b->scscf_host, "scscf.ims.test");
    assert_string_equal(b->scscf_realm, "ims.test");
    a = hss_db_by_impi(&f->db, ALICE);
    assert_int_equal(a->state, HSS_AUTH_PENDING);
    assert_int_equal(a->sqn, 0x40);
    hss_entry_unassign(b);
    assert_int_equal(hss_db_write(&f->db, b, HSS_DB_ASSIGNMENT), 0);
    reopen(f);
    assert_null(hss_db_by_impi(&f->db, BOB)->server_name);
    assert_int_equal(hss_db_by_impi(&f->db, BOB)->state, HSS_NOT_REGISTERED);
}

static void rest_put_and_delete_survive_reopen(void **state)
{
    fx_t *f = *state;
    char err[256] = "";
    int created, conflict;
    hss_subscriber_t sub;
    open_db(f, NULL);
    hss_db_by_impi(&f->db, BOB)->sqn = 0x77;
    assert_int_equal(hss_db_write(&f->db, hss_db_by_impi(&f->db, BOB), HSS_DB_SQN), 0);

    long long before = total_writes(f);
    subscriber(&sub, "{\"impi\":\"carol@ims.test\",\"impus\":[\"sip:carol@ims.test\"],"
                     "\"k\":\"000102030405060708090a0b0c0d0e0f\","
                     "\"opc\":\"00112233445566778899aabbccddeeff\"}");
    assert_int_equal(hss_db_put(&f->db, &sub, &created, &conflict, err, sizeof err), 0);
    assert_int_equal(created, 1);
    assert_int_equal(total_writes(f), before + 1);
    /* an IMPU of another subscriber: refused, nothing written */
    subscriber(&sub, "{\"impi\":\"dave@ims.test\",\"impus\":[\"tel:+15550001\"],"
                     "\"k\":\"000102030405060708090a0b0c0d0e0f\","
                     "\"opc\":\"00112233445566778899aabbccddeeff\"}");
    assert_int_equal(hss_db_put(&f->db, &sub, &created, &conflict, err, sizeof err), -1);
    assert_int_equal(conflict, 1);
    assert_non_null(strstr(err, "tel:+15550001"));
    hss_subscriber_clear(&sub);
    assert_int_equal(total_writes(f), before + 1);
    /* alice replaced: a new IMPU set (the old tel: is free again) */
    subscriber(&sub, "{\"impi\":\"alice@ims.test\",\"impus\":[\"sip:alice@ims.test\","
                     "\"sip:alice2@ims.test\"],\"k\":\"000102030405060708090a0b0c0d0e0f\","
                     "\"opc\":\"00112233445566778899aabbccddeeff\"}");
    assert_int_equal(hss_db_put(&f->db, &sub, &created, &conflict, err, sizeof err), 0);
    assert_int_equal(created, 0);
    assert_null(hss_db_by_impu(&f->db, "tel:+15550001"));
    /* bob (from the file) deleted: his SQN row goes with him, a tombstone stays */
    assert_int_equal(hss_db_delete(&f->db, BOB), 0);
    assert_int_equal(hss_db_delete(&f->db, BOB), 1);
    assert_null(hss_db_by_impu(&f->db, "sip:bob@ims.test"));
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sqn WHERE impi = 'bob@ims.test'"), 0);

    reopen(f); /* the same subscriber file: bob must not come back */
    assert_int_equal(f->db.n, 2);
    assert_null(hss_db_by_impi(&f->db, BOB));
    assert_non_null(hss_db_by_impi(&f->db, CAROL));
    hss_entry_t *a = hss_db_by_impu(&f->db, "sip:alice2@ims.test");
    assert_non_null(a);
    assert_string_equal(a->sub.impi, ALICE);
    assert_int_equal(a->sqn, 0x20); /* the SQN only moves forward: the file's 0x20 is kept */
    assert_null(hss_db_by_impu(&f->db, "tel:+15550001"));
}

static void file_changes_after_the_database_exists(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    hss_db_free(&f->db);
    f->open = 0;
    /* alice's K changes in the file (the database's copy wins); erin is new (added) */
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%s", seed_yaml);
    char *k = strstr(yaml, "6162636465666768696a6b6c6d6e6f70");
    memcpy(k, "ffffffffffffffffffffffffffffffff", 32);
    strcat(yaml, "  - impi: erin@ims.test\n"
                 "    impus: [sip:erin@ims.test]\n"
                 "    k: 000102030405060708090a0b0c0d0e0f\n"
                 "    opc: 00112233445566778899aabbccddeeff\n");
    write_file(f->yaml, yaml);
    open_db(f, NULL);
    assert_int_equal(f->db.n, 3);
    assert_non_null(hss_db_by_impu(&f->db, "sip:erin@ims.test"));
    assert_int_equal(hss_db_by_impi(&f->db, ALICE)->sub.k[0], 0x61);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM subscribers"), 3);
}

static void old_state_file_is_imported_once(void **state)
{
    fx_t *f = *state;
    write_file(
        f->state,
        "{\"version\": 1,"
        " \"subscribers\": {"
        "  \"alice@ims.test\": {\"sqn\": \"0000000004c1\", \"server_name\": \"sip:s:6060\","
        "    \"scscf_host\": \"s.ims.test\", \"scscf_realm\": \"ims.test\","
        "    \"state\": \"registered\"},"
        "  \"gone@ims.test\": {\"sqn\": \"000000000001\", \"state\": \"not_registered\"}},"
        " \"api_subscribers\": {\"carol@ims.test\": {\"impi\": \"carol@ims.test\","
        "   \"impus\": [\"sip:carol@ims.test\"], \"k\": \"000102030405060708090a0b0c0d0e0f\","
        "   \"opc\": \"00112233445566778899aabbccddeeff\", \"sqn\": \"000000000099\"}},"
        " \"api_deleted\": [\"bob@ims.test\"]}");
    open_db(f, f->state);
    assert_int_equal(f->db.n, 2);
    hss_entry_t *a = hss_db_by_impi(&f->db, ALICE);
    assert_int_equal(a->sqn, 0x4c1);
    assert_int_equal(a->state, HSS_REGISTERED);
    assert_string_equal(a->scscf_host, "s.ims.test");
    assert_null(hss_db_by_impi(&f->db, BOB));
    assert_int_equal(hss_db_by_impi(&f->db, CAROL)->sqn, 0x99);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM meta WHERE key = 'imported_state_file'"), 1);
    a->sqn = 0x500;
    assert_int_equal(hss_db_write(&f->db, a, HSS_DB_SQN), 0);
    /* the next start does not import again (the state file's older SQN must not come back) */
    hss_db_free(&f->db);
    f->open = 0;
    open_db(f, f->state);
    assert_int_equal(hss_db_by_impi(&f->db, ALICE)->sqn, 0x500);
    assert_null(hss_db_by_impi(&f->db, BOB));
    assert_int_equal(sql_int(f, "SELECT writes FROM sqn WHERE impi = 'alice@ims.test'"), 2);
}

static void bad_state_file_refused(void **state)
{
    fx_t *f = *state;
    char err[512] = "";
    write_file(f->state,
               "{\"subscribers\": {\"alice@ims.test\": {\"sqn\": \"xyz\", \"state\": 1}}}");
    assert_int_equal(try_open(f, f->state, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad sqn or state"));
    /* the failed start left the database new: nothing half imported */
    write_file(f->state, "{}");
    open_db(f, f->state);
    assert_int_equal(f->db.n, 2);
}

static void expect_open_error(fx_t *f, const char *needle)
{
    char err[512] = "";
    assert_int_equal(try_open(f, NULL, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    assert_null(f->db.by_impi); /* freed */
}

static void garbage_file_is_a_clean_error(void **state)
{
    fx_t *f = *state;
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    junk[sizeof junk - 1] = 0;
    write_file(f->db_path, "this is not a database\n");
    expect_open_error(f, "not a usable SQLite database");
    FILE *fp = fopen(f->db_path, "w");
    fwrite(junk, 1, sizeof junk, fp);
    fclose(fp);
    expect_open_error(f, f->db_path);
    /* --check reads it read-only and says the same */
    hss_db_config_t c = {.subscribers_file = f->yaml, .database = f->db_path, .check_only = 1};
    char err[512] = "";
    assert_int_equal(hss_db_open(&f->db, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, f->db_path));
}

static void hostile_rows_are_clean_errors(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    hss_db_free(&f->db);
    f->open = 0;
    sql_exec(f, "INSERT INTO subscribers (impi, data, origin) VALUES ('x@y', '{not json', 'api')");
    expect_open_error(f, "subscribers row x@y");
    sql_exec(f, "UPDATE subscribers SET data = '{\"impi\":\"other@y\",\"impus\":[\"sip:o@y\"],"
                "\"k\":\"000102030405060708090a0b0c0d0e0f\",\"opc\":"
                "\"00112233445566778899aabbccddeeff\"}' WHERE impi = 'x@y'");
    expect_open_error(f, "differs from the row's key");
    sql_exec(f, "UPDATE subscribers SET data = '{\"impi\":\"x@y\",\"impus\":[\"tel:+15550001\"],"
                "\"k\":\"000102030405060708090a0b0c0d0e0f\",\"opc\":"
                "\"00112233445566778899aabbccddeeff\"}' WHERE impi = 'x@y'");
    expect_open_error(f, "an identity of another subscriber");
    sql_exec(f, "DELETE FROM subscribers WHERE impi = 'x@y'");
    sql_exec(f, "INSERT INTO sqn (impi, sqn) VALUES ('alice@ims.test', 'lots')");
    expect_open_error(f, "sqn row alice@ims.test");
    sql_exec(f, "UPDATE sqn SET sqn = 281474976710656"); /* 2^48 */
    expect_open_error(f, "not a 48-bit integer");
    sql_exec(f, "DELETE FROM sqn");
    sql_exec(f, "INSERT INTO assignment (impi, state) VALUES ('alice@ims.test', 'dancing')");
    expect_open_error(f, "assignment row alice@ims.test");
    sql_exec(f, "DELETE FROM assignment; UPDATE meta SET value = '99' WHERE key = "
                "'schema_version'");
    expect_open_error(f, "schema version 99");
    sql_exec(f, "UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    open_db(f, NULL);
}

static void write_failure_is_reported(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    hss_entry_t *a = hss_db_by_impi(&f->db, ALICE);
    /* another connection holds the write lock (longer than the busy timeout) */
    sqlite3 *s;
    assert_int_equal(sqlite3_open(f->db_path, &s), SQLITE_OK);
    assert_int_equal(sqlite3_exec(s, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    a->sqn = 0x999;
    assert_int_equal(hss_db_write(&f->db, a, HSS_DB_SQN), -1);
    assert_int_equal(hss_db_write(&f->db, a, HSS_DB_SQN | HSS_DB_ASSIGNMENT), -1);
    assert_int_equal(f->db.failing, 1);
    assert_int_equal(f->db.write_errors, 2);
    char err[256] = "";
    int created, conflict;
    hss_subscriber_t sub;
    subscriber(&sub, "{\"impi\":\"carol@ims.test\",\"impus\":[\"sip:carol@ims.test\"],"
                     "\"k\":\"000102030405060708090a0b0c0d0e0f\","
                     "\"opc\":\"00112233445566778899aabbccddeeff\"}");
    assert_int_equal(hss_db_put(&f->db, &sub, &created, &conflict, err, sizeof err), -1);
    assert_int_equal(conflict, 0);
    assert_null(hss_db_by_impi(&f->db, CAROL)); /* memory follows the database */
    hss_subscriber_clear(&sub);
    assert_int_equal(hss_db_delete(&f->db, BOB), -1);
    assert_non_null(hss_db_by_impi(&f->db, BOB));
    assert_int_equal(sqlite3_exec(s, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(s);
    assert_int_equal(hss_db_write(&f->db, a, HSS_DB_SQN), 0);
    assert_int_equal(f->db.failing, 0);
    reopen(f);
    assert_int_equal(hss_db_by_impi(&f->db, ALICE)->sqn, 0x999);
}

static void one_hss_per_database(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    hss_db_t second;
    hss_db_config_t c = {.subscribers_file = f->yaml, .database = f->db_path};
    char err[512] = "";
    assert_int_equal(hss_db_open(&second, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "in use by another hss"));
    /* --check reads beside a running HSS */
    c.check_only = 1;
    assert_int_equal(hss_db_open(&second, &c, err, sizeof err), 0);
    assert_int_equal(second.n, 2);
    hss_db_free(&second);
}

static void check_only_creates_nothing(void **state)
{
    fx_t *f = *state;
    hss_db_config_t c = {.subscribers_file = f->yaml, .database = f->db_path, .check_only = 1};
    char err[512] = "";
    assert_int_equal(hss_db_open(&f->db, &c, err, sizeof err), 0);
    f->open = 1;
    assert_int_equal(f->db.n, 2);
    assert_int_not_equal(access(f->db_path, F_OK), 0);
    assert_int_equal(hss_db_write(&f->db, hss_db_by_impi(&f->db, ALICE), HSS_DB_SQN), 0);
}

static void memory_only_without_a_path(void **state)
{
    fx_t *f = *state;
    hss_db_config_t c = {.subscribers_file = f->yaml, .database = ""};
    char err[512] = "";
    assert_int_equal(hss_db_open(&f->db, &c, err, sizeof err), 0);
    f->open = 1;
    assert_null(f->db.sql);
    assert_int_equal(hss_db_delete(&f->db, ALICE), 0);
    assert_int_equal(f->db.n, 1);
}

static void many_subscribers_indexed(void **state)
{
    fx_t *f = *state;
    open_db(f, NULL);
    char err[256], json[512];
    int created, conflict;
    for (int i = 0; i < 3000; i++) {
        hss_subscriber_t sub;
        snprintf(json, sizeof json,
                 "{\"impi\":\"u%d@ims.test\",\"impus\":[\"sip:u%d@ims.test\",\"tel:+1%09d\"],"
                 "\"k\":\"000102030405060708090a0b0c0d0e0f\","
                 "\"opc\":\"00112233445566778899aabbccddeeff\"}",
                 i, i, i);
        subscriber(&sub, json);
        assert_int_equal(hss_db_put(&f->db, &sub, &created, &conflict, err, sizeof err), 0);
    }
    for (int i = 0; i < 3000; i += 7) {
        assert_int_equal(
            hss_db_delete(&f->db, (snprintf(json, sizeof json, "u%d@ims.test", i), json)), 0);
    }
    reopen(f);
    assert_int_equal(f->db.n, 2 + 3000 - 429);
    for (int i = 0; i < 3000; i++) {
        snprintf(json, sizeof json, "tel:+1%09d", i);
        hss_entry_t *e = hss_db_by_impu(&f->db, json);
        if (i % 7 == 0) {
            assert_null(e);
            continue;
        }
        assert_non_null(e);
        assert_ptr_equal(f->db.entries[e->index], e);
        snprintf(json, sizeof json, "u%d@ims.test", i);
        assert_string_equal(e->sub.impi, json);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fresh_database_is_seeded, setup, teardown),
        cmocka_unit_test_setup_teardown(sqn_written_one_row_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(assignment_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(rest_put_and_delete_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(file_changes_after_the_database_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(old_state_file_is_imported_once, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_state_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(garbage_file_is_a_clean_error, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_rows_are_clean_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(write_failure_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(one_hss_per_database, setup, teardown),
        cmocka_unit_test_setup_teardown(check_only_creates_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_only_without_a_path, setup, teardown),
        cmocka_unit_test_setup_teardown(many_subscribers_indexed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
