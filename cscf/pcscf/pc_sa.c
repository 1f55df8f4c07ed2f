/* SA sets as values (pc_sa.h). */
#include "cscf/pcscf/pc_sa.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "common/util/hex.h"

static int parse_pair(const char *item, sec_agree_pref_t *out)
{
    char alg[32];
    const char *slash = strchr(item, '/');
    if (!slash || (size_t)(slash - item) >= sizeof alg)
        return -1;
    snprintf(alg, sizeof alg, "%.*s", (int)(slash - item), item);
    return ipsec_alg_from_name(alg, &out->alg) == 0 &&
                   ipsec_ealg_from_name(slash + 1, &out->ealg) == 0
               ? 0
               : -1;
}

int pc_sa_parse_algorithms(const char *const *items, size_t n, sec_agree_pref_t *out, size_t max,
                           char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen,
                 "ipsec.algorithms: empty (give alg/ealg pairs, e.g. "
                 "hmac-sha-1-96/aes-cbc)");
        return -1;
    }
    if (n > max) {
        snprintf(err, errlen, "ipsec.algorithms: more than %zu pairs", max);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_pair(items[i], &out[i]) < 0) {
            snprintf(err, errlen,
                     "ipsec.algorithms: '%s' is not alg/ealg (alg hmac-sha-1-96 or hmac-md5-96; "
                     "ealg null, aes-cbc or des-ede3-cbc)",
                     items[i]);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (out[j].alg == out[i].alg && out[j].ealg == out[i].ealg) {
                snprintf(err, errlen, "ipsec.algorithms: '%s' is listed twice", items[i]);
                return -1;
            }
    }
    return (int)n;
}

int pc_sa_config_address(const cfg_t *cfg, char *out, size_t len)
{
    const char *a = cfg_str(cfg, "ipsec.address");
    const char *const *items;
    int port;
    if (a && *a) {
        snprintf(out, len, "%s", a);
        return 0;
    }
    if (cfg_list(cfg, "sip.listen", &items) == 0)
        return -1;
    return cfg_split_addr(items[0], out, len, &port);
}

int pc_sa_check_config(const cfg_t *cfg, char *err, size_t len)
{
    sec_agree_mode_t mode;
    sec_agree_pref_t prefs[PC_SA_MAX_PREFS];
    const char *const *items;
    size_t n = cfg_list(cfg, "ipsec.algorithms", &items);
    char addr[64] = "";
    struct in_addr in;
    if (sec_agree_mode_parse(cfg_str(cfg, "ipsec.mode"), &mode) < 0) {
        snprintf(err, len, "ipsec.mode: off, optional or required");
        return -1;
    }
    if (pc_sa_parse_algorithms(items, n, prefs, PC_SA_MAX_PREFS, err, len) < 0)
        return -1;
    if (cfg_int(cfg, "ipsec.port_pc") == cfg_int(cfg, "ipsec.port_ps")) {
        snprintf(err, len, "ipsec.port_pc and ipsec.port_ps must differ");
        return -1;
    }
    if (cfg_int(cfg, "ipsec.spi_min") > cfg_int(cfg, "ipsec.spi_max")) {
        snprintf(err, len, "ipsec.spi_min is above ipsec.spi_max");
        return -1;
    }
    long table = cfg_int(cfg, "ipsec.route_table");
    if (table >= 253 && table <= 255) {
        snprintf(err, len, "ipsec.route_table: %ld is one of the kernel's own tables", table);
        return -1;
    }
    if (mode == SEC_AGREE_MODE_OFF)
        return 0;
    if (pc_sa_config_address(cfg, addr, sizeof addr) < 0 || inet_pton(AF_INET, addr, &in) != 1 ||
        in.s_addr == htonl(INADDR_ANY)) {
        snprintf(err, len,
                 "ipsec.address: the Gm address must be a numeric IPv4 address other than "
                 "0.0.0.0 (set it, or make the first sip.listen entry one)%s%s",
                 *addr ? ", not " : "", addr);
        return -1;
    }
    return 0;
}

/* A parameter's value without the quotes the S-CSCF puts around it. */
static int param_hex(msg_param_t const *params, const char *name, uint8_t out[IPSEC_AKA_KEY_LEN])
{
    const char *v = msg_params_find(params, name);
    char buf[2 * IPSEC_AKA_KEY_LEN + 1];
    if (!v)
        return -1;
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
        v++;
        len -= 2;
    }
    if (len != 2 * IPSEC_AKA_KEY_LEN)
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return hex_decode(buf, out, IPSEC_AKA_KEY_LEN);
}

int pc_sa_ck_ik(const sip_www_authenticate_t *w, uint8_t ck[IPSEC_AKA_KEY_LEN],
                uint8_t ik[IPSEC_AKA_KEY_LEN])
{
    for (; w; w = w->au_next)
        if (param_hex(w->au_params, "ck", ck) == 0 && param_hex(w->au_params, "ik", ik) == 0)
            return 0;
    memset(ck, 0, IPSEC_AKA_KEY_LEN);
    memset(ik, 0, IPSEC_AKA_KEY_LEN);
    return -1;
}

int pc_sa_make_set(const sec_agree_offer_t *ue, const char *ue_addr, uint16_t port_pc,
                   uint16_t port_ps, uint32_t spi_pc, uint32_t spi_ps,
                   const uint8_t ck[IPSEC_AKA_KEY_LEN], const uint8_t ik[IPSEC_AKA_KEY_LEN],
                   ipsec_sa_set_t *out)
{
    memset(out, 0, sizeof *out);
    if (!ue_addr || strlen(ue_addr) >= sizeof out->ue_addr || !port_pc || !port_ps || !spi_pc ||
        !spi_ps)
        return -1;
    snprintf(out->ue_addr, sizeof out->ue_addr, "%s", ue_addr);
    out->port_uc = ue->port_c;
    out->port_us = ue->port_s;
    out->spi_uc = ue->spi_c;
    out->spi_us = ue->spi_s;
    out->port_pc = port_pc;
    out->port_ps = port_ps;
    out->spi_pc = spi_pc;
    out->spi_ps = spi_ps;
    return ipsec_derive_keys(ue->alg, ue->ealg, ck, ik, &out->keys); /* -1: outside the enums */
}

int pc_sa_server(const ipsec_sa_set_t *s, sec_agree_server_t *out)
{
    memset(out, 0, sizeof *out);
    out->q = SEC_AGREE_Q_NONE;
    out->spi_pc = s->spi_pc;
    out->spi_ps = s->spi_ps;
    out->port_pc = s->port_pc;
    out->port_ps = s->port_ps;
    out->alg = s->keys.alg;
    out->ealg = s->keys.ealg;
    return ipsec_alg_name(out->alg) && ipsec_ealg_name(out->ealg) ? 0 : -1;
}

int pc_sa_same(const pc_sa_t *a, const pc_sa_t *b)
{
    return a->state != PC_SA_NONE && b->state != PC_SA_NONE && a->set.spi_pc == b->set.spi_pc &&
           a->set.spi_ps == b->set.spi_ps;
}

/* ---- pending ---- */

void pc_pending_free(pc_pending_table_t *t)
{
    free(t->items);
    memset(t, 0, sizeof *t);
}

static void take_at(pc_pending_table_t *t, size_t i, pc_pending_t *out)
{
    if (out)
        *out = t->items[i];
    t->items[i] = t->items[--t->n];
}

int pc_pending_add(pc_pending_table_t *t, const pc_pending_t *p, pc_pending_t *replaced)
{
    int rc = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->items[i].sa.set.ue_addr, p->sa.set.ue_addr) == 0 &&
            strcmp(t->items[i].impi, p->impi) == 0) {
            take_at(t, i, replaced);
            rc = 1;
            break;
        }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        pc_pending_t *grown = realloc(t->items, cap * sizeof *grown);
        if (!grown) {
            if (rc) /* put the old one back: nothing changes */
                t->items[t->n++] = *replaced;
            return -1;
        }
        t->items = grown;
        t->cap = cap;
    }
    t->items[t->n++] = *p;
    return rc;
}

pc_pending_t *pc_pending_find(pc_pending_table_t *t, const char *ue_addr, uint16_t port_uc,
                              const char *impi)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].sa.set.port_uc == port_uc &&
            strcmp(t->items[i].sa.set.ue_addr, ue_addr) == 0 && strcmp(t->items[i].impi, impi) == 0)
            return &t->items[i];
    return NULL;
}

int pc_pending_take(pc_pending_table_t *t, uint32_t spi_pc, uint32_t spi_ps, pc_pending_t *out)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].sa.set.spi_pc == spi_pc && t->items[i].sa.set.spi_ps == spi_ps) {
            take_at(t, i, out);
            return 0;
        }
    return -1;
}

int pc_pending_take_ue(pc_pending_table_t *t, const char *ue_addr, const char *impi,
                       pc_pending_t *out)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->items[i].sa.set.ue_addr, ue_addr) == 0 &&
            strcmp(t->items[i].impi, impi) == 0) {
            take_at(t, i, out);
            return 0;
        }
    return -1;
}

int pc_pending_expire(pc_pending_table_t *t, int64_t now_ms, pc_pending_t *out)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].sa.until_ms <= now_ms) {
            take_at(t, i, out);
            return 1;
        }
    return 0;
}

/* ---- a binding's slots ---- */

size_t pc_sa_activate(pc_sa_t slots[2], const pc_sa_t *nw, int64_t now_ms, int64_t grace_ms,
                      pc_sa_t rm[2])
{
    size_t n = 0;
    if (pc_sa_same(&slots[0], nw))
        return 0;
    if (pc_sa_same(&slots[1], nw)) {
        /* The UE went back to the older set: it is the registration's again. */
        pc_sa_t t = slots[0];
        slots[0] = slots[1];
        slots[1] = t;
    } else {
        if (slots[1].state != PC_SA_NONE)
            rm[n++] = slots[1];
        slots[1] = slots[0];
        slots[0] = *nw;
    }
    slots[0].state = PC_SA_ACTIVE;
    slots[0].until_ms = 0;
    if (slots[1].state != PC_SA_NONE) {
        slots[1].state = PC_SA_OLD;
        slots[1].until_ms = now_ms + grace_ms;
    }
    return n;
}

size_t pc_sa_clear(pc_sa_t slots[2], pc_sa_t rm[2])
{
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        if (slots[i].state != PC_SA_NONE)
            rm[n++] = slots[i];
        memset(&slots[i], 0, sizeof slots[i]);
    }
    return n;
}

int pc_sa_match_verify(const pc_sa_t *slots, const char *ue_addr, uint16_t port_uc,
                       const sip_security_verify_t *sv)
{
    for (int i = 0; i < 2; i++) {
        sec_agree_server_t sent;
        const pc_sa_t *s = &slots[i];
        if (s->state == PC_SA_NONE || s->set.port_uc != port_uc ||
            strcmp(s->set.ue_addr, ue_addr) != 0 || pc_sa_server(&s->set, &sent) < 0)
            continue;
        if (sec_agree_verify(sv, &sent, NULL, 0) == 0)
            return i;
    }
    return -1;
}
