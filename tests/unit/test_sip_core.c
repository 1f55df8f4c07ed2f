/* sip_core.c: a real nta agent on 127.0.0.1, driven by a UDP socket while the test steps the
 * loop: OPTIONS to us, 501 with Allow, 416, 420 for Proxy-Require and Require, 503 draining. */
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
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_time.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/url.h>

#include "common/util/heap.h"
#include "common/util/log.h"
#include "common/program/program.h"
#include "common/sip/admission.h"
#include "common/sip/sip_core.h"
#include "tests/unit/test_port.h"

typedef struct fixture {
    su_root_t *root;
    metrics_t *metrics;
    sip_core_t *core;
    int sock;
    int port;
    char listen[32];
    /* sip_core keeps pointers into its config: these live as long as the core */
    const char *listen_list[1], *alias_list[1];
} fixture_t;

static int setup(void **state)
{
    static const char *const transports[] = {"udp", "tcp"};
    fixture_t *f = calloc(1, sizeof *f);
    su_init();
    f->root = su_root_create(NULL);
    f->metrics = metrics_new();
    f->port = test_free_port();
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", f->port);
    f->listen_list[0] = f->listen;
    f->alias_list[0] = "pcscf.ims.svc";
    sip_core_config_t cfg = {
        .listen = f->listen_list,
        .nlisten = 1,
        .transports = transports,
        .ntransports = 2,
        .aliases = f->alias_list,
        .naliases = 1,
        .domain = "ims.example.org",
        .max_message_size = 65536,
        .max_pending = 100,
        .server = "test",
        .allow = "OPTIONS, ACK",
        .supported = "path, outbound",
        .accept = "application/sdp",
    };
    f->core = sip_core_new(f->root, &cfg, f->metrics, program_default_request, NULL);
    f->sock = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {0, 20000};
    setsockopt(f->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    *state = f;
    return f->core ? 0 : -1;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close(f->sock);
    sip_core_free(f->core);
    metrics_free(f->metrics);
    su_root_destroy(f->root);
    su_deinit();
    free(f);
    return 0;
}

/* Sends a request (\n turned into CRLF) and steps the loop until a response arrives. */
static const char *exchange(fixture_t *f, const char *request)
{
    static char text[4096], resp[8192];
    size_t n = 0;
    for (const char *p = request; *p && n + 2 < sizeof text; p++) {
        if (*p == '\n')
            text[n++] = '\r';
        text[n++] = *p;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(f->sock, text, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    for (int i = 0; i < 100; i++) {
        su_root_step(f->root, 10);
        ssize_t got = recv(f->sock, resp, sizeof resp - 1, 0);
        if (got > 0) {
            resp[got] = '\0';
            return resp;
        }
    }
    return "NO RESPONSE";
}

static const char *request(fixture_t *f, const char *method, const char *ruri, const char *extra)
{
    static char buf[2048];
    static int counter;
    int cseq = ++counter;
    snprintf(buf, sizeof buf,
             "%s %s SIP/2.0\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-t%d\n"
             "Max-Forwards: 70\nFrom: <sip:t@example.org>;tag=a\nTo: <sip:u@example.org>\n"
             "Call-ID: core-test-%d\nCSeq: %d %s\n%sContent-Length: 0\n\n",
             method, ruri, cseq, cseq, cseq, method, extra ? extra : "");
    return exchange(f, buf);
}

static void expect_status(const char *resp, const char *status_line)
{
    if (strncmp(resp, status_line, strlen(status_line)) != 0)
        fail_msg("expected '%s', got:\n%s", status_line, resp);
}

static void options_to_self(void **state)
{
    fixture_t *f = *state;
    char ruri[64];
    snprintf(ruri, sizeof ruri, "sip:%s", f->listen);
    const char *r = request(f, "OPTIONS", ruri, NULL);
    expect_status(r, "SIP/2.0 200");
    assert_non_null(strstr(r, "Allow: OPTIONS, ACK"));
    assert_non_null(strstr(r, "Supported: path, outbound"));
    assert_non_null(strstr(r, "Accept: application/sdp"));
    expect_status(request(f, "OPTIONS", "sip:ims.example.org", NULL), "SIP/2.0 200");
    expect_status(request(f, "OPTIONS", "sip:pcscf.ims.svc:5080", NULL), "SIP/2.0 200");
}

static void options_with_unsupported_require(void **state)
{
    fixture_t *f = *state;
    const char *r = request(f, "OPTIONS", "sip:ims.example.org", "Require: path, foo\n");
    expect_status(r, "SIP/2.0 420");
    assert_non_null(strstr(r, "Unsupported: foo"));
}

static void unknown_requests_get_501_with_allow(void **state)
{
    fixture_t *f = *state;
    const char *r = request(f, "INVITE", "sip:bob@ims.example.org", NULL);
    expect_status(r, "SIP/2.0 501");
    assert_non_null(strstr(r, "Allow: OPTIONS, ACK"));
    /* OPTIONS for a user is not for this node */
    expect_status(request(f, "OPTIONS", "sip:bob@ims.example.org", NULL), "SIP/2.0 501");
}

static void scheme_and_proxy_require(void **state)
{
    fixture_t *f = *state;
    expect_status(request(f, "OPTIONS", "mailto:x@example.org", NULL), "SIP/2.0 416");
    const char *r = request(f, "OPTIONS", "sip:x@example.org", "Proxy-Require: noway\n");
    expect_status(r, "SIP/2.0 420");
    assert_non_null(strstr(r, "Unsupported: noway"));
}

/* A header that may appear once, twice: 400 (forwarding it aborted the scscf; sip_guard.h). */
static void duplicate_single_header_is_400(void **state)
{
    fixture_t *f = *state;
    expect_status(request(f, "OPTIONS", "sip:ims.example.org", "Max-Forwards: 10\n"),
                  "SIP/2.0 400 Duplicate Header");
    expect_status(request(f, "OPTIONS", "sip:ims.example.org", NULL), "SIP/2.0 200");
}

static usize_t transactions_held(fixture_t *f)
{
    usize_t irqs = 0;
    nta_agent_get_stats(sip_core_agent(f->core), NTATAG_S_IRQ_HASH_USED_REF(irqs), TAG_END());
    return irqs;
}

static void send_text(fixture_t *f, const char *text)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t n = strlen(text);
    assert_int_equal(sendto(f->sock, text, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    for (int i = 0; i < 10; i++)
        su_root_step(f->root, 10);
}

/* The request's own form is checked before any transaction (refuse_request()): an INVITE refused
 * for it leaves nothing held for Timer H, every stateless answer has the same To tag (so a
 * retransmission gets the same answer, RFC 3261 8.2.7), and the ACK to the refusal goes no
 * further than this node. */
static void refusals_are_stateless(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(transactions_held(f), 0);
    static const struct {
        const char *ruri, *extra, *status;
    } refused[] = {
        {"mailto:x@example.org", NULL, "SIP/2.0 416"},
        {"sip:x@example.org", "Proxy-Require: noway\n", "SIP/2.0 420"},
        {"sip:x@example.org", "Max-Forwards: 9\n", "SIP/2.0 400 Duplicate Header"},
    };
    char tag[64] = "";
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *r = request(f, "INVITE", refused[i].ruri, refused[i].extra);
        expect_status(r, refused[i].status);
        const char *t = strstr(r, "To: <sip:u@example.org>;tag=");
        assert_non_null(t);
        char this_tag[64];
        snprintf(this_tag, sizeof this_tag, "%.*s", (int)strcspn(t + 28, "\r;"), t + 28);
        if (tag[0])
            assert_string_equal(this_tag, tag); /* one tag for every stateless answer */
        snprintf(tag, sizeof tag, "%s", this_tag);
    }
    assert_int_equal(transactions_held(f), 0);
    char text[1024];
    static const char ack[] = "ACK sip:x@example.org SIP/2.0\r\n"
                              "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-ack%s\r\n"
                              "Max-Forwards: 70\r\nFrom: <sip:t@example.org>;tag=a\r\n"
                              "To: <sip:u@example.org>;tag=%s\r\nCall-ID: ack-%s\r\n"
                              "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    snprintf(text, sizeof text, ack, "1", tag, "1");
    send_text(f, text); /* to our refusal: absorbed */
    char *m = metrics_render(f->metrics);
    assert_null(strstr(m, "cscf_sip_requests_total{method=\"ACK\"}"));
    free(m);
    snprintf(text, sizeof text, ack, "2", "someone-else", "2");
    send_text(f, text); /* another dialog's ACK reaches the program */
    m = metrics_render(f->metrics);
    assert_non_null(strstr(m, "cscf_sip_requests_total{method=\"ACK\"} 1"));
    free(m);
}

/* The program's classify callback builds a request's flow for itself (the pcscf: is this
 * REGISTER from a known binding's flow?); admission's per-flow limit takes that flow as it is
 * instead of building it again. Here the callback names a flow of its own, and that is the
 * one the limit counts. */
static int classify_calls;
static unsigned flow_of_callback(void *ctx, sip_core_t *core, msg_t *msg, sip_t const *sip,
                                 char *flow, size_t flow_len)
{
    classify_calls++;
    assert_string_equal(flow, ""); /* nobody built it before */
    snprintf(flow, flow_len, "%s", (const char *)ctx);
    return 0;
}

static void classify_flow_is_built_once(void **state)
{
    fixture_t *f = *state;
    adm_config_t ac = {.enabled = 1,
                       .target = 10,
                       .retry_after = 2,
                       .flow_rate = 0.001,
                       .flow_burst = 1,
                       .table_size = 100};
    sip_core_set_admission(f->core, &ac);
    sip_core_set_classify(f->core, flow_of_callback, "udp:192.0.2.7:5060");
    expect_status(request(f, "MESSAGE", "sip:x@example.org", NULL), "SIP/2.0 501");
    expect_status(request(f, "MESSAGE", "sip:y@example.org", NULL), "SIP/2.0 503");
    assert_int_equal(classify_calls, 2);
    json_t *j = sip_core_admission_json(f->core, 5);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(text, "\"key\":\"udp:192.0.2.7:5060\""));
    assert_null(strstr(text, "127.0.0.1")); /* the real source's flow was never built */
    free(text);
    json_decref(j);
}

static void max_forwards_zero_not_for_us(void **state)
{
    fixture_t *f = *state;
    char req[512];
    snprintf(req, sizeof req,
             "MESSAGE sip:x@elsewhere.example.org SIP/2.0\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-mf0\n"
             "Max-Forwards: 0\nFrom: <sip:t@example.org>;tag=a\nTo: <sip:x@example.org>\n"
             "Call-ID: mf0\nCSeq: 1 MESSAGE\nContent-Length: 0\n\n");
    expect_status(exchange(f, req), "SIP/2.0 483");
}

static void draining_answers_503(void **state)
{
    fixture_t *f = *state;
    sip_core_drain(f->core);
    assert_true(sip_core_draining(f->core));
    const char *r = request(f, "OPTIONS", "sip:ims.example.org", NULL);
    expect_status(r, "SIP/2.0 503");
    assert_non_null(strstr(r, "Retry-After: 5"));
}

static void counts_requests_and_responses(void **state)
{
    fixture_t *f = *state;
    request(f, "OPTIONS", "sip:ims.example.org", NULL);
    request(f, "FOOBAR", "sip:ims.example.org", NULL);
    char *text = metrics_render(f->metrics);
    assert_non_null(strstr(text, "cscf_sip_requests_total{method=\"OPTIONS\"} 1"));
    assert_non_null(strstr(text, "cscf_sip_requests_total{method=\"other\"} 1"));
    assert_non_null(strstr(text, "cscf_sip_responses_total{code=\"200\"} 1"));
    assert_non_null(strstr(text, "cscf_sip_responses_total{code=\"501\"} 1"));
    free(text);
}

/* A non-INVITE request over UDP, once answered, holds no nta transaction: its answer is kept as
 * bytes (common/sip/sip_answered.c), and the same request sent again (a retransmission: the same
 * branch) gets the same answer, To tag included, without reaching the handler. */
static void retransmission_gets_the_kept_answer(void **state)
{
    fixture_t *f = *state;
    static const char req[] = "FOOBAR sip:ims.example.org SIP/2.0\n"
                              "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-retx\n"
                              "Max-Forwards: 70\nFrom: <sip:t@example.org>;tag=a\n"
                              "To: <sip:u@example.org>\nCall-ID: retx1\nCSeq: 1 FOOBAR\n"
                              "Content-Length: 0\n\n";
    char first[2048];
    snprintf(first, sizeof first, "%s", exchange(f, req));
    expect_status(first, "SIP/2.0 501");
    for (int i = 0; i < 20; i++)
        su_root_step(f->root, 10); /* nta frees the ended transaction on its timer */
    usize_t irqs = 1;
    nta_agent_get_stats(sip_core_agent(f->core), NTATAG_S_IRQ_HASH_USED_REF(irqs), TAG_END());
    assert_int_equal(irqs, 0);
    assert_string_equal(exchange(f, req), first);
    sip_core_publish_stats(f->core);
    char *text = metrics_render(f->metrics);
    assert_non_null(strstr(text, "cscf_sip_requests_total{method=\"other\"} 1\n"));
    assert_non_null(strstr(text, "cscf_sip_retransmissions_answered_total 1\n"));
    assert_non_null(strstr(text, "cscf_sip_transactions{side=\"server\"} 1\n"));
    free(text);
}

static void malformed_requests_are_counted(void **state)
{
    fixture_t *f = *state;
    char req[512];
    snprintf(req, sizeof req,
             "OPTIONS sip:ims.example.org SIP/2.0\n"
             "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-bad\n"
             "Max-Forwards: 70\nFrom: <sip:t@example.org>;tag=a\nTo: <sip:x@example.org>\n"
             "Call-ID: bad1\nCSeq: 1 INVITE\nContent-Length: 0\n\n");
    expect_status(exchange(f, req), "SIP/2.0 400"); /* nta's own answer: CSeq method mismatch */
    sip_core_publish_stats(f->core);
    sip_core_publish_stats(f->core); /* twice: the counter adds only what is new */
    char *text = metrics_render(f->metrics);
    assert_non_null(strstr(text, "cscf_sip_bad_messages_total{kind=\"request\"} 1\n"));
    assert_null(strstr(text, "cscf_sip_requests_total{method=\"OPTIONS\"}"));
    free(text);
}

static void self_matching(void **state)
{
    fixture_t *f = *state;
    url_t u[1];
    char a[64], b[64], c[] = "sip:127.0.0.1", d[] = "sip:other.example.org",
                       e[] = "sip:IMS.EXAMPLE.ORG";
    snprintf(a, sizeof a, "sip:%s;lr", f->listen);
    snprintf(b, sizeof b, "sip:127.0.0.1:%d", f->port + 1);
    assert_int_equal(url_d(u, a), 0);
    assert_true(sip_core_is_self(f->core, u));
    assert_int_equal(url_d(u, b), 0);
    assert_false(sip_core_is_self(f->core, u)); /* another port */
    assert_int_equal(url_d(u, c), 0);
    assert_false(sip_core_is_self(f->core, u)); /* default port 5060 is not ours */
    assert_int_equal(url_d(u, d), 0);
    assert_false(sip_core_is_self(f->core, u));
    assert_int_equal(url_d(u, e), 0);
    assert_true(sip_core_is_self(f->core, u)); /* host names compare without case */
}

/* Is a request with this Request-URI and Route (NULL: none) one the node answers itself? */
static int for_us(fixture_t *f, const char *ruri, const char *route)
{
    char text[1024];
    snprintf(text, sizeof text,
             "OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-fu\r\n"
             "From: <sip:t@example.org>;tag=a\r\nTo: <sip:x@example.org>\r\nCall-ID: fu\r\n"
             "CSeq: 1 OPTIONS\r\n%s%s%sContent-Length: 0\r\n\r\n",
             ruri, route ? "Route: " : "", route ? route : "", route ? "\r\n" : "");
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
    assert_non_null(msg);
    int yes = sip_core_request_is_for_us(f->core, sip_object(msg));
    msg_destroy(msg);
    return yes;
}

/* The IMPU form of a URI: a tel: number is sofia's url_user (a SUBSCRIBE to a tel: IMPU used to
 * be refused because the number was read from url_path). */
static void impu_of_tel_and_sip(void **state)
{
    (void)state;
    char out[64];
    url_t tel[1], sip[1], bad[1];
    char t[] = "tel:+15550001;phone-context=ims.example", s_[] = "sip:alice@ims.example;user=phone",
         b[] = "tel:";
    assert_int_equal(url_d(tel, t), 0);
    assert_int_equal(sip_impu_of(tel, out, sizeof out), 0);
    assert_string_equal(out, "tel:+15550001");
    assert_int_equal(url_d(sip, s_), 0);
    assert_int_equal(sip_impu_of(sip, out, sizeof out), 0);
    assert_string_equal(out, "sip:alice@ims.example");
    assert_int_equal(sip_impu_of(tel, out, 8), -1); /* does not fit */
    if (url_d(bad, b) == 0)
        assert_int_equal(sip_impu_of(bad, out, sizeof out), -1); /* no number */
}

static void request_for_us(void **state)
{
    fixture_t *f = *state;
    char me[80], me_lr[96], next[] = "<sip:scscf.ims.example.org;lr>";
    snprintf(me, sizeof me, "sip:%s", f->listen);
    snprintf(me_lr, sizeof me_lr, "<sip:%s;lr>", f->listen);
    assert_true(for_us(f, me, NULL));
    assert_true(for_us(f, "sip:ims.example.org", NULL));      /* the home domain */
    assert_true(for_us(f, "sip:pcscf.ims.svc:5080", me_lr));  /* a Route to us only */
    assert_false(for_us(f, "sip:bob@ims.example.org", NULL)); /* a user: routed to the user */
    assert_false(for_us(f, "sip:other.example.org", NULL));
    assert_false(for_us(f, me, next)); /* routed on */
    char both[200];
    snprintf(both, sizeof both, "%s, %s", me_lr, next);
    assert_false(for_us(f, me, both)); /* through us, then on */
    assert_false(sip_core_request_is_for_us(f->core, NULL));
}

static void tag_lists(void **state)
{
    assert_true(sip_tag_in_list("path, outbound", "outbound"));
    assert_true(sip_tag_in_list("path,outbound", "PATH"));
    assert_false(sip_tag_in_list("path, outbound", "pat"));
    assert_false(sip_tag_in_list("", "path"));
    assert_false(sip_tag_in_list(NULL, "path"));
}

/* sofia-sip 1.12 lost the size limit for the second message of a TCP read, and a huge
 * Content-Length there wrote past its buffer (a crash; found by t_mutation.sh). Both messages in
 * one write: the first is answered, the second refused as too large (common/sip/sip_guard.c). */
static void stream_second_message_huge_content_length(void **state)
{
    fixture_t *f = *state;
    static const char two[] =
        "OPTIONS sip:ims.example.org SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-s1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:t@example.org>;tag=a\r\nTo: <sip:u@example.org>\r\n"
        "Call-ID: stream-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        "OPTIONS sip:ims.example.org SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-s2\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:t@example.org>;tag=a\r\nTo: <sip:u@example.org>\r\n"
        "Call-ID: stream-2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4294967295\r\n\r\nabc";
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {0, 20000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(s, (struct sockaddr *)&to, sizeof to), 0);
    assert_int_equal(send(s, two, sizeof two - 1, 0), (ssize_t)(sizeof two - 1));
    char got[8192] = "";
    size_t have = 0;
    for (int i = 0; i < 200 && !strstr(got, "SIP/2.0 413"); i++) {
        su_root_step(f->root, 10);
        ssize_t n = recv(s, got + have, sizeof got - 1 - have, 0);
        if (n > 0)
            have += (size_t)n;
        got[have] = '\0';
    }
    close(s);
    assert_non_null(strstr(got, "SIP/2.0 200"));
    assert_non_null(strstr(got, "SIP/2.0 413"));
    expect_status(request(f, "OPTIONS", "sip:ims.example.org", NULL), "SIP/2.0 200");
}

/* The plain build runs on jemalloc, the sanitizer build on glibc's allocator (which ASan
 * replaces); heap_release() works on whichever is linked (common/util/heap.c). */
static void heap_allocator_of_the_build(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    assert_string_equal(heap_allocator(), "glibc");
#else
    assert_string_equal(heap_allocator(), "jemalloc");
#endif
    void *p = malloc(1 << 20);
    assert_non_null(p);
    free(p);
    heap_release();
}

/* The programs' own su_getmsgsize() (common/sip/sip_stream_read.c), which libsofia calls
 * through its PLT: a stream read takes at most sip_stream_read_max(), however much is waiting,
 * and a datagram is taken whole. A sofia build that bound the call inside the library would
 * lose it silently; this pins that the definition is the one linked. */
static void stream_reads_are_capped(void **state)
{
    (void)state;
    size_t cap = sip_stream_read_max(), big = cap + 4096;
    char *junk = calloc(1, big);
    assert_non_null(junk);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int sz = (int)(4 * big);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    assert_int_equal(send(sv[0], junk, big, 0), (ssize_t)big);
    assert_int_equal(su_getmsgsize(sv[1]), (issize_t)cap);
    close(sv[0]), close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    assert_int_equal(send(sv[0], junk, big, 0), (ssize_t)big);
    assert_int_equal(su_getmsgsize(sv[1]), (issize_t)big);
    close(sv[0]), close(sv[1]);
    free(junk);
}

/* A stream read with more than a little waiting stops at the end of the first whole message
 * (common/sip/sip_stream_read.c), so no message keeps a copy of the ones after it: through its
 * body by Content-Length (or l), keep-alive CRLFs alone, and what waits (at most the cap) when
 * the first message is not whole or its length cannot be read. */
static void stream_reads_stop_at_a_message(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char pad[3000];
    memset(pad, 'x', sizeof pad);
    char m1[4096], m2[4096];
    int n1 = snprintf(m1, sizeof m1,
                      "MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
                      "content-length : 10\r\n\r\n0123456789");
    int n2 = snprintf(m2, sizeof m2, "SIP/2.0 200 OK\r\nX-Pad: %.*s\r\nl: 0\r\n\r\n", 2500, pad);
    assert_int_equal(send(sv[0], m1, (size_t)n1, 0), n1);
    assert_int_equal(send(sv[0], m2, (size_t)n2, 0), n2);
    assert_int_equal(send(sv[0], m2, (size_t)n2, 0), n2);
    assert_int_equal(su_getmsgsize(sv[1]), n1);
    char sink[16384];
    assert_int_equal(recv(sv[1], sink, (size_t)n1, 0), n1);
    assert_int_equal(su_getmsgsize(sv[1]), n2);
    assert_int_equal(recv(sv[1], sink, (size_t)n2, 0), n2);
    /* one message left, read whole with its trailing keep-alive */
    assert_int_equal(send(sv[0], "\r\n\r\n", 4, 0), 4);
    assert_int_equal(su_getmsgsize(sv[1]), n2);
    assert_int_equal(recv(sv[1], sink, (size_t)n2, 0), n2);
    assert_int_equal(su_getmsgsize(sv[1]), 4);
    assert_int_equal(recv(sv[1], sink, 4, 0), 4);
    /* a keep-alive ahead of a message is read alone */
    assert_int_equal(send(sv[0], "\r\n\r\n", 4, 0), 4);
    assert_int_equal(send(sv[0], m2, (size_t)n2, 0), n2);
    assert_int_equal(su_getmsgsize(sv[1]), 4);
    assert_int_equal(recv(sv[1], sink, 4, 0), 4);
    assert_int_equal(recv(sv[1], sink, (size_t)n2, 0), n2);
    /* a body not yet all there, and a length that is no number: what waits */
    int n3 =
        snprintf(m1, sizeof m1, "SIP/2.0 200 OK\r\nContent-Length: 900\r\n\r\n%.*s", 2500, pad);
    assert_int_equal(send(sv[0], m1, (size_t)n3, 0), n3);
    assert_int_equal(su_getmsgsize(sv[1]), n3 - 1600); /* 900 of body: 1600 of the pad after */
    assert_int_equal(recv(sv[1], sink, sizeof sink, 0), n3);
    n3 = snprintf(m1, sizeof m1, "SIP/2.0 200 OK\r\nContent-Length: 9%.*s\r\n\r\n", 2500, pad);
    assert_int_equal(send(sv[0], m1, (size_t)n3, 0), n3);
    assert_int_equal(su_getmsgsize(sv[1]), n3);
    assert_int_equal(recv(sv[1], sink, sizeof sink, 0), n3);
    n3 = snprintf(m1, sizeof m1, "SIP/2.0 200 OK\r\nContent-Length: 4000\r\n\r\n%.*s", 2500, pad);
    assert_int_equal(send(sv[0], m1, (size_t)n3, 0), n3);
    assert_int_equal(su_getmsgsize(sv[1]), n3);
    close(sv[0]), close(sv[1]);
}

/* Every listener lets a connection queue 1,000 messages when its socket is full, not tport's
 * 64: past the queue a send fails, and an ACK for a 2xx, sent without a transaction, is lost
 * (common/sip/sip_core.c: TCP_QUEUE). */
static void connections_queue_a_thousand(void **state)
{
    fixture_t *f = *state;
    int seen = 0;
    for (tport_t *tp = tport_primaries(nta_agent_tports(sip_core_agent(f->core))); tp;
         tp = tport_next(tp)) {
        unsigned qsize = 0;
        assert_true(tport_get_params(tp, TPTAG_QUEUESIZE_REF(qsize), TAG_END()) > 0);
        assert_int_equal(qsize, 1000);
        seen++;
    }
    assert_true(seen >= 2); /* udp and tcp */
}

/* Admission peeks the UDP listeners' sockets, which tport keeps to itself: it finds the one the
 * core listens on, and one added later (a pcscf's protected ports), and no TCP socket. */
static void admission_watches_each_udp_listener(void **state)
{
    fixture_t *f = *state;
    json_t *o = sip_core_admission_json(f->core, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "udp_listeners_watched")), 1);
    json_decref(o);
    char extra[32];
    snprintf(extra, sizeof extra, "127.0.0.1:%d", test_free_port());
    assert_int_equal(sip_core_add_listener(f->core, extra, "protected"), 0);
    o = sip_core_admission_json(f->core, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "udp_listeners_watched")), 2);
    json_decref(o);
}

static void count_turn(su_prepoll_magic_t *turns, su_root_t *root)
{
    (void)root;
    (*(unsigned *)turns)++;
}

static void count_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *ticks)
{
    (void)magic, (void)t;
    (*(unsigned *)ticks)++;
}

static void end_loop(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *root)
{
    (void)magic, (void)t;
    su_root_break((su_root_t *)root);
}

/* su_duration() rounds a remainder up (common/sip/sip_timer_wait.c), so the loop sleeps until
 * its next timer: with sofia's truncation a timer due in 0.9 ms gave a 0 ms wait, and the loop
 * turned without sleeping until it was due, hundreds of turns for each tick here. */
static void loop_sleeps_until_its_timers(void **state)
{
    (void)state;
    assert_int_equal(su_duration((su_time_t){5, 0}, (su_time_t){4, 999999}), 1);
    assert_int_equal(su_duration((su_time_t){5, 1001}, (su_time_t){5, 0}), 2);
    assert_int_equal(su_duration((su_time_t){5, 0}, (su_time_t){5, 0}), 0);
    assert_int_equal(su_duration((su_time_t){5, 0}, (su_time_t){5, 1500}), -1);
    assert_int_equal(su_duration((su_time_t){3000000, 0}, (su_time_t){0, 0}), SU_DURATION_MAX);
    su_init();
    su_root_t *root = su_root_create(NULL);
    unsigned turns = 0, ticks = 0;
    assert_int_equal(su_root_add_prepoll(root, count_turn, (su_prepoll_magic_t *)&turns), 0);
    su_timer_t *tick = su_timer_create(su_root_task(root), 3);
    su_timer_t *end = su_timer_create(su_root_task(root), 150);
    assert_int_equal(su_timer_run(tick, count_tick, (su_timer_arg_t *)&ticks), 0);
    assert_int_equal(su_timer_set(end, end_loop, (su_timer_arg_t *)root), 0);
    su_root_run(root);
    print_message("loop: %u turns for %u ticks of 3 ms\n", turns, ticks);
    assert_true(ticks >= 20);
    assert_true(turns <= 4 * ticks + 10);
    su_timer_destroy(tick);
    su_timer_destroy(end);
    su_root_destroy(root);
    su_deinit();
}

/* A cut stream read also reads the age of what it leaves behind (the kernel's receive stamp of
 * the first unread byte), for admission's lag; a read that takes everything leaves none. Real
 * TCP on loopback: the stamp is the kernel's, as between the CSCFs. */
static void cut_read_reports_backlog_age(void **state)
{
    (void)state;
    size_t cap = sip_stream_read_max(), big = cap + 4096;
    char *junk = calloc(1, big);
    assert_non_null(junk);
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    /* The kernel stamps arriving segments only while some socket asks for stamps; in the
     * programs admission's UDP listeners do from the start. */
    int on = 1;
    assert_int_equal(setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on), 0);
    (void)sip_stream_backlog_take();
    assert_int_equal(send(c, junk, 100, 0), 100);
    usleep(20000);
    assert_true(su_getmsgsize(s) == 100);
    assert_true(sip_stream_backlog_take() == 0); /* not cut: nothing left behind */
    assert_int_equal(recv(s, junk, 100, MSG_WAITALL), 100);
    assert_int_equal(send(c, junk, big, 0), (ssize_t)big);
    usleep(60000);
    assert_int_equal(su_getmsgsize(s), (issize_t)cap);
    double age = sip_stream_backlog_take();
    assert_true(age >= 0.05 && age < 5);
    assert_true(sip_stream_backlog_take() == 0); /* taken */
    close(s), close(c), close(l);
    free(junk);
}

/* A datagram that starts like a STUN Binding request (fuzz_sip_request's leak reproducer): sofia's
 * STUN server is off (TPTAG_STUN_SERVER(0)), so tport answers its fixed 600 STUN error, which
 * leaks nothing, instead of the mini server's error answer, which leaked 24 bytes each time; and
 * SIP is served as before. */
static void stun_request_gets_the_stubs_error(void **state)
{
    fixture_t *f = *state;
    static const unsigned char stun[] = {0x00, 0x01, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00,
                                         0xe8, 0x31, 0x3a, 0x62, 0x40, 0x69, 0x6d, 0x73,
                                         0x2e, 0x74, 0x65, 0x34, 0x32, 0x39, 0x34, 0x39,
                                         0x36, 0x37, 0x32, 0x39, 0x35, 0x0d, 0x0a, 0x0d};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(sendto(f->sock, stun, sizeof stun, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)sizeof stun);
    unsigned char resp[512];
    ssize_t got = -1;
    for (int i = 0; i < 100 && got <= 0; i++) {
        su_root_step(f->root, 10);
        got = recv(f->sock, resp, sizeof resp, 0);
    }
    /* Binding Error Response (0x0111), ERROR-CODE (0x0009) class 6 number 0: 600. */
    assert_true(got >= 28);
    assert_int_equal(resp[0], 0x01);
    assert_int_equal(resp[1], 0x11);
    assert_int_equal(resp[20] << 8 | resp[21], 0x0009);
    assert_int_equal(resp[26] * 100 + resp[27], 600);
    char ruri[64];
    snprintf(ruri, sizeof ruri, "sip:%s", f->listen);
    expect_status(request(f, "OPTIONS", ruri, NULL), "SIP/2.0 200 ");
}

int main(void)
{
    srand((unsigned)getpid());
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(options_to_self, setup, teardown),
        cmocka_unit_test_setup_teardown(options_with_unsupported_require, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_requests_get_501_with_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(scheme_and_proxy_require, setup, teardown),
        cmocka_unit_test_setup_teardown(max_forwards_zero_not_for_us, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_single_header_is_400, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_are_stateless, setup, teardown),
        cmocka_unit_test_setup_teardown(classify_flow_is_built_once, setup, teardown),
        cmocka_unit_test_setup_teardown(draining_answers_503, setup, teardown),
        cmocka_unit_test_setup_teardown(counts_requests_and_responses, setup, teardown),
        cmocka_unit_test_setup_teardown(retransmission_gets_the_kept_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_requests_are_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(self_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(request_for_us, setup, teardown),
        cmocka_unit_test_setup_teardown(stream_second_message_huge_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(stun_request_gets_the_stubs_error, setup, teardown),
        cmocka_unit_test(stream_reads_are_capped),
        cmocka_unit_test(cut_read_reports_backlog_age),
        cmocka_unit_test(stream_reads_stop_at_a_message),
        cmocka_unit_test_setup_teardown(connections_queue_a_thousand, setup, teardown),
        cmocka_unit_test_setup_teardown(admission_watches_each_udp_listener, setup, teardown),
        cmocka_unit_test(loop_sleeps_until_its_timers),
        cmocka_unit_test(heap_allocator_of_the_build),
        cmocka_unit_test(tag_lists),
        cmocka_unit_test(impu_of_tel_and_sip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
