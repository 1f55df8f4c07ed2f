/* The subscriber file: YAML -> one JSON object per entry -> hss_subscriber_from_json, with
 * PATH:LINE in every message. Every scalar becomes a JSON string (the schema accepts "3" and
 * "true"); aliases, duplicate keys and custom tags are refused rather than guessed at. */
#include "diameter/hss/subscriber.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/util/strmap.h"

#define MAX_DEPTH 32

typedef struct load_ctx {
    const char *name;
    yaml_document_t *doc;
    unsigned char *seen; /* per node id: already converted (a second use is an alias) */
    char *err;
    size_t errlen;
} load_ctx_t;

static int load_fail(load_ctx_t *c, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int load_fail(load_ctx_t *c, unsigned long line, const char *fmt, ...)
{
    int n = snprintf(c->err, c->errlen, "%s:%lu: ", c->name, line);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static unsigned long line_of(const yaml_node_t *n)
{
    return (unsigned long)n->start_mark.line + 1;
}

static yaml_node_t *node(load_ctx_t *c, yaml_node_item_t id)
{
    return yaml_document_get_node(c->doc, id);
}

static int is_scalar(const yaml_node_t *n, const char *text)
{
    return n && n->type == YAML_SCALAR_NODE &&
           strlen((const char *)n->data.scalar.value) == n->data.scalar.length &&
           (!text || strcmp((const char *)n->data.scalar.value, text) == 0);
}

/* ---- YAML -> JSON ---- */

static int yaml_to_json(load_ctx_t *c, yaml_node_item_t id, unsigned long used_at, int depth,
                        json_t **out);

/* Marks a node used; a node reached twice was reached through an alias. */
static int claim(load_ctx_t *c, yaml_node_item_t id, unsigned long used_at)
{
    yaml_node_t *n = node(c, id);
    if (c->seen[id])
        return load_fail(c, used_at,
                         "YAML aliases are not supported (the value anchored at "
                         "line %lu is used again)",
                         line_of(n));
    c->seen[id] = 1;
    if (n->tag && strncmp((const char *)n->tag, "tag:yaml.org,2002:", 18) != 0)
        return load_fail(c, line_of(n), "unsupported YAML tag '%s'", (const char *)n->tag);
    return 0;
}

static int mapping_to_json(load_ctx_t *c, yaml_node_t *map, int depth, json_t *obj)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node(c, p->key);
        json_t *v;
        if (claim(c, p->key, line_of(map)) < 0)
            return -1;
        if (!is_scalar(kn, NULL))
            return load_fail(c, line_of(kn), "mapping keys must be plain names");
        const char *key = (const char *)kn->data.scalar.value;
        if (json_object_get(obj, key))
            return load_fail(c, line_of(kn), "duplicate key '%s'", key);
        if (yaml_to_json(c, p->value, line_of(kn), depth + 1, &v) < 0)
            return -1;
        if (json_object_set_new(obj, key, v) < 0)
            return load_fail(c, line_of(kn), "out of memory");
    }
    return 0;
}

static int sequence_to_json(load_ctx_t *c, yaml_node_t *seq, int depth, json_t *arr)
{
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        json_t *v;
        if (yaml_to_json(c, *it, line_of(seq), depth + 1, &v) < 0)
            return -1;
        if (json_array_append_new(arr, v) < 0)
            return load_fail(c, line_of(seq), "out of memory");
    }
    return 0;
}

/* used_at: the line that refers to the node (for an alias, the anchor's line is elsewhere). */
static int yaml_to_json(load_ctx_t *c, yaml_node_item_t id, unsigned long used_at, int depth,
                        json_t **out)
{
    yaml_node_t *n = node(c, id);
    *out = NULL;
    if (claim(c, id, used_at) < 0)
        return -1;
    if (depth > MAX_DEPTH)
        return load_fail(c, line_of(n), "nested too deeply");
    switch (n->type) {
    case YAML_SCALAR_NODE:
        *out = json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
        return *out ? 0 : load_fail(c, line_of(n), "not a valid UTF-8 string");
    case YAML_MAPPING_NODE:
        *out = json_object();
        if (*out && mapping_to_json(c, n, depth, *out) == 0)
            return 0;
        break;
    case YAML_SEQUENCE_NODE:
        *out = json_array();
        if (*out && sequence_to_json(c, n, depth, *out) == 0)
            return 0;
        break;
    default:
        return load_fail(c, line_of(n), "unexpected YAML node");
    }
    if (!*out)
        load_fail(c, line_of(n), "out of memory");
    json_decref(*out);
    *out = NULL;
    return -1;
}

/* ---- error lines ---- */

/* The line of FIELD in "FIELD: reason" (e.g. "ifc[1].triggers[0].method"), following the path
 * as far as it goes inside the entry; the entry's own line when the field is not there. */
static unsigned long field_line(load_ctx_t *c, yaml_node_t *entry, const char *msg)
{
    const char *end = strstr(msg, ": ");
    unsigned long line = line_of(entry);
    yaml_node_t *n = entry;
    const char *p = msg;
    while (end && p < end && n) {
        if (*p == '[') {
            char *close;
            unsigned long i = strtoul(p + 1, &close, 10);
            if (*close != ']' || n->type != YAML_SEQUENCE_NODE ||
                i >= (unsigned long)(n->data.sequence.items.top - n->data.sequence.items.start))
                break;
            n = node(c, n->data.sequence.items.start[i]);
            line = line_of(n);
            p = close + 1;
        } else {
            if (*p == '.')
                p++;
            size_t len = strcspn(p, ".[");
            if (p + len > end)
                len = (size_t)(end - p);
            yaml_node_t *next = NULL;
            if (n->type != YAML_MAPPING_NODE)
                break;
            for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
                 pr < n->data.mapping.pairs.top && !next; pr++) {
                yaml_node_t *kn = node(c, pr->key);
                if (is_scalar(kn, NULL) && kn->data.scalar.length == len &&
                    memcmp(kn->data.scalar.value, p, len) == 0) {
                    line = line_of(kn);
                    next = node(c, pr->value);
                }
            }
            n = next;
            p += len;
        }
    }
    return line;
}

/* "PATH:LINE: subscribers[i] (impi NAME): MSG" */
static int entry_fail(load_ctx_t *c, size_t i, yaml_node_t *entry, const json_t *obj,
                      const char *msg)
{
    const char *impi = json_string_value(json_object_get(obj, "impi"));
    char tag[64] = "";
    if (impi)
        snprintf(tag, sizeof tag, " (impi %s)", impi);
    return load_fail(c, field_line(c, entry, msg), "subscribers[%zu]%s: %s", i, tag, msg);
}

/* The IMPIs and IMPUs of the entries loaded so far, each -> its entry's index + 1: a file of
 * 100,000 subscribers is checked in linear time, not by comparing every pair. */
typedef struct taken {
    strmap_t *impis, *impus;
} taken_t;

static size_t taken_by(strmap_t *m, const char *key)
{
    return (size_t)(uintptr_t)strmap_get(m, key);
}

/* An impi or IMPU already taken by an earlier entry; else entry i's are recorded. */
static int check_unique(load_ctx_t *c, const hss_subscriber_t *subs, size_t i, yaml_node_t *entry,
                        const json_t *obj, taken_t *t)
{
    const hss_subscriber_t *s = &subs[i];
    char msg[512];
    size_t j = taken_by(t->impis, s->impi);
    if (j) {
        snprintf(msg, sizeof msg, "impi: duplicate of subscribers[%zu]", j - 1);
        return entry_fail(c, i, entry, obj, msg);
    }
    for (size_t k = 0; k < s->nimpus; k++) {
        if ((j = taken_by(t->impus, s->impus[k]))) {
            snprintf(msg, sizeof msg,
                     "impus[%zu]: '%s' is already an IMPU of subscribers[%zu] (impi %s)", k,
                     s->impus[k], j - 1, subs[j - 1].impi);
            return entry_fail(c, i, entry, obj, msg);
        }
    }
    void *index = (void *)(uintptr_t)(i + 1);
    int rc = strmap_put(t->impis, s->impi, index, NULL);
    for (size_t k = 0; rc == 0 && k < s->nimpus; k++)
        rc = strmap_put(t->impus, s->impus[k], index, NULL);
    return rc < 0 ? entry_fail(c, i, entry, obj, "out of memory") : 0;
}

static int load_entry(load_ctx_t *c, yaml_node_item_t id, unsigned long used_at,
                      hss_subscriber_t *subs, size_t i, taken_t *t)
{
    yaml_node_t *entry = node(c, id);
    json_t *obj;
    char msg[512];
    if (entry->type != YAML_MAPPING_NODE)
        return load_fail(c, line_of(entry), "subscribers[%zu]: expected a mapping", i);
    if (yaml_to_json(c, id, used_at, 0, &obj) < 0)
        return -1;
    int rc = hss_subscriber_from_json(obj, &subs[i], msg, sizeof msg);
    if (rc < 0)
        entry_fail(c, i, entry, obj, msg);
    else if (check_unique(c, subs, i, entry, obj, t) < 0) {
        hss_subscriber_clear(&subs[i]);
        rc = -1;
    }
    json_decref(obj);
    return rc;
}

static int load_list(load_ctx_t *c, yaml_node_t *list, hss_subscriber_t **out, size_t *n)
{
    if (list->type != YAML_SEQUENCE_NODE)
        return load_fail(c, line_of(list), "subscribers: expected a list (use [] for none)");
    size_t count = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    hss_subscriber_t *subs = count ? calloc(count, sizeof *subs) : NULL;
    taken_t t = {strmap_new(), strmap_new()};
    int rc = 0;
    if ((count && !subs) || !t.impis || !t.impus) {
        free(subs);
        rc = load_fail(c, line_of(list), "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < count; i++) {
        rc = load_entry(c, list->data.sequence.items.start[i], line_of(list), subs, i, &t);
        if (rc < 0)
            hss_subscribers_free(subs, i);
    }
    strmap_free(t.impis, NULL);
    strmap_free(t.impus, NULL);
    if (rc < 0)
        return -1;
    *out = subs;
    *n = count;
    return 0;
}

static int load_root(load_ctx_t *c, hss_subscriber_t **out, size_t *n)
{
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    if (!root || (is_scalar(root, "") && root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE))
        return load_fail(c, root ? line_of(root) : 1,
                         "empty file: expected a mapping with the key subscribers");
    if (root->type != YAML_MAPPING_NODE)
        return load_fail(c, line_of(root), "expected a mapping with the key subscribers");
    yaml_node_t *list = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = node(c, p->key);
        if (!is_scalar(kn, "subscribers"))
            return load_fail(c, line_of(kn), "%s: unknown top-level key (expected subscribers)",
                             is_scalar(kn, NULL) ? (const char *)kn->data.scalar.value : "?");
        if (list)
            return load_fail(c, line_of(kn), "duplicate key 'subscribers'");
        if (claim(c, p->key, line_of(kn)) < 0 || claim(c, p->value, line_of(kn)) < 0)
            return -1;
        list = node(c, p->value);
    }
    if (!list)
        return load_fail(c, line_of(root), "subscribers: required");
    return load_list(c, list, out, n);
}

static int syntax_error(const char *name, const yaml_parser_t *parser, char *err, size_t errlen)
{
    load_ctx_t c = {name, NULL, NULL, err, errlen};
    if (parser->context)
        return load_fail(&c, (unsigned long)parser->problem_mark.line + 1,
                         "YAML syntax error: %s (%s at line %lu)",
                         parser->problem ? parser->problem : "unknown", parser->context,
                         (unsigned long)parser->context_mark.line + 1);
    return load_fail(&c, (unsigned long)parser->problem_mark.line + 1, "YAML syntax error: %s",
                     parser->problem ? parser->problem : "unknown");
}

/* A second document in the stream is a mistake, not something to ignore. */
static int check_single_document(const char *name, yaml_parser_t *parser, char *err, size_t errlen)
{
    yaml_document_t next;
    if (!yaml_parser_load(parser, &next))
        return syntax_error(name, parser, err, errlen);
    yaml_node_t *root = yaml_document_get_root_node(&next);
    int rc = 0;
    if (root) {
        load_ctx_t c = {name, NULL, NULL, err, errlen};
        rc = load_fail(&c, line_of(root), "only one YAML document is allowed");
    }
    yaml_document_delete(&next);
    return rc;
}

static int load_parser(const char *name, yaml_parser_t *parser, hss_subscriber_t **out, size_t *n,
                       char *err, size_t errlen)
{
    yaml_document_t doc;
    *out = NULL;
    *n = 0;
    if (!yaml_parser_load(parser, &doc))
        return syntax_error(name, parser, err, errlen);
    size_t nodes = (size_t)(doc.nodes.top - doc.nodes.start);
    load_ctx_t c = {name, &doc, calloc(nodes + 1, 1), err, errlen};
    int rc;
    if (!c.seen)
        rc = load_fail(&c, 1, "out of memory");
    else
        rc = load_root(&c, out, n);
    free(c.seen);
    yaml_document_delete(&doc);
    if (rc == 0 && check_single_document(name, parser, err, errlen) < 0) {
        hss_subscribers_free(*out, *n);
        *out = NULL;
        *n = 0;
        rc = -1;
    }
    return rc;
}

int hss_subscribers_load_string(const char *name, const char *yaml, hss_subscriber_t **out,
                                size_t *n, char *err, size_t errlen)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        *out = NULL;
        *n = 0;
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
    int rc = load_parser(name, &parser, out, n, err, errlen);
    yaml_parser_delete(&parser);
    return rc;
}

int hss_subscribers_load(const char *path, hss_subscriber_t **out, size_t *n, char *err,
                         size_t errlen)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    int rc = load_parser(path, &parser, out, n, err, errlen);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

void hss_subscribers_free(hss_subscriber_t *subs, size_t n)
{
    for (size_t i = 0; subs && i < n; i++)
        hss_subscriber_clear(&subs[i]);
    free(subs);
}
