/* /api/v1/alerts (the alert engine's rows, src/track/alerts.c), /api/v1/spool/{id}/dried, and
 * /api/v1/stats[/low-stock] (src/track/stats.c, read off the loop with pd_db_read). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "track/alerts.h"
#include "track/stats.h"

bool pd_api_path_id(pd_req *r, const char *what, int64_t *id)
{
    const char *s = pd_req_param(r, "id");
    char *end;
    long long v = s && isdigit((unsigned char)*s) ? strtoll(s, &end, 10) : -1;
    if (v < 0 || *end) {
        pd_req_reply_field_error(r, "path", "id", "%s", what);
        return false;
    }
    *id = v;
    return true;
}

static void alerts_list(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    char buf[4096], t[24], limit[PD_IDENT_MAX_PRINTERS * 21];
    pd_inv_param p[PD_API_MAX_PARAMS];
    size_t n = pd_api_query_params(r, buf, sizeof buf, p, limit, sizeof limit);
    json_t *items = NULL;
    int64_t total = 0;
    pd_inv_err e = {0};
    if (pd_alerts_list(app->inv, p, n, &items, &total, &e)) {
        pd_api_inv_fail(r, &e);
        return;
    }
    snprintf(t, sizeof t, "%lld", (long long)total);
    pd_req_add_header(r, "x-total-count", t);
    pd_req_reply_json(r, 200, items);
}

static void alerts_ack(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t id;
    if (!pd_api_path_id(r, "an alert id (integer) expected", &id))
        return;
    json_t *o = NULL;
    pd_inv_err e = {0};
    const pd_ident *who = pd_req_ident(r);
    if (pd_alerts_ack(app->alerts, id, (pd_inv_seen){who->printers, who->nprinters}, &o, &e))
        pd_api_inv_fail(r, &e);
    else
        pd_req_reply_json(r, 200, o);
}

static void spool_dried(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t id;
    size_t len;
    if (!pd_api_path_id(r, "a spool id (integer) expected", &id))
        return;
    pd_req_body(r, &len);
    json_t *body = len ? pd_req_json(r) : NULL, *o = NULL;
    if (len && !body)
        return;
    pd_inv_err e = {0};
    if (pd_alerts_dried(app->alerts, id, body, &o, &e))
        pd_api_inv_fail(r, &e);
    else
        pd_req_reply_json(r, 200, o);
}

/* --- statistics, off the loop ------------------------------------------------------------------- */

typedef struct stats_read {
    pd_req *r;                   /* NULL once the client went away */
    pd_stats_req q;
    bool low_stock;
    int default_g;
    json_t *out;
} stats_read;

static pd_err stats_work(pd_db *rd, void *ud)
{
    stats_read *s = ud;
    return s->low_stock ? pd_stats_low_stock(rd, &s->q, s->default_g, &s->out) : pd_stats_run(rd, &s->q, &s->out);
}

static void stats_gone(void *ud) { ((stats_read *)ud)->r = NULL; }

static void stats_done(pd_err rc, void *ud)
{
    stats_read *s = ud;
    if (s->r && rc)
        pd_req_reply_error(s->r, rc, "%s", pd_strerror(rc));
    else if (s->r)
        pd_req_reply_json(s->r, 200, s->out), s->out = NULL;
    json_decref(s->out);
    free(s);
}

static void stats_start(pd_req *r, bool low_stock)
{
    pd_app *app = pd_req_app(r);
    char buf[4096], limit[PD_IDENT_MAX_PRINTERS * 21];
    pd_inv_param p[PD_API_MAX_PARAMS];
    size_t n = pd_api_query_params(r, buf, sizeof buf, p, limit, sizeof limit);
    stats_read *s = calloc(1, sizeof *s);
    if (!s) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    pd_inv_err e = {0};
    if (pd_stats_parse(p, n, &s->q, &e)) {
        free(s);
        pd_api_inv_fail(r, &e);
        return;
    }
    s->r = r;
    s->low_stock = low_stock;
    s->default_g = app->cfg->alert_low_stock_g;
    pd_req_on_abort(r, stats_gone, s);
    pd_err rc = pd_db_read(app->db, app->loop, stats_work, stats_done, s);
    if (rc) {
        pd_req_on_abort(r, NULL, NULL);
        free(s);
        pd_req_reply_error(r, rc, "%s", rc == PD_ERR_BUSY ? "Too many statistics are being read; try again shortly."
                                                          : pd_strerror(rc));
    }
}

static void stats_get(pd_req *r) { stats_start(r, false); }
static void stats_low_stock(pd_req *r) { stats_start(r, true); }

const pd_route pd_api_alerts_routes[] = {
    {"GET", "/api/v1/alerts", alerts_list, 0},
    {"POST", "/api/v1/alerts/{id}/ack", alerts_ack, 0},
    {"POST", "/api/v1/spool/{id}/dried", spool_dried, 0},
    {"GET", "/api/v1/stats", stats_get, 0},
    {"GET", "/api/v1/stats/low-stock", stats_low_stock, 0},
};
const size_t pd_api_alerts_nroutes = sizeof pd_api_alerts_routes / sizeof *pd_api_alerts_routes;
