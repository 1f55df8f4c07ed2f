/* reg_config.c: the registrar's keys are one table. Every key the read uses is a row of it
 * (cfg_int/cfg_bool abort on a key the table lacks), the reload list is its policy rows, and
 * the min/default/max invariant is checked (once, here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cscf/scscf/registration/reg_config.h"

static const cfg_key_t rows[] = {REG_CONFIG_KEY_ROWS, CFG_END};

static cfg_t *load(const char *yaml)
{
    static const cfg_key_t *const tables[] = {rows, NULL};
    char err[256] = "";
    cfg_t *cfg = cfg_new("TESTR", tables);
    assert_non_null(cfg);
    if (yaml && cfg_load_string(cfg, "t.yaml", yaml, err, sizeof err) < 0)
        fail_msg("%s", err);
    return cfg;
}

static void read_takes_every_policy_from_the_rows(void **state)
{
    cfg_t *cfg = load("registrar:\n  max_contacts: 7\n  allow_direct: false\n");
    registrar_config_t rc;
    reg_config_read(cfg, &rc);
    assert_int_equal(rc.min_expires, 60);
    assert_int_equal(rc.default_expires, 3600);
    assert_int_equal(rc.max_expires, 600000);
    assert_int_equal(rc.max_contacts, 7);
    assert_false(rc.allow_direct);
    assert_false(rc.trust_integrity_protected);
    assert_int_equal(rc.max_auth_failures, 0);
    assert_int_equal(reg_config_auth_timeout_ms(cfg), 30000);
    assert_int_equal(reg_config_max_registrations(cfg), 100000);
    /* the Cx budget of authentication (core/auth_guard.h) */
    assert_int_equal(rc.guard.backoff_base_ms, 1000);
    assert_int_equal(rc.guard.backoff_max_ms, 30000);
    assert_int_equal(rc.guard.free_failures, 1);
    assert_int_equal(rc.guard.impi_burst, 5);
    assert_int_equal(rc.guard.impi_interval_ms, 1000);
    assert_int_equal(rc.guard.mar_rate, 2000);
    assert_int_equal(rc.guard.max_in_flight, 200);
    assert_int_equal(reg_config_auth_guard_entries(cfg), 100000);
    cfg_free(cfg);
}

static void reload_list_is_the_policy_rows(void **state)
{
    static const cfg_key_t policies[] = {REG_CONFIG_POLICY_ROWS, CFG_END};
    size_t n = 0;
    for (const cfg_key_t *k = policies; k->path; k++, n++)
        assert_true(reg_config_reloads(k->path));
    assert_int_equal(n, 14);
    assert_false(reg_config_reloads("registrar.max_registrations"));
    assert_false(reg_config_reloads("registrar.auth_timeout_seconds"));
    assert_false(reg_config_reloads("scscf.next_hop"));
    assert_false(reg_config_reloads("registrar.min"));
}

static void check_refuses_what_does_not_fit(void **state)
{
    char err[256] = "";
    cfg_t *cfg = load("registrar:\n  min_expires: 900\n  max_expires: 600\n");
    assert_int_equal(reg_config_check(cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "min_expires <= max_expires"));
    cfg_free(cfg);
    cfg = load("registrar:\n  min_expires: 900\n  default_expires: 600\n");
    assert_int_equal(reg_config_check(cfg, err, sizeof err), -1);
    cfg_free(cfg);
    cfg = load("registrar:\n  auth_backoff_base_ms: 5000\n  auth_backoff_max_ms: 4000\n");
    assert_int_equal(reg_config_check(cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "auth_backoff_base_ms <= auth_backoff_max_ms"));
    cfg_free(cfg);
    cfg = load(NULL);
    assert_int_equal(reg_config_check(cfg, err, sizeof err), 0);
    cfg_free(cfg);
}

/* The store.* keys become store_open_on()'s options; --check refuses what cannot work. */
static void store_options_and_check(void **state)
{
    char opts[256], err[256] = "";
    cfg_t *cfg = load(NULL);
    assert_int_equal(reg_config_store_options(cfg, opts, sizeof opts), 0);
    assert_string_equal(opts, ""); /* memory without a journal */
    registrar_config_t rc;
    reg_config_read(cfg, &rc);
    assert_int_equal(rc.retry_after, 5);
    assert_true(reg_config_reloads("store.retry_after"));
    assert_false(reg_config_reloads("store.backend"));
    cfg_free(cfg);
    cfg = load("store:\n  journal: /tmp/j\n");
    assert_int_equal(reg_config_store_options(cfg, opts, sizeof opts), 0);
    assert_string_equal(opts, "journal=/tmp/j");
    assert_int_equal(reg_config_check(cfg, err, sizeof err), 0);
    cfg_free(cfg);
    cfg = load("store:\n  backend: redis\n  redis:\n    address: redis:6380\n"
               "    timeout_ms: 250\n    prefix: \"a:\"\n");
    assert_int_equal(reg_config_store_options(cfg, opts, sizeof opts), 0);
    assert_string_equal(opts, "address=redis:6380,timeout_ms=250,prefix=a:");
    assert_int_equal(reg_config_check(cfg, err, sizeof err), 0);
    assert_int_equal(reg_config_store_options(cfg, opts, 10), -1); /* does not fit */
    cfg_free(cfg);
    cfg = load("store:\n  backend: redis\n  journal: /tmp/j\n");
    assert_int_equal(reg_config_check(cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "store.journal"));
    cfg_free(cfg);
    cfg = load("store:\n  journal: /tmp/a,b\n");
    assert_int_equal(reg_config_check(cfg, err, sizeof err), -1);
    cfg_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_takes_every_policy_from_the_rows),
        cmocka_unit_test(reload_list_is_the_policy_rows),
        cmocka_unit_test(check_refuses_what_does_not_fit),
        cmocka_unit_test(store_options_and_check),
    };
    return cmocka_run_group_tests_name("reg_config", tests, NULL, NULL);
}
