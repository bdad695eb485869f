/* Home Assistant, inbound (docs/homeassistant.md, Inbound): the webhooks of the filament-tracking
 * seed's automations, /webhook/homeassistant/print_event and …/ams_update, and the merge of a
 * printer they created into the MQTT printer it really is.
 *
 * A webhook is read and checked whole (ha/inbound.c) before anything is written; its printer is
 * created on first use; its news goes into the fleet as a partial report (pd_fleet_feed), so the
 * job recorder, the accounting, the slot map and its prompts take it exactly as an MQTT report. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/jw.h"
#include "core/log.h"
#include "ha/inbound.h"
#include "printer/record.h"
#include "track/slots.h"

/* The shared secret from X-Printdeck-Secret, Authorization: Bearer, or ?token= (Home
 * Assistant's rest_command can set headers; a plain URL can carry only the query). Compared as
 * SHA-256 digests in constant time, so neither its bytes nor its length leak through timing. */
static bool secret_ok(pd_req *r, const char *secret)
{
    char buf[256];
    const char *got = pd_req_header(r, "x-printdeck-secret", buf, sizeof buf);
    if (!got && (got = pd_req_header(r, "authorization", buf, sizeof buf)))
        got = strncasecmp(got, "bearer ", 7) ? NULL : got + 7 + strspn(got + 7, " \t");
    if (!got)
        got = pd_req_query(r, "token", buf, sizeof buf);
    if (!got || !*secret)
        return false;
    unsigned char a[crypto_hash_sha256_BYTES], b[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(a, (const unsigned char *)got, strlen(got));
    crypto_hash_sha256(b, (const unsigned char *)secret, strlen(secret));
    return sodium_memcmp(a, b, sizeof a) == 0;
}

/* The printer printer_id names: the one Home Assistant created or was merged into, else the
 * printer of that serial (a numeric printer_id is not printdeck's id); NULL when none. */
static pd_printer *known_printer(pd_fleet *fleet, const char *printer_id)
{
    pd_printer *p = pd_fleet_find_ha(fleet, printer_id);
    if (!p && (p = pd_fleet_find(fleet, printer_id)) && strcasecmp(pd_printer_rec_get(p)->serial, printer_id))
        p = NULL;
    return p;
}

/* The request's body once the secret is right; NULL after replying. The secret is the named
 * printer's own when it has one - only it, so a printer's secret, given to the one Home
 * Assistant that feeds it, is all that can write to it - else the global one, which alone
 * creates printers. The payload is judged after: no one without a secret learns its rules. */
static json_t *webhook_body(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    json_t *body = pd_req_json(r);
    if (!body)
        return NULL;
    char printer_id[PD_HA_ID_MAX + 1];
    pd_printer *p = pd_ha_payload_printer_id(body, printer_id) ? known_printer(app->fleet, printer_id) : NULL;
    const char *own = p ? pd_printer_rec_get(p)->webhook_secret : "";
    const char *secret = own[0] ? own : app->cfg->ha_webhook_secret;
    if (!secret[0]) {
        pd_req_reply_error(r, PD_ERR_FORBIDDEN, "the Home Assistant webhooks are off: set "
                           "[homeassistant] webhook_secret, or the printer's webhook_secret "
                           "(docs/homeassistant.md)");
        return NULL;
    }
    if (!secret_ok(r, secret)) {
        pd_req_reply_error(r, PD_ERR_AUTH, "a wrong or missing webhook secret (X-Printdeck-Secret, "
                           "Authorization: Bearer or ?token=)%s", own[0] ? ": this printer has its own" : "");
        return NULL;
    }
    return body;
}

/* The printer Home Assistant calls printer_id: the one it created or was merged into, else a
 * new Home Assistant-backed printer when create; NULL with *ignored when an MQTT printer of
 * that serial tracks it already, NULL after replying on a failure. */
static pd_printer *printer_for(pd_req *r, const char *printer_id, bool create, bool *created,
                               const char **ignored)
{
    pd_app *app = pd_req_app(r);
    pd_printer *p = known_printer(app->fleet, printer_id);
    *created = false;
    *ignored = NULL;
    if (p && pd_printer_rec_get(p)->source == PD_PRINTER_MQTT) {
        *ignored = "the printer reports for itself over MQTT";
        return NULL;
    }
    if (p || !create)
        return p;

    pd_printer_rec rec;
    pd_printer_rec_init(&rec);
    rec.source = PD_PRINTER_HA;
    snprintf(rec.name, sizeof rec.name, "%s", printer_id);
    snprintf(rec.ha_id, sizeof rec.ha_id, "%s", printer_id);
    pd_ha_serial(printer_id, rec.serial);
    char err[256];
    pd_err rc = pd_printer_rec_check(&rec, err, sizeof err);
    if (!rc && !(rc = pd_db_printer_insert(app->db, &rec)) && (rc = pd_fleet_add(app->fleet, &rec, &p)))
        pd_db_printer_delete(app->db, rec.id); /* store and fleet agree, as on POST */
    if (rc) {
        if (rc == PD_ERR_DB_BUSY)
            pd_req_add_header(r, "Retry-After", "1");
        pd_req_reply_error(r, rc, "cannot create the printer for %s: %s", printer_id, pd_strerror(rc));
        return NULL;
    }
    pd_info("ha", "printer %s created by Home Assistant's webhook as id %lld", printer_id, (long long)rec.id);
    *created = true;
    return p;
}

static void reply_result(pd_req *r, pd_printer *p, bool created, bool changed, const char *ignored,
                         const char *printer_id)
{
    if (ignored) {
        pd_req_reply_json(r, 200, json_pack("{s:s,s:b,s:s}", "printer_id", printer_id, "changed", 0,
                                            "ignored", ignored));
        return;
    }
    const pd_state *st = pd_printer_state(p);
    pd_req_reply_json(r, created ? 201 : 200,
                      json_pack("{s:s,s:I,s:b,s:b,s:s}", "printer_id", printer_id, "printer",
                                (json_int_t)pd_printer_id(p), "created", created, "changed", changed,
                                "state", st->gcode_state));
}

static void feed(pd_req *r, pd_printer *p, json_t *report)
{
    if (!report) {
        pd_req_reply_error(r, PD_ERR_NOMEM, NULL);
        return;
    }
    pd_fleet_feed(p, report);
    json_decref(report);
}

static bool same_text(const char *a, const char *b) { return !strcmp(a, b); }

static const char NOTHING[] = "Home Assistant does not know the printer's state: nothing changes";

/* The printer a parsed payload (rc, field, why) names, created on first use when create;
 * NULL after replying: the payload's fault, the printer reports for itself, or it is unknown
 * and not to be created (NOTHING changes). */
static pd_printer *webhook_printer(pd_req *r, pd_err rc, const char *field, const char *why,
                                   const char *printer_id, bool create, bool *created)
{
    const char *ignored;
    if (rc) {
        pd_req_reply_field_error(r, "body", field, "%s", why);
        return NULL;
    }
    pd_printer *p = printer_for(r, printer_id, create, created, &ignored);
    if (!p && (ignored || !create))
        reply_result(r, NULL, false, false, ignored ? ignored : NOTHING, printer_id);
    return p;
}

static void webhook_print_event(pd_req *r)
{
    json_t *body = webhook_body(r);
    if (!body)
        return;
    pd_ha_print_event e = {0};
    const char *field = NULL;
    char why[256];
    bool created;
    pd_err rc = pd_ha_parse_print_event(body, &e, &field, why, sizeof why);
    /* Home Assistant saying it lost a printer makes none, and changes nothing */
    pd_printer *p = webhook_printer(r, rc, field, why, e.printer_id, e.state[0] != '\0', &created);
    if (!p)
        return;
    if (!e.state[0]) {
        reply_result(r, NULL, false, false, NOTHING, e.printer_id);
        return;
    }
    const pd_state *st = pd_printer_state(p);
    char state[sizeof st->gcode_state], file[sizeof st->gcode_file];
    snprintf(state, sizeof state, "%s", st->gcode_state);
    snprintf(file, sizeof file, "%s", st->gcode_file);
    int progress = st->progress, layer = st->layer, tray = st->tray_now;
    unsigned err = st->print_error;
    feed(r, p, pd_ha_print_event_report(&e));
    st = pd_printer_state(p);
    bool changed = !same_text(state, st->gcode_state) || !same_text(file, st->gcode_file) ||
                   progress != st->progress || layer != st->layer || tray != st->tray_now ||
                   err != st->print_error;
    reply_result(r, p, created, changed, NULL, e.printer_id);
}

static void webhook_ams_update(pd_req *r)
{
    json_t *body = webhook_body(r);
    if (!body)
        return;
    pd_ha_ams_update u = {0};
    const char *field = NULL;
    char why[256];
    bool created;
    pd_err rc = pd_ha_parse_ams_update(body, &u, &field, why, sizeof why);
    pd_printer *p = webhook_printer(r, rc, field, why, u.printer_id, true, &created);
    if (!p)
        return;
    const pd_tray *t = pd_track_tray(pd_printer_state(p), u.unit, u.slot);
    pd_tray before = t ? *t : (pd_tray){.remain = -1};
    feed(r, p, pd_ha_ams_update_report(&u));
    t = pd_track_tray(pd_printer_state(p), u.unit, u.slot);
    bool changed = !t || t->present != before.present || !same_text(t->type, before.type) ||
                   !same_text(t->color, before.color) || t->remain != before.remain;
    reply_result(r, p, created, changed, NULL, u.printer_id);
}

/* --- merging a Home Assistant printer into the MQTT printer it is ------------------------------ */

/* The tables whose rows say which printer they happened on and outlive it (the slot map and
 * prompts go with the printer: the MQTT printer reports its own trays). A summary row moved
 * beside one of the same key is fine: the statistics' readers sum them (track/rollup.c). */
static const char *const MOVED[] = {"job", "filament_usage", "alert", "job_rollup", "usage_rollup"};

/* `into` is the MQTT printer's record with what it takes over from the merged one. */
static pd_err merge_rows(pd_db *db, int64_t from, const pd_printer_rec *into, int64_t *jobs)
{
    pd_sqlv a[] = {PD_SQL_I(into->id), PD_SQL_I(from)};
    pd_err rc = pd_db_begin(db);
    for (size_t i = 0; !rc && i < sizeof MOVED / sizeof *MOVED; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE %s SET printer_id = ? WHERE printer_id = ?", MOVED[i]);
        rc = pd_db_run(db, sql, a, 2, i ? NULL : jobs);
    }
    if (!rc)  /* first: its ha_id is unique */
        rc = pd_db_printer_delete(db, from);
    if (!rc)
        rc = pd_db_printer_update(db, into);
    return pd_db_end(db, rc);
}

/* POST /api/v1/printers/{id}/merge {"into": ID or serial} */
static void printers_merge(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    pd_printer *p = pd_api_printer_of(r);
    json_t *body = p ? pd_req_json(r) : NULL;
    if (!body)
        return;
    const pd_printer_rec *from = pd_printer_rec_get(p);
    if (from->source != PD_PRINTER_HA) {
        pd_req_reply_error(r, PD_ERR_INVAL, "printer %s has its own MQTT link: only a printer Home "
                           "Assistant created merges into another", from->name);
        return;
    }
    /* the file's section makes it again, by its serial, at every start and SIGHUP */
    for (size_t i = 0; i < app->cfg->n_printers; i++)
        if (!strcmp(app->cfg->printers[i].rec.serial, from->serial)) {
            pd_req_reply_error(r, PD_ERR_EXISTS, "printer %s is declared in the configuration file "
                               "([printer %s]): remove its section while printdeck is stopped (a SIGHUP "
                               "would delete the printer), then merge it", from->name,
                               app->cfg->printers[i].rec.name);
            return;
        }
    const char *key = json_string_value(json_object_get(body, "into"));
    char num[24];
    if (json_is_integer(json_object_get(body, "into"))) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(json_object_get(body, "into")));
        key = num;
    }
    pd_printer *to = key ? pd_fleet_find(app->fleet, key) : NULL;
    if (!to || !pd_api_printer_visible(r, pd_printer_id(to))) {
        pd_req_reply_field_error(r, "body", "into", "must name an MQTT printer (its id or serial)");
        return;
    }
    const pd_printer_rec *into = pd_printer_rec_get(to);
    /* a printer_id shaped as a serial is one: it may only become the printer of that serial */
    pd_printer_rec probe;
    pd_printer_rec_init(&probe);
    char err[256];
    bool serial_like = !pd_printer_rec_set_text(&probe, "serial", from->ha_id, err, sizeof err);
    if (into->source != PD_PRINTER_MQTT || (serial_like && strcmp(probe.serial, into->serial))) {
        pd_req_reply_field_error(r, "body", "into", into->source != PD_PRINTER_MQTT
                                 ? "must be a printer with its own MQTT link"
                                 : "must be the printer of serial %s, the printer_id Home Assistant sends",
                                 probe.serial);
        return;
    }
    int64_t open = 0;
    pd_sqlv a[] = {PD_SQL_I(from->id)};
    pd_err rc = pd_db_scalar(app->db, "SELECT COUNT(*) FROM job WHERE printer_id = ? AND ended_at IS NULL", a, 1, &open);
    if (!rc && open) {
        pd_req_reply_error(r, PD_ERR_EXISTS, "a print of printer %s is still open: merge it once it has ended",
                           from->name);
        return;
    }
    /* Home Assistant's webhooks naming it go on being answered, with the secret they were
     * given unless the MQTT printer has its own; one followed through the API has no
     * printer_id, and its entities stay behind: the MQTT printer reports for itself */
    pd_printer_rec rec = *into;
    if (from->ha_id[0])
        snprintf(rec.ha_id, sizeof rec.ha_id, "%s", from->ha_id);
    if (!rec.webhook_secret[0])
        snprintf(rec.webhook_secret, sizeof rec.webhook_secret, "%s", from->webhook_secret);
    int64_t from_id = from->id, jobs = 0;
    char was[sizeof from->ha_device + sizeof from->ha_id + 48];  /* `from` goes with the printer */
    snprintf(was, sizeof was, from->ha_device[0] ? "followed through Home Assistant as %s"
             : "Home Assistant's %s", from->ha_device[0] ? from->ha_device : from->ha_id);
    if (!rc)
        rc = merge_rows(app->db, from_id, &rec, &jobs);
    if (rc) {
        if (rc == PD_ERR_DB_BUSY)
            pd_req_add_header(r, "Retry-After", "1");
        pd_req_reply_error(r, rc, "cannot merge the printer: %s", pd_strerror(rc));
        return;
    }
    pd_fleet_remove(app->fleet, p);  /* a printer followed through the API is no longer */
    pd_fleet_update(app->fleet, to, &rec);
    pd_info("ha", "printer %lld (%s) merged into printer %lld: %lld jobs moved", (long long)from_id, was,
            (long long)rec.id, (long long)jobs);
    size_t len;
    const char *s = pd_printer_json_str(to, &len);
    pd_req_reply_raw(r, 200, "application/json", s, len);
}

const pd_route pd_api_homeassistant_routes[] = {
    {"POST", "/webhook/homeassistant/print_event", webhook_print_event, PD_ROUTE_OPEN},
    {"POST", "/webhook/homeassistant/ams_update", webhook_ams_update, PD_ROUTE_OPEN},
    {"POST", "/api/v1/printers/{id}/merge", printers_merge, PD_ROUTE_ADMIN},
};
const size_t pd_api_homeassistant_nroutes = sizeof pd_api_homeassistant_routes / sizeof *pd_api_homeassistant_routes;
