/* The process's own open file descriptors, for sockets a library keeps to itself (tport's UDP
 * listeners, freeDiameter's connections): found by what getsockname()/getpeername() say. */
#ifndef CSCF_OWN_FDS_H
#define CSCF_OWN_FDS_H

/* Calls fn(fd, ctx) for each descriptor open in /proc/self/fd (not the one reading it) until fn
 * returns non-zero. The number of calls that returned non-zero (0 or 1), or -1 when
 * /proc/self/fd cannot be read. */
int own_fds_each(int (*fn)(int fd, void *ctx), void *ctx);

#endif
