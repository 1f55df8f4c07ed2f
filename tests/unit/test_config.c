/* config.c: schema-driven YAML, environment overrides, and one clear error per bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ops/config.h"

static const cfg_key_t keys[] = {
    {"sip.listen", CFG_ADDR_LIST, "127.0.0.1:5060", "bind", 0, 0, NULL},
    {"sip.transports", CFG_LIST, "udp,tcp", "transports", 0, 0, NULL},
    {"sip.domain", CFG_STRING, "ims.example.org", "domain", 0, 0, NULL},
    {"sip.next_hop", CFG_SIP_URI, NULL, "next hop", 0, 0, NULL},
    {"log.level", CFG_ENUM, "info", "level", 0, 0, "error|warning|info|debug"},
    {"log.format", CFG_ENUM, "text", "format", 0, 0, "text|json"},
    {"api.listen", CFG_ADDR, "127.0.0.1:8081", "api", 0, 0, NULL},
    {"api.enabled", CFG_BOOL, "true", "on/off", 0, 0, NULL},
    {"shutdown.grace_seconds", CFG_INT, "5", "grace", 0, 300, NULL},
    {"diameter.tls.cert", CFG_STRING, NULL, "nested", 0, 0, NULL},
    {"app.profiles", CFG_RECORD_LIST, "", "records", 0, 0, NULL},
    CFG_END,
};

static cfg_t *new_cfg(void)
{
    static const cfg_key_t *const tables[] = {keys, NULL};
    cfg_t *cfg = cfg_new("TESTP", tables);
    assert_non_null(cfg);
    return cfg;
}

static void expect_error(const char *yaml, const char *needle)
{
    char err[512] = "";
    cfg_t *cfg = new_cfg();
    assert_int_equal(cfg_load_string(cfg, "t.yaml", yaml, err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    cfg_free(cfg);
}

static void defaults_apply(void **state)
{
    cfg_t *cfg = new_cfg();
    const char *const *items;
    assert_int_equal(cfg_list(cfg, "sip.listen", &items), 1);
    assert_string_equal(items[0], "127.0.0.1:5060");
    assert_int_equal(cfg_list(cfg, "sip.transports", &items), 2);
    assert_string_equal(items[1], "tcp");
    assert_int_equal(cfg_int(cfg, "shutdown.grace_seconds"), 5);
    assert_true(cfg_bool(cfg, "api.enabled"));
    assert_null(cfg_str(cfg, "sip.next_hop"));
    assert_false(cfg_is_set(cfg, "sip.domain"));
    cfg_free(cfg);
}

static void good_file(void **state)
{
    const char *yaml = "sip:\n"
                       "  listen: [\"10.0.0.1:5060\", \"[::1]:5070\", \"pcscf.ims.svc:5060\"]\n"
                       "  domain: ims.mnc001.mcc001.3gppnetwork.org\n"
                       "  next_hop: sip:scscf.ims:6060;lr\n"
                       "log: {level: debug, format: json}\n"
                       "api:\n  enabled: no\n"
                       "shutdown:\n  grace_seconds: 30\n"
                       "diameter:\n  tls:\n    cert: /etc/cert.pem\n";
    char err[512] = "";
    cfg_t *cfg = new_cfg();
    assert_int_equal(cfg_load_string(cfg, "t.yaml", yaml, err, sizeof err), 0);
    const char *const *items;
    assert_int_equal(cfg_list(cfg, "sip.listen", &items), 3);
    assert_string_equal(items[1], "[::1]:5070");
    assert_string_equal(cfg_str(cfg, "sip.domain"), "ims.mnc001.mcc001.3gppnetwork.org");
    assert_string_equal(cfg_str(cfg, "log.level"), "debug");
    assert_false(cfg_bool(cfg, "api.enabled"));
    assert_int_equal(cfg_int(cfg, "shutdown.grace_seconds"), 30);
    assert_string_equal(cfg_str(cfg, "diameter.tls.cert"), "/etc/cert.pem");
    assert_true(cfg_is_set(cfg, "sip.domain"));
    cfg_free(cfg);
}

static void empty_file_keeps_defaults(void **state)
{
    char err[256];
    cfg_t *cfg = new_cfg();
    assert_int_equal(cfg_load_string(cfg, "t.yaml", "", err, sizeof err), 0);
    assert_string_equal(cfg_str(cfg, "sip.domain"), "ims.example.org");
    cfg_free(cfg);
}

static void scalar_where_list_expected(void **state)
{
    expect_error("sip: {listen: 12}\n", "t.yaml:1: sip.listen: expected a list of host:port");
}

static void unknown_key_named_with_line(void **state)
{
    expect_error("sip:\n  domain: x\n  lisen: [a]\n", "t.yaml:3: sip.lisen: unknown key");
    expect_error("nosuchsection:\n  a: 1\n", "t.yaml:1: nosuchsection: unknown key");
    expect_error("diameter:\n  tls:\n    key: x\n", "t.yaml:3: diameter.tls.key: unknown key");
}

static void wrong_types(void **state)
{
    expect_error("shutdown: {grace_seconds: soon}\n",
                 "shutdown.grace_seconds: expected an integer");
    expect_error("shutdown: {grace_seconds: 301}\n",
                 "shutdown.grace_seconds: integer out of range");
    expect_error("api: {enabled: maybe}\n", "api.enabled: expected true or false");
    expect_error("log: {format: xml}\n", "log.format: not one of the allowed values");
    expect_error("sip: {domain: [a, b]}\n", "sip.domain: expected a string");
    expect_error("sip: 5\n", "sip: expected a mapping");
    expect_error("sip: {next_hop: 'http://x'}\n", "sip.next_hop: expected a sip: or sips: URI");
    expect_error("sip:\n  listen:\n    - {a: b}\n", "sip.listen: expected a list");
}

static void bad_addresses(void **state)
{
    const char *bad[] = {
        "sip: {listen: [\"1.2.3.4\"]}",       "sip: {listen: [\"1.2.3.4:0\"]}",
        "sip: {listen: [\"1.2.3.4:65536\"]}", "sip: {listen: [\"300.1.1.1:5060\"]}",
        "sip: {listen: [\"::1:5060\"]}",      "sip: {listen: [\"[zz]:5060\"]}",
        "sip: {listen: [\"bad host:5060\"]}", "api: {listen: \":8081\"}",
        "api: {listen: \"host:port\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], "expected host:port");
}

static void yaml_syntax_error(void **state)
{
    expect_error("sip:\n  listen: [unclosed\n", "t.yaml:");
    expect_error("sip:\n  listen: [unclosed\n", "YAML syntax error");
}

static void env_overrides(void **state)
{
    char err[512] = "";
    cfg_t *cfg = new_cfg();
    setenv("TESTP_SIP_LISTEN", "127.0.0.2:5062, 127.0.0.3:5063", 1);
    setenv("TESTP_SHUTDOWN_GRACE_SECONDS", "9", 1);
    setenv("TESTP_DIAMETER_TLS_CERT", "/x.pem", 1);
    setenv("TESTP_SIP_UNKNOWN_THING", "ignored", 1); /* Kubernetes injects such variables */
    assert_int_equal(
        cfg_load_string(cfg, "t.yaml", "shutdown: {grace_seconds: 1}\n", err, sizeof err), 0);
    assert_int_equal(cfg_apply_env(cfg, err, sizeof err), 0);
    const char *const *items;
    assert_int_equal(cfg_list(cfg, "sip.listen", &items), 2);
    assert_string_equal(items[1], "127.0.0.3:5063");
    assert_int_equal(cfg_int(cfg, "shutdown.grace_seconds"), 9);
    assert_string_equal(cfg_str(cfg, "diameter.tls.cert"), "/x.pem");

    setenv("TESTP_API_LISTEN", "nonsense", 1);
    assert_int_equal(cfg_apply_env(cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "environment TESTP_API_LISTEN: api.listen"));
    unsetenv("TESTP_API_LISTEN");
    unsetenv("TESTP_SIP_LISTEN");
    unsetenv("TESTP_SHUTDOWN_GRACE_SECONDS");
    unsetenv("TESTP_DIAMETER_TLS_CERT");
    unsetenv("TESTP_SIP_UNKNOWN_THING");
    cfg_free(cfg);
}

static void env_names(void **state)
{
    char name[64];
    cfg_t *cfg = new_cfg();
    cfg_env_name(cfg, "shutdown.grace_seconds", name, sizeof name);
    assert_string_equal(name, "TESTP_SHUTDOWN_GRACE_SECONDS");
    cfg_free(cfg);
}

static void file_errors(void **state)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "log:\n  level: loud\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (int)strlen(yaml));
    close(fd);
    char err[512] = "";
    cfg_t *cfg = new_cfg();
    assert_int_equal(cfg_load_file(cfg, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: log.level"));
    assert_int_equal(cfg_load_file(cfg, "/nonexistent/x.yaml", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    unlink(path);
    cfg_free(cfg);
}

static void reference_lists_every_key(void **state)
{
    cfg_t *cfg = new_cfg();
    char *ref = cfg_reference(cfg);
    assert_non_null(ref);
    for (size_t i = 0; keys[i].path; i++)
        assert_non_null(strstr(ref, keys[i].path));
    assert_non_null(strstr(ref, "`TESTP_SIP_LISTEN`"));
    free(ref);
    cfg_free(cfg);
}

/* CFG_RECORD_LIST: each mapping kept as "k=v; k=v" in file order; anything else refused. */
static void record_lists(void **state)
{
    char err[512] = "";
    cfg_t *cfg = new_cfg();
    const char *const *items;
    assert_int_equal(cfg_list(cfg, "app.profiles", &items), 0);
    assert_int_equal(cfg_load_string(cfg, "t.yaml",
                                     "app:\n  profiles:\n    - {name: a, user_agent: \"*x y*\"}\n"
                                     "    - name: b\n      tac: \"35\"\n      strip_qop: true\n",
                                     err, sizeof err),
                     0);
    assert_int_equal(cfg_list(cfg, "app.profiles", &items), 2);
    assert_string_equal(items[0], "name=a; user_agent=*x y*");
    assert_string_equal(items[1], "name=b; tac=35; strip_qop=true");
    cfg_free(cfg);
    expect_error("app:\n  profiles: [a, b]\n", "app.profiles: expected a list of mappings");
    expect_error("app:\n  profiles:\n    - {name: [a]}\n", "app.profiles");
    expect_error("app:\n  profiles:\n    - {name: \"a;b\"}\n", "without ';', '=' or ','");
    expect_error("app:\n  profiles: {name: a}\n", "expected a list of mappings");
    setenv("TESTP_APP_PROFILES", "name=a; tac=1, name=b; tac=2", 1);
    cfg = new_cfg();
    assert_int_equal(cfg_apply_env(cfg, err, sizeof err), 0);
    assert_int_equal(cfg_list(cfg, "app.profiles", &items), 2);
    assert_string_equal(items[1], "name=b; tac=2");
    unsetenv("TESTP_APP_PROFILES");
    char *ref = cfg_reference(cfg);
    assert_non_null(strstr(ref, "| `app.profiles` | list of mappings |"));
    free(ref);
    cfg_free(cfg);
}

static void split_addr(void **state)
{
    char host[64];
    int port;
    assert_int_equal(cfg_split_addr("[2001:db8::1]:5060", host, sizeof host, &port), 0);
    assert_string_equal(host, "2001:db8::1");
    assert_int_equal(port, 5060);
    assert_int_equal(cfg_split_addr("scscf.ims.svc.cluster.local:6060", host, sizeof host, &port),
                     0);
    assert_string_equal(host, "scscf.ims.svc.cluster.local");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_apply),
        cmocka_unit_test(good_file),
        cmocka_unit_test(empty_file_keeps_defaults),
        cmocka_unit_test(scalar_where_list_expected),
        cmocka_unit_test(unknown_key_named_with_line),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(bad_addresses),
        cmocka_unit_test(yaml_syntax_error),
        cmocka_unit_test(env_overrides),
        cmocka_unit_test(env_names),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(reference_lists_every_key),
        cmocka_unit_test(split_addr),
        cmocka_unit_test(record_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
