/* The memory backend's journal (options "journal=PATH"): its registrations in a file, so one
 * process that restarts comes back with them. Design, format and the crash window are in
 * store_journal.c's header comment. One process per file; every call on the SIP loop's thread. */
#ifndef CSCF_STORE_JOURNAL_H
#define CSCF_STORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/store/store.h"

typedef struct journal journal_t;

/* Replay of one line: reg stored at rev (reg is the callee's: store_reg_free), or, with reg
 * NULL, impi deleted. 0, or -1 when the store refused it (the line is counted as bad). */
typedef int (*journal_apply_f)(void *arg, store_reg_t *reg, const char *impi, uint64_t rev);

/* Opens (creates, mode 0600) path and replays it through apply, last write wins. A torn last
 * line (a crash in the middle of a write) and bad lines are skipped, each kind logged once.
 * NULL (logged: why) when the file cannot be opened or read, e.g. its directory is missing. The
 * caller then writes a snapshot (journal_compact) before taking writes. fsync_each: every
 * change fdatasync'd before journal_put/journal_del return. */
journal_t *journal_open(const char *path, int fsync_each, journal_apply_f apply, void *arg);
void journal_close(journal_t *j); /* NULL is fine */

/* Appends one change, written (one write(2)) before it returns; 0, or -1 (logged; nothing is in
 * the file then, so the caller must not apply the change). */
int journal_put(journal_t *j, const store_reg_t *reg, uint64_t rev);
int journal_del(journal_t *j, const char *impi);

/* Whether the file has grown enough past its last snapshot to be rewritten. */
int journal_wants_compaction(const journal_t *j);
/* Replaces the file by a snapshot of regs (each at its rev): written to PATH.tmp, fsync'd,
 * renamed over PATH, directory fsync'd. 0, or -1 (logged; the old file stays in use). */
int journal_compact(journal_t *j, const store_reg_t *const *regs, size_t n);

/* What the file holds now, in bytes (for tests and logs). */
uint64_t journal_size(const journal_t *j);

#endif
