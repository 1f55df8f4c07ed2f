/* The HSS's subscribers and what it must not forget across a restart: the last SQN handed out
 * per IMPI and the S-CSCF assignment per subscriber (ARCHITECTURE.md section 1). Subscribers come
 * from the subscriber file; those created, changed or deleted over REST are kept in the state file
 * too, so a restart neither reuses a SQN nor forgets an assignment or an operator's change.
 *
 * Loop thread only. */
#ifndef CSCF_HSS_DB_H
#define CSCF_HSS_DB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "diameter/hss/subscriber.h"

typedef enum {
    HSS_NOT_REGISTERED = 0,
    HSS_AUTH_PENDING, /* MAR seen, no SAR yet: the S-CSCF name is provisional */
    HSS_REGISTERED,
    HSS_UNREGISTERED, /* assigned for unregistered services */
} hss_reg_state_t;

typedef struct hss_entry {
    hss_subscriber_t sub;
    uint64_t sqn;                   /* last SQN used in a vector (48 bits) */
    char *server_name;              /* assigned S-CSCF (SIP URI), or NULL */
    char *scscf_host, *scscf_realm; /* its Diameter identity, where RTR/PPR go */
    hss_reg_state_t state;
    int from_api; /* created or replaced over REST: kept whole in the state file */
} hss_entry_t;

typedef struct hss_db {
    hss_entry_t **entries;
    size_t n, cap;
    char *state_path;
    char **deleted; /* file subscribers deleted over REST */
    size_t ndeleted;
} hss_db_t;

/* Loads the subscriber file, then the state file when it exists. 0, or -1 with err naming the
 * file, entry and field. */
int hss_db_load(hss_db_t *db, const char *subscribers_path, const char *state_path, char *err,
                size_t errlen);
void hss_db_free(hss_db_t *db);

hss_entry_t *hss_db_by_impi(hss_db_t *db, const char *impi);
hss_entry_t *hss_db_by_impu(hss_db_t *db, const char *impu);

/* Writes the state file (temporary file, fsync, rename). 0 or -1 (logged). */
int hss_db_save(hss_db_t *db);

/* Adds or replaces the subscriber sub->impi; takes sub's contents on success (SQN and assignment
 * are kept on replace). -1 with err when an IMPU belongs to another subscriber. */
int hss_db_put(hss_db_t *db, hss_subscriber_t *sub, int *created, char *err, size_t errlen);
int hss_db_delete(hss_db_t *db, const char *impi); /* 0, or -1 when unknown */

/* Clears the S-CSCF assignment. */
void hss_entry_unassign(hss_entry_t *e);
/* Assigns (copies). */
void hss_entry_assign(hss_entry_t *e, const char *server_name, const char *host, const char *realm,
                      hss_reg_state_t state);
const char *hss_reg_state_name(hss_reg_state_t s);

/* The subscriber as REST shows it: schema fields without secrets, plus "state". */
json_t *hss_entry_to_json(const hss_entry_t *e);

#endif
