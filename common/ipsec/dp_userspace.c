/* The userspace datapath (ipsec_dp.h): ESP in and out of a raw IPPROTO_ESP socket, clear
 * packets in and out of a TUN device, everything on the su_root thread.
 *
 *   UE --ESP--> raw socket -> esp_path_in  -> TUN write -> kernel UDP/TCP -> protected socket
 *   protected socket -> rule "from us sport port_pc/ps" -> table: default dev TUN -> TUN read
 *                    -> esp_path_out -> raw socket sendto(UE) --ESP--> UE
 *
 * Kernel settings it makes and undoes: the TUN device (up, MTU TUN_MTU, rp_filter 2 so packets
 * from the UE's address may enter through it, IPv6 off), the two rules at cfg->rule_pref and
 * the default route in cfg->route_table. The outer packets may be fragmented by the kernel
 * (the raw socket has path MTU discovery off); the inner ones never are (TUN_MTU). */
#include "common/ipsec/ipsec_dp_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ipsec/esp_path.h"
#include "common/ipsec/route_rules.h"
#include "common/ipsec/sa_table.h"
#include "common/ipsec/tun_dev.h"
#include "common/util/clock.h"
#include "common/util/log.h"
#include "common/util/own_fds.h"

/* Large enough that no SIP message is fragmented before it is encrypted (fragments are not
 * what the SA's selectors describe), small enough that its ESP packet stays under 64 KiB. */
#define TUN_MTU 65000
/* Packets taken per wakeup, so one busy socket cannot starve the rest of the loop. */
#define BURST   64
#define PKT_MAX 65536
/* Bits of dp_us_t.logged beyond the refusal kinds: I/O failures, logged once per run. */
enum { LOGGED_TUN_WRITE = ESP_DROP_COUNT, LOGGED_SEND };

typedef struct dp_us {
    char local_str[INET_ADDRSTRLEN];
    uint32_t local; /* network byte order */
    uint16_t port_pc, port_ps;
    uint32_t route_table, rule_pref;
    su_root_t *root;
    sa_table_t *table;
    esp_path_t path;
    rtnl_t *nl;
    tun_dev_t tun;
    int raw;
    su_wait_t tun_wait[1], raw_wait[1];
    int tun_index, raw_index; /* su_root registrations; 0: none */
    int rules;                /* our rules and route may be in place: remove at close */
    metric_t *m_packets, *m_bytes, *m_dropped;
    uint32_t logged; /* refusal kinds logged for packets of no set (bit per esp_drop_t) */
    uint8_t in[PKT_MAX], out[PKT_MAX + 256];
} dp_us_t;

/* The reason in err; a refusal for lack of privilege names the capability (cap: "NET_ADMIN"
 * for the device, sysctl, routes and rules, "NET_RAW" for the raw socket and the binding to
 * the device), as a container's capabilities are granted by that name. */
static void say_cap(char *err, size_t errlen, int e, const char *cap, const char *what)
{
    if (e == EPERM || e == EACCES)
        snprintf(err, errlen, "CAP_%s is needed to %s: run as root or add %s", cap, what, cap);
    else
        snprintf(err, errlen, "cannot %s: %s", what, strerror(e));
}

static void say(char *err, size_t errlen, int e, const char *what)
{
    say_cap(err, errlen, e, "NET_ADMIN", what);
}

static void count_drop(dp_us_t *d, const esp_path_result_t *r, const char *dir)
{
    metric_inc(d->m_dropped, esp_drop_name(r->drop));
    /* One line per kind and set (or per kind for packets of no set): a flood is counted, not
     * logged. */
    uint32_t bit = 1u << r->drop, *mask = r->entry ? &r->entry->logged : &d->logged;
    if (*mask & bit)
        return;
    *mask |= bit;
    if (r->entry)
        log_warn("ipsec: %s ESP packet of the SA set of %s (spi_pc %u, spi_ps %u) dropped: %s "
                 "(further ones of this kind for this set are only counted)",
                 dir, r->entry->set.ue_addr, r->entry->set.spi_pc, r->entry->set.spi_ps,
                 esp_drop_name(r->drop));
    else
        log_warn("ipsec: %s packet dropped: %s (further ones of this kind without an SA set "
                 "are only counted)",
                 dir, esp_drop_name(r->drop));
}

static void count_pass(dp_us_t *d, const char *dir, size_t bytes)
{
    metric_inc(d->m_packets, dir);
    const char *v[] = {dir};
    if (d->m_bytes)
        metric_addv(d->m_bytes, v, (double)bytes);
}

static void take_in(dp_us_t *d, size_t n)
{
    esp_path_result_t r;
    if (esp_path_in(&d->path, d->in, n, d->out, sizeof d->out, clock_mono_ms(), &r)) {
        count_drop(d, &r, "inbound");
        return;
    }
    count_pass(d, "in", r.esp_len);
    if (write(d->tun.fd, d->out, r.len) < 0 && !(d->logged & (1u << LOGGED_TUN_WRITE))) {
        d->logged |= 1u << LOGGED_TUN_WRITE;
        log_warn("ipsec: writing into %s failed: %s (logged once)", d->tun.name, strerror(errno));
    }
}

static int on_raw(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    dp_us_t *d = (dp_us_t *)arg;
    for (int i = 0; i < BURST; i++) {
        ssize_t n = recv(d->raw, d->in, sizeof d->in, 0);
        if (n < 0)
            break;
        take_in(d, (size_t)n);
    }
    return 0;
}

static void take_out(dp_us_t *d, size_t n)
{
    esp_path_result_t r;
    if (esp_path_out(&d->path, d->in, n, d->out, sizeof d->out, &r)) {
        count_drop(d, &r, "outbound");
        return;
    }
    struct sockaddr_in to = {.sin_family = AF_INET};
    to.sin_addr.s_addr = r.ue;
    if (sendto(d->raw, d->out, r.len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
        if (!(d->logged & (1u << LOGGED_SEND))) {
            d->logged |= 1u << LOGGED_SEND;
            log_warn("ipsec: sending ESP to %s failed: %s (logged once)", r.entry->set.ue_addr,
                     strerror(errno));
        }
        return;
    }
    count_pass(d, "out", r.esp_len);
}

static int on_tun(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    dp_us_t *d = (dp_us_t *)arg;
    for (int i = 0; i < BURST; i++) {
        ssize_t n = read(d->tun.fd, d->in, sizeof d->in);
        if (n < 0)
            break;
        take_out(d, (size_t)n);
    }
    return 0;
}

static void us_close(void *be)
{
    dp_us_t *d = be;
    if (!d)
        return;
    if (d->raw_index > 0)
        su_root_deregister(d->root, d->raw_index);
    if (d->tun_index > 0)
        su_root_deregister(d->root, d->tun_index);
    if (d->raw >= 0)
        close(d->raw);
    if (d->nl && d->rules) {
        rtnl_flush_rules(d->nl, d->route_table, d->rule_pref);
        rtnl_default_route(d->nl, 0, d->tun.ifindex, d->route_table);
    }
    tun_dev_close(&d->tun); /* the device and anything left routed through it go with it */
    rtnl_close(d->nl);
    sa_table_free(d->table);
    free(d);
}

static int config_ok(const ipsec_dp_config_t *cfg, dp_us_t *d, char *err, size_t errlen)
{
    struct in_addr a;
    if (!cfg->local_addr || inet_pton(AF_INET, cfg->local_addr, &a) != 1) {
        snprintf(err, errlen, "the userspace IPsec datapath needs a numeric IPv4 address, not '%s'",
                 cfg->local_addr ? cfg->local_addr : "");
        return -1;
    }
    if (!cfg->port_pc || !cfg->port_ps || cfg->port_pc == cfg->port_ps || !cfg->route_table ||
        !cfg->rule_pref) {
        snprintf(err, errlen,
                 "the IPsec ports must be two different non-zero ports, and the "
                 "route table and rule priority non-zero");
        return -1;
    }
    d->table = sa_table_new(cfg->spi_min, cfg->spi_max);
    if (!d->table) {
        snprintf(err, errlen, "the SPI range %u-%u is empty or starts below 256", cfg->spi_min,
                 cfg->spi_max);
        return -1;
    }
    d->local = a.s_addr;
    inet_ntop(AF_INET, &a, d->local_str, sizeof d->local_str);
    d->port_pc = cfg->port_pc;
    d->port_ps = cfg->port_ps;
    d->route_table = cfg->route_table;
    d->rule_pref = cfg->rule_pref;
    d->path.table = d->table;
    d->path.local = d->local;
    return 0;
}

/* The device up, loose reverse-path filtering on it (the decrypted packets come from the UE's
 * address, which the main table routes elsewhere: strict rp_filter would drop them) and no
 * IPv6 on it (its router solicitations would only be refused as malformed). */
static int plumb_tun(dp_us_t *d, const ipsec_dp_config_t *cfg, char *err, size_t errlen)
{
    char what[160];
    if (tun_dev_open(&d->tun, cfg->tun_name, err, errlen) < 0)
        return -1;
    tun_dev_sysctl(&d->tun, "ipv6", "disable_ipv6", "1"); /* absent without IPv6: fine */
    if (tun_dev_sysctl(&d->tun, "ipv4", "rp_filter", "2") < 0) {
        snprintf(what, sizeof what, "set rp_filter to 2 on %s", d->tun.name);
        say(err, errlen, errno, what);
        return -1;
    }
    int rc = rtnl_link_up(d->nl, d->tun.ifindex, TUN_MTU);
    if (rc < 0) {
        snprintf(what, sizeof what, "bring %s up with MTU %d", d->tun.name, TUN_MTU);
        say(err, errlen, -rc, what);
        return -1;
    }
    return 0;
}

static int plumb_routes(dp_us_t *d, char *err, size_t errlen)
{
    char what[200];
    d->rules = 1;
    int rc = rtnl_default_route(d->nl, 1, d->tun.ifindex, d->route_table);
    if (rc < 0) {
        snprintf(what, sizeof what, "add 'default dev %s table %u'", d->tun.name, d->route_table);
        say(err, errlen, -rc, what);
        return -1;
    }
    const uint16_t ports[] = {d->port_pc, d->port_ps};
    for (size_t i = 0; i < 2; i++) {
        rc = rtnl_sport_rule(d->nl, d->local, ports[i], d->route_table, d->rule_pref);
        if (rc < 0) {
            snprintf(what, sizeof what, "add the rule 'from %s sport %u lookup %u pref %u'",
                     d->local_str, ports[i], d->route_table, d->rule_pref);
            say(err, errlen, -rc, what);
            return -1;
        }
    }
    return 0;
}

/* The raw socket gets every ESP packet to our address with its IPv4 header, fragments already
 * reassembled; sendto() makes the IPv4 header (protocol 50) and, with path MTU discovery off,
 * fragments an ESP packet larger than the link. */
static int open_raw(dp_us_t *d, char *err, size_t errlen)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    int off = IP_PMTUDISC_DONT;
    char what[120];
    a.sin_addr.s_addr = d->local;
    d->raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ESP);
    if (d->raw < 0) {
        say_cap(err, errlen, errno, "NET_RAW", "open the raw ESP socket");
        return -1;
    }
    if (bind(d->raw, (struct sockaddr *)&a, sizeof a) < 0 ||
        setsockopt(d->raw, IPPROTO_IP, IP_MTU_DISCOVER, &off, sizeof off) < 0) {
        snprintf(what, sizeof what, "bind the raw ESP socket to %s", d->local_str);
        say(err, errlen, errno, what);
        return -1;
    }
    return 0;
}

static int watch(dp_us_t *d, su_wait_t *w, int fd, su_wakeup_f fn, int *index)
{
    if (su_wait_create(w, fd, SU_WAIT_IN) < 0)
        return -1;
    *index = su_root_register(d->root, w, fn, (su_wakeup_arg_t *)d, su_pri_normal);
    return *index > 0 ? 0 : -1;
}

static void metrics_of(dp_us_t *d, metrics_t *m)
{
    if (!m)
        return;
    d->m_packets = metrics_counter(m, "ipsec_esp_packets_total",
                                   "ESP packets accepted (in) and sent (out)", "dir");
    d->m_bytes = metrics_counter(m, "ipsec_esp_bytes_total",
                                 "Bytes of the ESP packets accepted (in) and sent (out)", "dir");
    d->m_dropped = metrics_counter(m, "ipsec_esp_dropped_total",
                                   "Packets the IPsec datapath refused, by reason", "reason");
}

static void *us_open(const ipsec_dp_config_t *cfg, su_root_t *root, metrics_t *metrics, char *err,
                     size_t errlen)
{
    dp_us_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->root = root;
    d->raw = -1;
    d->tun.fd = -1;
    if (config_ok(cfg, d, err, errlen) < 0)
        goto fail;
    d->nl = rtnl_open();
    if (!d->nl) {
        say(err, errlen, errno, "open rtnetlink");
        goto fail;
    }
    /* A previous run that did not close leaves its rules (its device went with its fd). */
    int gone = rtnl_flush_rules(d->nl, d->route_table, d->rule_pref);
    if (gone < 0) {
        say(err, errlen, -gone, "remove a previous run's routing rules");
        goto fail;
    }
    if (gone > 0)
        log_info("ipsec: removed %d routing rule(s) a previous run left at priority %u", gone,
                 d->rule_pref);
    if (plumb_tun(d, cfg, err, errlen) < 0 || plumb_routes(d, err, errlen) < 0 ||
        open_raw(d, err, errlen) < 0)
        goto fail;
    if (watch(d, d->raw_wait, d->raw, on_raw, &d->raw_index) < 0 ||
        watch(d, d->tun_wait, d->tun.fd, on_tun, &d->tun_index) < 0) {
        snprintf(err, errlen, "cannot register the IPsec datapath's sockets on the loop");
        goto fail;
    }
    metrics_of(d, metrics);
    log_info("ipsec: userspace datapath on %s: ESP on a raw socket, %s (table %u, rules at "
             "priority %u for ports %u and %u)",
             d->local_str, d->tun.name, d->route_table, d->rule_pref, d->port_pc, d->port_ps);
    return d;
fail:
    us_close(d);
    return NULL;
}

/* Whether a socket address is one of the protected listeners: our address or the wildcard
 * (IPv4, or IPv6's wildcard and v4-mapped form) on port_pc or port_ps. */
static int protected_addr(const dp_us_t *d, const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uint16_t port = ntohs(a->sin_port);
        return (port == d->port_pc || port == d->port_ps) &&
               (a->sin_addr.s_addr == d->local || a->sin_addr.s_addr == htonl(INADDR_ANY));
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uint16_t port = ntohs(a->sin6_port);
        int mapped = IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) &&
                     memcmp(a->sin6_addr.s6_addr + 12, &d->local, 4) == 0;
        return (port == d->port_pc || port == d->port_ps) &&
               (mapped || IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr));
    }
    return 0;
}

/* sofia-sip gives no access to the sockets it binds, so the protected listeners are found the
 * way a debugger would: every fd of this process, asked for its bound address. Bound to the
 * TUN device, such a socket takes only packets that came out of the datapath (a plain UDP
 * datagram from the network to port_ps finds no socket and is refused by the kernel), and
 * what it sends leaves through the TUN device even without the rules. Connections accepted
 * on a guarded TCP listener inherit the binding. */
struct guard_scan {
    dp_us_t *d;
    int guarded, failed, fail_errno;
};

static int guard_one(int fd, void *ctx)
{
    struct guard_scan *g = ctx;
    dp_us_t *d = g->d;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd == d->raw || fd == d->tun.fd || getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        !protected_addr(d, &ss))
        return 0;
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, d->tun.name,
                   (socklen_t)strlen(d->tun.name) + 1) == 0) {
        g->guarded++;
    } else {
        g->failed++;
        g->fail_errno = errno;
    }
    return 0;
}

static int us_guard_sockets(void *be, char *err, size_t errlen)
{
    dp_us_t *d = be;
    struct guard_scan g = {d, 0, 0, 0};
    if (own_fds_each(guard_one, &g) < 0) {
        snprintf(err, errlen, "cannot list /proc/self/fd: %s", strerror(errno));
        return -1;
    }
    if (g.failed) {
        say_cap(err, errlen, g.fail_errno, "NET_RAW",
                "bind the protected sockets to the TUN device");
        return -1;
    }
    if (!g.guarded) {
        snprintf(err, errlen,
                 "no socket of this process is bound to %s port %u or %u: guard the sockets "
                 "after the protected listeners are bound",
                 d->local_str, d->port_pc, d->port_ps);
        return -1;
    }
    log_info("ipsec: %d protected socket(s) bound to %s", g.guarded, d->tun.name);
    return 0;
}

static int us_alloc_spis(void *be, const char *ue_addr, uint32_t *spi_pc, uint32_t *spi_ps)
{
    dp_us_t *d = be;
    uint32_t rnd = 0;
    /* Unpredictable SPIs make a blind injection guess harder; a failed getrandom only costs
     * that, since uniqueness comes from the table. */
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
        rnd = (uint32_t)clock_mono_ms();
    return sa_table_alloc(d->table, rnd, spi_pc, spi_ps);
}

static int us_install(void *be, const ipsec_sa_set_t *s)
{
    dp_us_t *d = be;
    if (s->port_pc != d->port_pc || s->port_ps != d->port_ps) {
        log_warn("ipsec: SA set for %s names ports %u/%u, the datapath protects %u/%u", s->ue_addr,
                 s->port_pc, s->port_ps, d->port_pc, d->port_ps);
        return -1;
    }
    if (sa_table_install(d->table, s) < 0) {
        log_warn("ipsec: SA set for %s (spi_pc %u, spi_ps %u) refused: bad address, port or "
                 "SPI, or an SPI in use",
                 s->ue_addr, s->spi_pc, s->spi_ps);
        return -1;
    }
    log_debug("ipsec: SA set for %s installed: in %u/%u, out %u/%u", s->ue_addr, s->spi_pc,
              s->spi_ps, s->spi_uc, s->spi_us);
    return 0;
}

static int us_remove(void *be, uint32_t spi_pc, uint32_t spi_ps)
{
    dp_us_t *d = be;
    return sa_table_remove(d->table, spi_pc, spi_ps);
}

static int us_stats(void *be, uint32_t spi_pc, uint32_t spi_ps, ipsec_sa_stats_t *out)
{
    dp_us_t *d = be;
    sa_entry_t *e = sa_table_get(d->table, spi_pc, spi_ps);
    if (!e)
        return -1;
    *out = e->stats;
    return 0;
}

const ipsec_dp_ops_t ipsec_dp_userspace_ops = {
    .name = "userspace",
    .open = us_open,
    .close = us_close,
    .guard_sockets = us_guard_sockets,
    .alloc_spis = us_alloc_spis,
    .install = us_install,
    .remove = us_remove,
    .stats = us_stats,
};
