#include "common/sip/sip_tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sofia-sip/su_log.h>
#include <sofia-sip/tport_tag.h>

#include "common/util/log.h"

/* libsofia exports its transport log but no header declares it (tport.c defines it). */
extern su_log_t tport_log[];

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

unsigned sip_tls_policy(const sip_tls_config_t *tc)
{
    unsigned p = tc->verify;
    if (tc->verify_names && (p & SIP_TLS_VERIFY_OUTGOING))
        p |= TPTLS_VERIFY_SUBJECTS_OUT;
    if (tc->nsubjects && (p & SIP_TLS_VERIFY_INCOMING))
        p |= TPTLS_VERIFY_SUBJECTS_IN;
    return p;
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
    /* A list that would silently check nothing is a mistake worth stopping for. */
    if (tc->nsubjects && !(tc->verify & SIP_TLS_VERIFY_INCOMING)) {
        snprintf(err, len, "sip.tls.allowed_subjects needs sip.tls.verify_peer incoming or both");
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

/* The certificates after the first in the certificate file (its intermediate CAs) appended to
 * dir/cafile.pem. sofia loads only the first certificate of agent.pem
 * (SSL_CTX_use_certificate_file), but OpenSSL, given no chain of its own, sends the chain it
 * builds from the context's verify store, which is cafile.pem: so the intermediates put there
 * are sent after our certificate. They add no trust: a peer's chain must still end at a root of
 * ca_file. How many were appended, or -1. */
static int append_chain(const char *dir, const char *certificate)
{
    char path[512];
    snprintf(path, sizeof path, "%s/cafile.pem", dir);
    FILE *in = fopen(certificate, "r");
    int fd = in ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    FILE *out = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!out) {
        if (fd >= 0)
            close(fd);
        if (in)
            fclose(in);
        return -1;
    }
    int n = 0, rc = 0;
    X509 *x;
    for (int i = 0; rc == 0 && (x = PEM_read_X509(in, NULL, NULL, NULL)) != NULL; i++) {
        if (i > 0 && PEM_write_X509(out, x) != 1)
            rc = -1;
        n += i > 0;
        X509_free(x);
    }
    ERR_clear_error(); /* the end of the file reads as an error */
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    return rc < 0 ? -1 : n;
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
    int chain = append_chain(dir, tc->certificate);
    if (chain < 0) {
        log_error("sip.tls: cannot copy the chain of %s into %s/cafile.pem: %s", tc->certificate,
                  dir, strerror(errno));
        sip_tls_unstage(dir);
        return -1;
    }
    if (chain > 0)
        log_info("sip.tls: %s holds %d intermediate CA certificate(s): sent after it",
                 tc->certificate, chain);
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

/* ---- names refused in the handshake (sip_tls.h) ---- */

static sip_tls_mismatch_f watch_cb;
static void *watch_arg;

int sip_tls_mismatch_line(const char *line, char *host, size_t len)
{
    static const char mark[] = "Peer Subject Mismatch (";
    const char *p = strstr(line, mark);
    if (!p)
        return 0;
    p += sizeof mark - 1;
    size_t n = strcspn(p, ")");
    if (p[n] != ')')
        return 0;
    if (n == strlen("incoming connection") && strncmp(p, "incoming connection", n) == 0)
        n = 0; /* a client's certificate: sofia names no host */
    snprintf(host, len, "%.*s", (int)n, p);
    return 1;
}

static void tport_logger(void *stream, char const *fmt, va_list ap)
{
    (void)stream;
    char line[1024], host[256];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    if (watch_cb && sip_tls_mismatch_line(line, host, sizeof host))
        watch_cb(watch_arg, host);
    else if (*line)
        log_write(LOG_DEBUG, NULL, "sofia: %s", line);
}

void sip_tls_watch(sip_tls_mismatch_f on, void *arg)
{
    watch_cb = on;
    watch_arg = arg;
    su_log_redirect(tport_log, tport_logger, NULL);
    /* Level 3 is where sofia says it; the rest of its level 3 is rare (errors). */
    su_log_set_level(tport_log, 3);
}

/* ---- iPAddress entries of subjectAltName, for sofia's name check ----
 *
 * sofia collects a peer certificate's names with X509V3_EXT_get(ext)->i2v() and keeps the
 * entries that OpenSSL names "DNS", "URI" and "IP"; OpenSSL 3 names the last "IP Address", so
 * an address in subjectAltName (a peer dialled as sip:192.0.2.1;transport=tls) would never
 * match. This program's X509V3_EXT_get() wraps OpenSSL's (libsofia calls it through its PLT,
 * as with su_getmsgsize(): our definition comes first) and, for subjectAltName only, hands out
 * a copy of OpenSSL's method whose i2v renames those entries "IP". Nothing else changes: the
 * other fields are OpenSSL's, and only printing uses i2v. */

typedef const X509V3_EXT_METHOD *(*ext_get_f)(X509_EXTENSION *);
static ext_get_f real_ext_get;
static X509V3_EXT_I2V real_san_i2v;
static X509V3_EXT_METHOD san_method;
static pthread_once_t ext_once = PTHREAD_ONCE_INIT;

static STACK_OF(CONF_VALUE) *
    san_i2v(const X509V3_EXT_METHOD *m, void *ext, STACK_OF(CONF_VALUE) * ret)
{
    STACK_OF(CONF_VALUE) *v = real_san_i2v(m, ext, ret);
    for (int i = 0; v && i < sk_CONF_VALUE_num(v); i++) {
        CONF_VALUE *c = sk_CONF_VALUE_value(v, i);
        char *ip = c->name && strcmp(c->name, "IP Address") == 0 ? OPENSSL_strdup("IP") : NULL;
        if (ip) {
            OPENSSL_free(c->name);
            c->name = ip;
        }
    }
    return v;
}

static void ext_init(void)
{
    real_ext_get = (ext_get_f)dlsym(RTLD_NEXT, "X509V3_EXT_get");
    const X509V3_EXT_METHOD *m = X509V3_EXT_get_nid(NID_subject_alt_name);
    if (m && m->i2v) {
        san_method = *m;
        real_san_i2v = m->i2v;
        san_method.i2v = san_i2v;
    }
}

const X509V3_EXT_METHOD *X509V3_EXT_get(X509_EXTENSION *ext)
{
    pthread_once(&ext_once, ext_init);
    const X509V3_EXT_METHOD *m = real_ext_get ? real_ext_get(ext) : NULL;
    return m && real_san_i2v && m->ext_nid == NID_subject_alt_name ? &san_method : m;
}
