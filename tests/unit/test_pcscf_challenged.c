/* The nonces of the 401s the P-CSCF relayed (cscf/pcscf/challenged.c): an answer is found once,
 * not after it expired, never for a nonce not noted; a full table makes room with the entry
 * closest to expiry and does not grow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "cscf/pcscf/challenged.h"

static void an_answer_is_found_once(void **state)
{
    (void)state;
    pc_challenged_t *c = pc_challenged_new(1024, 30000, 42);
    assert_non_null(c);
    pc_challenged_note(c, "bm9uY2UtMQ==", 1000);
    assert_false(pc_challenged_take(c, "bm9uY2UtMg==", 1001)); /* another nonce */
    assert_false(pc_challenged_take(c, "", 1001));
    assert_false(pc_challenged_take(c, NULL, 1001));
    assert_true(pc_challenged_take(c, "bm9uY2UtMQ==", 1001));
    assert_false(pc_challenged_take(c, "bm9uY2UtMQ==", 1002)); /* taken */
    pc_challenged_free(c);
}

static void a_nonce_expires(void **state)
{
    (void)state;
    pc_challenged_t *c = pc_challenged_new(64, 30000, 7);
    pc_challenged_note(c, "late", 0);
    pc_challenged_note(c, "in-time", 0);
    assert_true(pc_challenged_take(c, "in-time", 29999));
    assert_false(pc_challenged_take(c, "late", 30000));
    pc_challenged_free(c);
}

/* A 401 retransmitted is noted twice but answered once: one entry, renewed. */
static void noted_twice_taken_once(void **state)
{
    (void)state;
    pc_challenged_t *c = pc_challenged_new(64, 1000, 7);
    pc_challenged_note(c, "again", 0);
    pc_challenged_note(c, "again", 900);
    assert_true(pc_challenged_take(c, "again", 1500)); /* the renewal counts */
    assert_false(pc_challenged_take(c, "again", 1500));
    pc_challenged_free(c);
}

/* Ten times more challenges than slots: the table keeps working in its fixed size, and the
 * latest ones, noted after the others, are the ones still found. */
static void a_full_table_keeps_the_latest(void **state)
{
    (void)state;
    enum { SLOTS = 256, N = 2560 };
    pc_challenged_t *c = pc_challenged_new(SLOTS, 60000, 99);
    char nonce[32];
    for (int i = 0; i < N; i++) {
        snprintf(nonce, sizeof nonce, "n%d", i);
        pc_challenged_note(c, nonce, i); /* each later than the one before */
    }
    int recent = 0, old = 0;
    for (int i = 0; i < N; i++) {
        snprintf(nonce, sizeof nonce, "n%d", i);
        int found = pc_challenged_take(c, nonce, N);
        if (i >= N - 64)
            recent += found;
        else
            old += found;
    }
    assert_true(recent >= 60); /* of the last 64 (a neighbourhood of 8 may still overflow) */
    assert_true(old + recent <= SLOTS);
    pc_challenged_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_answer_is_found_once),
        cmocka_unit_test(a_nonce_expires),
        cmocka_unit_test(noted_twice_taken_once),
        cmocka_unit_test(a_full_table_keeps_the_latest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
