/* printdeck's own records: printers, in the SQL both backends share (tokens, sessions and
 * accounts: api/auth.c and api/accounts.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

#define PRINTER_COLS \
    "id, name, serial, host, port, access_code, model, ca_file, tls_verify, created_at, ftps_port, " \
    "camera_host, camera_port, camera_enabled, source, ha_id, " HA_COLS ", webhook_secret, timelapse_enabled, " \
    "timelapse_mode, timelapse_interval_s, timelapse_fps"
/* Home Assistant's API as the source: text columns all, in this order after ha_id */
#define HA_COLS \
    "ha_device, ha_print_status, ha_task_name, ha_gcode_file, ha_print_progress, ha_current_layer, " \
    "ha_total_layers, ha_active_tray, ha_ams_tray"
#define HA_REC(m) {offsetof(pd_printer_rec, m), sizeof ((pd_printer_rec *)0)->m}
static const struct {
    size_t off, size;
} HA_TEXT[] = {HA_REC(ha_device), HA_REC(ha_print_status), HA_REC(ha_task_name), HA_REC(ha_gcode_file),
               HA_REC(ha_print_progress), HA_REC(ha_current_layer), HA_REC(ha_total_layers),
               HA_REC(ha_active_tray), HA_REC(ha_ams_tray)};
#define N_HA (sizeof HA_TEXT / sizeof *HA_TEXT)

static void copy_text(const pd_row *row, int col, char *dst, size_t n)
{
    snprintf(dst, n, "%s", pd_row_text(row, col));
}

/* NULL: PD_REC_UNSET, the global setting */
static int opt_int(const pd_row *row, int col)
{
    return pd_row_null(row, col) ? PD_REC_UNSET : (int)pd_row_int(row, col);
}

static pd_sqlv opt_arg(int v) { return v == PD_REC_UNSET ? PD_SQL_NUL : PD_SQL_I(v); }

typedef struct printer_vec {
    pd_printer_rec *v;
    size_t n, cap;
} printer_vec;

static pd_err printer_row(const pd_row *row, void *ud)
{
    printer_vec *pv = ud;
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 16;
        pd_printer_rec *nv = realloc(pv->v, cap * sizeof *nv);
        if (!nv)
            return PD_ERR_NOMEM;
        pv->v = nv;
        pv->cap = cap;
    }
    pd_printer_rec *r = &pv->v[pv->n++];
    memset(r, 0, sizeof *r);
    r->id = pd_row_int(row, 0);
    copy_text(row, 1, r->name, sizeof r->name);
    copy_text(row, 2, r->serial, sizeof r->serial);
    copy_text(row, 3, r->host, sizeof r->host);
    r->port = (int)pd_row_int(row, 4);
    copy_text(row, 5, r->access_code, sizeof r->access_code);
    copy_text(row, 6, r->model, sizeof r->model);
    copy_text(row, 7, r->ca_file, sizeof r->ca_file);
    r->tls_verify = pd_row_int(row, 8) != 0;
    r->created_at = pd_row_int(row, 9);
    r->ftps_port = (int)pd_row_int(row, 10);
    copy_text(row, 11, r->camera_host, sizeof r->camera_host);
    r->camera_port = (int)pd_row_int(row, 12);
    r->camera_enabled = pd_row_int(row, 13) != 0;
    r->source = !strcmp(pd_row_text(row, 14), "homeassistant") ? PD_PRINTER_HA : PD_PRINTER_MQTT;
    copy_text(row, 15, r->ha_id, sizeof r->ha_id);
    for (size_t i = 0; i < N_HA; i++)
        copy_text(row, 16 + (int)i, (char *)r + HA_TEXT[i].off, HA_TEXT[i].size);
    const int t = 16 + (int)N_HA; /* after them, webhook_secret and timelapse_* */
    copy_text(row, t, r->webhook_secret, sizeof r->webhook_secret);
    r->timelapse_enabled = opt_int(row, t + 1);
    copy_text(row, t + 2, r->timelapse_mode, sizeof r->timelapse_mode);
    r->timelapse_interval_s = opt_int(row, t + 3);
    r->timelapse_fps = opt_int(row, t + 4);
    return PD_OK;
}

pd_err pd_db_printer_list(pd_db *db, pd_printer_rec **out, size_t *n)
{
    printer_vec pv = {0};
    pd_err rc = pd_db_query(db, "SELECT " PRINTER_COLS " FROM printer ORDER BY id", NULL, 0,
                            printer_row, &pv);
    if (rc) {
        free(pv.v);
        return rc;
    }
    *out = pv.v;
    *n = pv.n;
    return PD_OK;
}

const char *pd_printer_source_name(pd_printer_source s)
{
    return s == PD_PRINTER_HA ? "homeassistant" : "mqtt";
}

/* The record's columns name … tls_verify, ftps_port, camera_*, source, ha_id, HA_COLS,
 * webhook_secret, timelapse_*: args[0..18 + N_HA]. */
#define PRINTER_ARGS (19 + N_HA)
static void printer_args(const pd_printer_rec *r, pd_sqlv a[PRINTER_ARGS])
{
    a[0] = PD_SQL_S(r->name);
    a[1] = PD_SQL_S(r->serial);
    a[2] = PD_SQL_S(r->host);
    a[3] = PD_SQL_I(r->port);
    a[4] = PD_SQL_S(r->access_code);
    a[5] = PD_SQL_S(r->model);
    a[6] = PD_SQL_S(r->ca_file);
    a[7] = PD_SQL_I(r->tls_verify);
    a[8] = PD_SQL_I(r->ftps_port);
    a[9] = PD_SQL_S(r->camera_host);
    a[10] = PD_SQL_I(r->camera_port);
    a[11] = PD_SQL_I(r->camera_enabled);
    a[12] = PD_SQL_S(pd_printer_source_name(r->source));
    a[13] = r->ha_id[0] ? PD_SQL_S(r->ha_id) : PD_SQL_NUL;
    for (size_t i = 0; i < N_HA; i++)
        a[14 + i] = PD_SQL_S((const char *)r + HA_TEXT[i].off);
    a[14 + N_HA] = PD_SQL_S(r->webhook_secret);
    a[15 + N_HA] = opt_arg(r->timelapse_enabled);
    a[16 + N_HA] = PD_SQL_S(r->timelapse_mode);
    a[17 + N_HA] = opt_arg(r->timelapse_interval_s);
    a[18 + N_HA] = opt_arg(r->timelapse_fps);
}

pd_err pd_db_printer_insert(pd_db *db, pd_printer_rec *rec)
{
    if (!rec->created_at)
        rec->created_at = (int64_t)time(NULL);
    pd_sqlv a[PRINTER_ARGS + 1];
    printer_args(rec, a);
    a[PRINTER_ARGS] = PD_SQL_I(rec->created_at);
    return pd_db_insert(db, "INSERT INTO printer (name, serial, host, port, access_code, model, "
                            "ca_file, tls_verify, ftps_port, camera_host, camera_port, "
                            "camera_enabled, source, ha_id, " HA_COLS ", webhook_secret, timelapse_enabled, "
                            "timelapse_mode, timelapse_interval_s, timelapse_fps, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                            "RETURNING id", a,
                        PRINTER_ARGS + 1, &rec->id);
}

static pd_err changed_one(pd_err rc, int64_t changes)
{
    return rc ? rc : changes ? PD_OK : PD_ERR_NOTFOUND;
}

pd_err pd_db_printer_update(pd_db *db, const pd_printer_rec *rec)
{
    pd_sqlv a[PRINTER_ARGS + 1];
    printer_args(rec, a);
    a[PRINTER_ARGS] = PD_SQL_I(rec->id);
    int64_t n = 0;
    pd_err rc = pd_db_run(db, "UPDATE printer SET name = ?, serial = ?, host = ?, port = ?, "
                              "access_code = ?, model = ?, ca_file = ?, tls_verify = ?, "
                              "ftps_port = ?, camera_host = ?, camera_port = ?, "
                              "camera_enabled = ?, source = ?, ha_id = ?, ha_device = ?, "
                              "ha_print_status = ?, ha_task_name = ?, ha_gcode_file = ?, "
                              "ha_print_progress = ?, ha_current_layer = ?, ha_total_layers = ?, "
                              "ha_active_tray = ?, ha_ams_tray = ?, webhook_secret = ?, "
                              "timelapse_enabled = ?, timelapse_mode = ?, timelapse_interval_s = ?, "
                              "timelapse_fps = ? WHERE id = ?", a,
                          PRINTER_ARGS + 1, &n);
    return changed_one(rc, n);
}

pd_err pd_db_printer_delete(pd_db *db, int64_t id)
{
    int64_t n = 0;
    pd_sqlv a[] = {PD_SQL_I(id)};
    pd_err rc = pd_db_run(db, "DELETE FROM printer WHERE id = ?", a, 1, &n);
    return changed_one(rc, n);
}
