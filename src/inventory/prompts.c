/* "Which spool is this?": prompts for what printdeck cannot tell by itself, a slot's new spool
 * without a known RFID tag, or a job's filament that several spools could have fed. Each lists
 * candidate spools ranked when it is read alone (so remaining grams and where a spool sits are
 * current), until someone answers or dismisses it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "inventory/entities.h"

#define CANDIDATES_READ 2000   /* spools weighed per prompt: same material first */
#define JOB_IDS_MAX     64     /* candidate ids a job_filament prompt keeps */
#define UNKNOWN_DE      1000.0 /* sorts an unknown colour after every known one */

/* --- ranking -------------------------------------------------------------------------------- */

static int candidate_cmp(const void *pa, const void *pb)
{
    const pd_inv_candidate *a = pa, *b = pb;
    if (a->material_match != b->material_match)
        return a->material_match ? -1 : 1;
    double da = a->color_distance < 0 ? UNKNOWN_DE : a->color_distance;
    double db = b->color_distance < 0 ? UNKNOWN_DE : b->color_distance;
    if (da != db)
        return da < db ? -1 : 1;
    if (!a->loaded_printer != !b->loaded_printer)
        return a->loaded_printer ? 1 : -1;
    if (a->remaining != b->remaining)
        return a->remaining > b->remaining ? -1 : 1;
    return (a->spool_id > b->spool_id) - (a->spool_id < b->spool_id);
}

void pd_inv_candidates_rank(pd_inv_candidate *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, candidate_cmp);
}

/* --- candidates ------------------------------------------------------------------------------ */

typedef struct cand_read {
    const char *material, *color;
    pd_inv_candidate *v;
    size_t n;
} cand_read;

static pd_err cand_row(const pd_row *row, void *ud)
{
    cand_read *r = ud;
    if (r->n == CANDIDATES_READ)
        return PD_OK;
    pd_inv_candidate *c = &r->v[r->n++];
    *c = (pd_inv_candidate){.spool_id = pd_row_int(row, 0), .color_distance = -1, .remaining = -1};
    c->material_match = *r->material && !strcasecmp(pd_row_text(row, 1), r->material);
    if (*r->color)
        c->color_distance = pd_inv_filament_color_distance(pd_row_null(row, 2) ? NULL : pd_row_text(row, 2),
                                                           pd_row_null(row, 3) ? NULL : pd_row_text(row, 3),
                                                           r->color);
    if (!pd_row_null(row, 4))
        c->remaining = pd_row_real(row, 4) > 0 ? pd_row_real(row, 4) : 0;
    if (!pd_row_null(row, 5)) {
        c->loaded_printer = pd_row_int(row, 5);
        c->loaded_unit = (int)pd_row_int(row, 6);
        c->loaded_slot = (int)pd_row_int(row, 7);
    }
    return PD_OK;
}

/* Parses a job_filament prompt's "1,5,9" into ids. */
static size_t ids_parse(const char *text, int64_t *ids, size_t max)
{
    size_t n = 0;
    for (const char *p = text; *p && n < max;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        if (v > 0)
            ids[n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

bool pd_inv_seen_has(pd_inv_seen seen, int64_t printer_id)
{
    for (size_t i = 0; i < seen.n; i++)
        if (seen.ids[i] == printer_id)
            return true;
    return !seen.n;
}

/* The ranked candidates of a prompt, best first, at most PD_INV_PROMPT_CANDIDATES, each
 * {spool_id, material_match, color_distance, remaining_weight, loaded, spool}. ids (the
 * job_filament kind) restricts them to those spools; NULL: every spool not archived. */
static pd_err candidates_json(pd_inv *inv, const char *material, const char *color, const char *ids,
                              pd_inv_seen seen, json_t **out)
{
    pd_sqlb *b = malloc(sizeof *b);
    cand_read r = {material, color, calloc(CANDIDATES_READ, sizeof(pd_inv_candidate)), 0};
    pd_err rc = b && r.v ? PD_OK : PD_ERR_NOMEM;
    if (!rc) {
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT s.id, f.material, f.color_hex, f.multi_color_hexes, "
                       "COALESCE(s.initial_weight, f.weight) - s.used_weight, a.printer_id, a.unit, a.slot "
                       "FROM spool s JOIN filament f ON f.id = s.filament_id "
                       "LEFT JOIN ams_slot a ON a.spool_id = s.id WHERE ");
        if (ids) {
            int64_t v[JOB_IDS_MAX];
            size_t n = ids_parse(ids, v, JOB_IDS_MAX);
            pd_sqlb_add(b, "s.id IN (0");
            for (size_t i = 0; i < n; i++) {
                pd_sqlb_add(b, ", ?");
                pd_sqlb_arg(b, PD_SQL_I(v[i]));
            }
            pd_sqlb_add(b, ")");
        } else {
            pd_sqlb_add(b, "s.archived = 0");
        }
        pd_sqlb_add(b, " ORDER BY CASE WHEN lower(COALESCE(f.material, '')) = lower(?) THEN 0 ELSE 1 END, "
                       "s.id LIMIT %d", CANDIDATES_READ);
        pd_sqlb_arg(b, PD_SQL_S(material));
        rc = pd_sqlb_ok(b) ? pd_db_query(inv->db, b->sql, b->args, b->nargs, cand_row, &r) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    free(b);
    pd_inv_candidates_rank(r.v, r.n);
    json_t *arr = rc ? NULL : json_array();
    for (size_t i = 0; arr && !rc && i < r.n && i < PD_INV_PROMPT_CANDIDATES; i++) {
        const pd_inv_candidate *c = &r.v[i];
        json_t *o = json_pack("{s:I,s:b}", "spool_id", (json_int_t)c->spool_id, "material_match",
                              c->material_match);
        json_object_set_new(o, "color_distance", c->color_distance < 0 ? json_null()
                                                 : json_real((double)(int64_t)(c->color_distance * 10 + 0.5) / 10));
        json_object_set_new(o, "remaining_weight", c->remaining < 0 ? json_null() : json_real(c->remaining));
        json_object_set_new(o, "loaded", !c->loaded_printer || !pd_inv_seen_has(seen, c->loaded_printer) ? json_null()
                                         : json_pack("{s:I,s:i,s:i}", "printer_id", (json_int_t)c->loaded_printer,
                                                     "unit", c->loaded_unit, "slot", c->loaded_slot));
        json_t *spool = NULL;
        pd_inv_err e;
        if (!(rc = pd_inv_get(inv, PD_INV_SPOOL, c->spool_id, &spool, &e)))
            json_object_set_new(o, "spool", spool);
        json_array_append_new(arr, o);
    }
    free(r.v);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return PD_OK;
}

/* --- prompt objects -------------------------------------------------------------------------- */

#define PROMPT_COLS "id, kind, status, printer_id, unit, slot, job_id, filament_index, material, " \
                    "color, tray_uuid, candidates, spool_id, created_at, closed_at"

typedef struct prompt_rows {
    json_t *arr;
    json_t *ids;   /* per prompt: the candidate id list of a job_filament prompt, or null */
} prompt_rows;

static void set_int_or_null(json_t *o, const char *key, const pd_row *row, int c)
{
    json_object_set_new(o, key, pd_row_null(row, c) ? json_null() : json_integer(pd_row_int(row, c)));
}

static pd_err prompt_row(const pd_row *row, void *ud)
{
    prompt_rows *pr = ud;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(pd_row_int(row, 0)));
    json_object_set_new(o, "kind", json_string(pd_row_text(row, 1)));
    json_object_set_new(o, "status", json_string(pd_row_text(row, 2)));
    set_int_or_null(o, "printer_id", row, 3);
    set_int_or_null(o, "unit", row, 4);
    set_int_or_null(o, "slot", row, 5);
    set_int_or_null(o, "job_id", row, 6);
    set_int_or_null(o, "filament_index", row, 7);
    json_object_set_new(o, "reported", json_pack("{s:s,s:s,s:s}", "material", pd_row_text(row, 8), "color",
                                                 pd_row_text(row, 9), "tray_uuid", pd_row_text(row, 10)));
    set_int_or_null(o, "spool_id", row, 12);
    json_object_set_new(o, "created_at", pd_inv_time_json(pd_row_int(row, 13)));
    json_object_set_new(o, "closed_at", pd_row_null(row, 14) ? json_null() : pd_inv_time_json(pd_row_int(row, 14)));
    json_array_append_new(pr->ids, pd_row_null(row, 11) ? json_null() : json_string(pd_row_text(row, 11)));
    return json_array_append_new(pr->arr, o) ? PD_ERR_NOMEM : PD_OK;
}

/* Rows of the query as prompt objects; with candidates, open ones get theirs. */
static pd_err prompts_read(pd_inv *inv, const char *sql, const pd_sqlv *a, size_t na, bool candidates,
                           pd_inv_seen seen, json_t **out)
{
    prompt_rows pr = {json_array(), json_array()};
    pd_err rc = pr.arr && pr.ids ? pd_db_query(inv->db, sql, a, na, prompt_row, &pr) : PD_ERR_NOMEM;
    size_t i;
    json_t *o;
    json_array_foreach(pr.arr, i, o) {
        json_t *c = NULL;
        if (rc || !candidates || strcmp(json_string_value(json_object_get(o, "status")), "open"))
            continue;
        json_t *rep = json_object_get(o, "reported");
        rc = candidates_json(inv, json_string_value(json_object_get(rep, "material")),
                             json_string_value(json_object_get(rep, "color")),
                             json_string_value(json_array_get(pr.ids, i)), seen, &c);
        if (!rc)
            json_object_set_new(o, "candidates", c);
    }
    json_decref(pr.ids);
    if (rc) {
        json_decref(pr.arr);
        return rc;
    }
    *out = pr.arr;
    return PD_OK;
}

/* The prompt {id} when its printer is seen (NOTFOUND otherwise, as when there is none). */
static pd_err prompt_load(pd_inv *inv, int64_t id, bool candidates, pd_inv_seen seen, json_t **out)
{
    json_t *arr = NULL;
    pd_sqlv a[] = {PD_SQL_I(id)};
    pd_err rc = prompts_read(inv, "SELECT " PROMPT_COLS " FROM prompt WHERE id = ?", a, 1, candidates, seen, &arr);
    json_t *o = rc ? NULL : json_array_get(arr, 0), *pid = json_object_get(o, "printer_id");
    if (o && seen.n && !(json_is_integer(pid) && pd_inv_seen_has(seen, json_integer_value(pid))))
        o = NULL;
    *out = json_incref(o);
    json_decref(arr);
    return rc ? rc : *out ? PD_OK : PD_ERR_NOTFOUND;
}

/* The WHERE of q (after "WHERE "): ids seen are checked integers, written as literals. */
static void list_where(pd_sqlb *b, const pd_inv_prompt_query *q)
{
    pd_sqlb_add(b, "%s", q->all ? "1 = 1" : "status = 'open'");
    if (q->printer_id) {
        pd_sqlb_add(b, " AND printer_id = ?");
        pd_sqlb_arg(b, PD_SQL_I(q->printer_id));
    }
    if (q->seen.n) {
        pd_sqlb_add(b, " AND printer_id IN (0");
        for (size_t i = 0; i < q->seen.n; i++)
            pd_sqlb_add(b, ", %lld", (long long)q->seen.ids[i]);
        pd_sqlb_add(b, ")");
    }
}

pd_err pd_inv_prompts_list(pd_inv *inv, const pd_inv_prompt_query *q, json_t **out, int64_t *total)
{
    int64_t limit = q->limit < 0 || q->limit > PD_INV_PROMPTS_PAGE ? PD_INV_PROMPTS_PAGE : q->limit;
    pd_sqlb *b = malloc(sizeof *b);
    pd_err rc = b ? PD_OK : PD_ERR_NOMEM;
    *out = NULL;
    if (!rc) {
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT count(*) FROM prompt WHERE ");
        list_where(b, q);
        rc = pd_sqlb_ok(b) ? pd_db_scalar(inv->db, b->sql, b->args, b->nargs, total) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    if (!rc) {
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT " PROMPT_COLS " FROM prompt WHERE ");
        list_where(b, q);
        pd_sqlb_add(b, " ORDER BY id DESC LIMIT ? OFFSET ?");
        pd_sqlb_arg(b, PD_SQL_I(limit));
        pd_sqlb_arg(b, PD_SQL_I(q->offset > 0 ? q->offset : 0));
        rc = pd_sqlb_ok(b) ? prompts_read(inv, b->sql, b->args, b->nargs, false, q->seen, out) : PD_ERR_TOOBIG;
        pd_sqlb_free(b);
    }
    free(b);
    return rc;
}

pd_err pd_inv_prompt_get(pd_inv *inv, int64_t id, pd_inv_seen seen, json_t **out, pd_inv_err *e)
{
    memset(e, 0, sizeof *e);
    pd_err rc = prompt_load(inv, id, true, seen, out);
    if (rc == PD_ERR_NOTFOUND)
        pd_inv_fail(e, rc, "path", "id", "No prompt with ID %lld found.", (long long)id);
    else if (rc)
        inv_fail_rc(e, rc);
    return rc;
}

/* --- changes ----------------------------------------------------------------------------------- */

/* The event carries the prompt without candidates: a fleet's first reports may raise a prompt
 * per slot, and ranking is a read of the inventory that a client does when it shows one. */
static pd_err announce(pd_inv *inv, int64_t id, const char *change)
{
    json_t *o = NULL;
    pd_err rc = prompt_load(inv, id, false, (pd_inv_seen){0}, &o);
    if (!rc)
        pd_inv_emit_prompt(inv, change, id, json_integer_value(json_object_get(o, "printer_id")), o);
    json_decref(o);
    return rc;
}

typedef struct open_ids {
    int64_t v[8];
    size_t n;
} open_ids;

static pd_err open_id_row(const pd_row *row, void *ud)
{
    open_ids *l = ud;
    if (l->n < sizeof l->v / sizeof l->v[0])
        l->v[l->n++] = pd_row_int(row, 0);
    return PD_OK;
}

/* Closes the open prompts `where` finds (there is one, but a second instance on the same
 * PostgreSQL could have raised another): status, the answer, and an event each. */
static pd_err close_where(pd_inv *inv, const char *where, const pd_sqlv *a, size_t na, const char *status,
                          int64_t spool_id)
{
    open_ids ids = {0};
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM prompt WHERE status = 'open' AND %s ORDER BY id", where);
    pd_err rc = pd_db_query(inv->db, sql, a, na, open_id_row, &ids);
    for (size_t i = 0; i < ids.n && !rc; i++) {
        pd_sqlv u[] = {PD_SQL_S(status), spool_id ? PD_SQL_I(spool_id) : PD_SQL_NUL,
                       PD_SQL_I((int64_t)time(NULL)), PD_SQL_I(ids.v[i])};
        rc = pd_db_run(inv->db, "UPDATE prompt SET status = ?, spool_id = ?, closed_at = ? WHERE id = ?",
                       u, 4, NULL);
        if (!rc)
            rc = announce(inv, ids.v[i], status);
    }
    return rc;
}

#define SLOT_WHERE "kind = 'slot' AND printer_id = ? AND unit = ? AND slot = ?"

pd_err inv_prompt_slot_settle(pd_inv *inv, int64_t printer_id, int unit, int slot, int64_t spool_id)
{
    pd_sqlv a[] = {PD_SQL_I(printer_id), PD_SQL_I(unit), PD_SQL_I(slot)};
    return close_where(inv, SLOT_WHERE, a, 3, spool_id ? "answered" : "replaced", spool_id);
}

pd_err inv_prompt_slot_raise(pd_inv *inv, int64_t printer_id, int unit, int slot,
                             const pd_inv_reported *rep)
{
    pd_sqlv a[] = {PD_SQL_I(printer_id), PD_SQL_I(unit), PD_SQL_I(slot)};
    pd_err rc = close_where(inv, SLOT_WHERE, a, 3, "replaced", 0);
    pd_sqlv ins[] = {PD_SQL_I(printer_id), PD_SQL_I(unit), PD_SQL_I(slot), PD_SQL_S(rep->material),
                     PD_SQL_S(rep->color), PD_SQL_S(rep->tray_uuid), PD_SQL_I((int64_t)time(NULL))};
    int64_t id = 0;
    if (!rc)
        rc = pd_db_insert(inv->db, "INSERT INTO prompt (kind, status, printer_id, unit, slot, material, color, "
                                   "tray_uuid, created_at) VALUES ('slot', 'open', ?, ?, ?, ?, ?, ?, ?) "
                                   "RETURNING id", ins, 7, &id);
    return rc ? rc : announce(inv, id, "raised");
}

pd_err pd_inv_prompt_job_filament(pd_inv *inv, int64_t printer_id, int64_t job_id, int filament_index,
                                  const char *material, const char *color, const int64_t *spool_ids,
                                  size_t n, int64_t *id)
{
    char ids[JOB_IDS_MAX * 21 + 1] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && i < JOB_IDS_MAX; i++)
        len += (size_t)snprintf(ids + len, sizeof ids - len, "%s%lld", i ? "," : "", (long long)spool_ids[i]);
    if (!n || job_id <= 0 || filament_index < 0)
        return PD_ERR_INVAL;
    pd_err rc = pd_db_begin(inv->db);
    pd_sqlv a[] = {PD_SQL_I(job_id), PD_SQL_I(filament_index)};
    if (!rc)
        rc = close_where(inv, "kind = 'job_filament' AND job_id = ? AND filament_index = ?", a, 2, "replaced", 0);
    pd_sqlv ins[] = {printer_id ? PD_SQL_I(printer_id) : PD_SQL_NUL, PD_SQL_I(job_id), PD_SQL_I(filament_index),
                     PD_SQL_S(material ? material : ""), PD_SQL_S(color ? color : ""), PD_SQL_S(ids),
                     PD_SQL_I((int64_t)time(NULL))};
    int64_t made = 0;
    if (!rc)
        rc = pd_db_insert(inv->db, "INSERT INTO prompt (kind, status, printer_id, job_id, filament_index, "
                                   "material, color, candidates, created_at) VALUES ('job_filament', 'open', "
                                   "?, ?, ?, ?, ?, ?, ?) RETURNING id", ins, 7, &made);
    if (!rc)
        rc = announce(inv, made, "raised");
    rc = pd_inv_end(inv, rc);
    if (!rc && id)
        *id = made;
    return rc;
}

/* The prompt, checked to exist, be seen and be open, inside the caller's transaction. */
static pd_err open_prompt(pd_inv *inv, int64_t id, pd_inv_seen seen, json_t **out, pd_inv_err *e)
{
    pd_err rc = prompt_load(inv, id, false, seen, out);
    if (rc == PD_ERR_NOTFOUND)
        pd_inv_fail(e, rc, "path", "id", "No prompt with ID %lld found.", (long long)id);
    if (!rc && strcmp(json_string_value(json_object_get(*out, "status")), "open")) {
        rc = pd_inv_fail(e, PD_ERR_INVAL, NULL, NULL, "Prompt %lld is %s, not open.", (long long)id,
                         json_string_value(json_object_get(*out, "status")));
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static pd_err finish(pd_inv *inv, int64_t id, pd_inv_seen seen, pd_err rc, json_t **out, pd_inv_err *e)
{
    rc = pd_inv_end(inv, rc);
    if (!rc)
        rc = pd_inv_prompt_get(inv, id, seen, out, e);
    else if (!e->code)
        inv_fail_rc(e, rc);
    return rc;
}

pd_err pd_inv_prompt_assign(pd_inv *inv, int64_t id, int64_t spool_id, pd_inv_seen seen, json_t **out,
                            pd_inv_err *e)
{
    memset(e, 0, sizeof *e);
    *out = NULL;
    if (spool_id <= 0)
        return pd_inv_fail(e, PD_ERR_FIELD, "body", "spool_id", "Input should be a positive integer");
    json_t *p = NULL, *slot = NULL;
    int64_t found;
    pd_sqlv s[] = {PD_SQL_I(spool_id)};
    pd_err rc = pd_db_begin(inv->db);
    if (!rc)
        rc = open_prompt(inv, id, seen, &p, e);
    if (!rc && pd_db_scalar(inv->db, "SELECT id FROM spool WHERE id = ?", s, 1, &found))
        rc = pd_inv_fail(e, PD_ERR_NOTFOUND, "body", "spool_id", "No spool with ID %lld found.", (long long)spool_id);
    /* a slot's spool goes in through the slot API's own assignment, which answers the slot's
     * open prompt; the rest (a spool already there, a job's filament) is answered here */
    if (!rc && !strcmp(json_string_value(json_object_get(p, "kind")), "slot"))
        rc = pd_inv_slot_assign(inv, json_integer_value(json_object_get(p, "printer_id")),
                                (int)json_integer_value(json_object_get(p, "unit")),
                                (int)json_integer_value(json_object_get(p, "slot")), spool_id, "manual", &slot, e);
    pd_sqlv a[] = {PD_SQL_I(id)};
    if (!rc)
        rc = close_where(inv, "id = ?", a, 1, "answered", spool_id);
    json_decref(slot);
    json_decref(p);
    return finish(inv, id, seen, rc, out, e);
}

pd_err pd_inv_prompt_dismiss(pd_inv *inv, int64_t id, pd_inv_seen seen, json_t **out, pd_inv_err *e)
{
    memset(e, 0, sizeof *e);
    *out = NULL;
    json_t *p = NULL;
    pd_sqlv a[] = {PD_SQL_I(id)};
    pd_err rc = pd_db_begin(inv->db);
    if (!rc)
        rc = open_prompt(inv, id, seen, &p, e);
    if (!rc)
        rc = close_where(inv, "id = ?", a, 1, "dismissed", 0);
    json_decref(p);
    return finish(inv, id, seen, rc, out, e);
}
