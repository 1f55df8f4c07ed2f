/* hss: the lab HSS (ARCHITECTURE.md section 1): subscribers from a YAML file and REST, Milenage
 * vectors, SQN resynchronisation, S-CSCF assignment, MAA/SAA/UAA/LIA, RTR and PPR.
 * `hss vector ...` is the operator's Milenage check (vector_cli.c). */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util/log.h"
#include "diameter/hss/hss.h"
#include "diameter/hss/vector_cli.h"

static const cfg_key_t hss_keys[] = {
    FD_SETUP_KEY_ROWS("hss.ims.mnc001.mcc001.3gppnetwork.org", "127.0.0.1:3868", "", "256"),
    {"subscribers.file", CFG_STRING, "config/subscribers.yaml",
     "subscriber file (YAML; schema in config/subscribers.yaml)", 0, 0, NULL},
    {"subscribers.database", CFG_STRING, "run/hss.db",
     "SQLite database (WAL) keeping subscribers, SQNs, S-CSCF assignments and REST changes "
     "across restarts; a new one is seeded from subscribers.file (\"\": memory only)",
     0, 0, NULL},
    {"subscribers.state_file", CFG_STRING, "",
     "deprecated: a JSON state file of an older hss, imported once into a new database", 0, 0,
     NULL},
    {"auth.sqn_ind_bits", CFG_INT, "5",
     "IND bits of the SQN (TS 33.102 Annex C: SEQ+1 and IND cycling per vector); 0: SQN+1", 0, 10,
     NULL},
    {"auth.max_vectors", CFG_INT, "4", "most vectors in one MAA", 1, 8, NULL},
    {"auth.sipp_compat", CFG_BOOL, "false",
     "draw RAND again until XRES has no zero byte: SIPp 3.6.1 cuts RES at a zero byte, so about "
     "3% of its AKA answers are wrong otherwise (lab and test use only)",
     0, 0, NULL},
    {"assignment.scscf_names", CFG_LIST, "sip:127.0.0.1:6060",
     "S-CSCF names offered in Server-Capabilities when no S-CSCF is assigned (UAR, LIR)", 0, 0,
     NULL},
    {"charging.primary_event_cf", CFG_STRING, NULL,
     "Primary-Event-Charging-Function-Name in the SAA (DiameterURI)", 0, 0, NULL},
    {"charging.primary_ccf", CFG_STRING, "aaa://ccf.ims.mnc001.mcc001.3gppnetwork.org:3868",
     "Primary-Charging-Collection-Function-Name in the SAA (DiameterURI)", 0, 0, NULL},
    CFG_END,
};

static hss_db_config_t db_config(const cfg_t *cfg, int check_only)
{
    return (hss_db_config_t){.subscribers_file = cfg_str(cfg, "subscribers.file"),
                             .database = cfg_str(cfg, "subscribers.database"),
                             .state_file = cfg_str(cfg, "subscribers.state_file"),
                             .check_only = check_only};
}

/* Reads the database (when it exists), the subscriber file and the state file; writes nothing. */
static int hss_check(const cfg_t *cfg, char *err, size_t len)
{
    hss_db_t db;
    hss_db_config_t c = db_config(cfg, 1);
    if (hss_db_open(&db, &c, err, len) < 0)
        return -1;
    hss_db_free(&db);
    return 0;
}

static int make_state_dir(const char *path)
{
    if (!path || !*path)
        return 0;
    char *copy = strdup(path);
    if (!copy)
        return -1;
    const char *dir = dirname(copy);
    int rc = mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
    if (rc < 0)
        log_error("subscribers.database: cannot create %s: %s", dir, strerror(errno));
    free(copy);
    return rc;
}

static int hss_init(program_t *p)
{
    char err[512];
    hss_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->p = p;
    p->app = h;
    hss_db_config_t c = db_config(p->cfg, 0);
    if (make_state_dir(c.database) < 0)
        return -1;
    if (hss_db_open(&h->db, &c, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    h->ind_bits = (int)cfg_int(p->cfg, "auth.sqn_ind_bits");
    h->max_vectors = (int)cfg_int(p->cfg, "auth.max_vectors");
    h->sipp_compat = cfg_bool(p->cfg, "auth.sipp_compat");
    h->nscscf_names = cfg_list(p->cfg, "assignment.scscf_names", &h->scscf_names);
    h->charging_ecf = cfg_str(p->cfg, "charging.primary_event_cf");
    h->charging_ccf = cfg_str(p->cfg, "charging.primary_ccf");
    if (cx_node_start(&h->cx, p, hss_cx_handlers, hss_cx_nhandlers, h) < 0 ||
        hss_rest_routes(h) < 0)
        return -1;
    log_info("hss: %zu subscribers%s%s", h->db.n, h->db.path ? ", database " : " (memory only)",
             h->db.path ? h->db.path : "");
    return 0;
}

static void hss_fini(program_t *p)
{
    hss_t *h = p->app;
    if (!h)
        return;
    cx_node_stop(&h->cx, p);
    hss_db_free(&h->db);
    free(h);
    p->app = NULL;
}

static int hss_ready(program_t *p, char *reason, size_t len)
{
    return fd_setup_ready(reason, len);
}

static void hss_publish(program_t *p)
{
    hss_t *h = p->app;
    if (h)
        cx_node_publish(&h->cx);
}

static const program_def_t hss = {
    .name = "hss",
    .env_prefix = "HSS",
    .summary = "lab HSS (Diameter Cx)",
    .has_sip = 0,
    .default_api_listen = "127.0.0.1:8083",
    .keys = hss_keys,
    .check = hss_check,
    .init = hss_init,
    .fini = hss_fini,
    .ready = hss_ready,
    .publish = hss_publish,
};

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "vector") == 0)
        return hss_vector_main(argc - 1, argv + 1);
    return program_main(&hss, argc, argv);
}
