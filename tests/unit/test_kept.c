/* Unit tests for common/util/kept.c: bytes kept under a key, the first kept stays, entries
 * expire in order after their time, the cap drops the oldest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/util/kept.h"

static void put(kept_table_t *t, const char *key, const char *text, int64_t now)
{
    char *out = kept_put(t, key, strlen(text), now);
    assert_non_null(out);
    memcpy(out, text, strlen(text));
}

static void assert_kept(kept_table_t *t, const char *key, const char *text)
{
    size_t len = 99;
    const char *b = kept_get(t, key, &len);
    assert_non_null(b);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(b, text, len);
}

static void test_keeps_the_first_bytes(void **state)
{
    kept_table_t *t = kept_new(1000, 10);
    put(t, "a", "ACK one", 0);
    assert_null(kept_put(t, "a", 5, 1)); /* a key kept already keeps its first bytes */
    assert_kept(t, "a", "ACK one");
    size_t len;
    assert_null(kept_get(t, "b", &len));
    put(t, "empty", "", 0); /* nothing to send again, but known */
    assert_kept(t, "empty", "");
    assert_int_equal(kept_count(t), 2);
    kept_free(t);
}

static void test_expires_in_order(void **state)
{
    kept_table_t *t = kept_new(1000, 10);
    put(t, "old", "1", 0);
    put(t, "new", "2", 600);
    kept_expire(t, 999);
    assert_int_equal(kept_count(t), 2);
    kept_expire(t, 1000);
    size_t len;
    assert_null(kept_get(t, "old", &len));
    assert_kept(t, "new", "2");
    kept_expire(t, 1600);
    assert_int_equal(kept_count(t), 0);
    put(t, "old", "3", 1700); /* a key can be kept again once forgotten */
    assert_kept(t, "old", "3");
    kept_free(t);
}

static void test_cap_drops_the_oldest(void **state)
{
    kept_table_t *t = kept_new(1000, 2);
    put(t, "a", "1", 0);
    put(t, "b", "2", 1);
    put(t, "c", "3", 2);
    assert_int_equal(kept_count(t), 2);
    size_t len;
    assert_null(kept_get(t, "a", &len));
    assert_kept(t, "b", "2");
    assert_kept(t, "c", "3");
    kept_free(t);
    kept_free(NULL);
    assert_int_equal(kept_count(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_the_first_bytes),
        cmocka_unit_test(test_expires_in_order),
        cmocka_unit_test(test_cap_drops_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
