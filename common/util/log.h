/* Logging: one line per event to stderr (or log.file), text or JSON lines.
 *
 * The logger is process-wide state on purpose: every thread (SIP loop, freeDiameter, HTTP)
 * logs, and threading a handle through sofia and freeDiameter callbacks buys nothing. Each line
 * is written with a single write(2), so lines from different threads never interleave. */
#ifndef CSCF_LOG_H
#define CSCF_LOG_H

#include <stdarg.h>

typedef enum { LOG_ERROR = 0, LOG_WARNING, LOG_INFO, LOG_DEBUG } log_level_t;
typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON } log_format_t;

int log_init(const char *program, log_level_t level, log_format_t format, const char *file);
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
int log_reopen(void); /* SIGHUP: reopen log.file after rotation */
void log_close(void);

int log_level_parse(const char *s, log_level_t *out);
const char *log_level_name(log_level_t level);
int log_format_parse(const char *s, log_format_t *out);

/* A line with optional structured context (call_id NULL: the thread's context's). */
void log_write(log_level_t level, const char *call_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(log_level_t level, const char *call_id, const char *fmt, va_list ap);

/* The context of the work in hand on this thread, added to every line it writes so one handset's
 * story can be followed (JSON fields call_id, impu, impi). The SIP loop begins it for each
 * message it handles and clears it afterwards; code that learns who is served adds the user;
 * work that continues later (a Cx answer, a relayed response) saves it and restores it.
 * Thread-local rather than passed around because every logging call site would need it. */
typedef struct log_ctx {
    char call_id[128], impu[128], impi[128];
} log_ctx_t;

void log_ctx_begin(const char *call_id); /* a new piece of work: call_id set, users cleared */
void log_ctx_user(const char *impu, const char *impi); /* the served user; NULL: unknown */
void log_ctx_clear(void);
void log_ctx_save(log_ctx_t *out);
void log_ctx_restore(const log_ctx_t *in);

#define log_error(...) log_write(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_write(LOG_DEBUG, NULL, __VA_ARGS__);                                               \
    } while (0)

#endif
