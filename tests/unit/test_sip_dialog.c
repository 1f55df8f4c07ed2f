/* sip_dialog.c against a real nta agent on 127.0.0.1. A plain UDP socket plays the other end,
 * so what the wrapper puts on the wire is checked as text: a UAC dialog (SUBSCRIBE, 2xx with
 * Record-Route, NOTIFY in, refresh along the route set with the next CSeq), a UAS dialog
 * (SUBSCRIBE in, 2xx with our tag, NOTIFYs along its Record-Route with rising CSeq, a refresh
 * SUBSCRIBE reaching the dialog), a request outliving its dialog, and a request out of any
 * dialog. Then a UAC and a UAS dialog of two agents against each other, and a dialog restored
 * from its kept state. */
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
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su.h>

#include "common/sip/sip_core.h"
#include "common/sip/sip_dialog.h"
#include "common/util/log.h"
#include "tests/unit/test_port.h"

typedef struct node {
    sip_core_t *core;
    int port;
    char listen[32];
    const char *listen_list[1];
} node_t;

typedef struct fixture {
    su_root_t *root;
    metrics_t *metrics;
    node_t a, b; /* b only for the dialog-to-dialog test */
    int sock, sock_port;
    /* what the callbacks saw */
    int answers, last_status;
    char answer_to_tag[64];
    int requests;
    char last_method[16];
    int request_status; /* what on_dialog_request returns */
    sip_dialog_t *uas;  /* made by the node's handler from an initial SUBSCRIBE */
    sip_dialog_t *peer; /* the UAC dialog of the last test, for the NOTIFY it gets */
} fixture_t;

/* ---- plumbing ---- */

static int udp_socket(int *port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) < 0)
        return -1;
    struct timeval tv = {0, 10000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    *port = ntohs(a.sin_port);
    return s;
}

static int on_node_request(void *app, sip_core_t *core, nta_incoming_t *irq, sip_t const *sip);

static int node_start(fixture_t *f, node_t *n)
{
    static const char *const transports[] = {"udp"};
    n->port = test_free_port();
    snprintf(n->listen, sizeof n->listen, "127.0.0.1:%d", n->port);
    n->listen_list[0] = n->listen;
    sip_core_config_t cfg = {
        .listen = n->listen_list,
        .nlisten = 1,
        .transports = transports,
        .ntransports = 1,
        .domain = "example.org",
        .max_message_size = 65536,
        .max_pending = 100,
        .server = "test",
        .allow = "SUBSCRIBE, NOTIFY",
    };
    n->core = sip_core_new(f->root, &cfg, f->metrics, on_node_request, f);
    return n->core ? 0 : -1;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    su_init();
    f->root = su_root_create(NULL);
    f->metrics = metrics_new();
    f->request_status = 200;
    f->sock = udp_socket(&f->sock_port);
    *state = f;
    return f->sock >= 0 && node_start(f, &f->a) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sip_dialog_destroy(f->uas);
    sip_dialog_destroy(f->peer);
    close(f->sock);
    sip_core_free(f->a.core);
    if (f->b.core)
        sip_core_free(f->b.core);
    metrics_free(f->metrics);
    su_root_destroy(f->root);
    su_deinit();
    free(f);
    return 0;
}

/* Sends text (\n turned into CRLF) from the test's socket to node a. */
static void sock_send(fixture_t *f, const char *msg)
{
    static char text[8192];
    size_t n = 0;
    for (const char *p = msg; *p && n + 2 < sizeof text; p++) {
        if (*p == '\n' && (p == msg || p[-1] != '\r'))
            text[n++] = '\r';
        text[n++] = *p;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->a.port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(f->sock, text, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
}

/* Steps the loop until the socket gets a message starting with prefix (others, such as
 * retransmissions, are skipped); at most about 2 s. */
static const char *sock_wait(fixture_t *f, const char *prefix)
{
    static char buf[8192];
    for (int i = 0; i < 200; i++) {
        su_root_step(f->root, 10);
        ssize_t got = recv(f->sock, buf, sizeof buf - 1, 0);
        if (got > 0) {
            buf[got] = '\0';
            if (strncmp(buf, prefix, strlen(prefix)) == 0)
                return buf;
        }
    }
    fail_msg("nothing starting with '%s' reached the socket", prefix);
    return NULL;
}

/* Steps the loop until *counter passes was; at most about 2 s. */
static void loop_until(fixture_t *f, const int *counter, int was)
{
    for (int i = 0; i < 200 && *counter == was; i++)
        su_root_step(f->root, 10);
    assert_int_not_equal(*counter, was);
}

/* The value of the first header line "Name: value" (full name, as nta writes it). */
static const char *header(const char *msg, const char *name)
{
    static char val[1024];
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strstr(msg, key);
    if (!p)
        return "";
    p += strlen(key);
    size_t n = strcspn(p, "\r");
    snprintf(val, sizeof val, "%.*s", (int)(n < sizeof val ? n : sizeof val - 1), p);
    return val;
}

/* Every Route value of msg, in order, comma-joined (nta writes one header line each). */
static const char *routes_of(const char *msg)
{
    static char all[1024];
    all[0] = '\0';
    for (const char *p = strstr(msg, "\r\nRoute: "); p; p = strstr(p + 2, "\r\nRoute: ")) {
        size_t n = strcspn(p + 9, "\r"), len = strlen(all);
        snprintf(all + len, sizeof all - len, "%s%.*s", len ? ", " : "", (int)n, p + 9);
    }
    return all;
}

static const char *tag_of(const char *hdr)
{
    static char tag[64];
    const char *p = strstr(hdr, ";tag=");
    if (!p)
        return "";
    snprintf(tag, sizeof tag, "%.*s", (int)strcspn(p + 5, ";>"), p + 5);
    return tag;
}

static unsigned long cseq_of(const char *msg)
{
    return strtoul(header(msg, "CSeq"), NULL, 10);
}

/* A response to req: Via, From, Call-ID, CSeq copied, To tagged when it is not. */
static void sock_answer(fixture_t *f, const char *req, const char *status, const char *to_tag,
                        const char *extra)
{
    char msg[4096], via[512], from[512], to[512], cid[256], cseq[64];
    snprintf(via, sizeof via, "%s", header(req, "Via"));
    snprintf(from, sizeof from, "%s", header(req, "From"));
    snprintf(to, sizeof to, "%s", header(req, "To"));
    snprintf(cid, sizeof cid, "%s", header(req, "Call-ID"));
    snprintf(cseq, sizeof cseq, "%s", header(req, "CSeq"));
    snprintf(msg, sizeof msg,
             "SIP/2.0 %s\nVia: %s\nFrom: %s\nTo: %s%s%s\nCall-ID: %s\nCSeq: %s\n%s"
             "Content-Length: 0\n\n",
             status, via, from, to,
             strstr(to, ";tag=") ? "" : ";tag=", strstr(to, ";tag=") ? "" : to_tag, cid, cseq,
             extra ? extra : "");
    sock_send(f, msg);
}

/* ---- callbacks ---- */

static void on_answer(void *arg, int status, sip_t const *sip)
{
    fixture_t *f = arg;
    f->answers++;
    f->last_status = status;
    snprintf(f->answer_to_tag, sizeof f->answer_to_tag, "%s",
             sip && sip->sip_to && sip->sip_to->a_tag ? sip->sip_to->a_tag : "");
}

static int on_dialog_request(void *arg, sip_dialog_t *d, nta_incoming_t *irq, sip_t const *sip)
{
    fixture_t *f = arg;
    f->requests++;
    snprintf(f->last_method, sizeof f->last_method, "%s", sip->sip_request->rq_method_name);
    return f->request_status;
}

/* The node's handler: an initial SUBSCRIBE becomes a UAS dialog answered 200; anything else
 * out of dialog gets 481 (as regsub_stray_notify does). */
static int on_node_request(void *app, sip_core_t *core, nta_incoming_t *irq, sip_t const *sip)
{
    fixture_t *f = app;
    if (sip->sip_request->rq_method == sip_method_ack)
        return 0;
    if (sip->sip_request->rq_method != sip_method_subscribe || sip->sip_to->a_tag || f->uas)
        return 481;
    if (sip->sip_event && strcmp(sip->sip_event->o_type, "refuse") == 0) {
        sip_dialog_headers_t h = {.retry_after = "60",
                                  .accept = "application/reginfo+xml",
                                  .min_expires = "30",
                                  .extra = "X-One: 1\r\nX-Two: 2"};
        return sip_request_answer(core, irq, 503, "Busy", &h), 503;
    }
    f->uas = sip_dialog_uas(core, sip, on_dialog_request, f);
    if (!f->uas)
        return 500;
    char contact[64];
    snprintf(contact, sizeof contact, "<sip:notifier@%s>", f->a.listen);
    sip_dialog_headers_t h = {.expires = "600", .contact = contact};
    sip_dialog_answer(f->uas, irq, 200, "OK", &h);
    return 200; /* answered: nta only releases the transaction */
}

/* ---- tests ---- */

static void uac_dialog_subscribe_notify_refresh(void **state)
{
    fixture_t *f = *state;
    char from[64], hop[64], rr[128], contact[128], notify[2048];
    snprintf(from, sizeof from, "<sip:pcscf@%s>", f->a.listen);
    snprintf(hop, sizeof hop, "sip:127.0.0.1:%d", f->sock_port);
    snprintf(rr, sizeof rr, "<sip:127.0.0.1:%d;lr;rr=uac>", f->sock_port);
    snprintf(contact, sizeof contact, "<sip:notifier@127.0.0.1:%d>", f->sock_port);
    sip_dialog_t *d = sip_dialog_uac(f->a.core, from, "<sip:alice@example.org>",
                                     "sip:alice@example.org", hop, on_dialog_request, f);
    assert_non_null(d);
    assert_false(sip_dialog_established(d));
    sip_dialog_headers_t h = {.event = "reg", .expires = "600", .contact = from};
    assert_non_null(sip_dialog_send(d, "SUBSCRIBE", &h, on_answer, f));

    /* the initial SUBSCRIBE: to the first hop, Request-URI the target, no Route */
    const char *req = sock_wait(f, "SUBSCRIBE sip:alice@example.org SIP/2.0");
    assert_string_equal(header(req, "Call-ID"), sip_dialog_call_id(d));
    assert_string_equal(tag_of(header(req, "From")), sip_dialog_local_tag(d));
    assert_string_equal(tag_of(header(req, "To")), "");
    assert_string_equal(header(req, "Event"), "reg");
    assert_string_equal(header(req, "Expires"), "600");
    assert_string_equal(header(req, "Route"), "");
    unsigned long first = cseq_of(req);
    assert_int_equal(first, sip_dialog_cseq(d));

    /* 2xx with Record-Route and Contact: the dialog takes tag, route set and target */
    char extra[512];
    snprintf(extra, sizeof extra, "Record-Route: %s\nContact: %s\nExpires: 600\n", rr, contact);
    int was = f->answers;
    sock_answer(f, req, "200 OK", "srv1", extra);
    loop_until(f, &f->answers, was);
    assert_int_equal(f->last_status, 200);
    assert_string_equal(sip_dialog_remote_tag(d), "srv1");
    assert_true(sip_dialog_established(d));

    /* a NOTIFY in the dialog reaches its callback, and its answer is the callback's */
    snprintf(notify, sizeof notify,
             "NOTIFY sip:pcscf@%s SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-n1\n"
             "Max-Forwards: 70\nFrom: <sip:alice@example.org>;tag=srv1\nTo: %s;tag=%s\n"
             "Call-ID: %s\nCSeq: 1 NOTIFY\nEvent: reg\nSubscription-State: active;expires=600\n"
             "Contact: %s\nContent-Length: 0\n\n",
             f->a.listen, f->sock_port, from, sip_dialog_local_tag(d), sip_dialog_call_id(d),
             contact);
    was = f->requests;
    sock_send(f, notify);
    loop_until(f, &f->requests, was);
    assert_string_equal(f->last_method, "NOTIFY");
    sock_wait(f, "SIP/2.0 200");

    /* the refresh: Request-URI the remote target, Route the route set, the next CSeq */
    assert_non_null(sip_dialog_send(d, "SUBSCRIBE", &h, on_answer, f));
    char target[128];
    snprintf(target, sizeof target, "SUBSCRIBE sip:notifier@127.0.0.1:%d SIP/2.0", f->sock_port);
    req = sock_wait(f, target);
    assert_string_equal(header(req, "Route"), rr);
    assert_string_equal(tag_of(header(req, "To")), "srv1");
    assert_string_equal(header(req, "Call-ID"), sip_dialog_call_id(d));
    assert_int_equal(cseq_of(req), first + 1);
    assert_int_equal(sip_dialog_cseq(d), first + 1);
    was = f->answers;
    sock_answer(f, req, "200 OK", "srv1", extra);
    loop_until(f, &f->answers, was);
    assert_int_equal(f->last_status, 200);
    sip_dialog_destroy(d);
}

/* The subscriber's SUBSCRIBE, sent from the test's socket to node a. */
static void send_subscribe_event(fixture_t *f, const char *to_tag, int cseq, const char *rr,
                                 const char *event)
{
    char msg[2048];
    snprintf(msg, sizeof msg,
             "SUBSCRIBE sip:alice@example.org SIP/2.0\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-s%d\nMax-Forwards: 70\n"
             "From: <sip:ue@example.org>;tag=sub1\nTo: <sip:alice@example.org>%s%s\n"
             "Call-ID: uas-dialog-1\nCSeq: %d SUBSCRIBE\n%s%s%s"
             "Contact: <sip:ue@127.0.0.1:%d>\nEvent: %s\nExpires: 600\nContent-Length: 0\n\n",
             f->sock_port, cseq, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cseq,
             rr ? "Record-Route: " : "", rr ? rr : "", rr ? "\n" : "", f->sock_port, event);
    sock_send(f, msg);
}

static void send_subscribe(fixture_t *f, const char *to_tag, int cseq, const char *rr)
{
    send_subscribe_event(f, to_tag, cseq, rr, "reg");
}

static void uas_dialog_notifies_along_its_route_set(void **state)
{
    fixture_t *f = *state;
    char rr[128], ruri[128];
    snprintf(rr, sizeof rr, "<sip:127.0.0.1:%d;lr;rr=uas>", f->sock_port);
    snprintf(ruri, sizeof ruri, "NOTIFY sip:ue@127.0.0.1:%d SIP/2.0", f->sock_port);
    send_subscribe(f, NULL, 7, rr);
    const char *resp = sock_wait(f, "SIP/2.0 200");
    assert_non_null(f->uas);
    assert_string_equal(tag_of(header(resp, "To")), sip_dialog_local_tag(f->uas));
    assert_string_equal(header(resp, "Expires"), "600");
    assert_string_equal(sip_dialog_call_id(f->uas), "uas-dialog-1");
    assert_string_equal(sip_dialog_remote_tag(f->uas), "sub1");

    sip_dialog_headers_t h = {.event = "reg",
                              .subscription_state = "active;expires=600",
                              .content_type = "application/reginfo+xml",
                              .body = "<reginfo/>"};
    unsigned long cseq[2];
    for (int i = 0; i < 2; i++) {
        assert_non_null(sip_dialog_send(f->uas, "NOTIFY", &h, on_answer, f));
        const char *req = sock_wait(f, ruri);
        assert_string_equal(header(req, "Route"), rr);
        assert_string_equal(tag_of(header(req, "From")), sip_dialog_local_tag(f->uas));
        assert_string_equal(tag_of(header(req, "To")), "sub1");
        assert_string_equal(header(req, "Call-ID"), "uas-dialog-1");
        assert_string_equal(header(req, "Subscription-State"), "active;expires=600");
        assert_string_equal(header(req, "Content-Type"), "application/reginfo+xml");
        assert_non_null(strstr(req, "\r\n\r\n<reginfo/>"));
        cseq[i] = cseq_of(req);
        assert_int_equal(cseq[i], sip_dialog_cseq(f->uas));
        int was = f->answers;
        sock_answer(f, req, "200 OK", NULL, NULL);
        loop_until(f, &f->answers, was);
        assert_int_equal(f->last_status, 200);
    }
    assert_int_equal(cseq[1], cseq[0] + 1);

    /* a refresh SUBSCRIBE in the dialog reaches the dialog's callback */
    int was = f->requests;
    send_subscribe(f, sip_dialog_local_tag(f->uas), 8, NULL);
    loop_until(f, &f->requests, was);
    assert_string_equal(f->last_method, "SUBSCRIBE");
    sock_wait(f, "SIP/2.0 200");

    /* once destroyed, the dialog's requests no longer reach it (the node says 481) */
    char tag[64];
    snprintf(tag, sizeof tag, "%s", sip_dialog_local_tag(f->uas));
    sip_dialog_destroy(f->uas);
    was = f->requests;
    send_subscribe(f, tag, 9, NULL);
    sock_wait(f, "SIP/2.0 481");
    assert_int_equal(f->requests, was);
    f->uas = NULL;
}

/* sip_request_answer(): our headers on the response, and no dialog tag. */
static void refusal_carries_headers(void **state)
{
    fixture_t *f = *state;
    send_subscribe_event(f, NULL, 1, NULL, "refuse");
    const char *resp = sock_wait(f, "SIP/2.0 503 Busy");
    assert_string_equal(header(resp, "Retry-After"), "60");
    assert_string_equal(header(resp, "Accept"), "application/reginfo+xml");
    assert_string_equal(header(resp, "Min-Expires"), "30");
    assert_string_equal(header(resp, "X-One"), "1");
    assert_string_equal(header(resp, "X-Two"), "2");
    assert_null(f->uas);
}

static void request_outlives_its_dialog(void **state)
{
    fixture_t *f = *state;
    char ruri[128];
    snprintf(ruri, sizeof ruri, "NOTIFY sip:ue@127.0.0.1:%d SIP/2.0", f->sock_port);
    send_subscribe(f, NULL, 1, NULL);
    sock_wait(f, "SIP/2.0 200");
    assert_non_null(f->uas);
    sip_dialog_headers_t h = {.event = "reg", .subscription_state = "terminated;reason=timeout"};
    assert_non_null(sip_dialog_send(f->uas, "NOTIFY", &h, on_answer, f));
    const char *req = sock_wait(f, ruri);
    sip_dialog_destroy(f->uas); /* the subscription ends while its last NOTIFY is out */
    f->uas = NULL;
    int was = f->answers;
    sock_answer(f, req, "481 Call/Transaction Does Not Exist", NULL, NULL);
    loop_until(f, &f->answers, was);
    assert_int_equal(f->last_status, 481);
}

static void request_out_of_dialog(void **state)
{
    fixture_t *f = *state;
    char as[64], ruri[128];
    snprintf(as, sizeof as, "sip:as@127.0.0.1:%d", f->sock_port);
    snprintf(ruri, sizeof ruri, "REGISTER %s SIP/2.0", as);
    sip_dialog_headers_t h = {.expires = "3600",
                              .contact = "<sip:scscf.example.org>",
                              .content_type = "text/plain",
                              .body = "hello"};
    assert_non_null(sip_request_send(f->a.core, "REGISTER", as, "sip:scscf.example.org",
                                     "sip:alice@example.org", &h, on_answer, f));
    const char *req = sock_wait(f, ruri);
    assert_string_equal(header(req, "CSeq"), "1 REGISTER");
    assert_string_not_equal(tag_of(header(req, "From")), "");
    assert_string_equal(tag_of(header(req, "To")), "");
    assert_string_not_equal(header(req, "Call-ID"), "");
    assert_string_equal(header(req, "Expires"), "3600");
    assert_string_equal(header(req, "Max-Forwards"), "70");
    assert_non_null(strstr(req, "\r\n\r\nhello"));
    int was = f->answers;
    sock_answer(f, req, "500 Server Error", "as1", NULL);
    loop_until(f, &f->answers, was);
    assert_int_equal(f->last_status, 500);
}

/* Node b subscribes (UAC) to node a (UAS); a NOTIFYs back; the subscriber refreshes. */
static int on_peer_notify(void *arg, sip_dialog_t *d, nta_incoming_t *irq, sip_t const *sip)
{
    fixture_t *f = arg;
    f->requests++;
    snprintf(f->last_method, sizeof f->last_method, "%s", sip->sip_request->rq_method_name);
    return 200;
}

static void uac_and_uas_dialogs_talk(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(node_start(f, &f->b), 0);
    char from[64], hop[64];
    snprintf(from, sizeof from, "<sip:pcscf@%s>", f->b.listen);
    snprintf(hop, sizeof hop, "sip:%s", f->a.listen);
    f->peer = sip_dialog_uac(f->b.core, from, "<sip:alice@example.org>", "sip:alice@example.org",
                             hop, on_peer_notify, f);
    assert_non_null(f->peer);
    sip_dialog_headers_t sub = {.event = "reg", .expires = "600", .contact = from};
    int was = f->answers;
    assert_non_null(sip_dialog_send(f->peer, "SUBSCRIBE", &sub, on_answer, f));
    loop_until(f, &f->answers, was);
    assert_int_equal(f->last_status, 200);
    assert_non_null(f->uas);
    /* both ends name the same dialog */
    assert_string_equal(sip_dialog_call_id(f->uas), sip_dialog_call_id(f->peer));
    assert_string_equal(sip_dialog_remote_tag(f->peer), sip_dialog_local_tag(f->uas));
    assert_string_equal(sip_dialog_remote_tag(f->uas), sip_dialog_local_tag(f->peer));

    sip_dialog_headers_t nt = {.event = "reg", .subscription_state = "active;expires=600"};
    was = f->requests;
    int answered = f->answers;
    assert_non_null(sip_dialog_send(f->uas, "NOTIFY", &nt, on_answer, f));
    loop_until(f, &f->requests, was);
    assert_string_equal(f->last_method, "NOTIFY");
    loop_until(f, &f->answers, answered);
    assert_int_equal(f->last_status, 200);

    /* the refresh goes to a's Contact and reaches a's dialog, not the node's handler */
    uint32_t before = sip_dialog_cseq(f->peer);
    was = f->requests;
    answered = f->answers;
    assert_non_null(sip_dialog_send(f->peer, "SUBSCRIBE", &sub, on_answer, f));
    assert_int_equal(sip_dialog_cseq(f->peer), before + 1);
    loop_until(f, &f->requests, was);
    assert_string_equal(f->last_method, "SUBSCRIBE");
    loop_until(f, &f->answers, answered);
    assert_int_equal(f->last_status, 200);
}

/* A UAS dialog kept as its state (a store) and taken up again by a dialog restored from it,
 * as another process or a restarted one does: its requests carry the same Call-ID and tags, the
 * CSeq after the stored one, and go along the route set to the target (RFC 3261 12.2.1.1):
 * loose (Request-URI the target, every route in Route) and strict (Request-URI the first route,
 * the target last in Route). In-dialog requests reach the restored dialog. */
static void restored_dialog_sends_as_before(void **state)
{
    fixture_t *f = *state;
    char rr[200], target[64], ruri[128], strict[64], strict_ruri[128], route_target[80];
    snprintf(rr, sizeof rr, "<sip:127.0.0.1:%d;lr;rr=one>, <sip:proxy2.example.org;lr>",
             f->sock_port);
    snprintf(target, sizeof target, "sip:ue@127.0.0.1:%d", f->sock_port);
    snprintf(ruri, sizeof ruri, "NOTIFY %s SIP/2.0", target);
    send_subscribe(f, NULL, 7, rr);
    sock_wait(f, "SIP/2.0 200");
    assert_non_null(f->uas);
    sip_dialog_state_t st;
    assert_int_equal(sip_dialog_get_state(f->uas, &st), 0);
    assert_string_equal(st.call_id, "uas-dialog-1");
    assert_string_equal(st.local_uri, "sip:alice@example.org");
    assert_string_equal(st.remote_uri, "sip:ue@example.org");
    assert_string_equal(st.remote_tag, "sub1");
    assert_string_equal(st.target, target);
    assert_string_equal(st.route_set, rr);
    char tag[64];
    snprintf(tag, sizeof tag, "%s", st.local_tag);
    sip_dialog_destroy(f->uas); /* the process that made it is gone */
    f->uas = NULL;

    sip_dialog_state_t kept = {.call_id = "uas-dialog-1",
                               .local_uri = "sip:alice@example.org",
                               .local_tag = tag,
                               .remote_uri = "sip:ue@example.org",
                               .remote_tag = "sub1",
                               .target = target,
                               .route_set = rr,
                               .cseq = 41};
    sip_dialog_t *d = sip_dialog_restore(f->a.core, &kept, on_dialog_request, f);
    assert_non_null(d);
    sip_dialog_headers_t h = {.event = "reg", .subscription_state = "active;expires=600"};
    assert_non_null(sip_dialog_send(d, "NOTIFY", &h, on_answer, f));
    const char *req = sock_wait(f, ruri);
    assert_string_equal(routes_of(req), rr);
    assert_string_equal(tag_of(header(req, "From")), tag);
    assert_string_equal(tag_of(header(req, "To")), "sub1");
    assert_non_null(strstr(header(req, "From"), "sip:alice@example.org"));
    assert_non_null(strstr(header(req, "To"), "sip:ue@example.org"));
    assert_string_equal(header(req, "Call-ID"), "uas-dialog-1");
    assert_string_equal(header(req, "CSeq"), "42 NOTIFY");
    int was = f->answers;
    sock_answer(f, req, "200 OK", NULL, NULL);
    loop_until(f, &f->answers, was);
    assert_int_equal(f->last_status, 200);
    was = f->requests; /* the subscriber's refresh reaches the restored dialog */
    send_subscribe(f, tag, 8, NULL);
    loop_until(f, &f->requests, was);
    assert_string_equal(f->last_method, "SUBSCRIBE");
    sock_wait(f, "SIP/2.0 200");
    sip_dialog_destroy(d);

    /* a strict first route; no request sent yet: CSeq 1 */
    snprintf(strict, sizeof strict, "<sip:127.0.0.1:%d;rr=strict>", f->sock_port);
    snprintf(strict_ruri, sizeof strict_ruri, "NOTIFY sip:127.0.0.1:%d;rr=strict SIP/2.0",
             f->sock_port);
    snprintf(route_target, sizeof route_target, "<%s>", target);
    kept.route_set = strict;
    kept.cseq = 0;
    d = sip_dialog_restore(f->a.core, &kept, on_dialog_request, f);
    assert_non_null(d);
    assert_non_null(sip_dialog_send(d, "NOTIFY", &h, on_answer, f));
    req = sock_wait(f, strict_ruri);
    assert_string_equal(routes_of(req), route_target);
    assert_string_equal(header(req, "CSeq"), "1 NOTIFY");
    was = f->answers;
    sock_answer(f, req, "200 OK", NULL, NULL);
    loop_until(f, &f->answers, was);
    sip_dialog_destroy(d);

    kept.remote_tag = NULL; /* not a dialog */
    assert_null(sip_dialog_restore(f->a.core, &kept, on_dialog_request, f));
}

int main(void)
{
    srand((unsigned)getpid());
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(uac_dialog_subscribe_notify_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(uas_dialog_notifies_along_its_route_set, setup, teardown),
        cmocka_unit_test_setup_teardown(refusal_carries_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(request_outlives_its_dialog, setup, teardown),
        cmocka_unit_test_setup_teardown(request_out_of_dialog, setup, teardown),
        cmocka_unit_test_setup_teardown(uac_and_uas_dialogs_talk, setup, teardown),
        cmocka_unit_test_setup_teardown(restored_dialog_sends_as_before, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
