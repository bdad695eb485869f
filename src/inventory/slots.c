/* The AMS slot map: which spool is in which slot, what the printer reports there, and the
 * history of every assignment with its reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inventory/entities.h"

static const char *const event_types[] = {"manual", "rfid", "color_change", "material_change",
                                          "empty", "loaded", NULL};

bool pd_inv_event_type_ok(const char *t)
{
    for (const char *const *p = event_types; *p; p++)
        if (!strcmp(*p, t))
            return true;
    return false;
}

typedef struct slot_row {
    int64_t id, spool_id;    /* spool_id 0 = empty */
    int64_t printer_id;
    int unit, slot;
    char color[16], material[32], uuid[40];
    bool reported;           /* the printer has reported this slot before */
    bool found;
} slot_row;

static pd_err slot_row_fn(const pd_row *row, void *ud)
{
    slot_row *s = ud;
    s->id = pd_row_int(row, 0);
    s->spool_id = pd_row_null(row, 1) ? 0 : pd_row_int(row, 1);
    s->reported = !pd_row_null(row, 2) || !pd_row_null(row, 3);
    snprintf(s->color, sizeof s->color, "%s", pd_row_text(row, 2));
    snprintf(s->material, sizeof s->material, "%s", pd_row_text(row, 3));
    snprintf(s->uuid, sizeof s->uuid, "%s", pd_row_text(row, 4));
    s->found = true;
    return PD_OK;
}

/* The slot's row, created empty on first use. INVAL when the printer does not exist. */
static pd_err slot_get(pd_inv *inv, int64_t printer_id, int unit, int slot, slot_row *out)
{
    pd_sqlv a[] = {PD_SQL_I(printer_id), PD_SQL_I(unit), PD_SQL_I(slot), PD_SQL_I((int64_t)time(NULL))};
    pd_err rc = pd_db_run(inv->db, "INSERT INTO ams_slot (printer_id, unit, slot, updated_at) "
                                   "VALUES (?, ?, ?, ?) ON CONFLICT (printer_id, unit, slot) DO NOTHING",
                          a, 4, NULL);
    memset(out, 0, sizeof *out);
    if (!rc)
        rc = pd_db_query(inv->db, "SELECT id, spool_id, reported_color, reported_material, "
                                  "reported_tray_uuid FROM ams_slot WHERE printer_id = ? AND unit = ? "
                                  "AND slot = ?", a, 3, slot_row_fn, out);
    out->printer_id = printer_id;
    out->unit = unit;
    out->slot = slot;
    return rc ? rc : out->found ? PD_OK : PD_ERR_NOTFOUND;
}

/* Closes the open history row of a slot and empties it. */
static pd_err slot_clear(pd_inv *inv, int64_t slot_id, const char *why)
{
    int64_t now = (int64_t)time(NULL);
    pd_sqlv h[] = {PD_SQL_I(now), PD_SQL_S(why), PD_SQL_I(slot_id)};
    pd_err rc = pd_db_run(inv->db, "UPDATE slot_history SET unassigned_at = ?, unassign_event = ? "
                                   "WHERE slot_id = ? AND unassigned_at IS NULL", h, 3, NULL);
    pd_sqlv s[] = {PD_SQL_I(now), PD_SQL_I(slot_id)};
    if (!rc)
        rc = pd_db_run(inv->db, "UPDATE ams_slot SET spool_id = NULL, updated_at = ? WHERE id = ?", s, 2, NULL);
    return rc;
}

typedef struct id_list {
    int64_t v[16];
    size_t n;
} id_list;

static pd_err id_row(const pd_row *row, void *ud)
{
    id_list *l = ud;
    if (l->n < sizeof l->v / sizeof l->v[0])
        l->v[l->n++] = pd_row_int(row, 0);
    return PD_OK;
}

static pd_err assign(pd_inv *inv, const slot_row *s, int64_t spool_id, const char *why)
{
    if (s->spool_id == spool_id)
        return PD_OK;
    pd_err rc = s->spool_id ? slot_clear(inv, s->id, why) : PD_OK;
    /* a spool is in one place: it leaves whatever slot held it */
    id_list others = {0};
    pd_sqlv a[] = {PD_SQL_I(spool_id), PD_SQL_I(s->id)};
    if (!rc)
        rc = pd_db_query(inv->db, "SELECT id FROM ams_slot WHERE spool_id = ? AND id <> ?", a, 2, id_row, &others);
    for (size_t i = 0; i < others.n && !rc; i++)
        rc = slot_clear(inv, others.v[i], why);
    int64_t now = (int64_t)time(NULL);
    pd_sqlv u[] = {PD_SQL_I(spool_id), PD_SQL_I(now), PD_SQL_I(s->id)};
    if (!rc)
        rc = pd_db_run(inv->db, "UPDATE ams_slot SET spool_id = ?, updated_at = ? WHERE id = ?", u, 3, NULL);
    pd_sqlv h[] = {PD_SQL_I(s->id), PD_SQL_I(spool_id), PD_SQL_I(now), PD_SQL_S(why)};
    if (!rc)
        rc = pd_db_run(inv->db, "INSERT INTO slot_history (slot_id, spool_id, assigned_at, event_type) "
                                "VALUES (?, ?, ?, ?)", h, 4, NULL);
    if (!rc)
        rc = inv_prompt_slot_settle(inv, s->printer_id, s->unit, s->slot, spool_id);
    return rc;
}

/* --- reading ------------------------------------------------------------------------------ */

static json_t *opt_text(const pd_row *row, int c)
{
    return pd_row_null(row, c) || !*pd_row_text(row, c) ? NULL : json_string(pd_row_text(row, c));
}

static pd_err slot_json_row(const pd_row *row, void *ud)
{
    json_t *o = json_object(), *rep = json_object();
    int unit = (int)pd_row_int(row, 1);
    json_object_set_new(o, "printer_id", json_integer(pd_row_int(row, 0)));
    json_object_set_new(o, "unit", json_integer(unit));
    json_object_set_new(o, "slot", json_integer(pd_row_int(row, 2)));
    json_object_set_new(o, "external", json_boolean(unit == PD_INV_EXTERNAL_UNIT));
    if (!pd_row_null(row, 3))
        json_object_set_new(o, "spool_id", json_integer(pd_row_int(row, 3)));
    static const char *const rep_keys[] = {"color", "material", "tray_uuid"};
    for (int i = 0; i < 3; i++) {
        json_t *v = opt_text(row, 4 + i);
        if (v)
            json_object_set_new(rep, rep_keys[i], v);
    }
    json_object_set_new(o, "reported", rep);
    json_object_set_new(o, "updated_at", pd_inv_time_json(pd_row_int(row, 7)));
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

/* Puts each slot's spool object beside its spool_id: one query for all the spools. */
static pd_err attach_spools(pd_inv *inv, int64_t printer_id, json_t *slots)
{
    pd_sqlb *b = malloc(sizeof *b);
    json_t *spools = json_array();
    pd_err rc = b && spools ? PD_OK : PD_ERR_NOMEM;
    if (!rc) {
        pd_sqlb_init(b);
        inv_select_from(b, PD_INV_SPOOL, false);
        pd_sqlb_add(b, " AND s.id IN (SELECT spool_id FROM ams_slot WHERE spool_id IS NOT NULL%s)",
                    printer_id ? " AND printer_id = ?" : "");
        if (printer_id)
            pd_sqlb_arg(b, PD_SQL_I(printer_id));
        rc = inv_fetch(inv, PD_INV_SPOOL, b, spools);
        pd_sqlb_free(b);
    }
    /* by id, so a farm's thousands of slots are matched in one pass, not slots × spools */
    json_t *by_id = rc ? NULL : json_object(), *slot, *sp;
    size_t i;
    char key[24];
    json_array_foreach(spools, i, sp) {
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(sp, "id")));
        json_object_set(by_id, key, sp);
    }
    json_array_foreach(slots, i, slot) {
        json_t *sid = json_object_get(slot, "spool_id");
        if (!sid)
            continue;
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(sid));
        if ((sp = json_object_get(by_id, key)))
            json_object_set(slot, "spool", sp);
    }
    free(b);
    json_decref(by_id);
    json_decref(spools);
    return rc;
}

#define SLOT_COLS "printer_id, unit, slot, spool_id, reported_color, reported_material, " \
                  "reported_tray_uuid, updated_at"

pd_err pd_inv_slots_list(pd_inv *inv, int64_t printer_id, json_t **out)
{
    json_t *arr = json_array();
    pd_sqlv a[] = {PD_SQL_I(printer_id)};
    pd_err rc = !arr ? PD_ERR_NOMEM
                : printer_id ? pd_db_query(inv->db, "SELECT " SLOT_COLS " FROM ams_slot WHERE printer_id = ? "
                                                    "ORDER BY unit, slot", a, 1, slot_json_row, arr)
                             : pd_db_query(inv->db, "SELECT " SLOT_COLS " FROM ams_slot "
                                                    "ORDER BY printer_id, unit, slot", NULL, 0, slot_json_row, arr);
    if (!rc)
        rc = attach_spools(inv, printer_id, arr);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return PD_OK;
}

/* The one slot's object, after a change. */
static pd_err slot_object(pd_inv *inv, int64_t printer_id, int unit, int slot, json_t **out)
{
    json_t *all = NULL;
    pd_err rc = pd_inv_slots_list(inv, printer_id, &all);
    size_t i;
    json_t *s;
    *out = NULL;
    json_array_foreach(all, i, s)
        if (json_integer_value(json_object_get(s, "unit")) == unit &&
            json_integer_value(json_object_get(s, "slot")) == slot)
            *out = json_incref(s);
    json_decref(all);
    return rc ? rc : *out ? PD_OK : PD_ERR_NOTFOUND;
}

static pd_err slot_change(pd_inv *inv, int64_t printer_id, int unit, int slot, int64_t spool_id,
                          const char *event_type, json_t **out, pd_inv_err *e)
{
    const char *why = event_type && *event_type ? event_type : "manual";
    memset(e, 0, sizeof *e);
    *out = NULL;
    if (!pd_inv_event_type_ok(why))
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "event_type",
                           "Invalid event type \"%s\": manual, rfid, color_change, material_change or empty", why);
    if (unit < 0 || unit > PD_INV_EXTERNAL_UNIT || slot < 0 || slot > 15)
        return pd_inv_fail(e, PD_ERR_FIELD, "path", "slot", "AMS unit 0-255 and slot 0-15 expected");
    pd_err rc = pd_db_begin(inv->db);
    int64_t found;
    pd_sqlv a[] = {PD_SQL_I(spool_id)};
    if (!rc && spool_id && pd_db_scalar(inv->db, "SELECT id FROM spool WHERE id = ?", a, 1, &found))
        rc = pd_inv_fail(e, PD_ERR_NOTFOUND, "body", "spool_id", "No spool with ID %lld found.", (long long)spool_id);
    slot_row s;
    if (!rc && (rc = slot_get(inv, printer_id, unit, slot, &s)) == PD_ERR_INVAL)
        pd_inv_fail(e, PD_ERR_NOTFOUND, "path", "id", "No printer with ID %lld found.", (long long)printer_id);
    if (!rc)
        rc = spool_id ? assign(inv, &s, spool_id, why) : s.spool_id ? slot_clear(inv, s.id, why) : PD_OK;
    if (!rc)
        rc = slot_object(inv, printer_id, unit, slot, out);
    rc = pd_inv_end(inv, rc);
    if (rc) {
        json_decref(*out);
        *out = NULL;
        if (!e->code)
            pd_inv_fail(e, rc, NULL, NULL, "%s", pd_strerror(rc));
        return rc;
    }
    inv->generation++;
    return PD_OK;
}

pd_err pd_inv_slot_assign(pd_inv *inv, int64_t printer_id, int unit, int slot, int64_t spool_id,
                          const char *event_type, json_t **out, pd_inv_err *e)
{
    if (spool_id <= 0) {
        memset(e, 0, sizeof *e);
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "spool_id", "Input should be a positive integer");
    }
    return slot_change(inv, printer_id, unit, slot, spool_id, event_type, out, e);
}

pd_err pd_inv_slot_unassign(pd_inv *inv, int64_t printer_id, int unit, int slot,
                            const char *event_type, json_t **out, pd_inv_err *e)
{
    return slot_change(inv, printer_id, unit, slot, 0, event_type, out, e);
}

static pd_err history_row(const pd_row *row, void *ud)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(pd_row_int(row, 0)));
    json_object_set_new(o, "unit", json_integer(pd_row_int(row, 1)));
    json_object_set_new(o, "slot", json_integer(pd_row_int(row, 2)));
    if (!pd_row_null(row, 3))
        json_object_set_new(o, "spool_id", json_integer(pd_row_int(row, 3)));
    json_object_set_new(o, "assigned_at", pd_inv_time_json(pd_row_int(row, 4)));
    if (!pd_row_null(row, 5))
        json_object_set_new(o, "unassigned_at", pd_inv_time_json(pd_row_int(row, 5)));
    json_object_set_new(o, "event_type", json_string(pd_row_text(row, 6)));
    json_t *why = opt_text(row, 7);
    if (why)
        json_object_set_new(o, "unassign_event", why);
    if (!pd_row_null(row, 8) || !pd_row_null(row, 9) || !pd_row_null(row, 10)) {
        json_t *rep = json_object();
        static const char *const rep_keys[] = {"material", "color", "tray_uuid"};
        for (int i = 0; i < 3; i++) {
            json_t *v = opt_text(row, 8 + i);
            if (v)
                json_object_set_new(rep, rep_keys[i], v);
        }
        json_object_set_new(o, "reported", rep);
    }
    return json_array_append_new(ud, o) ? PD_ERR_NOMEM : PD_OK;
}

pd_err pd_inv_slot_history(pd_inv *inv, int64_t printer_id, int64_t limit, int64_t offset,
                           json_t **out, int64_t *total)
{
    json_t *arr = json_array();
    pd_sqlv a[] = {PD_SQL_I(printer_id), PD_SQL_I(limit < 0 ? INT64_MAX : limit), PD_SQL_I(offset)};
    pd_err rc = arr ? pd_db_scalar(inv->db, "SELECT count(*) FROM slot_history h JOIN ams_slot s "
                                            "ON s.id = h.slot_id WHERE s.printer_id = ?", a, 1, total)
                    : PD_ERR_NOMEM;
    if (!rc)
        rc = pd_db_query(inv->db, "SELECT h.id, s.unit, s.slot, h.spool_id, h.assigned_at, h.unassigned_at, "
                                  "h.event_type, h.unassign_event, h.material, h.color, h.tray_uuid "
                                  "FROM slot_history h JOIN ams_slot s "
                                  "ON s.id = h.slot_id WHERE s.printer_id = ? ORDER BY h.id DESC "
                                  "LIMIT ? OFFSET ?", a, 3, history_row, arr);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return PD_OK;
}

/* What changed in a slot, as a history event type: NULL when nothing did. */
static const char *tray_change(const slot_row *s, const pd_inv_reported *rep)
{
    if (s->reported && !strcmp(s->color, rep->color) && !strcmp(s->material, rep->material) &&
        !strcmp(s->uuid, rep->tray_uuid))
        return NULL;
    return !*rep->material && !*rep->color ? "empty"
           : !*s->material && !*s->color   ? "loaded"
           : strcmp(s->material, rep->material) ? "material_change"
           : strcmp(s->color, rep->color)  ? "color_change"
                                           : "rfid";
}

/* A change of the tray is a history row even when no spool is assigned: an instant (assigned
 * and unassigned at once) with what the printer reported. */
static pd_err history_change(pd_inv *inv, const slot_row *s, const char *kind, const pd_inv_reported *rep)
{
    int64_t now = (int64_t)time(NULL);
    pd_sqlv h[] = {PD_SQL_I(s->id), PD_SQL_I(now), PD_SQL_I(now), PD_SQL_S(kind),
                   PD_SQL_S(rep->material), PD_SQL_S(rep->color), PD_SQL_S(rep->tray_uuid)};
    return pd_db_run(inv->db, "INSERT INTO slot_history (slot_id, assigned_at, unassigned_at, event_type, "
                              "material, color, tray_uuid) VALUES (?, ?, ?, ?, ?, ?, ?)", h, 7, NULL);
}

typedef struct rfid_row {
    int64_t id;
    bool archived, found;
} rfid_row;

static pd_err rfid_row_fn(const pd_row *row, void *ud)
{
    rfid_row *r = ud;
    if (!r->found)
        *r = (rfid_row){pd_row_int(row, 0), pd_row_int(row, 1) != 0, true};
    return PD_OK;
}

pd_err pd_inv_slot_report(pd_inv *inv, int64_t printer_id, int unit, int slot,
                          const pd_inv_reported *rep)
{
    pd_err rc = pd_db_begin(inv->db);
    slot_row s;
    if (!rc)
        rc = slot_get(inv, printer_id, unit, slot, &s);
    /* an archived spool with the tag is that spool all the same: never made twice */
    rfid_row known = {0};
    pd_sqlv a[] = {PD_SQL_S(rep->tray_uuid)};
    if (!rc && *rep->tray_uuid)
        rc = pd_db_query(inv->db, "SELECT id, archived FROM spool WHERE tray_uuid = ? "
                                  "ORDER BY archived, id LIMIT 1", a, 1, rfid_row_fn, &known);
    bool loaded = *rep->material || *rep->color;
    if (!rc && !known.found && loaded && *rep->tray_uuid && rep->bbl != 0 &&
        !(rc = inv_rfid_spool(inv, rep, &known.id)))
        known.found = true;
    const char *kind = rc ? NULL : tray_change(&s, rep);
    if (kind && s.reported)
        rc = history_change(inv, &s, kind, rep);
    int64_t rfid = known.found && !known.archived ? known.id : 0, spool = s.spool_id;
    if (!rc && rfid) {
        rc = assign(inv, &s, rfid, "rfid");
        spool = rfid;
    } else if (!rc && kind && s.spool_id && s.reported) {
        /* what the printer reports changed under an assigned spool: someone swapped it (a spool
         * assigned to an empty slot stays when one is loaded: it was assigned for that) */
        const char *why = !strcmp(kind, "loaded") || (!strcmp(kind, "rfid") && !*s.uuid) ? NULL : kind;
        if (why) {
            rc = slot_clear(inv, s.id, why);
            spool = 0;
        }
    }
    pd_sqlv u[] = {PD_SQL_S(rep->color), PD_SQL_S(rep->material), PD_SQL_S(rep->tray_uuid),
                   PD_SQL_I((int64_t)time(NULL)), PD_SQL_I(s.id)};
    if (!rc && kind)
        rc = pd_db_run(inv->db, "UPDATE ams_slot SET reported_color = ?, reported_material = ?, "
                                "reported_tray_uuid = ?, updated_at = ? WHERE id = ?", u, 5, NULL);
    /* a spool nobody can name: ask (a known one, even archived, is named) */
    if (!rc && kind && !loaded)
        rc = inv_prompt_slot_settle(inv, printer_id, unit, slot, 0);
    else if (!rc && kind && !spool && !known.found)
        rc = inv_prompt_slot_raise(inv, printer_id, unit, slot, rep);
    rc = pd_inv_end(inv, rc);
    if (!rc)
        inv->generation++;
    return rc;
}

typedef struct slot_key {
    int64_t printer_id;
    int unit, slot;
    bool found;
} slot_key;

static pd_err slot_key_row(const pd_row *row, void *ud)
{
    slot_key *k = ud;
    if (!k->found)
        *k = (slot_key){pd_row_int(row, 0), (int)pd_row_int(row, 1), (int)pd_row_int(row, 2), true};
    return PD_OK;
}

pd_err pd_inv_slot_claim_rfid(pd_inv *inv, int64_t spool_id, const char *tray_uuid)
{
    slot_key k = {0};
    pd_sqlv a[] = {PD_SQL_S(tray_uuid)};
    pd_err rc = *tray_uuid ? pd_db_query(inv->db, "SELECT printer_id, unit, slot FROM ams_slot WHERE "
                                                  "reported_tray_uuid = ? ORDER BY id", a, 1, slot_key_row, &k)
                           : PD_OK;
    slot_row s;
    if (rc || !k.found)
        return rc;
    if (!(rc = slot_get(inv, k.printer_id, k.unit, k.slot, &s)))
        rc = assign(inv, &s, spool_id, "rfid");
    return rc;
}
