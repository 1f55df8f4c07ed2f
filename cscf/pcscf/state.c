/* pcscf.state_file (state.h): the bindings and their SA sets as one JSON snapshot. */
#include "cscf/pcscf/state.h"
#include "cscf/pcscf/state_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util/hex.h"
#include "common/util/log.h"

/* ---- sequence numbers ---- */

uint32_t pcscf_seq_reserve(uint32_t sent)
{
    return sent > UINT32_MAX - PCSCF_SEQ_MARGIN ? UINT32_MAX : sent + PCSCF_SEQ_MARGIN;
}

int pcscf_seq_due(uint32_t stored, uint32_t sent)
{
    return stored != UINT32_MAX && (uint64_t)sent + PCSCF_SEQ_MARGIN / 2 > stored;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one binding <-> JSON ---- */

static const char *const sa_state_names[] = {"none", "temporary", "active", "old"};

const char *pcscf_sa_state_name(pc_sa_state_t s)
{
    return (unsigned)s < sizeof sa_state_names / sizeof *sa_state_names ? sa_state_names[s]
                                                                        : "none";
}

static json_t *sa_state_json(const pc_sa_t *sa)
{
    const ipsec_sa_set_t *s = &sa->set;
    char auth[2 * IPSEC_AUTH_KEY_MAX + 1], enc[2 * IPSEC_ENC_KEY_MAX + 1];
    size_t alen = s->keys.auth_key_len <= IPSEC_AUTH_KEY_MAX ? s->keys.auth_key_len : 0;
    size_t elen = s->keys.enc_key_len <= IPSEC_ENC_KEY_MAX ? s->keys.enc_key_len : 0;
    hex_encode(s->keys.auth_key, alen, auth);
    hex_encode(s->keys.enc_key, elen, enc);
    const char *alg = ipsec_alg_name(s->keys.alg), *ealg = ipsec_ealg_name(s->keys.ealg);
    return json_pack("{s:s,s:I,s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:s?,s:s?,s:s,s:s,s:I,s:I}",
                     "state", pcscf_sa_state_name(sa->state), "until_ms", (json_int_t)sa->until_ms,
                     "ue_addr", s->ue_addr, "port_uc", s->port_uc, "port_us", s->port_us, "port_pc",
                     s->port_pc, "port_ps", s->port_ps, "spi_uc", (json_int_t)s->spi_uc, "spi_us",
                     (json_int_t)s->spi_us, "spi_pc", (json_int_t)s->spi_pc, "spi_ps",
                     (json_int_t)s->spi_ps, "alg", alg, "ealg", ealg, "auth_key", auth, "enc_key",
                     enc, "seq_out_uc", (json_int_t)s->seq_out_uc, "seq_out_us",
                     (json_int_t)s->seq_out_us);
}

json_t *pcscf_binding_state_json(const pc_binding_t *b)
{
    json_t *sa = json_array();
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++)
        json_array_append_new(sa, b->sa[i].state == PC_SA_NONE ? json_null()
                                                               : sa_state_json(&b->sa[i]));
    return json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:s}", "flow", b->flow, "token",
                     b->token, "contact", b->contact, "outbound", b->outbound, "impi", b->impi,
                     "impu", b->impu, "associated", b->associated, "service_route",
                     b->service_route, "expires_at", (json_int_t)b->expires_at, "registered_at",
                     (json_int_t)b->registered_at, "sa", sa, "profile", b->profile);
}

/* Each getter: 0, or -1 with err naming the field. */
static int get_str(const json_t *o, const char *key, char *dst, size_t size, int nonempty,
                   char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    /* json_string_length counts an embedded \u0000, which strlen does not: refused too. */
    if (!s || json_string_length(v) != strlen(s) || strlen(s) >= size || (nonempty && !*s)) {
        snprintf(err, errlen, "%s: %s", key,
                 !s                                   ? "missing or not a string"
                 : json_string_length(v) != strlen(s) ? "holds a NUL"
                 : strlen(s) >= size                  ? "too long"
                                                      : "empty");
        return -1;
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int get_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
                   char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(err, errlen, "%s: %s", key,
                 json_is_integer(v) ? "out of range" : "missing or not an integer");
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int get_u16(const json_t *o, const char *key, uint16_t *out, char *err, size_t errlen)
{
    int64_t v;
    if (get_int(o, key, 0, UINT16_MAX, &v, err, errlen) < 0)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int get_u32(const json_t *o, const char *key, uint32_t *out, char *err, size_t errlen)
{
    int64_t v;
    if (get_int(o, key, 0, UINT32_MAX, &v, err, errlen) < 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int get_key(const json_t *o, const char *key, uint8_t *dst, size_t len, char *err,
                   size_t errlen)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || hex_decode(s, dst, len) < 0) {
        snprintf(err, errlen, "%s: not %zu bytes of hex (the algorithm's key length)", key, len);
        return -1;
    }
    return 0;
}

static int sa_state_parse(const char *s, pc_sa_state_t *out)
{
    for (size_t i = 1; s && i < sizeof sa_state_names / sizeof *sa_state_names; i++)
        if (strcmp(s, sa_state_names[i]) == 0) {
            *out = (pc_sa_state_t)i;
            return 0;
        }
    return -1;
}

static int sa_from_state(const json_t *j, pc_sa_t *sa, char *err, size_t errlen)
{
    ipsec_sa_set_t *s = &sa->set;
    struct in6_addr addr;
    if (!json_is_object(j)) {
        snprintf(err, errlen, "not an object");
        return -1;
    }
    if (sa_state_parse(json_string_value(json_object_get(j, "state")), &sa->state) < 0) {
        snprintf(err, errlen, "state: not temporary, active or old");
        return -1;
    }
    if (ipsec_alg_from_name(json_string_value(json_object_get(j, "alg")), &s->keys.alg) < 0 ||
        ipsec_ealg_from_name(json_string_value(json_object_get(j, "ealg")), &s->keys.ealg) < 0) {
        snprintf(err, errlen, "alg/ealg: not an algorithm of TS 33.203");
        return -1;
    }
    s->keys.auth_key_len = ipsec_alg_key_len(s->keys.alg);
    s->keys.enc_key_len = ipsec_ealg_key_len(s->keys.ealg);
    if (get_str(j, "ue_addr", s->ue_addr, sizeof s->ue_addr, 1, err, errlen) < 0)
        return -1;
    if (inet_pton(AF_INET, s->ue_addr, &addr) != 1 && inet_pton(AF_INET6, s->ue_addr, &addr) != 1) {
        snprintf(err, errlen, "ue_addr: not a numeric address");
        return -1;
    }
    int64_t until;
    if (get_int(j, "until_ms", 0, INT64_MAX, &until, err, errlen) < 0 ||
        get_u16(j, "port_uc", &s->port_uc, err, errlen) < 0 ||
        get_u16(j, "port_us", &s->port_us, err, errlen) < 0 ||
        get_u16(j, "port_pc", &s->port_pc, err, errlen) < 0 ||
        get_u16(j, "port_ps", &s->port_ps, err, errlen) < 0 ||
        get_u32(j, "spi_uc", &s->spi_uc, err, errlen) < 0 ||
        get_u32(j, "spi_us", &s->spi_us, err, errlen) < 0 ||
        get_u32(j, "spi_pc", &s->spi_pc, err, errlen) < 0 ||
        get_u32(j, "spi_ps", &s->spi_ps, err, errlen) < 0 ||
        get_u32(j, "seq_out_uc", &s->seq_out_uc, err, errlen) < 0 ||
        get_u32(j, "seq_out_us", &s->seq_out_us, err, errlen) < 0 ||
        get_key(j, "auth_key", s->keys.auth_key, s->keys.auth_key_len, err, errlen) < 0 ||
        get_key(j, "enc_key", s->keys.enc_key, s->keys.enc_key_len, err, errlen) < 0)
        return -1;
    sa->until_ms = until;
    return 0;
}

int pcscf_binding_from_state(const json_t *j, pc_binding_t *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (!json_is_object(j)) {
        snprintf(err, errlen, "a binding is not an object");
        return -1;
    }
    const json_t *ob = json_object_get(j, "outbound");
    const json_t *sa = json_object_get(j, "sa");
    if (get_str(j, "flow", b->flow, sizeof b->flow, 1, err, errlen) < 0 ||
        get_str(j, "token", b->token, sizeof b->token, 1, err, errlen) < 0 ||
        get_str(j, "contact", b->contact, sizeof b->contact, 0, err, errlen) < 0 ||
        get_str(j, "impi", b->impi, sizeof b->impi, 0, err, errlen) < 0 ||
        get_str(j, "impu", b->impu, sizeof b->impu, 0, err, errlen) < 0 ||
        get_str(j, "associated", b->associated, sizeof b->associated, 0, err, errlen) < 0 ||
        get_str(j, "service_route", b->service_route, sizeof b->service_route, 0, err, errlen) <
            0 ||
        get_int(j, "expires_at", 0, INT64_MAX, &b->expires_at, err, errlen) < 0 ||
        get_int(j, "registered_at", 0, INT64_MAX, &b->registered_at, err, errlen) < 0)
        return -1;
    if (!json_is_boolean(ob)) {
        snprintf(err, errlen, "outbound: missing or not a boolean");
        return -1;
    }
    b->outbound = json_is_true(ob);
    /* The handset profile's name: absent in files written before profiles, "" = default. */
    if (json_object_get(j, "profile") &&
        get_str(j, "profile", b->profile, sizeof b->profile, 0, err, errlen) < 0)
        return -1;
    if (!json_is_array(sa) || json_array_size(sa) > sizeof b->sa / sizeof *b->sa) {
        snprintf(err, errlen, "sa: not an array of at most %zu sets", sizeof b->sa / sizeof *b->sa);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(sa); i++) {
        const json_t *s = json_array_get(sa, i);
        char why[200];
        if (!json_is_null(s) && sa_from_state(s, &b->sa[i], why, sizeof why) < 0) {
            snprintf(err, errlen, "sa[%zu].%s", i, why);
            return -1;
        }
    }
    return 0;
}

/* ---- the snapshot ---- */

typedef struct snap {
    pcscf_t *pc;
    json_t *arr;
} snap_t;

/* Moves the stored sequence numbers on to what the datapath has sent, plus the margin; never
 * back. */
static void reserve_seq(const pcscf_t *pc, pc_sa_t *sa)
{
    ipsec_sa_stats_t st;
    if (pcscf_state_sa_stats(pc, &sa->set, &st) < 0)
        return;
    uint32_t uc = pcscf_seq_reserve(st.seq_out_uc), us = pcscf_seq_reserve(st.seq_out_us);
    if (uc > sa->set.seq_out_uc)
        sa->set.seq_out_uc = uc;
    if (us > sa->set.seq_out_us)
        sa->set.seq_out_us = us;
}

static int snap_one(void *ctx, const char *key, void *val)
{
    snap_t *s = ctx;
    pc_binding_t *b = val;
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++)
        if (b->sa[i].state != PC_SA_NONE)
            reserve_seq(s->pc, &b->sa[i]);
    json_array_append_new(s->arr, pcscf_binding_state_json(b));
    return 0;
}

json_t *pcscf_state_json(pcscf_t *pc)
{
    snap_t s = {pc, json_array()};
    strmap_sweep(pc->by_flow, snap_one, &s);
    return json_pack("{s:i,s:I,s:o}", "version", PCSCF_STATE_VERSION, "written_at",
                     (json_int_t)time(NULL), "bindings", s.arr);
}

/* The rename is only durable once the directory is on disk too. */
static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    int fd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int pcscf_state_write_file(const char *path, const char *text)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* 0600 whatever the umask grants: the file holds SA keys. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    size_t len = strlen(text), done = 0;
    int ok = fd >= 0 && fchmod(fd, 0600) == 0;
    while (ok && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        done += w > 0 ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        errno = saved;
        return -1;
    }
    sync_dir(path);
    return 0;
}

/* ---- reading ---- */

/* Every binding of the file, checked before any goes into the table: all or nothing. */
static int parse_all(const json_t *arr, pc_binding_t **out, size_t n, char *err, size_t errlen)
{
    strmap_t *seen = strmap_new();
    int rc = seen ? 0 : -1;
    if (!seen)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char why[300], key[128];
        if (!(out[i] = malloc(sizeof *out[i]))) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else if (pcscf_binding_from_state(json_array_get(arr, i), out[i], why, sizeof why) < 0) {
            snprintf(err, errlen, "bindings[%zu]: %s", i, why);
            rc = -1;
        } else if (strmap_get(seen, out[i]->flow) ||
                   (snprintf(key, sizeof key, "token %s", out[i]->token), strmap_get(seen, key))) {
            snprintf(err, errlen, "bindings[%zu]: its flow or token is another binding's", i);
            rc = -1;
        } else if (strmap_put(seen, out[i]->flow, out[i], NULL) < 0 ||
                   strmap_put(seen, key, out[i], NULL) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    strmap_free(seen, NULL);
    return rc;
}

/* Expired parts are left out: 1 when the binding itself has expired. */
static int drop_expired(pc_binding_t *b, int64_t now_s, int64_t now_ms, size_t *sets_dropped)
{
    if (b->expires_at <= now_s)
        return 1;
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++) {
        pc_sa_t *sa = &b->sa[i];
        /* A TEMPORARY set waited for a REGISTER whose transaction died with the process. */
        int gone = sa->state == PC_SA_TEMPORARY ||
                   (sa->state == PC_SA_OLD && sa->until_ms && sa->until_ms <= now_ms);
        if (sa->state != PC_SA_NONE && gone) {
            memset(sa, 0, sizeof *sa);
            (*sets_dropped)++;
        }
    }
    return 0;
}

static int reinstall_all(pcscf_t *pc);

int pcscf_state_read(pcscf_t *pc, const char *path, size_t *n, size_t *dropped, char *err,
                     size_t errlen)
{
    *n = *dropped = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *arr = json_object_get(j, "bindings");
    const json_t *ver = json_object_get(j, "version");
    if (!j) {
        snprintf(err, errlen, "line %d: %s", jerr.line, jerr.text);
        return -1;
    }
    if (!json_is_object(j) || !json_is_integer(ver) ||
        json_integer_value(ver) != PCSCF_STATE_VERSION || !json_is_array(arr)) {
        snprintf(err, errlen, "not {\"version\": %d, \"bindings\": [...]}", PCSCF_STATE_VERSION);
        json_decref(j);
        return -1;
    }
    size_t count = json_array_size(arr), sets = 0;
    pc_binding_t **all = calloc(count ? count : 1, sizeof *all);
    int rc = all ? parse_all(arr, all, count, err, errlen) : -1;
    if (!all)
        snprintf(err, errlen, "out of memory");
    json_decref(j);
    int64_t now_s = time(NULL), now_ms = wall_ms();
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (drop_expired(all[i], now_s, now_ms, &sets)) {
            (*dropped)++;
            continue;
        }
        if (pcscf_binding_restore(pc, all[i]) == 0)
            (*n)++;
        all[i] = NULL; /* the table's now, or freed by the restore */
    }
    for (size_t i = 0; all && i < count; i++)
        free(all[i]);
    free(all);
    if (rc == 0 && sets)
        log_info("pcscf: %s: %zu expired SA sets left out", path, sets);
    if (rc == 0 && pc->state && pc->state->dp) /* attached before the read */
        reinstall_all(pc);
    return rc < 0 ? -1 : 1;
}

/* ---- the timers ---- */

static void save_now(pcscf_t *pc)
{
    pc_state_t *st = pc->state;
    st->pending = 0;
    json_t *j = pcscf_state_json(pc);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text || pcscf_state_write_file(st->path, text) < 0) {
        if (!st->failing) /* once per failing spell; the check timer retries every second */
            log_error("pcscf: cannot write the state file %s: %s", st->path,
                      text ? strerror(errno) : "out of memory");
        st->failing = 1;
    } else if (st->failing) {
        log_info("pcscf: the state file %s is written again", st->path);
        st->failing = 0;
    }
    free(text);
}

static void save_due(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    save_now((pcscf_t *)arg);
}

void pcscf_state_changed(pcscf_t *pc)
{
    pc_state_t *st = pc->state;
    if (!st || !*st->path || st->pending)
        return;
    st->pending = 1;
    if (su_timer_set(st->save, save_due, (su_timer_arg_t *)pc) < 0)
        save_now(pc);
}

static int seq_due(void *ctx, const char *key, void *val)
{
    pcscf_t *pc = ctx;
    pc_binding_t *b = val;
    ipsec_sa_stats_t s;
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++) {
        const pc_sa_t *sa = &b->sa[i];
        if (sa->state != PC_SA_NONE && pcscf_state_sa_stats(pc, &sa->set, &s) == 0 &&
            (pcscf_seq_due(sa->set.seq_out_uc, s.seq_out_uc) ||
             pcscf_seq_due(sa->set.seq_out_us, s.seq_out_us)))
            pcscf_state_changed(pc);
    }
    return 0;
}

/* Every second: sequence numbers near what is stored, and a write that failed, go again. */
static void check(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    pcscf_t *pc = (pcscf_t *)arg;
    if (!pc->state->pending && pc->state->dp)
        strmap_sweep(pc->by_flow, seq_due, pc);
    if (pc->state->failing)
        pcscf_state_changed(pc);
}

static void make_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy && mkdir(dirname(copy), 0700) < 0 && errno != EEXIST)
        log_warn("pcscf: cannot create the directory of %s: %s", path, strerror(errno));
    free(copy);
}

static void load(pcscf_t *pc, const char *path)
{
    char err[400], bad[4200];
    size_t n, dropped;
    int rc = pcscf_state_read(pc, path, &n, &dropped, err, sizeof err);
    if (rc > 0) {
        log_info("pcscf: %zu bindings restored from %s (%zu expired left out)", n, path, dropped);
        return;
    }
    if (rc == 0) {
        log_info("pcscf: no state file %s yet: starting with no bindings", path);
        return;
    }
    snprintf(bad, sizeof bad, "%s.bad", path);
    int moved = rename(path, bad) == 0;
    log_error(
        "pcscf: the state file %s is unusable (%s); %s%s, starting with no bindings", path, err,
        moved ? "moved aside to " : "could not be moved aside: ", moved ? bad : strerror(errno));
}

int pcscf_state_init(pcscf_t *pc)
{
    pc_state_t *st = pc->state ? pc->state : calloc(1, sizeof *st); /* attached already? */
    if (!(pc->state = st))
        return -1;
    const char *path = cfg_str(pc->p->cfg, "pcscf.state_file");
    st->path = path ? path : "";
    st->m_failures = metrics_counter(pc->p->metrics, "ipsec_sa_failures_total",
                                     "SA sets the datapath could not install (create) or remove "
                                     "(delete)",
                                     "op");
    st->m_sets =
        metrics_gauge(pc->p->metrics, "ipsec_sa_sets",
                      "SA sets of protected UEs by state and algorithm pair", "state,alg,ealg");
    metric_addv(st->m_failures, (const char *const[]){"create"}, 0); /* both series from 0 */
    metric_addv(st->m_failures, (const char *const[]){"delete"}, 0);
    st->save = su_timer_create(su_root_task(pc->p->root), PCSCF_STATE_DELAY_MS);
    st->check = su_timer_create(su_root_task(pc->p->root), 1000);
    if (!st->save || !st->check || su_timer_run(st->check, check, (su_timer_arg_t *)pc) < 0)
        return -1;
    if (*st->path) {
        make_dir(st->path);
        load(pc, st->path);
    }
    return 0;
}

void pcscf_state_fini(pcscf_t *pc)
{
    pc_state_t *st = pc->state;
    if (!st)
        return;
    if (st->path && *st->path && (st->pending || st->failing))
        save_now(pc);
    if (st->save)
        su_timer_destroy(st->save);
    if (st->check)
        su_timer_destroy(st->check);
    free(st);
    pc->state = NULL;
}

/* ---- the datapath ---- */

void pcscf_sa_failure(pcscf_t *pc, const char *op)
{
    if (pc->state)
        metric_inc(pc->state->m_failures, op);
}

typedef struct reinstall {
    pcscf_t *pc;
    int installed;
} reinstall_t;

static int reinstall_one(void *ctx, const char *key, void *val)
{
    reinstall_t *r = ctx;
    pc_binding_t *b = val;
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++) {
        pc_sa_t *sa = &b->sa[i];
        if (sa->state != PC_SA_ACTIVE && sa->state != PC_SA_OLD)
            continue;
        pc_state_t *st = r->pc->state;
        if (st->ops->install(st->dp, &sa->set) == 0) {
            r->installed++;
            if (st->restored)
                st->restored(st->restored_arg, b, sa);
            continue;
        }
        log_ctx_user(b->impu, b->impi);
        log_error("pcscf: %s: the restored %s SA set (spi_pc %u, spi_ps %u) cannot be installed; "
                  "the UE must register again",
                  b->flow, pcscf_sa_state_name(sa->state), sa->set.spi_pc, sa->set.spi_ps);
        pcscf_sa_failure(r->pc, "create");
        memset(sa, 0, sizeof *sa);
        pcscf_state_changed(r->pc);
    }
    return 0;
}

static int reinstall_all(pcscf_t *pc)
{
    reinstall_t r = {pc, 0};
    strmap_sweep(pc->by_flow, reinstall_one, &r);
    log_ctx_clear();
    if (r.installed)
        log_info("pcscf: %d restored SA sets installed again", r.installed);
    pcscf_state_changed(pc); /* the sequence numbers move on past the restored ones */
    return r.installed;
}

int pcscf_state_attach(pcscf_t *pc, ipsec_dp_t *dp, const pc_dp_ops_t *ops,
                       pcscf_sa_restored_f restored, void *arg)
{
    /* Before pcscf_state_init: kept for it (the path "" until then: nothing written). After
     * pcscf_state_fini (a detach at teardown): nothing to do. */
    if (!pc->state && (!dp || !(pc->state = calloc(1, sizeof *pc->state))))
        return 0;
    pc_state_t *st = pc->state;
    if (!st->path)
        st->path = "";
    st->dp = dp && ops ? dp : NULL;
    st->ops = st->dp ? ops : NULL;
    st->restored = st->dp ? restored : NULL;
    st->restored_arg = st->dp ? arg : NULL;
    return st->dp ? reinstall_all(pc) : 0;
}

int pcscf_state_sa_stats(const pcscf_t *pc, const ipsec_sa_set_t *s, ipsec_sa_stats_t *out)
{
    const pc_state_t *st = pc->state;
    if (!st || !st->dp)
        return -1;
    return st->ops->stats(st->dp, s->spi_pc, s->spi_ps, out);
}

static int drop_sets(void *ctx, const char *key, void *val)
{
    pc_binding_t *b = val;
    size_t *n = ctx;
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++)
        if (b->sa[i].state != PC_SA_NONE) {
            memset(&b->sa[i], 0, sizeof b->sa[i]);
            (*n)++;
        }
    return 0;
}

void pcscf_state_ready(pcscf_t *pc)
{
    size_t n = 0;
    if (!pc->state || pc->state->dp)
        return;
    strmap_sweep(pc->by_flow, drop_sets, &n);
    if (n) {
        log_warn("pcscf: %zu restored SA sets dropped: no IPsec datapath (ipsec.mode off); "
                 "those UEs must register again",
                 n);
        pcscf_state_changed(pc);
    }
}
