/* The SIP core's extra listeners (the pcscf's protected ports): a real nta agent on 127.0.0.1
 * with one more listener added at run time under an ident; the port a request arrived on; a
 * forwarded request leaving from the listener the source choice names (its Via and its UDP
 * source port both that listener's, and no ident comment in the Via); the extra address
 * counting as this node; an option tag accepted in Proxy-Require once added. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/url.h>

#include "common/ops/metrics.h"
#include "common/sip/sip_core.h"
#include "common/sip/sip_proxy.h"
#include "tests/unit/test_port.h"

typedef struct fixture {
    su_root_t *root;
    metrics_t *metrics;
    sip_core_t *core;
    int ue, sink; /* the sender's socket, and where forwarded requests go */
    int sink_tcp; /* a TCP listener on the sink's port: nta's TCP instead of UDP would work */
    int port, extra_port, sink_port;
    char listen[32], extra[32];
    const char *listen_list[1];
    unsigned arrived_on; /* sip_incoming_local_port() of the last request */
    int use_extra;       /* the source choice names the extra listener */
} fixture_t;

static const char *source(void *ctx, const url_t *dest)
{
    fixture_t *f = ctx;
    return f->use_extra && dest->url_port && atoi(dest->url_port) == f->sink_port ? "pc" : NULL;
}

/* OPTIONS to us are answered; anything else goes to the sink. */
static int handler(void *app, sip_core_t *core, sip_incoming_t *irq, sip_t const *sip)
{
    fixture_t *f = app;
    f->arrived_on = sip_incoming_local_port(core, irq);
    if (sip->sip_request->rq_method == sip_method_options)
        return sip_core_reply_options(core, irq, sip);
    char hop[64];
    snprintf(hop, sizeof hop, "sip:127.0.0.1:%d", f->sink_port);
    msg_t *msg = sip_proxy_copy_request(irq);
    url_t *u = msg ? url_hdup(msg_home(msg), URL_STRING_MAKE(hop)->us_url) : NULL;
    if (!u || sip_proxy_prepare(msg, sip_object(msg), NULL) < 0) {
        msg_destroy(msg);
        return 500;
    }
    return sip_forward(core, irq, msg, u, NULL, NULL);
}

static int udp_socket(int port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {0, 20000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (port) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    }
    return s;
}

static int setup(void **state)
{
    static const char *const transports[] = {"udp", "tcp"};
    fixture_t *f = calloc(1, sizeof *f);
    su_init();
    f->root = su_root_create(NULL);
    f->metrics = metrics_new();
    f->port = test_free_port();
    do
        f->extra_port = test_free_port();
    while (f->extra_port == f->port);
    do
        f->sink_port = test_free_port();
    while (f->sink_port == f->port || f->sink_port == f->extra_port);
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", f->port);
    snprintf(f->extra, sizeof f->extra, "127.0.0.1:%d", f->extra_port);
    f->listen_list[0] = f->listen;
    sip_core_config_t cfg = {
        .listen = f->listen_list,
        .nlisten = 1,
        .transports = transports,
        .ntransports = 2,
        .domain = "ims.example.org",
        .max_message_size = 65536,
        .max_pending = 100,
        .server = "test",
        .allow = "OPTIONS, MESSAGE, ACK",
        .supported = "path",
        .accept = "application/sdp",
    };
    f->core = sip_core_new(f->root, &cfg, f->metrics, handler, f);
    f->ue = udp_socket(0);
    f->sink = udp_socket(f->sink_port);
    f->sink_tcp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->sink_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(f->sink_tcp, (struct sockaddr *)&a, sizeof a) < 0 || listen(f->sink_tcp, 4) < 0)
        return -1;
    *state = f;
    if (!f->core || sip_core_add_listener(f->core, f->extra, "pc") < 0)
        return -1;
    sip_core_set_source(f->core, source, f);
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close(f->ue);
    close(f->sink);
    close(f->sink_tcp);
    sip_core_free(f->core);
    metrics_free(f->metrics);
    su_root_destroy(f->root);
    su_deinit();
    free(f);
    return 0;
}

/* Sends a request to port (\n turned into CRLF); steps the loop until sock receives
 * something, which is returned with the port it came from. */
static const char *send_and_wait(fixture_t *f, int port, const char *method, const char *extra,
                                 int sock, int *from_port)
{
    static char text[8192], got[16384];
    static int counter;
    char req[6144];
    int n0 = ++counter;
    snprintf(req, sizeof req,
             "%s sip:bob@example.org SIP/2.0\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-l%d\n"
             "Max-Forwards: 70\nFrom: <sip:t@example.org>;tag=a\nTo: <sip:bob@example.org>\n"
             "Call-ID: listener-test-%d\nCSeq: %d %s\n%sContent-Length: 0\n\n",
             method, n0, n0, n0, method, extra ? extra : "");
    size_t n = 0;
    for (const char *p = req; *p && n + 2 < sizeof text; p++) {
        if (*p == '\n')
            text[n++] = '\r';
        text[n++] = *p;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(f->ue, text, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    for (int i = 0; i < 100; i++) {
        su_root_step(f->root, 10);
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(sock, got, sizeof got - 1, 0, (struct sockaddr *)&from, &fl);
        if (r > 0) {
            got[r] = '\0';
            if (from_port)
                *from_port = ntohs(from.sin_port);
            return got;
        }
    }
    return "NOTHING";
}

/* The topmost Via line of a message. */
static const char *top_via(const char *text)
{
    static char line[512];
    const char *v = strstr(text, "\r\nVia: ");
    size_t len = v ? strcspn(v + 2, "\r") : 0;
    snprintf(line, sizeof line, "%.*s", (int)len, v ? v + 2 : "");
    return line;
}

static void arrival_port(void **state)
{
    fixture_t *f = *state;
    const char *r = send_and_wait(f, f->port, "OPTIONS", NULL, f->ue, NULL);
    assert_non_null(strstr(r, "SIP/2.0 200"));
    assert_int_equal(f->arrived_on, f->port);
    r = send_and_wait(f, f->extra_port, "OPTIONS", NULL, f->ue, NULL);
    assert_non_null(strstr(r, "SIP/2.0 200"));
    assert_int_equal(f->arrived_on, f->extra_port);
}

static void forwards_from_the_chosen_listener(void **state)
{
    fixture_t *f = *state;
    char want[96];
    int from = 0;
    /* Default: the sip.listen entry. */
    const char *r = send_and_wait(f, f->port, "MESSAGE", NULL, f->sink, &from);
    snprintf(want, sizeof want, "Via: SIP/2.0/UDP 127.0.0.1:%d;", f->port);
    if (strncmp(top_via(r), want, strlen(want)) != 0)
        fail_msg("default: top Via '%s', want '%s...'", top_via(r), want);
    assert_int_equal(from, f->port);
    /* The source choice names the extra listener: Via and source port are its own, and the
     * ident does not show as a Via comment. */
    f->use_extra = 1;
    r = send_and_wait(f, f->port, "MESSAGE", NULL, f->sink, &from);
    snprintf(want, sizeof want, "Via: SIP/2.0/UDP 127.0.0.1:%d;", f->extra_port);
    if (strncmp(top_via(r), want, strlen(want)) != 0)
        fail_msg("extra: top Via '%s', want '%s...'", top_via(r), want);
    assert_int_equal(from, f->extra_port);
    assert_null(strchr(top_via(r), '('));
    /* Transactions exist now: a listener added now would leave their connections with freed
     * Vias, so it is refused. */
    char late[32];
    snprintf(late, sizeof late, "127.0.0.1:%d", test_free_port());
    assert_int_equal(sip_core_add_listener(f->core, late, "late"), -1);
}

/* A request above nta's UDP MTU (1300) from the extra listener stays UDP from that listener
 * (nta would otherwise try TCP from an ephemeral port, RFC 3261 18.1.1). */
static void large_request_stays_on_the_listener(void **state)
{
    fixture_t *f = *state;
    char extra[4200];
    int n = snprintf(extra, sizeof extra, "Content-Type: text/plain\nX-Pad: ");
    memset(extra + n, 'a', 3000);
    snprintf(extra + n + 3000, sizeof extra - (size_t)n - 3000, "\n");
    f->use_extra = 1;
    int from = 0;
    const char *r = send_and_wait(f, f->port, "MESSAGE", extra, f->sink, &from);
    if (strncmp(r, "MESSAGE ", 8) != 0)
        fail_msg("the sink got no MESSAGE over UDP: %.80s", r);
    assert_true(strlen(r) > 3000);
    assert_int_equal(from, f->extra_port);
}

static void extra_listener_is_this_node(void **state)
{
    fixture_t *f = *state;
    char u[64];
    snprintf(u, sizeof u, "sip:%s;lr", f->extra);
    url_t *url = url_make(NULL, u);
    assert_true(sip_core_is_node(f->core, url));
    free(url);
    url = url_make(NULL, "sip:127.0.0.1:1;lr");
    assert_false(sip_core_is_node(f->core, url));
    free(url);
}

static void added_option_tag(void **state)
{
    fixture_t *f = *state;
    const char *r = send_and_wait(f, f->port, "OPTIONS", "Proxy-Require: sec-agree\n", f->ue, NULL);
    assert_non_null(strstr(r, "SIP/2.0 420"));
    assert_int_equal(sip_core_add_supported(f->core, "sec-agree"), 0);
    assert_int_equal(sip_core_add_supported(f->core, "sec-agree"), 0); /* once is enough */
    r = send_and_wait(f, f->port, "OPTIONS", "Proxy-Require: sec-agree\n", f->ue, NULL);
    assert_non_null(strstr(r, "SIP/2.0 200"));
    assert_non_null(strstr(r, "Supported: path, sec-agree\r\n"));
}

/* nta tells of a message it could not hand to a transport only in its log (level 3): its two
 * line formats (nta.c: outgoing_print_tport_error(), incoming_reply()) are counted by kind,
 * its other lines are not. */
extern su_log_t nta_log[];
static void send_failures_counted(void **state)
{
    fixture_t *f = *state;
    su_llog(nta_log, 3, "nta: %s (%u): %s%s (%u) with %s/[%s]:%u\n", "ACK", 1u, "",
            "No buffer space available", 105u, "tcp", "127.0.0.1", 5070u);
    su_llog(nta_log, 3, "%s: tport_tsend: error (%s) while sending %u %s for %s (%u)\n",
            "incoming_reply", "No buffer space available", 200u, "OK", "BYE", 2u);
    su_llog(nta_log, 3, "%s: tport_tsend: error (%s) while sending %u %s for %s (%u)\n",
            "incoming_reply", "Broken pipe", 180u, "Ringing", "INVITE", 1u);
    su_llog(nta_log, 3, "nta_agent: received garbage from %s\n", "udp/127.0.0.1:9");
    char *text = metrics_render(f->metrics);
    assert_non_null(strstr(text, "cscf_sip_send_failures_total{kind=\"queue_full\"} 2\n"));
    assert_non_null(strstr(text, "cscf_sip_send_failures_total{kind=\"other\"} 1\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(arrival_port, setup, teardown),
        cmocka_unit_test_setup_teardown(forwards_from_the_chosen_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(extra_listener_is_this_node, setup, teardown),
        cmocka_unit_test_setup_teardown(added_option_tag, setup, teardown),
        cmocka_unit_test_setup_teardown(large_request_stays_on_the_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(send_failures_counted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
