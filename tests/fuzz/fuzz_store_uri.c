/* libFuzzer: which stored contact a REGISTER's Contact names (common/store/store_uri.c): SIP URI
 * equality by RFC 3261 19.1.4 (escapes, case, parameters in any order) and +sip.instance. The
 * input is two URIs (and two instances) separated by newlines; equality must be symmetric, and a
 * URI must name the contact stored with that very URI. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/store/store.h"

/* The next newline-separated field of *s (NUL-terminated in place). */
static char *field(char **s)
{
    char *f = *s, *nl = strchr(f, '\n');
    if (nl) {
        *nl = '\0';
        *s = nl + 1;
    } else {
        *s = f + strlen(f);
    }
    return f;
}

/* A registration holding one contact with uri (and instance, when not empty). */
static store_reg_t *holding(const char *uri, const char *instance)
{
    store_reg_t *r = store_reg_new("fuzz@example.org");
    store_contact_t *c = r ? store_reg_add_contact(r) : NULL;
    if (!c || store_contact_set(&c->uri, uri) < 0 ||
        (*instance && store_contact_set(&c->instance, instance) < 0))
        abort();
    c->reg_id = 1;
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *rest = text;
    const char *a = field(&rest), *b = field(&rest), *ia = field(&rest), *ib = field(&rest);
    store_reg_t *ra = holding(a, ""), *rb = holding(b, "");
    int ab = store_reg_find_contact(ra, b, NULL, 0) != NULL;
    int ba = store_reg_find_contact(rb, a, NULL, 0) != NULL;
    if (ab != ba)
        abort(); /* equality is symmetric */
    if (!store_reg_find_contact(ra, a, NULL, 0))
        abort(); /* a contact is named by the URI it was stored with */
    store_reg_t *ri = holding(a, ia);
    if (*ia) { /* instances: symmetric too, and the stored one names itself */
        store_reg_t *rj = holding(b, ib);
        int ij = store_reg_find_contact(ri, NULL, ib, 0) != NULL;
        int ji = *ib && store_reg_find_contact(rj, NULL, ia, 0) != NULL;
        if (*ib && ij != ji)
            abort();
        if (!store_reg_find_contact(ri, NULL, ia, 1) || store_reg_find_contact(ri, NULL, ia, 2))
            abort(); /* reg-id 1 was stored; 0 matches any, 2 none */
        store_reg_free(rj);
    }
    store_reg_free(ri);
    store_reg_free(ra);
    store_reg_free(rb);
    free(text);
    return 0;
}
