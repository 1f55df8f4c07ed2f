/* program.c's pieces, shared by the program_*.c files only. */
#ifndef CSCF_PROGRAM_INTERNAL_H
#define CSCF_PROGRAM_INTERNAL_H

#include "common/program.h"

/* Builds the config schema for def; owned[] receives the tables to free after cfg_free(). */
cfg_t *program_schema(const program_def_t *def, cfg_key_t **owned, size_t nowned);

/* Registers /healthz, /readyz, /metrics, /api/v1/status, /api/v1/log. */
int program_rest_routes(program_t *p);
/* trace_rest.c: the per-user SIP trace over REST (SIP programs only). */
int trace_rest_routes(program_t *p);

#endif
