/* The memory backend's journal (options "journal=PATH", common/store/store_journal.c): what was
 * put and deleted comes back after a close and a reopen, with its revisions; a torn last line
 * and garbage lines are skipped and logged once; a long run of changes compacts (the file stays
 * near the live data, and is a snapshot after a reopen); a failed write changes nothing; a path
 * that cannot be used fails the open with a logged reason; mode 0600. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/store/store.h"
#include "common/util/log.h"
#include "tests/unit/store_result.h"

#define NOW 1700000000

static char dir[64], jpath[128], lpath[128], opts[160];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_store_journal.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(jpath, sizeof jpath, "%s/regs.journal", dir);
    snprintf(lpath, sizeof lpath, "%s/log", dir);
    snprintf(opts, sizeof opts, "journal=%s", jpath);
    return log_init("test", LOG_INFO, LOG_FORMAT_TEXT, lpath);
}

static int teardown(void **state)
{
    (void)state;
    log_close();
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", jpath);
    unlink(jpath);
    unlink(tmp);
    unlink(lpath);
    return rmdir(dir);
}

/* ---- helpers ---- */

static store_t *open_journal(void)
{
    store_limits_t limits = {1000, 10};
    store_t *s = store_open("memory", &limits, opts);
    assert_non_null(s);
    return s;
}

static store_reg_t *get(store_t *s, const char *impi)
{
    result_t r = {0};
    store_get_impi(s, impi, on_get, &r);
    assert_int_equal(r.calls, 1);
    return r.reg;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            assert_non_null(buf = realloc(buf, cap));
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (!r)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static size_t lines_of(const char *path)
{
    size_t len, n = 0;
    char *buf = slurp(path, &len);
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    free(buf);
    return n;
}

/* How many log lines (so far) contain what. */
static size_t logged(const char *what)
{
    char *buf = slurp(lpath, NULL);
    size_t n = 0;
    for (const char *p = buf; (p = strstr(p, what)); p += strlen(what))
        n++;
    free(buf);
    return n;
}

static void append_raw(const char *text, size_t len)
{
    FILE *f = fopen(jpath, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void reset_journal(void)
{
    unlink(jpath);
}

/* A registration with every field set; contacts: how many. */
static store_reg_t *full_reg(const char *impi, const char *impu, int contacts)
{
    char tel[64];
    snprintf(tel, sizeof tel, "tel:+%s\xff", impi); /* not UTF-8 */
    const char *set[] = {impu, tel};
    store_reg_t *r = make_reg(impi, set, 2);
    assert_int_equal(store_reg_set_impus(r, set, 2, set + 1, 1), 0);
    assert_int_equal(store_contact_set(&r->profile, "<IMSSubscription>\n</IMSSubscription>"), 0);
    assert_int_equal(store_contact_set(&r->scheme, "AKAv1-MD5"), 0);
    for (int i = 0; i < contacts; i++) {
        char uri[64];
        snprintf(uri, sizeof uri, "sip:ue%d@192.0.2.1:5060", i);
        store_contact_t *c = add_contact(r, uri, NOW + 600 + i);
        assert_int_equal(store_contact_set(&c->received, "udp:192.0.2.1:5060"), 0);
        assert_int_equal(store_contact_set(&c->user_agent, "UE \xe9\xff"), 0);
        c->cseq = 7;
        c->reg_id = 1;
    }
    assert_int_equal(store_contact_set(&r->server_name, "sip:scscf:6060"), 0);
    store_sub_t *u = store_reg_add_sub(r);
    assert_non_null(u);
    assert_int_equal(store_contact_set(&u->call_id, "sub@ue"), 0);
    assert_int_equal(store_contact_set(&u->route_set, "<sip:p;lr>"), 0);
    u->version = 3;
    u->expires_at = NOW + 3600;
    return r;
}

static void assert_held(store_t *s, const store_reg_t *want, uint64_t rev)
{
    store_reg_t *got = get(s, want->impi);
    if (!got)
        fail_msg("%s not held", want->impi);
    assert_same_reg(got, want);
    assert_int_equal(got->rev, rev);
    store_reg_free(got);
}

/* ---- the cases ---- */

static void survives_a_restart(void **state)
{
    (void)state;
    reset_journal();
    store_t *s = open_journal();
    store_reg_t *a = full_reg("a@ims", "sip:a@ims", 2), *b = full_reg("b@ims", "sip:b@ims", 1),
                *c = full_reg("c@ims", "sip:c@ims", 0);
    assert_int_equal(sync_put(s, a), 0);
    assert_int_equal(sync_put(s, b), 0);
    assert_int_equal(sync_put(s, c), 0);
    assert_int_equal(store_contact_set(&a->scheme, "Digest"), 0);
    a->rev = 1;
    assert_int_equal(sync_put(s, a), 0); /* rev 2 */
    assert_int_equal(sync_put(s, a), STORE_CONFLICT);
    assert_int_equal(sync_del(s, "b@ims"), 0);
    assert_int_equal(sync_del(s, "b@ims"), -1);
    store_free(s);

    struct stat st;
    assert_int_equal(stat(jpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    s = open_journal();
    assert_int_equal(store_count(s), 2);
    assert_int_equal(store_contact_count(s), 2);
    assert_held(s, a, 2);
    assert_held(s, c, 1);
    assert_null(get(s, "b@ims"));
    result_t r = {0};
    store_get(s, "tel:+c@ims\xff", on_get, &r); /* the IMPU index is rebuilt too */
    assert_int_equal(r.rc, 0);
    store_reg_free(r.reg);
    /* The revision survived: a writer that read rev 2 before the restart still may write. */
    a->rev = 2;
    assert_int_equal(sync_put(s, a), 0);
    a->rev = 2;
    assert_int_equal(sync_put(s, a), STORE_CONFLICT);
    assert_int_equal(sync_del(s, "c@ims"), 0);
    store_free(s);

    s = open_journal(); /* the changes after a compaction-at-open come back too */
    assert_int_equal(store_count(s), 1);
    assert_held(s, a, 3);
    assert_int_equal(lines_of(jpath), 1);
    store_free(s);
    assert_int_equal(stat(jpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(logged("bad line"), 0);
    assert_int_equal(logged("torn"), 0);
    store_reg_free(a);
    store_reg_free(b);
    store_reg_free(c);
}

static void torn_last_line_ignored(void **state)
{
    (void)state;
    reset_journal();
    store_t *s = open_journal();
    store_reg_t *a = full_reg("a@ims", "sip:a@ims", 1);
    assert_int_equal(sync_put(s, a), 0);
    store_free(s);
    size_t before = logged("torn last line");
    /* A crash in the middle of the next put's write: its line without the end. */
    char *text = store_reg_encode(a);
    assert_non_null(text);
    char line[64];
    snprintf(line, sizeof line, "P 2 ");
    append_raw(line, strlen(line));
    append_raw(text, strlen(text) / 2);
    free(text);

    s = open_journal();
    assert_held(s, a, 1);
    assert_int_equal(logged("torn last line"), before + 1);
    assert_int_equal(logged("bad line"), 0);
    /* Cut off by the compaction at open: appends start on a line of their own. */
    assert_int_equal(store_contact_set(&a->scheme, "x"), 0);
    assert_int_equal(sync_put(s, a), 0);
    store_free(s);
    s = open_journal();
    assert_held(s, a, 2);
    assert_int_equal(logged("torn last line"), before + 1);
    store_free(s);
    store_reg_free(a);
}

static void bad_lines_skipped(void **state)
{
    (void)state;
    reset_journal();
    store_reg_t *a = full_reg("a@ims", "sip:a@ims", 1), *b = full_reg("b@ims", "sip:b@ims", 2),
                *c = full_reg("c@ims", "sip:c@ims", 0);
    char *ta = store_reg_encode(a), *tb = store_reg_encode(b), *tc = store_reg_encode(c);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_non_null(tc);
    char *file = NULL;
    /* Good lines around every kind of bad one. */
    int n = asprintf(&file,
                     "P 4 %s\n"
                     "garbage\n"
                     "\n"
                     "P 0 %s\n"                    /* revision 0 */
                     "P 18446744073709551615 %s\n" /* STORE_REV_NEW */
                     "P 99999999999999999999999 %s\n"
                     "P 5 {\"v\":1,\"impi\":\"b@ims\"}\n" /* fields missing */
                     "P 5 %.20s\n"                        /* cut short */
                     "P 5x %s\n"
                     "X 5 %s\n"
                     "D \"nobody@ims\"\n"
                     "D nobody\n"
                     "D {\"hex\":\"00\"}\n"
                     "P 7 %s\n"
                     "P 1 %s\n"
                     "D \"c@ims\"\n"
                     "P 2 %s\n",
                     ta, tb, tb, tb, tb, tb, tb, tb, tc, tc);
    assert_true(n > 0);
    /* A NUL byte inside a line too. */
    char nul[] = "P 3 {\"v\":1,\0\"impi\":\"z\"}\n";
    append_raw(file, (size_t)n);
    append_raw(nul, sizeof nul - 1);
    free(file);
    size_t before = logged("bad line(s) skipped");

    store_t *s = open_journal();
    assert_int_equal(store_count(s), 3);
    assert_held(s, a, 4);
    assert_held(s, b, 7);
    assert_held(s, c, 2);
    assert_int_equal(logged("bad line(s) skipped"), before + 1); /* once */
    assert_int_equal(logged("13 bad line(s) skipped, the first at line 2"), 1);
    store_free(s);
    assert_int_equal(lines_of(jpath), 3); /* the snapshot of them */
    free(ta);
    free(tb);
    free(tc);
    store_reg_free(a);
    store_reg_free(b);
    store_reg_free(c);
}

#define RECORDS 100
#define CHANGES 10000

static void compacts(void **state)
{
    (void)state;
    reset_journal();
    store_t *s = open_journal();
    store_reg_t *regs[RECORDS];
    for (int i = 0; i < RECORDS; i++) {
        char impi[32], impu[40];
        snprintf(impi, sizeof impi, "u%03d@ims", i);
        snprintf(impu, sizeof impu, "sip:u%03d@ims", i);
        regs[i] = full_reg(impi, impu, 1);
    }
    uint64_t revs[RECORDS] = {0};
    size_t most = 0;
    for (int k = 0; k < CHANGES; k++) {
        int i = (k * 37) % RECORDS;
        if (k % 10 == 9 && revs[i]) { /* now and then a delete, put again later */
            assert_int_equal(sync_del(s, regs[i]->impi), 0);
            revs[i] = 0;
            continue;
        }
        regs[i]->contacts[0].cseq = (uint32_t)k;
        assert_int_equal(sync_put(s, regs[i]), 0);
        revs[i]++;
        if (k % 50 == 0 && lines_of(jpath) > most)
            most = lines_of(jpath);
    }
    size_t live = 0;
    for (int i = 0; i < RECORDS; i++)
        live += revs[i] != 0;
    assert_true(live > RECORDS / 2);
    /* The file never held all the changes: it was compacted on the way. */
    print_message("  %d changes to %d records: at most %zu lines, %zu at the end, %zu live\n",
                  CHANGES, RECORDS, most, lines_of(jpath), live);
    assert_true(most < CHANGES / 4);
    store_free(s);

    s = open_journal();
    assert_int_equal(lines_of(jpath), live); /* a snapshot: one line per record */
    assert_int_equal(store_count(s), live);
    for (int i = 0; i < RECORDS; i++) {
        if (revs[i])
            assert_held(s, regs[i], revs[i]);
        else
            assert_null(get(s, regs[i]->impi));
    }
    store_free(s);
    for (int i = 0; i < RECORDS; i++)
        store_reg_free(regs[i]);
}

/* A write that fails (here: the file size limit) changes nothing, in memory or in the file. */
static void failed_write_changes_nothing(void **state)
{
    (void)state;
    reset_journal();
    store_t *s = open_journal();
    store_reg_t *a = full_reg("a@ims", "sip:a@ims", 1);
    assert_int_equal(sync_put(s, a), 0);
    struct stat st;
    assert_int_equal(stat(jpath, &st), 0);

    store_reg_t *big = full_reg("a@ims", "sip:a@ims", 9);
    struct rlimit was;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {(rlim_t)st.st_size + 100, was.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc_put = sync_put(s, big);     /* a partial write, then EFBIG */
    int rc_del = sync_del(s, "a@ims"); /* fits: it goes through */
    int rc_again = sync_put(s, big);   /* nothing held now: a new record, refused the same */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
    signal(SIGXFSZ, old);
    assert_int_equal(rc_put, -1);
    assert_int_equal(rc_del, 0);
    assert_int_equal(rc_again, -1);
    assert_null(get(s, "a@ims"));
    assert_int_equal(sync_put(s, a), 0); /* the file takes writes again */
    store_free(s);

    size_t bad = logged("bad line"), torn = logged("torn");
    s = open_journal();
    assert_held(s, a, 1);
    assert_int_equal(logged("bad line"), bad); /* no partial line was left behind */
    assert_int_equal(logged("torn"), torn);
    store_free(s);
    store_reg_free(a);
    store_reg_free(big);
}

static void unusable_paths_and_options(void **state)
{
    (void)state;
    store_limits_t limits = {10, 10};
    const char *bad[] = {
        "journal=/nonexistent-dir-of-test_store_journal/regs",
        "journal=/etc/passwd/regs", /* under a file */
        "journal=/tmp",             /* a directory */
        "journal=",
        "journal",
        "fsync=1", /* without a journal */
        "fsync=yes",
        "bogus=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t before = logged("store:");
        store_t *s = store_open("memory", &limits, bad[i]);
        if (s)
            fail_msg("opened with \"%s\"", bad[i]);
        assert_true(logged("store:") > before); /* with a reason */
    }
    assert_int_equal(logged("its directory /nonexistent-dir-of-test_store_journal does not exist"),
                     1);
    /* A directory it may not write (as root, permissions do not stop it: skipped then). */
    if (geteuid() != 0) {
        char ro[160], o[200];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        assert_int_equal(mkdir(ro, 0500), 0);
        snprintf(o, sizeof o, "journal=%s/regs", ro);
        assert_null(store_open("memory", &limits, o));
        rmdir(ro);
    }
    /* Both options together. */
    char o[200];
    snprintf(o, sizeof o, "%s,fsync=1", opts);
    reset_journal();
    store_t *s = store_open("memory", &limits, o);
    assert_non_null(s);
    store_reg_t *a = full_reg("a@ims", "sip:a@ims", 1);
    assert_int_equal(sync_put(s, a), 0);
    store_free(s);
    s = open_journal();
    assert_held(s, a, 1);
    store_free(s);
    store_reg_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(survives_a_restart),
        cmocka_unit_test(torn_last_line_ignored),
        cmocka_unit_test(bad_lines_skipped),
        cmocka_unit_test(compacts),
        cmocka_unit_test(failed_write_changes_nothing),
        cmocka_unit_test(unusable_paths_and_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
