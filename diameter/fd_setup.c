#include "diameter/fd_setup.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#include "common/util/log.h"
#include "diameter/fd_conf.h"
#include "diameter/fd_nodelay.h"

#define MAX_NAMES 32

/* freeDiameter's peer validator and log handler take no user pointer, and freeDiameter itself
 * is one per process: this is the state they need. Written before fd_core_start(), read-only
 * afterwards. */
static struct {
    int started;
    char identity[256], realm[256];
    char *configured[MAX_NAMES];
    size_t nconfigured;
    char *accept_realms[MAX_NAMES];
    size_t naccept;
    int tls;
} fds;

/* What freeDiameter's peer list does not keep: per-peer Cx message counts and the last thing
 * that went wrong, for GET /api/v1/diameter/peers. Filled by hooks on freeDiameter's threads,
 * read on the HTTP thread. */
typedef struct peer_stats {
    char identity[256];
    unsigned long long requests_sent, answers_sent, requests_received, answers_received;
    unsigned long long connect_failures, failovers, dropped;
    char last_error[256];
    time_t last_error_time;
} peer_stats_t;

static struct {
    pthread_mutex_t lock;
    peer_stats_t peers[MAX_NAMES];
    size_t n;
    struct fd_hook_hdl *hook;
    metric_t *m_requests, *m_failovers; /* set before start (fd_setup_count_into) */
} stats = {.lock = PTHREAD_MUTEX_INITIALIZER};

void fd_setup_count_into(metric_t *requests, metric_t *failovers)
{
    stats.m_requests = requests;
    stats.m_failovers = failovers;
}

/* A Cx (not base protocol) request: what the per-peer metrics count. */
static int is_cx_request(struct msg *msg)
{
    struct msg_hdr *h = NULL;
    return msg && fd_msg_hdr(msg, &h) == 0 && h->msg_appl != 0 && (h->msg_flags & CMD_FLAG_REQUEST);
}

/* Under stats.lock. NULL when the table is full: later peers go uncounted, never unbounded. */
static peer_stats_t *stats_for(const char *identity)
{
    for (size_t i = 0; i < stats.n; i++)
        if (strcasecmp(stats.peers[i].identity, identity) == 0)
            return &stats.peers[i];
    if (stats.n == MAX_NAMES)
        return NULL;
    peer_stats_t *s = &stats.peers[stats.n++];
    memset(s, 0, sizeof *s);
    snprintf(s->identity, sizeof s->identity, "%s", identity);
    return s;
}

static void count_message(peer_stats_t *s, struct msg *msg, int sent)
{
    struct msg_hdr *h = NULL;
    /* Application 0 is the base protocol (CER, DWR, DPR): watchdogs would drown the Cx counts. */
    if (!msg || fd_msg_hdr(msg, &h) != 0 || h->msg_appl == 0)
        return;
    int request = (h->msg_flags & CMD_FLAG_REQUEST) != 0;
    if (sent)
        (*(request ? &s->requests_sent : &s->answers_sent))++;
    else
        (*(request ? &s->requests_received : &s->answers_received))++;
}

static void set_error(peer_stats_t *s, const char *what, const void *other)
{
    snprintf(s->last_error, sizeof s->last_error, "%s%s%s", what, other ? ": " : "",
             other ? (const char *)other : "");
    s->last_error_time = time(NULL);
}

static void on_hook(enum fd_hook_type type, struct msg *msg, struct peer_hdr *peer, void *other,
                    struct fd_hook_permsgdata *pmd, void *regdata)
{
    (void)pmd;
    (void)regdata;
    if (!peer || !peer->info.pi_diamid)
        return;
    if (type == HOOK_PEER_CONNECT_SUCCESS) {
        const uint16_t listen[] = {fd_g_config->cnf_port, fd_g_config->cnf_port_tls,
                                   fd_g_config->cnf_port_3436};
        uint16_t remote = peer->info.config.pic_port ? peer->info.config.pic_port : 3868;
        if (fd_nodelay_connections(listen, sizeof listen / sizeof listen[0], remote) < 0)
            log_warn("diameter: /proc/self/fd unreadable: Nagle stays on for peer %s",
                     peer->info.pi_diamid);
        /* A hook for this event replaces freeDiameter's own line for it: kept, as it was. */
        char proto[40] = "-";
        if (fd_peer_cnx_proto_info(peer, proto, sizeof proto) != 0)
            snprintf(proto, sizeof proto, "-");
        log_info("freeDiameter: Connected to '%s' (%s)", peer->info.pi_diamid, proto);
        return;
    }
    pthread_mutex_lock(&stats.lock);
    peer_stats_t *s = stats_for(peer->info.pi_diamid);
    if (s) {
        switch (type) {
        case HOOK_MESSAGE_SENT:
            count_message(s, msg, 1);
            if (stats.m_requests && is_cx_request(msg))
                metric_inc(stats.m_requests, peer->info.pi_diamid);
            break;
        case HOOK_MESSAGE_RECEIVED:
            count_message(s, msg, 0);
            break;
        case HOOK_PEER_CONNECT_FAILED:
            s->connect_failures++;
            set_error(s, "connection failed", other);
            break;
        case HOOK_MESSAGE_FAILOVER:
            if (stats.m_failovers && is_cx_request(msg)) {
                const char *labels[] = {peer->info.pi_diamid, "connection_lost"};
                metric_addv(stats.m_failovers, labels, 1);
            }
            s->failovers++;
            set_error(s, "request sent again elsewhere: the connection was lost", NULL);
            break;
        case HOOK_MESSAGE_DROPPED:
            s->dropped++;
            set_error(s, "message dropped", other);
            break;
        case HOOK_MESSAGE_PARSING_ERROR:
            /* other is the error text only when the message itself could be parsed */
            set_error(s, "message could not be parsed", msg ? other : NULL);
            break;
        default:
            break;
        }
    }
    pthread_mutex_unlock(&stats.lock);
}

static int stats_start(void)
{
    pthread_mutex_lock(&stats.lock);
    stats.n = 0;
    pthread_mutex_unlock(&stats.lock);
    return fd_hook_register(HOOK_MASK(HOOK_MESSAGE_SENT, HOOK_MESSAGE_RECEIVED,
                                      HOOK_PEER_CONNECT_FAILED, HOOK_PEER_CONNECT_SUCCESS,
                                      HOOK_MESSAGE_FAILOVER, HOOK_MESSAGE_DROPPED,
                                      HOOK_MESSAGE_PARSING_ERROR),
                            on_hook, NULL, NULL, &stats.hook);
}

/* After freeDiameter stopped: no hook runs any more. */
static void stats_stop(void)
{
    if (stats.hook)
        fd_hook_unregister(stats.hook);
    stats.hook = NULL;
}

static json_t *stats_to_json(const peer_stats_t *s)
{
    json_t *o =
        json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "counters", "requests_sent",
                  (json_int_t)s->requests_sent, "answers_received", (json_int_t)s->answers_received,
                  "requests_received", (json_int_t)s->requests_received, "answers_sent",
                  (json_int_t)s->answers_sent, "connect_failures", (json_int_t)s->connect_failures,
                  "failovers", (json_int_t)s->failovers, "dropped", (json_int_t)s->dropped);
    json_t *err = *s->last_error ? json_pack("{s:s?,s:I}", "message", s->last_error, "time",
                                             (json_int_t)s->last_error_time)
                                 : NULL;
    json_object_set_new(o, "last_error", err ? err : json_null());
    return o;
}

/* A peer no hook has seen yet has all counters at zero. */
static json_t *stats_json(const char *identity)
{
    peer_stats_t copy = {0};
    pthread_mutex_lock(&stats.lock);
    for (size_t i = 0; i < stats.n; i++)
        if (strcasecmp(stats.peers[i].identity, identity) == 0)
            copy = stats.peers[i];
    pthread_mutex_unlock(&stats.lock);
    return stats_to_json(&copy);
}

static void fd_logger(int level, const char *format, va_list args)
{
    char line[1024];
    vsnprintf(line, sizeof line, format, args);
    line[strcspn(line, "\r\n")] = '\0';
    /* Its configuration dump (indented lines) is noise at info; peer events are not. */
    int dump = line[0] == ' ' || strstr(line, "configuration:") || strstr(line, "Loaded ext") ||
               strstr(line, "initialized.");
    log_level_t ours = level >= FD_LOG_ERROR             ? LOG_WARNING
                       : level >= FD_LOG_NOTICE && !dump ? LOG_INFO
                                                         : LOG_DEBUG;
    log_write(ours, NULL, "freeDiameter: %s", line);
}

static int realm_accepted(const char *realm, size_t len)
{
    for (size_t i = 0; i < fds.naccept; i++)
        if (strlen(fds.accept_realms[i]) == len &&
            strncasecmp(fds.accept_realms[i], realm, len) == 0)
            return 1;
    return 0;
}

/* An undeclared peer may connect when its CER names a realm we accept; freeDiameter otherwise
 * answers DIAMETER_UNKNOWN_PEER (diameter/README.md). */
static int validate_peer(struct peer_info *info, int *auth, int (**cb2)(struct peer_info *))
{
    *cb2 = NULL;
    *auth = 0;
    const char *realm = info->runtime.pir_realm ? (const char *)info->runtime.pir_realm : "";
    if (!realm_accepted(realm, info->runtime.pir_realmlen)) {
        log_warn("diameter: refused peer %s of realm '%.*s' (not in diameter.accept_realms)",
                 info->pi_diamid, (int)info->runtime.pir_realmlen, realm);
        return 0;
    }
    *auth = 1;
    if (!fds.tls)
        info->config.pic_flags.sec = PI_SEC_NONE;
    log_info("diameter: accepted peer %s (realm %.*s)", info->pi_diamid,
             (int)info->runtime.pir_realmlen, realm);
    return 0;
}

static int copy_list(const cfg_t *cfg, const char *path, char **out, size_t *n, int peer_ids,
                     char *err, size_t errlen)
{
    const char *const *items;
    size_t count = cfg_list(cfg, path, &items);
    if (count > MAX_NAMES) {
        snprintf(err, errlen, "%s: at most %d entries", path, MAX_NAMES);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        char id[256], host[256];
        int port;
        if (peer_ids) {
            if (fd_conf_split_peer(items[i], id, sizeof id, host, sizeof host, &port) < 0) {
                snprintf(err, errlen, "%s: '%s' is not identity@host:port", path, items[i]);
                return -1;
            }
            out[(*n)++] = strdup(id);
        } else {
            out[(*n)++] = strdup(items[i]);
        }
    }
    return 0;
}

/* prefix.name: one of the keys of FD_SETUP_KEY_ROWS_P. */
static const char *str_p(const cfg_t *cfg, const char *prefix, const char *name)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", prefix, name);
    return cfg_str(cfg, k);
}

static long int_p(const cfg_t *cfg, const char *prefix, const char *name)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", prefix, name);
    return cfg_int(cfg, k);
}

static int remember_settings(const cfg_t *cfg, const char *prefix, fd_conf_t *c, char *err,
                             size_t errlen)
{
    const char *id = str_p(cfg, prefix, "identity"), *realm = str_p(cfg, prefix, "realm");
    snprintf(fds.identity, sizeof fds.identity, "%s", id ? id : "");
    snprintf(fds.realm, sizeof fds.realm, "%s", realm ? realm : "");
    char peersk[128], realmsk[128], tlsk[128];
    snprintf(peersk, sizeof peersk, "%s.peers", prefix);
    snprintf(realmsk, sizeof realmsk, "%s.accept_realms", prefix);
    snprintf(tlsk, sizeof tlsk, "%s.tls", prefix);
    fds.tls = cfg_bool(cfg, tlsk);
    if (copy_list(cfg, peersk, fds.configured, &fds.nconfigured, 1, err, errlen) < 0 ||
        copy_list(cfg, realmsk, fds.accept_realms, &fds.naccept, 0, err, errlen) < 0)
        return -1;
    if (fds.naccept == 0 && realm)
        fds.accept_realms[fds.naccept++] = strdup(realm);
    *c = (fd_conf_t){
        .identity = id,
        .realm = realm,
        .listen = str_p(cfg, prefix, "listen"),
        .tls = fds.tls,
        .tls_cert = str_p(cfg, prefix, "tls_cert"),
        .tls_key = str_p(cfg, prefix, "tls_key"),
        .tls_ca = str_p(cfg, prefix, "tls_ca"),
        .watchdog_seconds = (int)int_p(cfg, prefix, "watchdog_seconds"),
        .reconnect_seconds = (int)int_p(cfg, prefix, "reconnect_seconds"),
        .accept_workers = (int)int_p(cfg, prefix, "accept_workers"),
    };
    c->npeers = cfg_list(cfg, peersk, &c->peers);
    return 0;
}

/* freeDiameter reads a file; it lives only while fd_core_parseconf() reads it. */
static int parse_text(const char *text, char *err, size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/cscf-freediameter-XXXXXX.conf", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(path, 5);
    if (fd < 0) {
        snprintf(err, errlen, "diameter: cannot write the freeDiameter file in %s: %s", path,
                 strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    int rc = ok ? fd_core_parseconf(path) : EIO;
    unlink(path);
    if (rc) {
        snprintf(err, errlen, "diameter: freeDiameter refused the settings (%s); see the log",
                 strerror(rc));
        return -1;
    }
    return 0;
}

static void forget_settings(void)
{
    for (size_t i = 0; i < fds.nconfigured; i++)
        free(fds.configured[i]);
    for (size_t i = 0; i < fds.naccept; i++)
        free(fds.accept_realms[i]);
    fds.nconfigured = fds.naccept = 0;
}

/* Cx: its dictionary, and the application advertised in our CER (so peers open). */
static int load_cx(void *ctx)
{
    cx_dict_t *cx = ctx;
    if (cx_dict_init(fd_g_config->cnf_dict, cx) != 0) {
        log_error("diameter: the Cx dictionary could not be loaded");
        return -1;
    }
    return fd_disp_app_support(cx->app, cx->vendor, 1, 0) ? -1 : 0;
}

int fd_setup_start(const cfg_t *cfg, cx_dict_t *cx, char *err, size_t errlen)
{
    return fd_setup_start_with(cfg, "diameter", load_cx, cx, err, errlen);
}

int fd_setup_start_with(const cfg_t *cfg, const char *prefix, int (*load)(void *ctx), void *ctx,
                        char *err, size_t errlen)
{
    fd_conf_t c;
    if (remember_settings(cfg, prefix, &c, err, errlen) < 0)
        return -1;
    char *text = fd_conf_render(&c, err, errlen);
    if (!text)
        return -1;
    fd_g_debug_lvl = log_get_level() >= LOG_DEBUG ? FD_LOG_DEBUG : FD_LOG_NOTICE;
    fd_log_handler_register(fd_logger);
    int rc = fd_core_initialize();
    if (rc == 0 && parse_text(text, err, errlen) < 0)
        rc = -1;
    free(text);
    if (rc == 0 && load(ctx) != 0) {
        snprintf(err, errlen, "%s: the application's dictionary could not be loaded", prefix);
        rc = -1;
    }
    if (rc == 0 && (fd_peer_validate_register(validate_peer) || stats_start() || fd_core_start() ||
                    fd_core_waitstartcomplete())) {
        snprintf(err, errlen, "diameter: freeDiameter did not start; see the log");
        rc = -1;
    }
    if (rc != 0) {
        if (!*err)
            snprintf(err, errlen, "diameter: freeDiameter could not be initialised");
        return -1;
    }
    fds.started = 1;
    log_info("diameter: %s (realm %s) on port %s, %zu configured peer(s)", fds.identity, fds.realm,
             strrchr(c.listen, ':') + 1, fds.nconfigured);
    if (strncmp(c.listen, "127.", 4) == 0 || strncmp(c.listen, "[::1]", 5) == 0)
        log_warn("diameter: freeDiameter 1.2.1 ignores loopback addresses in ListenOn, so it "
                 "listens on every address on that port; firewall it or use a routable "
                 "diameter.listen");
    return 0;
}

/* freeDiameter 1.2.1's routing queues and the first step of its own shutdown: exported by
 * libfdcore, declared only in its private header (fdcore-internal.h). */
extern struct fifo *fd_g_incoming, *fd_g_outgoing, *fd_g_local;
int fd_rtdisp_cleanstop(void);

/* How many threads wait on q to pull from it (fd_fifo_dump's "threads:N,M", the only public
 * view of it); -1 when unknown. */
static int fifo_waiters(struct fifo *q)
{
    char *buf = NULL;
    size_t len = 0;
    int n = -1;
    if (q && fd_fifo_dump(&buf, &len, NULL, NULL, q, NULL)) {
        const char *t = strstr(buf, "threads:");
        if (!t || sscanf(t, "threads:%d", &n) != 1)
            n = -1;
    }
    free(buf);
    return n;
}

static int routing_waiters(void)
{
    struct fifo *qs[] = {fd_g_incoming, fd_g_outgoing, fd_g_local};
    int total = 0;
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        int n = fifo_waiters(qs[i]);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* freeDiameter 1.2.1's shutdown deletes its routing queues (incoming, outgoing, local) while
 * the routing and dispatch threads (1 + 1 + 4) still sit in their 1 s timed waits on them:
 * fd_fifo_del() wakes one of them per millisecond and aborts the process
 * (`Assertion '++loops < 20'`) when they are not all scheduled within about 20 ms, which a
 * loaded machine does not guarantee. So its first step comes first here: the answers our loop
 * flushed leave the outgoing queue, the threads are told to stop, and fd_core_shutdown() runs
 * once none waits any more (each leaves within 1 s; bounded, then it runs anyway). Requests
 * arriving meanwhile are dropped by that shutdown, as they were. */
static void routing_quiesce(void)
{
    double start = mono_s();
    while (fd_g_outgoing && fd_fifo_length(fd_g_outgoing) > 0 && mono_s() - start < 1)
        usleep(10000);
    fd_rtdisp_cleanstop();
    int n;
    while ((n = routing_waiters()) > 0 && mono_s() - start < 5)
        usleep(20000);
    if (n > 0)
        log_warn("diameter: %d freeDiameter thread(s) still wait on a routing queue at shutdown",
                 n);
}

void fd_setup_stop(void)
{
    if (fds.started) {
        routing_quiesce();
        fd_core_shutdown();
        fd_core_wait_shutdown_complete();
        fds.started = 0;
    }
    stats_stop();
    forget_settings();
}

static int is_configured(const char *id)
{
    for (size_t i = 0; i < fds.nconfigured; i++)
        if (strcasecmp(fds.configured[i], id) == 0)
            return 1;
    return 0;
}

size_t fd_setup_peers(fd_peer_status_t *out, size_t max)
{
    size_t n = 0;
    if (!fds.started)
        return 0;
    pthread_rwlock_rdlock(&fd_g_peers_rw);
    for (struct fd_list *li = fd_g_peers.next; li != &fd_g_peers && n < max; li = li->next) {
        struct peer_hdr *p = (struct peer_hdr *)li->o;
        int st = fd_peer_get_state(p);
        fd_peer_status_t *s = &out[n++];
        snprintf(s->identity, sizeof s->identity, "%s", p->info.pi_diamid);
        snprintf(s->state, sizeof s->state, "%s", STATE_STR(st));
        s->open = st == STATE_OPEN || st == STATE_OPEN_NEW;
        s->configured = is_configured(s->identity);
    }
    pthread_rwlock_unlock(&fd_g_peers_rw);
    return n;
}

int fd_setup_peer_open(const char *identity)
{
    fd_peer_status_t peers[MAX_NAMES];
    size_t n = fd_setup_peers(peers, MAX_NAMES);
    for (size_t i = 0; i < n; i++)
        if (peers[i].open && strcasecmp(peers[i].identity, identity) == 0)
            return 1;
    return 0;
}

int fd_setup_alternative(const char *avoid, char *out, size_t len)
{
    fd_peer_status_t peers[MAX_NAMES];
    size_t n = fd_setup_peers(peers, MAX_NAMES);
    for (size_t i = 0; i < n; i++) {
        if (!peers[i].open || !peers[i].configured ||
            (avoid && strcasecmp(peers[i].identity, avoid) == 0))
            continue;
        snprintf(out, len, "%s", peers[i].identity);
        return 0;
    }
    return -1;
}

int fd_setup_ready(char *reason, size_t len)
{
    fd_peer_status_t peers[MAX_NAMES];
    size_t n = fd_setup_peers(peers, MAX_NAMES);
    if (!fds.started) {
        snprintf(reason, len, "diameter not started");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (peers[i].open && peers[i].configured)
            return 1;
    if (fds.nconfigured == 0)
        return 1; /* a node only accepting peers (the HSS) is ready once it listens */
    snprintf(reason, len, "no Diameter peer open (%s: %s)", fds.configured[0],
             n ? peers[0].state : "not known");
    return 0;
}

json_t *fd_setup_peers_json(void)
{
    fd_peer_status_t peers[MAX_NAMES];
    size_t n = fd_setup_peers(peers, MAX_NAMES);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o =
            json_pack("{s:s, s:s, s:b, s:b}", "identity", peers[i].identity, "state",
                      peers[i].state, "open", peers[i].open, "configured", peers[i].configured);
        json_object_update_new(o, stats_json(peers[i].identity));
        json_array_append_new(arr, o);
    }
    return arr;
}

const char *fd_setup_identity(void)
{
    return fds.identity;
}

const char *fd_setup_realm(void)
{
    return fds.realm;
}
