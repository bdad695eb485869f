#include "track/usage.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "track/rollup.h"

static const char *const source_names[] = {
    [PD_USAGE_3MF] = "3mf", [PD_USAGE_GCODE] = "gcode", [PD_USAGE_REMAIN] = "remain",
    [PD_USAGE_MANUAL] = "manual",
};

const char *pd_usage_source_name(pd_usage_source s) { return source_names[s]; }

bool pd_usage_source_parse(const char *s, pd_usage_source *out)
{
    for (size_t i = 0; i < sizeof source_names / sizeof *source_names; i++)
        if (!strcmp(s, source_names[i])) {
            *out = (pd_usage_source)i;
            return true;
        }
    return false;
}

typedef struct spool_facts {
    bool found;
    double per_g;      /* price per gram; < 0 unknown */
    char material[64];
} spool_facts;

static pd_err facts_row(const pd_row *row, void *ud)
{
    spool_facts *f = ud;
    f->found = true;
    f->per_g = pd_row_null(row, 0) ? -1 : pd_row_real(row, 0);
    snprintf(f->material, sizeof f->material, "%s", pd_row_text(row, 1));
    return PD_OK;
}

pd_err pd_usage_record(pd_inv *inv, const pd_usage *u, int64_t *id, pd_inv_err *e)
{
    spool_facts f = {.per_g = -1};
    int64_t row_id = 0;
    memset(e, 0, sizeof *e);
    pd_err rc = pd_db_begin(inv->db);
    if (rc)
        return pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    if (u->spool_id) {
        /* the price per gram: the spool's own price over what it held, else the filament's */
        pd_sqlv a[] = {PD_SQL_I(u->spool_id)};
        rc = pd_db_query(inv->db,
                         "SELECT CASE WHEN s.price IS NOT NULL AND COALESCE(s.initial_weight, f.weight) > 0 "
                         "THEN s.price / COALESCE(s.initial_weight, f.weight) "
                         "WHEN f.price IS NOT NULL AND f.weight > 0 THEN f.price / f.weight END, "
                         "COALESCE(f.material, '') FROM spool s JOIN filament f ON f.id = s.filament_id "
                         "WHERE s.id = ?", a, 1, facts_row, &f);
        if (!rc && !f.found)
            rc = pd_inv_fail(e, PD_ERR_NOTFOUND, "body", "spool_id", "No spool with ID %lld found.",
                             (long long)u->spool_id);
    }
    if (!rc) {
        pd_sqlv a[] = {
            u->job_id ? PD_SQL_I(u->job_id) : PD_SQL_NUL,
            u->spool_id ? PD_SQL_I(u->spool_id) : PD_SQL_NUL,
            u->printer_id ? PD_SQL_I(u->printer_id) : PD_SQL_NUL,
            u->unit >= 0 ? PD_SQL_I(u->unit) : PD_SQL_NUL,
            u->slot >= 0 ? PD_SQL_I(u->slot) : PD_SQL_NUL,
            PD_SQL_D(u->grams),
            u->meters >= 0 ? PD_SQL_D(u->meters) : PD_SQL_NUL,
            PD_SQL_S(pd_usage_source_name(u->source)),
            PD_SQL_S(f.material),
            f.per_g >= 0 ? PD_SQL_D(f.per_g * u->grams) : PD_SQL_NUL,
            PD_SQL_I(u->at ? u->at : (int64_t)time(NULL)),
        };
        rc = pd_db_insert(inv->db,
                          "INSERT INTO filament_usage (job_id, spool_id, printer_id, unit, slot, grams, "
                          "meters, source, material, cost, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                          "RETURNING id", a, sizeof a / sizeof *a, &row_id);
        if (!rc)
            rc = pd_rollup_usage(inv->db, row_id, 1);
        if (rc)
            pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    }
    if (!rc && u->spool_id) {
        json_t *spool = NULL;
        rc = pd_inv_spool_consume(inv, u->spool_id, u->grams, &spool, e);
        json_decref(spool);
    }
    rc = pd_inv_end(inv, rc);  /* sends the spool's event held for the commit */
    if (!rc && id)
        *id = row_id;
    if (rc && !e->code)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    return rc;
}

typedef struct given {
    size_t n;
    int64_t spool[64];
    double grams[64];
} given;

static pd_err given_row(const pd_row *row, void *ud)
{
    given *g = ud;
    if (g->n == sizeof g->spool / sizeof *g->spool)
        return PD_ERR_TOOBIG;
    g->spool[g->n] = pd_row_int(row, 0);
    g->grams[g->n++] = pd_row_real(row, 1);
    return PD_OK;
}

typedef struct row_ids {
    size_t n;
    int64_t id[256];
} row_ids;

static pd_err row_id(const pd_row *row, void *ud)
{
    row_ids *r = ud;
    if (r->n == sizeof r->id / sizeof *r->id)
        return PD_ERR_TOOBIG;
    r->id[r->n++] = pd_row_int(row, 0);
    return PD_OK;
}

pd_err pd_usage_reverse_job(pd_inv *inv, int64_t job_id, pd_inv_err *e)
{
    given g = {0};
    row_ids rows = {0};
    pd_sqlv a[] = {PD_SQL_I(job_id)};
    memset(e, 0, sizeof *e);
    pd_err rc = pd_db_begin(inv->db);
    if (!rc)
        rc = pd_db_query(inv->db, "SELECT spool_id, sum(grams) FROM filament_usage WHERE job_id = ? "
                                  "AND spool_id IS NOT NULL GROUP BY spool_id", a, 1, given_row, &g);
    for (size_t i = 0; !rc && i < g.n; i++) {
        json_t *spool = NULL;
        rc = pd_inv_spool_consume(inv, g.spool[i], -g.grams[i], &spool, e);
        json_decref(spool);
    }
    /* the statistics' summaries let go of each row before it goes (docs/stats.md) */
    if (!rc)
        rc = pd_db_query(inv->db, "SELECT id FROM filament_usage WHERE job_id = ?", a, 1, row_id, &rows);
    for (size_t i = 0; !rc && i < rows.n; i++)
        rc = pd_rollup_usage(inv->db, rows.id[i], -1);
    if (!rc)
        rc = pd_db_run(inv->db, "DELETE FROM filament_usage WHERE job_id = ?", a, 1, NULL);
    rc = pd_db_end(inv->db, rc);
    if (rc && !e->code)
        pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
    return rc;
}
