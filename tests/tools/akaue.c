/* akaue: a handset that registers with AKAv1-MD5 or AKAv2-MD5 computed by our own Milenage,
 * for what SIPp cannot do: AKAv2, an SQN ahead of the HSS's (it answers with auts= and then the
 * fresh challenge) and a wrong RES. One UDP flow; prints each status line it gets and exits 0
 * when the last is 200.
 *
 *   akaue HOST PORT --impi I --impu sip:U@D --k HEX32 --op HEX32 [--alg AKAv2-MD5]
 *         [--sqn-ms HEX12] [--wrong] [--expires N]
 *
 * --sqn-ms: the USIM's highest accepted SQN; a challenge at or below it gets auts=.
 * --wrong: answers with a RES that is off by one bit. --expires 0 sends Contact: *. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/auth/aka.h"
#include "common/util/hex.h"
#include "common/auth/milenage.h"

typedef struct ue {
    const char *impi, *impu, *alg, *host;
    int port, expires, wrong, has_sqn_ms;
    uint8_t k[16], opc[16], sqn_ms[6];
    int sock, local_port, cseq;
    char domain[256], call_id[64];
} ue_t;

static int open_socket(ue_t *u)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    u->sock = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (u->sock < 0 || bind(u->sock, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(u->sock, (struct sockaddr *)&a, &len) < 0)
        return -1;
    u->local_port = ntohs(a.sin_port);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)u->port)};
    inet_pton(AF_INET, u->host, &to.sin_addr);
    return connect(u->sock, (struct sockaddr *)&to, sizeof to);
}

/* Sends REGISTER with the given Authorization parameters; returns the answer (static). */
static const char *exchange(ue_t *u, const char *auth_params)
{
    static char buf[65536];
    char contact[64] = "*"; /* --expires 0: every contact of the registration goes */
    if (u->expires)
        snprintf(contact, sizeof contact, "<sip:ue@127.0.0.1:%d>", u->local_port);
    int n =
        snprintf(buf, sizeof buf,
                 "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%d%d\r\n"
                 "Max-Forwards: 70\r\nFrom: <%s>;tag=ue1\r\nTo: <%s>\r\nCall-ID: %s\r\n"
                 "CSeq: %d REGISTER\r\nContact: %s\r\nExpires: %d\r\n"
                 "Authorization: Digest username=\"%s\", realm=\"%s\", uri=\"sip:%s\", %s\r\n"
                 "Supported: path\r\nContent-Length: 0\r\n\r\n",
                 u->domain, u->local_port, u->cseq, rand(), u->impu, u->impu, u->call_id, u->cseq,
                 contact, u->expires, u->impi, u->domain, u->domain, auth_params);
    u->cseq++;
    for (int attempt = 0; attempt < 4; attempt++) {
        if (send(u->sock, buf, (size_t)n, 0) < 0)
            return NULL;
        struct pollfd p = {.fd = u->sock, .events = POLLIN};
        if (poll(&p, 1, 2000) > 0) {
            ssize_t r = recv(u->sock, buf, sizeof buf - 1, 0);
            if (r > 0) {
                buf[r] = '\0';
                printf("%.*s\n", (int)strcspn(buf, "\r\n"), buf);
                return buf;
            }
        }
    }
    puts("NO RESPONSE");
    return NULL;
}

static int status_of(const char *resp)
{
    return resp && strncmp(resp, "SIP/2.0 ", 8) == 0 ? atoi(resp + 8) : 0;
}

/* The nonce value from WWW-Authenticate. */
static int nonce_of(const char *resp, char *out, size_t len)
{
    const char *p = strstr(resp, "nonce=\"");
    if (!p)
        return -1;
    p += 7;
    size_t n = strcspn(p, "\"");
    if (n >= len)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static uint64_t sqn_value(const uint8_t b[6])
{
    uint64_t x = 0;
    for (int i = 0; i < 6; i++)
        x = (x << 8) | b[i];
    return x;
}

/* The USIM: checks AUTN, decides between RES and AUTS; fills the Authorization parameters. */
static int answer(ue_t *u, const char *nonce, char *params, size_t len)
{
    uint8_t rand[16], autn[16], res[8], ck[16], ik[16], ak[6], sqn[6], mac_a[8];
    if (aka_nonce_decode(nonce, rand, autn) < 0 ||
        milenage_f2345(u->k, u->opc, rand, res, ck, ik, ak, NULL) < 0)
        return -1;
    for (int i = 0; i < 6; i++)
        sqn[i] = autn[i] ^ ak[i];
    if (milenage_f1(u->k, u->opc, rand, sqn, autn + 6, mac_a, NULL) < 0 ||
        memcmp(mac_a, autn + 8, 8) != 0) {
        puts("MAC FAILURE");
        return -1;
    }
    const char *ns = "nc=00000001, cnonce=\"c0ffee\", qop=auth";
    if (u->has_sqn_ms && sqn_value(sqn) <= sqn_value(u->sqn_ms)) {
        uint8_t auts[14];
        char b64[32];
        if (aka_auts_make(u->k, u->opc, rand, u->sqn_ms, auts) < 0)
            return -1;
        EVP_EncodeBlock((unsigned char *)b64, auts, 14);
        u->has_sqn_ms = 0; /* after the resync the HSS is ahead */
        printf("SYNC FAILURE: SQN %012llx, sending auts\n", (unsigned long long)sqn_value(sqn));
        snprintf(params, len, "nonce=\"%s\", response=\"\", auts=\"%s\", algorithm=%s, %s", nonce,
                 b64, u->alg, ns);
        return 1;
    }
    if (u->wrong)
        res[7] ^= 1;
    char pw[32], resp[33];
    const uint8_t *password = res;
    size_t pwlen = sizeof res;
    if (strcmp(u->alg, "AKAv2-MD5") == 0) {
        if (aka_v2_password(res, sizeof res, ik, ck, pw, sizeof pw) < 0)
            return -1;
        password = (const uint8_t *)pw;
        pwlen = strlen(pw);
    }
    char uri[300];
    snprintf(uri, sizeof uri, "sip:%s", u->domain);
    aka_digest_response(u->impi, u->domain, password, pwlen, "REGISTER", uri, nonce, "00000001",
                        "c0ffee", "auth", resp);
    snprintf(params, len, "nonce=\"%s\", response=\"%s\", algorithm=%s, %s", nonce, resp, u->alg,
             ns);
    return 0;
}

static int run(ue_t *u)
{
    char first[128], params[512], nonce[128];
    snprintf(first, sizeof first, "nonce=\"\", response=\"\", algorithm=%s", u->alg);
    const char *resp = exchange(u, first);
    for (int round = 0; round < 3 && status_of(resp) == 401; round++) {
        if (nonce_of(resp, nonce, sizeof nonce) < 0 || answer(u, nonce, params, sizeof params) < 0)
            return 1;
        resp = exchange(u, params);
    }
    return status_of(resp) == 200 ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"impi", 1, NULL, 'i'},  {"impu", 1, NULL, 'u'},    {"k", 1, NULL, 'k'},
        {"op", 1, NULL, 'o'},    {"alg", 1, NULL, 'a'},     {"sqn-ms", 1, NULL, 's'},
        {"wrong", 0, NULL, 'w'}, {"expires", 1, NULL, 'e'}, {NULL, 0, NULL, 0}};
    ue_t u = {.alg = "AKAv1-MD5", .expires = 600, .cseq = 1};
    uint8_t op[16];
    int c, bad = argc < 3;
    while (!bad && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            u.impi = optarg;
            break;
        case 'u':
            u.impu = optarg;
            break;
        case 'k':
            bad |= hex_decode(optarg, u.k, 16);
            break;
        case 'o':
            bad |= hex_decode(optarg, op, 16);
            break;
        case 'a':
            u.alg = optarg;
            break;
        case 's':
            bad |= hex_decode(optarg, u.sqn_ms, 6);
            u.has_sqn_ms = 1;
            break;
        case 'w':
            u.wrong = 1;
            break;
        case 'e':
            u.expires = atoi(optarg);
            break;
        default:
            bad = 1;
        }
    }
    if (bad || optind + 2 != argc || !u.impi || !u.impu || !strchr(u.impu, '@')) {
        fprintf(stderr, "usage: akaue HOST PORT --impi I --impu sip:U@D --k HEX32 --op HEX32 "
                        "[--alg AKAv2-MD5] [--sqn-ms HEX12] [--wrong] [--expires N]\n");
        return 2;
    }
    u.host = argv[optind];
    u.port = atoi(argv[optind + 1]);
    snprintf(u.domain, sizeof u.domain, "%s", strchr(u.impu, '@') + 1);
    snprintf(u.call_id, sizeof u.call_id, "akaue-%d-%d@test", (int)getpid(), rand());
    if (milenage_opc(u.k, op, u.opc) < 0 || open_socket(&u) < 0) {
        perror("akaue");
        return 2;
    }
    int rc = run(&u);
    close(u.sock);
    return rc;
}
