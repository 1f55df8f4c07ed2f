/* See n5_json.h. Section numbers are TS 29.514's (data types 5.6) unless named otherwise. */
#include "cscf/pcscf/policy/n5_json.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int n5_flow_desc(char *out, size_t len, int uplink, const char *ue, unsigned ue_port,
                 const char *peer, unsigned peer_port)
{
    char up[16] = "", pp[16] = "";
    if (ue_port)
        snprintf(up, sizeof up, " %u", ue_port);
    if (peer_port)
        snprintf(pp, sizeof pp, " %u", peer_port);
    const char *u = ue && *ue ? ue : "any", *p = peer && *peer ? peer : "any";
    int n = uplink ? snprintf(out, len, "permit in 17 from %s%s to %s%s", u, up, p, pp)
                   : snprintf(out, len, "permit out 17 from %s%s to %s%s", p, pp, u, up);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

const char *n5_med_type(const char *sdp_media)
{
    static const char *const map[][2] = {
        {"audio", "AUDIO"},     {"video", "VIDEO"},     {"application", "APPLICATION"},
        {"text", "TEXT"},       {"message", "MESSAGE"}, {"data", "DATA"},
        {"control", "CONTROL"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (sdp_media && strcasecmp(sdp_media, map[i][0]) == 0)
            return map[i][1];
    return "OTHER";
}

const char *n5_flow_status(const policy_media_t *m)
{
    if (m->port_zero)
        return "REMOVED";
    if (strcmp(m->dir, "sendonly") == 0)
        return "ENABLED-UPLINK";
    if (strcmp(m->dir, "recvonly") == 0)
        return "ENABLED-DOWNLINK";
    if (strcmp(m->dir, "inactive") == 0)
        return "DISABLED";
    return "ENABLED";
}

/* BitRate (TS 29.571 5.5.2): "<n> Kbps". */
static json_t *bitrate(unsigned kbps)
{
    char b[32];
    snprintf(b, sizeof b, "%u Kbps", kbps);
    return json_string(b);
}

/* One MediaSubComponent (5.6.2.8): the uplink flow (UE -> peer) first, then the downlink one. The
 * RTCP flows are on the next port of each side (RFC 3550 11; an a=rtcp line is not read). */
static json_t *sub_component(const policy_media_t *m, unsigned f_num)
{
    unsigned off = f_num == 2 ? 1 : 0;
    unsigned up = m->ue_port ? m->ue_port + off : 0, pp = m->peer_port ? m->peer_port + off : 0;
    char ul[200], dl[200];
    if (n5_flow_desc(ul, sizeof ul, 1, m->ue_addr, up, m->peer_addr, pp) < 0 ||
        n5_flow_desc(dl, sizeof dl, 0, m->ue_addr, up, m->peer_addr, pp) < 0)
        return NULL;
    json_t *sc = json_pack("{s:I, s:[s,s]}", "fNum", (json_int_t)f_num, "fDescs", ul, dl);
    if (sc && f_num == 2)
        json_object_set_new(sc, "flowUsage", json_string("RTCP"));
    return sc;
}

/* One MediaComponent (5.6.2.7). */
static json_t *component(const policy_media_t *m)
{
    json_t *c = json_pack("{s:I, s:s, s:s}", "medCompN", (json_int_t)m->number, "medType",
                          n5_med_type(m->type), "fStatus", n5_flow_status(m));
    if (!c || m->port_zero)
        return c; /* a removed component needs no flows */
    if (m->bw_as_kbps) {
        /* b=AS bounds the media both ways (TS 29.213 6.2 derives both from it). */
        json_object_set_new(c, "marBwUl", bitrate(m->bw_as_kbps));
        json_object_set_new(c, "marBwDl", bitrate(m->bw_as_kbps));
    }
    if (m->bw_rs)
        json_object_set_new(c, "rsBw", bitrate((m->bw_rs + 999) / 1000));
    if (m->bw_rr)
        json_object_set_new(c, "rrBw", bitrate((m->bw_rr + 999) / 1000));
    json_t *codecs = json_array(); /* CodecData, at most 2: offer and answer */
    if (*m->codec_offer)
        json_array_append_new(codecs, json_string(m->codec_offer));
    if (*m->codec_answer)
        json_array_append_new(codecs, json_string(m->codec_answer));
    if (json_array_size(codecs))
        json_object_set_new(c, "codecs", codecs);
    else
        json_decref(codecs);
    json_t *rtp = sub_component(m, 1), *rtcp = sub_component(m, 2);
    json_t *subs = json_object();
    json_object_set_new(subs, "1", rtp ? rtp : json_null());
    json_object_set_new(subs, "2", rtcp ? rtcp : json_null());
    json_object_set_new(c, "medSubComps", subs);
    return c;
}

json_t *n5_med_components(const policy_desc_t *d)
{
    json_t *all = json_object();
    for (size_t i = 0; all && i < d->n_media && i < POLICY_MAX_MEDIA; i++) {
        char key[16];
        snprintf(key, sizeof key, "%u", d->media[i].number);
        json_t *c = component(&d->media[i]);
        if (c)
            json_object_set_new(all, key, c);
    }
    return all;
}

/* The UE's address: its signalling address, else the first media address it gave. */
static void ue_ip(json_t *o, const policy_desc_t *d)
{
    const char *ip = d->ue_ip;
    for (size_t i = 0; !*ip && i < d->n_media; i++)
        ip = d->media[i].ue_addr;
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip, buf) == 1)
        json_object_set_new(o, "ueIpv4", json_string(ip));
    else if (inet_pton(AF_INET6, ip, buf) == 1)
        json_object_set_new(o, "ueIpv6", json_string(ip));
}

/* Gpsi (TS 29.571 5.3.2) "msisdn-<digits>" from a tel: URI or a sip: URI with user=phone. */
static void gpsi(json_t *o, const char *impu)
{
    const char *u = NULL;
    if (strncasecmp(impu, "tel:", 4) == 0)
        u = impu + 4;
    else if (strncasecmp(impu, "sip:", 4) == 0 && strstr(impu, "user=phone"))
        u = impu + 4;
    if (!u)
        return;
    if (*u == '+')
        u++;
    char digits[32];
    size_t n = 0;
    while (isdigit((unsigned char)u[n]) && n < sizeof digits - 1) {
        digits[n] = u[n];
        n++;
    }
    digits[n] = '\0';
    if (n >= 5) {
        char g[48];
        snprintf(g, sizeof g, "msisdn-%s", digits);
        json_object_set_new(o, "gpsi", json_string(g));
    }
}

/* EventsSubscReqData (5.6.2.6): the resource allocation outcomes and access changes, so a
 * PCF reports what happened to the bearer; notifications go to the session's URI. */
static json_t *ev_subsc(const char *notif_uri)
{
    return json_pack("{s:[{s:s},{s:s},{s:s}], s:s}", "events", "event",
                     "SUCCESSFUL_RESOURCES_ALLOCATION", "event", "FAILED_RESOURCES_ALLOCATION",
                     "event", "ACCESS_TYPE_CHANGE", "notifUri", notif_uri);
}

json_t *n5_app_session_context(const policy_desc_t *d, const n5_opts_t *o)
{
    /* AppSessionContextReqData (5.6.2.3): notifUri and suppFeat are mandatory, and one of
     * ueIpv4/ueIpv6/ueMac. */
    json_t *req = json_pack("{s:s, s:s, s:o, s:o, s:s}", "notifUri", o->notif_uri, "suppFeat",
                            o->supp_feat && *o->supp_feat ? o->supp_feat : "0", "medComponents",
                            n5_med_components(d), "evSubsc", ev_subsc(o->notif_uri),
                            "servInfStatus", d->answered ? "FINAL" : "PRELIMINARY");
    if (!req)
        return NULL;
    if (o->af_app_id && *o->af_app_id)
        json_object_set_new(req, "afAppId", json_string(o->af_app_id));
    ue_ip(req, d);
    if (*d->icid)
        json_object_set_new(req, "afChargId", json_string(d->icid));
    gpsi(req, d->impu);
    return json_pack("{s:o}", "ascReqData", req);
}

json_t *n5_update_patch(const policy_desc_t *d, const n5_opts_t *o)
{
    (void)o;
    /* AppSessionContextUpdateData (5.6.2.5): the components as they now are (a merge patch
     * replaces each named component's members) and the service information's status. */
    return json_pack("{s:{s:o, s:s}}", "ascReqData", "medComponents", n5_med_components(d),
                     "servInfStatus", d->answered ? "FINAL" : "PRELIMINARY");
}

int n5_app_session_id(const char *location, char *out, size_t len)
{
    static const char key[] = "/app-sessions/";
    const char *p = location ? strstr(location, key) : NULL;
    if (!p)
        return -1;
    p += sizeof key - 1;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= len || p[n] == '/')
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)p[i]) && !strchr("-._~%", p[i]))
            return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int n5_parse_uri(const char *uri, char *host, size_t hostlen, unsigned *port, char *prefix,
                 size_t prefixlen)
{
    if (!uri || strncasecmp(uri, "http://", 7) != 0)
        return -1;
    const char *h = uri + 7, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end || end[1] != ':')
            return -1;
        h++;
    } else {
        end = strchr(h, ':');
        if (!end)
            return -1;
    }
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    const char *ps = end + (*end == ']' ? 2 : 1);
    char *rest;
    unsigned long pn = strtoul(ps, &rest, 10);
    if (rest == ps || pn == 0 || pn > 65535 || (*rest && *rest != '/'))
        return -1;
    *port = (unsigned)pn;
    size_t pl = strlen(rest);
    while (pl && rest[pl - 1] == '/')
        pl--;
    if (pl >= prefixlen)
        return -1;
    memcpy(prefix, rest, pl);
    prefix[pl] = '\0';
    return 0;
}
