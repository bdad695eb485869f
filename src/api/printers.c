/* /api/v1/printers: the printer records (store) and their live objects (fleet).
 *
 * POST and PATCH go through the printer record's field table (printer/record.c), the one
 * the configuration file and the database rows go through too. The access code and the
 * webhook secret are write-only: nothing here ever puts them (or any rejected value) into a
 * response. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/json.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/tls.h"
#include "printer/probe.h"
#include "printer/record.h"

/* Applies the members of `body` to rec through the printer record's table, then checks the
 * whole record: on POST `rec` starts from the defaults, so a missing required field is
 * refused; on PATCH from the stored record, so every field is optional. Errors name the
 * field, never echo the value. */
static pd_err rec_apply(pd_printer_rec *rec, json_t *body, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    pd_err rc;
    json_object_foreach(body, key, v)
        if ((rc = pd_printer_rec_set_json(rec, key, v, err, errlen)))
            return rc;
    return pd_printer_rec_check(rec, err, errlen);
}

static pd_app *app_of(pd_req *r) { return pd_req_app(r); }

bool pd_api_printer_visible(pd_req *r, int64_t id)
{
    return pd_auth_sees(pd_req_ident(r), id);
}

pd_printer *pd_api_printer_of(pd_req *r)
{
    const char *id = pd_req_param(r, "id");
    pd_printer *p = pd_fleet_find(app_of(r)->fleet, id);
    if (p && !pd_api_printer_visible(r, pd_printer_id(p)))
        p = NULL;
    if (!p)
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "no printer '%.*s'", pd_jw_utf8_cut(id, 64), id);
    return p;
}

static void reply_printer(pd_req *r, int status, pd_printer *p)
{
    size_t len;
    const char *s = pd_printer_json_str(p, &len);
    pd_req_reply_raw(r, status, "application/json", s, len);
}

static void reply_store_error(pd_req *r, pd_err rc, const pd_printer_rec *rec)
{
    if (rc == PD_ERR_DB_BUSY)
        pd_req_add_header(r, "Retry-After", "1");
    if (rc == PD_ERR_EXISTS)
        pd_req_reply_error(r, rc, "a printer with serial %s already exists", rec->serial);
    else
        pd_req_reply_error(r, rc, "cannot save the printer: %s", pd_strerror(rc));
}

static void printers_create(pd_req *r)
{
    pd_app *app = app_of(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    pd_printer_rec rec;
    pd_printer_rec_init(&rec);
    char err[256];
    pd_err rc = rec_apply(&rec, body, err, sizeof err);
    if (rc) {
        pd_req_reply_error(r, rc, "%s", err);
        return;
    }
    /* nothing would ever follow it: said by the field, not left "disconnected" for good */
    if (rec.source == PD_PRINTER_HA && !app->cfg->ha_api_url[0]) {
        pd_req_reply_field_error(r, "body", "source", "Home Assistant's API is not configured here: "
                                 "set [homeassistant] api_url and token first");
        return;
    }
    /* the store's unique serial decides duplicates (serials are upper-cased on the way in,
     * so case cannot hide one) */
    rc = pd_db_printer_insert(app->db, &rec);
    if (rc) {
        reply_store_error(r, rc, &rec);
        return;
    }
    pd_printer *p;
    rc = pd_fleet_add(app->fleet, &rec, &p);
    if (rc) {
        /* keep store and fleet in agreement: a record the fleet refused is not kept */
        pd_db_printer_delete(app->db, rec.id);
        pd_req_reply_error(r, rc, rc == PD_ERR_BUSY ? "printer limit reached (mqtt.max_printers)"
                                                    : "cannot start the printer: %s",
                           pd_strerror(rc));
        return;
    }
    pd_info("api", "printer %s (%s) added as id %lld", rec.name, rec.serial, (long long)rec.id);
    reply_printer(r, 201, p);
}

typedef struct list_ctx {
    char *out;    /* NULL while measuring */
    size_t len;
    const pd_ident *who;
} list_ctx;

static void list_one(pd_printer *p, void *ud)
{
    list_ctx *l = ud;
    size_t n;
    if (!pd_auth_sees(l->who, pd_printer_id(p)))
        return;
    const char *s = pd_printer_json_str(p, &n);
    if (l->out) {
        l->out[l->len] = l->len == 0 ? '[' : ',';
        memcpy(l->out + l->len + 1, s, n);
    }
    l->len += n + 1;
}

/* Benchmarked against nginx serving the same bytes: the cached objects are copied once into
 * the reply buffer, never re-serialised. The strings stay valid while we hold the loop. */
static void printers_list(pd_req *r)
{
    pd_fleet *fleet = app_of(r)->fleet;
    list_ctx l = {.who = pd_req_ident(r)};
    pd_fleet_foreach(fleet, list_one, &l);
    size_t total = l.len ? l.len + 1 : 2;
    l.out = pd_req_reply_alloc(r, total);
    if (!l.out) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    l.len = 0;
    pd_fleet_foreach(fleet, list_one, &l);
    if (!l.len)
        l.out[l.len++] = '[';
    l.out[l.len] = ']';
    pd_req_reply_commit(r, 200, "application/json");
}

static void printers_get(pd_req *r)
{
    pd_printer *p = pd_api_printer_of(r);
    if (p)
        reply_printer(r, 200, p);
}

static void printers_update(pd_req *r)
{
    pd_app *app = app_of(r);
    pd_printer *p = pd_api_printer_of(r);
    json_t *body = p ? pd_req_json(r) : NULL;
    if (!body)
        return;
    pd_printer_rec rec = *pd_printer_rec_get(p);
    const char *key;
    json_t *v;
    /* its state comes from Home Assistant: nothing of a link, and a webhook printer's serial
     * stands for Home Assistant's printer_id until it is merged (one followed through the API
     * has the serial it was given, changed to free it for the printer's own link); the source
     * names what the printer is, so another one is another printer (deleted and added) */
    json_object_foreach(body, key, v) {
        const char *src = json_string_value(v);
        if (!strcmp(key, "source") && (!src || strcmp(src, pd_printer_source_name(rec.source)))) {
            pd_req_reply_field_error(r, "body", key, "cannot change: delete the printer and add it "
                                     "with the other source");
            return;
        }
        if (rec.source == PD_PRINTER_HA && strcmp(key, "name") && strcmp(key, "model") &&
            strcmp(key, "source") && strncmp(key, "ha_", 3) && strcmp(key, "webhook_secret") &&
            (strcmp(key, "serial") || rec.ha_id[0])) {
            pd_req_reply_field_error(r, "body", key, "a printer Home Assistant feeds has only a name, "
                                     "a model, its ha_ entities and a webhook_secret (and a serial when it "
                                     "is followed through the API): add the printer with its own link, "
                                     "then merge this one into it (POST /api/v1/printers/%lld/merge)",
                                     (long long)rec.id);
            return;
        }
    }
    char err[256];
    pd_err rc = rec_apply(&rec, body, err, sizeof err);
    if (rc) {
        pd_req_reply_error(r, rc, "%s", err);
        return;
    }
    rc = pd_db_printer_update(app->db, &rec);
    if (!rc)
        rc = pd_fleet_update(app->fleet, p, &rec);
    if (rc) {
        reply_store_error(r, rc, &rec);
        return;
    }
    reply_printer(r, 200, p);
}

static void printers_delete(pd_req *r)
{
    pd_app *app = app_of(r);
    pd_printer *p = pd_api_printer_of(r);
    if (!p)
        return;
    int64_t id = pd_printer_id(p);
    pd_err rc = pd_db_printer_delete(app->db, id);
    if (rc) {
        pd_req_reply_error(r, rc, "cannot delete the printer: %s", pd_strerror(rc));
        return;
    }
    pd_fleet_remove(app->fleet, p);
    pd_info("api", "printer %lld deleted", (long long)id);
    pd_req_reply_raw(r, 204, NULL, NULL, 0);
}

static void printers_raw(pd_req *r)
{
    pd_printer *p = pd_api_printer_of(r);
    if (!p)
        return;
    const json_t *raw = pd_printer_raw(p);
    size_t len = json_dumpb(raw, NULL, 0, PD_JSON_FLAGS);
    char *out = len ? pd_req_reply_alloc(r, len) : NULL;
    if (!out) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    json_dumpb(raw, out, len, PD_JSON_FLAGS);
    pd_req_reply_commit(r, 200, "application/json");
}

/* --- commands: the reply waits for the printer's acknowledgement ------------------------ */

typedef struct cmd_wait {
    pd_req *r;
    pd_printer *p;
    uint64_t handle;
    char command[16];
} cmd_wait;

static void cmd_done(pd_err rc, const char *detail, const json_t *ack, void *ud)
{
    cmd_wait *w = ud;
    pd_req *r = w->r;
    switch (rc) {
    case PD_OK:
        pd_req_reply_json(r, 200, json_pack("{s:b,s:s,s:o?}", "ok", 1, "command", w->command,
                                            "ack", json_deep_copy(ack)));
        break;
    case PD_ERR_REFUSED:
        pd_req_reply_error(r, rc, "printer refused '%s': %s", w->command,
                           detail && *detail ? detail : "no reason given");
        break;
    default:  /* SIGNED, TIMEOUT, OFFLINE: the error's sentence, then the printer's detail */
        pd_req_reply_error(r, rc, "%s: %s%s%s%s", w->command, pd_strerror(rc),
                           detail && *detail ? " (" : "", detail ? detail : "",
                           detail && *detail ? ")" : "");
        break;
    }
    free(w);
}

static void cmd_abort(void *ud)
{
    cmd_wait *w = ud;
    pd_printer_command_cancel(w->p, w->handle);
    free(w);
}

static void printers_command(pd_req *r)
{
    pd_printer *p = pd_api_printer_of(r);
    json_t *body = p ? pd_req_json(r) : NULL;
    if (!body)
        return;
    cmd_wait *w = calloc(1, sizeof *w);
    if (!w) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    w->r = r;
    w->p = p;
    const char *cmd = json_string_value(json_object_get(body, "command"));
    snprintf(w->command, sizeof w->command, "%s", cmd ? cmd : "");
    char err[256] = "";
    pd_err rc = pd_printer_command(p, body, cmd_done, w, &w->handle, err, sizeof err);
    if (rc) {
        free(w);
        pd_req_reply_error(r, rc, "%s", err[0] ? err : pd_strerror(rc));
        return;
    }
    pd_req_on_abort(r, cmd_abort, w);
}

/* --- the connection test ---------------------------------------------------------------- */

#define PROBE_TIMEOUT_MS 10000

typedef struct probe_job {
    pd_req *r;               /* NULL once the client has gone */
    pd_printer_rec rec;
    pd_probe_result res;
} probe_job;

/* On a worker thread. */
static void probe_run(void *ud)
{
    probe_job *j = ud;
    char *pem = NULL;
    size_t len = 0;
    const char *why = j->rec.ca_file[0] && j->rec.tls_verify
                          ? pd_tls_read_ca(j->rec.ca_file, &pem, &len) : NULL;
    if (why) {
        j->res.step = PD_PROBE_TLS;
        snprintf(j->res.message, sizeof j->res.message, "cannot read ca_file %s: %s",
                 j->rec.ca_file, why);
    } else {
        pd_probe_run(&j->rec, pem, len, PROBE_TIMEOUT_MS, &j->res);
    }
    free(pem);
}

static void probe_done(void *ud, bool cancelled)
{
    probe_job *j = ud;
    if (j->r && cancelled)
        pd_req_reply_error(j->r, PD_ERR_OVERLOAD, "the server is shutting down");
    else if (j->r)
        pd_req_reply_json(j->r, 200, json_pack("{s:b,s:s,s:s,s:I}", "ok",
                                               j->res.step == PD_PROBE_OK, "step",
                                               pd_probe_step_name(j->res.step), "message",
                                               j->res.message, "elapsed_ms",
                                               (json_int_t)j->res.elapsed_ms));
    free(j);
}

static void probe_abort(void *ud) { ((probe_job *)ud)->r = NULL; }

/* The record of the body, over the stored one of ?printer= (an edit that keeps the access
 * code it does not show), tested in the worker pool. */
static void printers_test(pd_req *r)
{
    pd_app *app = app_of(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return;
    probe_job *j = calloc(1, sizeof *j);
    if (!j) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    char key[64], err[256];
    const pd_printer_rec *stored = NULL;
    if (pd_req_query(r, "printer", key, sizeof key)) {
        pd_printer *p = pd_fleet_find(app->fleet, key);
        if (!p || !pd_api_printer_visible(r, pd_printer_id(p))) {
            free(j);
            pd_req_reply_error(r, PD_ERR_NOTFOUND, "no printer '%s'", key);
            return;
        }
        stored = pd_printer_rec_get(p);
        j->rec = *stored;
    } else {
        pd_printer_rec_init(&j->rec);
        /* a name is not needed to test a connection */
        snprintf(j->rec.name, sizeof j->rec.name, "test");
    }
    pd_err rc = rec_apply(&j->rec, body, err, sizeof err);
    /* the stored access code goes only where it was going, checked as it was: else anyone
     * allowed to test could send it to a host of their own */
    if (!rc && stored && !json_object_get(body, "access_code") &&
        (strcmp(j->rec.host, stored->host) || j->rec.port != stored->port || j->rec.ftps_port != stored->ftps_port ||
         strcmp(j->rec.serial, stored->serial) || strcmp(j->rec.ca_file, stored->ca_file) ||
         j->rec.tls_verify != stored->tls_verify)) {
        free(j);
        pd_req_reply_field_error(r, "body", "access_code", "the access code is required to test another host, "
                                 "port, serial or TLS setting");
        return;
    }
    if (!rc)
        rc = pd_work_submit(app->work, probe_run, probe_done, j);
    if (rc) {
        free(j);
        if (rc == PD_ERR_BUSY)
            pd_req_add_header(r, "Retry-After", "5");
        pd_req_reply_error(r, rc == PD_ERR_BUSY ? PD_ERR_OVERLOAD : rc, "%s",
                           rc == PD_ERR_BUSY ? "every worker is taken; retry in a moment" : err);
        return;
    }
    j->r = r;
    pd_req_on_abort(r, probe_abort, j);
}

const pd_route pd_api_printers_routes[] = {
    {"POST", "/api/v1/printers/test", printers_test, PD_ROUTE_ADMIN},
    {"GET", "/api/v1/printers", printers_list, 0},
    {"POST", "/api/v1/printers", printers_create, PD_ROUTE_ADMIN},
    {"GET", "/api/v1/printers/{id}", printers_get, 0},
    {"PATCH", "/api/v1/printers/{id}", printers_update, PD_ROUTE_ADMIN},
    {"DELETE", "/api/v1/printers/{id}", printers_delete, PD_ROUTE_ADMIN},
    {"GET", "/api/v1/printers/{id}/raw", printers_raw, 0},
    {"POST", "/api/v1/printers/{id}/commands", printers_command, 0},
};
const size_t pd_api_printers_nroutes = sizeof pd_api_printers_routes / sizeof *pd_api_printers_routes;
