/* Configuration: one YAML file per program, described by a schema table.
 *
 * The schema is the single source of truth: it drives parsing, type checks, defaults, the
 * environment overrides (PROGRAM_SECTION_KEY, lists comma-separated) and the README's config
 * reference (`--config-reference`). Values are looked up by dotted path at start-up only; the
 * program copies what it needs into its context. */
#ifndef CSCF_CONFIG_H
#define CSCF_CONFIG_H

#include <stddef.h>

typedef enum {
    CFG_STRING,
    CFG_INT,
    CFG_BOOL,
    CFG_ENUM,      /* one of `choices`, "a|b|c" */
    CFG_ADDR,      /* host:port, host an IPv4 address, [IPv6] or a DNS name */
    CFG_LIST,      /* list of strings */
    CFG_ADDR_LIST, /* list of host:port */
    CFG_SIP_URI,   /* sip: or sips: URI */
    /* list of mappings of plain values (YAML `- {name: a, x: 1}`), each item kept as one string
     * "name=a; x=1" in file order (the environment gives items in that form, comma-separated);
     * what the keys mean is the program's to check (its def->check) */
    CFG_RECORD_LIST,
} cfg_type_t;

typedef struct cfg_key {
    const char *path; /* "sip.listen"; NULL ends a table */
    cfg_type_t type;
    const char *dflt; /* default as text (lists comma-separated); NULL: no default */
    const char *help;
    long min, max;       /* CFG_INT bounds (both 0: unbounded) */
    const char *choices; /* CFG_ENUM */
} cfg_key_t;

#define CFG_END                                                                                    \
    {                                                                                              \
        NULL, CFG_STRING, NULL, NULL, 0, 0, NULL                                                   \
    }

typedef struct cfg cfg_t;

/* tables: NULL-terminated array of CFG_END-terminated key tables. env_prefix: "PCSCF". */
cfg_t *cfg_new(const char *env_prefix, const cfg_key_t *const *tables);
void cfg_free(cfg_t *cfg);

/* Each returns 0, or -1 with one message naming the key (and file:line) in err. */
int cfg_load_file(cfg_t *cfg, const char *path, char *err, size_t errlen);
int cfg_load_string(cfg_t *cfg, const char *name, const char *yaml, char *err, size_t errlen);
int cfg_apply_env(cfg_t *cfg, char *err, size_t errlen);

/* Typed access; the path must be in the schema (asking for an unknown one aborts: a bug). */
const char *cfg_str(const cfg_t *cfg, const char *path); /* NULL when unset */
long cfg_int(const cfg_t *cfg, const char *path);
int cfg_bool(const cfg_t *cfg, const char *path);
size_t cfg_list(const cfg_t *cfg, const char *path, const char *const **items);
int cfg_is_set(const cfg_t *cfg, const char *path); /* set by file or env, not default */
/* The keys whose values differ between two configs of the same schema (at most max of them,
 * paths owned by the schema); how many. */
size_t cfg_diff(const cfg_t *a, const cfg_t *b, const char **paths, size_t max);

/* The environment variable name for a path: "PCSCF_SIP_LISTEN". */
void cfg_env_name(const cfg_t *cfg, const char *path, char *out, size_t outlen);

/* Markdown table of every key: key, type, default, env, meaning. Caller frees. */
char *cfg_reference(const cfg_t *cfg);

/* Validation helpers shared with programs: 0 when s is valid. */
int cfg_check_addr(const char *s);
int cfg_split_addr(const char *s, char *host, size_t hostlen, int *port);

#endif
