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
#include <time.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_parser.h>

#include "common/ops/metrics.h"
#include "common/sip/dialogs.h"

/* A 200 (to INVITE or BYE) of dialog n, with extra headers (each ending in CRLF). */
static msg_t *response_with(int n, const char *method, const char *extra)
{
    char text[700];
    snprintf(text, sizeof text,
             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK%d\r\n"
             "From: <sip:a@x>;tag=from%d\r\nTo: <sip:b@x>;tag=to%d\r\nCall-ID: call%d@x\r\n"
             "CSeq: 1 %s\r\n%sContent-Length: 0\r\n\r\n",
             n, n, n, n, method, extra);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(msg);
    assert_non_null(sip_object(msg)->sip_call_id);
    return msg;
}

static msg_t *response(int n, const char *method)
{
    return response_with(n, method, "");
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
    dialogs_t *d = dialogs_new(m, 2, 3600, 32, 9);
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

static void acked(dialogs_t *d, int n)
{
    msg_t *m = response(n, "ACK"); /* the same tags and Call-ID as the ACK */
    dialogs_ack(d, sip_object(m));
    msg_destroy(m);
}

/* A call whose 2xx was never ACKed (the caller gave up; the soak's 7,350 "active" dialogs with
 * ~250 calls up) is gone 64*T1 after its 2xx; an ACKed one stays until its BYE or max age. */
static void test_unacked_dialog_goes_after_ack_wait(void **state)
{
    metrics_t *m = metrics_new();
    dialogs_t *d = dialogs_new(m, 10, 3600, 32, 5);
    int64_t t0 = time(NULL);
    answered(d, 1);
    answered(d, 2);
    acked(d, 2);
    dialogs_sweep(d, t0 + 20);
    assert_int_equal(dialogs_count(d), 2); /* the 2xx is still being retransmitted */
    dialogs_sweep(d, t0 + 34);
    assert_int_equal(dialogs_count(d), 1); /* 1 never ACKed */
    msg_t *bye = response(1, "BYE");
    dialogs_bye(d, 200, sip_object(bye)); /* not there any more: nothing happens */
    msg_destroy(bye);
    assert_int_equal(dialogs_count(d), 1);
    dialogs_sweep(d, t0 + 3602);
    assert_int_equal(dialogs_count(d), 0); /* max age */
    char *text = metrics_render(m);
    assert_non_null(strstr(text, "cscf_table_entries{table=\"dialogs\"} 0\n"));
    free(text);
    dialogs_free(d);
    metrics_free(m);
}

/* RFC 4028: a session timer that ran out with no refresh ends the dialog; a 2xx to a refresh
 * (re-INVITE/UPDATE) starts it again. A BYE ends it whatever its answer (RFC 3261 15.1.1). */
static void test_session_timer_and_bye_without_answer(void **state)
{
    metrics_t *m = metrics_new();
    dialogs_t *d = dialogs_new(m, 10, 3600, 32, 5);
    int64_t t0 = time(NULL);
    for (int n = 1; n <= 3; n++) {
        msg_t *ok = response_with(n, "INVITE", "Session-Expires: 90;refresher=uac\r\n");
        dialogs_final(d, 200, sip_object(ok));
        msg_destroy(ok);
        acked(d, n);
    }
    /* The callee refreshes (refresher=uas): its UPDATE's tags are the other way round. */
    char text[600];
    snprintf(text, sizeof text,
             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKu2\r\n"
             "From: <sip:b@x>;tag=to2\r\nTo: <sip:a@x>;tag=from2\r\nCall-ID: call2@x\r\n"
             "CSeq: 2 UPDATE\r\nSession-Expires: 1800\r\nContent-Length: 0\r\n\r\n");
    msg_t *refresh = msg_make(sip_default_mclass(), 0, text, strlen(text));
    assert_non_null(refresh);
    dialogs_refresh(d, sip_object(refresh));
    msg_destroy(refresh);
    msg_t *bye = response(3, "BYE"); /* the BYE as sent: no answer came back */
    dialogs_bye(d, 408, sip_object(bye));
    msg_destroy(bye);
    assert_int_equal(dialogs_count(d), 2);
    dialogs_sweep(d, t0 + 90 + 30);
    assert_int_equal(dialogs_count(d), 2); /* within the margin of a refresh in progress */
    dialogs_sweep(d, t0 + 90 + 34);
    assert_int_equal(dialogs_count(d), 1); /* 1 ran out; 2 was refreshed */
    dialogs_sweep(d, t0 + 1800 + 34);
    assert_int_equal(dialogs_count(d), 0);
    dialogs_free(d);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_refuses_new_calls_until_one_ends),
        cmocka_unit_test(test_unacked_dialog_goes_after_ack_wait),
        cmocka_unit_test(test_session_timer_and_bye_without_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
