/* sipmutate: a seeded, deterministic generator of mutated IMS requests (REGISTER, INVITE,
 * SUBSCRIBE, NOTIFY), sent over UDP or TCP to a SIP server, or written to a file.
 *
 *   sipmutate [-seed S] [-first I] [-count N] [-domain D] [-route URI]
 *             (-udp HOST:PORT | -tcp HOST:PORT [-conns C] | -dump FILE)
 *             [-rate PER_SECOND] [-linger MS]
 *
 * Message I (from -first to -first+count-1) depends only on the seed, I, the transport token and
 * -domain/-route: the same arguments give the same bytes (-dump writes them, each preceded by a
 * "---- message I" line, so a run that found something can be replayed one message at a time
 * with -first I -count 1). Each message is a valid template mutated 1 to 4 times: header lines
 * deleted or duplicated, values made long or binary, numbers out of range, bodies truncated,
 * Content-Length wrong, folding, compact header names, odd case, UTF-8 (overlong, invalid) and
 * NUL bytes, bare line ends.
 *
 * Over TCP the messages are spread over -conns connections and written back to back, several per
 * write; a connection the server closes is opened again. Answers are read and tallied by class;
 * the last line printed is the tally:
 *   sent N udp U tcp T answers A 1xx a 2xx b 3xx c 4xx d 5xx e 6xx f 500 g reconnects r
 * With -show500, the Call-ID of every 500 answer is printed (the message index is in it), marked
 * "(Retry-After)" when the 500 carries one.
 *
 *   sipmutate -respond HOST:PORT [-for MS]
 *
 * plays the handsets the messages name (-ue, default 127.0.0.1:5999): every request but ACK gets
 * 486, so what the nodes forward ends with an answer rather than a transport error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG   (64 * 1024)
#define MAX_LINES 64
#define MAX_CONNS 64

/* ---- the random stream: splitmix64, one per message ---- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t below(rng_t *r, size_t n)
{
    return n ? (size_t)(rnd(r) % n) : 0;
}

static int chance(rng_t *r, int percent)
{
    return (int)below(r, 100) < percent;
}

/* ---- a message as lines (request line, headers) and a body ---- */

typedef struct msg {
    char *line[MAX_LINES]; /* line[0] is the request line; each without CRLF */
    size_t nlines;
    char *body;
    size_t body_len;
    const char *eol; /* "\r\n", or a bare "\n" / "\r" after a mutation */
    long cut;        /* >= 0: the serialized message is cut to this many bytes */
} msg_t;

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) {
        perror("sipmutate");
        exit(2);
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void set_line(msg_t *m, size_t i, char *text)
{
    free(m->line[i]);
    m->line[i] = text;
}

static void msg_free(msg_t *m)
{
    for (size_t i = 0; i < m->nlines; i++)
        free(m->line[i]);
    free(m->body);
}

static size_t find_header(msg_t *m, const char *prefix)
{
    for (size_t i = 1; i < m->nlines; i++)
        if (m->line[i] && strncasecmp(m->line[i], prefix, strlen(prefix)) == 0)
            return i;
    return 0;
}

/* ---- templates: valid requests as a UE, a P-CSCF or an AS would send them ---- */

typedef struct params {
    const char *domain, *route, *transport, *ue;
    unsigned long long seed;
    long index;
} params_t;

static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\nm=audio 49170 RTP/AVP 0 8 97\r\na=rtpmap:97 AMR/8000\r\n";

static const char reginfo[] =
    "<?xml version=\"1.0\"?>\r\n<reginfo xmlns=\"urn:ietf:params:xml:ns:reginfo\" version=\"0\" "
    "state=\"full\"><registration aor=\"sip:carol@DOMAIN\" id=\"a1\" state=\"active\"><contact "
    "id=\"c1\" state=\"active\" event=\"registered\" expires=\"600\"><uri>sip:carol@127.0.0.1:"
    "5999</uri></contact></registration></reginfo>\r\n";

/* Users the campaign talks as: none is registered before it, so no mutation can take over a
 * registration a test made (the registered users only ever appear as callees). */
static const char *const users[] = {"carol", "dave", "erin", "frank", "mallory"};
static const char *const callees[] = {"alice", "bob", "carol", "+15551234", "nobody"};

static void add(msg_t *m, const char *fmt, const params_t *p, const char *user, const char *peer)
{
    char buf[2048], *o = buf;
    for (const char *f = fmt; *f && o < buf + sizeof buf - 300; f++) {
        if (*f != '$') {
            *o++ = *f;
            continue;
        }
        switch (*++f) {
        case 'D':
            o += sprintf(o, "%s", p->domain);
            break;
        case 'T':
            o += sprintf(o, "%s", p->transport);
            break;
        case 'U':
            o += sprintf(o, "%s", user);
            break;
        case 'C':
            o += sprintf(o, "%s", peer);
            break;
        case 'R':
            o += sprintf(o, "%s", p->route);
            break;
        case 'E':
            o += sprintf(o, "%s", p->ue);
            break;
        case 'I':
            o += sprintf(o, "%llx-%ld", p->seed, p->index);
            break;
        default:
            *o++ = *f;
            break;
        }
    }
    if (m->nlines < MAX_LINES)
        m->line[m->nlines++] = dupn(buf, (size_t)(o - buf));
}

static void common_headers(msg_t *m, const params_t *p, const char *u, const char *c,
                           const char *method, int cseq)
{
    add(m, "Via: SIP/2.0/$T 127.0.0.1:5999;rport;branch=z9hG4bK-mut-$I", p, u, c);
    add(m, "Max-Forwards: 70", p, u, c);
    add(m, "From: <sip:$U@$D>;tag=mut-$I", p, u, c);
    char to[80];
    snprintf(to, sizeof to, "To: <sip:%s@$D>", strcmp(method, "REGISTER") == 0 ? "$U" : "$C");
    add(m, to, p, u, c);
    add(m, "Call-ID: mut-$I@sipmutate", p, u, c);
    char cs[64];
    snprintf(cs, sizeof cs, "CSeq: %d %s", cseq, method);
    add(m, cs, p, u, c);
}

static void make_register(msg_t *m, const params_t *p, rng_t *r, const char *u, const char *c)
{
    add(m, "REGISTER sip:$D SIP/2.0", p, u, c);
    common_headers(m, p, u, c, "REGISTER", 1 + (int)below(r, 5));
    add(m,
        "Contact: <sip:$U@$E>;expires=600;+sip.instance=\""
        "<urn:gsma:imei:35209900-176148-0>\";reg-id=1;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-"
        "service.ims.icsi.mmtel\"",
        p, u, c);
    add(m,
        "Authorization: Digest username=\"$U@$D\", realm=\"$D\", nonce=\"MTIzNDU2Nzg5MDEyMzQ1"
        "Njc4OTAxMjM0NTY3ODkwMTI=\", uri=\"sip:$D\", response=\"0123456789abcdef0123456789abcd"
        "ef\", algorithm=AKAv1-MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"",
        p, u, c);
    add(m, "Expires: 600", p, u, c);
    add(m, "Supported: path, gruu, outbound", p, u, c);
    add(m, "Require: sec-agree", p, u, c);
    add(m, "Proxy-Require: sec-agree", p, u, c);
    add(m,
        "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;spi-c=1111;spi-s=2222;port-c="
        "5100;port-s=5101",
        p, u, c);
    if (chance(r, 50))
        add(m, "Path: <sip:term@$E;lr>", p, u, c);
    add(m, "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=0010100010019B01", p, u, c);
    add(m, "Content-Length: AUTO", p, u, c);
}

static void make_invite(msg_t *m, const params_t *p, rng_t *r, const char *u, const char *c)
{
    add(m, chance(r, 80) ? "INVITE sip:$C@$D SIP/2.0" : "INVITE tel:$C;phone-context=$D SIP/2.0", p,
        u, c);
    if (chance(r, 50))
        add(m, "Route: <$R>", p, u, c);
    common_headers(m, p, u, c, "INVITE", 1);
    add(m,
        "Contact: <sip:$U@$E>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-"
        "service.ims.icsi.mmtel\"",
        p, u, c);
    add(m, "P-Preferred-Identity: <sip:$U@$D>", p, u, c);
    if (chance(r, 50))
        add(m, "P-Asserted-Identity: \"$U\" <sip:$U@$D>, <tel:+15550000>", p, u, c);
    add(m, "Record-Route: <sip:$E;lr>", p, u, c);
    add(m, "Supported: 100rel, timer, replaces", p, u, c);
    add(m, "Session-Expires: 1800;refresher=uac", p, u, c);
    add(m, "Allow: INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, MESSAGE, NOTIFY", p, u, c);
    add(m, "Accept-Contact: *;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\"", p, u,
        c);
    add(m, "P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=\";orig-ioi=$D", p, u, c);
    add(m, "Content-Type: application/sdp", p, u, c);
    add(m, "Content-Length: AUTO", p, u, c);
    m->body = dupn(sdp, sizeof sdp - 1);
    m->body_len = sizeof sdp - 1;
}

static void make_subscribe(msg_t *m, const params_t *p, rng_t *r, const char *u, const char *c)
{
    int reg = chance(r, 70); /* reg-event (to the scscf, as a P-CSCF or UE does), else presence */
    add(m, reg ? "SUBSCRIBE sip:$U@$D SIP/2.0" : "SUBSCRIBE sip:$C@$D SIP/2.0", p, u, c);
    if (chance(r, 30))
        add(m, "Route: <$R>", p, u, c);
    common_headers(m, p, u, c, "SUBSCRIBE", 1 + (int)below(r, 3));
    if (reg) { /* a reg-event subscription is to the subscriber's own IMPU */
        char to[300];
        snprintf(to, sizeof to, "To: <sip:%s@%s>", u, p->domain);
        set_line(m, find_header(m, "To:"), dupn(to, strlen(to)));
    }
    add(m, reg ? "Event: reg" : "Event: presence", p, u, c);
    add(m, "Accept: application/reginfo+xml, application/pidf+xml", p, u, c);
    add(m, "Expires: 600000", p, u, c);
    add(m, "Contact: <sip:$U@$E>", p, u, c);
    add(m, "P-Asserted-Identity: <sip:$U@$D>", p, u, c);
    add(m, "Content-Length: AUTO", p, u, c);
}

static void make_notify(msg_t *m, const params_t *p, rng_t *r, const char *u, const char *c)
{
    add(m, "NOTIFY sip:$U@$E SIP/2.0", p, u, c);
    if (chance(r, 30))
        add(m, "Route: <$R>", p, u, c);
    common_headers(m, p, u, c, "NOTIFY", 2 + (int)below(r, 3));
    size_t ti = find_header(m, "To:"); /* in the dialog: the To has its tag */
    char to[300];
    snprintf(to, sizeof to, "%s;tag=dlg-1", m->line[ti]);
    set_line(m, ti, dupn(to, strlen(to)));
    add(m, "Event: reg", p, u, c);
    add(m,
        chance(r, 50) ? "Subscription-State: active;expires=600"
                      : "Subscription-State: terminated;reason=timeout",
        p, u, c);
    add(m, "Contact: <sip:$E>", p, u, c);
    add(m, "Content-Type: application/reginfo+xml", p, u, c);
    add(m, "Content-Length: AUTO", p, u, c);
    char body[1024], *o = body;
    for (const char *s = reginfo; *s; s++) { /* DOMAIN -> the domain */
        if (strncmp(s, "DOMAIN", 6) == 0) {
            o += sprintf(o, "%s", p->domain);
            s += 5;
        } else {
            *o++ = *s;
        }
    }
    m->body = dupn(body, (size_t)(o - body));
    m->body_len = (size_t)(o - body);
}

/* ---- mutations ---- */

static const char *const bad_numbers[] = {
    "-1",
    "0",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e9",
    "0x10",
    "+5",
    " 5 ",
    "",
    "07",
    "5.5",
    "\xd9\xa3",
    "2147483648",
    "-2147483649",
    "NaN",
};

/* Headers whose value is a number, and where a number sits in the request line or a parameter. */
static const char *const numeric_headers[] = {
    "CSeq:",   "Max-Forwards:", "Expires:", "Content-Length:", "Session-Expires:",
    "Min-SE:", "RSeq:"};

static const char *const compact[][2] = {
    {"Via:", "v:"},       {"From:", "f:"},           {"To:", "t:"},           {"Call-ID:", "i:"},
    {"Contact:", "m:"},   {"Content-Length:", "l:"}, {"Content-Type:", "c:"}, {"Event:", "o:"},
    {"Supported:", "k:"}, {"Accept-Contact:", "a:"},
};

/* Lines spliced in from elsewhere: headers a request of another kind or a hostile peer has. */
static const char *const extra_lines[] = {
    "Route: <sip:orig@127.0.0.1:1;lr>",
    "Route: <sip:127.0.0.1;lr>, <sip:%00@[::1;lr>",
    "Proxy-Require: foo, sec-agree",
    "Require: 100rel, precondition, bogus",
    "Authorization: Digest username=\"\", nonce=\"\", response=",
    "Authorization: Digest username=\"a\\\"b@x\", realm=\"x\", nonce=\"abc\", auts=\"AAAA\"",
    "Authorization: Digest username=u, integrity-protected=\"yes\", realm=\"ims\"",
    "Authorization: Basic dXNlcjpwYXNz",
    "Proxy-Authorization: Digest username=\"x\"",
    "Security-Verify: ipsec-3gpp;alg=hmac-md5-96;spi-c=0;spi-s=4294967296;port-c=0;port-s=65536",
    "P-Asserted-Identity: <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>",
    "P-Served-User: <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>;sescase=orig;regstate=reg",
    "P-Associated-URI: <>",
    "Path: <sip:a@127.0.0.1:1;lr>,<sip:b;lr;ob>",
    "Service-Route: <sip:orig@127.0.0.1;lr>",
    "Contact: *",
    "Contact: <sip:x@127.0.0.1>;expires=0, <sip:y@[::1]:5060>;q=2.5",
    "Content-Type: multipart/mixed;boundary=\"b\"",
    "Content-Encoding: gzip",
    "Event: reg;id=\"",
    "Subscription-State: pending;expires=-5;retry-after=x",
    "Record-Route: <sip:127.0.0.1:1;lr>, <tel:+1>",
    "Via: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK;received=999.1.1.1;rport=70000",
    "Via: SIP/2.0/SCTP ;branch=",
    "Max-Breadth: 0",
    "Reason: SIP;cause=200;text=\"\"",
    "Refer-To: <sip:x@y?Replaces=abc%3Bto-tag%3D1>",
    "Replaces: abc;to-tag=1;from-tag",
    "RAck: 1 1 INVITE",
    "Privacy: id; header; critical",
    "P-Charging-Function-Addresses: ccf=;ecf=\"",
    "Allow-Events: reg, presence, %",
    "Accept: */*;q=0.0001",
    ": no name",
    "NoColonHere",
    "X-\xff\xfe: \x01\x02",
};

static const char *const utf8_bits[] = {
    "\xc3\xa9",         /* valid é */
    "\xe2\x82\xac",     /* valid € */
    "\xc0\xaf",         /* overlong '/' */
    "\xe0\x80\xaf",     /* overlong '/' (3 bytes) */
    "\xed\xa0\x80",     /* a surrogate */
    "\xf4\x90\x80\x80", /* past U+10FFFF */
    "\x80",             /* a lone continuation */
    "\xc3",             /* a lead without its continuation */
    "\xef\xbb\xbf",     /* BOM */
    "%00",
    "%C0%AF",
};

/* A header line (index >= 1), or 0 when there is none. */
static size_t pick_header(msg_t *m, rng_t *r)
{
    return m->nlines > 1 ? 1 + below(r, m->nlines - 1) : 0;
}

/* Replace bytes [at, at+len) of line i with text. */
static void splice_line(msg_t *m, size_t i, size_t at, size_t len, const char *text, size_t tlen)
{
    char *l = m->line[i];
    size_t n = strlen(l);
    if (at > n)
        at = n;
    if (at + len > n)
        len = n - at;
    char *d = malloc(n - len + tlen + 1);
    if (!d)
        exit(2);
    memcpy(d, l, at);
    memcpy(d + at, text, tlen);
    memcpy(d + at + tlen, l + at + len, n - at - len + 1);
    set_line(m, i, d);
}

/* Where the value of a header line starts (after ':' and blanks), or its end. */
static size_t value_at(const char *l)
{
    const char *c = strchr(l, ':');
    if (!c)
        return strlen(l);
    c++;
    while (*c == ' ')
        c++;
    return (size_t)(c - l);
}

static void mut_delete(msg_t *m, rng_t *r)
{
    size_t i = pick_header(m, r);
    if (!i)
        return;
    free(m->line[i]);
    memmove(&m->line[i], &m->line[i + 1], (m->nlines - i - 1) * sizeof *m->line);
    m->nlines--;
}

static void mut_duplicate(msg_t *m, rng_t *r)
{
    size_t i = pick_header(m, r);
    if (!i || m->nlines >= MAX_LINES)
        return;
    size_t at = 1 + below(r, m->nlines);
    memmove(&m->line[at + 1], &m->line[at], (m->nlines - at) * sizeof *m->line);
    m->nlines++;
    if (i >= at)
        i++;
    m->line[at] = dupn(m->line[i], strlen(m->line[i]));
}

/* A value of length 200..60000 made of one character, a pattern, or random bytes. */
static void mut_long(msg_t *m, rng_t *r, int binary)
{
    size_t i = pick_header(m, r);
    if (!i)
        return;
    static const size_t lens[] = {200, 255, 256, 257, 1000, 4096, 8200, 20000, 60000};
    size_t n = lens[below(r, sizeof lens / sizeof *lens)];
    if (!binary && chance(r, 70))
        n = lens[below(r, 6)];
    char *v = malloc(n + 1);
    if (!v)
        exit(2);
    int mode = (int)below(r, 3);
    for (size_t k = 0; k < n; k++) {
        if (binary)
            v[k] = (char)below(r, 256);
        else if (mode == 0)
            v[k] = 'a';
        else if (mode == 1)
            v[k] = ";,=<>\"@:"[k % 8];
        else
            v[k] = (char)('!' + below(r, 94));
    }
    size_t at = value_at(m->line[i]);
    if (chance(r, 50)) /* somewhere inside the value rather than all of it */
        at += below(r, strlen(m->line[i]) - at + 1);
    else
        m->line[i][at] = '\0';
    splice_line(m, i, at, binary ? below(r, 4) : 0, v, n);
    free(v);
}

static void mut_number(msg_t *m, rng_t *r)
{
    const char *bad = bad_numbers[below(r, sizeof bad_numbers / sizeof *bad_numbers)];
    if (chance(r, 60)) {
        const char *h = numeric_headers[below(r, sizeof numeric_headers / sizeof *numeric_headers)];
        size_t i = find_header(m, h);
        if (i) {
            size_t at = value_at(m->line[i]);
            size_t len = strcspn(m->line[i] + at, " ;");
            splice_line(m, i, at, len, bad, strlen(bad));
            return;
        }
    }
    /* a number anywhere else: a port, expires=, reg-id=, a CSeq, the SIP version */
    size_t i = below(r, m->nlines);
    char *l = m->line[i];
    size_t n = strlen(l), start = below(r, n + 1);
    for (size_t k = start; k < n; k++) {
        if (l[k] >= '0' && l[k] <= '9') {
            size_t len = strspn(l + k, "0123456789");
            splice_line(m, i, k, len, bad, strlen(bad));
            return;
        }
    }
}

static void mut_content_length(msg_t *m, rng_t *r)
{
    size_t i = find_header(m, "Content-Length:");
    if (!i)
        return;
    static const char *const v[] = {"0",     "1",  "5",           "100",        "300", "1000",
                                    "65536", "-1", "99999999999", "4294967296", "abc", "12 34"};
    char text[64];
    if (chance(r, 40))
        snprintf(text, sizeof text, "Content-Length: %zu",
                 m->body_len + (chance(r, 50) ? 1 + below(r, 40) : 0) -
                     (m->body_len && chance(r, 50)));
    else
        snprintf(text, sizeof text, "Content-Length: %s", v[below(r, sizeof v / sizeof *v)]);
    set_line(m, i, dupn(text, strlen(text)));
}

static void mut_truncate_body(msg_t *m, rng_t *r)
{
    if (m->body_len)
        m->body_len = below(r, m->body_len); /* Content-Length still says the whole */
    else
        m->cut = -2; /* the serialized message is cut somewhere */
    size_t i = find_header(m, "Content-Length:");
    if (i && strstr(m->line[i], "AUTO") && m->body) {
        char text[64];
        snprintf(text, sizeof text, "Content-Length: %zu", strlen(m->body));
        set_line(m, i, dupn(text, strlen(text)));
    }
}

static void mut_fold(msg_t *m, rng_t *r)
{
    size_t i = pick_header(m, r);
    if (!i)
        return;
    static const char *const folds[] = {"\r\n ", "\r\n\t", "\r\n  \t ", "\n ", " \t "};
    const char *f = folds[below(r, sizeof folds / sizeof *folds)];
    size_t n = strlen(m->line[i]);
    splice_line(m, i, value_at(m->line[i]) + below(r, n + 1), 0, f, strlen(f));
}

static void mut_compact(msg_t *m, rng_t *r)
{
    for (size_t k = 0; k < sizeof compact / sizeof *compact; k++) {
        size_t i = find_header(m, compact[k][0]);
        if (i && chance(r, 60))
            splice_line(m, i, 0, strlen(compact[k][0]), compact[k][1], strlen(compact[k][1]));
    }
}

static void mut_case(msg_t *m, rng_t *r)
{
    size_t i = below(r, m->nlines);
    char *l = m->line[i];
    size_t end = i == 0 ? strlen(l) : value_at(l);
    for (size_t k = 0; k < end; k++)
        if (chance(r, 50))
            l[k] = (char)(l[k] >= 'a' && l[k] <= 'z'   ? l[k] - 32
                          : l[k] >= 'A' && l[k] <= 'Z' ? l[k] + 32
                                                       : l[k]);
}

static void mut_encoding(msg_t *m, rng_t *r)
{
    size_t i = below(r, m->nlines);
    const char *b;
    char nul[2] = {0, 0};
    size_t blen;
    if (chance(r, 25)) {
        b = nul; /* a NUL byte */
        blen = 1;
    } else {
        b = utf8_bits[below(r, sizeof utf8_bits / sizeof *utf8_bits)];
        blen = strlen(b);
    }
    /* the line is kept with its length: a NUL inside is written as it is */
    size_t n = strlen(m->line[i]);
    size_t at = below(r, n + 1);
    char *d = malloc(n + blen + 1);
    if (!d)
        exit(2);
    memcpy(d, m->line[i], at);
    memcpy(d + at, b, blen);
    memcpy(d + at + blen, m->line[i] + at, n - at + 1);
    if (blen == 1 && b[0] == 0)
        d[at] = '\x01'; /* placeholder: written as NUL on output (see serialize) */
    set_line(m, i, d);
}

static void mut_extra(msg_t *m, rng_t *r)
{
    if (m->nlines >= MAX_LINES)
        return;
    const char *x = extra_lines[below(r, sizeof extra_lines / sizeof *extra_lines)];
    size_t at = 1 + below(r, m->nlines);
    memmove(&m->line[at + 1], &m->line[at], (m->nlines - at) * sizeof *m->line);
    m->nlines++;
    m->line[at] = dupn(x, strlen(x));
}

static void mut_request_line(msg_t *m, rng_t *r)
{
    static const char *const lines[] = {
        "REGISTER sip:%00 SIP/2.0",
        "INVITE sip:@ SIP/2.0",
        "INVITE <sip:x@y> SIP/2.0",
        "INVITE sip:x@y SIP/3.0",
        "INVITE sip:x@y",
        "INVITE  sip:x@y  SIP/2.0",
        "INVITE tel: SIP/2.0",
        "INVITE sip:x@[::1 SIP/2.0",
        "INVITE sip:x@127.0.0.1:99999 SIP/2.0",
        "I\xffNVITE sip:x@y SIP/2.0",
        "SUBSCRIBE urn:service:sos SIP/2.0",
        "NOTIFY sips:x@y;transport=udp SIP/2.0",
        "REGISTER sip:x@y?Route=%3Csip:a%3E SIP/2.0",
        "OPTIONS * SIP/2.0",
    };
    if (chance(r, 50)) {
        const char *l = lines[below(r, sizeof lines / sizeof *lines)];
        set_line(m, 0, dupn(l, strlen(l)));
    } else { /* the method's name made odd, the rest kept */
        static const char *const methods[] = {
            "invite", "REGISTERX", "SUBSCRIBE\t", "NOTIFY ", "ACK", "CANCEL", "BYE", "PRACK", "X"};
        const char *meth = methods[below(r, sizeof methods / sizeof *methods)];
        size_t sp = strcspn(m->line[0], " ");
        splice_line(m, 0, 0, sp, meth, strlen(meth));
    }
}

static void mut_line_end(msg_t *m, rng_t *r)
{
    m->eol = chance(r, 70) ? "\n" : "\r";
}

static void mut_reorder(msg_t *m, rng_t *r)
{
    size_t a = pick_header(m, r), b = pick_header(m, r);
    if (a && b) {
        char *t = m->line[a];
        m->line[a] = m->line[b];
        m->line[b] = t;
    }
}

/* Parameters: emptied, duplicated, or given odd values. */
static void mut_param(msg_t *m, rng_t *r)
{
    size_t i = below(r, m->nlines);
    char *semi = strchr(m->line[i], ';');
    if (!semi)
        return;
    static const char *const p[] = {";",        ";;",          ";tag=",       ";tag=a;tag=b",
                                    ";lr=x",    ";branch=",    ";expires=-1", ";reg-id=0",
                                    ";maddr=",  ";transport=", ";=",          ";received=::1",
                                    ";rport=0", ";q=1.0000001"};
    const char *x = p[below(r, sizeof p / sizeof *p)];
    splice_line(m, i, (size_t)(semi - m->line[i]), chance(r, 50) ? strcspn(semi + 1, ";,>") + 1 : 0,
                x, strlen(x));
}

static void mutate(msg_t *m, rng_t *r)
{
    int n = 1 + (int)below(r, 4);
    for (int k = 0; k < n; k++) {
        switch (below(r, 16)) {
        case 0:
            mut_delete(m, r);
            break;
        case 1:
            mut_duplicate(m, r);
            break;
        case 2:
            mut_long(m, r, 0);
            break;
        case 3:
            mut_long(m, r, 1);
            break;
        case 4:
            mut_number(m, r);
            break;
        case 5:
            mut_content_length(m, r);
            break;
        case 6:
            mut_truncate_body(m, r);
            break;
        case 7:
            mut_fold(m, r);
            break;
        case 8:
            mut_compact(m, r);
            break;
        case 9:
            mut_case(m, r);
            break;
        case 10:
            mut_encoding(m, r);
            break;
        case 11:
            mut_extra(m, r);
            break;
        case 12:
            mut_request_line(m, r);
            break;
        case 13:
            mut_line_end(m, r);
            break;
        case 14:
            mut_reorder(m, r);
            break;
        default:
            mut_param(m, r);
            break;
        }
    }
}

/* Message index of a run, as bytes in out (at most MAX_MSG); returns its length. */
static size_t generate(const params_t *p, char *out)
{
    rng_t r = {p->seed * 0x2545F4914F6CDD1Dull ^ (uint64_t)p->index * 0x9E3779B97F4A7C15ull};
    rnd(&r);
    msg_t m = {.eol = "\r\n", .cut = -1};
    const char *u = users[below(&r, sizeof users / sizeof *users)];
    const char *c = callees[below(&r, sizeof callees / sizeof *callees)];
    switch (below(&r, 4)) {
    case 0:
        make_register(&m, p, &r, u, c);
        break;
    case 1:
        make_invite(&m, p, &r, u, c);
        break;
    case 2:
        make_subscribe(&m, p, &r, u, c);
        break;
    default:
        make_notify(&m, p, &r, u, c);
        break;
    }
    mutate(&m, &r);
    size_t n = 0, el = strlen(m.eol);
    for (size_t i = 0; i < m.nlines; i++) {
        char *l = m.line[i];
        char cl[64];
        if (strcmp(l, "Content-Length: AUTO") == 0 || strcmp(l, "l: AUTO") == 0) {
            snprintf(cl, sizeof cl, "%.*s %zu", (int)value_at(l) - 1, l, m.body_len);
            l = cl;
        }
        size_t len = strlen(l);
        if (n + len + el + 2 >= MAX_MSG)
            break;
        for (size_t k = 0; k < len; k++)
            out[n++] = l[k] == '\x01' ? '\0' : l[k];
        memcpy(out + n, m.eol, el);
        n += el;
    }
    if (n + el < MAX_MSG) {
        memcpy(out + n, m.eol, el);
        n += el;
    }
    size_t b = m.body_len < MAX_MSG - n ? m.body_len : MAX_MSG - n;
    if (m.body)
        memcpy(out + n, m.body, b);
    n += m.body ? b : 0;
    if (m.cut == -2 && n > 1)
        n = 1 + below(&r, n - 1);
    msg_free(&m);
    return n;
}

/* ---- sending ---- */

typedef struct tally {
    long sent, udp, tcp, answers, cls[7], s500, reconnects;
    int show500;
} tally_t;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static struct sockaddr_in parse_addr(const char *hostport)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host) {
        fprintf(stderr, "sipmutate: %s: want HOST:PORT\n", hostport);
        exit(2);
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "sipmutate: %s: not an IPv4 address\n", host);
        exit(2);
    }
    return a;
}

/* Tallies every status line in buf (answers come several to a read over TCP). */
static void count_answers(tally_t *t, const char *buf, size_t n)
{
    for (const char *p = buf; p && p < buf + n;
         p = memmem(p + 1, (size_t)(buf + n - p - 1), "SIP/2.0 ", 8)) {
        if ((p != buf && p[-1] != '\n') || p + 11 > buf + n || p[8] < '1' || p[8] > '6')
            continue;
        t->answers++;
        t->cls[p[8] - '0']++;
        if (strncmp(p + 8, "500", 3) == 0) {
            t->s500++;
            if (t->show500) {
                const char *cid = memmem(p, (size_t)(buf + n - p), "\nCall-ID:", 9);
                if (!cid)
                    cid = memmem(p, (size_t)(buf + n - p), "\ni:", 3);
                const char *e = cid ? memchr(cid + 1, '\n', (size_t)(buf + n - cid - 1)) : NULL;
                const char *sl = memchr(p, '\r', (size_t)(buf + n - p));
                /* A 500 with Retry-After is a next hop's 503 relayed (RFC 3261 16.7, 20.33). */
                const char *end = memmem(p, (size_t)(buf + n - p), "\r\n\r\n", 4);
                const char *ra =
                    memmem(p, (size_t)((end ? end : buf + n) - p), "\nRetry-After:", 13);
                printf("500%s: %.*s |%.*s\n", ra ? " (Retry-After)" : "", sl ? (int)(sl - p) : 12,
                       p, e ? (int)(e - cid - 1) : 0, cid ? cid + 1 : "");
            }
        }
    }
}

static void drain(tally_t *t, int fd)
{
    static char buf[MAX_MSG + 1];
    for (;;) {
        ssize_t got = recv(fd, buf, MAX_MSG, MSG_DONTWAIT);
        if (got <= 0)
            return;
        count_answers(t, buf, (size_t)got);
    }
}

typedef struct conn {
    int fd;
    char *pending; /* messages waiting to be written back to back */
    size_t npending;
    long left; /* messages this connection still carries before it is closed */
} conn_t;

static int tcp_open(const struct sockaddr_in *a, tally_t *t)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    t->reconnects++;
    return fd;
}

/* Writes everything pending; a connection the server closed is opened again (what was not
 * written is dropped: it was one of the mutations that ended the connection, or after it). */
static void tcp_flush(conn_t *c, const struct sockaddr_in *a, tally_t *t)
{
    for (size_t off = 0; off < c->npending;) {
        if (c->fd < 0 && (c->fd = tcp_open(a, t)) < 0)
            break;
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
        if (poll(&pfd, 1, 2000) <= 0) { /* a server that stopped reading: start afresh */
            close(c->fd);
            c->fd = -1;
            break;
        }
        ssize_t w = send(c->fd, c->pending + off, c->npending - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0) {
            close(c->fd);
            c->fd = -1;
            break;
        }
        off += (size_t)w;
        drain(t, c->fd);
    }
    c->npending = 0;
}

/* -respond: a handset that answers every request (but ACK) with 486, for the addresses the
 * templates name (-ue) and the registered handsets, so requests the nodes forward end with an
 * answer, not a transport error; until killed or for -for milliseconds. */
static volatile sig_atomic_t stop_responding;

static void on_term(int sig)
{
    (void)sig;
    stop_responding = 1;
}

static int respond(const char *hostport, long for_ms)
{
    signal(SIGTERM, on_term); /* stopped by the test: still print the count */
    struct sockaddr_in a = parse_addr(hostport);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("sipmutate: respond");
        return 2;
    }
    static char in[MAX_MSG + 1], out[MAX_MSG];
    long answered = 0;
    for (long end = now_ms() + for_ms; now_ms() < end && !stop_responding;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t got = recvfrom(fd, in, MAX_MSG, 0, (struct sockaddr *)&from, &flen);
        if (got <= 0 || strncmp(in, "SIP/2.0", 7) == 0 || strncmp(in, "ACK ", 4) == 0)
            continue;
        in[got] = '\0';
        int n = snprintf(out, sizeof out, "SIP/2.0 486 Busy Here\r\n");
        for (char *l = strstr(in, "\r\n"); l && l[2] != '\r' && n < MAX_MSG - 600;
             l = strstr(l + 2, "\r\n")) {
            const char *h = l + 2, *e = strstr(h, "\r\n");
            if (!e)
                break;
            int len = (int)(e - h);
            if (strncasecmp(h, "Via:", 4) && strncasecmp(h, "From:", 5) &&
                strncasecmp(h, "To:", 3) && strncasecmp(h, "Call-ID:", 8) &&
                strncasecmp(h, "CSeq:", 5))
                continue;
            int tag = strncasecmp(h, "To:", 3) == 0 && !memmem(h, (size_t)len, "tag=", 4);
            n += snprintf(out + n, sizeof out - (size_t)n, "%.*s%s\r\n", len, h,
                          tag ? ";tag=busy" : "");
        }
        n += snprintf(out + n, sizeof out - (size_t)n, "Content-Length: 0\r\n\r\n");
        if (sendto(fd, out, (size_t)n, 0, (struct sockaddr *)&from, flen) > 0)
            answered++;
    }
    printf("answered %ld\n", answered);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: sipmutate [-seed S] [-first I] [-count N] [-domain D] [-route URI]\n"
                    "                 (-udp HOST:PORT | -tcp HOST:PORT [-conns C] | -dump FILE)\n"
                    "                 [-rate PER_SECOND] [-linger MS] [-show500] [-ue HOST:PORT]\n"
                    "       sipmutate -respond HOST:PORT [-for MS]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    params_t p = {.domain = "ims.mnc001.mcc001.3gppnetwork.org",
                  .route = "sip:orig@127.0.0.1:5060;lr",
                  .transport = "UDP",
                  .ue = "127.0.0.1:5999"};
    long first = 0, count = 1000, rate = 0, linger = 300;
    int conns = 4;
    const char *udp = NULL, *tcp = NULL, *dump = NULL, *responder = NULL;
    long for_ms = 600000;
    tally_t t = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-show500") == 0) {
            t.show500 = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (strcmp(a, "-seed") == 0)
            p.seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "-first") == 0)
            first = atol(v);
        else if (strcmp(a, "-count") == 0)
            count = atol(v);
        else if (strcmp(a, "-domain") == 0)
            p.domain = v;
        else if (strcmp(a, "-route") == 0)
            p.route = v;
        else if (strcmp(a, "-udp") == 0)
            udp = v;
        else if (strcmp(a, "-tcp") == 0)
            tcp = v, p.transport = "TCP";
        else if (strcmp(a, "-dump") == 0)
            dump = v;
        else if (strcmp(a, "-conns") == 0)
            conns = atoi(v);
        else if (strcmp(a, "-rate") == 0)
            rate = atol(v);
        else if (strcmp(a, "-linger") == 0)
            linger = atol(v);
        else if (strcmp(a, "-ue") == 0)
            p.ue = v;
        else if (strcmp(a, "-respond") == 0)
            responder = v;
        else if (strcmp(a, "-for") == 0)
            for_ms = atol(v);
        else
            usage();
    }
    if (responder)
        return respond(responder, for_ms);
    if (!!udp + !!tcp + !!dump != 1 || conns < 1 || conns > MAX_CONNS || count < 0)
        usage();
    static char msg[MAX_MSG];
    FILE *df = dump ? fopen(dump, "wb") : NULL;
    if (dump && !df) {
        perror(dump);
        return 2;
    }
    struct sockaddr_in to = parse_addr(udp ? udp : tcp ? tcp : "127.0.0.1:0");
    int us = -1;
    conn_t c[MAX_CONNS];
    for (int k = 0; k < conns; k++)
        c[k] = (conn_t){.fd = -1, .pending = malloc(8 * MAX_MSG), .left = 8};
    if (udp) {
        us = socket(AF_INET, SOCK_DGRAM, 0);
        int big = 4 << 20;
        setsockopt(us, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    long start = now_ms();
    rng_t batching = {p.seed ^ (uint64_t)first};
    for (long i = first; i < first + count; i++) {
        p.index = i;
        size_t n = generate(&p, msg);
        t.sent++;
        if (df) {
            fprintf(df, "---- message %ld\n", i);
            fwrite(msg, 1, n, df);
            fputc('\n', df);
        } else if (udp) {
            if (sendto(us, msg, n, 0, (struct sockaddr *)&to, sizeof to) >= 0)
                t.udp++;
            drain(&t, us);
        } else {
            conn_t *cn = &c[i % conns];
            memcpy(cn->pending + cn->npending, msg, n);
            cn->npending += n;
            t.tcp++;
            /* several messages back to back in one write, now and then */
            if (cn->npending > 6 * MAX_MSG || !chance(&batching, 60))
                tcp_flush(cn, &to, &t);
            /* A connection carries a few messages, then another takes over: one mutation that
             * breaks the framing (a Content-Length past the end) costs the few after it, not
             * the rest of the run. */
            if (--cn->left <= 0) {
                if (cn->npending)
                    tcp_flush(cn, &to, &t);
                if (cn->fd >= 0) {
                    drain(&t, cn->fd);
                    close(cn->fd);
                    cn->fd = -1;
                }
                cn->left = 1 + (long)below(&batching, 16);
            }
        }
        if (rate > 0) { /* hold the pace: message k is not sent before start + k/rate */
            long due = start + (i - first + 1) * 1000 / rate;
            while (now_ms() < due) {
                struct pollfd pf[MAX_CONNS + 1];
                int np = 0;
                if (us >= 0)
                    pf[np++] = (struct pollfd){.fd = us, .events = POLLIN};
                for (int k = 0; k < conns; k++)
                    if (c[k].fd >= 0)
                        pf[np++] = (struct pollfd){.fd = c[k].fd, .events = POLLIN};
                long left = due - now_ms();
                if (poll(pf, (nfds_t)np, (int)(left > 0 ? left : 0)) > 0)
                    for (int k = 0; k < np; k++)
                        if (pf[k].revents)
                            drain(&t, pf[k].fd);
            }
        }
    }
    for (int k = 0; k < conns; k++)
        if (c[k].npending)
            tcp_flush(&c[k], &to, &t);
    /* late answers (the HSS's, forwarded ones) */
    for (long end = now_ms() + (df ? 0 : linger); now_ms() < end;) {
        struct pollfd pf[MAX_CONNS + 1];
        int np = 0;
        if (us >= 0)
            pf[np++] = (struct pollfd){.fd = us, .events = POLLIN};
        for (int k = 0; k < conns; k++)
            if (c[k].fd >= 0)
                pf[np++] = (struct pollfd){.fd = c[k].fd, .events = POLLIN};
        if (np == 0 || poll(pf, (nfds_t)np, 50) < 0)
            break;
        for (int k = 0; k < np; k++)
            if (pf[k].revents)
                drain(&t, pf[k].fd);
    }
    for (int k = 0; k < conns; k++) {
        if (c[k].fd >= 0)
            close(c[k].fd);
        free(c[k].pending);
    }
    if (df)
        fclose(df);
    printf("sent %ld udp %ld tcp %ld answers %ld 1xx %ld 2xx %ld 3xx %ld 4xx %ld 5xx %ld 6xx %ld "
           "500 %ld reconnects %ld\n",
           t.sent, t.udp, t.tcp, t.answers, t.cls[1], t.cls[2], t.cls[3], t.cls[4], t.cls[5],
           t.cls[6], t.s500, t.reconnects);
    return 0;
}
