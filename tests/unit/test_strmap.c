/* Unit tests for common/util/strmap.c: put, replace, get, take and sweep, across the bucket
 * array's growth and its shrinking once emptied (the heap it held is given back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "common/util/heap.h"
#include "common/util/strmap.h"

#define N 100000

static void key_of(char *buf, size_t n, int i)
{
    snprintf(buf, n, "z9hG4bK-%d", i);
}

static void fill(strmap_t *m, int from, int to)
{
    char key[32];
    for (int i = from; i < to; i++) {
        key_of(key, sizeof key, i);
        assert_int_equal(strmap_put(m, key, (void *)(intptr_t)(i + 1), NULL), 0);
    }
}

static void test_put_get_replace_take(void **state)
{
    (void)state;
    strmap_t *m = strmap_new();
    assert_non_null(m);
    fill(m, 0, 1000);
    assert_int_equal(strmap_size(m), 1000);
    void *old = NULL;
    assert_int_equal(strmap_put(m, "z9hG4bK-7", (void *)(intptr_t)-1, &old), 0);
    assert_ptr_equal(old, (void *)(intptr_t)8);
    assert_int_equal(strmap_size(m), 1000); /* replaced, not added */
    char key[32];
    for (int i = 0; i < 1000; i++) {
        key_of(key, sizeof key, i);
        void *want = (void *)(intptr_t)(i == 7 ? -1 : i + 1);
        assert_ptr_equal(strmap_get(m, key), want);
        assert_ptr_equal(strmap_take(m, key), want);
        assert_null(strmap_get(m, key));
        /* what is left is still found while the buckets shrink under it */
        if (i + 1 < 1000) {
            key_of(key, sizeof key, 999);
            assert_ptr_equal(strmap_get(m, key), (void *)(intptr_t)1000);
        }
    }
    assert_int_equal(strmap_size(m), 0);
    assert_null(strmap_take(m, "absent"));
    strmap_free(m, NULL);
}

static int odd_ones(void *ctx, const char *key, void *val)
{
    (void)key;
    *(int *)ctx += 1;
    return ((intptr_t)val & 1) ? 1 : 0;
}

static int all(void *ctx, const char *key, void *val)
{
    (void)ctx, (void)key, (void)val;
    return 1;
}

/* A flood fills the map, then it empties: the buckets' array (1 MiB for 100,000 entries) is
 * handed back, by take and by sweep alike. */
static void test_buckets_given_back(void **state)
{
    (void)state;
    size_t base = heap_in_use();
    strmap_t *m = strmap_new();
    size_t empty = heap_in_use() - base;
    fill(m, 0, N);
    size_t full = heap_in_use() - base;
    assert_true(full > empty + N * sizeof(void *));
    char key[32];
    for (int i = 0; i < N; i++) {
        key_of(key, sizeof key, i);
        assert_ptr_equal(strmap_take(m, key), (void *)(intptr_t)(i + 1));
    }
    assert_int_equal(heap_in_use() - base, empty);

    fill(m, 0, N);
    int seen = 0;
    strmap_sweep(m, odd_ones, &seen);
    assert_int_equal(seen, N);
    assert_int_equal(strmap_size(m), N / 2);
    for (int i = 0; i < N; i++) {
        key_of(key, sizeof key, i);
        assert_ptr_equal(strmap_get(m, key), (i + 1) & 1 ? NULL : (void *)(intptr_t)(i + 1));
    }
    strmap_sweep(m, all, NULL);
    assert_int_equal(strmap_size(m), 0);
    assert_int_equal(heap_in_use() - base, empty);
    fill(m, 0, 10); /* and it grows again */
    assert_int_equal(strmap_size(m), 10);
    strmap_free(m, NULL);
    assert_int_equal(heap_in_use(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_replace_take),
        cmocka_unit_test(test_buckets_given_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
