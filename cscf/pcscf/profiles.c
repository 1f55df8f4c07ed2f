/* Handset profiles: parsing pcscf.profiles, matching at REGISTER, GET /api/v1/profiles. What
 * each switch does is in the code that reads it (register.c, route.c, the flows code). */
#include "cscf/pcscf/profiles.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>

#include "common/util/log.h"

void pcscf_profile_builtin(pcscf_profile_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", PCSCF_PROFILE_DEFAULT);
    /* What works for the common phones: Authorization parameters run together (a fold where
     * a comma belongs) are taken and split, the keys for our SAs never reach the UE, qop stays (RFC
     * 2617 3.2.2: a phone that got it answers with it), the UE's Supported keeps its tags and gets
     * path (we insert a Path); transport, UDP size and keep-alive are the flows.* keys' (0 here).
     */
    out->tolerate_auth_spacing = true;
    out->strip_ck_ik = true;
    snprintf(out->supported_add, sizeof out->supported_add, "path");
}

/* ---- parsing ---- */

typedef enum { SW_BOOL, SW_INT, SW_TRANSPORT, SW_TAGS } sw_type_t;

typedef struct sw {
    const char *key;
    sw_type_t type;
    size_t off;
    long min, max;
} sw_t;

#define OFF(f) offsetof(pcscf_profile_t, f)
static const sw_t switches[] = {
    {"tolerate_auth_spacing", SW_BOOL, OFF(tolerate_auth_spacing), 0, 0},
    {"strip_ck_ik", SW_BOOL, OFF(strip_ck_ik), 0, 0},
    {"strip_qop", SW_BOOL, OFF(strip_qop), 0, 0},
    {"rewrite_tel_from", SW_BOOL, OFF(rewrite_tel_from), 0, 0},
    {"supported_add", SW_TAGS, OFF(supported_add), 0, 0},
    {"force_transport", SW_TRANSPORT, OFF(force_transport), 0, 0},
    {"max_udp_size", SW_INT, OFF(max_udp_size), 0, 65535},
    {"keepalive_seconds", SW_INT, OFF(keepalive_seconds), 0, 86400},
    {"expires_min", SW_INT, OFF(expires_min), 0, 604800},
    {"expires_max", SW_INT, OFF(expires_max), 0, 604800},
};
#define NSWITCHES (sizeof switches / sizeof switches[0])

static const char *const transports[] = {"none", "udp", "tcp"};

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
            *out = strcasecmp(v, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

/* Option tags (RFC 3261 25.1 token chars) separated by spaces. */
static int tags_ok(const char *v)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(" -.!%*_+`'~", *p))
            return 0;
    return 1;
}

static const char *set_switch(pcscf_profile_t *p, const sw_t *s, const char *v)
{
    char *field = (char *)p + s->off;
    char *end;
    long l;
    switch (s->type) {
    case SW_BOOL:
        return parse_bool(v, (bool *)field) < 0 ? "expected true or false" : NULL;
    case SW_INT:
        l = strtol(v, &end, 10);
        if (!*v || *end || l < s->min || l > s->max)
            return "expected an integer in range";
        *(int *)field = (int)l;
        return NULL;
    case SW_TRANSPORT:
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(v, transports[i]) == 0) {
                *(int *)field = i;
                return NULL;
            }
        }
        return "expected none, udp or tcp";
    case SW_TAGS:
        if (!tags_ok(v) || strlen(v) >= sizeof p->supported_add)
            return "expected option tags separated by spaces (at most 63 characters)";
        snprintf(field, sizeof p->supported_add, "%s", v);
        return NULL;
    }
    return "unknown switch type";
}

static int name_ok(const char *v)
{
    if (!*v || strlen(v) >= sizeof((pcscf_profile_t *)0)->name)
        return 0;
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    return 1;
}

static const char *set_key(pcscf_profile_t *p, const char *k, const char *v, int *matchers)
{
    if (strcmp(k, "name") == 0) {
        if (!name_ok(v))
            return "expected 1-31 letters, digits, '-', '_' or '.'";
        snprintf(p->name, sizeof p->name, "%s", v);
        return NULL;
    }
    if (strcmp(k, "user_agent") == 0) {
        if (!*v || strlen(v) >= sizeof p->user_agent)
            return "expected a non-empty pattern of at most 127 characters";
        snprintf(p->user_agent, sizeof p->user_agent, "%s", v);
        (*matchers)++;
        return NULL;
    }
    if (strcmp(k, "tac") == 0) {
        size_t n = strlen(v);
        if (n < 1 || n > 8 || strspn(v, "0123456789") != n)
            return "expected 1-8 digits (the leading digits of the IMEI's TAC)";
        snprintf(p->tac, sizeof p->tac, "%s", v);
        (*matchers)++;
        return NULL;
    }
    for (size_t i = 0; i < NSWITCHES; i++)
        if (strcmp(k, switches[i].key) == 0)
            return set_switch(p, &switches[i], v);
    return "unknown key";
}

/* One item: "k=v; k=v". */
static int parse_one(const char *item, const pcscf_profile_t *base, pcscf_profile_t *out,
                     int *matchers, char *err, size_t errlen)
{
    char buf[1024];
    if (strlen(item) >= sizeof buf) {
        snprintf(err, errlen, "pcscf.profiles: an item is too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", item);
    *out = *base;
    out->name[0] = out->user_agent[0] = out->tac[0] = '\0';
    *matchers = 0;
    char *save = NULL;
    for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        while (isspace((unsigned char)*kv))
            kv++;
        if (!*kv)
            continue;
        char *eq = strchr(kv, '=');
        char *k = kv, *v = eq ? eq + 1 : NULL;
        if (eq)
            for (*eq = '\0'; eq > k && isspace((unsigned char)eq[-1]); eq--)
                eq[-1] = '\0';
        while (v && isspace((unsigned char)*v))
            v++;
        for (size_t n = v ? strlen(v) : 0; n && isspace((unsigned char)v[n - 1]); n--)
            v[n - 1] = '\0';
        const char *why = v ? set_key(out, k, v, matchers) : "expected key=value";
        if (why) {
            snprintf(err, errlen, "pcscf.profiles: profile '%s': %s: %s", out->name, k, why);
            return -1;
        }
    }
    if (!out->name[0]) {
        snprintf(err, errlen, "pcscf.profiles: a profile has no name");
        return -1;
    }
    return 0;
}

int pcscf_profiles_parse(const char *const *items, size_t n, pcscf_profiles_t *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    pcscf_profile_builtin(&out->dflt);
    /* `default` first, wherever it is: the others inherit from it. */
    for (size_t i = 0; i < n; i++) {
        pcscf_profile_t p;
        int matchers;
        if (parse_one(items[i], &out->dflt, &p, &matchers, err, errlen) < 0)
            return -1;
        if (strcmp(p.name, PCSCF_PROFILE_DEFAULT) != 0)
            continue;
        if (matchers) {
            snprintf(err, errlen,
                     "pcscf.profiles: profile 'default' matches what the others do "
                     "not: it takes no user_agent or tac");
            return -1;
        }
        out->dflt = p;
    }
    for (size_t i = 0; i < n; i++) {
        pcscf_profile_t p;
        int matchers;
        if (parse_one(items[i], &out->dflt, &p, &matchers, err, errlen) < 0)
            return -1;
        if (strcmp(p.name, PCSCF_PROFILE_DEFAULT) == 0)
            continue;
        if (!matchers) {
            snprintf(err, errlen, "pcscf.profiles: profile '%s' needs user_agent and/or tac",
                     p.name);
            return -1;
        }
        for (size_t j = 0; j < out->n; j++) {
            if (strcmp(out->list[j].name, p.name) == 0) {
                snprintf(err, errlen, "pcscf.profiles: profile '%s' is named twice", p.name);
                return -1;
            }
        }
        if (out->n == PCSCF_PROFILES_MAX) {
            snprintf(err, errlen, "pcscf.profiles: at most %d profiles", PCSCF_PROFILES_MAX);
            return -1;
        }
        out->list[out->n++] = p;
    }
    return 0;
}

/* ---- matching ---- */

int pcscf_imei_tac(const char *instance, char tac[9])
{
    static const char urn[] = "urn:gsma:imei:";
    const char *s = instance;
    while (s && (*s == '"' || *s == '<' || isspace((unsigned char)*s)))
        s++;
    if (!s || strncasecmp(s, urn, sizeof urn - 1) != 0)
        return -1;
    s += sizeof urn - 1;
    if (strspn(s, "0123456789") < 8)
        return -1;
    memcpy(tac, s, 8);
    tac[8] = '\0';
    return 0;
}

static int ua_matches(const char *pattern, const char *ua)
{
    if (!ua)
        return 0;
    if (strpbrk(pattern, "*?["))
        return fnmatch(pattern, ua, FNM_CASEFOLD) == 0;
    return strcasestr(ua, pattern) != NULL;
}

static int matches(const pcscf_profile_t *p, const char *ua, const char *tac)
{
    if (p->user_agent[0] && !ua_matches(p->user_agent, ua))
        return 0;
    if (p->tac[0] && (!tac || strncmp(tac, p->tac, strlen(p->tac)) != 0))
        return 0;
    return p->user_agent[0] || p->tac[0];
}

const pcscf_profile_t *pcscf_profiles_match(const pcscf_profiles_t *ps, const char *user_agent,
                                            const char *instance)
{
    char tac[9];
    const char *t = instance && pcscf_imei_tac(instance, tac) == 0 ? tac : NULL;
    for (size_t i = 0; i < ps->n; i++)
        if (matches(&ps->list[i], user_agent, t))
            return &ps->list[i];
    return &ps->dflt;
}

const pcscf_profile_t *pcscf_profiles_named(const pcscf_profiles_t *ps, const char *name)
{
    for (size_t i = 0; name && i < ps->n; i++)
        if (strcmp(ps->list[i].name, name) == 0)
            return &ps->list[i];
    return &ps->dflt;
}

/* ---- JSON ---- */

json_t *pcscf_profile_json(const pcscf_profile_t *p, int builtin)
{
    json_t *sw = json_object();
    for (size_t i = 0; i < NSWITCHES; i++) {
        const sw_t *s = &switches[i];
        const char *field = (const char *)p + s->off;
        json_t *v = NULL;
        switch (s->type) {
        case SW_BOOL:
            v = json_boolean(*(const bool *)field);
            break;
        case SW_INT:
            v = json_integer(*(const int *)field);
            break;
        case SW_TRANSPORT:
            v = json_string(transports[*(const int *)field]);
            break;
        case SW_TAGS:
            v = json_string(field);
            break;
        }
        json_object_set_new(sw, s->key, v);
    }
    return json_pack("{s:s,s:b,s:{s:s?,s:s?},s:o}", "name", p->name, "builtin", builtin, "match",
                     "user_agent", p->user_agent[0] ? p->user_agent : NULL, "tac",
                     p->tac[0] ? p->tac : NULL, "switches", sw);
}

json_t *pcscf_profiles_json(const pcscf_profiles_t *ps)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ps->n; i++)
        json_array_append_new(arr, pcscf_profile_json(&ps->list[i], 0));
    json_array_append_new(arr, pcscf_profile_json(&ps->dflt, 1));
    return json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(arr), "profiles", arr);
}

/* ---- the pcscf's side ---- */

static int parse_cfg(const cfg_t *cfg, pcscf_profiles_t *out, char *err, size_t errlen)
{
    const char *const *items;
    size_t n = cfg_list(cfg, "pcscf.profiles", &items);
    return pcscf_profiles_parse(items, n, out, err, errlen);
}

int pcscf_profiles_check(const cfg_t *cfg, char *err, size_t errlen)
{
    pcscf_profiles_t *ps = malloc(sizeof *ps);
    if (!ps) {
        snprintf(err, errlen, "pcscf.profiles: out of memory");
        return -1;
    }
    int rc = parse_cfg(cfg, ps, err, errlen);
    free(ps);
    return rc;
}

typedef struct list_op {
    pcscf_t *pc;
    json_t *out;
} list_op_t;

static void list_on_loop(void *arg)
{
    list_op_t *o = arg;
    o->out = pcscf_profiles_json(o->pc->profiles);
}

/* GET /api/v1/profiles: the configured profiles in matching order, then `default`. */
static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    (void)req;
    list_op_t o = {.pc = ctx};
    if (loopq_call(o.pc->p->queue, list_on_loop, &o, 1000) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

int pcscf_profiles_init(pcscf_t *pc)
{
    char err[300];
    pc->profiles = calloc(1, sizeof *pc->profiles);
    if (!pc->profiles)
        return -1;
    if (parse_cfg(pc->p->cfg, pc->profiles, err, sizeof err) < 0) {
        log_error("pcscf: %s", err); /* pcscf_profiles_check let it through: a bug */
        return -1;
    }
    log_info("pcscf: %zu handset profiles besides `default`", pc->profiles->n);
    return api_route(pc->p->api, "GET", "/api/v1/profiles", 0, list_route, pc);
}

void pcscf_profiles_fini(pcscf_t *pc)
{
    free(pc->profiles);
    pc->profiles = NULL;
}

int pcscf_profiles_reload(pcscf_t *pc, const cfg_t *cfg)
{
    char err[300];
    pcscf_profiles_t *ps = malloc(sizeof *ps);
    if (!ps || parse_cfg(cfg, ps, err, sizeof err) < 0) {
        if (ps)
            log_warn("reload: %s", err);
        free(ps);
        return 0;
    }
    /* Bindings keep names: theirs are looked up in the new list from now on. */
    free(pc->profiles);
    pc->profiles = ps;
    return 1;
}

const pcscf_profile_t *pcscf_profile_of(const pcscf_t *pc, const pc_binding_t *b)
{
    return pcscf_profiles_named(pc->profiles, b ? b->profile : NULL);
}

/* The +sip.instance of the first Contact, as written (quotes included). */
static const char *instance_of(const sip_t *sip)
{
    const sip_contact_t *m = sip->sip_contact;
    return m ? msg_params_find(m->m_params, "+sip.instance=") : NULL;
}

const pcscf_profile_t *pcscf_profile_for(const pcscf_t *pc, const sip_t *sip)
{
    const char *ua = sip->sip_user_agent ? sip->sip_user_agent->g_string : NULL;
    return pcscf_profiles_match(pc->profiles, ua, instance_of(sip));
}
