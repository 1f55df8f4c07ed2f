#include "diameter/hss/subscriber.h"

#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util/hex.h"

/* ---- names ---- */

static const struct {
    const char *name;
    hss_scheme_t scheme;
} scheme_names[] = {
    {"AKAv1-MD5", HSS_SCHEME_AKAV1},
    {"AKAv2-MD5", HSS_SCHEME_AKAV2},
    {"MD5", HSS_SCHEME_MD5},
    {"Digest-AKAv1-MD5", HSS_SCHEME_AKAV1},
    {"Digest-AKAv2-MD5", HSS_SCHEME_AKAV2},
    {"Digest-MD5", HSS_SCHEME_MD5},
    {"SIP Digest", HSS_SCHEME_MD5},
};

static const char *const session_cases[] = {"originating", "terminating_registered",
                                            "terminating_unregistered", "originating_unregistered",
                                            "originating_cdiv"};

#define N_SESSION_CASES (sizeof session_cases / sizeof session_cases[0])

int hss_scheme_parse(const char *name, hss_scheme_t *out)
{
    for (size_t i = 0; i < sizeof scheme_names / sizeof scheme_names[0]; i++) {
        if (strcasecmp(name, scheme_names[i].name) == 0) {
            *out = scheme_names[i].scheme;
            return 0;
        }
    }
    return -1;
}

const char *hss_scheme_name(hss_scheme_t scheme)
{
    switch (scheme) {
    case HSS_SCHEME_AKAV1:
        return "AKAv1-MD5";
    case HSS_SCHEME_AKAV2:
        return "AKAv2-MD5";
    case HSS_SCHEME_MD5:
        return "MD5";
    }
    return NULL;
}

const char *hss_session_case_name(int session_case)
{
    if (session_case < 0 || (size_t)session_case >= N_SESSION_CASES)
        return NULL;
    return session_cases[session_case];
}

/* ---- freeing and lookups ---- */

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void ifc_clear(hss_ifc_t *ifc)
{
    for (size_t i = 0; i < ifc->nspts; i++) {
        free(ifc->spts[i].value);
        free(ifc->spts[i].content);
    }
    free(ifc->spts);
    free(ifc->as_uri);
    free(ifc->service_info);
    memset(ifc, 0, sizeof *ifc);
}

void hss_subscriber_clear(hss_subscriber_t *s)
{
    if (!s)
        return;
    free(s->impi);
    free_strings(s->impus, s->nimpus);
    if (s->password) {
        explicit_bzero(s->password, strlen(s->password));
        free(s->password);
    }
    free_strings(s->barred, s->nbarred);
    for (size_t i = 0; i < s->nifcs; i++)
        ifc_clear(&s->ifcs[i]);
    free(s->ifcs);
    explicit_bzero(s, sizeof *s);
}

static int in_list(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

int hss_subscriber_has_impu(const hss_subscriber_t *s, const char *impu)
{
    return impu && in_list(s->impus, s->nimpus, impu);
}

int hss_subscriber_is_barred(const hss_subscriber_t *s, const char *impu)
{
    return impu && in_list(s->barred, s->nbarred, impu);
}

/* ---- validation helpers ---- */

typedef struct {
    char *err;
    size_t errlen;
} verr_t;

/* Writes "WHERE.FIELD: reason" (either part may be empty) and returns -1. */
static int fail(verr_t *e, const char *where, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(verr_t *e, const char *where, const char *field, const char *fmt, ...)
{
    if (!e->err || !e->errlen)
        return -1;
    int n = 0;
    if (*where || field)
        n = snprintf(e->err, e->errlen, "%s%s%s: ", where, *where && field ? "." : "",
                     field ? field : "");
    if (n < 0 || (size_t)n >= e->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err + n, e->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_fields(verr_t *e, const char *where, const json_t *obj, const char *const *allowed)
{
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            return fail(e, where, key, "unknown field");
    }
    return 0;
}

enum { STR_WORD, STR_TEXT }; /* WORD: no spaces or control characters; TEXT: tab/newline allowed */

static int text_ok(const char *s, int kind)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x7f ||
            (*p < 0x20 && (kind == STR_WORD || (*p != '\t' && *p != '\n' && *p != '\r'))))
            return 0;
        if (kind == STR_WORD && *p == ' ')
            return 0;
    }
    return 1;
}

static int str_value(verr_t *e, const char *where, const char *field, const json_t *v, int kind,
                     const char **out)
{
    if (!json_is_string(v))
        return fail(e, where, field, "expected a string");
    const char *s = json_string_value(v);
    if (json_string_length(v) != strlen(s))
        return fail(e, where, field, "must not contain NUL characters");
    if (!*s)
        return fail(e, where, field, "must not be empty");
    if (!text_ok(s, kind))
        return fail(e, where, field,
                    kind == STR_WORD ? "must not contain spaces or control characters"
                                     : "must not contain control characters");
    *out = s;
    return 0;
}

/* A string member: *out is NULL when absent and not required. */
static int opt_str(verr_t *e, const char *where, const json_t *obj, const char *field, int required,
                   int kind, const char **out)
{
    const json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v)
        return required ? fail(e, where, field, "required") : 0;
    return str_value(e, where, field, v, kind, out);
}

static int parse_uint(const char *s, long *out)
{
    if (!*s || strlen(s) > 10)
        return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* An integer 0..INT_MAX, as a JSON integer or a string of digits. */
static int opt_int(verr_t *e, const char *where, const json_t *obj, const char *field, int required,
                   int dflt, int *out)
{
    const json_t *v = json_object_get(obj, field);
    long l = 0;
    if (!v) {
        if (required)
            return fail(e, where, field, "required");
        *out = dflt;
        return 0;
    }
    if (json_is_integer(v))
        l = (long)json_integer_value(v);
    else if (!json_is_string(v) || parse_uint(json_string_value(v), &l) < 0)
        l = -1;
    if (l < 0 || l > INT_MAX)
        return fail(e, where, field, "expected an integer >= 0");
    *out = (int)l;
    return 0;
}

/* A boolean, as JSON true/false or the strings true/false/yes/no (any case). */
static int opt_bool(verr_t *e, const char *where, const json_t *obj, const char *field, int *out)
{
    const json_t *v = json_object_get(obj, field);
    *out = 0;
    if (!v)
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
        return *out = 1, 0;
    if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
        return 0;
    return fail(e, where, field, "expected true or false");
}

/* n bytes as 2n hex digits; dflt (hex) when absent, or required when dflt is NULL. */
static int get_hex(verr_t *e, const json_t *obj, const char *field, const char *dflt, uint8_t *out,
                   size_t n)
{
    const json_t *v = json_object_get(obj, field);
    if (!v && !dflt)
        return fail(e, "", field, "required");
    const char *s = v ? (json_is_string(v) ? json_string_value(v) : "") : dflt;
    if ((v && json_string_length(v) != 2 * n) || hex_decode(s, out, n) < 0)
        return fail(e, "", field, "expected %zu hex digits", 2 * n);
    return 0;
}

/* A list member: *out is NULL when absent. */
static int opt_list(verr_t *e, const char *where, const json_t *obj, const char *field,
                    const json_t **out)
{
    *out = json_object_get(obj, field);
    if (*out && !json_is_array(*out))
        return fail(e, where, field, "expected a list");
    return 0;
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0 && s[strlen(prefix)] != '\0';
}

static int uri_chars_ok(const char *s)
{
    return strpbrk(s, "<>\"") == NULL;
}

/* RFC 3261 token (SIP methods and header names). */
static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-.!%*_+`'~", *p)))
            return 0;
    }
    return 1;
}

static int dup_str(verr_t *e, const char *s, char **out)
{
    if (!s) {
        *out = NULL;
        return 0;
    }
    *out = strdup(s);
    if (!*out)
        return fail(e, "", NULL, "out of memory");
    return 0;
}

static void *alloc_array(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

/* ---- subscriber fields ---- */

static int parse_impus(verr_t *e, const json_t *obj, hss_subscriber_t *s)
{
    const json_t *list;
    if (opt_list(e, "", obj, "impus", &list) < 0)
        return -1;
    if (!list)
        return fail(e, "", "impus", "required");
    size_t n = json_array_size(list);
    if (n == 0)
        return fail(e, "", "impus", "expected a non-empty list");
    s->impus = alloc_array(n, sizeof *s->impus);
    if (!s->impus)
        return fail(e, "", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char field[48];
        const char *u;
        snprintf(field, sizeof field, "impus[%zu]", i);
        if (str_value(e, "", field, json_array_get(list, i), STR_WORD, &u) < 0)
            return -1;
        if (!(has_prefix(u, "sip:") || has_prefix(u, "sips:") || has_prefix(u, "tel:")) ||
            !uri_chars_ok(u))
            return fail(e, "", field, "expected a sip:, sips: or tel: URI");
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->impus[j], u) == 0)
                return fail(e, "", field, "duplicate of impus[%zu]", j);
        if (dup_str(e, u, &s->impus[i]) < 0)
            return -1;
        s->nimpus++;
    }
    return 0;
}

static int parse_keys(verr_t *e, const json_t *obj, hss_subscriber_t *s)
{
    const json_t *op = json_object_get(obj, "op"), *opc = json_object_get(obj, "opc");
    if (get_hex(e, obj, "k", NULL, s->k, sizeof s->k) < 0)
        return -1;
    if (op && opc)
        return fail(e, "", "op", "give either op or opc, not both");
    if (!op && !opc)
        return fail(e, "", "opc", "required (or op)");
    s->op_is_opc = opc != NULL;
    if (get_hex(e, obj, opc ? "opc" : "op", NULL, s->op, sizeof s->op) < 0)
        return -1;
    if (get_hex(e, obj, "amf", "8000", s->amf, sizeof s->amf) < 0)
        return -1;
    uint8_t sqn[6];
    if (get_hex(e, obj, "sqn", "000000000000", sqn, sizeof sqn) < 0)
        return -1;
    s->sqn = 0;
    for (size_t i = 0; i < sizeof sqn; i++)
        s->sqn = s->sqn << 8 | sqn[i];
    return 0;
}

static int parse_schemes(verr_t *e, const json_t *obj, hss_subscriber_t *s)
{
    const json_t *list;
    if (opt_list(e, "", obj, "auth_schemes", &list) < 0)
        return -1;
    if (!list) {
        s->schemes = HSS_SCHEME_AKAV1;
        return 0;
    }
    if (json_array_size(list) == 0)
        return fail(e, "", "auth_schemes", "expected a non-empty list");
    for (size_t i = 0; i < json_array_size(list); i++) {
        char field[48];
        const char *name;
        hss_scheme_t sc;
        snprintf(field, sizeof field, "auth_schemes[%zu]", i);
        if (str_value(e, "", field, json_array_get(list, i), STR_TEXT, &name) < 0)
            return -1;
        if (hss_scheme_parse(name, &sc) < 0)
            return fail(e, "", field, "unknown scheme '%s' (allowed: AKAv1-MD5, AKAv2-MD5, MD5)",
                        name);
        if (s->schemes & sc)
            return fail(e, "", field, "duplicate scheme %s", hss_scheme_name(sc));
        s->schemes |= sc;
    }
    return 0;
}

static int parse_barred(verr_t *e, const json_t *obj, hss_subscriber_t *s)
{
    const json_t *list;
    if (opt_list(e, "", obj, "barred_impus", &list) < 0)
        return -1;
    if (!list)
        return 0;
    size_t n = json_array_size(list);
    s->barred = alloc_array(n, sizeof *s->barred);
    if (!s->barred)
        return fail(e, "", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char field[48];
        const char *u;
        snprintf(field, sizeof field, "barred_impus[%zu]", i);
        if (str_value(e, "", field, json_array_get(list, i), STR_WORD, &u) < 0)
            return -1;
        if (!in_list(s->impus, s->nimpus, u))
            return fail(e, "", field, "'%s' is not one of impus", u);
        if (strcmp(u, s->impus[0]) == 0)
            return fail(e, "", field, "the default IMPU (impus[0]) cannot be barred");
        if (in_list(s->barred, s->nbarred, u))
            return fail(e, "", field, "duplicate");
        if (dup_str(e, u, &s->barred[i]) < 0)
            return -1;
        s->nbarred++;
    }
    return 0;
}

/* ---- initial filter criteria ---- */

static const char *const spt_kinds[] = {"method", "session_case", "header", "request_uri"};

static int parse_session_case(verr_t *e, const char *where, const char *s, int *out)
{
    for (size_t i = 0; i < N_SESSION_CASES; i++) {
        if (strcmp(s, session_cases[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return fail(e, where, "session_case",
                "expected one of originating, terminating_registered, terminating_unregistered, "
                "originating_unregistered, originating_cdiv");
}

static int regex_ok(const char *re)
{
    regex_t r;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    regfree(&r);
    return 1;
}

/* Which of method/session_case/header/request_uri the trigger has: exactly one. */
static int spt_kind(verr_t *e, const char *where, const json_t *obj, hss_spt_kind_t *kind)
{
    char got[80] = "";
    int n = 0;
    for (size_t i = 0; i < 4; i++) {
        if (!json_object_get(obj, spt_kinds[i]))
            continue;
        *kind = (hss_spt_kind_t)i;
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", n ? " and " : "",
                 spt_kinds[i]);
        n++;
    }
    if (n == 1)
        return 0;
    if (n == 0)
        return fail(e, where, NULL, "expected one of method, session_case, header or request_uri");
    return fail(e, where, NULL,
                "give exactly one of method, session_case, header, request_uri "
                "(got %s)",
                got);
}

static int parse_spt(verr_t *e, const char *where, const json_t *obj, hss_spt_t *spt)
{
    static const char *const fields[] = {"group",  "negated", "method",      "session_case",
                                         "header", "content", "request_uri", NULL};
    if (!json_is_object(obj))
        return fail(e, where, NULL, "expected a mapping");
    if (check_fields(e, where, obj, fields) < 0 || spt_kind(e, where, obj, &spt->kind) < 0 ||
        opt_int(e, where, obj, "group", 0, 0, &spt->group) < 0 ||
        opt_bool(e, where, obj, "negated", &spt->negated) < 0)
        return -1;
    const char *field = spt_kinds[spt->kind], *value, *content;
    if (opt_str(e, where, obj, field, 1, STR_TEXT, &value) < 0 ||
        opt_str(e, where, obj, "content", 0, STR_TEXT, &content) < 0)
        return -1;
    if (content && spt->kind != SPT_HEADER)
        return fail(e, where, "content", "only allowed with header");
    switch (spt->kind) {
    case SPT_METHOD:
        if (!is_token(value))
            return fail(e, where, field, "expected a SIP method token");
        break;
    case SPT_HEADER:
        if (!is_token(value))
            return fail(e, where, field, "expected a SIP header name");
        if (content && !regex_ok(content))
            return fail(e, where, "content", "not a valid (POSIX extended) regular expression");
        break;
    case SPT_SESSION_CASE:
        return parse_session_case(e, where, value, &spt->session_case);
    case SPT_REQUEST_URI:
        if (!text_ok(value, STR_WORD))
            return fail(e, where, field, "must not contain spaces or control characters");
        break;
    }
    return dup_str(e, value, &spt->value) < 0 || dup_str(e, content, &spt->content) < 0 ? -1 : 0;
}

static int parse_enum2(verr_t *e, const char *where, const json_t *obj, const char *field,
                       const char *zero, const char *one, int dflt, int *out)
{
    const char *s;
    if (opt_str(e, where, obj, field, 0, STR_WORD, &s) < 0)
        return -1;
    if (!s)
        *out = dflt;
    else if (strcmp(s, zero) == 0)
        *out = 0;
    else if (strcmp(s, one) == 0)
        *out = 1;
    else
        return fail(e, where, field, "expected %s or %s", zero, one);
    return 0;
}

static int parse_triggers(verr_t *e, const char *where, const json_t *obj, hss_ifc_t *ifc)
{
    const json_t *list;
    if (opt_list(e, where, obj, "triggers", &list) < 0)
        return -1;
    if (!list)
        return 0;
    size_t n = json_array_size(list);
    ifc->spts = alloc_array(n, sizeof *ifc->spts);
    if (!ifc->spts)
        return fail(e, "", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char at[96];
        snprintf(at, sizeof at, "%s.triggers[%zu]", where, i);
        ifc->nspts++;
        if (parse_spt(e, at, json_array_get(list, i), &ifc->spts[i]) < 0)
            return -1;
    }
    return 0;
}

static int parse_ifc(verr_t *e, const char *where, const json_t *obj, hss_ifc_t *ifc)
{
    static const char *const fields[] = {"priority",
                                         "condition",
                                         "triggers",
                                         "as",
                                         "default_handling",
                                         "service_info",
                                         "include_register_request",
                                         "include_register_response",
                                         NULL};
    const char *as, *info;
    int dnf;
    if (!json_is_object(obj))
        return fail(e, where, NULL, "expected a mapping");
    if (check_fields(e, where, obj, fields) < 0 ||
        opt_int(e, where, obj, "priority", 1, 0, &ifc->priority) < 0 ||
        parse_enum2(e, where, obj, "condition", "cnf", "dnf", 0, &dnf) < 0 ||
        parse_triggers(e, where, obj, ifc) < 0 ||
        opt_str(e, where, obj, "as", 1, STR_WORD, &as) < 0)
        return -1;
    ifc->cnf = !dnf;
    if (!(has_prefix(as, "sip:") || has_prefix(as, "sips:")) || !uri_chars_ok(as))
        return fail(e, where, "as", "expected a sip: or sips: URI");
    if (parse_enum2(e, where, obj, "default_handling", "session_continued", "session_terminated", 0,
                    &ifc->default_handling) < 0 ||
        opt_str(e, where, obj, "service_info", 0, STR_TEXT, &info) < 0 ||
        opt_bool(e, where, obj, "include_register_request", &ifc->include_register_request) < 0 ||
        opt_bool(e, where, obj, "include_register_response", &ifc->include_register_response) < 0)
        return -1;
    return dup_str(e, as, &ifc->as_uri) < 0 || dup_str(e, info, &ifc->service_info) < 0 ? -1 : 0;
}

static int parse_ifcs(verr_t *e, const json_t *obj, hss_subscriber_t *s)
{
    const json_t *list;
    if (opt_list(e, "", obj, "ifc", &list) < 0)
        return -1;
    if (!list)
        return 0;
    size_t n = json_array_size(list);
    s->ifcs = alloc_array(n, sizeof *s->ifcs);
    if (!s->ifcs)
        return fail(e, "", NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char at[32];
        snprintf(at, sizeof at, "ifc[%zu]", i);
        s->nifcs++;
        if (parse_ifc(e, at, json_array_get(list, i), &s->ifcs[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (s->ifcs[j].priority == s->ifcs[i].priority)
                return fail(e, at, "priority", "%d is also the priority of ifc[%zu]",
                            s->ifcs[i].priority, j);
    }
    return 0;
}

static int parse_subscriber(verr_t *e, const json_t *obj, hss_subscriber_t *s)
{
    static const char *const fields[] = {"impi",     "impus",        "k",   "op",
                                         "opc",      "amf",          "sqn", "auth_schemes",
                                         "password", "barred_impus", "ifc", NULL};
    const char *impi, *password;
    if (!json_is_object(obj))
        return fail(e, "", NULL, "expected a mapping (JSON object)");
    if (check_fields(e, "", obj, fields) < 0 ||
        opt_str(e, "", obj, "impi", 1, STR_WORD, &impi) < 0 || dup_str(e, impi, &s->impi) < 0 ||
        parse_impus(e, obj, s) < 0 || parse_keys(e, obj, s) < 0 || parse_schemes(e, obj, s) < 0 ||
        opt_str(e, "", obj, "password", 0, STR_TEXT, &password) < 0)
        return -1;
    if ((s->schemes & HSS_SCHEME_MD5) && !password)
        return fail(e, "", "password", "required when auth_schemes includes MD5");
    if (dup_str(e, password, &s->password) < 0)
        return -1;
    return parse_barred(e, obj, s) < 0 || parse_ifcs(e, obj, s) < 0 ? -1 : 0;
}

int hss_subscriber_from_json(const json_t *obj, hss_subscriber_t *out, char *err, size_t errlen)
{
    verr_t e = {err, errlen};
    hss_subscriber_t s;
    memset(&s, 0, sizeof s);
    if (parse_subscriber(&e, obj, &s) < 0) {
        hss_subscriber_clear(&s);
        return -1;
    }
    *out = s;
    explicit_bzero(&s, sizeof s);
    return 0;
}

/* ---- to JSON ---- */

static int put(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char hex[33];
    hex_encode(b, n, hex);
    json_t *v = json_string(hex);
    explicit_bzero(hex, sizeof hex);
    return v;
}

static json_t *string_list(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *spt_json(const hss_spt_t *spt)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int rc =
        put(o, "group", json_integer(spt->group)) | put(o, "negated", json_boolean(spt->negated));
    if (spt->kind == SPT_SESSION_CASE)
        rc |= put(o, "session_case", json_string(hss_session_case_name(spt->session_case)));
    else
        rc |= put(o, spt_kinds[spt->kind], json_string(spt->value));
    if (spt->content)
        rc |= put(o, "content", json_string(spt->content));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *ifc_json(const hss_ifc_t *ifc)
{
    json_t *o = json_object(), *spts = json_array();
    int rc = !o || !spts;
    for (size_t i = 0; !rc && i < ifc->nspts; i++)
        rc = json_array_append_new(spts, spt_json(&ifc->spts[i]));
    if (rc) {
        json_decref(o);
        json_decref(spts);
        return NULL;
    }
    rc = put(o, "priority", json_integer(ifc->priority)) |
         put(o, "condition", json_string(ifc->cnf ? "cnf" : "dnf")) | put(o, "triggers", spts) |
         put(o, "as", json_string(ifc->as_uri)) |
         put(o, "default_handling",
             json_string(ifc->default_handling ? "session_terminated" : "session_continued"));
    if (ifc->service_info)
        rc |= put(o, "service_info", json_string(ifc->service_info));
    rc |= put(o, "include_register_request", json_boolean(ifc->include_register_request)) |
          put(o, "include_register_response", json_boolean(ifc->include_register_response));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *schemes_json(unsigned schemes)
{
    static const hss_scheme_t all[] = {HSS_SCHEME_AKAV1, HSS_SCHEME_AKAV2, HSS_SCHEME_MD5};
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof all / sizeof all[0]; i++) {
        if ((schemes & all[i]) &&
            json_array_append_new(a, json_string(hss_scheme_name(all[i]))) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *hss_subscriber_to_json(const hss_subscriber_t *s, int with_secrets)
{
    json_t *o = json_object(), *ifcs = json_array();
    int rc = !o || !ifcs;
    for (size_t i = 0; !rc && i < s->nifcs; i++)
        rc = json_array_append_new(ifcs, ifc_json(&s->ifcs[i]));
    if (rc) {
        json_decref(o);
        json_decref(ifcs);
        return NULL;
    }
    uint8_t sqn[6];
    for (size_t i = 0; i < sizeof sqn; i++)
        sqn[i] = (uint8_t)(s->sqn >> (8 * (5 - i)));
    rc = put(o, "impi", json_string(s->impi)) | put(o, "impus", string_list(s->impus, s->nimpus));
    if (with_secrets)
        rc |= put(o, "k", hex_json(s->k, sizeof s->k)) |
              put(o, s->op_is_opc ? "opc" : "op", hex_json(s->op, sizeof s->op));
    rc |= put(o, "amf", hex_json(s->amf, sizeof s->amf)) |
          put(o, "sqn", hex_json(sqn, sizeof sqn)) |
          put(o, "auth_schemes", schemes_json(s->schemes));
    if (with_secrets && s->password)
        rc |= put(o, "password", json_string(s->password));
    rc |= put(o, "barred_impus", string_list(s->barred, s->nbarred)) | put(o, "ifc", ifcs);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}
