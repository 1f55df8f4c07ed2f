#include "common/ipsec/tun_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tun_dev_open(tun_dev_t *t, const char *name, char *err, size_t errlen)
{
    struct ifreq ifr = {0};
    t->fd = -1;
    if (!name || !*name || strlen(name) >= IFNAMSIZ) {
        snprintf(err, errlen, "the TUN device name '%s' is empty or longer than %d characters",
                 name ? name : "", IFNAMSIZ - 1);
        return -1;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        memcpy(ifr.ifr_name, name, strlen(name) + 1);
        if (ioctl(fd, TUNSETIFF, &ifr) == 0) {
            t->fd = fd;
            memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
            t->name[IFNAMSIZ - 1] = '\0';
            t->ifindex = if_nametoindex(t->name);
            if (t->ifindex)
                return 0;
        }
    }
    int e = errno;
    if (fd >= 0)
        close(fd);
    t->fd = -1;
    if (e == EPERM || e == EACCES)
        snprintf(err, errlen,
                 "CAP_NET_ADMIN is needed to create the TUN device %s: run as root or add "
                 "NET_ADMIN",
                 name);
    else if (e == EBUSY)
        snprintf(err, errlen, "the TUN device %s exists and is in use (another process?)", name);
    else
        snprintf(err, errlen, "cannot create the TUN device %s: %s", name, strerror(e));
    return -1;
}

void tun_dev_close(tun_dev_t *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

int tun_dev_sysctl(const tun_dev_t *t, const char *family, const char *key, const char *value)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/net/%s/conf/%s/%s", family, t->name, key);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)len ? 0 : -1;
}
