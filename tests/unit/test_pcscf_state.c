/* pcscf.state_file (cscf/pcscf/state.c): a binding with two SA sets through JSON and back, every
 * field equal; hostile entries (wrong types, huge strings, embedded NULs, out-of-range ports
 * and SPIs, keys of the wrong length, unknown algorithms) refused naming the field, unknown
 * keys ignored; whole files (missing, truncated, wrong version, duplicates) read all or
 * nothing, expired bindings and SA sets left out; the atomic 0600 write; the sequence number
 * reservation, and the re-install of restored sets through a fake datapath. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cscf/pcscf/state.h"
#include "cscf/pcscf/state_internal.h"

/* ---- fixtures ---- */

static void fill_sa(pc_sa_t *sa, pc_sa_state_t st, ipsec_alg_t alg, ipsec_ealg_t ealg, int k)
{
    ipsec_sa_set_t *s = &sa->set;
    sa->state = st;
    sa->until_ms = st == PC_SA_OLD ? (int64_t)time(NULL) * 1000 + 60000 + k : 0;
    snprintf(s->ue_addr, sizeof s->ue_addr, "192.0.2.%d", 10 + k);
    s->port_uc = (uint16_t)(5080 + k);
    s->port_us = (uint16_t)(5081 + k);
    s->port_pc = 5062;
    s->port_ps = 65535;
    s->spi_uc = 0x1000u + (uint32_t)k;
    s->spi_us = 0xfffffff0u + (uint32_t)k;
    s->spi_pc = 0x2000u + (uint32_t)k;
    s->spi_ps = 0x3000u + (uint32_t)k;
    s->keys.alg = alg;
    s->keys.ealg = ealg;
    s->keys.auth_key_len = ipsec_alg_key_len(alg);
    s->keys.enc_key_len = ipsec_ealg_key_len(ealg);
    for (size_t i = 0; i < s->keys.auth_key_len; i++)
        s->keys.auth_key[i] = (uint8_t)(0xa0 + i + (size_t)k);
    for (size_t i = 0; i < s->keys.enc_key_len; i++)
        s->keys.enc_key[i] = (uint8_t)(0x10 + i + (size_t)k);
    s->seq_out_uc = 70000u + (uint32_t)k;
    s->seq_out_us = UINT32_MAX;
}

/* Every field set to something distinct; zeroed first so memcmp compares the whole struct. */
static void fill_binding(pc_binding_t *b, const char *flow, const char *token, int64_t expires_at)
{
    memset(b, 0, sizeof *b);
    snprintf(b->flow, sizeof b->flow, "%s", flow);
    snprintf(b->token, sizeof b->token, "%s", token);
    snprintf(b->contact, sizeof b->contact, "sip:alice@192.0.2.10:5081;transport=udp;ob");
    b->outbound = 1;
    snprintf(b->impi, sizeof b->impi, "alice@ims.example");
    snprintf(b->impu, sizeof b->impu, "sip:alice@ims.example");
    snprintf(b->associated, sizeof b->associated, "<sip:alice@ims.example>, <tel:+15550001>");
    snprintf(b->service_route, sizeof b->service_route, "<sip:orig@scscf.ims.example;lr>");
    b->expires_at = expires_at;
    b->registered_at = expires_at - 600;
    snprintf(b->profile, sizeof b->profile, "samsung");
    fill_sa(&b->sa[0], PC_SA_ACTIVE, IPSEC_ALG_HMAC_SHA1_96, IPSEC_EALG_AES_CBC, 0);
    fill_sa(&b->sa[1], PC_SA_OLD, IPSEC_ALG_HMAC_MD5_96, IPSEC_EALG_DES_EDE3_CBC, 1);
}

static json_t *reparse(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    json_t *back = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(back);
    return back;
}

typedef struct fx {
    pcscf_t pc;
    pc_state_t st;
    char dir[64], path[128];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->pc.by_flow = strmap_new();
    f->pc.by_token = strmap_new();
    f->st.path = ""; /* no timers: pcscf_state_changed does nothing */
    f->pc.state = &f->st;
    snprintf(f->dir, sizeof f->dir, "/tmp/pcscf-state-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/state.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    strmap_free(f->pc.by_token, NULL);
    strmap_free(f->pc.by_flow, free);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* ---- sequence numbers ---- */

static void seq_reserve_rounds_up_and_saturates(void **state)
{
    assert_int_equal(pcscf_seq_reserve(0), PCSCF_SEQ_MARGIN);
    assert_int_equal(pcscf_seq_reserve(12345), 12345u + PCSCF_SEQ_MARGIN);
    assert_int_equal(pcscf_seq_reserve(UINT32_MAX - PCSCF_SEQ_MARGIN), UINT32_MAX);
    assert_int_equal(pcscf_seq_reserve(UINT32_MAX - PCSCF_SEQ_MARGIN + 1), UINT32_MAX);
    assert_int_equal(pcscf_seq_reserve(UINT32_MAX), UINT32_MAX);
    /* Whatever was sent, the stored value is above it (or the SA is used up). */
    for (uint64_t sent = 0; sent <= UINT32_MAX; sent += 0x10001) {
        uint32_t r = pcscf_seq_reserve((uint32_t)sent);
        assert_true(r > sent || r == UINT32_MAX);
    }
}

static void seq_due_before_the_margin_is_used(void **state)
{
    const uint32_t half = PCSCF_SEQ_MARGIN / 2;
    assert_int_equal(pcscf_seq_due(0, 0), 1); /* nothing stored yet */
    assert_int_equal(pcscf_seq_due(PCSCF_SEQ_MARGIN, 0), 0);
    assert_int_equal(pcscf_seq_due(PCSCF_SEQ_MARGIN, half), 0);
    assert_int_equal(pcscf_seq_due(PCSCF_SEQ_MARGIN, half + 1), 1);
    assert_int_equal(pcscf_seq_due(PCSCF_SEQ_MARGIN, PCSCF_SEQ_MARGIN), 1);
    assert_int_equal(pcscf_seq_due(100, 4000000000u), 1); /* far past: no wrap in the sum */
    assert_int_equal(pcscf_seq_due(UINT32_MAX, UINT32_MAX), 0);
    /* Right after a reservation nothing is due, so a write does not ask for the next one. */
    assert_int_equal(pcscf_seq_due(pcscf_seq_reserve(777), 777), 0);
}

/* ---- one binding ---- */

static void binding_round_trip_keeps_every_field(void **state)
{
    pc_binding_t b, back;
    char err[200] = "";
    fill_binding(&b, "udp:192.0.2.10:5080", "0123456789abcdef", 1900000000);
    json_t *j = reparse(pcscf_binding_state_json(&b));
    assert_int_equal(pcscf_binding_from_state(j, &back, err, sizeof err), 0);
    json_decref(j);
    assert_string_equal(back.flow, b.flow);
    assert_string_equal(back.token, b.token);
    assert_string_equal(back.contact, b.contact);
    assert_string_equal(back.associated, b.associated);
    assert_string_equal(back.service_route, b.service_route);
    assert_int_equal(back.sa[0].state, PC_SA_ACTIVE);
    assert_int_equal(back.sa[1].state, PC_SA_OLD);
    assert_int_equal(back.sa[1].until_ms, b.sa[1].until_ms);
    assert_int_equal(back.sa[0].set.spi_us, 0xfffffff0u);
    assert_int_equal(back.sa[0].set.seq_out_us, UINT32_MAX);
    assert_memory_equal(back.sa[1].set.keys.enc_key, b.sa[1].set.keys.enc_key, 24);
    assert_memory_equal(&back, &b, sizeof b); /* and everything else */
}

static void binding_without_sa_sets(void **state)
{
    pc_binding_t b, back;
    char err[200] = "";
    fill_binding(&b, "tcp:[2001:db8::1]:40000", "t", 1900000000);
    memset(b.sa, 0, sizeof b.sa);
    b.outbound = 0;
    memset(b.contact, 0, sizeof b.contact); /* whole fields: memcmp below sees every byte */
    memset(b.associated, 0, sizeof b.associated);
    memset(b.service_route, 0, sizeof b.service_route);
    json_t *j = reparse(pcscf_binding_state_json(&b));
    assert_int_equal(json_array_size(json_object_get(j, "sa")), 2);
    assert_true(json_is_null(json_array_get(json_object_get(j, "sa"), 0)));
    assert_int_equal(pcscf_binding_from_state(j, &back, err, sizeof err), 0);
    json_decref(j);
    assert_memory_equal(&back, &b, sizeof b);
}

/* The binding's JSON with one member replaced (value NULL: removed); the verdict and err. */
static int mutated(const char *key, json_t *value, char *err, size_t errlen)
{
    pc_binding_t b, back;
    fill_binding(&b, "udp:192.0.2.10:5080", "0123456789abcdef", 1900000000);
    json_t *j = pcscf_binding_state_json(&b);
    if (value)
        json_object_set_new(j, key, value);
    else
        json_object_del(j, key);
    int rc = pcscf_binding_from_state(j, &back, err, errlen);
    json_decref(j);
    return rc;
}

/* The same for a member of sa[0]. */
static int sa_mutated(const char *key, json_t *value, char *err, size_t errlen)
{
    pc_binding_t b, back;
    fill_binding(&b, "udp:192.0.2.10:5080", "0123456789abcdef", 1900000000);
    json_t *j = pcscf_binding_state_json(&b);
    json_t *sa0 = json_array_get(json_object_get(j, "sa"), 0);
    if (value)
        json_object_set_new(sa0, key, value);
    else
        json_object_del(sa0, key);
    int rc = pcscf_binding_from_state(j, &back, err, errlen);
    json_decref(j);
    return rc;
}

static char *huge(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'x', n);
    s[n] = '\0';
    return s;
}

static void binding_wrong_types_refused_by_name(void **state)
{
    static const char *const strings[] = {"flow", "token",      "contact",      "impi",
                                          "impu", "associated", "service_route"};
    char err[200];
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        err[0] = '\0';
        assert_int_equal(mutated(strings[i], json_integer(5), err, sizeof err), -1);
        assert_non_null(strstr(err, strings[i]));
        assert_int_equal(mutated(strings[i], NULL, err, sizeof err), -1);
        assert_int_equal(mutated(strings[i], json_null(), err, sizeof err), -1);
    }
    assert_int_equal(mutated("expires_at", json_string("1900000000"), err, sizeof err), -1);
    assert_non_null(strstr(err, "expires_at"));
    assert_int_equal(mutated("expires_at", json_real(1.9e9), err, sizeof err), -1);
    assert_int_equal(mutated("registered_at", json_integer(-1), err, sizeof err), -1);
    assert_int_equal(mutated("outbound", json_integer(1), err, sizeof err), -1);
    assert_non_null(strstr(err, "outbound"));
    assert_int_equal(mutated("sa", json_object(), err, sizeof err), -1);
    assert_int_equal(mutated("sa", json_pack("[n,n,n]"), err, sizeof err), -1);
    assert_int_equal(mutated("sa", json_pack("[i]", 1), err, sizeof err), -1);
    assert_non_null(strstr(err, "sa[0]"));
    /* the handset profile: a string when there; absent (a file from before profiles) is
     * the default profile */
    assert_int_equal(mutated("profile", json_integer(5), err, sizeof err), -1);
    assert_non_null(strstr(err, "profile"));
    assert_int_equal(mutated("profile", NULL, err, sizeof err), 0);
    assert_int_equal(mutated("flow", json_string(""), err, sizeof err), -1);
    assert_int_equal(mutated("token", json_string(""), err, sizeof err), -1);
}

static void binding_huge_strings_and_nuls_refused(void **state)
{
    char err[200];
    char *s = huge(sizeof((pc_binding_t *)0)->flow); /* one too many with its NUL */
    assert_int_equal(mutated("flow", json_string(s), err, sizeof err), -1);
    assert_non_null(strstr(err, "flow: too long"));
    free(s);
    s = huge(sizeof((pc_binding_t *)0)->flow - 1); /* just fits */
    assert_int_equal(mutated("flow", json_string(s), err, sizeof err), 0);
    free(s);
    s = huge(1 << 20);
    assert_int_equal(mutated("service_route", json_string(s), err, sizeof err), -1);
    assert_int_equal(mutated("contact", json_string(s), err, sizeof err), -1);
    free(s);
    assert_int_equal(mutated("impi", json_stringn("a\0b", 3), err, sizeof err), -1);
    assert_non_null(strstr(err, "NUL"));
}

static void binding_unknown_keys_ignored(void **state)
{
    char err[200] = "";
    assert_int_equal(mutated("from_a_later_version", json_pack("{s:[i]}", "x", 1), err, sizeof err),
                     0);
    assert_int_equal(sa_mutated("q", json_integer(7), err, sizeof err), 0);
}

static void sa_hostile_fields_refused(void **state)
{
    char err[200];
    assert_int_equal(sa_mutated("state", json_string("none"), err, sizeof err), -1);
    assert_non_null(strstr(err, "sa[0].state"));
    assert_int_equal(sa_mutated("state", json_string("ACTIVE"), err, sizeof err), -1);
    assert_int_equal(sa_mutated("alg", json_string("hmac-sha-256"), err, sizeof err), -1);
    assert_int_equal(sa_mutated("ealg", json_integer(1), err, sizeof err), -1);
    assert_int_equal(sa_mutated("port_uc", json_integer(65536), err, sizeof err), -1);
    assert_non_null(strstr(err, "port_uc: out of range"));
    assert_int_equal(sa_mutated("port_ps", json_integer(-1), err, sizeof err), -1);
    assert_int_equal(sa_mutated("port_us", json_string("5081"), err, sizeof err), -1);
    assert_int_equal(sa_mutated("spi_pc", json_integer(4294967296LL), err, sizeof err), -1);
    assert_int_equal(sa_mutated("spi_uc", json_real(1.5), err, sizeof err), -1);
    assert_int_equal(sa_mutated("seq_out_uc", json_integer(-5), err, sizeof err), -1);
    assert_int_equal(sa_mutated("seq_out_us", NULL, err, sizeof err), -1);
    assert_int_equal(sa_mutated("until_ms", json_true(), err, sizeof err), -1);
    assert_int_equal(sa_mutated("ue_addr", json_string("ue.example"), err, sizeof err), -1);
    assert_non_null(strstr(err, "ue_addr"));
    assert_int_equal(sa_mutated("ue_addr", json_string(""), err, sizeof err), -1);
    char *s = huge(5000);
    assert_int_equal(sa_mutated("ue_addr", json_string(s), err, sizeof err), -1);
    assert_int_equal(sa_mutated("auth_key", json_string(s), err, sizeof err), -1);
    free(s);
    /* sha-1-96 takes 20 bytes: 16 (md5's) is refused, as are odd and non-hex digits. */
    assert_int_equal(
        sa_mutated("auth_key", json_string("00112233445566778899aabbccddeeff"), err, sizeof err),
        -1);
    assert_non_null(strstr(err, "auth_key"));
    assert_int_equal(
        sa_mutated("enc_key", json_string("zz112233445566778899aabbccddeeff"), err, sizeof err),
        -1);
    assert_int_equal(sa_mutated("enc_key", json_string(""), err, sizeof err), -1);
    assert_int_equal(sa_mutated("auth_key", json_integer(0), err, sizeof err), -1);
    assert_int_equal(sa_mutated("ue_addr", json_string("2001:db8::7"), err, sizeof err), 0);
}

/* ---- whole files ---- */

static const char *text_of(const pc_binding_t *bs, size_t n)
{
    static char *text;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, pcscf_binding_state_json(&bs[i]));
    json_t *j = json_pack("{s:i,s:o}", "version", 1, "bindings", arr);
    free(text);
    text = json_dumps(j, 0);
    json_decref(j);
    return text;
}

static void file_missing_is_a_first_start(void **state)
{
    fx_t *f = *state;
    size_t n = 9, dropped = 9;
    char err[300];
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(strmap_size(f->pc.by_flow), 0);
}

static void file_hostile_refused_whole(void **state)
{
    fx_t *f = *state;
    size_t n, dropped;
    char err[300];
    pc_binding_t bs[2];
    fill_binding(&bs[0], "udp:192.0.2.10:5080", "aaaa", time(NULL) + 600);
    fill_binding(&bs[1], "udp:192.0.2.11:5080", "bbbb", time(NULL) + 600);
    const char *good = text_of(bs, 2);
    char *cut = strndup(good, strlen(good) / 2); /* truncated mid-way */
    const char *bad[] = {
        cut,
        "",
        "[]",
        "{\"version\": 2, \"bindings\": []}",
        "{\"version\": \"1\", \"bindings\": []}",
        "{\"version\": 1, \"bindings\": {}}",
        "{\"version\": 1}",
        "{\"version\": 1, \"bindings\": [], \"bindings\": []}", /* duplicate key */
        "{\"version\": 1, \"bindings\": [null]}",
        "\xff\xfe{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text(f->path, bad[i]);
        err[0] = '\0';
        assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), -1);
        assert_true(err[0] != '\0');
        assert_int_equal(strmap_size(f->pc.by_flow), 0);
    }
    free(cut);
    /* One bad binding after a good one: neither goes in. */
    bs[1].sa[0].set.keys.auth_key_len = 3; /* written as 3 bytes: not sha-1-96's 20 */
    write_text(f->path, text_of(bs, 2));
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), -1);
    assert_non_null(strstr(err, "bindings[1]: sa[0].auth_key"));
    assert_int_equal(strmap_size(f->pc.by_flow), 0);
    /* Two bindings with one flow, or one token. */
    fill_binding(&bs[1], "udp:192.0.2.10:5080", "bbbb", time(NULL) + 600);
    write_text(f->path, text_of(bs, 2));
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), -1);
    assert_non_null(strstr(err, "another binding's"));
    fill_binding(&bs[1], "udp:192.0.2.11:5080", "aaaa", time(NULL) + 600);
    write_text(f->path, text_of(bs, 2));
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), -1);
    assert_int_equal(strmap_size(f->pc.by_flow), 0);
}

static void file_loads_and_leaves_out_expired(void **state)
{
    fx_t *f = *state;
    size_t n, dropped;
    char err[300] = "";
    int64_t now = time(NULL);
    pc_binding_t bs[3];
    fill_binding(&bs[0], "udp:192.0.2.10:5080", "aaaa", now + 600);
    fill_binding(&bs[1], "udp:192.0.2.11:5080", "bbbb", now - 1); /* expired */
    fill_binding(&bs[2], "udp:192.0.2.12:5080", "cccc", now + 600);
    bs[2].sa[1].until_ms = (now - 5) * 1000; /* its OLD set's grace is over */
    bs[2].sa[0].state = PC_SA_TEMPORARY;     /* its REGISTER died with the process */
    write_text(f->path, text_of(bs, 3));
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), 1);
    assert_int_equal(n, 2);
    assert_int_equal(dropped, 1);
    pc_binding_t *a = pcscf_binding(&f->pc, "udp:192.0.2.10:5080");
    assert_non_null(a);
    assert_ptr_equal(pcscf_binding_by_token(&f->pc, "aaaa"), a);
    assert_memory_equal(a, &bs[0], sizeof *a);
    assert_null(strmap_get(f->pc.by_flow, "udp:192.0.2.11:5080"));
    assert_null(pcscf_binding_by_token(&f->pc, "bbbb"));
    pc_binding_t *c = pcscf_binding_by_token(&f->pc, "cccc");
    assert_non_null(c);
    assert_int_equal(c->sa[0].state, PC_SA_NONE);
    assert_int_equal(c->sa[1].state, PC_SA_NONE);
    assert_int_equal(c->expires_at, now + 600);
}

static void write_is_atomic_and_private(void **state)
{
    fx_t *f = *state;
    char tmp[160];
    struct stat sb;
    mode_t old = umask(0); /* would give 0666 to a plain creat */
    write_text(f->path, "old");
    chmod(f->path, 0644);
    assert_int_equal(pcscf_state_write_file(f->path, "{\"version\": 1, \"bindings\": []}"), 0);
    umask(old);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
    assert_int_equal(access(tmp, F_OK), -1);
    size_t n, dropped;
    char err[300];
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), 1);
    assert_int_equal(n, 0);
    /* Into a directory that is not there: -1, and the old file would be untouched. */
    char nowhere[200];
    snprintf(nowhere, sizeof nowhere, "%s/missing/state.json", f->dir);
    assert_int_equal(pcscf_state_write_file(nowhere, "{}"), -1);
}

/* The snapshot of the table reads back as the same bindings. */
static void snapshot_round_trip(void **state)
{
    fx_t *f = *state;
    pc_binding_t *b = malloc(sizeof *b), copy;
    fill_binding(b, "udp:192.0.2.10:5080", "aaaa", time(NULL) + 600);
    copy = *b;
    assert_int_equal(pcscf_binding_restore(&f->pc, b), 0);
    json_t *j = pcscf_state_json(&f->pc);
    char *text = json_dumps(j, 0);
    json_decref(j);
    assert_int_equal(pcscf_state_write_file(f->path, text), 0);
    free(text);
    strmap_free(f->pc.by_token, NULL);
    strmap_free(f->pc.by_flow, free);
    f->pc.by_flow = strmap_new();
    f->pc.by_token = strmap_new();
    size_t n, dropped;
    char err[300] = "";
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), 1);
    assert_int_equal(n, 1);
    assert_memory_equal(pcscf_binding_by_token(&f->pc, "aaaa"), &copy, sizeof copy);
}

/* ---- the datapath (a fake) ---- */

static ipsec_sa_set_t installed[4];
static int ninstalled, fail_spi_pc;
static uint32_t sent_uc, sent_us;

static int fake_install(ipsec_dp_t *dp, const ipsec_sa_set_t *s)
{
    if (s->spi_pc == (uint32_t)fail_spi_pc)
        return -1;
    if (ninstalled < 4)
        installed[ninstalled++] = *s;
    return 0;
}

static int fake_stats(ipsec_dp_t *dp, uint32_t spi_pc, uint32_t spi_ps, ipsec_sa_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->seq_out_uc = sent_uc;
    out->seq_out_us = sent_us;
    out->packets_out = 42;
    out->bytes_in = 4242;
    return 0;
}

static const pc_dp_ops_t fake_ops = {fake_install, fake_stats};

static int nrestored;
static pc_sa_t *last_restored;

static void restored(void *arg, pc_binding_t *b, pc_sa_t *sa)
{
    (*(int *)arg)++;
    last_restored = sa;
}

static void attach_reinstalls_with_stored_sequences(void **state)
{
    fx_t *f = *state;
    pc_binding_t *b = malloc(sizeof *b);
    fill_binding(b, "udp:192.0.2.10:5080", "aaaa", time(NULL) + 600);
    assert_int_equal(pcscf_binding_restore(&f->pc, b), 0);
    ninstalled = nrestored = 0;
    fail_spi_pc = 0x2001; /* the OLD set's */
    assert_int_equal(
        pcscf_state_attach(&f->pc, (ipsec_dp_t *)&f->st, &fake_ops, restored, &nrestored), 1);
    assert_int_equal(ninstalled, 1);
    assert_int_equal(installed[0].spi_pc, 0x2000);
    assert_int_equal(installed[0].seq_out_uc, 70000); /* what the file said */
    assert_memory_equal(&installed[0], &b->sa[0].set, sizeof installed[0]);
    assert_int_equal(b->sa[1].state, PC_SA_NONE); /* the set that failed is gone */
    assert_int_equal(nrestored, 1);               /* the IPsec side heard of the one installed */
    assert_ptr_equal(last_restored, &b->sa[0]);
}

/* The datapath may come before the file is read: the read installs the sets then. */
static void attach_before_read_installs_at_read(void **state)
{
    fx_t *f = *state;
    pc_binding_t b;
    fill_binding(&b, "udp:192.0.2.10:5080", "aaaa", time(NULL) + 600);
    write_text(f->path, text_of(&b, 1));
    ninstalled = nrestored = 0;
    fail_spi_pc = -1;
    assert_int_equal(
        pcscf_state_attach(&f->pc, (ipsec_dp_t *)&f->st, &fake_ops, restored, &nrestored), 0);
    size_t n, dropped;
    char err[300] = "";
    assert_int_equal(pcscf_state_read(&f->pc, f->path, &n, &dropped, err, sizeof err), 1);
    assert_int_equal(ninstalled, 2); /* ACTIVE and OLD */
    assert_int_equal(nrestored, 2);
    assert_int_equal(installed[1].spi_pc, 0x2001);
}

static void snapshot_moves_sequences_on_never_back(void **state)
{
    fx_t *f = *state;
    pc_binding_t *b = malloc(sizeof *b);
    fill_binding(b, "udp:192.0.2.10:5080", "aaaa", time(NULL) + 600);
    memset(&b->sa[1], 0, sizeof b->sa[1]);
    b->sa[0].set.seq_out_uc = 0; /* fresh set */
    b->sa[0].set.seq_out_us = 0;
    assert_int_equal(pcscf_binding_restore(&f->pc, b), 0);
    fail_spi_pc = -1;
    pcscf_state_attach(&f->pc, (ipsec_dp_t *)&f->st, &fake_ops, restored, &nrestored);
    sent_uc = 1000;
    sent_us = UINT32_MAX - 10;
    json_decref(pcscf_state_json(&f->pc));
    assert_int_equal(b->sa[0].set.seq_out_uc, 1000 + PCSCF_SEQ_MARGIN);
    assert_int_equal(b->sa[0].set.seq_out_us, UINT32_MAX);
    sent_uc = 10; /* a counter lower than before (a re-installed set): the store never goes back */
    json_t *j = pcscf_state_json(&f->pc);
    assert_int_equal(b->sa[0].set.seq_out_uc, 1000 + PCSCF_SEQ_MARGIN);
    json_t *sa0 =
        json_array_get(json_object_get(json_array_get(json_object_get(j, "bindings"), 0), "sa"), 0);
    assert_int_equal(json_integer_value(json_object_get(sa0, "seq_out_uc")),
                     1000 + PCSCF_SEQ_MARGIN);
    json_decref(j);
    pcscf_state_attach(&f->pc, NULL, NULL, NULL, NULL);
    assert_null(f->st.dp);
}

/* REST (GET /api/v1/registrations): the binding's own fields and its SA sets with algorithms,
 * SPIs, ports, state and the datapath's counters; no key, in any spelling. */
static void rest_shows_sa_sets_never_keys(void **state)
{
    fx_t *f = *state;
    pc_binding_t b;
    fill_binding(&b, "udp:192.0.2.10:5080", "aaaa", 1900000600);
    b.sa[0].set.keys.auth_key[0] = 0xab; /* a byte pattern to look for */
    b.sa[0].set.keys.auth_key[1] = 0xcd;
    json_t *j = pcscf_binding_json(&f->pc, &b, 1900000000);
    json_t *sa = json_object_get(j, "sa");
    assert_int_equal(json_integer_value(json_object_get(j, "expires")), 600);
    assert_int_equal(json_integer_value(json_object_get(j, "registered_at")), 1900000000);
    assert_string_equal(json_string_value(json_object_get(j, "flow")), "udp:192.0.2.10:5080");
    assert_string_equal(json_string_value(json_object_get(j, "impi")), "alice@ims.example");
    assert_string_equal(json_string_value(json_object_get(j, "impu")), "sip:alice@ims.example");
    assert_string_equal(json_string_value(json_object_get(j, "contact")), b.contact);
    assert_true(json_is_true(json_object_get(j, "outbound")));
    assert_string_equal(json_string_value(json_object_get(j, "associated_uris")), b.associated);
    assert_string_equal(json_string_value(json_object_get(j, "service_route")), b.service_route);
    /* A protected UE is reached through its SA: port_us of the active set. */
    assert_string_equal(json_string_value(json_object_get(j, "target")),
                        "sip:192.0.2.10:5081;transport=udp");
    assert_int_equal(json_array_size(sa), 2);
    json_t *a = json_array_get(sa, 0), *o = json_array_get(sa, 1);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "active");
    assert_string_equal(json_string_value(json_object_get(a, "alg")), "hmac-sha-1-96");
    assert_string_equal(json_string_value(json_object_get(a, "ealg")), "aes-cbc");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "old");
    assert_string_equal(json_string_value(json_object_get(o, "ealg")), "des-ede3-cbc");
    assert_int_equal(json_integer_value(json_object_get(a, "spi_us")), 0xfffffff0u);
    assert_int_equal(json_integer_value(json_object_get(a, "spi_pc")), 0x2000);
    assert_int_equal(json_integer_value(json_object_get(a, "port_ps")), 65535);
    assert_int_equal(json_integer_value(json_object_get(a, "port_uc")), 5080);
    assert_true(json_is_false(json_object_get(a, "installed"))); /* no datapath attached */
    char *text = json_dumps(j, 0);
    assert_null(strstr(text, "key"));
    assert_null(strstr(text, "abcd"));
    assert_null(strstr(text, "seq_out"));
    free(text);
    json_decref(j);
    /* With a datapath its counters show. */
    pcscf_state_attach(&f->pc, (ipsec_dp_t *)&f->st, &fake_ops, restored, &nrestored);
    j = pcscf_binding_json(&f->pc, &b, 1900000000);
    a = json_array_get(json_object_get(j, "sa"), 0);
    assert_true(json_is_true(json_object_get(a, "installed")));
    assert_int_equal(json_integer_value(json_object_get(a, "packets_out")), 42);
    assert_int_equal(json_integer_value(json_object_get(a, "bytes_in")), 4242);
    json_decref(j);
    /* An unprotected UE: an empty list. */
    memset(b.sa, 0, sizeof b.sa);
    j = pcscf_binding_json(&f->pc, &b, 1900000000);
    assert_int_equal(json_array_size(json_object_get(j, "sa")), 0);
    json_decref(j);
}

/* ipsec_sa_sets{state,alg,ealg}: each set counted once, every other combination 0. */
static void gauge_counts_sets_by_state_and_algorithms(void **state)
{
    fx_t *f = *state;
    metrics_t *m = metrics_new();
    f->st.m_sets = metrics_gauge(m, "ipsec_sa_sets", "h", "state,alg,ealg");
    pc_binding_t *b1 = malloc(sizeof *b1), *b2 = malloc(sizeof *b2);
    fill_binding(b1, "udp:192.0.2.10:5080", "aaaa", time(NULL) + 600);
    fill_binding(b2, "udp:192.0.2.11:5080", "bbbb", time(NULL) + 600);
    memset(&b2->sa[1], 0, sizeof b2->sa[1]);
    assert_int_equal(pcscf_binding_restore(&f->pc, b1), 0);
    assert_int_equal(pcscf_binding_restore(&f->pc, b2), 0);
    pcscf_sa_publish(&f->pc);
    char *text = metrics_render(m);
    assert_non_null(
        strstr(text, "ipsec_sa_sets{state=\"active\",alg=\"hmac-sha-1-96\",ealg=\"aes-cbc\"} 2\n"));
    assert_non_null(
        strstr(text, "ipsec_sa_sets{state=\"old\",alg=\"hmac-md5-96\",ealg=\"des-ede3-cbc\"} 1\n"));
    assert_non_null(
        strstr(text, "ipsec_sa_sets{state=\"old\",alg=\"hmac-sha-1-96\",ealg=\"aes-cbc\"} 0\n"));
    free(text);
    /* The old set goes: its series reads 0 at the next scrape, not its last count. */
    memset(&b1->sa[1], 0, sizeof b1->sa[1]);
    pcscf_sa_publish(&f->pc);
    text = metrics_render(m);
    assert_non_null(
        strstr(text, "ipsec_sa_sets{state=\"old\",alg=\"hmac-md5-96\",ealg=\"des-ede3-cbc\"} 0\n"));
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seq_reserve_rounds_up_and_saturates),
        cmocka_unit_test(seq_due_before_the_margin_is_used),
        cmocka_unit_test(binding_round_trip_keeps_every_field),
        cmocka_unit_test(binding_without_sa_sets),
        cmocka_unit_test(binding_wrong_types_refused_by_name),
        cmocka_unit_test(binding_huge_strings_and_nuls_refused),
        cmocka_unit_test(binding_unknown_keys_ignored),
        cmocka_unit_test(sa_hostile_fields_refused),
        cmocka_unit_test_setup_teardown(file_missing_is_a_first_start, setup, teardown),
        cmocka_unit_test_setup_teardown(file_hostile_refused_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(file_loads_and_leaves_out_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(write_is_atomic_and_private, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(attach_reinstalls_with_stored_sequences, setup, teardown),
        cmocka_unit_test_setup_teardown(attach_before_read_installs_at_read, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_moves_sequences_on_never_back, setup, teardown),
        cmocka_unit_test_setup_teardown(rest_shows_sa_sets_never_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(gauge_counts_sets_by_state_and_algorithms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
