/* sipsend: send a file's bytes, unchanged, to a SIP server over UDP or TCP and print the first
 * line of the first answer, "NO RESPONSE", or (TCP) "CLOSED" when the peer hung up silently.
 *
 *   sipsend -u|-t HOST PORT FILE [TIMEOUT_MS]
 *
 * With SIPSEND_WHOLE=1 in the environment (UDP), the whole first answer is printed instead.
 * With SIPSEND_FROM=IPv4 it sends from that local address (e.g. 127.0.0.2: a host outside the
 * trust domain of a server that trusts 127.0.0.1).
 *
 * The torture tests need byte-exact messages (RFC 4475), which SIPp would rewrite. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG (256 * 1024)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "sipsend: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static int connect_to(int type, const char *host, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "sipsend: %s: not an IPv4 address\n", host);
        exit(2);
    }
    int s = socket(AF_INET, type, 0);
    const char *from = getenv("SIPSEND_FROM");
    struct sockaddr_in b = {.sin_family = AF_INET};
    if (from && (inet_pton(AF_INET, from, &b.sin_addr) != 1 ||
                 (s >= 0 && bind(s, (struct sockaddr *)&b, sizeof b) < 0))) {
        fprintf(stderr, "sipsend: SIPSEND_FROM %s: %s\n", from, strerror(errno));
        exit(2);
    }
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "sipsend: connect: %s\n", strerror(errno));
        exit(2);
    }
    return s;
}

static void send_all(int s, const char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = send(s, buf + off, n - off, MSG_NOSIGNAL);
        if (w < 0) {
            fprintf(stderr, "sipsend: send: %s\n", strerror(errno));
            exit(2);
        }
        off += (size_t)w;
    }
}

/* Prints the first line of what arrives before the deadline. */
static void await_answer(int s, int stream, long timeout_ms)
{
    static char buf[MAX_MSG];
    size_t have = 0;
    long deadline = now_ms() + timeout_ms;
    for (long left; (left = deadline - now_ms()) > 0;) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = recv(s, buf + have, sizeof buf - 1 - have, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            if (have == 0) {
                puts("CLOSED");
                return;
            }
            break;
        }
        if (r < 0) {
            if (!stream && errno == ECONNREFUSED)
                continue; /* ICMP from an earlier datagram; keep waiting */
            break;
        }
        have += (size_t)r;
        buf[have] = '\0';
        char *eol = strstr(buf, "\r\n");
        if (!stream && getenv("SIPSEND_WHOLE")) {
            fputs(buf, stdout);
            return;
        }
        if (eol || !stream) {
            if (eol)
                *eol = '\0';
            puts(buf);
            return;
        }
    }
    if (have) {
        buf[strcspn(buf, "\r\n")] = '\0';
        puts(buf);
        return;
    }
    puts("NO RESPONSE");
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6 || (strcmp(argv[1], "-u") && strcmp(argv[1], "-t"))) {
        fprintf(stderr, "usage: sipsend -u|-t HOST PORT FILE [TIMEOUT_MS]\n");
        return 2;
    }
    int stream = strcmp(argv[1], "-t") == 0;
    static char msg[MAX_MSG];
    size_t n = read_file(argv[4], msg, sizeof msg);
    long timeout = argc == 6 ? atol(argv[5]) : 1000;
    int s = connect_to(stream ? SOCK_STREAM : SOCK_DGRAM, argv[2], atoi(argv[3]));
    send_all(s, msg, n);
    await_answer(s, stream, timeout);
    close(s);
    return 0;
}
