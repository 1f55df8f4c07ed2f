#include "common/sip/sip_hdr.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/url.h>

const char *sip_hdr_get(sip_t const *sip, const char *name)
{
    for (sip_unknown_t const *u = sip ? sip->sip_unknown : NULL; u; u = u->un_next)
        if (u->un_name && strcasecmp(u->un_name, name) == 0)
            return u->un_value;
    return NULL;
}

int sip_hdr_remove(msg_t *msg, sip_t *sip, const char *name)
{
    int n = 0;
    for (sip_unknown_t *u = sip->sip_unknown, *next; u; u = next) {
        next = u->un_next;
        if (u->un_name && strcasecmp(u->un_name, name) == 0 &&
            msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)u) == 0)
            n++;
    }
    return n;
}

int sip_hdr_add(msg_t *msg, sip_t *sip, const char *name, const char *value)
{
    char line[1200];
    int w = snprintf(line, sizeof line, "%s: %s", name, value);
    if (w < 0 || (size_t)w >= sizeof line)
        return -1;
    /* msg_header_make, not SIPTAG_HEADER_STR: on a parsed request the latter lands after the
     * blank line that ends the headers. */
    msg_header_t *h = msg_header_make(msg_home(msg), sip_unknown_class, line);
    return h ? msg_header_insert(msg, (msg_pub_t *)sip, h) : -1;
}

static int tel_aor(const char *number, char *out, size_t len)
{
    size_t n = 0;
    if (len < 5)
        return -1;
    memcpy(out, "tel:", 4);
    n = 4;
    for (const char *p = number; *p && *p != ';'; p++) {
        if (strchr("-.()", *p)) /* visual separators (RFC 3966) */
            continue;
        if (n + 1 >= len)
            return -1;
        out[n++] = *p;
    }
    out[n] = '\0';
    return n > 4 ? 0 : -1;
}

int sip_uri_aor(const url_t *u, char *out, size_t len)
{
    if (!u)
        return -1;
    if (u->url_type == url_tel) /* sofia keeps the number in the user part */
        return tel_aor(u->url_user ? u->url_user : u->url_host ? u->url_host : "", out, len);
    if ((u->url_type != url_sip && u->url_type != url_sips) || !u->url_user || !u->url_host)
        return -1;
    int w = snprintf(out, len, "sip:%s@%s", u->url_user, u->url_host);
    if (w < 0 || (size_t)w >= len)
        return -1;
    for (char *p = strchr(out, '@'); *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

int sip_uri_aor_str(const char *text, char *out, size_t len)
{
    char buf[512];
    const char *lt = strchr(text, '<');
    const char *s = lt ? lt + 1 : text;
    size_t n = lt ? strcspn(s, ">") : strcspn(s, " ;,\t");
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    url_t u;
    if (url_d(&u, buf) < 0)
        return -1;
    return sip_uri_aor(&u, out, len);
}

int sip_uri_list_each(const char *list, int (*fn)(void *ctx, const char *uri), void *ctx)
{
    const char *p = list ? list : "";
    while (*p) {
        /* An entry ends at a comma outside <> and quotes. */
        int in_angle = 0, in_quote = 0;
        const char *e = p;
        for (; *e && (in_angle || in_quote || *e != ','); e++) {
            if (*e == '"' && !in_angle)
                in_quote = !in_quote;
            else if (!in_quote && *e == '<')
                in_angle = 1;
            else if (!in_quote && *e == '>')
                in_angle = 0;
        }
        char item[512];
        size_t n = (size_t)(e - p);
        while (n && isspace((unsigned char)*p))
            p++, n--;
        if (n && n < sizeof item) {
            memcpy(item, p, n);
            item[n] = '\0';
            int rc = fn(ctx, item);
            if (rc)
                return rc;
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}

const char *sip_url_urn_service(const url_t *u)
{
    if (!u || !u->url_scheme || strcasecmp(u->url_scheme, "urn") != 0)
        return NULL;
    if (u->url_host && strcasecmp(u->url_host, "service") == 0)
        return u->url_port ? u->url_port : "";
    if (u->url_path && strncasecmp(u->url_path, "service:", 8) == 0)
        return u->url_path + 8;
    return NULL;
}

int sip_url_is_sos(const url_t *u)
{
    const char *s = sip_url_urn_service(u);
    return s && strncasecmp(s, "sos", 3) == 0 && (s[3] == '\0' || s[3] == '.' || s[3] == ';');
}
