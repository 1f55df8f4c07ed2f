/* The registration event package's body (RFC 3680 section 5.3, application/reginfo+xml,
 * namespace urn:ietf:params:xml:ns:reginfo): built by the S-CSCF from a store_reg_t, parsed by
 * the P-CSCF into a small struct.
 *
 * Building: one <registration> per IMPU of the implicit set (barred ones left out), its contacts
 * with their state and event. A full document lists every contact of the registration (and the
 * changed ones that are gone); a partial one only the changed contacts.
 *
 * Parsing takes hostile input: no network, no entity expansion, no DTD, bounded sizes; anything
 * that does not follow the schema is refused whole. */
#ifndef CSCF_REGINFO_H
#define CSCF_REGINFO_H

#include <stddef.h>
#include <stdint.h>

#include "common/store/store.h"

#define REGINFO_CONTENT_TYPE "application/reginfo+xml"
#define REGINFO_MAX_DOC      (64 * 1024) /* larger documents are refused */
#define REGINFO_MAX_REGS     64          /* <registration> elements in one document */
#define REGINFO_MAX_CONTACTS 64          /* <contact> elements in one <registration> */

/* One contact whose state changed, with the RFC 3680 event that changed it: registered,
 * created, refreshed, shortened (state active) or expired, deactivated, probation,
 * unregistered, rejected (state terminated). */
typedef struct reginfo_change {
    const store_contact_t *contact;
    const char *event;
} reginfo_change_t;

/* The document for reg: full (every contact, changes override the event of those they name,
 * changed contacts that are gone are listed as terminated) or partial (only the changes).
 * now (Unix seconds) turns expires_at into expires. Registration state: active while reg has a
 * contact, else terminated. NUL-terminated, malloc'd (caller frees); NULL when out of memory or
 * an event is not one of RFC 3680's. */
char *reginfo_build(const store_reg_t *reg, uint32_t version, int full,
                    const reginfo_change_t *changes, size_t nchanges, int64_t now);

/* Is event one of RFC 3680's contact events, and does it leave the contact terminated? */
int reginfo_event_valid(const char *event);
int reginfo_event_terminates(const char *event);

/* ---- parsed documents (the P-CSCF's view) ---- */

typedef struct reginfo_contact {
    char *id, *uri, *state, *event; /* state: active|terminated */
    char *instance;                 /* <unknown-param name="+sip.instance">, or NULL */
    long expires;                   /* -1 when absent */
} reginfo_contact_t;

typedef struct reginfo_reg {
    char *aor, *id, *state; /* state: init|active|terminated */
    reginfo_contact_t *contacts;
    size_t ncontacts;
} reginfo_reg_t;

typedef struct reginfo {
    uint32_t version;
    int full; /* state="full" (else partial) */
    reginfo_reg_t *regs;
    size_t nregs;
} reginfo_t;

/* 0 and *out filled (reginfo_clear() it), or -1 (malformed, over the limits, out of memory;
 * *out is then empty). */
int reginfo_parse(const char *xml, size_t len, reginfo_t *out);
void reginfo_clear(reginfo_t *ri);

#endif
