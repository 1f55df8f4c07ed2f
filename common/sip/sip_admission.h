/* sip_core's admission control glue (sip_admission.c): the lag probe, request classes, the
 * 503. Used by sip_core.c; programs go through sip_core_set_classify() and friends. */
#ifndef CSCF_SIP_ADMISSION_H
#define CSCF_SIP_ADMISSION_H

#include <jansson.h>

#include "common/sip/admission.h"
#include "common/sip/sip_core.h"

typedef struct sip_adm sip_adm_t;

/* cfg NULL: the defaults (enabled, 200 ms target). NULL when out of memory. */
sip_adm_t *sip_adm_new(sip_core_t *core, const adm_config_t *cfg);
void sip_adm_free(sip_adm_t *sa);
void sip_adm_set_config(sip_adm_t *sa, const adm_config_t *cfg);
void sip_adm_set_classify(sip_adm_t *sa, sip_adm_classify_f fn, void *ctx);
/* Listeners were added (sip_core_add_listener): look for their UDP sockets again. */
void sip_adm_find_listeners(sip_adm_t *sa);
/* 0: go on; 503 when the request was refused (answered). */
int sip_adm_check(sip_adm_t *sa, nta_incoming_t *irq, sip_t const *sip);
void sip_adm_publish(sip_adm_t *sa);
json_t *sip_adm_json(sip_adm_t *sa, size_t top);

#endif
