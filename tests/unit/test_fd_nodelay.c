/* fd_nodelay.c: Nagle turned off on the sockets of a Diameter connection, found by port, both
 * ends (the one accepted on a listen port, the one dialled to the peer's port), and on no other
 * TCP socket. Real sockets on 127.0.0.1, as freeDiameter leaves them (TCP_NODELAY cleared). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "diameter/fd_nodelay.h"

typedef struct conn {
    int listener, dialled, accepted;
    uint16_t port;
} conn_t;

static int nagle_on(int fd)
{
    int zero = 0;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof zero);
}

static int nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    return v != 0;
}

/* A listener on a free port of 127.0.0.1, a socket dialled to it and the one accepted, Nagle on
 * at both ends as freeDiameter leaves them. */
static conn_t connect_pair(void)
{
    conn_t c;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    c.listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c.listener >= 0);
    assert_int_equal(bind(c.listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(c.listener, 4), 0);
    assert_int_equal(getsockname(c.listener, (struct sockaddr *)&a, &len), 0);
    c.port = ntohs(a.sin_port);
    c.dialled = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(c.dialled, (struct sockaddr *)&a, sizeof a), 0);
    c.accepted = accept(c.listener, NULL, NULL);
    assert_true(c.accepted >= 0);
    assert_int_equal(nagle_on(c.dialled), 0);
    assert_int_equal(nagle_on(c.accepted), 0);
    return c;
}

static void close_pair(conn_t *c)
{
    close(c->accepted);
    close(c->dialled);
    close(c->listener);
}

/* The HSS's side: the connection a peer made to our listen port. */
static void sets_it_on_a_connection_to_our_listen_port(void **state)
{
    (void)state;
    conn_t diam = connect_pair(), other = connect_pair();
    uint16_t listen[] = {0, diam.port};
    assert_int_equal(fd_nodelay_connections(listen, 2, 0), 1);
    assert_true(nodelay(diam.accepted));
    assert_false(nodelay(diam.dialled)); /* its local port is an ephemeral one */
    assert_false(nodelay(other.accepted));
    assert_false(nodelay(other.dialled));
    close_pair(&other);
    close_pair(&diam);
}

/* The S-CSCF's side: the connection we dialled to the peer's port. */
static void sets_it_on_a_connection_to_the_peers_port(void **state)
{
    (void)state;
    conn_t diam = connect_pair(), other = connect_pair();
    assert_int_equal(fd_nodelay_connections(NULL, 0, diam.port), 1);
    assert_true(nodelay(diam.dialled));
    assert_false(nodelay(diam.accepted));
    assert_false(nodelay(other.dialled));
    assert_false(nodelay(other.accepted));
    close_pair(&other);
    close_pair(&diam);
}

/* A listening socket, a UDP socket and an unconnected TCP socket are left alone. */
static void leaves_other_sockets_alone(void **state)
{
    (void)state;
    conn_t c = connect_pair();
    int udp = socket(AF_INET, SOCK_DGRAM, 0), lone = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(udp >= 0 && lone >= 0);
    assert_int_equal(nagle_on(c.listener), 0);
    uint16_t listen[] = {c.port};
    assert_int_equal(fd_nodelay_connections(listen, 1, 0), 1); /* the accepted one only */
    assert_false(nodelay(c.listener));
    assert_false(nodelay(lone));
    close(lone);
    close(udp);
    close_pair(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sets_it_on_a_connection_to_our_listen_port),
        cmocka_unit_test(sets_it_on_a_connection_to_the_peers_port),
        cmocka_unit_test(leaves_other_sockets_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
