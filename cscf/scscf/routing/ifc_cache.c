#include "cscf/scscf/routing/ifc_cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"
#include "common/util/strmap.h"

typedef struct entry {
    char *profile;
    ifc_list_t *list; /* NULL when the profile has no usable iFCs */
} entry_t;

struct ifc_cache {
    strmap_t *map;
    size_t max;
};

static void entry_free(void *v)
{
    entry_t *e = v;
    if (!e)
        return;
    free(e->profile);
    ifc_list_free(e->list);
    free(e);
}

ifc_cache_t *ifc_cache_new(size_t max)
{
    ifc_cache_t *c = calloc(1, sizeof *c);
    if (!c || !(c->map = strmap_new())) {
        free(c);
        return NULL;
    }
    c->max = max ? max : 1;
    return c;
}

void ifc_cache_free(ifc_cache_t *c)
{
    if (!c)
        return;
    strmap_free(c->map, entry_free);
    free(c);
}

size_t ifc_cache_size(const ifc_cache_t *c)
{
    return strmap_size(c->map);
}

static entry_t *parse(const char *impi, const char *profile)
{
    entry_t *e = calloc(1, sizeof *e);
    if (!e || !(e->profile = strdup(profile))) {
        free(e);
        return NULL;
    }
    char err[200] = "";
    e->list = ifc_list_parse(profile, strlen(profile), err, sizeof err);
    if (!e->list)
        log_warn("scscf: the service profile of %s has unusable iFCs (%s); none apply", impi, err);
    return e;
}

static void reset_if_full(ifc_cache_t *c)
{
    if (strmap_size(c->map) < c->max)
        return;
    strmap_t *fresh = strmap_new();
    if (!fresh)
        return;
    strmap_free(c->map, entry_free);
    c->map = fresh;
}

const ifc_list_t *ifc_cache_get(ifc_cache_t *c, const char *impi, const char *profile)
{
    if (!impi || !profile || !*profile)
        return NULL;
    entry_t *e = strmap_get(c->map, impi);
    if (e && strcmp(e->profile, profile) == 0)
        return e->list;
    if (!e)
        reset_if_full(c);
    entry_t *fresh = parse(impi, profile);
    void *old = NULL;
    if (!fresh || strmap_put(c->map, impi, fresh, &old) < 0) {
        entry_free(fresh);
        return NULL;
    }
    entry_free(old);
    return fresh->list;
}
