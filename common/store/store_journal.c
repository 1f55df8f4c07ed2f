/* The memory backend's journal: an append-only file of the store's changes, replayed at start.
 *
 * Format: text, one change per line, each line ends in '\n':
 *   P <rev> <record>   a put: the record as store_reg_encode() writes it (one line of JSON), and
 *                      the revision the put gave it (decimal, 1 .. 2^64-2)
 *   D <impi>           a delete: the IMPI as a JSON string (or {"hex":...}, store_codec.c)
 * A change is written with one write(2) of the whole line after the memory backend has checked
 * it and before it applies it, so the store never holds what the file lacks; when the write
 * fails (disk full) the file is cut back to where it was and the put/del answers -1.
 *
 * Open: the file is read whole and replayed in order (last write wins; each record keeps its
 * revision, so a conditional put after a restart still sees the revision it read before).
 * Text after the last '\n' is a torn last line (a crash in the middle of a write): ignored,
 * logged once. Any other line that does not parse, or that the store refuses, is skipped and
 * counted; the first one and the count are logged once. Nothing in the file can crash the
 * process (store_reg_decode() treats it as hostile text). Then the memory backend compacts.
 *
 * Compaction: a snapshot (one P line per live record) is written to PATH.tmp, fsync'd, renamed
 * over PATH, and the directory fsync'd; the new file takes the appends from then on. It runs at
 * open and whenever the file grows past 4 times the last snapshot (and past COMPACT_FLOOR, so a
 * nearly empty store does not rewrite its file at every change): the file stays within about
 * 4x the live data, and the cost of rewriting is spread over the changes that grew it (a
 * compaction of n records follows at least 3n records' worth of writes).
 *
 * Durability: each change is in the kernel (write(2) returned) before the caller is answered,
 * so a crash or kill of the process loses nothing. There is no fsync per change by default (it
 * blocks the SIP loop; see the notes' figures): an operating system crash or power loss can
 * lose the changes of the last few seconds, as long as the kernel keeps dirty pages
 * (vm.dirty_expire_centisecs, 30 s by default); those UEs register again. With the option
 * "fsync=1" every change is fdatasync'd before the answer.
 *
 * Mode 0600 (it holds the HSS's user data and dialog state); the directory must exist. One
 * process per file: a second writer would interleave lines (nothing locks it). */
#include "common/store/store_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/store/store_internal.h"
#include "common/util/log.h"

#define COMPACT_FLOOR (64 * 1024) /* bytes: below this the file is never rewritten */
#define WRITE_CHUNK   (1 << 20)   /* a snapshot is written in pieces of about this size */

struct journal {
    char *path, *tmp;
    int fd;
    int fsync_each;
    uint64_t size; /* bytes in the file */
    uint64_t base; /* bytes of the last snapshot */
};

/* ---- writing ---- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* "P <rev> <record>\n", malloc'd, its length in *len; NULL when r cannot be encoded. */
static char *put_line(const store_reg_t *r, uint64_t rev, size_t *len)
{
    char *text = store_reg_encode(r);
    if (!text)
        return NULL;
    char *line = NULL;
    int n = asprintf(&line, "P %" PRIu64 " %s\n", rev, text);
    free(text);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return line;
}

/* Appends line; on failure cuts the file back so no partial line stays in it. */
static int append(journal_t *j, const char *line, size_t len)
{
    int rc = write_all(j->fd, line, len);
    if (rc == 0 && j->fsync_each && fdatasync(j->fd) < 0)
        rc = -1;
    if (rc < 0) {
        int e = errno;
        /* The line may be in the file (only the fdatasync failed) or partly: cut it off. */
        if (ftruncate(j->fd, (off_t)j->size) < 0)
            log_error("store: journal %s: cannot cut back a failed write: %s", j->path,
                      strerror(errno));
        log_error("store: journal %s: write failed: %s", j->path, strerror(e));
        return -1;
    }
    j->size += len;
    return 0;
}

int journal_put(journal_t *j, const store_reg_t *reg, uint64_t rev)
{
    size_t len;
    char *line = put_line(reg, rev, &len);
    if (!line) {
        log_warn("store: journal %s: registration of %s cannot be written (beyond the codec's "
                 "bounds, or out of memory)",
                 j->path, reg->impi ? reg->impi : "?");
        return -1;
    }
    int rc = append(j, line, len);
    free(line);
    return rc;
}

int journal_del(journal_t *j, const char *impi)
{
    json_t *v = store_codec_string(impi);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    char *line = NULL;
    int n = text ? asprintf(&line, "D %s\n", text) : -1;
    free(text);
    if (n < 0) {
        log_error("store: journal %s: out of memory", j->path);
        return -1;
    }
    int rc = append(j, line, (size_t)n);
    free(line);
    return rc;
}

/* ---- compaction ---- */

int journal_wants_compaction(const journal_t *j)
{
    return j->size > COMPACT_FLOOR && j->size > 4 * j->base;
}

uint64_t journal_size(const journal_t *j)
{
    return j->size;
}

/* The directory of path, fsync'd so a rename in it is on disk. */
static int sync_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    const char *name = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
    int fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* regs as P lines into fd, in pieces; bytes written in *size. */
static int write_snapshot(int fd, const store_reg_t *const *regs, size_t n, uint64_t *size)
{
    char *buf = malloc(WRITE_CHUNK);
    size_t used = 0;
    int rc = buf ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len;
        char *line = put_line(regs[i], regs[i]->rev, &len);
        if (!line) {
            rc = -1;
            break;
        }
        if (used + len > WRITE_CHUNK && used) {
            rc = write_all(fd, buf, used);
            used = 0;
        }
        if (rc == 0 && len > WRITE_CHUNK)
            rc = write_all(fd, line, len); /* one record larger than a piece */
        else if (rc == 0) {
            memcpy(buf + used, line, len);
            used += len;
        }
        *size += len;
        free(line);
    }
    if (rc == 0 && used)
        rc = write_all(fd, buf, used);
    free(buf);
    return rc;
}

int journal_compact(journal_t *j, const store_reg_t *const *regs, size_t n)
{
    int fd = open(j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    uint64_t size = 0;
    const char *step = "create";
    if (fd >= 0) {
        step = "write";
        if (write_snapshot(fd, regs, n, &size) == 0 && (step = "fsync", fsync(fd) == 0) &&
            (step = "rename", rename(j->tmp, j->path) == 0)) {
            if (sync_dir(j->path) < 0) /* the new file is in use anyway; only its name waits */
                log_warn("store: journal %s: directory fsync failed: %s", j->path, strerror(errno));
            close(j->fd);
            j->fd = fd;
            j->size = j->base = size;
            return 0;
        }
    }
    log_error("store: journal %s: compaction failed (%s %s: %s); the journal goes on growing",
              j->path, step, j->tmp, strerror(errno));
    if (fd >= 0) {
        close(fd);
        unlink(j->tmp);
    }
    /* Not again before it has grown as much once more. */
    j->base = j->size;
    return -1;
}

/* ---- replay ---- */

typedef struct replay {
    journal_apply_f apply;
    void *arg;
    size_t lineno, bad, first_bad;
    char why[160]; /* the first bad line's reason */
} replay_t;

static void bad_line(replay_t *rp, const char *why)
{
    if (!rp->bad++) {
        rp->first_bad = rp->lineno;
        snprintf(rp->why, sizeof rp->why, "%s", why);
    }
}

/* A revision: decimal digits, 1 .. STORE_REV_NEW - 1; the text after it in *end. */
static int parse_rev(const char *p, const char *stop, uint64_t *rev, const char **end)
{
    uint64_t v = 0;
    const char *q = p;
    for (; q < stop && *q >= '0' && *q <= '9'; q++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (q == p || v == 0 || v == STORE_REV_NEW)
        return -1;
    *rev = v;
    *end = q;
    return 0;
}

static void replay_put(replay_t *rp, const char *p, const char *stop)
{
    uint64_t rev;
    const char *text;
    if (parse_rev(p, stop, &rev, &text) < 0 || text == stop || *text != ' ') {
        bad_line(rp, "bad revision");
        return;
    }
    text++;
    char err[128];
    store_reg_t *r = store_reg_decode(text, (size_t)(stop - text), err, sizeof err);
    if (!r) {
        bad_line(rp, err);
        return;
    }
    if (rp->apply(rp->arg, r, NULL, rev) < 0)
        bad_line(rp, "refused by the store");
}

static void replay_del(replay_t *rp, const char *p, const char *stop)
{
    json_error_t jerr;
    json_t *v = json_loadb(p, (size_t)(stop - p), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    char err[128] = "bad JSON";
    char *impi = v ? store_codec_string_from(v, err, sizeof err) : NULL;
    json_decref(v);
    if (!impi) {
        bad_line(rp, err);
        return;
    }
    if (rp->apply(rp->arg, NULL, impi, 0) < 0)
        bad_line(rp, "delete of an IMPI not held");
    free(impi);
}

static void replay_line(replay_t *rp, const char *p, const char *stop)
{
    if (stop - p >= 2 && p[0] == 'P' && p[1] == ' ')
        replay_put(rp, p + 2, stop);
    else if (stop - p >= 2 && p[0] == 'D' && p[1] == ' ')
        replay_del(rp, p + 2, stop);
    else
        bad_line(rp, "neither P nor D");
}

/* The whole file into memory; NULL (errno set) on failure. */
static char *read_all(int fd, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return NULL;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) { /* it grew meanwhile */
            char *more = realloc(buf, cap * 2);
            if (!more)
                break;
            buf = more;
            cap *= 2;
        }
        ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r == 0) {
            *len = n;
            return buf;
        }
        n += (size_t)r;
    }
    free(buf);
    return NULL;
}

static void replay(journal_t *j, const char *buf, size_t len, replay_t *rp)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        rp->lineno++;
        if (!nl) {
            log_warn("store: journal %s: torn last line %zu (%zu bytes, a write cut by a crash) "
                     "ignored",
                     j->path, rp->lineno, (size_t)(end - p));
            break;
        }
        replay_line(rp, p, nl);
        p = nl + 1;
    }
    if (rp->bad)
        log_warn("store: journal %s: %zu bad line(s) skipped, the first at line %zu: %s", j->path,
                 rp->bad, rp->first_bad, rp->why);
}

static void open_failed(const char *path, const char *what)
{
    int e = errno;
    char *dir = strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash && slash != dir)
        *slash = '\0';
    struct stat st;
    if (e == ENOENT && slash && stat(dir, &st) < 0)
        log_error("store: journal %s: its directory %s does not exist", path, dir);
    else
        log_error("store: journal %s: cannot %s it: %s", path, what, strerror(e));
    free(dir);
}

journal_t *journal_open(const char *path, int fsync_each, journal_apply_f apply, void *arg)
{
    if (!path || !*path) {
        log_error("store: journal: no path");
        return NULL;
    }
    journal_t *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path)) || asprintf(&j->tmp, "%s.tmp", path) < 0) {
        if (j)
            free(j->path);
        free(j);
        log_error("store: journal %s: out of memory", path);
        return NULL;
    }
    j->fsync_each = fsync_each;
    j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        open_failed(path, "open");
        journal_close(j);
        return NULL;
    }
    size_t len = 0;
    char *buf = read_all(j->fd, &len);
    if (!buf) {
        open_failed(path, "read");
        journal_close(j);
        return NULL;
    }
    replay_t rp = {.apply = apply, .arg = arg};
    replay(j, buf, len, &rp);
    free(buf);
    j->size = len;
    log_info("store: journal %s: %zu line(s) replayed", path, rp.lineno);
    return j;
}

void journal_close(journal_t *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    free(j->tmp);
    free(j);
}
