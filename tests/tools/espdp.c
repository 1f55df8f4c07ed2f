/* espdp: the userspace IPsec datapath (common/ipsec, ipsec_dp.h) on its own, for
 * tests/e2e/t_esp_datapath.sh: opens it on a local address, installs one SA set with the keys
 * given, and runs a UDP echo server on the protected server port, so a UE in another network
 * namespace can prove the kernel plumbing and the ESP both ways.
 *
 *   espdp --local A --ue B --port-pc N --port-ps N --port-uc N --port-us N
 *         --spi-pc N --spi-ps N --spi-uc N --spi-us N --ck HEX32 --ik HEX32
 *         [--alg hmac-sha-1-96] [--ealg aes-cbc] [--tun NAME] [--table N] [--pref N]
 *         --stats FILE
 *
 * stdout: "ready" once the datapath is open, the sockets guarded and the set installed; one
 * "echo N bytes from A:P: TEXT" line per datagram echoed. A datagram starting "request-us" also
 * makes it send "request-from-pc" from port_pc to the UE's port_us (our request, spi_us); what
 * arrives on port_pc (the UE's response, spi_pc) is printed as "pc got N bytes from A:P: TEXT".
 * A TCP listener on port_ps echoes too ("tcp echo N bytes from A:P: TEXT").
 * FILE is rewritten every 100 ms with the metrics and the set's counters ("sa packets_in=...
 * packets_out=..."). Ends on SIGTERM or SIGINT, closing the datapath (its rules and device go), and
 * prints "closed". Exit 2 when the datapath cannot be opened (the reason on stderr).
 *
 * --engine: the datapath alone, no sockets and no guard: the UE side's ESP engine for
 * tests/e2e/esp_ue.py's TCP mode (the UE's own kernel TCP through the SAs). The datapath is
 * symmetric: --local is the UE, --port-pc/--port-ps its port_uc/port_us, --ue the P-CSCF with
 * --port-uc/--port-us its port_pc/port_ps, --spi-ps/--spi-pc the UE's inbound spi_us/spi_uc and
 * --spi-us/--spi-uc its outbound spi_ps/spi_pc (ipsec_dp.h's selectors, seen from the UE). */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/su_wait.h>

#include "common/ipsec/ipsec_dp.h"
#include "common/ops/metrics.h"
#include "common/util/hex.h"
#include "common/util/log.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    stop = 1;
}

typedef struct espdp {
    ipsec_dp_config_t cfg;
    ipsec_sa_set_t set;
    const char *alg, *ealg, *ck, *ik, *stats;
    int echo_fd, pc_fd;
    int tcp_fd, conn_fd; /* the TCP listener on port_ps and its one connection (-1: none) */
    int conn_index, echo_index, pc_index, tcp_index;
    int engine; /* --engine: the datapath only */
    su_wait_t wait[1], pc_wait[1], tcp_wait[1], conn_wait[1];
    metrics_t *metrics;
    ipsec_dp_t *dp;
    su_root_t *root;
} espdp_t;

static int parse_args(espdp_t *e, int argc, char **argv)
{
    static const struct option opts[] = {
        {"local", 1, 0, 'l'}, {"ue", 1, 0, 'u'},    {"port-pc", 1, 0, 1}, {"port-ps", 1, 0, 2},
        {"port-uc", 1, 0, 3}, {"port-us", 1, 0, 4}, {"spi-pc", 1, 0, 5},  {"spi-ps", 1, 0, 6},
        {"spi-uc", 1, 0, 7},  {"spi-us", 1, 0, 8},  {"ck", 1, 0, 9},      {"ik", 1, 0, 10},
        {"alg", 1, 0, 11},    {"ealg", 1, 0, 12},   {"tun", 1, 0, 13},    {"table", 1, 0, 14},
        {"pref", 1, 0, 15},   {"stats", 1, 0, 16},  {"engine", 0, 0, 17}, {0, 0, 0, 0},
    };
    int c;
    e->cfg = (ipsec_dp_config_t){.kind = IPSEC_DP_USERSPACE,
                                 .tun_name = "cscf-esp0",
                                 .route_table = 215,
                                 .rule_pref = 215,
                                 .spi_min = 256,
                                 .spi_max = 0xffffffff};
    e->alg = "hmac-sha-1-96";
    e->ealg = "aes-cbc";
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        unsigned long v = optarg ? strtoul(optarg, NULL, 0) : 0;
        switch (c) {
        case 'l':
            e->cfg.local_addr = optarg;
            break;
        case 'u':
            snprintf(e->set.ue_addr, sizeof e->set.ue_addr, "%s", optarg);
            break;
        case 1:
            e->cfg.port_pc = e->set.port_pc = (uint16_t)v;
            break;
        case 2:
            e->cfg.port_ps = e->set.port_ps = (uint16_t)v;
            break;
        case 3:
            e->set.port_uc = (uint16_t)v;
            break;
        case 4:
            e->set.port_us = (uint16_t)v;
            break;
        case 5:
            e->set.spi_pc = (uint32_t)v;
            break;
        case 6:
            e->set.spi_ps = (uint32_t)v;
            break;
        case 7:
            e->set.spi_uc = (uint32_t)v;
            break;
        case 8:
            e->set.spi_us = (uint32_t)v;
            break;
        case 9:
            e->ck = optarg;
            break;
        case 10:
            e->ik = optarg;
            break;
        case 11:
            e->alg = optarg;
            break;
        case 12:
            e->ealg = optarg;
            break;
        case 13:
            e->cfg.tun_name = optarg;
            break;
        case 14:
            e->cfg.route_table = (uint32_t)v;
            break;
        case 15:
            e->cfg.rule_pref = (uint32_t)v;
            break;
        case 16:
            e->stats = optarg;
            break;
        case 17:
            e->engine = 1;
            break;
        default:
            return -1;
        }
    }
    return e->cfg.local_addr && e->set.ue_addr[0] && e->ck && e->ik && e->stats ? 0 : -1;
}

static int keys_of(espdp_t *e)
{
    uint8_t ck[16], ik[16];
    ipsec_alg_t alg;
    ipsec_ealg_t ealg;
    if (strlen(e->ck) != 32 || strlen(e->ik) != 32 || hex_decode(e->ck, ck, 16) ||
        hex_decode(e->ik, ik, 16) || ipsec_alg_from_name(e->alg, &alg) ||
        ipsec_ealg_from_name(e->ealg, &ealg))
        return -1;
    return ipsec_derive_keys(alg, ealg, ck, ik, &e->set.keys);
}

static int bound(int type, const char *addr, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1, fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || inet_pton(AF_INET, addr, &a.sin_addr) != 1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        (type == SOCK_STREAM && listen(fd, 4) < 0)) {
        perror("espdp: bind");
        exit(2);
    }
    return fd;
}

/* The printable start of a datagram, for the log lines the test greps. */
static void show(const char *what, const char *buf, ssize_t n, const struct sockaddr_in *from)
{
    char text[41];
    ssize_t k = n < 40 ? n : 40;
    for (ssize_t i = 0; i < k; i++)
        text[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '.';
    text[k] = '\0';
    printf("%s %zd bytes from %s:%u: %s\n", what, n, inet_ntoa(from->sin_addr),
           ntohs(from->sin_port), text);
    fflush(stdout);
}

/* Our request to the UE (port_pc -> port_us), as the P-CSCF sends a NOTIFY or an INVITE. */
static void request_ue(espdp_t *e)
{
    static const char req[] = "request-from-pc";
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(e->set.port_us)};
    inet_pton(AF_INET, e->set.ue_addr, &to.sin_addr);
    sendto(e->pc_fd, req, sizeof req - 1, 0, (struct sockaddr *)&to, sizeof to);
}

/* Echoes each datagram to its sender; one that starts with "request-us" also makes us send a
 * request to the UE's server port first. */
static int on_echo(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    espdp_t *e = (espdp_t *)arg;
    static char buf[65536];
    struct sockaddr_in from;
    for (;;) {
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(e->echo_fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0)
            return 0;
        show("echo", buf, n, &from);
        if (n >= 10 && memcmp(buf, "request-us", 10) == 0)
            request_ue(e);
        sendto(e->echo_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}

/* The UE's responses to our requests, on port_pc. */
static int on_pc(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    espdp_t *e = (espdp_t *)arg;
    static char buf[65536];
    struct sockaddr_in from;
    for (;;) {
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(e->pc_fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0)
            return 0;
        show("pc got", buf, n, &from);
    }
}

static void conn_end(espdp_t *e)
{
    if (e->conn_fd < 0)
        return;
    su_root_deregister(e->root, e->conn_index);
    close(e->conn_fd);
    e->conn_fd = -1;
}

/* The TCP echo: what arrives on the connection goes back on it. */
static int on_conn(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    espdp_t *e = (espdp_t *)arg;
    static char buf[65536];
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    ssize_t n = recv(e->conn_fd, buf, sizeof buf, 0);
    if (n <= 0) {
        conn_end(e);
        return 0;
    }
    getpeername(e->conn_fd, (struct sockaddr *)&peer, &len);
    show("tcp echo", buf, n, &peer);
    send(e->conn_fd, buf, (size_t)n, MSG_NOSIGNAL);
    return 0;
}

/* One connection at a time (the test makes one); a newer one replaces it. */
static int on_accept(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    espdp_t *e = (espdp_t *)arg;
    int fd = accept4(e->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return 0;
    conn_end(e);
    e->conn_fd = fd;
    su_wait_create(e->conn_wait, fd, SU_WAIT_IN);
    e->conn_index =
        su_root_register(e->root, e->conn_wait, on_conn, (su_wakeup_arg_t *)e, su_pri_normal);
    return 0;
}

/* The metrics and the set's counters, replaced whole (rename) so a reader never sees half. */
static void write_stats(espdp_t *e)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", e->stats);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    char *m = metrics_render(e->metrics);
    ipsec_sa_stats_t s;
    fputs(m ? m : "", f);
    free(m);
    if (ipsec_dp_stats(e->dp, e->set.spi_pc, e->set.spi_ps, &s) == 0)
        fprintf(f,
                "sa packets_in=%llu bytes_in=%llu packets_out=%llu bytes_out=%llu "
                "seq_out_uc=%u seq_out_us=%u\n",
                (unsigned long long)s.packets_in, (unsigned long long)s.bytes_in,
                (unsigned long long)s.packets_out, (unsigned long long)s.bytes_out, s.seq_out_uc,
                s.seq_out_us);
    fclose(f);
    rename(tmp, e->stats);
}

/* The echo servers on su_root (not with --engine). */
static void serve_sockets(espdp_t *e)
{
    su_wait_create(e->wait, e->echo_fd, SU_WAIT_IN);
    e->echo_index =
        su_root_register(e->root, e->wait, on_echo, (su_wakeup_arg_t *)e, su_pri_normal);
    su_wait_create(e->pc_wait, e->pc_fd, SU_WAIT_IN);
    e->pc_index = su_root_register(e->root, e->pc_wait, on_pc, (su_wakeup_arg_t *)e, su_pri_normal);
    su_wait_create(e->tcp_wait, e->tcp_fd, SU_WAIT_IN);
    e->tcp_index =
        su_root_register(e->root, e->tcp_wait, on_accept, (su_wakeup_arg_t *)e, su_pri_normal);
}

static void close_sockets(espdp_t *e)
{
    su_root_deregister(e->root, e->echo_index);
    su_root_deregister(e->root, e->pc_index);
    su_root_deregister(e->root, e->tcp_index);
    conn_end(e);
    close(e->echo_fd);
    close(e->pc_fd);
    close(e->tcp_fd);
}

int main(int argc, char **argv)
{
    espdp_t e = {0};
    char err[256] = "";
    if (parse_args(&e, argc, argv) < 0 || keys_of(&e) < 0) {
        fprintf(stderr, "usage: see tests/tools/espdp.c\n");
        return 2;
    }
    log_init("espdp", LOG_INFO, LOG_FORMAT_TEXT, NULL);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    su_init();
    su_root_t *root = su_root_create(NULL);
    e.metrics = metrics_new();
    e.root = root;
    e.echo_fd = e.pc_fd = e.tcp_fd = e.conn_fd = -1;
    if (!e.engine) {
        /* Bound before ipsec_dp_guard_sockets, as the SIP core's listeners are. */
        e.echo_fd = bound(SOCK_DGRAM, e.cfg.local_addr, e.cfg.port_ps);
        e.pc_fd = bound(SOCK_DGRAM, e.cfg.local_addr, e.cfg.port_pc);
        e.tcp_fd = bound(SOCK_STREAM, e.cfg.local_addr, e.cfg.port_ps);
    }
    e.dp = ipsec_dp_open(&e.cfg, root, e.metrics, err, sizeof err);
    if (!e.dp || (!e.engine && ipsec_dp_guard_sockets(e.dp, err, sizeof err) < 0) ||
        ipsec_dp_install(e.dp, &e.set) < 0) {
        fprintf(stderr, "espdp: %s\n", err[0] ? err : "the SA set was refused");
        ipsec_dp_close(e.dp);
        return 2;
    }
    if (!e.engine)
        serve_sockets(&e);
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        su_root_step(root, 100);
        write_stats(&e);
    }
    if (!e.engine)
        close_sockets(&e);
    ipsec_dp_close(e.dp);
    metrics_free(e.metrics);
    su_root_destroy(root);
    su_deinit();
    printf("closed\n");
    return 0;
}
