/* fd_conf.c: the freeDiameter configuration we write, checked as text and by freeDiameter's own
 * parser, and refused with the setting named when it would be wrong or could inject. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util/log.h"
#include "diameter/fd_conf.h"

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

static const char *const hss_peer[] = {"hss.ims.local@127.0.0.1:3868"};

static fd_conf_t scscf(void)
{
    fd_conf_t c = {
        .identity = "scscf.ims.local",
        .realm = "ims.local",
        .listen = "127.0.0.1:3869",
        .peers = hss_peer,
        .npeers = 1,
        .watchdog_seconds = 6,
        .reconnect_seconds = 3,
        .accept_workers = 64,
    };
    return c;
}

static void expect_line(const char *text, const char *line)
{
    char needle[512];
    snprintf(needle, sizeof needle, "%s\n", line);
    if (!strstr(text, needle))
        fail_msg("missing line '%s' in:\n%s", line, text);
}

static void renders_a_plain_tcp_peer(void **state)
{
    char err[256] = "";
    fd_conf_t c = scscf();
    char *text = fd_conf_render(&c, err, sizeof err);
    assert_non_null(text);
    expect_line(text, "Identity = \"scscf.ims.local\";");
    expect_line(text, "Realm = \"ims.local\";");
    expect_line(text, "ListenOn = \"127.0.0.1\";");
    expect_line(text, "Port = 3869;");
    expect_line(text, "SecPort = 0;");
    expect_line(text, "TcTimer = 3;");
    expect_line(text, "ThreadsPerServer = 64;");
    expect_line(text, "LoadExtension = \"/usr/lib/freeDiameter/dict_dcca_3gpp.fdx\";");
    expect_line(text, "ConnectPeer = \"hss.ims.local\" { ConnectTo = \"127.0.0.1\"; Port = 3868; "
                      "No_SCTP; No_TLS; };");
    /* dict_dcca_3gpp needs nasreq and dcca loaded before it */
    assert_true(strstr(text, "dict_nasreq") < strstr(text, "dict_dcca.fdx"));
    assert_true(strstr(text, "dict_dcca.fdx") < strstr(text, "dict_dcca_3gpp"));
    free(text);
}

static void freediameter_accepts_it(void **state)
{
    char err[256] = "";
    fd_conf_t c = scscf();
    char *text = fd_conf_render(&c, err, sizeof err);
    assert_non_null(text);
    char path[] = "/tmp/test_fd_conf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fd_g_debug_lvl = FD_LOG_ERROR;
    assert_int_equal(fd_core_initialize(), 0);
    assert_int_equal(fd_core_parseconf(path), 0);
    assert_string_equal(fd_g_config->cnf_diamid, "scscf.ims.local");
    assert_int_equal(fd_g_config->cnf_port, 3869);
    assert_int_equal(fd_g_config->cnf_timer_tc, 3);
    assert_int_equal(fd_g_config->cnf_thr_srv, 64); /* the half-open budget (diameter/README.md) */
    unlink(path);
    free(text);
}

static void renders_tls(void **state)
{
    char err[256] = "";
    fd_conf_t c = scscf();
    c.tls = 1;
    assert_null(fd_conf_render(&c, err, sizeof err));
    assert_non_null(strstr(err, "diameter.tls_cert"));
    c.tls_cert = "/etc/cscf/scscf.crt";
    c.tls_key = "/etc/cscf/scscf.key";
    assert_null(fd_conf_render(&c, err, sizeof err));
    assert_non_null(strstr(err, "diameter.tls_ca"));
    c.tls_ca = "/etc/cscf/ca.crt";
    char *text = fd_conf_render(&c, err, sizeof err);
    assert_non_null(text);
    expect_line(text, "TLS_Cred = \"/etc/cscf/scscf.crt\", \"/etc/cscf/scscf.key\";");
    expect_line(text, "TLS_CA = \"/etc/cscf/ca.crt\";");
    assert_null(strstr(text, "No_TLS"));
    expect_line(text, "Port = 0;");
    expect_line(text, "SecPort = 3869;");
    free(text);
}

static void refuses_bad_settings(void **state)
{
    char err[256];
    fd_conf_t c = scscf();
    const char *const bad_peers[] = {"127.0.0.1:3868", "@127.0.0.1:3868", "hss@nohost",
                                     "h\"ss@127.0.0.1:3868", "hss@127.0.0.1:0"};
    for (size_t i = 0; i < sizeof bad_peers / sizeof bad_peers[0]; i++) {
        c.peers = &bad_peers[i];
        assert_null(fd_conf_render(&c, err, sizeof err));
        assert_non_null(strstr(err, "diameter.peers"));
    }
    c = scscf();
    c.identity = "evil\";\nLoadExtension = \"/tmp/x.fdx";
    assert_null(fd_conf_render(&c, err, sizeof err));
    assert_non_null(strstr(err, "diameter.identity"));
    c = scscf();
    c.listen = "3869";
    assert_null(fd_conf_render(&c, err, sizeof err));
    assert_non_null(strstr(err, "diameter.listen"));
    c = scscf();
    c.watchdog_seconds = 5;
    assert_null(fd_conf_render(&c, err, sizeof err));
    assert_non_null(strstr(err, "watchdog_seconds"));
}

/* freeDiameter ignores a non-numeric ConnectTo, so names (Kubernetes Services) are resolved. */
static void resolves_a_peer_host_name(void **state)
{
    char err[256] = "";
    fd_conf_t c = scscf();
    const char *const named[] = {"hss.ims.local@localhost:3868"};
    c.peers = named;
    char *text = fd_conf_render(&c, err, sizeof err);
    assert_non_null(text);
    if (!strstr(text, "ConnectTo = \"127.0.0.1\"; Port = 3868;") &&
        !strstr(text, "ConnectTo = \"::1\"; Port = 3868;"))
        fail_msg("localhost not resolved in:\n%s", text);
    free(text);
    const char *const unknown[] = {"hss.ims.local@no-such-host.invalid:3868"};
    c.peers = unknown;
    assert_null(fd_conf_render(&c, err, sizeof err));
    assert_non_null(strstr(err, "diameter.peers: cannot resolve 'no-such-host.invalid'"));
}

static void splits_peers(void **state)
{
    char id[64], host[64];
    int port;
    assert_int_equal(
        fd_conf_split_peer("hss.ims.local@[::1]:3868", id, sizeof id, host, sizeof host, &port), 0);
    assert_string_equal(id, "hss.ims.local");
    assert_string_equal(host, "::1");
    assert_int_equal(port, 3868);
}

int main(void)
{
    log_init("test", LOG_WARNING, LOG_FORMAT_TEXT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_a_plain_tcp_peer),
        cmocka_unit_test(freediameter_accepts_it),
        cmocka_unit_test(renders_tls),
        cmocka_unit_test(refuses_bad_settings),
        cmocka_unit_test(resolves_a_peer_host_name),
        cmocka_unit_test(splits_peers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
