#include "common/program/program_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_time.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "common/util/log.h"
#include "common/util/version.h"
#include "common/sip/admission.h"
#include "common/sip/sip_proxy.h"

#define EXIT_CONFIG 2
#define MAX_TABLES  3

typedef struct options {
    const char *config;
    int check;
    int reference;
    int routes;
} options_t;

static void usage(const program_def_t *def, FILE *out)
{
    fprintf(
        out,
        "%s %s - %s\n\n"
        "usage: %s -c FILE [--check]\n"
        "  -c, --config FILE       YAML configuration (keys: --config-reference)\n"
        "      --check             validate the configuration and exit (0 good, 2 bad)\n"
        "      --config-reference  print every configuration key as a Markdown table\n"
        "      --routes            set up as for a run (binds SIP, starts Diameter), print every\n"
        "                          REST route as METHOD PATH [token] and exit\n"
        "  -v, --version\n"
        "  -h, --help\n\n"
        "Every key can be set by the environment: %s_SECTION_KEY (lists comma-separated).\n",
        def->name, cscf_version, def->summary, def->name, def->env_prefix);
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(const program_def_t *def, int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"check", no_argument, NULL, 'C'},
                                             {"config-reference", no_argument, NULL, 'R'},
                                             {"routes", no_argument, NULL, 'r'},
                                             {"version", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'C':
            o->check = 1;
            break;
        case 'R':
            o->reference = 1;
            break;
        case 'r':
            o->routes = 1;
            break;
        case 'v':
            printf("%s %s\n", def->name, cscf_version);
            return 0;
        case 'h':
            usage(def, stdout);
            return 0;
        default:
            usage(def, stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        usage(def, stderr);
        return EXIT_CONFIG;
    }
    return -1;
}

int program_check_transports(const cfg_t *cfg, char *err, size_t errlen)
{
    const char *const *items;
    size_t n = cfg_list(cfg, "sip.transports", &items);
    if (n == 0) {
        snprintf(err, errlen, "sip.transports: at least one transport is needed");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i], "udp") && strcmp(items[i], "tcp")) {
            snprintf(err, errlen, "sip.transports: unsupported transport '%s' (udp, tcp)",
                     items[i]);
            return -1;
        }
    }
    const char *const *listen;
    if (cfg_list(cfg, "sip.listen", &listen) == 0) {
        snprintf(err, errlen, "sip.listen: at least one address is needed");
        return -1;
    }
    return 0;
}

/* sip.tls.* as sip_core takes them (the enums were checked by the schema). */
static void tls_config(const cfg_t *cfg, sip_tls_config_t *tc)
{
    memset(tc, 0, sizeof *tc);
    tc->listen = cfg_str(cfg, "sip.tls.listen");
    tc->certificate = cfg_str(cfg, "sip.tls.certificate");
    tc->private_key = cfg_str(cfg, "sip.tls.private_key");
    tc->ca_file = cfg_str(cfg, "sip.tls.ca_file");
    sip_tls_verify_parse(cfg_str(cfg, "sip.tls.verify_peer"), &tc->verify);
    sip_tls_version_parse(cfg_str(cfg, "sip.tls.min_version"), &tc->min_version);
    tc->verify_names = cfg_bool(cfg, "sip.tls.verify_peer_names");
    tc->nsubjects = cfg_list(cfg, "sip.tls.allowed_subjects", &tc->subjects);
}

static int check_tls(const cfg_t *cfg, char *err, size_t errlen)
{
    sip_tls_config_t tc;
    tls_config(cfg, &tc);
    if (tc.listen && *tc.listen && cfg_check_addr(tc.listen) < 0) {
        snprintf(err, errlen, "sip.tls.listen: expected host:port, got '%s'", tc.listen);
        return -1;
    }
    return sip_tls_check(&tc, err, errlen);
}

/* Reads the token from api.token_file (first line) or api.token. */
static int load_token(const cfg_t *cfg, char **token, char *err, size_t errlen)
{
    const char *path = cfg_str(cfg, "api.token_file");
    const char *inline_token = cfg_str(cfg, "api.token");
    *token = NULL;
    if (!path) {
        *token = inline_token && *inline_token ? strdup(inline_token) : NULL;
        return 0;
    }
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f || !fgets(line, sizeof line, f)) {
        snprintf(err, errlen, "api.token_file: cannot read '%s': %s", path,
                 f ? "empty file" : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line) {
        snprintf(err, errlen, "api.token_file: '%s' holds an empty token", path);
        return -1;
    }
    *token = strdup(line);
    return 0;
}

static int load_config(program_t *p, const options_t *o, cfg_key_t **owned)
{
    char err[512] = "";
    p->cfg = program_schema(p->def, owned, MAX_TABLES);
    if (!p->cfg) {
        fprintf(stderr, "%s: out of memory\n", p->def->name);
        return -1;
    }
    if (o->reference)
        return 0;
    if (!o->config) {
        fprintf(stderr, "%s: -c FILE is required\n", p->def->name);
        return -1;
    }
    p->config_path = o->config;
    if (cfg_load_file(p->cfg, o->config, err, sizeof err) < 0 ||
        cfg_apply_env(p->cfg, err, sizeof err) < 0 ||
        (p->def->has_sip && program_check_transports(p->cfg, err, sizeof err) < 0) ||
        (p->def->has_sip && check_tls(p->cfg, err, sizeof err) < 0) ||
        load_token(p->cfg, &p->api_token, err, sizeof err) < 0 ||
        (p->def->check && p->def->check(p->cfg, err, sizeof err) < 0)) {
        fprintf(stderr, "%s: config error: %s\n", p->def->name, err);
        return -1;
    }
    return 0;
}

static int start_logging(program_t *p)
{
    log_level_t level;
    log_format_t format;
    log_level_parse(cfg_str(p->cfg, "log.level"), &level);
    log_format_parse(cfg_str(p->cfg, "log.format"), &format);
    if (log_init(p->def->name, level, format, cfg_str(p->cfg, "log.file")) < 0) {
        fprintf(stderr, "%s: log.file: cannot open '%s': %s\n", p->def->name,
                cfg_str(p->cfg, "log.file"), strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- shutdown ---- */

static void drain_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    program_t *p = (program_t *)arg;
    size_t pending = p->sip ? sip_core_pending(p->sip) : 0;
    int expired = su_time_cmp(su_now(), p->drain_deadline) >= 0;
    if (pending == 0 || expired) {
        if (pending)
            log_warn("grace period over with %zu transactions in flight; exiting", pending);
        su_root_break(p->root);
        return;
    }
    su_timer_set(t, drain_tick, arg);
}

static void begin_shutdown(program_t *p, const char *why)
{
    if (p->stopping) {
        log_warn("%s again: exiting at once", why);
        su_root_break(p->root);
        return;
    }
    long grace = cfg_int(p->cfg, "shutdown.grace_seconds");
    log_info("%s: draining (up to %ld s), new requests get 503", why, grace);
    p->stopping = 1;
    if (p->sip)
        sip_core_drain(p->sip);
    p->drain_deadline = su_time_add(su_now(), (su_duration_t)grace * 1000);
    p->drain_timer = su_timer_create(su_root_task(p->root), 50);
    if (!p->drain_timer || su_timer_set(p->drain_timer, drain_tick, (su_timer_arg_t *)p) < 0)
        su_root_break(p->root);
}

static int on_signal(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    program_t *p = arg;
    struct signalfd_siginfo si;
    while (read(p->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            log_info("SIGHUP: reopening logs and reading the configuration again");
            log_reopen();
            json_t *report = NULL;
            char err[512];
            program_reload(p, &report, err, sizeof err);
            json_decref(report);
        } else {
            begin_shutdown(p, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        }
    }
    return 0;
}

/* Signals are blocked in every thread (threads inherit the mask) and read from a signalfd on
 * the loop, so handling them needs no async-signal-safe tricks. */
static int setup_signals(program_t *p)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    p->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (p->signal_fd < 0 || su_wait_create(p->signal_wait, p->signal_fd, SU_WAIT_IN) < 0)
        return -1;
    p->signal_index = su_root_register(p->root, p->signal_wait, on_signal, p, su_pri_normal);
    return p->signal_index > 0 ? 0 : -1;
}

/* ---- SIP ---- */

int program_default_request(void *app, sip_core_t *core, sip_incoming_t *irq, sip_t const *sip)
{
    sip_method_t method = sip->sip_request->rq_method;
    if (method == sip_method_ack)
        return 0;
    int for_us = sip_core_request_is_for_us(core, sip);
    if (method == sip_method_options && for_us)
        return sip_core_reply_options(core, irq, sip);
    if (!for_us && sip_proxy_check_max_forwards(sip))
        return sip_core_reply(core, irq, SIP_483_TOO_MANY_HOPS, TAG_END()), 483;
    sip_core_reply(core, irq, SIP_501_NOT_IMPLEMENTED,
                   SIPTAG_ALLOW_STR(sip_core_config(core)->allow), TAG_END());
    return 501;
}

static int start_sip(program_t *p)
{
    sip_core_config_t sc = {0};
    static char server[64];
    snprintf(server, sizeof server, "%s/%s", p->def->name, cscf_version);
    sc.nlisten = cfg_list(p->cfg, "sip.listen", &sc.listen);
    sc.ntransports = cfg_list(p->cfg, "sip.transports", &sc.transports);
    sc.naliases = cfg_list(p->cfg, "sip.aliases", &sc.aliases);
    sc.advertise = cfg_str(p->cfg, "sip.advertise");
    sc.domain = cfg_str(p->cfg, "sip.domain");
    sc.max_message_size = (unsigned)cfg_int(p->cfg, "sip.max_message_size");
    sc.max_pending = (unsigned)cfg_int(p->cfg, "sip.max_pending_invites");
    sc.max_transactions = (size_t)cfg_int(p->cfg, "limits.transactions");
    sc.max_relays = (size_t)cfg_int(p->cfg, "limits.relays");
    sc.max_dialogs = (size_t)cfg_int(p->cfg, "limits.dialogs");
    sc.retry_after = (unsigned)cfg_int(p->cfg, "limits.retry_after_seconds");
    sc.t1x64_ms = (unsigned)cfg_int(p->cfg, "limits.t1x64_ms");
    sc.t4_ms = (unsigned)cfg_int(p->cfg, "limits.t4_ms");
    sc.timer_c_ms = (unsigned)cfg_int(p->cfg, "limits.timer_c_ms");
    sc.server = server;
    sc.allow = p->def->allow;
    sc.supported = p->def->supported;
    sc.accept = p->def->accept;
    adm_config_t ac;
    program_admission_config(p->cfg, &ac);
    sc.admission = &ac;
    tls_config(p->cfg, &sc.tls);
    p->sip = sip_core_new(p->root, &sc, p->metrics,
                          p->def->on_request ? p->def->on_request : program_default_request, p);
    return p->sip ? 0 : -1;
}

static int start_api(program_t *p)
{
    api_config_t ac = {
        .listen = cfg_str(p->cfg, "api.listen"),
        .token = p->api_token,
        .max_connections = (unsigned)cfg_int(p->cfg, "api.max_connections"),
        .max_connections_per_ip = (unsigned)cfg_int(p->cfg, "api.max_connections_per_ip"),
        .header_timeout = (unsigned)cfg_int(p->cfg, "api.header_timeout_seconds"),
        .request_timeout = (unsigned)cfg_int(p->cfg, "api.request_timeout_seconds"),
        .metrics = p->metrics,
    };
    p->api = api_new(&ac);
    if (!p->api || program_rest_routes(p) < 0)
        return -1;
    if (!p->api_token)
        log_warn("api: no token configured; mutating REST calls are refused");
    return 0;
}

/* sofia-sip's own diagnostics, as our log lines (so JSON output stays JSON). */
static void sofia_log(void *stream, char const *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    if (*line)
        log_write(LOG_DEBUG, NULL, "sofia: %s", line);
}

/* serve 0: everything but the HTTP listener, for --routes. */
static int start(program_t *p, int serve)
{
    p->start_time = time(NULL);
    p->signal_fd = -1;
    if (su_init() != 0)
        return -1;
    /* At debug level sofia's errors and warnings (level 3) help; otherwise ours say enough. */
    su_log_redirect(NULL, sofia_log, NULL);
    su_log_set_level(NULL, log_get_level() >= LOG_DEBUG ? 3 : 0);
    if (!(p->root = su_root_create(NULL)) || setup_signals(p) < 0 ||
        !(p->queue = loopq_new(p->root, 0)) || !(p->metrics = metrics_new()) ||
        metrics_set_constant_label(p->metrics, "program", p->def->name) < 0) {
        log_error("cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    if (start_api(p) < 0 || (p->def->has_sip && start_sip(p) < 0))
        return -1;
    if (p->def->init && p->def->init(p) < 0)
        return -1;
    return serve ? api_start(p->api) : 0;
}

static void stop(program_t *p)
{
    if (p->api)
        api_stop(p->api);
    if (p->sip)
        sip_proxy_release_all(p->sip); /* their callbacks' contexts are the program's */
    if (p->def->fini)
        p->def->fini(p);
    sip_core_free(p->sip);
    if (p->drain_timer)
        su_timer_destroy(p->drain_timer);
    if (p->signal_index > 0)
        su_root_deregister(p->root, p->signal_index);
    if (p->signal_fd >= 0)
        close(p->signal_fd);
    loopq_free(p->queue);
    api_free(p->api);
    metrics_free(p->metrics);
    if (p->root)
        su_root_destroy(p->root);
    su_deinit();
}

int program_main(const program_def_t *def, int argc, char **argv)
{
    options_t o = {0};
    int rc = parse_args(def, argc, argv, &o);
    if (rc >= 0)
        return rc;
    program_t p = {.def = def};
    cfg_key_t *owned[MAX_TABLES];
    rc = load_config(&p, &o, owned);
    if (rc == 0 && o.reference) {
        char *ref = cfg_reference(p.cfg);
        fputs(ref ? ref : "", stdout);
        free(ref);
    } else if (rc == 0 && o.check) {
        printf("%s: configuration OK\n", def->name);
    } else if (rc == 0 && o.routes && start_logging(&p) == 0) {
        /* Routes are registered by the parts that serve them as they start, so the table is
         * only complete after a real start; the tests compare it with docs/openapi.yaml. */
        rc = start(&p, 0) == 0 ? 0 : 1;
        if (rc == 0)
            api_routes_write(p.api, stdout);
        stop(&p);
        log_close();
    } else if (rc == 0 && start_logging(&p) == 0) {
        log_info("%s %s starting", def->name, cscf_version);
        rc = start(&p, 1) == 0 ? 0 : 1;
        if (rc == 0) {
            log_info("%s ready", def->name);
            su_root_run(p.root);
            log_info("%s stopped", def->name);
        }
        stop(&p);
        log_close();
    } else {
        rc = EXIT_CONFIG;
    }
    if (rc < 0)
        rc = EXIT_CONFIG;
    program_reload_free(&p);
    cfg_free(p.cfg);
    for (size_t i = 0; i < MAX_TABLES; i++)
        free(owned[i]);
    free(p.api_token);
    return rc;
}
