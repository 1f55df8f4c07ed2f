#include "common/ops/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CFG_MAX_KEYS  256
#define CFG_MAX_ITEMS 64

typedef enum { SRC_DEFAULT, SRC_FILE, SRC_ENV } cfg_source_t;

typedef struct cfg_value {
    const cfg_key_t *key;
    char **items; /* scalars have one item */
    size_t nitems;
    int set;
    cfg_source_t source;
} cfg_value_t;

struct cfg {
    char prefix[32];
    cfg_value_t values[CFG_MAX_KEYS];
    size_t nvalues;
};

static const char *type_name(cfg_type_t t)
{
    switch (t) {
    case CFG_STRING:
        return "string";
    case CFG_INT:
        return "integer";
    case CFG_BOOL:
        return "boolean";
    case CFG_ENUM:
        return "enum";
    case CFG_ADDR:
        return "host:port";
    case CFG_LIST:
        return "list of strings";
    case CFG_ADDR_LIST:
        return "list of host:port";
    case CFG_SIP_URI:
        return "SIP URI";
    case CFG_RECORD_LIST:
        return "list of mappings";
    }
    return "?";
}

static int is_list(cfg_type_t t)
{
    return t == CFG_LIST || t == CFG_ADDR_LIST || t == CFG_RECORD_LIST;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static cfg_value_t *find(const cfg_t *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->nvalues; i++)
        if (strcmp(cfg->values[i].key->path, path) == 0)
            return (cfg_value_t *)&cfg->values[i];
    return NULL;
}

/* True when some key lives below `prefix.` so a mapping there is a section, not a typo. */
static int is_section(const cfg_t *cfg, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < cfg->nvalues; i++) {
        const char *p = cfg->values[i].key->path;
        if (strncmp(p, prefix, n) == 0 && p[n] == '.')
            return 1;
    }
    return 0;
}

static void clear_items(cfg_value_t *v)
{
    for (size_t i = 0; i < v->nitems; i++)
        free(v->items[i]);
    free(v->items);
    v->items = NULL;
    v->nitems = 0;
}

static int push_item(char ***items, size_t *n, const char *s, size_t len)
{
    if (*n >= CFG_MAX_ITEMS)
        return -1;
    char **grown = realloc(*items, (*n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *items = grown;
    grown[*n] = strndup(s, len);
    if (!grown[*n])
        return -1;
    (*n)++;
    return 0;
}

static void free_items(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

/* Splits "a, b,c" into trimmed items; empty text gives an empty list. */
static int split_list(const char *s, char ***items, size_t *n)
{
    *items = NULL;
    *n = 0;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        size_t trimmed = len;
        while (trimmed && isspace((unsigned char)s[trimmed - 1]))
            trimmed--;
        if (trimmed && push_item(items, n, s, trimmed) < 0)
            return -1;
        if (!end)
            break;
        s = end + 1;
    }
    return 0;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int is_dns_name(const char *h)
{
    size_t len = strlen(h), label = 0;
    if (len == 0 || len > 253)
        return 0;
    for (const char *p = h; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

int cfg_split_addr(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        hlen = (size_t)(close - s - 1);
        if (hlen >= hostlen)
            return -1;
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return -1;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return -1;
        hlen = (size_t)(colon - s);
        if (hlen == 0 || hlen >= hostlen)
            return -1;
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        struct in_addr a4;
        int dotted = strspn(host, "0123456789.") == hlen;
        if (dotted ? inet_pton(AF_INET, host, &a4) != 1 : !is_dns_name(host))
            return -1;
    }
    long p;
    if (parse_long(colon + 1, &p) < 0 || p < 1 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

int cfg_check_addr(const char *s)
{
    char host[256];
    int port;
    return cfg_split_addr(s, host, sizeof host, &port);
}

static int check_sip_uri(const char *s)
{
    if (strncasecmp(s, "sip:", 4) != 0 && strncasecmp(s, "sips:", 5) != 0)
        return -1;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || *p == '<' || *p == '>' || *p == '"')
            return -1;
    return strlen(s) > 5 ? 0 : -1;
}

/* Checks one item against the key's type; returns a reason, or NULL when fine. */
static const char *check_item(const cfg_key_t *k, const char *s)
{
    long l;
    int b;
    switch (k->type) {
    case CFG_STRING:
    case CFG_LIST:
    case CFG_RECORD_LIST:
        return NULL;
    case CFG_INT:
        if (parse_long(s, &l) < 0)
            return "expected an integer";
        if ((k->min || k->max) && (l < k->min || l > k->max))
            return "integer out of range";
        return NULL;
    case CFG_BOOL:
        return parse_bool(s, &b) < 0 ? "expected true or false" : NULL;
    case CFG_ENUM: {
        size_t n = strlen(s);
        for (const char *c = k->choices; c && *c;) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && strncmp(c, s, n) == 0)
                return NULL;
            c = bar ? bar + 1 : c + len;
        }
        return "not one of the allowed values";
    }
    case CFG_ADDR:
    case CFG_ADDR_LIST:
        return cfg_check_addr(s) < 0 ? "expected host:port (IPv4, [IPv6] or DNS name; port 1-65535)"
                                     : NULL;
    case CFG_SIP_URI:
        return check_sip_uri(s) < 0 ? "expected a sip: or sips: URI" : NULL;
    }
    return "unknown type";
}

/* Validates items, then replaces the value's items (taking ownership of them). */
static int assign(cfg_value_t *v, char **items, size_t n, cfg_source_t src, const char *where,
                  char *err, size_t errlen)
{
    const cfg_key_t *k = v->key;
    for (size_t i = 0; i < n; i++) {
        const char *why = check_item(k, items[i]);
        if (why) {
            set_err(err, errlen, "%s: %s: %s, got '%s'", where, k->path, why, items[i]);
            if (k->type == CFG_ENUM)
                snprintf(err + strlen(err), errlen - strlen(err), " (allowed: %s)", k->choices);
            free_items(items, n);
            return -1;
        }
    }
    clear_items(v);
    v->items = items;
    v->nitems = n;
    v->set = src != SRC_DEFAULT;
    v->source = src;
    return 0;
}

cfg_t *cfg_new(const char *env_prefix, const cfg_key_t *const *tables)
{
    cfg_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    snprintf(cfg->prefix, sizeof cfg->prefix, "%s", env_prefix);
    char err[256];
    for (size_t t = 0; tables[t]; t++) {
        for (const cfg_key_t *k = tables[t]; k->path; k++) {
            if (cfg->nvalues == CFG_MAX_KEYS || find(cfg, k->path))
                abort(); /* schema bug: too many or duplicate keys */
            cfg_value_t *v = &cfg->values[cfg->nvalues++];
            v->key = k;
            if (!k->dflt)
                continue;
            char **items = NULL;
            size_t n = 0;
            if (is_list(k->type) ? split_list(k->dflt, &items, &n) < 0
                                 : push_item(&items, &n, k->dflt, strlen(k->dflt)) < 0)
                abort();
            if (assign(v, items, n, SRC_DEFAULT, "default", err, sizeof err) < 0)
                abort(); /* schema bug: default does not pass its own type */
        }
    }
    return cfg;
}

void cfg_free(cfg_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nvalues; i++)
        clear_items(&cfg->values[i]);
    free(cfg);
}

/* ---- YAML ---- */

typedef struct yaml_ctx {
    cfg_t *cfg;
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t errlen;
} yaml_ctx_t;

static void where(const yaml_ctx_t *y, const yaml_node_t *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%lu", y->name, (unsigned long)n->start_mark.line + 1);
}

static int scalar_text(const yaml_node_t *n, const char **s)
{
    if (n->type != YAML_SCALAR_NODE)
        return -1;
    *s = (const char *)n->data.scalar.value;
    return 0;
}

/* One mapping of a CFG_RECORD_LIST as "k=v; k=v": plain keys and values only, and none
 * holding the separators (';', '=', ',') that the flat form and the environment use. */
static int flatten_record(yaml_ctx_t *y, yaml_node_t *map, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    int bad = map->type != YAML_MAPPING_NODE;
    for (yaml_node_pair_t *p = bad ? NULL : map->data.mapping.pairs.start;
         p && p < map->data.mapping.pairs.top && !bad; p++) {
        yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(y->doc, p->value);
        const char *k, *v;
        bad = !kn || !vn || scalar_text(kn, &k) < 0 || scalar_text(vn, &v) < 0 ||
              strpbrk(k, ";=,") || strpbrk(v, ";=,");
        if (!bad)
            fprintf(f, "%s%s=%s", p == map->data.mapping.pairs.start ? "" : "; ", k, v);
    }
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

static int load_records(yaml_ctx_t *y, const cfg_key_t *k, yaml_node_t *n, const char *loc,
                        char ***items, size_t *count)
{
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = yaml_document_get_node(y->doc, *it);
        char *flat = NULL;
        int rc = e ? flatten_record(y, e, &flat) : -1;
        if (rc == 0)
            rc = push_item(items, count, flat, strlen(flat));
        free(flat);
        if (rc < 0) {
            set_err(y->err, y->errlen,
                    "%s: %s: expected a %s (at most %d, each of plain key: value pairs without "
                    "';', '=' or ',')",
                    loc, k->path, type_name(k->type), CFG_MAX_ITEMS);
            return -1;
        }
    }
    return 0;
}

static int load_value(yaml_ctx_t *y, cfg_value_t *v, yaml_node_t *n)
{
    char loc[300];
    where(y, n, loc, sizeof loc);
    const cfg_key_t *k = v->key;
    char **items = NULL;
    size_t count = 0;
    const char *s;

    if (is_list(k->type)) {
        if (n->type != YAML_SEQUENCE_NODE) {
            set_err(y->err, y->errlen, "%s: %s: expected a %s", loc, k->path, type_name(k->type));
            return -1;
        }
        if (k->type == CFG_RECORD_LIST) {
            if (load_records(y, k, n, loc, &items, &count) < 0) {
                free_items(items, count);
                return -1;
            }
            return assign(v, items, count, SRC_FILE, loc, y->err, y->errlen);
        }
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            yaml_node_t *e = yaml_document_get_node(y->doc, *it);
            if (!e || scalar_text(e, &s) < 0 || push_item(&items, &count, s, strlen(s)) < 0) {
                set_err(y->err, y->errlen, "%s: %s: expected a %s (at most %d plain items)", loc,
                        k->path, type_name(k->type), CFG_MAX_ITEMS);
                free_items(items, count);
                return -1;
            }
        }
    } else if (scalar_text(n, &s) < 0 || push_item(&items, &count, s, strlen(s)) < 0) {
        set_err(y->err, y->errlen, "%s: %s: expected a %s", loc, k->path, type_name(k->type));
        return -1;
    }
    return assign(v, items, count, SRC_FILE, loc, y->err, y->errlen);
}

static int load_mapping(yaml_ctx_t *y, yaml_node_t *map, const char *prefix)
{
    char loc[300];
    if (map->type != YAML_MAPPING_NODE) {
        where(y, map, loc, sizeof loc);
        set_err(y->err, y->errlen, "%s: %s: expected a mapping", loc, *prefix ? prefix : "(top)");
        return -1;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(y->doc, p->value);
        const char *key;
        where(y, kn, loc, sizeof loc);
        if (scalar_text(kn, &key) < 0 || !vn) {
            set_err(y->err, y->errlen, "%s: keys must be plain names", loc);
            return -1;
        }
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        cfg_value_t *v = find(y->cfg, path);
        int rc;
        if (v)
            rc = load_value(y, v, vn);
        else if (is_section(y->cfg, path))
            rc = load_mapping(y, vn, path);
        else {
            set_err(y->err, y->errlen, "%s: %s: unknown key", loc, path);
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int load_parser(cfg_t *cfg, yaml_parser_t *parser, const char *name, char *err,
                       size_t errlen)
{
    yaml_document_t doc;
    if (!yaml_parser_load(parser, &doc)) {
        set_err(err, errlen, "%s:%lu: YAML syntax error: %s", name,
                (unsigned long)parser->problem_mark.line + 1,
                parser->problem ? parser->problem : "unknown");
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = 0;
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        yaml_ctx_t y = {cfg, &doc, name, err, errlen};
        rc = load_mapping(&y, root, "");
    }
    yaml_document_delete(&doc);
    return rc;
}

int cfg_load_string(cfg_t *cfg, const char *name, const char *yaml, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
    int rc = load_parser(cfg, &parser, name, err, errlen);
    yaml_parser_delete(&parser);
    return rc;
}

int cfg_load_file(cfg_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = load_parser(cfg, &parser, path, err, errlen);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- environment ---- */

void cfg_env_name(const cfg_t *cfg, const char *path, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "%s_", cfg->prefix);
    for (const char *p = path; *p && n + 1 < outlen; p++)
        out[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[n < outlen ? n : outlen - 1] = '\0';
}

int cfg_apply_env(cfg_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nvalues; i++) {
        cfg_value_t *v = &cfg->values[i];
        char name[128];
        cfg_env_name(cfg, v->key->path, name, sizeof name);
        const char *s = getenv(name);
        if (!s)
            continue;
        char **items = NULL;
        size_t n = 0;
        if (is_list(v->key->type) ? split_list(s, &items, &n) < 0
                                  : push_item(&items, &n, s, strlen(s)) < 0) {
            set_err(err, errlen, "environment %s: %s: too many items", name, v->key->path);
            free_items(items, n);
            return -1;
        }
        char loc[160];
        snprintf(loc, sizeof loc, "environment %s", name);
        if (assign(v, items, n, SRC_ENV, loc, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* ---- access ---- */

static const cfg_value_t *must_find(const cfg_t *cfg, const char *path, cfg_type_t a, cfg_type_t b)
{
    const cfg_value_t *v = find(cfg, path);
    if (!v || (v->key->type != a && v->key->type != b)) {
        fprintf(stderr, "config: internal error: no %s key '%s'\n", type_name(a), path);
        abort();
    }
    return v;
}

const char *cfg_str(const cfg_t *cfg, const char *path)
{
    const cfg_value_t *v = find(cfg, path);
    if (!v || is_list(v->key->type)) {
        fprintf(stderr, "config: internal error: no scalar key '%s'\n", path);
        abort();
    }
    return v->nitems ? v->items[0] : NULL;
}

long cfg_int(const cfg_t *cfg, const char *path)
{
    const cfg_value_t *v = must_find(cfg, path, CFG_INT, CFG_INT);
    long l = 0;
    if (v->nitems)
        parse_long(v->items[0], &l);
    return l;
}

int cfg_bool(const cfg_t *cfg, const char *path)
{
    const cfg_value_t *v = must_find(cfg, path, CFG_BOOL, CFG_BOOL);
    int b = 0;
    if (v->nitems)
        parse_bool(v->items[0], &b);
    return b;
}

size_t cfg_list(const cfg_t *cfg, const char *path, const char *const **items)
{
    const cfg_value_t *v = find(cfg, path);
    if (!v || v->key->type != CFG_RECORD_LIST)
        v = must_find(cfg, path, CFG_LIST, CFG_ADDR_LIST);
    *items = (const char *const *)v->items;
    return v->nitems;
}

int cfg_is_set(const cfg_t *cfg, const char *path)
{
    const cfg_value_t *v = find(cfg, path);
    return v && v->set;
}

/* ---- reference ---- */

/* " (a, b, c)": a '|' would split the Markdown table cell. */
static void print_choices(FILE *f, const char *choices)
{
    fputs(" (", f);
    for (const char *c = choices; *c; c++) {
        if (*c == '|')
            fputs(", ", f);
        else
            fputc(*c, f);
    }
    fputc(')', f);
}

char *cfg_reference(const cfg_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "| key | type | default | environment | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < cfg->nvalues; i++) {
        const cfg_key_t *k = cfg->values[i].key;
        char env[128];
        cfg_env_name(cfg, k->path, env, sizeof env);
        fprintf(f, "| `%s` | %s", k->path, type_name(k->type));
        if (k->type == CFG_ENUM)
            print_choices(f, k->choices);
        else if (k->type == CFG_INT && (k->min || k->max))
            fprintf(f, " %ld-%ld", k->min, k->max);
        if (!k->dflt)
            fprintf(f, " | - ");
        else if (!*k->dflt)
            fprintf(f, " | (empty) ");
        else
            fprintf(f, " | `%s` ", k->dflt);
        fprintf(f, "| `%s` | %s |\n", env, k->help ? k->help : "");
    }
    fclose(f);
    return buf;
}

static int same_items(const cfg_value_t *a, const cfg_value_t *b)
{
    if (a->nitems != b->nitems)
        return 0;
    for (size_t i = 0; i < a->nitems; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return 0;
    return 1;
}

size_t cfg_diff(const cfg_t *a, const cfg_t *b, const char **paths, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nvalues && n < max; i++) {
        const cfg_value_t *other = find(b, a->values[i].key->path);
        if (!other || !same_items(&a->values[i], other))
            paths[n++] = a->values[i].key->path;
    }
    return n;
}
