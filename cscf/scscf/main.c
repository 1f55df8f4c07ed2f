/* scscf: registrar and home proxy. See DESIGN.md section 1. */
#include "common/program.h"

static const program_def_t scscf = {
    .name = "scscf",
    .env_prefix = "SCSCF",
    .summary = "IMS Serving-CSCF",
    .has_sip = 1,
    .default_sip_listen = "127.0.0.1:6060",
    .default_api_listen = "127.0.0.1:8082",
    .allow = "OPTIONS, ACK, CANCEL",
    .supported = "path",
    .accept = "application/sdp",
};

int main(int argc, char **argv)
{
    return program_main(&scscf, argc, argv);
}
