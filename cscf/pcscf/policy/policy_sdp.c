/* SDP offer/answer -> the media components of a policy session (policy_sdp.h), with sofia's
 * SDP parser. One component per m= line (TS 29.214 5.3.7 / TS 29.514 medComponents): the UE's
 * address and port from the UE's SDP, the far side's from the other SDP, b=AS/RS/RR, the
 * direction as the UE sees it, and the Codec-Data text of each side. */
#include "cscf/pcscf/policy/policy_sdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sdp.h>
#include <sofia-sip/su_alloc.h>

static const char *mode_name(unsigned mode)
{
    switch (mode) {
    case sdp_inactive:
        return "inactive";
    case sdp_sendonly:
        return "sendonly";
    case sdp_recvonly:
        return "recvonly";
    default:
        return "sendrecv";
    }
}

/* The media's c= address, else the session's. */
static const char *address_of(const sdp_session_t *s, const sdp_media_t *m)
{
    const sdp_connection_t *c = m->m_connections ? m->m_connections : s->sdp_connection;
    return c && c->c_address ? c->c_address : "";
}

/* The decimal number at the start of p[0..len) (the body need not end in a NUL), capped. */
static unsigned digits(const char *p, size_t len)
{
    unsigned long v = 0;
    for (size_t i = 0; i < len && p[i] >= '0' && p[i] <= '9' && v < 100000000UL; i++)
        v = v * 10 + (unsigned long)(p[i] - '0');
    return (unsigned)v;
}

/* One b= value of section n of the SDP text (0: the session level, n: the n-th m= section);
 * 0 when absent. Read from the text: sofia-sip 1.12's parser files b=RS/b=RR under the AS
 * modifier and AS under an unknown one (seen on Debian 12), so its b_modifier is not usable. */
static unsigned bw_line(const char *sdp, size_t len, unsigned n, const char *mod)
{
    unsigned section = 0, value = 0;
    size_t ml = strlen(mod);
    for (const char *p = sdp, *end = sdp + len; p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = (size_t)((nl ? nl : end) - p);
        if (l >= 2 && p[0] == 'm' && p[1] == '=')
            section++;
        else if (section == n && l > 2 + ml && strncmp(p, "b=", 2) == 0 &&
                 strncasecmp(p + 2, mod, ml) == 0 && p[2 + ml] == ':')
            value = digits(p + 3 + ml, l - 3 - ml);
        p = nl ? nl + 1 : end;
    }
    return value;
}

/* b=AS of the media, else of the session (kbit/s); b=RS / b=RR of the media (bit/s). */
static void bandwidths(const char *sdp, size_t len, unsigned n, policy_media_t *out)
{
    out->bw_as_kbps = bw_line(sdp, len, n, "AS");
    if (!out->bw_as_kbps)
        out->bw_as_kbps = bw_line(sdp, len, 0, "AS");
    out->bw_rs = bw_line(sdp, len, n, "RS");
    out->bw_rr = bw_line(sdp, len, n, "RR");
}

/* Codec-Data (TS 29.214 5.3.7): "uplink"/"downlink" (from the UE / towards it), then "offer" or
 * "answer", then the n-th m= line and the a= lines that follow it, one per line. Taken from the
 * text as received; what does not fit in len is left out at a line's end. */
static void codec_data(const char *sdp, size_t len, unsigned n, int uplink, int offer, char *out,
                       size_t outlen)
{
    int w = snprintf(out, outlen, "%s\n%s\n", uplink ? "uplink" : "downlink",
                     offer ? "offer" : "answer");
    size_t used = w > 0 && (size_t)w < outlen ? (size_t)w : 0;
    unsigned seen = 0;
    int in_media = 0;
    for (const char *p = sdp, *end = sdp + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t l = (size_t)(eol - p);
        if (l && p[l - 1] == '\r')
            l--;
        if (l >= 2 && p[0] == 'm' && p[1] == '=')
            in_media = ++seen == n;
        int take = in_media && l >= 2 && (p[0] == 'm' || p[0] == 'a') && p[1] == '=';
        if (take && used + l + 1 < outlen) {
            memcpy(out + used, p, l);
            used += l;
            out[used++] = '\n';
            out[used] = '\0';
        }
        p = nl ? nl + 1 : end;
    }
}

typedef struct parsed {
    su_home_t home[1];
    sdp_parser_t *parser;
    sdp_session_t *session;
} parsed_t;

static int parse(parsed_t *p, const char *sdp, size_t len)
{
    su_home_init(p->home);
    p->parser = NULL;
    p->session = NULL;
    if (!sdp || !len)
        return 0;
    p->parser = sdp_parse(p->home, sdp, (issize_t)len, sdp_f_c_missing);
    if (!p->parser || sdp_parsing_error(p->parser) || !(p->session = sdp_session(p->parser)) ||
        !p->session->sdp_media)
        return -1;
    return 0;
}

static void parsed_free(parsed_t *p)
{
    if (p->parser)
        sdp_parser_free(p->parser);
    su_home_deinit(p->home);
}

static const sdp_media_t *nth_media(const sdp_session_t *s, unsigned n)
{
    const sdp_media_t *m = s ? s->sdp_media : NULL;
    for (unsigned i = 1; m && i < n; i++)
        m = m->m_next;
    return m;
}

int policy_sdp_fill(policy_desc_t *d, const char *ue_sdp, size_t ue_len, const char *peer_sdp,
                    size_t peer_len, int ue_offered)
{
    parsed_t ue, peer;
    int rc = parse(&ue, ue_sdp, ue_len) | parse(&peer, peer_sdp, peer_len);
    d->n_media = 0;
    d->answered = ue.session && peer.session;
    /* The offer fixes the m= lines (RFC 3264 6: the answer has as many, in order). */
    const sdp_session_t *lines = ue_offered ? ue.session : peer.session;
    if (!lines)
        lines = ue.session ? ue.session : peer.session;
    for (unsigned n = 1; rc == 0 && lines && n <= POLICY_MAX_MEDIA; n++) {
        const sdp_media_t *um = nth_media(ue.session, n), *pm = nth_media(peer.session, n);
        if (!um && !pm)
            break;
        const sdp_media_t *any = um ? um : pm;
        policy_media_t *m = &d->media[d->n_media++];
        memset(m, 0, sizeof *m);
        m->number = n;
        snprintf(m->type, sizeof m->type, "%s", any->m_type_name ? any->m_type_name : "");
        snprintf(m->proto, sizeof m->proto, "%s", any->m_proto_name ? any->m_proto_name : "");
        snprintf(m->dir, sizeof m->dir, "%s", mode_name(any->m_mode));
        if (um) {
            snprintf(m->ue_addr, sizeof m->ue_addr, "%s", address_of(ue.session, um));
            m->ue_port = (unsigned)um->m_port;
            bandwidths(ue_sdp, ue_len, n, m);
            codec_data(ue_sdp, ue_len, n, 1, ue_offered,
                       ue_offered ? m->codec_offer : m->codec_answer, sizeof m->codec_offer);
        }
        if (pm) {
            snprintf(m->peer_addr, sizeof m->peer_addr, "%s", address_of(peer.session, pm));
            m->peer_port = (unsigned)pm->m_port;
            if (!um)
                bandwidths(peer_sdp, peer_len, n, m);
            codec_data(peer_sdp, peer_len, n, 0, !ue_offered,
                       ue_offered ? m->codec_answer : m->codec_offer, sizeof m->codec_offer);
        }
        m->port_zero = (um && um->m_port == 0) || (pm && pm->m_port == 0);
    }
    if (rc == 0 && d->n_media == 0)
        rc = -1;
    parsed_free(&ue);
    parsed_free(&peer);
    return rc;
}
