/* hss: the lab HSS (DESIGN.md section 1). Today it offers the operator's vector check; the Cx
 * server (subscribers, MAR/SAR/UAR/LIR, RTR/PPR, REST) is the rest of the Cx issue. */
#include <stdio.h>
#include <string.h>

#include "common/version.h"
#include "diameter/hss/vector_cli.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "vector") == 0)
        return hss_vector_main(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
        printf("hss %s\n", cscf_version);
        return 0;
    }
    fprintf(stderr,
            "usage: hss vector --k HEX --opc HEX|--op HEX --rand HEX --sqn HEX [--amf HEX]\n"
            "The HSS server (hss -c FILE) is not built yet: it is the rest of the Cx issue.\n");
    return 2;
}
