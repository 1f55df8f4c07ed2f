/* own_fds.c: every descriptor the process has open is seen once (not the one that reads
 * /proc/self/fd), and the walk stops at the first one the callback takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/util/own_fds.h"

struct walk {
    int want, stop; /* stop: return 1 at want */
    int calls, seen, after;
};

static int look(int fd, void *ctx)
{
    struct walk *w = ctx;
    w->calls++;
    w->after += w->seen > 0;
    if (fd == w->want)
        w->seen++;
    return w->stop && fd == w->want;
}

static int open_now(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

static void sees_each_open_fd_once(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct walk w = {.want = sv[1]};
    assert_int_equal(own_fds_each(look, &w), 0);
    assert_int_equal(w.seen, 1);
    assert_int_equal(w.calls, open_now());
    close(sv[0]), close(sv[1]);
}

static void stops_where_the_callback_says(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct walk w = {.want = sv[0], .stop = 1};
    assert_int_equal(own_fds_each(look, &w), 1);
    assert_int_equal(w.seen, 1);
    assert_int_equal(w.after, 0);
    close(sv[0]), close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sees_each_open_fd_once),
        cmocka_unit_test(stops_where_the_callback_says),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
