/* The delivery log as the API lists it (GET /api/v1/notifications/log): the inventory's
 * table rules give its filters, sort and paging, as the jobs and usage lists have them. */
#include "inventory/inventory.h"
#include "notify/notify.h"
#include "store/sqlb.h"

static const pd_inv_col cols[] = {
    {"id", "l.id", PD_INV_COL_INT},          {"channel_id", "l.channel_id", PD_INV_COL_INT},
    {"event", "l.event", PD_INV_COL_TEXT},   {"printer_id", "l.printer_id", PD_INV_COL_INT},
    {"title", "l.title", PD_INV_COL_TEXT},   {"attempt", "l.attempt", PD_INV_COL_INT},
    {"ok", "l.ok", PD_INV_COL_BOOL},         {"status", "l.status", PD_INV_COL_INT},
    {"error", "l.error", PD_INV_COL_TEXT},   {"at", "l.at", PD_INV_COL_TIME},
};
#define NCOLS (sizeof cols / sizeof cols[0])

static const char cols_sql[] = "l.id, l.channel_id, l.event, l.printer_id, l.title, l.attempt, l.ok, l.status, "
                               "l.error, l.at";

static pd_err fetch_row(const pd_row *row, void *ud)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NCOLS; i++)
        json_object_set_new(o, cols[i].name, pd_inv_col_json(&cols[i], row, (int)i));
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

static pd_err table_fetch(pd_db *db, const pd_sqlb *b, json_t *rows, bool csv)
{
    (void)csv;
    return pd_db_query(db, b->sql, b->args, b->nargs, fetch_row, rows);
}

static const pd_inv_filter filters[] = {
    {"channel_id", "channel", "l.channel_id", PD_INV_F_IDS_NULL},
    {"printer_id", "printer", "l.printer_id", PD_INV_F_IDS_NULL},
    {"event", NULL, "l.event", PD_INV_F_TEXT_REQ},
    {"at", "date", "l.at", PD_INV_F_DATES},
};

static bool sort_expr(void *ud, const char *field, char *out, size_t outlen)
{
    (void)ud;
    return pd_inv_col_sort(cols, NCOLS, field, out, outlen);
}

static const char *const csv_cols[] = {"id", "channel_id", "event", "printer_id", "title", "attempt", "ok",
                                       "status", "error", "at"};

static const pd_inv_table log_table = {
    .alias = "l", .from = " FROM notify_log l", .cols = cols_sql, .filters = filters,
    .nfilters = sizeof filters / sizeof filters[0], .sort_expr = sort_expr, .default_sort = "id:desc",
    .fetch = table_fetch, .csv_cols = csv_cols, .ncsv = sizeof csv_cols / sizeof csv_cols[0],
};

pd_err pd_notify_log_open(pd_inv *inv, const pd_inv_param *p, size_t n, bool csv, pd_inv_cursor **out,
                          pd_inv_err *e)
{
    return pd_inv_table_open(inv, &log_table, p, n, csv, out, e);
}
