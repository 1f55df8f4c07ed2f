/* Unit tests that need freeDiameter's dictionary: core initialised and configured with the
 * dictionaries Cx needs (Debian's dict_nasreq, dict_dcca, dict_dcca_3gpp), no peers. */
#ifndef CSCF_TEST_FD_TEST_H
#define CSCF_TEST_FD_TEST_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

/* 0, or -1 when freeDiameter could not be set up. */
static inline int fd_test_load(const char *identity)
{
    char path[] = "/tmp/cscf_fd_test_XXXXXX";
    char conf[512];
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    int len = snprintf(conf, sizeof conf,
                       "Identity = \"%s\";\nRealm = \"cx.local\";\nNo_SCTP;\nSecPort = 0;\n"
                       "LoadExtension = \"/usr/lib/freeDiameter/dict_nasreq.fdx\";\n"
                       "LoadExtension = \"/usr/lib/freeDiameter/dict_dcca.fdx\";\n"
                       "LoadExtension = \"/usr/lib/freeDiameter/dict_dcca_3gpp.fdx\";\n",
                       identity);
    ssize_t n = write(fd, conf, (size_t)len);
    close(fd);
    fd_g_debug_lvl = FD_LOG_ERROR;
    int rc = n != len || fd_core_initialize() || fd_core_parseconf(path) ? -1 : 0;
    unlink(path);
    return rc;
}

#endif
