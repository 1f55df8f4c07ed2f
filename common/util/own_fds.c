/* The process's own open file descriptors (own_fds.h). */
#include "common/util/own_fds.h"

#include <dirent.h>
#include <stdlib.h>

int own_fds_each(int (*fn)(int fd, void *ctx), void *ctx)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int self = dirfd(d), stopped = 0;
    for (struct dirent *e; !stopped && (e = readdir(d));) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (end != e->d_name && !*end && fd != self && fd >= 0)
            stopped = fn((int)fd, ctx) != 0;
    }
    closedir(d);
    return stopped;
}
