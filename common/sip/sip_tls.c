#include "common/sip/sip_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/util/log.h"

int sip_tls_verify_parse(const char *s, unsigned *out)
{
    static const char *const names[] = {"none", "incoming", "outgoing", "both"};
    for (unsigned i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i; /* the order of SIP_TLS_VERIFY_* */
            return 0;
        }
    return -1;
}

int sip_tls_version_parse(const char *s, unsigned *out)
{
    if (s && strcmp(s, "1.2") == 0)
        *out = 12;
    else if (s && strcmp(s, "1.3") == 0)
        *out = 13;
    else
        return -1;
    return 0;
}

/* OpenSSL's last error as text (and the queue emptied). */
static const char *ssl_error(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", strerror(errno));
    ERR_clear_error();
    return buf;
}

/* What sofia will do with the files, done here once so that a wrong path or a key of another
 * certificate stops the start (sofia itself only logs it and serves without a certificate). */
int sip_tls_check(const sip_tls_config_t *tc, char *err, size_t len)
{
    if (!tc->listen || !*tc->listen)
        return 0;
    if (!tc->certificate || !*tc->certificate || !tc->private_key || !*tc->private_key) {
        snprintf(err, len, "sip.tls.listen needs sip.tls.certificate and sip.tls.private_key");
        return -1;
    }
    if (tc->verify != SIP_TLS_VERIFY_NONE && (!tc->ca_file || !*tc->ca_file)) {
        snprintf(err, len, "sip.tls.verify_peer other than none needs sip.tls.ca_file");
        return -1;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    char why[256];
    int rc = -1;
    if (!ctx)
        snprintf(err, len, "sip.tls: OpenSSL: %s", ssl_error(why, sizeof why));
    /* The key first: OpenSSL refuses a key that does not match a certificate loaded before it
     * with a vaguer error than the check below gives. */
    else if (SSL_CTX_use_PrivateKey_file(ctx, tc->private_key, SSL_FILETYPE_PEM) != 1)
        snprintf(err, len, "sip.tls.private_key: cannot load '%s': %s", tc->private_key,
                 ssl_error(why, sizeof why));
    else if (SSL_CTX_use_certificate_file(ctx, tc->certificate, SSL_FILETYPE_PEM) != 1)
        snprintf(err, len, "sip.tls.certificate: cannot load '%s': %s", tc->certificate,
                 ssl_error(why, sizeof why));
    else if (SSL_CTX_check_private_key(ctx) != 1)
        snprintf(err, len, "sip.tls.private_key: '%s' is not the key of '%s'", tc->private_key,
                 tc->certificate);
    else if (tc->ca_file && *tc->ca_file &&
             SSL_CTX_load_verify_locations(ctx, tc->ca_file, NULL) != 1)
        snprintf(err, len, "sip.tls.ca_file: cannot load '%s': %s", tc->ca_file,
                 ssl_error(why, sizeof why));
    else
        rc = 0;
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return rc;
}

static int copy_into(int fd, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[4096];
    size_t n;
    int last = '\n', rc = 0;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        rc = write(fd, buf, n) == (ssize_t)n ? 0 : -1;
        last = buf[n - 1];
    }
    if (ferror(f))
        rc = -1;
    fclose(f);
    /* PEM blocks of the next file start on a line of their own. */
    if (rc == 0 && last != '\n' && write(fd, "\n", 1) != 1)
        rc = -1;
    return rc;
}

/* dir/name made anew (0600) from the files a, b (b may be NULL). */
static int write_joined(const char *dir, const char *name, const char *a, const char *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = copy_into(fd, a) == 0 && (!b || copy_into(fd, b) == 0) ? 0 : -1;
    if (close(fd) < 0)
        rc = -1;
    return rc;
}

/* MinProtocol as OpenSSL's system default, which every SSL_CTX made afterwards starts from
 * (sip_tls.h says why this way). OpenSSL reads its own configuration file once, at its first
 * use: that is made to happen first, so it cannot replace this one later. */
static int set_min_version(const char *dir, unsigned version)
{
    char path[512];
    snprintf(path, sizeof path, "%s/openssl.cnf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "cscf_sip_tls = cscf_sip_tls_modules\n"
            "[cscf_sip_tls_modules]\nssl_conf = cscf_sip_tls_ssl\n"
            "[cscf_sip_tls_ssl]\nsystem_default = cscf_sip_tls_defaults\n"
            "[cscf_sip_tls_defaults]\nMinProtocol = %s\n",
            version >= 13 ? "TLSv1.3" : "TLSv1.2");
    if (fclose(f) != 0)
        return -1;
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
    char why[256];
    if (CONF_modules_load_file(path, "cscf_sip_tls", 0) <= 0) {
        log_error("sip.tls.min_version: OpenSSL refused its setting: %s",
                  ssl_error(why, sizeof why));
        return -1;
    }
    return 0;
}

int sip_tls_stage(const sip_tls_config_t *tc, char *dir, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(dir, len, "%s/cscf-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= len || !mkdtemp(dir)) {
        log_error("sip.tls: cannot make a private directory for sofia's agent.pem: %s",
                  strerror(errno));
        return -1;
    }
    /* agent.pem: sofia loads the certificate and the key from this one file. */
    if (write_joined(dir, "agent.pem", tc->certificate, tc->private_key) < 0 ||
        (tc->ca_file && *tc->ca_file && write_joined(dir, "cafile.pem", tc->ca_file, NULL) < 0)) {
        log_error("sip.tls: cannot assemble %s/agent.pem and cafile.pem: %s", dir, strerror(errno));
        sip_tls_unstage(dir);
        return -1;
    }
    if (set_min_version(dir, tc->min_version) < 0) {
        sip_tls_unstage(dir);
        return -1;
    }
    return 0;
}

void sip_tls_unstage(const char *dir)
{
    static const char *const files[] = {"agent.pem", "cafile.pem", "openssl.cnf"};
    char path[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}
