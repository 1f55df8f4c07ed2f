/* SIP over TLS, the parts without a network (common/sip/sip_tls.c, cscf/pcscf/target.c): the
 * sip.tls.* values, the configuration check's refusals, and a UE on a TLS flow reached over
 * that flow. tests/e2e/t_sip_tls.sh does the rest with real certificates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sip/sip_tls.h"
#include "cscf/pcscf/target.h"

static void parses_values(void **state)
{
    unsigned v = 99;
    assert_int_equal(sip_tls_verify_parse("none", &v), 0);
    assert_int_equal(v, SIP_TLS_VERIFY_NONE);
    assert_int_equal(sip_tls_verify_parse("incoming", &v), 0);
    assert_int_equal(v, SIP_TLS_VERIFY_INCOMING);
    assert_int_equal(sip_tls_verify_parse("outgoing", &v), 0);
    assert_int_equal(v, SIP_TLS_VERIFY_OUTGOING);
    assert_int_equal(sip_tls_verify_parse("both", &v), 0);
    assert_int_equal(v, SIP_TLS_VERIFY_BOTH);
    assert_int_equal(sip_tls_verify_parse("all", &v), -1);
    assert_int_equal(sip_tls_verify_parse(NULL, &v), -1);
    assert_int_equal(sip_tls_version_parse("1.2", &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(sip_tls_version_parse("1.3", &v), 0);
    assert_int_equal(v, 13);
    assert_int_equal(sip_tls_version_parse("1.1", &v), -1);
}

static void check_refuses_incomplete_settings(void **state)
{
    char err[300] = "";
    sip_tls_config_t tc = {.listen = "", .verify = SIP_TLS_VERIFY_BOTH};
    assert_int_equal(sip_tls_check(&tc, err, sizeof err), 0); /* no listener: nothing to check */
    tc.listen = "127.0.0.1:5061";
    assert_int_equal(sip_tls_check(&tc, err, sizeof err), -1);
    assert_string_equal(err, "sip.tls.listen needs sip.tls.certificate and sip.tls.private_key");
    tc.certificate = "/nonexistent/cert.pem";
    tc.private_key = "/nonexistent/key.pem";
    assert_int_equal(sip_tls_check(&tc, err, sizeof err), -1);
    assert_string_equal(err, "sip.tls.verify_peer other than none needs sip.tls.ca_file");
    tc.verify = SIP_TLS_VERIFY_NONE;
    assert_int_equal(sip_tls_check(&tc, err, sizeof err), -1);
    assert_non_null(strstr(err, "sip.tls.private_key: cannot load '/nonexistent/key.pem'"));
}

/* A file that is no PEM certificate is refused at the check, not served without one. */
static void check_refuses_a_file_that_is_no_certificate(void **state)
{
    char path[] = "/tmp/test_sip_tls.XXXXXX", err[300] = "";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    sip_tls_config_t tc = {.listen = "127.0.0.1:5061", .certificate = path, .private_key = path};
    assert_int_equal(sip_tls_check(&tc, err, sizeof err), -1);
    assert_non_null(strstr(err, "sip.tls.private_key: cannot load"));
    unlink(path);
}

/* A UE registered over TLS is reached on its TLS connection (the flow says tls:). */
/* The name checks sofia is told to make (sip_tls_policy()): outgoing ones only when outgoing
 * connections are verified, incoming ones only with a list of subjects. */
static void policy_adds_the_name_checks(void **state)
{
    (void)state;
    const char *subjects[] = {"pcscf"};
    sip_tls_config_t tc = {.verify = SIP_TLS_VERIFY_OUTGOING, .verify_names = 1};
    assert_int_equal(sip_tls_policy(&tc), 0xA); /* TPTLS_VERIFY_SUBJECTS_OUT */
    tc.verify_names = 0;
    assert_int_equal(sip_tls_policy(&tc), 0x2);
    tc.verify = SIP_TLS_VERIFY_INCOMING;
    tc.verify_names = 1;
    assert_int_equal(sip_tls_policy(&tc), 0x1); /* nothing dialled is verified */
    tc.subjects = subjects;
    tc.nsubjects = 1;
    assert_int_equal(sip_tls_policy(&tc), 0x5); /* TPTLS_VERIFY_SUBJECTS_IN */
    tc.verify = SIP_TLS_VERIFY_BOTH;
    assert_int_equal(sip_tls_policy(&tc), 0xF);
    tc.verify = SIP_TLS_VERIFY_NONE;
    assert_int_equal(sip_tls_policy(&tc), 0);
}

/* sofia's own log lines for a refused name (tport_tls.c), and others that are not. */
static void mismatch_lines_parse(void **state)
{
    (void)state;
    char host[64] = "x";
    assert_int_equal(sip_tls_mismatch_line("tls_post_connection_check(0x55d0c0): Peer Subject "
                                           "Mismatch (scscf.example.net)",
                                           host, sizeof host),
                     1);
    assert_string_equal(host, "scscf.example.net");
    assert_int_equal(sip_tls_mismatch_line("tls_post_connection_check(0x1): Peer Subject Mismatch "
                                           "(incoming connection)",
                                           host, sizeof host),
                     1);
    assert_string_equal(host, "");
    assert_int_equal(
        sip_tls_mismatch_line("tls_verify_cb: invalid certificate: subject = /CN=x", host, 64), 0);
    assert_int_equal(sip_tls_mismatch_line("Peer Subject Mismatch (cut", host, sizeof host), 0);
}

static void tls_flow_is_the_target(void **state)
{
    pc_target_t t;
    pc_reach_t outbound = {"tls:192.0.2.1:40001", "sip:ue@192.0.2.1:5061;transport=TLS", 1};
    assert_int_equal(pc_binding_target(&outbound, PC_DELIVER_AUTO, &t), 0);
    assert_string_equal(t.url, "sip:192.0.2.1:40001;transport=tls");
    pc_reach_t same = {"tls:192.0.2.1:40001", "sip:ue@192.0.2.1:40001;transport=tls", 0};
    assert_int_equal(pc_binding_target(&same, PC_DELIVER_AUTO, &t), 0);
    assert_string_equal(t.url, "sip:192.0.2.1:40001;transport=tls");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_values),
        cmocka_unit_test(check_refuses_incomplete_settings),
        cmocka_unit_test(check_refuses_a_file_that_is_no_certificate),
        cmocka_unit_test(tls_flow_is_the_target),
        cmocka_unit_test(policy_adds_the_name_checks),
        cmocka_unit_test(mismatch_lines_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
