/* Unit tests for common/util/log.c: JSON lines with the thread's context (call_id, impu, impi), the
 * text form, escaping, and the context's save/restore and per-thread isolation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util/log.h"

static char path[64];

static int setup_json(void **state)
{
    snprintf(path, sizeof path, "/tmp/test_log.%d.json", (int)getpid());
    unlink(path);
    log_ctx_clear();
    return log_init("scscf", LOG_DEBUG, LOG_FORMAT_JSON, path);
}

static int setup_text(void **state)
{
    snprintf(path, sizeof path, "/tmp/test_log.%d.txt", (int)getpid());
    unlink(path);
    log_ctx_clear();
    return log_init("pcscf", LOG_DEBUG, LOG_FORMAT_TEXT, path);
}

static int teardown(void **state)
{
    log_close();
    log_ctx_clear();
    unlink(path);
    return 0;
}

/* Line n (0-based) of the log file; the caller frees it. */
static char *line_at(int n)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[8192];
    char *out = NULL;
    for (int i = 0; fgets(buf, sizeof buf, f); i++) {
        if (i == n) {
            out = strdup(buf);
            break;
        }
    }
    fclose(f);
    assert_non_null(out);
    return out;
}

static json_t *json_line(int n)
{
    char *text = line_at(n);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, text);
    free(text);
    return j;
}

static const char *field(json_t *j, const char *name)
{
    return json_string_value(json_object_get(j, name));
}

static void test_json_without_context(void **state)
{
    log_info("plain %d", 1);
    json_t *j = json_line(0);
    assert_string_equal(field(j, "level"), "info");
    assert_string_equal(field(j, "program"), "scscf");
    assert_string_equal(field(j, "msg"), "plain 1");
    assert_non_null(field(j, "time"));
    assert_null(json_object_get(j, "call_id"));
    assert_null(json_object_get(j, "impu"));
    assert_null(json_object_get(j, "impi"));
    json_decref(j);
}

static void test_json_with_context(void **state)
{
    log_ctx_begin("abc@host");
    log_ctx_user("sip:alice@ims.test", "alice@ims.test");
    log_warn("registered");
    json_t *j = json_line(0);
    assert_string_equal(field(j, "call_id"), "abc@host");
    assert_string_equal(field(j, "impu"), "sip:alice@ims.test");
    assert_string_equal(field(j, "impi"), "alice@ims.test");
    assert_string_equal(field(j, "level"), "warning");
    json_decref(j);
}

/* An explicit call-id wins over the context's; a new piece of work forgets the user. */
static void test_explicit_call_id_and_begin(void **state)
{
    log_ctx_begin("ctx-id");
    log_ctx_user("sip:bob@ims.test", NULL);
    log_write(LOG_INFO, "explicit-id", "one");
    log_ctx_begin("next-id");
    log_info("two");
    json_t *a = json_line(0), *b = json_line(1);
    assert_string_equal(field(a, "call_id"), "explicit-id");
    assert_string_equal(field(a, "impu"), "sip:bob@ims.test");
    assert_null(json_object_get(a, "impi"));
    assert_string_equal(field(b, "call_id"), "next-id");
    assert_null(json_object_get(b, "impu"));
    json_decref(a);
    json_decref(b);
}

/* What comes off the network goes into the line: it must stay one valid JSON object. */
static void test_json_escaping(void **state)
{
    log_ctx_begin("id\"with\\quotes\nand newline");
    log_ctx_user("sip:\"evil\"@x\r\n{", "\x01\x1f");
    log_info("msg \"quoted\" \t tab");
    json_t *j = json_line(0);
    assert_string_equal(field(j, "call_id"), "id\"with\\quotes\nand newline");
    assert_string_equal(field(j, "impu"), "sip:\"evil\"@x\r\n{");
    assert_string_equal(field(j, "impi"), "\x01\x1f");
    assert_string_equal(field(j, "msg"), "msg \"quoted\" \t tab");
    json_decref(j);
}

/* Bytes that are not UTF-8 (a hostile display name) become U+FFFD; real UTF-8 is kept. */
static void test_json_utf8(void **state)
{
    log_ctx_begin("\xff\xfe");
    log_ctx_user("sip:j\xc3\xbcrgen@ims.test", "\xc0\xaf\xed\xa0\x80\xe2\x82");
    log_info("\x7f\xf0\x9f\x93\x9e");
    json_t *j = json_line(0);
    assert_string_equal(field(j, "call_id"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(field(j, "impu"), "sip:j\xc3\xbcrgen@ims.test");
    assert_int_equal(strspn(field(j, "impi"), "\xef\xbf\xbd"), strlen(field(j, "impi")));
    assert_string_equal(field(j, "msg"), "\x7f\xf0\x9f\x93\x9e");
    json_decref(j);
}

/* A long identity is cut, never overflowing the line or breaking the JSON. */
static void test_long_values(void **state)
{
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_ctx_begin(big);
    log_ctx_user(big, big);
    log_info("%s", big);
    json_t *j = json_line(0);
    assert_true(strlen(field(j, "call_id")) < sizeof(((log_ctx_t *)0)->call_id));
    assert_true(strlen(field(j, "impu")) < sizeof(((log_ctx_t *)0)->impu));
    assert_non_null(field(j, "msg"));
    json_decref(j);
}

static void test_save_restore(void **state)
{
    log_ctx_begin("saved-id");
    log_ctx_user("sip:carol@ims.test", "carol@ims.test");
    log_ctx_t saved;
    log_ctx_save(&saved);
    log_ctx_clear();
    log_info("cleared");
    log_ctx_restore(&saved);
    log_info("restored");
    json_t *a = json_line(0), *b = json_line(1);
    assert_null(json_object_get(a, "call_id"));
    assert_null(json_object_get(a, "impu"));
    assert_string_equal(field(b, "call_id"), "saved-id");
    assert_string_equal(field(b, "impi"), "carol@ims.test");
    json_decref(a);
    json_decref(b);
}

static void *other_thread(void *arg)
{
    log_info("from another thread");
    return NULL;
}

/* The context belongs to the thread that set it: a freeDiameter or HTTP thread's lines do not
 * borrow the SIP loop's user. */
static void test_context_is_per_thread(void **state)
{
    log_ctx_begin("loop-id");
    log_ctx_user("sip:alice@ims.test", "alice@ims.test");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, NULL);
    json_t *j = json_line(0);
    assert_string_equal(field(j, "msg"), "from another thread");
    assert_null(json_object_get(j, "call_id"));
    assert_null(json_object_get(j, "impu"));
    json_decref(j);
}

static void test_text_context(void **state)
{
    log_info("no context");
    log_ctx_begin("cid-1");
    log_info("call only");
    log_ctx_user("sip:alice@ims.test", "alice@ims.test");
    log_info("with user");
    char *a = line_at(0), *b = line_at(1), *c = line_at(2);
    assert_non_null(strstr(a, " pcscf info: no context\n"));
    assert_non_null(strstr(b, " pcscf info: [cid-1] call only\n"));
    assert_non_null(
        strstr(c, " pcscf info: [cid-1 impu=sip:alice@ims.test impi=alice@ims.test] with user\n"));
    free(a);
    free(b);
    free(c);
}

static void test_level_filter(void **state)
{
    log_set_level(LOG_WARNING);
    log_info("hidden");
    log_error("shown");
    log_set_level(LOG_DEBUG);
    json_t *j = json_line(0);
    assert_string_equal(field(j, "msg"), "shown");
    assert_string_equal(field(j, "level"), "error");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_without_context, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_json_with_context, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_call_id_and_begin, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_json_escaping, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_json_utf8, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_long_values, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_save_restore, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_context_is_per_thread, setup_json, teardown),
        cmocka_unit_test_setup_teardown(test_text_context, setup_text, teardown),
        cmocka_unit_test_setup_teardown(test_level_filter, setup_json, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
