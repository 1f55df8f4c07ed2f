/* The userspace datapath's TUN device: where decrypted packets enter the kernel (so its UDP and
 * TCP deliver them to the protected sockets) and where the packets the P-CSCF sends from its
 * protected ports come out to be encrypted. Layer 3 only (IFF_TUN, no packet information
 * header): each read or write is one IPv4 packet. The device lives as long as its fd: a
 * crashed run leaves none behind. */
#ifndef CSCF_TUN_DEV_H
#define CSCF_TUN_DEV_H

#include <net/if.h>
#include <stddef.h>

typedef struct tun_dev {
    int fd; /* non-blocking; -1 when closed */
    unsigned ifindex;
    char name[IFNAMSIZ];
} tun_dev_t;

/* Creates the device (not yet up). 0, or -1 with the reason in err (CAP_NET_ADMIN named when the
 * kernel says EPERM). */
int tun_dev_open(tun_dev_t *t, const char *name, char *err, size_t errlen);
void tun_dev_close(tun_dev_t *t);

/* Writes value to /proc/sys/net/<family>/conf/<dev>/<key> (family "ipv4" or "ipv6"): 0 or -1
 * (errno set). */
int tun_dev_sysctl(const tun_dev_t *t, const char *family, const char *key, const char *value);

#endif
