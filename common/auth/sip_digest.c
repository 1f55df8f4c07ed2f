#include "common/auth/sip_digest.h"

#include <string.h>
#include <strings.h>

int digest_unquote(const char *v, char *out, size_t outlen)
{
    size_t n = 0;
    if (*v != '"') {
        size_t len = strlen(v);
        if (len >= outlen)
            return -1;
        memcpy(out, v, len + 1);
        return 0;
    }
    for (v++; *v && *v != '"'; v++) {
        if (*v == '\\' && v[1])
            v++;
        if (n + 1 >= outlen)
            return -1;
        out[n++] = *v;
    }
    if (*v != '"' || v[1])
        return -1; /* unterminated, or text after the closing quote */
    out[n] = '\0';
    return 0;
}

static int take(const char *param, const char *name, char *out, size_t outlen, int *bad)
{
    size_t len = strlen(name);
    if (strncasecmp(param, name, len) != 0 || param[len] != '=')
        return 0;
    if (digest_unquote(param + len + 1, out, outlen) < 0)
        *bad = 1;
    return 1;
}

static int parse_params(msg_param_t const *params, digest_creds_t *c)
{
    int bad = 0;
    for (size_t i = 0; params && params[i] && !bad; i++) {
        const char *p = params[i];
        (void)(take(p, "username", c->username, sizeof c->username, &bad) ||
               take(p, "realm", c->realm, sizeof c->realm, &bad) ||
               take(p, "nonce", c->nonce, sizeof c->nonce, &bad) ||
               take(p, "uri", c->uri, sizeof c->uri, &bad) ||
               take(p, "response", c->response, sizeof c->response, &bad) ||
               take(p, "algorithm", c->algorithm, sizeof c->algorithm, &bad) ||
               take(p, "qop", c->qop, sizeof c->qop, &bad) ||
               take(p, "nc", c->nc, sizeof c->nc, &bad) ||
               take(p, "cnonce", c->cnonce, sizeof c->cnonce, &bad) ||
               take(p, "opaque", c->opaque, sizeof c->opaque, &bad) ||
               take(p, "auts", c->auts, sizeof c->auts, &bad) ||
               take(p, "integrity-protected", c->integrity_protected, sizeof c->integrity_protected,
                    &bad));
    }
    return bad || !*c->username ? -1 : 0;
}

int digest_creds_parse(const sip_authorization_t *au, const char *realm, digest_creds_t *out)
{
    for (; au; au = au->au_next) {
        if (!au->au_scheme || strcasecmp(au->au_scheme, "Digest") != 0)
            continue;
        memset(out, 0, sizeof *out);
        if (parse_params(au->au_params, out) < 0)
            return -1;
        if (!realm || !*out->realm || strcasecmp(out->realm, realm) == 0)
            return 0;
    }
    return -1;
}
