/* ifc_cache.c: parsed iFCs kept per IMPI and parsed again only when the profile text changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cscf/scscf/routing/ifc_cache.h"

/* A subscription with n iFCs, each on MESSAGE to its own AS. */
static const char *profile(int n, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len,
                                "<?xml version=\"1.0\"?><IMSSubscription><PrivateID>a@x</PrivateID>"
                                "<ServiceProfile><PublicIdentity><Identity>sip:a@x</Identity>"
                                "</PublicIdentity>");
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, len - k,
                              "<InitialFilterCriteria><Priority>%d</Priority><TriggerPoint>"
                              "<ConditionTypeCNF>1</ConditionTypeCNF><SPT><Group>0</Group>"
                              "<Method>MESSAGE</Method></SPT></TriggerPoint>"
                              "<ApplicationServer><ServerName>sip:as%d@x</ServerName>"
                              "</ApplicationServer></InitialFilterCriteria>",
                              i, i);
    snprintf(buf + k, len - k, "</ServiceProfile></IMSSubscription>");
    return buf;
}

static void same_text_same_list(void **state)
{
    char a[4096];
    ifc_cache_t *c = ifc_cache_new(10);
    const ifc_list_t *l1 = ifc_cache_get(c, "a@x", profile(2, a, sizeof a));
    assert_non_null(l1);
    assert_int_equal(ifc_list_count(l1), 2);
    assert_ptr_equal(ifc_cache_get(c, "a@x", a), l1);
    assert_int_equal(ifc_cache_size(c), 1);
    ifc_cache_free(c);
}

static void new_text_parsed_again(void **state)
{
    char a[4096], b[4096];
    ifc_cache_t *c = ifc_cache_new(10);
    assert_int_equal(ifc_list_count(ifc_cache_get(c, "a@x", profile(1, a, sizeof a))), 1);
    const ifc_list_t *l = ifc_cache_get(c, "a@x", profile(3, b, sizeof b)); /* a PPR */
    assert_non_null(l);
    assert_int_equal(ifc_list_count(l), 3);
    assert_string_equal(ifc_get_as(l, 2)->server_name, "sip:as2@x");
    assert_int_equal(ifc_cache_size(c), 1);
    ifc_cache_free(c);
}

static void bad_or_missing_profile_gives_none(void **state)
{
    ifc_cache_t *c = ifc_cache_new(10);
    assert_null(ifc_cache_get(c, "a@x", "<IMSSubscription><unclosed>"));
    assert_null(ifc_cache_get(c, "a@x", "<IMSSubscription><unclosed>")); /* logged once */
    assert_null(ifc_cache_get(c, "b@x", NULL));
    assert_null(ifc_cache_get(c, NULL, "<x/>"));
    assert_null(ifc_cache_get(c, "b@x", ""));
    ifc_cache_free(c);
}

static void full_cache_starts_again(void **state)
{
    char a[4096], impi[16];
    ifc_cache_t *c = ifc_cache_new(3);
    profile(1, a, sizeof a);
    for (int i = 0; i < 3; i++) {
        snprintf(impi, sizeof impi, "u%d@x", i);
        assert_non_null(ifc_cache_get(c, impi, a));
    }
    assert_int_equal(ifc_cache_size(c), 3);
    assert_non_null(ifc_cache_get(c, "u0@x", a)); /* held: no reset */
    assert_int_equal(ifc_cache_size(c), 3);
    assert_non_null(ifc_cache_get(c, "new@x", a)); /* a fourth: the cache starts again */
    assert_int_equal(ifc_cache_size(c), 1);
    ifc_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_text_same_list),
        cmocka_unit_test(new_text_parsed_again),
        cmocka_unit_test(bad_or_missing_profile_gives_none),
        cmocka_unit_test(full_cache_starts_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
