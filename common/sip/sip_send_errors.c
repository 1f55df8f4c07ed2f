/* Messages nta could not hand to a transport (sip_core_internal.h: sip_send_errors_watch()).
 *
 * nta says so only in its own log, at level 3: a request ("nta: ACK (1): No buffer space
 * available (105) with tcp/[127.0.0.1]:5070") or a response ("incoming_reply: tport_tsend:
 * error (No buffer space available) while sending 200 OK for BYE (2)"). "No buffer space" is a
 * connection whose tport queue (TPTAG_QUEUESIZE, sip_core.c: TCP_QUEUE) is full: the message is
 * gone. A request sent with a transaction gets nta's 503, but an ACK for a 2xx or a relayed
 * response has nobody to tell, and the call fails later at its far end (t_flood: calls lost at
 * their BYE in bursts with no datagram dropped). So those lines are counted by kind, and a
 * warning is logged when an episode starts, not for each line; nta's other level-3 lines go to
 * the debug log as before. */
#include "common/sip/sip_core_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/su_log.h>

#include "common/util/log.h"

extern su_log_t nta_log[];

enum { EPISODE_QUIET = 10 }; /* seconds without a failure that end an episode */

/* "queue_full", "other" for a send failure nta logged, NULL for any other line. */
static const char *failure_kind(const char *line)
{
    int request = strncmp(line, "nta: ", 5) == 0 && strstr(line, ") with ");
    int response = strstr(line, "tport_tsend: error (") != NULL;
    if (!request && !response)
        return NULL;
    return strstr(line, "No buffer space") ? "queue_full" : "other";
}

static void on_nta_log(void *stream, char const *fmt, va_list ap)
{
    sip_core_t *core = stream;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    const char *kind = failure_kind(line);
    if (!kind) {
        if (*line)
            log_write(LOG_DEBUG, NULL, "sofia: %s", line);
        return;
    }
    metric_inc(core->m_send_failures, kind);
    time_t now = time(NULL);
    if (now - core->send_failure_at > EPISODE_QUIET)
        log_warn("sip: a message could not be sent (%s; counted in cscf_sip_send_failures_total, "
                 "logged again after %d s without one): %s",
                 kind, EPISODE_QUIET, line);
    core->send_failure_at = now;
}

void sip_send_errors_watch(sip_core_t *core)
{
    core->m_send_failures = metrics_counter(
        core->metrics, "cscf_sip_send_failures_total",
        "SIP messages nta could not hand to a transport, by kind (queue_full: the connection's "
        "send queue was full; other)",
        "kind");
    su_log_redirect(nta_log, on_nta_log, core);
    su_log_set_level(nta_log, 3);
}

void sip_send_errors_unwatch(sip_core_t *core)
{
    (void)core;
    su_log_redirect(nta_log, NULL, NULL);
}
