#include "cscf/scscf/core/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/auth/aka.h"
#include "common/util/hex.h"

static const char *const names[AUTH_SCHEMES] = {"AKAv1-MD5", "AKAv2-MD5", "MD5"};
static const char *const cx_names[AUTH_SCHEMES] = {"Digest-AKAv1-MD5", "Digest-AKAv2-MD5",
                                                   "SIP Digest"};

const char *auth_scheme_name(auth_scheme_t s)
{
    return s < AUTH_SCHEMES ? names[s] : "?";
}

const char *auth_scheme_cx(auth_scheme_t s)
{
    return s < AUTH_SCHEMES ? cx_names[s] : "Unknown";
}

int auth_scheme_from_algorithm(const char *a, auth_scheme_t *out)
{
    for (int i = 0; a && i < AUTH_SCHEMES; i++) {
        if (strcasecmp(a, names[i]) == 0) {
            *out = (auth_scheme_t)i;
            return 0;
        }
    }
    return -1;
}

int auth_scheme_from_cx(const char *s, auth_scheme_t *out)
{
    for (int i = 0; s && i < AUTH_SCHEMES; i++) {
        if (strcasecmp(s, cx_names[i]) == 0) {
            *out = (auth_scheme_t)i;
            return 0;
        }
    }
    if (s && (strcasecmp(s, "Digest-MD5") == 0 || strcasecmp(s, "Digest") == 0)) {
        *out = AUTH_MD5;
        return 0;
    }
    return -1;
}

int auth_table_init(auth_table_t *t, size_t max, int ttl_ms)
{
    t->by_nonce = strmap_new();
    t->max = max;
    t->ttl_ms = ttl_ms;
    return t->by_nonce ? 0 : -1;
}

static void free_challenge(void *c)
{
    OPENSSL_cleanse(c, sizeof(auth_challenge_t));
    free(c);
}

void auth_table_fini(auth_table_t *t)
{
    strmap_free(t->by_nonce, free_challenge);
    t->by_nonce = NULL;
}

static int expired(void *ctx, const char *key, void *val)
{
    int64_t now = *(int64_t *)ctx;
    if (((auth_challenge_t *)val)->expires_ms > now)
        return 0;
    free_challenge(val);
    return 1;
}

size_t auth_table_expire(auth_table_t *t, int64_t now_ms)
{
    size_t before = strmap_size(t->by_nonce);
    strmap_sweep(t->by_nonce, expired, &now_ms);
    return before - strmap_size(t->by_nonce);
}

/* MD5 digest: the nonce is ours, random. */
static int md5_nonce(char out[64])
{
    return hex_random(out, 24);
}

static int fill_aka(auth_challenge_t *c, const cx_auth_item_t *it)
{
    if (it->authenticate_len != 32 || it->authorization_len < 4 || it->authorization_len > 16 ||
        !it->has_ck || !it->has_ik)
        return -1;
    memcpy(c->rand, it->authenticate, 16);
    memcpy(c->xres, it->authorization, it->authorization_len);
    c->xres_len = it->authorization_len;
    memcpy(c->ck, it->ck, 16);
    memcpy(c->ik, it->ik, 16);
    return aka_nonce_encode(it->authenticate, it->authenticate + 16, c->nonce, sizeof c->nonce);
}

auth_challenge_t *auth_challenge_add(auth_table_t *t, const cx_auth_item_t *it, const char *impi,
                                     const char *impu, const char *realm, int failures,
                                     int64_t now_ms)
{
    auth_scheme_t scheme;
    if (strmap_size(t->by_nonce) >= t->max || auth_scheme_from_cx(it->scheme, &scheme) < 0)
        return NULL;
    auth_challenge_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->scheme = scheme;
    c->failures = failures;
    c->expires_ms = now_ms + t->ttl_ms;
    snprintf(c->impi, sizeof c->impi, "%s", impi);
    snprintf(c->impu, sizeof c->impu, "%s", impu);
    snprintf(c->realm, sizeof c->realm, "%s", realm);
    int rc;
    if (scheme == AUTH_MD5) {
        rc = !it->digest_ha1 || strlen(it->digest_ha1) != 32 ? -1 : md5_nonce(c->nonce);
        if (rc == 0) {
            memcpy(c->ha1, it->digest_ha1, 33);
            if (it->digest_realm) /* HA1 was made with the HSS's realm: challenge with it */
                snprintf(c->realm, sizeof c->realm, "%s", it->digest_realm);
        }
    } else {
        rc = fill_aka(c, it);
    }
    void *old = NULL;
    if (rc < 0 || strmap_put(t->by_nonce, c->nonce, c, &old) < 0) {
        free_challenge(c);
        return NULL;
    }
    if (old) /* the same RAND||AUTN twice: the HSS repeated a vector; keep the newer */
        free_challenge(old);
    return c;
}

auth_challenge_t *auth_challenge_take(auth_table_t *t, const char *nonce, int64_t now_ms)
{
    auth_challenge_t *c = strmap_take(t->by_nonce, nonce);
    if (c && c->expires_ms <= now_ms) {
        free_challenge(c);
        return NULL;
    }
    return c;
}

int auth_challenge_pending(const auth_table_t *t, const char *nonce, int64_t now_ms)
{
    const auth_challenge_t *c = nonce && *nonce ? strmap_get(t->by_nonce, nonce) : NULL;
    return c && c->expires_ms > now_ms;
}

int auth_www_authenticate(const auth_challenge_t *c, int stale, char *out, size_t outlen)
{
    int n;
    if (c->scheme == AUTH_MD5) {
        n = snprintf(out, outlen,
                     "Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s", c->realm,
                     c->nonce, stale ? ", stale=TRUE" : "");
    } else {
        char ck[33], ik[33];
        hex_encode(c->ck, 16, ck);
        hex_encode(c->ik, 16, ik);
        n = snprintf(out, outlen,
                     "Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, qop=\"auth\", ck=\"%s\", "
                     "ik=\"%s\"%s",
                     c->realm, c->nonce, auth_scheme_name(c->scheme), ck, ik,
                     stale ? ", stale=TRUE" : "");
    }
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int auth_verify(const auth_challenge_t *c, const digest_creds_t *cr, const char *method)
{
    char want[33];
    /* qop=auth needs nc and cnonce (RFC 2617 3.2.2); we only offer qop auth. An answer without
     * qop has neither (RFC 2617 3.2.2.1, the RFC 2069 form): a P-CSCF's handset profile took
     * qop out of the challenge for a phone that refuses it (strip_qop). The nonce is still
     * ours and used once (auth_challenge_take), so a replay gets nowhere. */
    int bare = !*cr->qop && !*cr->nc && !*cr->cnonce;
    if ((!bare && (strcasecmp(cr->qop, "auth") != 0 || !*cr->nc || !*cr->cnonce)) ||
        strlen(cr->response) != 32 || strcmp(cr->username, c->impi) != 0 ||
        strcmp(cr->realm, c->realm) != 0)
        return -1;
    if (c->scheme == AUTH_MD5) {
        aka_digest_response_ha1(c->ha1, method, cr->uri, cr->nonce, cr->nc, cr->cnonce, cr->qop,
                                want);
    } else if (c->scheme == AUTH_AKAV1) {
        aka_digest_response(cr->username, cr->realm, c->xres, c->xres_len, method, cr->uri,
                            cr->nonce, cr->nc, cr->cnonce, cr->qop, want);
    } else {
        char pw[32];
        if (aka_v2_password(c->xres, c->xres_len, c->ik, c->ck, pw, sizeof pw) < 0)
            return -1;
        aka_digest_response(cr->username, cr->realm, (const uint8_t *)pw, strlen(pw), method,
                            cr->uri, cr->nonce, cr->nc, cr->cnonce, cr->qop, want);
    }
    char got[33];
    for (int i = 0; i < 33; i++)
        got[i] = (char)(cr->response[i] >= 'A' && cr->response[i] <= 'F' ? cr->response[i] + 32
                                                                         : cr->response[i]);
    return CRYPTO_memcmp(want, got, 32) == 0 ? 0 : -1;
}
