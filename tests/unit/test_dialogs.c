/* Unit tests for common/sip/dialogs.c under limits.dialogs: new calls are refused at the cap
 * (dialogs_admit), counted in cscf_table_refused_total{table="dialogs"}, admitted again once a
 * BYE ends one; the table never holds more than its cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_parser.h>

#include "common/ops/metrics.h"
#include "common/sip/dialogs.h"

/* A 200 (to INVITE or BYE) of dialog n. */
static msg_t *response(int n, const char *method)
{
    char text[600];
    snprintf(text, sizeof text,
             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK%d\r\n"
             "From: <sip:a@x>;tag=from%d\r\nTo: <sip:b@x>;tag=to%d\r\nCall-ID: call%d@x\r\n"
             "CSeq: 1 %s\r\nContent-Length: 0\r\n\r\n",
             n, n, n, n, method);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(msg);
    assert_non_null(sip_object(msg)->sip_call_id);
    return msg;
}

static void answered(dialogs_t *d, int n)
{
    msg_t *m = response(n, "INVITE");
    dialogs_final(d, 200, sip_object(m));
    msg_destroy(m);
}

static void test_cap_refuses_new_calls_until_one_ends(void **state)
{
    metrics_t *m = metrics_new();
    dialogs_t *d = dialogs_new(m, 2, 3600, 9);
    assert_non_null(d);
    assert_int_equal(dialogs_admit(d), 1);
    answered(d, 1);
    answered(d, 2);
    assert_int_equal(dialogs_count(d), 2);
    assert_int_equal(dialogs_admit(d), 0);
    assert_string_equal(dialogs_retry_after(d), "9");
    answered(d, 3); /* answered meanwhile (admitted before the cap): the oldest goes */
    assert_int_equal(dialogs_count(d), 2);
    msg_t *bye = response(3, "BYE"); /* 3 is there for sure (1 and 2 are as old) */
    dialogs_bye(d, 200, sip_object(bye));
    msg_destroy(bye);
    assert_int_equal(dialogs_count(d), 1);
    assert_int_equal(dialogs_admit(d), 1);
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "cscf_table_refused_total{table=\"dialogs\"} 1\n"));
    assert_non_null(strstr(text, "cscf_table_capacity{table=\"dialogs\"} 2\n"));
    assert_non_null(strstr(text, "cscf_table_entries{table=\"dialogs\"} 1\n"));
    free(text);
    dialogs_free(d);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_refuses_new_calls_until_one_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
