/* A loopback port that was free for both UDP and TCP a moment ago, for unit tests that start a
 * SIP core (which binds both). Header only: each test binary includes it once.
 * The candidates come from a sequence of the process's own (seeded with its PID, apart from
 * rand()'s): scripts/run-unit.sh runs two binaries at a time, and two unseeded rand() sequences
 * would offer both the same port at the same moment (say, to two redis-servers). */
#ifndef CSCF_TESTS_TEST_PORT_H
#define CSCF_TESTS_TEST_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int test_free_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() * 2654435761u | 1u;
    for (int tries = 0; tries < 50; tries++) {
        int port = 20000 + rand_r(&seed) % 40000;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
        int ok = u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&a, sizeof a) == 0 &&
                 bind(t, (struct sockaddr *)&a, sizeof a) == 0;
        if (u >= 0)
            close(u);
        if (t >= 0)
            close(t);
        if (ok)
            return port;
    }
    return -1;
}

#endif
