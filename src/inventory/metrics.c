/* Spoolman's Prometheus gauges, for the scrapers and Grafana dashboards written against
 * Spoolman's /metrics (SPOOLMAN_METRICS_ENABLED): the same names, help texts, labels and rules
 * as Spoolman's spoolman/prometheus/metrics.py (https://github.com/Donkie/Spoolman):
 *
 *   spoolman_spool_price{spool_id,filament_id}           the spool's own price, when it has one
 *   spoolman_spool_weight_used{spool_id,filament_id}     always
 *   spoolman_spool_initial_weight{spool_id,filament_id}  the spool's own net weight, when set
 *   spoolman_filament_info{filament_id,vendor,name,material,color} 1
 *   spoolman_filament_density / _diameter / _weight{filament_id}   weight when set
 *
 * Archived spools are left out; every filament is in. A filament without a vendor has vendor
 * "-", and a name, material or colour that is not set is "None", as Spoolman writes them.
 * Spoolman declares the diameter family and never fills it; here it has its samples.
 *
 * Rendered whole from the database by one caller at a time (api/system.c, off the loop): the
 * families of a kind come from one walk each, gathered in a buffer per family because the
 * exposition format wants a family's samples together. */
#include <stdio.h>
#include <string.h>

#include "inventory/inventory.h"

enum { SPOOL_PRICE, SPOOL_USED, SPOOL_INITIAL, FIL_INFO, FIL_DENSITY, FIL_DIAMETER, FIL_WEIGHT, FAMILIES };

static const struct {
    const char *name, *help;
} families[FAMILIES] = {
    [SPOOL_PRICE] = {"spoolman_spool_price", "Total Spool price"},
    [SPOOL_USED] = {"spoolman_spool_weight_used", "Spool Used Weight in grams"},
    [SPOOL_INITIAL] = {"spoolman_spool_initial_weight", "Spool Net weight in grams"},
    [FIL_INFO] = {"spoolman_filament_info", "Filament information"},
    [FIL_DENSITY] = {"spoolman_filament_density", "Density of filament gram/cm3"},
    [FIL_DIAMETER] = {"spoolman_filament_diameter", "Diameter of filament"},
    [FIL_WEIGHT] = {"spoolman_filament_weight", "Net weight of filament"},
};

typedef struct render {
    pd_buf fam[FAMILIES];
    size_t max;  /* the families together, as out's maximum */
} render;

/* A family's failure, or their bytes together past the maximum: the walk stops there, before
 * seven buffers each grow to it. */
static pd_err failed(const render *r)
{
    size_t total = 0;
    for (int i = 0; i < FAMILIES; i++) {
        if (pd_buf_err(&r->fam[i]))
            return pd_buf_err(&r->fam[i]);
        total += pd_buf_len(&r->fam[i]);
    }
    return total > r->max ? PD_ERR_TOOBIG : PD_OK;
}

/* A label's value as the exposition format escapes it: backslash, quote and newline. */
static void label(pd_buf *b, const char *k, const char *v)
{
    pd_buf_add_str(b, k);
    pd_buf_add_str(b, "=\"");
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            pd_buf_addc(b, '\\'), pd_buf_addc(b, *v);
        else if (*v == '\n')
            pd_buf_add_str(b, "\\n");
        else
            pd_buf_addc(b, *v);
    }
    pd_buf_addc(b, '"');
}

/* `{spool_id="…",filament_id="…"} v` or `{filament_id="…"} v` after the family's name. */
static void sample(pd_buf *b, int fam, int64_t id, int64_t filament, double v)
{
    char ids[96]; /* two int64 ids of 20 characters each, and the rest */
    pd_buf_add_str(b, families[fam].name);
    if (filament >= 0)
        snprintf(ids, sizeof ids, "{spool_id=\"%lld\",filament_id=\"%lld\"} ", (long long)id, (long long)filament);
    else
        snprintf(ids, sizeof ids, "{filament_id=\"%lld\"} ", (long long)id);
    pd_buf_add_str(b, ids);
    char num[32];
    snprintf(num, sizeof num, "%.15g\n", v);
    pd_buf_add_str(b, num);
}

static pd_err spool_row(const pd_row *row, void *ud)
{
    render *r = ud;
    int64_t id = pd_row_int(row, 0), filament = pd_row_int(row, 1);
    if (!pd_row_null(row, 2))
        sample(&r->fam[SPOOL_PRICE], SPOOL_PRICE, id, filament, pd_row_real(row, 2));
    sample(&r->fam[SPOOL_USED], SPOOL_USED, id, filament, pd_row_real(row, 3));
    if (!pd_row_null(row, 4))
        sample(&r->fam[SPOOL_INITIAL], SPOOL_INITIAL, id, filament, pd_row_real(row, 4));
    return failed(r);
}

static const char *or_none(const pd_row *row, int c) { return pd_row_null(row, c) ? "None" : pd_row_text(row, c); }

static pd_err filament_row(const pd_row *row, void *ud)
{
    render *r = ud;
    int64_t id = pd_row_int(row, 0);
    pd_buf *b = &r->fam[FIL_INFO];
    char num[32];
    pd_buf_add_str(b, families[FIL_INFO].name);
    snprintf(num, sizeof num, "%lld", (long long)id);
    pd_buf_addc(b, '{');
    label(b, "filament_id", num);
    pd_buf_addc(b, ',');
    label(b, "vendor", pd_row_null(row, 1) ? "-" : pd_row_text(row, 1));
    pd_buf_addc(b, ',');
    label(b, "name", or_none(row, 2));
    pd_buf_addc(b, ',');
    label(b, "material", or_none(row, 3));
    pd_buf_addc(b, ',');
    label(b, "color", or_none(row, 4));
    pd_buf_add_str(b, "} 1\n");
    sample(&r->fam[FIL_DENSITY], FIL_DENSITY, id, -1, pd_row_real(row, 5));
    sample(&r->fam[FIL_DIAMETER], FIL_DIAMETER, id, -1, pd_row_real(row, 6));
    if (!pd_row_null(row, 7))
        sample(&r->fam[FIL_WEIGHT], FIL_WEIGHT, id, -1, pd_row_real(row, 7));
    return failed(r);
}

pd_err pd_inv_metrics(pd_db *db, pd_buf *out)
{
    render r = {.max = out->max};
    for (int i = 0; i < FAMILIES; i++)
        pd_buf_init(&r.fam[i], out->max);
    pd_err rc = pd_db_query(db, "SELECT id, filament_id, price, used_weight, initial_weight FROM spool "
                                "WHERE archived = 0 ORDER BY id", NULL, 0, spool_row, &r);
    if (!rc)
        rc = pd_db_query(db, "SELECT f.id, v.name, f.name, f.material, f.color_hex, f.density, f.diameter, f.weight "
                             "FROM filament f LEFT JOIN vendor v ON v.id = f.vendor_id ORDER BY f.id",
                         NULL, 0, filament_row, &r);
    size_t total = 0;
    for (int i = 0; i < FAMILIES; i++)
        total += pd_buf_len(&r.fam[i]) + 256;
    if (!rc)
        rc = pd_buf_reserve(out, total);  /* one allocation, not a doubling copy per family */
    for (int i = 0; i < FAMILIES; i++) {
        char head[256];
        snprintf(head, sizeof head, "# HELP %s %s\n# TYPE %s gauge\n", families[i].name, families[i].help,
                 families[i].name);
        if (!rc) {
            pd_buf_add_str(out, head);
            if (pd_buf_len(&r.fam[i]))
                pd_buf_add(out, pd_buf_ptr(&r.fam[i]), pd_buf_len(&r.fam[i]));
            rc = pd_buf_err(out);
        }
        pd_buf_free(&r.fam[i]);  /* as soon as it is copied */
    }
    return rc;
}
