/* TCP_NODELAY on freeDiameter's connections, which freeDiameter itself turns off: called by
 * fd_setup.c each time a peer connects (fd_nodelay.c says why). */
#ifndef CSCF_FD_NODELAY_H
#define CSCF_FD_NODELAY_H

#include <stddef.h>
#include <stdint.h>

/* Sets TCP_NODELAY on every connected TCP socket of this process whose local port is one of
 * listen[0..nlisten) (0 entries ignored) or whose remote port is remote (0: none). Returns
 * how many, or -1 when /proc/self/fd cannot be read. */
int fd_nodelay_connections(const uint16_t *listen, size_t nlisten, uint16_t remote);

#endif
