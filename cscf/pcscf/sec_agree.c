/* Security mechanism agreement (sec_agree.h). */
#include "cscf/pcscf/sec_agree.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sip_header.h>

/* The parameters of an ipsec-3gpp mechanism we read; the bit of each in a "seen" mask. */
enum { P_ALG, P_EALG, P_SPI_C, P_SPI_S, P_PORT_C, P_PORT_S, P_PROT, P_MOD, P_Q, P_COUNT };
static const char *const param_names[P_COUNT] = {"alg",    "ealg", "spi-c", "spi-s", "port-c",
                                                 "port-s", "prot", "mod",   "q"};
#define BIT(p)   (1u << (p))
#define REQUIRED (BIT(P_ALG) | BIT(P_SPI_C) | BIT(P_SPI_S) | BIT(P_PORT_C) | BIT(P_PORT_S))

/* No value we accept is longer: bounds the work and the log line for a hostile one. */
#define MAX_VALUE 32

/* One mechanism's parameters: where each known one's value is, which were seen, how many
 * unknown ones there were. */
typedef struct raw_params {
    const char *value[P_COUNT];
    size_t len[P_COUNT];
    unsigned seen;
    size_t unknown;
} raw_params_t;

static void say(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Splits "name=value" strings into raw_params_t; a known name twice, or without a value, is an
 * error. */
static int collect(msg_param_t const *params, raw_params_t *rp, char *why, size_t whylen)
{
    memset(rp, 0, sizeof *rp);
    for (size_t i = 0; params && params[i]; i++) {
        const char *p = params[i];
        const char *eq = strchr(p, '=');
        size_t nlen = eq ? (size_t)(eq - p) : strlen(p);
        int k = -1;
        for (int j = 0; j < P_COUNT; j++)
            if (strlen(param_names[j]) == nlen && strncasecmp(p, param_names[j], nlen) == 0)
                k = j;
        if (k < 0) {
            rp->unknown++;
            continue;
        }
        if (rp->seen & BIT(k)) {
            say(why, whylen, "duplicate %s", param_names[k]);
            return -1;
        }
        if (!eq || !eq[1]) {
            say(why, whylen, "%s: no value", param_names[k]);
            return -1;
        }
        rp->seen |= BIT(k);
        rp->value[k] = eq + 1;
        rp->len[k] = strlen(eq + 1);
    }
    return 0;
}

/* Decimal digits only (no sign, no spaces), at most 10 of them, 1..max. */
static int number(const raw_params_t *rp, int k, uint32_t max, uint32_t *out, char *why,
                  size_t whylen)
{
    const char *v = rp->value[k];
    size_t n = rp->len[k];
    if (n > 10) {
        say(why, whylen, "%s: too long", param_names[k]);
        return -1;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            say(why, whylen, "%s: not a number", param_names[k]);
            return -1;
        }
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x == 0) {
        say(why, whylen, "%s: zero", param_names[k]);
        return -1;
    }
    if (x > max) {
        say(why, whylen, "%s: out of range", param_names[k]);
        return -1;
    }
    *out = (uint32_t)x;
    return 0;
}

/* RFC 3261 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], as thousandths. */
static int qvalue(const char *v, size_t n, int *out)
{
    if (n == 0 || (v[0] != '0' && v[0] != '1'))
        return -1;
    int q = (v[0] - '0') * 1000;
    if (n == 1) {
        *out = q;
        return 0;
    }
    if (v[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (v[i] < '0' || v[i] > '9' || (q == 1000 && v[i] != '0'))
            return -1;
        q += (v[i] - '0') * scale;
    }
    *out = q;
    return 0;
}

static int value_is(const raw_params_t *rp, int k, const char *want)
{
    return rp->len[k] == strlen(want) && strncasecmp(rp->value[k], want, rp->len[k]) == 0;
}

/* The algorithm a parameter names (a value we know, compared without copying it), or -1. */
static int named_alg(const raw_params_t *rp, int k)
{
    for (int i = 0; ipsec_alg_name((ipsec_alg_t)i); i++)
        if (value_is(rp, k, ipsec_alg_name((ipsec_alg_t)i)))
            return i;
    return -1;
}

static int named_ealg(const raw_params_t *rp, int k)
{
    for (int i = 0; ipsec_ealg_name((ipsec_ealg_t)i); i++)
        if (value_is(rp, k, ipsec_ealg_name((ipsec_ealg_t)i)))
            return i;
    return -1;
}

/* One ipsec-3gpp mechanism's parameters into a checked offer. */
static int read_offer(const raw_params_t *rp, sec_agree_offer_t *o, char *why, size_t whylen)
{
    for (int k = 0; k < P_COUNT; k++)
        if ((rp->seen & BIT(k)) && rp->len[k] > MAX_VALUE) {
            say(why, whylen, "%s: too long", param_names[k]);
            return -1;
        }
    for (int k = 0; k < P_COUNT; k++)
        if ((REQUIRED & BIT(k)) && !(rp->seen & BIT(k))) {
            say(why, whylen, "%s missing", param_names[k]);
            return -1;
        }
    int alg = named_alg(rp, P_ALG);
    if (alg < 0) {
        say(why, whylen, "alg: unsupported %.*s", (int)rp->len[P_ALG], rp->value[P_ALG]);
        return -1;
    }
    int ealg = IPSEC_EALG_NULL; /* TS 33.203 7.1: no ealg means null encryption */
    if ((rp->seen & BIT(P_EALG)) && (ealg = named_ealg(rp, P_EALG)) < 0) {
        say(why, whylen, "ealg: unsupported %.*s", (int)rp->len[P_EALG], rp->value[P_EALG]);
        return -1;
    }
    if ((rp->seen & BIT(P_PROT)) && !value_is(rp, P_PROT, "esp")) {
        say(why, whylen, "prot: only esp");
        return -1;
    }
    if ((rp->seen & BIT(P_MOD)) && !value_is(rp, P_MOD, "trans")) {
        say(why, whylen, "mod: only trans");
        return -1;
    }
    uint32_t spi_c, spi_s, port_c, port_s;
    if (number(rp, P_SPI_C, UINT32_MAX, &spi_c, why, whylen) < 0 ||
        number(rp, P_SPI_S, UINT32_MAX, &spi_s, why, whylen) < 0 ||
        number(rp, P_PORT_C, 65535, &port_c, why, whylen) < 0 ||
        number(rp, P_PORT_S, 65535, &port_s, why, whylen) < 0)
        return -1;
    int q = SEC_AGREE_Q_NONE;
    if ((rp->seen & BIT(P_Q)) && qvalue(rp->value[P_Q], rp->len[P_Q], &q) < 0) {
        say(why, whylen, "q: malformed");
        return -1;
    }
    *o = (sec_agree_offer_t){(ipsec_alg_t)alg, (ipsec_ealg_t)ealg, spi_c, spi_s,
                             (uint16_t)port_c, (uint16_t)port_s,   q};
    return 0;
}

static int is_ipsec_3gpp(const sip_security_client_t *sa)
{
    return sa->sa_mec && strcasecmp(sa->sa_mec, "ipsec-3gpp") == 0;
}

sec_agree_result_t sec_agree_parse_client(const sip_security_client_t *sc, sec_agree_offers_t *out)
{
    memset(out, 0, sizeof *out);
    for (const sip_security_client_t *sa = sc; sa; sa = sa->sa_next) {
        if (!is_ipsec_3gpp(sa)) {
            out->ignored++;
            continue;
        }
        char why[sizeof out->reason] = "";
        raw_params_t rp;
        if (out->n == SEC_AGREE_MAX_OFFERS)
            say(why, sizeof why, "more than %d offers", SEC_AGREE_MAX_OFFERS);
        else if (collect(sa->sa_params, &rp, why, sizeof why) == 0 &&
                 read_offer(&rp, &out->offer[out->n], why, sizeof why) == 0) {
            out->n++;
            continue;
        }
        if (out->refused++ == 0)
            snprintf(out->reason, sizeof out->reason, "%s", why);
    }
    if (out->n)
        return SEC_AGREE_OK;
    return out->refused ? SEC_AGREE_UNUSABLE : SEC_AGREE_ABSENT;
}

int sec_agree_choose(const sec_agree_offers_t *offers, const sec_agree_policy_t *policy)
{
    for (size_t p = 0; p < policy->n; p++) {
        const sec_agree_pref_t *pref = &policy->prefs[p];
        if (pref->ealg == IPSEC_EALG_NULL && !policy->allow_null)
            continue;
        int best = -1;
        for (size_t i = 0; i < offers->n; i++) {
            const sec_agree_offer_t *o = &offers->offer[i];
            if (o->alg == pref->alg && o->ealg == pref->ealg &&
                (best < 0 || o->q > offers->offer[best].q))
                best = (int)i;
        }
        if (best >= 0)
            return best;
    }
    return -1;
}

/* q in thousandths as the shortest qvalue: 1000 "1", 100 "0.1", 5 "0.005". */
static void format_q(int q, char *buf, size_t len)
{
    if (q == 1000 || q == 0) {
        snprintf(buf, len, "%d", q / 1000);
        return;
    }
    int digits = 3;
    while (q % 10 == 0) {
        q /= 10;
        digits--;
    }
    snprintf(buf, len, "0.%0*d", digits, q);
}

int sec_agree_server_value(const sec_agree_server_t *s, char *buf, size_t len)
{
    const char *alg = ipsec_alg_name(s->alg), *ealg = ipsec_ealg_name(s->ealg);
    if (!alg || !ealg || !s->spi_pc || !s->spi_ps || !s->port_pc || !s->port_ps ||
        (s->q != SEC_AGREE_Q_NONE && (s->q < 0 || s->q > 1000)))
        return -1;
    char q[16] = "";
    if (s->q != SEC_AGREE_Q_NONE) {
        memcpy(q, ";q=", 4);
        format_q(s->q, q + 3, sizeof q - 3);
    }
    int n = snprintf(buf, len,
                     "ipsec-3gpp;alg=%s;ealg=%s;prot=esp;mod=trans;spi-c=%u;spi-s=%u;port-c=%u;"
                     "port-s=%u%s",
                     alg, ealg, (unsigned)s->spi_pc, (unsigned)s->spi_ps, (unsigned)s->port_pc,
                     (unsigned)s->port_ps, q);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The first field where what came back differs from what we sent, or NULL. */
static const char *difference(const sec_agree_offer_t *got, const sec_agree_server_t *sent)
{
    if (got->alg != sent->alg)
        return "alg";
    if (got->ealg != sent->ealg)
        return "ealg";
    if (got->spi_c != sent->spi_pc)
        return "spi-c";
    if (got->spi_s != sent->spi_ps)
        return "spi-s";
    if (got->port_c != sent->port_pc)
        return "port-c";
    if (got->port_s != sent->port_ps)
        return "port-s";
    if (got->q != sent->q)
        return "q";
    return NULL;
}

int sec_agree_verify(const sip_security_verify_t *sv, const sec_agree_server_t *sent, char *why,
                     size_t whylen)
{
    say(why, whylen, "%s", "");
    if (!sv) {
        say(why, whylen, "no Security-Verify");
        return -1;
    }
    if (!is_ipsec_3gpp(sv) || sv->sa_next) {
        say(why, whylen, "not the one ipsec-3gpp mechanism we sent");
        return -1;
    }
    raw_params_t rp;
    sec_agree_offer_t got;
    char bad[64] = "";
    if (collect(sv->sa_params, &rp, bad, sizeof bad) < 0 ||
        read_offer(&rp, &got, bad, sizeof bad) < 0) {
        say(why, whylen, "malformed: %s", bad);
        return -1;
    }
    /* parameter-wise: the same set of parameters as ours, none left out as a default */
    unsigned ours = REQUIRED | BIT(P_EALG) | BIT(P_PROT) | BIT(P_MOD);
    if (sent->q != SEC_AGREE_Q_NONE)
        ours |= BIT(P_Q);
    if (rp.seen != ours || rp.unknown) {
        say(why, whylen, "parameters missing or added");
        return -1;
    }
    const char *d = difference(&got, sent);
    if (d) {
        say(why, whylen, "%s differs", d);
        return -1;
    }
    return 0;
}

int sec_agree_mode_parse(const char *s, sec_agree_mode_t *out)
{
    static const char *const names[] = {"off", "optional", "required"};
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, names[i]) == 0) { /* config keys are lower case */
            *out = (sec_agree_mode_t)i;
            return 0;
        }
    return -1;
}

sec_agree_decision_t sec_agree_decide(sec_agree_mode_t mode, int ue_requires, int ue_supports,
                                      sec_agree_result_t result, int chosen)
{
    if (mode == SEC_AGREE_MODE_OFF)
        return ue_requires ? (sec_agree_decision_t){420, 0, "sec-agree is off here"}
                           : (sec_agree_decision_t){0, 0, "sec-agree is off here"};
    if (result == SEC_AGREE_OK && chosen >= 0)
        return (sec_agree_decision_t){0, 1, "agreed"};
    if (result == SEC_AGREE_OK)
        return (sec_agree_decision_t){494, 0, "no algorithms in common"};
    if (result == SEC_AGREE_UNUSABLE)
        return (sec_agree_decision_t){494, 0, "no usable ipsec-3gpp offer"};
    if (mode == SEC_AGREE_MODE_OPTIONAL)
        return ue_requires ? (sec_agree_decision_t){494, 0, "no ipsec-3gpp offer"}
                           : (sec_agree_decision_t){0, 0, "no ipsec-3gpp offer: unprotected"};
    return ue_requires || ue_supports
               ? (sec_agree_decision_t){494, 0, "no ipsec-3gpp offer, and it is required"}
               : (sec_agree_decision_t){421, 0, "the UE does not support sec-agree"};
}

int sec_agree_required(const sip_t *sip)
{
    return sip_has_feature((const msg_list_t *)sip->sip_require, "sec-agree") ||
           sip_has_feature((const msg_list_t *)sip->sip_proxy_require, "sec-agree");
}

int sec_agree_supported(const sip_t *sip)
{
    return sip_has_feature((const msg_list_t *)sip->sip_supported, "sec-agree");
}
