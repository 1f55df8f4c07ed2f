/* program.c's pieces, shared by the program_*.c files only. */
#ifndef CSCF_PROGRAM_INTERNAL_H
#define CSCF_PROGRAM_INTERNAL_H

#include <jansson.h>

#include "common/program/program.h"

/* Builds the config schema for def; owned[] receives the tables to free after cfg_free(). */
cfg_t *program_schema(const program_def_t *def, cfg_key_t **owned, size_t nowned);

/* Registers /healthz, /readyz, /metrics, /api/v1/status, /api/v1/log. */
int program_rest_routes(program_t *p);
/* trace_rest.c: the per-user SIP trace over REST (SIP programs only). */
int trace_rest_routes(program_t *p);

/* admission_rest.c: the admission.* keys, GET /api/v1/admission (SIP programs only). */
struct adm_config;
void program_admission_config(const cfg_t *cfg, struct adm_config *out);
/* A reload changed an admission.* key: 1 (applied). */
int program_admission_reload(program_t *p, const cfg_t *cfg);
int admission_rest_routes(program_t *p);

/* program.c: sip.transports names only what we can bind. */
int program_check_transports(const cfg_t *cfg, char *err, size_t errlen);

/* program_reload.c: SIGHUP and POST /api/v1/reload read the config file again. On the loop:
 * 0 with *report = {"applied": [keys], "restart_required": [keys]}, or -1 with err (the
 * running config is kept). */
int program_reload(program_t *p, json_t **report, char *err, size_t errlen);
int program_reload_routes(program_t *p);
void program_reload_free(program_t *p);

#endif
