/* The filament inventory (docs/inventory.md): Spoolman's vendor / filament / spool model with
 * its computed values, extra fields and settings, plus what printdeck adds (temperature and
 * drying data, low-stock thresholds, Bambu tray identities) and the AMS slot map.
 *
 * Objects are built as jansson trees in exactly the shape Spoolman's API returns (nulls
 * omitted). Every write runs in one transaction and, once committed, is announced on the bus
 * as PD_EV_INVENTORY with the object as GET returns it. */
#ifndef PD_INVENTORY_H
#define PD_INVENTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/bus.h"
#include "core/date.h"
#include "core/err.h"
#include "store/sqlb.h"
#include "store/store.h"

typedef struct pd_inv_pending pd_inv_pending;

typedef struct pd_inv {
    pd_db *db;
    pd_bus *bus;              /* may be NULL (tools, tests): no events */
    uint64_t generation;      /* bumped by every write: list caches compare it */
    pd_inv_pending *pending;  /* changes announced inside a transaction, sent at its commit */
} pd_inv;

/* What went wrong, for the API to shape: PD_ERR_FIELD → 422 naming loc/field; INVAL → 400;
 * NOTFOUND → 404; FORBIDDEN → 403; others → 500. msg is Spoolman's message where it has one. */
typedef struct pd_inv_err {
    pd_err code;
    char loc[8];              /* "body" | "query" | "path" */
    char field[96];
    char msg[256];
} pd_inv_err;

pd_err pd_inv_fail(pd_inv_err *e, pd_err code, const char *loc, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

typedef enum pd_inv_entity { PD_INV_VENDOR, PD_INV_FILAMENT, PD_INV_SPOOL, PD_INV__N } pd_inv_entity;
const char *pd_inv_entity_name(pd_inv_entity en);   /* "vendor" | "filament" | "spool" */
bool pd_inv_entity_parse(const char *name, pd_inv_entity *out);

/* Announces a change (resource "vendor"|"filament"|"spool"|"setting"): at once outside a
 * transaction, else when the outermost one commits (dropped if it rolls back). */
void pd_inv_emit(pd_inv *inv, const char *resource, const char *change, const char *key,
                 json_t *payload /* borrowed */);
/* Announces a prompt's change as PD_EV_PROMPT, held like pd_inv_emit's. */
void pd_inv_emit_prompt(pd_inv *inv, const char *change, int64_t id, int64_t printer_id,
                        json_t *payload /* borrowed */);
/* pd_db_end for inventory writes: also sends or drops what pd_inv_emit held back. */
pd_err pd_inv_end(pd_inv *inv, pd_err rc);

/* --- time -------------------------------------------------------------------------------
 * Stored as unix seconds, read and written as core/date.h says. Input from the API is ISO 8601
 * with an optional fraction and offset; a value without offset is local time, as Spoolman
 * reads it. */
json_t *pd_inv_time_json(int64_t t);  /* "2024-05-01T10:00:00Z" (entities.c) */

/* --- vendors, filaments, spools (entities.c) --------------------------------------------- */

/* Query parameters of a list request, already URL-decoded: name → value. */
typedef struct pd_inv_param {
    const char *name, *value;
} pd_inv_param;

typedef struct pd_inv_list {
    json_t *items;            /* array */
    int64_t total;            /* matches before paging: X-Total-Count */
} pd_inv_list;

/* The pieces of a list request, for other lists that follow Spoolman's query rules (the jobs
 * list): one row per filter, the parameter (and its alias), the SQL it reads, and how. */
typedef enum pd_inv_filter_kind {
    PD_INV_F_TEXT_OPT,   /* nullable text: comma-separated terms ORed, "quoted" exact, empty = NULL or "" */
    PD_INV_F_TEXT_REQ,   /* non-null text: the same, empty = "" */
    PD_INV_F_IDS,        /* id list */
    PD_INV_F_IDS_NULL,   /* id list where -1 means "none" */
    PD_INV_F_DATES,      /* start|end (inclusive, either may be empty), or one exact timestamp */
    PD_INV_F_COLOR,      /* filament colour within a ΔE threshold (applied after the query) */
} pd_inv_filter_kind;
typedef struct pd_inv_filter {
    const char *param, *alias;  /* alias only used when the dotted name is absent */
    const char *sql;
    pd_inv_filter_kind kind;
} pd_inv_filter;
const char *pd_inv_param_get(const pd_inv_param *p, size_t n, const char *name);
/* Appends " AND (…)" for one filter's value to b (COLOR adds nothing). */
pd_err pd_inv_filter_add(pd_inv *inv, const pd_inv_filter *f, const char *value, pd_sqlb *b,
                         pd_inv_err *e);
/* " ORDER BY …" for `sort` ("field:asc|desc,…", Spoolman's form: a malformed item is a 400),
 * NULLs last, ties broken by <alias>.id. resolve turns a field into an SQL expression; false
 * for an unknown one, with out left empty (an unknown `extra.<k>` is then skipped, anything
 * else refused) or holding the sentence the 400 says. */
pd_err pd_inv_order_add(const char *alias, const char *sort,
                        bool (*resolve)(void *ud, const char *field, char *out, size_t outlen),
                        void *ud, pd_sqlb *b, pd_inv_err *e);
/* limit (-1 none) and offset from the parameters, checked; offset is 0 without limit. */
pd_err pd_inv_paging(const pd_inv_param *p, size_t n, int64_t *limit, int64_t *offset,
                     pd_inv_err *e);

pd_err pd_inv_list_get(pd_inv *inv, pd_inv_entity en, const pd_inv_param *params, size_t n,
                       pd_inv_list *out, pd_inv_err *e);
/* Lists and exports are read through a cursor: one statement takes the ids of every row to
 * send (8 bytes a row), then each pd_inv_cursor_next renders the next PD_INV_CURSOR_BATCH rows
 * as text, so a reply of 100,000 spools is made a bounded piece at a time while it is sent. No
 * transaction stays open between pieces: a row written meanwhile is sent as it is then, one
 * deleted meanwhile is left out. The statement that takes the ids walks the whole table, so
 * the API runs it off the loop: pd_inv_cursor_prepare with a reader of pd_db_read. */
typedef struct pd_inv_cursor pd_inv_cursor;
#define PD_INV_CURSOR_BATCH 50
/* Takes the ids (and, for a CSV export, the keys of the header) with db, which may be a
 * reader in a pool thread: touches nothing but the cursor and db. Runs once; later calls
 * return PD_OK. */
pd_err pd_inv_cursor_prepare(pd_inv_cursor *c, pd_db *db);
/* Appends the next piece of the body to out (the opening, up to PD_INV_CURSOR_BATCH rows, and
 * after the last row the closing); *done once all is there. Prepares with the inventory's own
 * db if that was not done. */
pd_err pd_inv_cursor_next(pd_inv_cursor *c, pd_buf *out, bool *done);
void pd_inv_cursor_free(pd_inv_cursor **c);  /* NULLs *c; NULL is fine */
/* Once prepared: rows it will send (at most), and a list's total before limit/offset. */
size_t pd_inv_cursor_rows(const pd_inv_cursor *c);
int64_t pd_inv_cursor_total(const pd_inv_cursor *c);

/* Spoolman's Prometheus gauges (spoolman_spool_*, spoolman_filament_*) as exposition text,
 * appended to out, whose maximum bounds them (metrics.c). It walks every spool and filament:
 * db is a reader of pd_db_read in a pool thread. */
pd_err pd_inv_metrics(pd_db *db, pd_buf *out);
/* pd_inv_list_get, except that with cur the list is not read: *cur gets a cursor over it whose
 * text equals json_dumps of the items the built list would hold (out->items NULL). A few lists
 * are built here all the same (a colour search, a sort too long for its key list): then *cur
 * stays NULL and out holds them. */
pd_err pd_inv_list_open(pd_inv *inv, pd_inv_entity en, const pd_inv_param *params, size_t n,
                        pd_inv_list *out, pd_inv_cursor **cur, pd_inv_err *e);
/* Other tables listed by the same rules and sent through the same cursors (the print jobs,
 * the filament usage): one description gives the filters, the sort, the rows and the CSV. */
typedef struct pd_inv_table {
    const char *alias;           /* of the listed table: its rows are told by <alias>.id */
    const char *from;            /* " FROM table alias [joins]" */
    const char *cols;            /* the SELECT list of a row */
    const pd_inv_filter *filters;
    size_t nfilters;
    bool (*sort_expr)(void *ud, const char *field, char *out, size_t outlen);
    const char *default_sort;
    /* runs b (SELECT cols from WHERE <alias>.id IN (a batch) ORDER BY …) on db and appends one
     * object per row to rows, with what hangs off them; csv: only what the CSV shows */
    pd_err (*fetch)(pd_db *db, const pd_sqlb *b, json_t *rows, bool csv);
    const char *const *csv_cols; /* the CSV's columns: keys of the objects */
    size_t ncsv;
    int csv_decimals;            /* of real numbers */
} pd_inv_table;
/* A column of such a table (the usage rows, the notification log): its API name, its SQL,
 * how its value is shown. */
typedef enum pd_inv_col_kind {
    PD_INV_COL_INT, PD_INV_COL_REAL, PD_INV_COL_TEXT, PD_INV_COL_TIME, PD_INV_COL_BOOL
} pd_inv_col_kind;
typedef struct pd_inv_col {
    const char *name, *sql;
    pd_inv_col_kind kind;
} pd_inv_col;
/* Column i of row as c's kind shows it: reals to three decimals, times as ISO text, NULL null. */
json_t *pd_inv_col_json(const pd_inv_col *c, const pd_row *row, int i);
/* A table's sort_expr over its columns: the SQL of the column named field. */
bool pd_inv_col_sort(const pd_inv_col *cols, size_t n, const char *field, char *out, size_t outlen);
/* A cursor over t's rows that the parameters select (limit/offset included), as the JSON
 * array of its objects or, with csv, as CSV with a header row (limit and offset ignored).
 * Prepare it off the loop as the inventory's (pd_api_inv_reply_cursor). */
pd_err pd_inv_table_open(pd_inv *inv, const pd_inv_table *t, const pd_inv_param *p, size_t n, bool csv,
                         pd_inv_cursor **out, pd_inv_err *e);
/* GET /search (search.c): q, color_similarity_threshold, limit, allow_archived and
 * spools_per_filament as Spoolman takes them (a 422 PD_ERR_FIELD for a bad one); *out
 * {"spools","filaments","vendors","is_color_query"}, the hits ranked as Spoolman ranks them. */
pd_err pd_inv_search(pd_inv *inv, const pd_inv_param *params, size_t n, json_t **out, pd_inv_err *e);
pd_err pd_inv_get(pd_inv *inv, pd_inv_entity en, int64_t id, json_t **out, pd_inv_err *e);
/* *out: the object as GET gives it; out may be NULL when the caller has no use for it. */
pd_err pd_inv_create(pd_inv *inv, pd_inv_entity en, json_t *body, json_t **out, pd_inv_err *e);
pd_err pd_inv_update(pd_inv *inv, pd_inv_entity en, int64_t id, json_t *body, json_t **out,
                     pd_inv_err *e);
pd_err pd_inv_delete(pd_inv *inv, pd_inv_entity en, int64_t id, pd_inv_err *e);

/* PUT /spool/{id}/use and /measure, as Spoolman's (docs/inventory.md). */
pd_err pd_inv_spool_use(pd_inv *inv, int64_t id, json_t *body, json_t **out, pd_inv_err *e);
pd_err pd_inv_spool_measure(pd_inv *inv, int64_t id, json_t *body, json_t **out, pd_inv_err *e);
/* A weight used by a print (the tracking issue): same arithmetic as `use`, grams. */
pd_err pd_inv_spool_consume(pd_inv *inv, int64_t id, double grams, json_t **out, pd_inv_err *e);

/* CIE94 ΔE between two "RRGGBB[AA]" colours ('#' optional, alpha ignored); -1 when either
 * is not a colour. 0 is identical; under ~20 looks alike (Spoolman's default threshold). */
double pd_inv_color_distance(const char *a, const char *b);
/* The nearest of a filament's colours (color_hex, or any of the comma-separated
 * multi_color_hexes; either may be NULL) to want; -1 when there is nothing to compare. */
double pd_inv_filament_color_distance(const char *one, const char *multi, const char *want);

/* Distinct non-null values: "material", "article_number", "lot_nr", "location". */
pd_err pd_inv_distinct(pd_inv *inv, const char *what, json_t **out);
pd_err pd_inv_location_rename(pd_inv *inv, const char *from, const char *to, pd_inv_err *e);
/* PATCH /spool/field/{field}: every spool whose `location` or text / single-choice spool extra
 * field (`extra.<key>`) holds from gets to (archived spools too); *updated how many. */
pd_err pd_inv_spool_field_rename(pd_inv *inv, const char *field, const char *from, const char *to,
                                 int64_t *updated, pd_inv_err *e);

/* GET /spool/group: the spools a list would find (its filters, not its deprecated aliases) in
 * groups by filament, vendor, material, location or a spool extra field, with their counts,
 * grams left and last use, sorted and paged over groups. Opened on the loop (the parameters
 * checked, the statement built), read with any connection (a reader off the loop: touches only
 * g and db), rendered on the loop (the filament or vendor objects a group embeds). */
typedef struct pd_inv_groups pd_inv_groups;
pd_err pd_inv_groups_open(pd_inv *inv, const pd_inv_param *p, size_t n, pd_inv_groups **out,
                          pd_inv_err *e);
pd_err pd_inv_groups_read(pd_inv_groups *g, pd_db *db);
/* The page as a JSON array, *total the groups before paging (X-Total-Count). */
pd_err pd_inv_groups_render(pd_inv_groups *g, json_t **out, int64_t *total);
void pd_inv_groups_free(pd_inv_groups **g);  /* NULLs *g; NULL is fine */

/* --- settings (settings.c) ---------------------------------------------------------------
 * Values are JSON text; responses are Spoolman's SettingResponse {"value","is_set","type"}. */
typedef enum pd_inv_stype { PD_INV_ST_BOOLEAN, PD_INV_ST_NUMBER, PD_INV_ST_STRING, PD_INV_ST_ARRAY,
                            PD_INV_ST_OBJECT } pd_inv_stype;
typedef struct pd_inv_setting_def {
    const char *key;
    pd_inv_stype type;
    const char *def;          /* JSON text */
} pd_inv_setting_def;
extern const pd_inv_setting_def pd_inv_settings[];
extern const size_t pd_inv_nsettings;
const pd_inv_setting_def *pd_inv_setting_find(const char *key);

pd_err pd_inv_setting_all(pd_inv *inv, json_t **out);
pd_err pd_inv_setting_get(pd_inv *inv, const char *key, json_t **out, pd_inv_err *e);
/* body: the request body parsed as JSON (must be a JSON string holding the encoded value) */
pd_err pd_inv_setting_set(pd_inv *inv, const char *key, json_t *body, json_t **out, pd_inv_err *e);
/* The stored value or the default, decoded; new reference. */
json_t *pd_inv_setting_value(pd_inv *inv, const char *key);

/* --- extra fields (fields.c) ---------------------------------------------------------------
 * Definitions live in setting extra_fields_<entity>; values in table `extra` as JSON text. */
pd_err pd_inv_fields_list(pd_inv *inv, pd_inv_entity en, json_t **out);
pd_err pd_inv_field_put(pd_inv *inv, pd_inv_entity en, const char *key, json_t *body,
                        json_t **out, pd_inv_err *e);
pd_err pd_inv_field_delete(pd_inv *inv, pd_inv_entity en, const char *key, json_t **out,
                           pd_inv_err *e);
pd_err pd_inv_field_values(pd_inv *inv, pd_inv_entity en, const char *key, json_t **out,
                           pd_inv_err *e);
/* Checks a request's `extra` object against the definitions (loc "body", field "extra.<k>"). */
pd_err pd_inv_extra_check(pd_inv *inv, pd_inv_entity en, json_t *extra, pd_inv_err *e);
/* Writes checked values: per key, null removes (PATCH merges). */
pd_err pd_inv_extra_save(pd_inv *inv, pd_inv_entity en, int64_t id, json_t *extra);
pd_err pd_inv_extra_drop(pd_inv *inv, pd_inv_entity en, int64_t id);
/* Extra maps of the entities with ids in [lo, hi]: object "id" → {"key":"json text"}. */
pd_err pd_inv_extra_load(pd_inv *inv, pd_inv_entity en, int64_t lo, int64_t hi, json_t **out);
/* List filter `extra.<key>=value` (Spoolman's) as a condition on id_sql (e.g. "s.id"),
 * appended to b as " AND (…)". Unknown keys add nothing. */
pd_err pd_inv_extra_filter(pd_inv *inv, pd_inv_entity en, const char *key, const char *value,
                           const char *id_sql, pd_sqlb *b, pd_inv_err *e);
/* Sort expression for `extra.<key>` (numeric for number fields, first element for ranges),
 * written into out; false when the key is unknown (then the sort term is ignored). */
bool pd_inv_extra_sort(pd_inv *inv, pd_inv_entity en, const char *key, const char *id_sql,
                       char *out, size_t outlen);

/* --- AMS slots (slots.c) ------------------------------------------------------------------
 * Which spool sits in which slot: (printer, AMS unit, slot); the external holder is unit
 * PD_INV_EXTERNAL_UNIT, slot 0. Rows appear on first assignment or first live report.
 * History rows open on assignment and close (unassigned_at) when the spool leaves. */
#define PD_INV_EXTERNAL_UNIT 255

typedef struct pd_inv_reported {   /* what the printer says is in the slot */
    const char *color;             /* "#RRGGBBAA" or "" */
    const char *material;          /* tray_type or "" */
    const char *tray_uuid;         /* RFID spool id or "" */
    /* what a Bambu RFID tag adds, for the spool made of it; NULL/0/-1 when not said */
    const char *sub_brand, *tag_uid, *id_name;
    int bbl;                       /* tray_is_bbl_bits: 1 Bambu spool, 0 not, -1 not said */
    int weight;                    /* tray_weight g */
    double diameter;               /* mm */
    int nozzle_min, nozzle_max;    /* °C */
    int remain;                    /* % */
} pd_inv_reported;

/* Slots of one printer (printer_id > 0) or of all: array of {printer_id, unit, slot,
 * spool_id?, spool?, reported{color?, material?, tray_uuid?}, updated_at}. */
pd_err pd_inv_slots_list(pd_inv *inv, int64_t printer_id, json_t **out);
/* event_type: "manual" (default), "rfid", "color_change", "material_change", "empty". A spool
 * assigned elsewhere leaves its old slot first (a spool is in one place). */
pd_err pd_inv_slot_assign(pd_inv *inv, int64_t printer_id, int unit, int slot, int64_t spool_id,
                          const char *event_type, json_t **out, pd_inv_err *e);
pd_err pd_inv_slot_unassign(pd_inv *inv, int64_t printer_id, int unit, int slot,
                            const char *event_type, json_t **out, pd_inv_err *e);
/* Newest first: array of {id, unit, slot, spool_id?, assigned_at, unassigned_at?, event_type}. */
pd_err pd_inv_slot_history(pd_inv *inv, int64_t printer_id, int64_t limit, int64_t offset,
                           json_t **out, int64_t *total);
/* Records what the printer reports in a slot. When the material or colour changed from what
 * was reported before, the assigned spool is unassigned with that reason (someone swapped
 * it; another RFID tag alone says "rfid"), and the change itself is a history row; a
 * tray_uuid that a spool carries assigns that spool ("rfid"). A Bambu RFID spool no spool
 * carries becomes one (vendor "Bambu Lab", its filament found or made) and is assigned; a
 * new spool that cannot be identified so raises a slot prompt (prompts.c). */
pd_err pd_inv_slot_report(pd_inv *inv, int64_t printer_id, int unit, int slot,
                          const pd_inv_reported *rep);
/* A spool given the tray_uuid a slot reports right now goes into that slot ("rfid"). Runs
 * inside the caller's transaction. */
pd_err pd_inv_slot_claim_rfid(pd_inv *inv, int64_t spool_id, const char *tray_uuid);
bool pd_inv_event_type_ok(const char *event_type);

/* --- prompts (prompts.c): "which spool is this?" ----------------------------------------
 * kind "slot": a slot's new spool nobody could identify (one open per slot, a newer change
 * replaces it); kind "job_filament": a job's filament with several candidate spools (one open
 * per job and filament). Status "open", then "answered" (spool_id), "dismissed" or
 * "replaced". Each change is announced as PD_EV_PROMPT after its commit. */
#define PD_INV_PROMPT_CANDIDATES 10     /* candidates a prompt lists */
#define PD_INV_PROMPT_MATCH_DE   20.0   /* colours nearer than this look alike */

/* One candidate spool, for the ranking. */
typedef struct pd_inv_candidate {
    int64_t spool_id;
    bool material_match;
    double color_distance;         /* CIE94 ΔE, -1 unknown */
    double remaining;              /* g, -1 unknown */
    int64_t loaded_printer;        /* the slot it sits in, 0 none */
    int loaded_unit, loaded_slot;
} pd_inv_candidate;
/* Best first: same material, then near colour (unknown last), then not loaded elsewhere,
 * then most grams left, then oldest id. Pure. */
void pd_inv_candidates_rank(pd_inv_candidate *v, size_t n);

/* The printers whose prompts a reader may see and answer: ids (n of them), or every printer
 * when n is 0. A reader limited to some printers never sees a prompt of no printer. */
typedef struct pd_inv_seen {
    const int64_t *ids;
    size_t n;
} pd_inv_seen;
/* Whether printer_id is among those seen (0, no printer, is not, unless every one is). */
bool pd_inv_seen_has(pd_inv_seen seen, int64_t printer_id);

#define PD_INV_PROMPTS_PAGE 1000   /* prompts a list answers at most */

typedef struct pd_inv_prompt_query {
    bool all;              /* every status, not only the open ones */
    int64_t printer_id;    /* 0: every printer seen */
    pd_inv_seen seen;
    int64_t limit, offset; /* limit < 0 or past PD_INV_PROMPTS_PAGE: PD_INV_PROMPTS_PAGE */
} pd_inv_prompt_query;

/* A page of the prompts q finds, newest first, without candidates (ranking them reads the
 * inventory: pd_inv_prompt_get does it for one); *total how many q finds in all. */
pd_err pd_inv_prompts_list(pd_inv *inv, const pd_inv_prompt_query *q, json_t **out, int64_t *total);
/* The prompt with its ranked candidates (`loaded` null for a printer not seen); NOTFOUND for a
 * prompt of a printer not seen, as for one that does not exist. */
pd_err pd_inv_prompt_get(pd_inv *inv, int64_t id, pd_inv_seen seen, json_t **out, pd_inv_err *e);
/* Answers an open prompt with spool_id: a slot prompt assigns the spool to its slot through
 * pd_inv_slot_assign ("manual"), which answers it; a job_filament prompt records the answer
 * for the accounting that listens to prompt events. */
pd_err pd_inv_prompt_assign(pd_inv *inv, int64_t id, int64_t spool_id, pd_inv_seen seen, json_t **out,
                            pd_inv_err *e);
pd_err pd_inv_prompt_dismiss(pd_inv *inv, int64_t id, pd_inv_seen seen, json_t **out, pd_inv_err *e);
/* For the accounting: a job's filament (index in the 3MF, 0-based) whose spool is one of
 * spool_ids (n ≥ 1) and nobody can tell which. Replaces the open prompt of the same job and
 * filament; *id the new prompt's (may be NULL). */
pd_err pd_inv_prompt_job_filament(pd_inv *inv, int64_t printer_id, int64_t job_id, int filament_index,
                                  const char *material, const char *color, const int64_t *spool_ids,
                                  size_t n, int64_t *id);

/* --- import and export (transfer.c) -------------------------------------------------------
 * docs/inventory-transfer.md. Export is Spoolman's: the raw rows of one table with what
 * they embed flattened under dotted keys ("filament.vendor.name", "extra.<key>"), datetimes
 * "YYYY-MM-DD HH:MM:SS" UTC, no computed values. Import reads such an export (Spoolman's or
 * printdeck's) or a copy of Spoolman's database in one transaction: a bad row writes nothing
 * and the error names the row and the field. */
typedef enum pd_inv_format { PD_INV_FMT_JSON, PD_INV_FMT_CSV, PD_INV_FMT_SPOOLMAN_DB } pd_inv_format;
bool pd_inv_format_parse(const char *s, pd_inv_format *out);   /* "json" | "csv" | "spoolman-db" */
/* Spoolman's booleans in a query or a CSV cell: true/false, 1/0, yes/no, on/off, any case. */
bool pd_inv_bool_parse(const char *s, bool *out);

/* Every row of en (archived spools only with allow_archived) as JSON or CSV text: *out is
 * malloc'd and NUL-terminated, *len its length. */
pd_err pd_inv_export(pd_inv *inv, pd_inv_entity en, pd_inv_format fmt, bool allow_archived, char **out,
                     size_t *len);
/* The same export as a cursor, for a reply sent while it is made: the same bytes. Nothing is
 * read until it is prepared. */
pd_err pd_inv_export_open(pd_inv *inv, pd_inv_entity en, pd_inv_format fmt, bool allow_archived,
                          pd_inv_cursor **out);

#define PD_INV_IMPORT_MAX_ROWS 1000000
typedef struct pd_inv_import_counts {
    size_t created[PD_INV__N];   /* objects written, by entity */
    size_t settings;             /* settings and extra-field lists taken from a Spoolman database */
} pd_inv_import_counts;
/* A JSON or CSV export of vendors, filaments or spools (the kind follows from the columns).
 * Objects keep their source ids when their table was empty; an object whose id, registered
 * time and name match one already here is that one, so importing twice adds nothing. Extra
 * keys without a definition get one of the type their value fits. No events: inv->generation
 * is bumped once. */
pd_err pd_inv_import(pd_inv *inv, pd_inv_format fmt, const char *data, size_t len,
                     pd_inv_import_counts *out, pd_inv_err *e);
/* Spoolman's SQLite database (its spoolman.db, or a backup of it), opened read-only: settings
 * and extra-field definitions first, then every vendor, filament and spool. */
pd_err pd_inv_import_spoolman_db(pd_inv *inv, const char *path, pd_inv_import_counts *out,
                                 pd_inv_err *e);
/* A file in format (NULL: told by the extension, .json .csv .db .sqlite). */
pd_err pd_inv_import_file(pd_inv *inv, const char *path, const char *format,
                          pd_inv_import_counts *out, pd_inv_err *e);

#endif
