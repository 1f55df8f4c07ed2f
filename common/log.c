#include "common/log.h"

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

/* JSON string body escaping; stops (truncating) when the buffer is full. */
static size_t json_escape(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && n + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", *p);
        } else {
            dst[n++] = (char)*p;
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

static size_t format_json(char *line, const char *ts, log_level_t level, const char *call_id,
                          const char *msg)
{
    char esc[LOG_LINE_MAX / 2];
    size_t n =
        (size_t)snprintf(line, LOG_LINE_MAX, "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\"%s\"",
                         ts, log_level_name(level), lg.program);
    if (call_id) {
        json_escape(esc, sizeof esc / 4, call_id);
        n += (size_t)snprintf(line + n, LOG_LINE_MAX - n, ",\"call_id\":\"%s\"", esc);
    }
    json_escape(esc, sizeof esc, msg);
    n += (size_t)snprintf(line + n, LOG_LINE_MAX - n, ",\"msg\":\"%s\"}\n", esc);
    return n;
}

static size_t format_text(char *line, const char *ts, log_level_t level, const char *call_id,
                          const char *msg)
{
    if (call_id)
        return (size_t)snprintf(line, LOG_LINE_MAX, "%s %s %s: [%s] %s\n", ts, lg.program,
                                log_level_name(level), call_id, msg);
    return (size_t)snprintf(line, LOG_LINE_MAX, "%s %s %s: %s\n", ts, lg.program,
                            log_level_name(level), msg);
}

void log_vwrite(log_level_t level, const char *call_id, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load(&lg.level))
        return;
    char msg[LOG_LINE_MAX / 2], ts[40], line[LOG_LINE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
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
