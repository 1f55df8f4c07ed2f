/* store_reg_encode() / store_reg_decode(): a registration as one line of compact JSON, for the
 * backends that keep records outside this process (the memory backend's journal, Redis).
 *
 * Format (version 1), every key always present, in this order:
 *   {"v":1,"impi":S,"impus":[S..],"barred":[S..],"profile":S|null,"scheme":S|null,
 *    "server_name":S|null, "hss":S|null (optional: absent in records written before it),
 *    "contacts":[{"uri":S|null,"params":S|null,"instance":S|null,"reg_id":int,"path":S|null,
 *                 "received":S|null,"call_id":S|null,"cseq":uint32,"user_agent":S|null,
 *                 "expires_at":int64,"registered_at":int64}..],
 *    "subs":[{"call_id":S|null,"local_tag":..,"remote_tag":..,"local_uri":..,"remote_uri":..,
 *             "target":..,"route_set":..,"impu":..,"subscriber":S|null,"cseq":uint32,
 *             "version":uint32,"expires_at":int64}..]}
 * S is a JSON string when the C string is valid UTF-8, else {"hex":"<its bytes in hex>"}: the
 * store keeps any byte but NUL (a User-Agent is whatever the handset sent), JSON text only
 * UTF-8. The revision is not part of it: each backend keeps it beside the text.
 *
 * Decoding treats the text as hostile (anyone who can write the journal file or the Redis
 * keys wrote it): it is bounded (STORE_CODEC_MAX_* in store.h), every key must be there with
 * its type and range, NUL in a string is refused (\u0000, or a 00 in hex), duplicate keys are
 * refused, and keys it does not know are ignored (a later version may add some). On any
 * failure everything allocated so far is freed and err says which field. */
#include "common/store/store.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/store/store_internal.h"
#include "common/util/hex.h"

#define CODEC_VERSION 1

/* ---- encoding ---- */

static json_t *hex_of(const char *s)
{
    size_t n = strlen(s);
    char *hex = malloc(2 * n + 1);
    if (!hex)
        return NULL;
    hex_encode((const uint8_t *)s, n, hex);
    json_t *v = json_pack("{s:s}", "hex", hex);
    free(hex);
    return v;
}

json_t *store_codec_string(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s); /* NULL when not UTF-8 (or out of memory) */
    return v ? v : hex_of(s);
}

/* Adds key: v to o (v taken); 0, or -1 when v is NULL or out of memory. */
static int put_new(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

static int put_str(json_t *o, const char *key, const char *s)
{
    return put_new(o, key, store_codec_string(s));
}

static json_t *strings(char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (!list[i] || json_array_append_new(a, store_codec_string(list[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *contact_obj(const store_contact_t *c)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= put_str(o, "uri", c->uri);
    rc |= put_str(o, "params", c->params);
    rc |= put_str(o, "instance", c->instance);
    rc |= put_new(o, "reg_id", json_integer(c->reg_id));
    rc |= put_str(o, "path", c->path);
    rc |= put_str(o, "received", c->received);
    rc |= put_str(o, "call_id", c->call_id);
    rc |= put_new(o, "cseq", json_integer(c->cseq));
    rc |= put_str(o, "user_agent", c->user_agent);
    rc |= put_new(o, "expires_at", json_integer(c->expires_at));
    rc |= put_new(o, "registered_at", json_integer(c->registered_at));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *sub_obj(const store_sub_t *u)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= put_str(o, "call_id", u->call_id);
    rc |= put_str(o, "local_tag", u->local_tag);
    rc |= put_str(o, "remote_tag", u->remote_tag);
    rc |= put_str(o, "local_uri", u->local_uri);
    rc |= put_str(o, "remote_uri", u->remote_uri);
    rc |= put_str(o, "target", u->target);
    rc |= put_str(o, "route_set", u->route_set);
    rc |= put_str(o, "impu", u->impu);
    rc |= put_str(o, "subscriber", u->subscriber);
    rc |= put_new(o, "cseq", json_integer(u->cseq));
    rc |= put_new(o, "version", json_integer(u->version));
    rc |= put_new(o, "expires_at", json_integer(u->expires_at));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int str_fits(const char *s)
{
    return !s || strlen(s) <= STORE_CODEC_MAX_STRING;
}

static int list_fits(char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!list[i] || !str_fits(list[i]))
            return 0;
    return 1;
}

/* Whether store_reg_decode() would take r back (the text's own size is checked after). */
static int encodable(const store_reg_t *r)
{
    if (!r || !r->impi || r->nimpus > STORE_CODEC_MAX_IMPUS || r->nbarred > STORE_CODEC_MAX_IMPUS ||
        r->ncontacts > STORE_CODEC_MAX_CONTACTS || r->nsubs > STORE_CODEC_MAX_SUBS ||
        !str_fits(r->impi) || !str_fits(r->profile) || !str_fits(r->scheme) ||
        !str_fits(r->server_name) || !str_fits(r->hss) || !list_fits(r->impus, r->nimpus) ||
        !list_fits(r->barred, r->nbarred))
        return 0;
    for (size_t i = 0; i < r->ncontacts; i++) {
        const store_contact_t *c = &r->contacts[i];
        if (!str_fits(c->uri) || !str_fits(c->params) || !str_fits(c->instance) ||
            !str_fits(c->path) || !str_fits(c->received) || !str_fits(c->call_id) ||
            !str_fits(c->user_agent))
            return 0;
    }
    for (size_t i = 0; i < r->nsubs; i++) {
        const store_sub_t *u = &r->subs[i];
        if (!str_fits(u->call_id) || !str_fits(u->local_tag) || !str_fits(u->remote_tag) ||
            !str_fits(u->local_uri) || !str_fits(u->remote_uri) || !str_fits(u->target) ||
            !str_fits(u->route_set) || !str_fits(u->impu) || !str_fits(u->subscriber))
            return 0;
    }
    return 1;
}

static json_t *reg_obj(const store_reg_t *r)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= put_new(o, "v", json_integer(CODEC_VERSION));
    rc |= put_str(o, "impi", r->impi);
    rc |= put_new(o, "impus", strings(r->impus, r->nimpus));
    rc |= put_new(o, "barred", strings(r->barred, r->nbarred));
    rc |= put_str(o, "profile", r->profile);
    rc |= put_str(o, "scheme", r->scheme);
    rc |= put_str(o, "server_name", r->server_name);
    rc |= put_str(o, "hss", r->hss);
    json_t *contacts = json_array(), *subs = json_array();
    for (size_t i = 0; contacts && i < r->ncontacts; i++)
        rc |= json_array_append_new(contacts, contact_obj(&r->contacts[i]));
    for (size_t i = 0; subs && i < r->nsubs; i++)
        rc |= json_array_append_new(subs, sub_obj(&r->subs[i]));
    rc |= put_new(o, "contacts", contacts);
    rc |= put_new(o, "subs", subs);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *store_reg_encode(const store_reg_t *r)
{
    if (!encodable(r))
        return NULL;
    json_t *o = reg_obj(r);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text && strlen(text) > STORE_CODEC_MAX_TEXT) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- decoding ---- */

typedef struct dec {
    char *err;
    size_t errlen;
    int failed; /* the first failure's reason is kept */
} dec_t;

__attribute__((format(printf, 2, 3))) static void fail(dec_t *d, const char *fmt, ...)
{
    if (d->failed++)
        return;
    if (!d->err || !d->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
}

static char *from_hex(const json_t *v, dec_t *d, const char *what)
{
    const json_t *h = json_object_get(v, "hex");
    if (json_object_size(v) != 1 || !json_is_string(h)) {
        fail(d, "%s: not a string", what);
        return NULL;
    }
    size_t n = json_string_length(h);
    const char *hex = json_string_value(h);
    if (n % 2 || n / 2 > STORE_CODEC_MAX_STRING) {
        fail(d, "%s: bad hex length", what);
        return NULL;
    }
    char *s = malloc(n / 2 + 1);
    if (!s) {
        fail(d, "%s: out of memory", what);
        return NULL;
    }
    s[n / 2] = '\0';
    if (hex_decode(hex, (uint8_t *)s, n / 2) < 0 || strlen(s) != n / 2) {
        fail(d, "%s: bad hex (or NUL)", what);
        free(s);
        return NULL;
    }
    return s;
}

/* A string (or with nullable, null: *out NULL); 0, or -1 (failed). */
static int get_str(const json_t *v, int nullable, char **out, dec_t *d, const char *what)
{
    *out = NULL;
    if (!v) {
        fail(d, "%s: missing", what);
        return -1;
    }
    if (json_is_null(v)) {
        if (nullable)
            return 0;
        fail(d, "%s: null", what);
        return -1;
    }
    if (json_is_object(v))
        return (*out = from_hex(v, d, what)) ? 0 : -1;
    if (!json_is_string(v)) {
        fail(d, "%s: not a string", what);
        return -1;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > STORE_CODEC_MAX_STRING || memchr(s, '\0', n)) { /* NUL only with JSON_ALLOW_NUL */
        fail(d, "%s: too long or with NUL", what);
        return -1;
    }
    if (!(*out = strndup(s, n))) {
        fail(d, "%s: out of memory", what);
        return -1;
    }
    return 0;
}

char *store_codec_string_from(const json_t *v, char *err, size_t errlen)
{
    dec_t d = {err, errlen, 0};
    char *s = NULL;
    get_str(v, 0, &s, &d, "string");
    return s;
}

/* An integer of o[key] in [min, max]; 0, or -1 (failed). */
static int get_int(const json_t *o, const char *key, json_int_t min, json_int_t max,
                   json_int_t *out, dec_t *d)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        fail(d, "%s: not an integer in range", key);
        *out = 0;
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* o[key] as an array of at most max; its size, or -1 (failed). */
static json_t *get_array(const json_t *o, const char *key, size_t max, dec_t *d)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) > max) {
        fail(d, "%s: not an array of at most %zu", key, max);
        return NULL;
    }
    return a;
}

static int get_strings(const json_t *o, const char *key, size_t max, char ***list, size_t *n,
                       dec_t *d)
{
    const json_t *a = get_array(o, key, max, d);
    if (!a)
        return -1;
    size_t size = json_array_size(a);
    if (!size)
        return 0;
    if (!(*list = calloc(size, sizeof **list))) {
        fail(d, "%s: out of memory", key);
        return -1;
    }
    /* *n counts what is filled, so store_reg_free() frees exactly that on failure. */
    for (; *n < size; (*n)++)
        if (get_str(json_array_get(a, *n), 0, &(*list)[*n], d, key) < 0)
            return -1;
    return 0;
}

#define STR(o, field, dst) get_str(json_object_get(o, #field), 1, &(dst)->field, d, #field)

static int get_contact(const json_t *o, store_contact_t *c, dec_t *d)
{
    if (!json_is_object(o)) {
        fail(d, "contact: not an object");
        return -1;
    }
    json_int_t reg_id, cseq, expires_at, registered_at;
    int rc = STR(o, uri, c) | STR(o, params, c) | STR(o, instance, c) | STR(o, path, c) |
             STR(o, received, c) | STR(o, call_id, c) | STR(o, user_agent, c);
    rc |= get_int(o, "reg_id", INT_MIN, INT_MAX, &reg_id, d);
    rc |= get_int(o, "cseq", 0, UINT32_MAX, &cseq, d);
    rc |= get_int(o, "expires_at", INT64_MIN, INT64_MAX, &expires_at, d);
    rc |= get_int(o, "registered_at", INT64_MIN, INT64_MAX, &registered_at, d);
    c->reg_id = (int)reg_id;
    c->cseq = (uint32_t)cseq;
    c->expires_at = expires_at;
    c->registered_at = registered_at;
    return rc ? -1 : 0;
}

static int get_sub(const json_t *o, store_sub_t *u, dec_t *d)
{
    if (!json_is_object(o)) {
        fail(d, "sub: not an object");
        return -1;
    }
    json_int_t cseq, version, expires_at;
    int rc = STR(o, call_id, u) | STR(o, local_tag, u) | STR(o, remote_tag, u) |
             STR(o, local_uri, u) | STR(o, remote_uri, u) | STR(o, target, u) |
             STR(o, route_set, u) | STR(o, impu, u) | STR(o, subscriber, u);
    rc |= get_int(o, "cseq", 0, UINT32_MAX, &cseq, d);
    rc |= get_int(o, "version", 0, UINT32_MAX, &version, d);
    rc |= get_int(o, "expires_at", INT64_MIN, INT64_MAX, &expires_at, d);
    u->cseq = (uint32_t)cseq;
    u->version = (uint32_t)version;
    u->expires_at = expires_at;
    return rc ? -1 : 0;
}

static int get_contacts(const json_t *o, store_reg_t *r, dec_t *d)
{
    const json_t *a = get_array(o, "contacts", STORE_CODEC_MAX_CONTACTS, d);
    if (!a)
        return -1;
    size_t size = json_array_size(a);
    if (size && !(r->contacts = calloc(size, sizeof *r->contacts))) {
        fail(d, "contacts: out of memory");
        return -1;
    }
    /* Counted before it is filled: a half-filled one is freed with the record. */
    for (; r->ncontacts < size; r->ncontacts++)
        if (get_contact(json_array_get(a, r->ncontacts), &r->contacts[r->ncontacts], d) < 0) {
            r->ncontacts++;
            return -1;
        }
    return 0;
}

static int get_subs(const json_t *o, store_reg_t *r, dec_t *d)
{
    const json_t *a = get_array(o, "subs", STORE_CODEC_MAX_SUBS, d);
    if (!a)
        return -1;
    size_t size = json_array_size(a);
    if (size && !(r->subs = calloc(size, sizeof *r->subs))) {
        fail(d, "subs: out of memory");
        return -1;
    }
    for (; r->nsubs < size; r->nsubs++)
        if (get_sub(json_array_get(a, r->nsubs), &r->subs[r->nsubs], d) < 0) {
            r->nsubs++;
            return -1;
        }
    return 0;
}

static store_reg_t *reg_from(const json_t *o, dec_t *d)
{
    json_int_t version;
    if (!json_is_object(o)) {
        fail(d, "not a JSON object");
        return NULL;
    }
    if (get_int(o, "v", CODEC_VERSION, CODEC_VERSION, &version, d) < 0)
        return NULL;
    store_reg_t *r = calloc(1, sizeof *r);
    if (!r) {
        fail(d, "out of memory");
        return NULL;
    }
    /* In order, stopping at the first failure (so err names the first bad field). */
    if (get_str(json_object_get(o, "impi"), 0, &r->impi, d, "impi") < 0 ||
        get_strings(o, "impus", STORE_CODEC_MAX_IMPUS, &r->impus, &r->nimpus, d) < 0 ||
        get_strings(o, "barred", STORE_CODEC_MAX_IMPUS, &r->barred, &r->nbarred, d) < 0 ||
        STR(o, profile, r) < 0 || STR(o, scheme, r) < 0 || STR(o, server_name, r) < 0 ||
        (json_object_get(o, "hss") && STR(o, hss, r) < 0) || get_contacts(o, r, d) < 0 ||
        get_subs(o, r, d) < 0) {
        store_reg_free(r);
        return NULL;
    }
    return r;
}

#undef STR

store_reg_t *store_reg_decode(const char *text, size_t len, char *err, size_t errlen)
{
    dec_t d = {err, errlen, 0};
    if (err && errlen)
        err[0] = '\0';
    if (!text || len > STORE_CODEC_MAX_TEXT) {
        fail(&d, text ? "text too long" : "no text");
        return NULL;
    }
    json_error_t jerr;
    /* Exactly len bytes: no NUL needed at the end, none allowed inside, nothing after the
     * object, each key once. */
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        fail(&d, "bad JSON at %d: %s", jerr.position, jerr.text);
        return NULL;
    }
    store_reg_t *r = reg_from(o, &d);
    json_decref(o);
    return r;
}
