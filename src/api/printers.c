/* /api/v1/printers: the printer records (store) and their live objects (fleet).
 *
 * POST and PATCH share one declarative field table: each row gives the JSON type, bounds,
 * an optional extra check and where the value goes in pd_printer_rec. The access code is
 * write-only: nothing here ever puts it (or any rejected value) into a response. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/json.h"
#include "core/log.h"

typedef enum field_type { FIELD_STR, FIELD_INT, FIELD_BOOL } field_type;

typedef struct field {
    const char *name;
    field_type type;
    bool required;                       /* on POST; PATCH takes every field as optional */
    long min, max;                       /* string length in bytes, or integer range */
    size_t off, size;                    /* where it goes in pd_printer_rec */
    bool (*check)(char *v, size_t size); /* extra rule for a string; may normalise it */
    const char *rule;                    /* the rule in words, for the error message */
} field;

static bool serial_ok(char *v, size_t size)
{
    (void)size;
    for (; *v; v++)
        if (!((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9')))
            return false;
    return true;
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
static bool hostname_ok(const char *v)
{
    size_t label = 0;
    char prev = '.';
    for (const char *p = v; *p; prev = *p++) {
        bool alnum = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
        if (*p == '.') {
            if (!label || prev == '-')
                return false;
            label = 0;
        } else if (alnum || (*p == '-' && label)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label && prev != '-';
}

static bool host_ok(char *v, size_t size)
{
    (void)size;
    unsigned char bin[16];
    return inet_pton(AF_INET, v, bin) == 1 || inet_pton(AF_INET6, v, bin) == 1 || hostname_ok(v);
}

/* Stored as the canonical key ("P1S") whatever alias the client used; "" = detect. */
static bool model_ok(char *v, size_t size)
{
    if (!*v)
        return true;
    pd_model m = pd_model_parse(v);
    if (m == PD_MODEL_UNKNOWN)
        return false;
    snprintf(v, size, "%s", pd_model_key(m));
    return true;
}

#define REC(member) offsetof(pd_printer_rec, member), sizeof ((pd_printer_rec *)0)->member

static const field printer_fields[] = {
    {"name", FIELD_STR, true, 1, 63, REC(name), NULL, "a string of 1-63 bytes"},
    {"serial", FIELD_STR, true, 1, 31, REC(serial), serial_ok,
     "a string of 1-31 letters and digits"},
    {"host", FIELD_STR, true, 1, 255, REC(host), host_ok,
     "a host name or an IPv4/IPv6 address (string, up to 255 bytes)"},
    {"port", FIELD_INT, false, 1, 65535, REC(port), NULL, "an integer from 1 to 65535"},
    {"access_code", FIELD_STR, true, 1, 63, REC(access_code), NULL, "a string of 1-63 bytes"},
    {"model", FIELD_STR, false, 0, 31, REC(model), model_ok,
     "a known model such as \"P1S\", \"X1C\", \"A1 mini\" or \"H2D\", or null"},
    {"ca_file", FIELD_STR, false, 0, 255, REC(ca_file), NULL,
     "a file path of up to 255 bytes, or null"},
    {"tls_verify", FIELD_BOOL, false, 0, 1, REC(tls_verify), NULL, "true or false"},
};

static const field *field_find(const char *name)
{
    for (size_t i = 0; i < sizeof printer_fields / sizeof *printer_fields; i++)
        if (!strcmp(printer_fields[i].name, name))
            return &printer_fields[i];
    return NULL;
}

static bool has_control_chars(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* One field into rec. NULL when it fits, else what the value must be. A null clears an
 * optional string. */
static const char *field_set(pd_printer_rec *rec, const field *f, const json_t *v)
{
    char *dst = (char *)rec + f->off;
    switch (f->type) {
    case FIELD_BOOL:
        if (!json_is_boolean(v))
            return f->rule;
        *(bool *)dst = json_is_true(v);
        return NULL;
    case FIELD_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return f->rule;
        *(int *)dst = (int)json_integer_value(v);
        return NULL;
    case FIELD_STR:
        if (json_is_null(v) && !f->required) {
            dst[0] = '\0';
            return NULL;
        }
        if (!json_is_string(v) || json_string_length(v) < (size_t)f->min ||
            json_string_length(v) > (size_t)f->max || json_string_length(v) >= f->size)
            return f->rule;
        if (has_control_chars(json_string_value(v)))
            return "text without control characters";
        memcpy(dst, json_string_value(v), json_string_length(v) + 1);
        return f->check && !f->check(dst, f->size) ? f->rule : NULL;
    }
    return f->rule;
}

/* Applies the members of `body` to rec: on POST every required field must be present, on
 * PATCH every field is optional. Errors name the field, never echo the value. */
static pd_err rec_apply(pd_printer_rec *rec, json_t *body, bool create, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        const field *f = field_find(key);
        if (!f) {
            snprintf(err, errlen, "unknown field '%.64s'", key);
            return PD_ERR_INVAL;
        }
        const char *must = field_set(rec, f, v);
        if (must) {
            snprintf(err, errlen, "field '%s' must be %s", f->name, must);
            return PD_ERR_INVAL;
        }
    }
    for (size_t i = 0; create && i < sizeof printer_fields / sizeof *printer_fields; i++)
        if (printer_fields[i].required && !json_object_get(body, printer_fields[i].name)) {
            snprintf(err, errlen, "missing field '%s'", printer_fields[i].name);
            return PD_ERR_INVAL;
        }
    return PD_OK;
}

static pd_app *app_of(pd_req *r) { return pd_req_app(r); }

/* Finds {id} (numeric id or serial) or replies 404. */
static pd_printer *printer_of(pd_req *r)
{
    const char *id = pd_req_param(r, "id");
    pd_printer *p = pd_fleet_find(app_of(r)->fleet, id);
    if (!p)
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "no printer '%.64s'", id);
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
    pd_printer_rec rec = {.port = 8883, .tls_verify = true};
    char err[256];
    pd_err rc = rec_apply(&rec, body, true, err, sizeof err);
    if (rc) {
        pd_req_reply_error(r, rc, "%s", err);
        return;
    }
    /* the store's unique serial decides duplicates (a numeric serial would look like an id
     * to pd_fleet_find) */
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
} list_ctx;

static void list_one(pd_printer *p, void *ud)
{
    list_ctx *l = ud;
    size_t n;
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
    list_ctx l = {0};
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
    pd_printer *p = printer_of(r);
    if (p)
        reply_printer(r, 200, p);
}

static void printers_update(pd_req *r)
{
    pd_app *app = app_of(r);
    pd_printer *p = printer_of(r);
    json_t *body = p ? pd_req_json(r) : NULL;
    if (!body)
        return;
    pd_printer_rec rec = *pd_printer_rec_get(p);
    char err[256];
    pd_err rc = rec_apply(&rec, body, false, err, sizeof err);
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
    pd_printer *p = printer_of(r);
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
    pd_printer *p = printer_of(r);
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
    pd_printer *p = printer_of(r);
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

const pd_route pd_api_printers_routes[] = {
    {"GET", "/api/v1/printers", printers_list, 0},
    {"POST", "/api/v1/printers", printers_create, 0},
    {"GET", "/api/v1/printers/{id}", printers_get, 0},
    {"PATCH", "/api/v1/printers/{id}", printers_update, 0},
    {"DELETE", "/api/v1/printers/{id}", printers_delete, 0},
    {"GET", "/api/v1/printers/{id}/raw", printers_raw, 0},
    {"POST", "/api/v1/printers/{id}/commands", printers_command, 0},
};
const size_t pd_api_printers_nroutes = sizeof pd_api_printers_routes / sizeof *pd_api_printers_routes;
