#include "common/auth/sip_digest.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_parser.h>
#include <sofia-sip/su_alloc.h>

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

#define DIGEST_LWS " \t\r\n"

/* A parameter as the parser left it may keep white space, folds (CRLF SP) included, around
 * its name, '=' and value (RFC 3261 7.3.1, 25.1: LWS around '=' and ','): a Pixel 6a folds
 * inside its Authorization. Such space is no part of a name or value. */
static int take(const char *param, const char *name, char *out, size_t outlen, int *bad)
{
    size_t len = strlen(name);
    param += strspn(param, DIGEST_LWS);
    if (strncasecmp(param, name, len) != 0)
        return 0;
    const char *eq = param + len + strspn(param + len, DIGEST_LWS);
    if (*eq != '=')
        return 0;
    const char *v = eq + 1 + strspn(eq + 1, DIGEST_LWS);
    size_t vlen = strlen(v);
    while (vlen && strchr(DIGEST_LWS, v[vlen - 1]))
        vlen--;
    char value[1024];
    if (vlen >= sizeof value) {
        *bad = 1;
        return 1;
    }
    memcpy(value, v, vlen);
    value[vlen] = '\0';
    if (digest_unquote(value, out, outlen) < 0)
        *bad = 1;
    return 1;
}

static void take_any(const char *p, digest_creds_t *c, int *bad)
{
    (void)(take(p, "username", c->username, sizeof c->username, bad) ||
           take(p, "realm", c->realm, sizeof c->realm, bad) ||
           take(p, "nonce", c->nonce, sizeof c->nonce, bad) ||
           take(p, "uri", c->uri, sizeof c->uri, bad) ||
           take(p, "response", c->response, sizeof c->response, bad) ||
           take(p, "algorithm", c->algorithm, sizeof c->algorithm, bad) ||
           take(p, "qop", c->qop, sizeof c->qop, bad) || take(p, "nc", c->nc, sizeof c->nc, bad) ||
           take(p, "cnonce", c->cnonce, sizeof c->cnonce, bad) ||
           take(p, "opaque", c->opaque, sizeof c->opaque, bad) ||
           take(p, "auts", c->auts, sizeof c->auts, bad) ||
           take(p, "integrity-protected", c->integrity_protected, sizeof c->integrity_protected,
                bad));
}

/* The length of the first parameter in p. sofia joins "qop=auth nc=00000001" (two parameters
 * with white space, a fold say, but no comma between them) into one, and `nonce="x"nc=1` when
 * the first ends in a quoted string; a value holds no white space outside quotes and ends with
 * its closing quote, so either ends a parameter (white space next to the '=' does not). */
/* s starts a parameter: a token, then '=' (white space around it allowed). */
static int starts_param(const char *s)
{
    size_t t = 0;
    while (s[t] && (isalnum((unsigned char)s[t]) || strchr("-.!%*_+`'~", s[t])))
        t++;
    return t > 0 && s[t + strspn(s + t, DIGEST_LWS)] == '=';
}

static size_t param_len(const char *p)
{
    size_t n = 0;
    int quoted = 0;
    for (; p[n]; n++) {
        if (quoted && p[n] == '\\' && p[n + 1])
            n++;
        else if (p[n] == '"' && !quoted)
            quoted = 1;
        else if (p[n] == '"' && starts_param(p + n + 1))
            return n + 1; /* a quoted value glued to the next one: `nonce="x"nc=1` */
        else if (p[n] == '"')
            quoted = 0;
        else if (!quoted && strchr(DIGEST_LWS, p[n])) {
            size_t next = n + strspn(p + n, DIGEST_LWS);
            if (n > 0 && p[n - 1] != '=' && p[next] != '=')
                return n;
        }
    }
    return n;
}

static int parse_params(msg_param_t const *params, digest_creds_t *c)
{
    int bad = 0;
    char part[1024];
    for (size_t i = 0; params && params[i] && !bad; i++) {
        for (const char *p = params[i] + strspn(params[i], DIGEST_LWS); *p && !bad;
             p += strspn(p, DIGEST_LWS)) {
            size_t n = param_len(p);
            if (n >= sizeof part)
                return -1;
            memcpy(part, p, n);
            part[n] = '\0';
            take_any(part, c, &bad);
            p += n;
        }
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

/* One parameter of param_len() as name=value, without white space around name, '=', value. */
static char *clean_one(su_home_t *home, const char *p, size_t n)
{
    size_t name = strcspn(p, "=" DIGEST_LWS);
    if (name > n)
        name = n;
    const char *eq = p + name + strspn(p + name, DIGEST_LWS);
    if (eq >= p + n || *eq != '=')
        return su_strndup(home, p, name);
    const char *v = eq + 1 + strspn(eq + 1, DIGEST_LWS);
    size_t vlen = v < p + n ? (size_t)(p + n - v) : 0;
    while (vlen && strchr(DIGEST_LWS, v[vlen - 1]))
        vlen--;
    return su_sprintf(home, "%.*s=%.*s", (int)name, p, (int)vlen, v);
}

int digest_params_normalize(su_home_t *home, msg_param_t const *in, msg_param_t **out)
{
    size_t count = 0, k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; in && in[i]; i++) {
            for (const char *p = in[i] + strspn(in[i], DIGEST_LWS); *p;
                 p += strspn(p, DIGEST_LWS)) {
                size_t n = param_len(p);
                if (pass && !((*out)[k++] = clean_one(home, p, n)))
                    return -1;
                count += !pass;
                p += n;
            }
        }
        /* sofia's msg_params_add() takes a list to have room for MSG_PARAMS_NUM entries */
        if (!pass && !(*out = su_zalloc(home, MSG_PARAMS_NUM(count + 1) * sizeof **out)))
            return -1;
    }
    return 0;
}

int digest_params_odd(msg_param_t const *in)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    msg_param_t *out;
    int odd = -1;
    if (digest_params_normalize(home, in, &out) == 0) {
        size_t i = 0;
        odd = 0;
        for (; in && in[i] && out[i]; i++)
            odd |= strcmp(in[i], out[i]) != 0;
        odd |= (in && in[i]) || out[i];
    }
    su_home_deinit(home);
    return odd;
}

int digest_param(const msg_auth_t *au, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    while (au && (!au->au_scheme || strcasecmp(au->au_scheme, "Digest") != 0))
        au = au->au_next;
    const char *v = au ? msg_params_find(au->au_params, name) : NULL;
    if (!v)
        return -1;
    return digest_unquote(v, out, outlen) < 0 ? (out[0] = '\0', -1) : 0;
}
