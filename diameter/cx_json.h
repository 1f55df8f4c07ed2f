/* A cx_msg_t as JSON, for the REST API and logs (binary fields as lowercase hex). */
#ifndef CSCF_CX_JSON_H
#define CSCF_CX_JSON_H

#include <jansson.h>

#include "diameter/cx_msg.h"

json_t *cx_msg_to_json(const cx_msg_t *m);

#endif
