/* The HSS's subscribers and what it must not forget across a restart: the last SQN handed out
 * per IMPI and the S-CSCF assignment per subscriber (ARCHITECTURE.md section 1). All of it lives
 * in one SQLite database (subscribers.database) and in memory, indexed by IMPI and by IMPU; each
 * change writes the one row it changes (a MAR the IMPI's SQN row, a SAR its assignment row, a
 * REST change its subscriber row) before the answer leaves. The subscriber file seeds a fresh
 * database; an old JSON state file (subscribers.state_file) is imported into a fresh one.
 *
 * Loop thread only. */
#ifndef CSCF_HSS_DB_H
#define CSCF_HSS_DB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/util/strmap.h"
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
    int from_api; /* made or replaced over REST: the subscriber file no longer speaks for it */
    size_t index; /* in hss_db_t.entries */
} hss_entry_t;

struct sqlite3;
struct sqlite3_stmt;

enum {
    HSS_STMT_PUT_SUB,
    HSS_STMT_PUT_SQN,
    HSS_STMT_PUT_ASSIGN,
    HSS_STMT_DEL_SQN,
    HSS_STMT_DEL_ASSIGN,
    HSS_STMT_BEGIN,
    HSS_STMT_COMMIT,
    HSS_STMT_ROLLBACK,
    HSS_STMT_COUNT
};

typedef struct hss_db {
    hss_entry_t **entries; /* in no particular order (REST lists them so) */
    size_t n, cap;
    strmap_t *by_impi, *by_impu; /* -> hss_entry_t *, so a MAR costs the same for any n */
    struct sqlite3 *sql;         /* NULL: nothing kept (subscribers.database "") or --check */
    struct sqlite3_stmt *stmt[HSS_STMT_COUNT];
    char *path;
    int lock_fd; /* flock()ed: one HSS per database (two would hand out the same SQN) */
    int txn;     /* transaction depth */
    int failing; /* the last write failed: logged once until one succeeds again */
    unsigned long write_errors;
} hss_db_t;

typedef struct hss_db_config {
    const char *subscribers_file; /* YAML seed: every subscriber the database does not hold */
    const char *database;         /* SQLite file; NULL or "": memory only */
    const char *state_file;       /* old JSON state file imported into a fresh database, or NULL */
    int check_only; /* --check: read and validate, write nothing, create nothing, lock nothing */
} hss_db_config_t;

/* Opens (creating when absent) the database, imports the state file into a fresh one, adds the
 * subscriber file's subscribers it does not hold, and loads everything into memory. 0, or -1
 * with err naming the file and what is wrong (a file that is not a database, a bad row). */
int hss_db_open(hss_db_t *db, const hss_db_config_t *cfg, char *err, size_t errlen);
void hss_db_free(hss_db_t *db);

hss_entry_t *hss_db_by_impi(hss_db_t *db, const char *impi);
hss_entry_t *hss_db_by_impu(hss_db_t *db, const char *impu);

/* What hss_db_write() stores for an entry: its SQN row, its assignment row, or both in one
 * transaction. 0, or -1 (logged the first time of a run of failures; the caller answers
 * DIAMETER_UNABLE_TO_COMPLY and hands out nothing). */
enum { HSS_DB_SQN = 1, HSS_DB_ASSIGNMENT = 2 };
int hss_db_write(hss_db_t *db, hss_entry_t *e, unsigned what);

/* Adds or replaces the subscriber sub->impi (its row first, then memory); takes sub's contents
 * on success (SQN and assignment are kept on replace). -1 with err when an IMPU belongs to
 * another subscriber (*conflict = 1) or the row cannot be written (*conflict = 0). */
int hss_db_put(hss_db_t *db, hss_subscriber_t *sub, int *created, int *conflict, char *err,
               size_t errlen);
/* 0; 1 when unknown; -1 when the database refused (memory unchanged). */
int hss_db_delete(hss_db_t *db, const char *impi);

/* Clears the S-CSCF assignment (memory only: hss_db_write stores it). */
void hss_entry_unassign(hss_entry_t *e);
/* Assigns (copies; memory only). */
void hss_entry_assign(hss_entry_t *e, const char *server_name, const char *host, const char *realm,
                      hss_reg_state_t state);
const char *hss_reg_state_name(hss_reg_state_t s);

/* The subscriber as REST shows it: schema fields without secrets, plus "state". */
json_t *hss_entry_to_json(const hss_entry_t *e);

#endif
