/* Handset profiles (pcscf.profiles): what this P-CSCF does differently for some phones. A
 * profile is matched once, at REGISTER, by the UE's User-Agent (a glob, or a substring) and/or
 * the TAC of the IMEI in its Contact's +sip.instance ("<urn:gsma:imei:TTTTTTTT-SSSSSS-C>");
 * the first configured profile that matches wins, else the built-in `default`. The binding
 * keeps the profile's name (pc_binding_t.profile), so later requests of that UE and a reload
 * of the list find the switches by name. A switch a profile does not name has the default
 * profile's value (which the config may itself change with a profile named `default`).
 *
 * Config form (YAML, each item a mapping; the environment gives "k=v; k=v" items):
 *   pcscf:
 *     profiles:
 *       - {name: vivo, user_agent: "*vivo*", strip_qop: true}
 * Loop thread only, but for pcscf_profiles_json (REST goes through the loop). */
#ifndef CSCF_PCSCF_PROFILES_H
#define CSCF_PCSCF_PROFILES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cscf/pcscf/pcscf.h"

#define PCSCF_PROFILE_DEFAULT "default"
#define PCSCF_PROFILES_MAX    32

typedef enum pcscf_transport {
    PCSCF_TRANSPORT_NONE = 0, /* as the delivery rules say */
    PCSCF_TRANSPORT_UDP = 1,
    PCSCF_TRANSPORT_TCP = 2,
} pcscf_transport_t;

typedef struct pcscf_profile {
    char name[32];
    /* match: both given, both must match; the default profile has neither */
    char user_agent[128]; /* glob with * ? [..] (case-insensitive), else a substring; "": any */
    char tac[9];          /* leading digits of the IMEI TAC (1-8 digits); "": any */
    /* switches (profiles.c's table documents each, with its default) */
    bool tolerate_auth_spacing;   /* Authorization parameters run together taken, else 400 */
    bool strip_ck_ik;             /* ck/ik leave the 401 towards the UE */
    bool strip_qop;               /* qop leaves the 401 towards the UE */
    bool rewrite_tel_from;        /* a tel: From becomes the asserted identity */
    char supported_add[64];       /* option tags added to the UE's Supported in its REGISTER */
    int force_transport;          /* pcscf_transport_t, towards the UE (flows code) */
    int max_udp_size;             /* bytes; larger requests to the UE go TCP; 0: flows.* */
    int keepalive_seconds;        /* Flow-Timer / pings; 0: flows.keepalive_seconds */
    int expires_min, expires_max; /* REGISTER expiry asked by the UE clamped here; 0: as asked */
} pcscf_profile_t;

typedef struct pcscf_profiles {
    pcscf_profile_t dflt;                     /* `default`: the built-in, changed by config */
    pcscf_profile_t list[PCSCF_PROFILES_MAX]; /* configured, in matching order */
    size_t n;
} pcscf_profiles_t;

/* The built-in default profile. */
void pcscf_profile_builtin(pcscf_profile_t *out);

/* Parses pcscf.profiles items ("name=x; user_agent=*y*; strip_qop=true") into out. 0, or -1
 * with the reason (naming the profile and key) in err. */
int pcscf_profiles_parse(const char *const *items, size_t n, pcscf_profiles_t *out, char *err,
                         size_t errlen);

/* The first profile matching this User-Agent and +sip.instance (either may be NULL), else the
 * default one. */
const pcscf_profile_t *pcscf_profiles_match(const pcscf_profiles_t *ps, const char *user_agent,
                                            const char *instance);
/* The profile of this name, the default one when there is none (removed by a reload). */
const pcscf_profile_t *pcscf_profiles_named(const pcscf_profiles_t *ps, const char *name);

/* The TAC (8 digits) of a +sip.instance value naming an IMEI (urn:gsma:imei:, quoted and
 * bracketed or not). 0, or -1 when it names none. */
int pcscf_imei_tac(const char *instance, char tac[9]);

/* One profile as GET /api/v1/profiles shows it, and the whole list (default last). */
json_t *pcscf_profile_json(const pcscf_profile_t *p, int builtin);
json_t *pcscf_profiles_json(const pcscf_profiles_t *ps);

/* The pcscf's side: pcscf.profiles read at init (checked before by pcscf_profiles_check),
 * GET /api/v1/profiles registered; a reload of the key takes a new list. */
int pcscf_profiles_check(const cfg_t *cfg, char *err, size_t errlen);
int pcscf_profiles_init(pcscf_t *pc);
void pcscf_profiles_fini(pcscf_t *pc);
int pcscf_profiles_reload(pcscf_t *pc, const cfg_t *cfg);

/* The switches for a binding (by the name it remembers), and the match for a REGISTER. */
const pcscf_profile_t *pcscf_profile_of(const pcscf_t *pc, const pc_binding_t *b);
const pcscf_profile_t *pcscf_profile_for(const pcscf_t *pc, const sip_t *sip);

/* clang-format off */
#define PCSCF_PROFILES_KEY \
    {"pcscf.profiles", CFG_RECORD_LIST, "", \
     "handset profiles, matched at REGISTER in this order (the first that matches wins, else " \
     "the built-in `default`): each a mapping with `name` and `user_agent` (a glob with * ? [] " \
     "or else a substring of User-Agent, case-insensitive) and/or `tac` (leading digits of the " \
     "IMEI TAC in the Contact's +sip.instance urn:gsma:imei), and switches: " \
     "tolerate_auth_spacing (true), strip_ck_ik (true), strip_qop (false), rewrite_tel_from " \
     "(false), supported_add (\"path\"; tags joined with spaces), force_transport " \
     "(none, udp or tcp: none), max_udp_size (0: flows.max_udp_size), keepalive_seconds " \
     "(0: flows.keepalive_seconds), expires_min (0), expires_max (0); a switch not named has " \
     "the default profile's value, which a profile named `default` (no match keys) changes. " \
     "README \"Handsets\" says what each does", \
     0, 0, NULL}
/* clang-format on */

#endif
