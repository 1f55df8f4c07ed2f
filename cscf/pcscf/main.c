/* pcscf: the handset's first hop (outbound proxy). See DESIGN.md section 1. */
#include "common/program.h"

static const program_def_t pcscf = {
    .name = "pcscf",
    .env_prefix = "PCSCF",
    .summary = "IMS Proxy-CSCF",
    .has_sip = 1,
    .default_sip_listen = "127.0.0.1:5060",
    .default_api_listen = "127.0.0.1:8081",
    /* What this build handles; grows as registration and call routing land. */
    .allow = "OPTIONS, ACK, CANCEL",
    .supported = "path",
    .accept = "application/sdp",
};

int main(int argc, char **argv)
{
    return program_main(&pcscf, argc, argv);
}
