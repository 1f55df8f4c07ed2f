#include "common/util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192

static struct {
    char program[32];
    _Atomic int level;
    log_format_t format;
    char file[512];
    _Atomic int fd;
} lg = {.program = "cscf", .level = LOG_INFO, .fd = 2};

static _Thread_local log_ctx_t ctx;

static void set_field(char *dst, size_t cap, const char *v)
{
    snprintf(dst, cap, "%s", v ? v : "");
}

void log_ctx_begin(const char *call_id)
{
    set_field(ctx.call_id, sizeof ctx.call_id, call_id);
    ctx.impu[0] = ctx.impi[0] = '\0';
}

void log_ctx_user(const char *impu, const char *impi)
{
    set_field(ctx.impu, sizeof ctx.impu, impu);
    set_field(ctx.impi, sizeof ctx.impi, impi);
}

void log_ctx_clear(void)
{
    log_ctx_begin(NULL);
}

void log_ctx_save(log_ctx_t *out)
{
    *out = ctx;
}

void log_ctx_restore(const log_ctx_t *in)
{
    ctx = *in;
}

static const char *const level_names[] = {"error", "warning", "info", "debug"};

int log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    if (strcmp(s, "warn") == 0) {
        *out = LOG_WARNING;
        return 0;
    }
    return -1;
}

const char *log_level_name(log_level_t level)
{
    return level <= LOG_DEBUG ? level_names[level] : "?";
}

int log_format_parse(const char *s, log_format_t *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int log_init(const char *program, log_level_t level, log_format_t format, const char *file)
{
    snprintf(lg.program, sizeof lg.program, "%s", program);
    atomic_store(&lg.level, (int)level);
    lg.format = format;
    lg.file[0] = '\0';
    if (file && *file) {
        int fd = open_file(file);
        if (fd < 0)
            return -1;
        snprintf(lg.file, sizeof lg.file, "%s", file);
        atomic_store(&lg.fd, fd);
    }
    return 0;
}

void log_set_level(log_level_t level)
{
    atomic_store(&lg.level, (int)level);
}

log_level_t log_get_level(void)
{
    return (log_level_t)atomic_load(&lg.level);
}

int log_reopen(void)
{
    if (!lg.file[0])
        return 0;
    int fd = open_file(lg.file);
    if (fd < 0)
        return -1;
    int old = atomic_exchange(&lg.fd, fd);
    if (old > 2)
        close(old);
    return 0;
}

void log_close(void)
{
    int old = atomic_exchange(&lg.fd, 2);
    if (old > 2)
        close(old);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    size_t len = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ? 2 : 0;
    if (!len || *p > 0xf4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return len;
}

/* JSON string body escaping; stops (truncating) when the buffer is full. Bytes off the network
 * that are not UTF-8 become U+FFFD, so every line stays valid JSON. */
static size_t json_escape(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && n + 7 < cap; p++) {
        size_t u = *p >= 0x80 ? utf8_len(p) : 1;
        if (*p == '"' || *p == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", *p);
        } else if (u == 0) {
            n += (size_t)snprintf(dst + n, cap - n, "\\ufffd");
        } else {
            memcpy(dst + n, p, u);
            n += u;
            p += u - 1;
        }
    }
    dst[n] = '\0';
    return n;
}

static void timestamp(char *buf, size_t cap)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

static size_t json_field(char *line, size_t n, const char *name, const char *value)
{
    char esc[sizeof ctx.call_id * 6 + 8];
    if (!value || !*value || n >= LOG_LINE_MAX)
        return n;
    json_escape(esc, sizeof esc, value);
    return n + (size_t)snprintf(line + n, LOG_LINE_MAX - n, ",\"%s\":\"%s\"", name, esc);
}

static size_t format_json(char *line, const char *ts, log_level_t level, const char *call_id,
                          const char *msg)
{
    char esc[LOG_LINE_MAX / 2];
    size_t n =
        (size_t)snprintf(line, LOG_LINE_MAX, "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\"%s\"",
                         ts, log_level_name(level), lg.program);
    n = json_field(line, n, "call_id", call_id);
    n = json_field(line, n, "impu", ctx.impu);
    n = json_field(line, n, "impi", ctx.impi);
    if (n >= LOG_LINE_MAX)
        return n;
    json_escape(esc, sizeof esc, msg);
    n += (size_t)snprintf(line + n, LOG_LINE_MAX - n, ",\"msg\":\"%s\"}\n", esc);
    return n;
}

/* "[call-id impu=... impi=...] " or "" */
static void text_context(char *out, size_t cap, const char *call_id)
{
    size_t n = 0;
    out[0] = '\0';
    if (call_id && *call_id)
        n += (size_t)snprintf(out + n, cap - n, "%s", call_id);
    if (ctx.impu[0] && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%simpu=%s", n ? " " : "", ctx.impu);
    if (ctx.impi[0] && n < cap)
        n += (size_t)snprintf(out + n, cap - n, "%simpi=%s", n ? " " : "", ctx.impi);
}

static size_t format_text(char *line, const char *ts, log_level_t level, const char *call_id,
                          const char *msg)
{
    char c[sizeof ctx * 2];
    text_context(c, sizeof c, call_id);
    if (c[0])
        return (size_t)snprintf(line, LOG_LINE_MAX, "%s %s %s: [%s] %s\n", ts, lg.program,
                                log_level_name(level), c, msg);
    return (size_t)snprintf(line, LOG_LINE_MAX, "%s %s %s: %s\n", ts, lg.program,
                            log_level_name(level), msg);
}

void log_vwrite(log_level_t level, const char *call_id, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load(&lg.level))
        return;
    char msg[LOG_LINE_MAX / 2], ts[40], line[LOG_LINE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (!call_id && ctx.call_id[0])
        call_id = ctx.call_id;
    timestamp(ts, sizeof ts);
    size_t n = lg.format == LOG_FORMAT_JSON ? format_json(line, ts, level, call_id, msg)
                                            : format_text(line, ts, level, call_id, msg);
    if (n >= LOG_LINE_MAX) {
        n = LOG_LINE_MAX - 1;
        line[n - 1] = '\n';
    }
    /* One write per line keeps lines whole across threads; a failed log write has nowhere to go. */
    ssize_t rc = write(atomic_load(&lg.fd), line, n);
    (void)rc;
}

void log_write(log_level_t level, const char *call_id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, call_id, fmt, ap);
    va_end(ap);
}
