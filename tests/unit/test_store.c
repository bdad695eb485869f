/* The store on every backend: SQLite always, PostgreSQL too when PD_TEST_PG holds a server's
 * base URL (scripts/test.sh starts one with scripts/pg.sh). The same cases run on both, each
 * in a fresh database: a new directory for SQLite, CREATE DATABASE for PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "api/auth.h"
#include "store/sqlb.h"
#include "store/store.h"
#include "testdb.h"

/* The PostgreSQL server's base URL while the PostgreSQL group runs; NULL for SQLite. */

typedef struct fixture {
    char dir[64];     /* the data directory (SQLite's file lives here) */
    char dbname[64];  /* PostgreSQL: the database made for this case */
    char url[512];    /* what pd_db_open gets: "" for SQLite's default file */
    pd_db *db;
} fixture;

static void open_db(fixture *fx)
{
    char err[256];
    pd_err rc = pd_db_open(&fx->db, fx->url, fx->dir, err, sizeof err);
    if (rc)
        fail_msg("open %s: %s", fx->url, err);
}

static int fresh(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    testdb_create("store", fx->dir, fx->dbname, fx->url);
    open_db(fx);
    *state = fx;
    return 0;
}

static int drop(void **state)
{
    fixture *fx = *state;
    pd_db_close(&fx->db);
    int rc = testdb_destroy(fx->dir, fx->dbname);
    free(fx);
    return rc;
}

static void reopen(fixture *fx)
{
    pd_db_close(&fx->db);
    open_db(fx);
}

/* DDL with the backend's types: @ID@, @INT@ and @REAL@ as in the migrations. */
static void create_table(pd_db *db, const char *sql)
{
    assert_int_equal(pd_db_exec(db, sql), PD_OK);
}

static int64_t count(pd_db *db, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(pd_db_scalar(db, sql, NULL, 0, &n), PD_OK);
    return n;
}

static pd_printer_rec rec(const char *name, const char *serial)
{
    pd_printer_rec r = {0};
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.serial, sizeof r.serial, "%s", serial);
    strcpy(r.host, "127.0.0.1");
    r.port = 8883;
    strcpy(r.access_code, "12345678");
    r.tls_verify = true;
    return r;
}

static void printers_crud(void **state)
{
    fixture *fx = *state;
    pd_db *db = fx->db;
    assert_int_equal(pd_db_schema_version(db), pd_db_schema_latest());
    pd_printer_rec a = rec("a", "00M09A350100001"), b = rec("b", "01P00A451200002");
    assert_int_equal(pd_db_printer_insert(db, &a), PD_OK);
    assert_int_equal(pd_db_printer_insert(db, &b), PD_OK);
    assert_true(b.id > a.id);
    pd_printer_rec dup = rec("c", "00M09A350100001");
    assert_int_equal(pd_db_printer_insert(db, &dup), PD_ERR_EXISTS);
    strcpy(a.host, "10.0.0.9");
    a.tls_verify = false;
    assert_int_equal(pd_db_printer_update(db, &a), PD_OK);
    pd_printer_rec *v = NULL;
    size_t n = 0;
    assert_int_equal(pd_db_printer_list(db, &v, &n), PD_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].host, "10.0.0.9");
    assert_false(v[0].tls_verify);
    assert_string_equal(v[1].serial, "01P00A451200002");
    assert_int_equal(v[1].created_at, b.created_at);
    free(v);
    assert_int_equal(pd_db_printer_delete(db, b.id), PD_OK);
    assert_int_equal(pd_db_printer_delete(db, b.id), PD_ERR_NOTFOUND);
    b.id = 999;
    assert_int_equal(pd_db_printer_update(db, &b), PD_ERR_NOTFOUND);

    /* tokens and sessions (api/auth.c): found by their hash, with a role and printer limits */
    pd_auth auth = {.session_idle_s = 3600};
    assert_int_equal(pd_auth_init(&auth, db, NULL), PD_OK);
    char tok[PD_AUTH_SECRET_LEN], cookie[PD_AUTH_SECRET_LEN], csrf[PD_AUTH_SECRET_LEN];
    int64_t tid = 0;
    assert_int_equal(pd_auth_token_create(&auth, "ci", PD_ROLE_VIEWER, tok, sizeof tok, &tid), PD_OK);
    pd_ident id;
    assert_int_equal(pd_auth_ident(tok, NULL, &id, &auth), PD_OK);
    assert_int_equal(id.kind, PD_IDENT_TOKEN);
    assert_int_equal(id.role, PD_ROLE_VIEWER);
    assert_int_equal(id.token_id, tid);
    assert_string_equal(id.name, "ci");
    assert_int_equal(pd_auth_ident("pdk_wrong", NULL, &id, &auth), PD_ERR_AUTH);
    assert_int_equal(pd_auth_session_create(&auth, &(pd_ident){.token_id = tid}, cookie, csrf), PD_OK);
    assert_int_equal(pd_auth_ident(NULL, cookie, &id, &auth), PD_OK);
    assert_int_equal(id.kind, PD_IDENT_SESSION);
    assert_int_equal(id.role, PD_ROLE_VIEWER);
    assert_string_equal(id.csrf, csrf);
    pd_sqlv acc[] = {PD_SQL_S("Ada"), PD_SQL_S("x"), PD_SQL_S("operator"), PD_SQL_S("3,9")};
    int64_t uid = 0;
    assert_int_equal(pd_db_insert(db, "INSERT INTO account (name, password, role, printers, "
                                      "created_at, password_at) VALUES (?, ?, ?, ?, 0, 0) "
                                      "RETURNING id", acc, 4, &uid), PD_OK);
    assert_int_equal(pd_db_insert(db, "INSERT INTO account (name, password, role, created_at, "
                                      "password_at) VALUES ('ADA', 'x', 'viewer', 0, 0) "
                                      "RETURNING id", NULL, 0, &(int64_t){0}), PD_ERR_EXISTS);
    char ucookie[PD_AUTH_SECRET_LEN];
    assert_int_equal(pd_auth_session_create(&auth, &(pd_ident){.user_id = uid}, ucookie, csrf), PD_OK);
    assert_int_equal(pd_auth_ident(NULL, ucookie, &id, &auth), PD_OK);
    assert_int_equal(id.user_id, uid);
    assert_int_equal(id.role, PD_ROLE_OPERATOR);
    assert_int_equal(id.nprinters, 2);
    assert_int_equal(id.printers[1], 9);
    /* idle past session_idle_s: gone */
    assert_int_equal(pd_db_exec(db, "UPDATE session SET seen_at = seen_at - 7200"), PD_OK);
    assert_int_equal(pd_auth_ident(NULL, ucookie, &id, &auth), PD_ERR_AUTH);
    assert_int_equal(pd_auth_ident(NULL, cookie, &id, &auth), PD_ERR_AUTH);
    assert_int_equal(pd_auth_session_create(&auth, &(pd_ident){.token_id = tid}, cookie, csrf), PD_OK);
    /* revoking a token ends the sessions exchanged for it */
    assert_int_equal(pd_auth_token_revoke(&auth, tid), PD_OK);
    assert_int_equal(pd_auth_ident(tok, NULL, &id, &auth), PD_ERR_AUTH);
    assert_int_equal(pd_auth_ident(NULL, cookie, &id, &auth), PD_ERR_AUTH);
    assert_int_equal(pd_auth_token_revoke(&auth, tid), PD_ERR_NOTFOUND);

    /* reopening keeps the data and does not migrate again */
    reopen(fx);
    db = fx->db;
    assert_int_equal(pd_db_schema_version(db), pd_db_schema_latest());
    assert_int_equal(pd_db_printer_list(db, &v, &n), PD_OK);
    assert_int_equal(n, 1);
    free(v);
}

/* Every member of a printer's record set to a value of its own, `salt` apart between calls:
 * a column missing from the store's table (or read back into the wrong member) shows. The
 * record is cleared whole first, padding included, as the store clears what it reads. */
static void every_member(pd_printer_rec *r, int salt)
{
    memset(r, 0, sizeof *r);
    char *const text[] = {r->name, r->serial, r->host, r->access_code, r->model, r->ca_file,
                          r->camera_host, r->ha_id, r->ha_device, r->ha_print_status,
                          r->ha_task_name, r->ha_gcode_file, r->ha_print_progress,
                          r->ha_current_layer, r->ha_total_layers, r->ha_active_tray,
                          r->ha_ams_tray, r->webhook_secret, r->timelapse_mode};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++)
        snprintf(text[i], 8, "T%dX%zu", salt, i); /* the shortest member (timelapse_mode) holds 11 */
    r->port = 1000 + salt;
    r->ftps_port = 2000 + salt;
    r->camera_port = 3000 + salt;
    r->tls_verify = salt % 2;
    r->camera_enabled = !(salt % 2);
    r->source = salt % 2 ? PD_PRINTER_HA : PD_PRINTER_MQTT;
    r->timelapse_enabled = salt % 2;
    r->timelapse_interval_s = 40 + salt;
    r->timelapse_fps = 20 + salt;
    r->created_at = 1700000000 + salt;
}

static void one_printer_is(pd_db *db, const pd_printer_rec *want)
{
    pd_printer_rec *v = NULL;
    size_t n = 0;
    assert_int_equal(pd_db_printer_list(db, &v, &n), PD_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(&v[0], want, sizeof *want);
    free(v);
}

static void every_printer_member_round_trips(void **state)
{
    fixture *fx = *state;
    pd_printer_rec r, u;
    every_member(&r, 1);
    assert_int_equal(pd_db_printer_insert(fx->db, &r), PD_OK);
    one_printer_is(fx->db, &r);
    every_member(&u, 2);
    u.id = r.id;
    assert_int_equal(pd_db_printer_update(fx->db, &u), PD_OK);
    u.created_at = r.created_at; /* set once, by the insert: the update leaves it */
    one_printer_is(fx->db, &u);
    /* the global settings' marks and an empty ha_id, stored as NULL (several printers may
     * have none; the column is unique) */
    u.timelapse_enabled = u.timelapse_interval_s = u.timelapse_fps = PD_REC_UNSET;
    memset(u.ha_id, 0, sizeof u.ha_id);
    assert_int_equal(pd_db_printer_update(fx->db, &u), PD_OK);
    one_printer_is(fx->db, &u);
    assert_int_equal(count(fx->db, "SELECT count(*) FROM printer WHERE ha_id IS NULL AND "
                                   "timelapse_enabled IS NULL AND timelapse_interval_s IS NULL "
                                   "AND timelapse_fps IS NULL"), 1);
}

static void newer_schema_is_refused(void **state)
{
    fixture *fx = *state;
    const char *bump = pg_base ? "UPDATE pd_schema SET version = 999" : "PRAGMA user_version = 999";
    assert_int_equal(pd_db_exec(fx->db, bump), PD_OK);
    pd_db_close(&fx->db);
    char err[256];
    assert_int_equal(pd_db_open(&fx->db, fx->url, fx->dir, err, sizeof err), PD_ERR_SCHEMA);
    assert_non_null(strstr(err, "newer than this printdeck"));
    assert_non_null(strstr(err, "999"));
    assert_null(fx->db);
    assert_int_equal(pd_db_open(&fx->db, "mysql://x", fx->dir, err, sizeof err), PD_ERR_UNSUPPORTED);
}

/* Migrations 21 and 22 over spools a database already held: spool_sum is their aggregate, and
 * the text index finds them. The database is taken back to schema 20 by hand, spools written
 * while nothing kept the two, and opened again. */
/* what the migrations after 20 add besides spool_sum and spool_text (24, 25, 26), undone so
 * they run again */
#define LATER_COLUMNS "ALTER TABLE printer DROP COLUMN ha_device; ALTER TABLE printer DROP COLUMN ha_print_status; " \
    "ALTER TABLE printer DROP COLUMN ha_task_name; ALTER TABLE printer DROP COLUMN ha_gcode_file; " \
    "ALTER TABLE printer DROP COLUMN ha_print_progress; ALTER TABLE printer DROP COLUMN ha_current_layer; " \
    "ALTER TABLE printer DROP COLUMN ha_total_layers; ALTER TABLE printer DROP COLUMN ha_active_tray; " \
    "ALTER TABLE printer DROP COLUMN ha_ams_tray; ALTER TABLE printer DROP COLUMN webhook_secret; " \
    "ALTER TABLE printer DROP COLUMN timelapse_enabled; ALTER TABLE printer DROP COLUMN timelapse_mode; " \
    "ALTER TABLE printer DROP COLUMN timelapse_interval_s; ALTER TABLE printer DROP COLUMN timelapse_fps; "

static void spool_summaries_cover_existing_spools(void **state)
{
    fixture *fx = *state;
    const char *back = pg_base
        ? "DROP TRIGGER spool_sum_insert ON spool; DROP TRIGGER spool_sum_delete ON spool; "
          "DROP TRIGGER spool_sum_update ON spool; DROP FUNCTION spool_sum_insert(); DROP FUNCTION spool_sum_delete(); "
          "DROP FUNCTION spool_sum_update(); DROP TABLE spool_sum; " LATER_COLUMNS "UPDATE pd_schema SET version = 20"
        : "DROP TRIGGER spool_sum_insert; DROP TRIGGER spool_sum_delete; DROP TRIGGER spool_sum_update; "
          "DROP TRIGGER spool_text_insert; DROP TRIGGER spool_text_delete; DROP TRIGGER spool_text_update; "
          "DROP TABLE spool_sum; DROP TABLE spool_text; " LATER_COLUMNS "PRAGMA user_version = 20";
    assert_int_equal(pd_db_exec(fx->db, back), PD_OK);
    assert_int_equal(pd_db_exec(fx->db,
        "INSERT INTO filament (registered, name, density, diameter) VALUES (0, 'F', 1.24, 1.75);"
        "INSERT INTO spool (registered, filament_id, location, lot_nr, initial_weight, used_weight, last_used, archived) "
        "VALUES (0, 1, 'Shelf', 'L7', 1000, 250.5, 100, 0), (0, 1, 'Shelf', NULL, 1000, 1200, 300, 0), "
        "(0, 1, NULL, 'shelf', NULL, 0, NULL, 0), (0, 1, '', NULL, 500, 0, 200, 1)"), PD_OK);
    reopen(fx);
    assert_int_equal(pd_db_schema_version(fx->db), pd_db_schema_latest());

    static const struct {
        const char *sql;
        int64_t want;
    } checks[] = {
        {"SELECT count(*) FROM spool_sum", 3},
        {"SELECT spools * 1000000000 + in_use * 1000000 + last_used FROM spool_sum WHERE location = 'Shelf'", 2002000300},
        {"SELECT own_ug FROM spool_sum WHERE location = 'Shelf'", 749500000},
        {"SELECT spools * 1000 + archived * 100 + COALESCE(last_used, 0) FROM spool_sum WHERE location = '' "
         "AND archived = 1", 1300},
        {"SELECT spools * 1000 + own_ug + COALESCE(last_used, 0) FROM spool_sum WHERE location = '' AND archived = 0", 1000},
    };
    for (size_t k = 0; k < sizeof checks / sizeof checks[0]; k++) {
        int64_t got = -1;
        assert_int_equal(pd_db_scalar(fx->db, checks[k].sql, NULL, 0, &got), PD_OK);
        assert_int_equal(got, checks[k].want);
    }
    /* and the triggers keep it from there */
    assert_int_equal(pd_db_exec(fx->db, "DELETE FROM spool WHERE last_used = 300"), PD_OK);
    int64_t got = -1;
    assert_int_equal(pd_db_scalar(fx->db, "SELECT spools * 1000 + last_used FROM spool_sum WHERE location = 'Shelf'",
                                  NULL, 0, &got), PD_OK);
    assert_int_equal(got, 1100);
    if (!pg_base) {
        assert_int_equal(pd_db_scalar(fx->db, "SELECT count(*) FROM spool_text WHERE spool_text MATCH '\"shelf\"'",
                                      NULL, 0, &got), PD_OK);
        assert_int_equal(got, 2);
    }
}

/* --- the generic SQL surface ------------------------------------------------------------ */

#define VALUES_TABLE "CREATE TABLE v (id @ID@, i @INT@, d @REAL@, s TEXT, n TEXT)"

typedef struct vrow {
    int64_t id, i;
    double d;
    char s[128];
    bool i_null, d_null, s_null, n_null;
    int rows;
} vrow;

static pd_err read_vrow(const pd_row *row, void *ud)
{
    vrow *o = ud;
    o->id = pd_row_int(row, 0);
    o->i = pd_row_int(row, 1);
    o->d = pd_row_real(row, 2);
    snprintf(o->s, sizeof o->s, "%s", pd_row_text(row, 3));
    o->i_null = pd_row_null(row, 1);
    o->d_null = pd_row_null(row, 2);
    o->s_null = pd_row_null(row, 3);
    o->n_null = pd_row_null(row, 4);
    if (o->n_null)
        assert_string_equal(pd_row_text(row, 4), "");
    o->rows++;
    return PD_OK;
}

static vrow get_v(pd_db *db, int64_t id)
{
    vrow o = {0};
    pd_sqlv a[] = {PD_SQL_I(id)};
    assert_int_equal(pd_db_query(db, "SELECT id, i, d, s, n FROM v WHERE id = ?", a, 1, read_vrow, &o), PD_OK);
    assert_int_equal(o.rows, 1);
    return o;
}

static void every_value_type_round_trips(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    create_table(db, VALUES_TABLE);
    static const char quoted[] = "it's \"quoted\", a ? and a $1; Grün ✓";
    static const struct { int64_t i; double d; } cases[] = {
        {INT64_MAX, 0.1}, {INT64_MIN, -2.5e-300}, {9007199254740993, 1.7976931348623157e308}, {0, 3.0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t id = 0;
        pd_sqlv a[] = {PD_SQL_I(cases[k].i), PD_SQL_D(cases[k].d), PD_SQL_S(quoted), PD_SQL_NUL};
        assert_int_equal(pd_db_insert(db, "INSERT INTO v (i, d, s, n) VALUES (?, ?, ?, ?) RETURNING id", a, 4, &id),
                         PD_OK);
        assert_int_equal(id, (int64_t)k + 1);
        vrow o = get_v(db, id);
        assert_int_equal(o.i, cases[k].i);
        assert_true(o.d == cases[k].d);
        assert_string_equal(o.s, quoted);
        assert_false(o.i_null || o.d_null || o.s_null);
        assert_true(o.n_null);
    }

    /* NULL in every column, and NULL where a value was */
    pd_sqlv nulls[] = {PD_SQL_NUL, PD_SQL_NUL, PD_SQL_NUL, PD_SQL_I(1)};
    int64_t changed = 0;
    assert_int_equal(pd_db_run(db, "UPDATE v SET i = ?, d = ?, s = ? WHERE id = ?", nulls, 4, &changed), PD_OK);
    assert_int_equal(changed, 1);
    vrow o = get_v(db, 1);
    assert_true(o.i_null && o.d_null && o.s_null && o.n_null);
    assert_string_equal(o.s, "");

    /* `?` inside literals and quoted identifiers is text, not a parameter; '' is a quote */
    const char *literals = "SELECT 2, 0, 0.5, 'it''s ? no', s AS \"why?\" FROM v WHERE d = ? AND s = ?";
    pd_sqlv a[] = {PD_SQL_D(0.1), PD_SQL_S(quoted)};
    o = (vrow){0};
    assert_int_equal(pd_db_query(db, literals, a, 2, read_vrow, &o), PD_OK);
    assert_int_equal(o.rows, 0);  /* row 1 is NULL now: nothing has d = 0.1 */
    a[0] = PD_SQL_D(-2.5e-300);
    assert_int_equal(pd_db_query(db, literals, a, 2, read_vrow, &o), PD_OK);
    assert_int_equal(o.rows, 1);
    assert_string_equal(o.s, "it's ? no");
    assert_true(o.d == 0.5);

    /* a DELETE counts what it removed */
    assert_int_equal(pd_db_run(db, "DELETE FROM v WHERE id > ?", (pd_sqlv[]){PD_SQL_I(2)}, 1, &changed), PD_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(count(db, "SELECT count(*) FROM v"), 2);
    assert_int_equal(pd_db_scalar(db, "SELECT id FROM v WHERE id > 100", NULL, 0, &changed), PD_ERR_NOTFOUND);
}

static pd_err stop_walk(const pd_row *row, void *ud)
{
    (void)row;
    ++*(int *)ud;
    return PD_ERR_BUSY;
}

static void row_callback_stops_the_walk(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    create_table(db, VALUES_TABLE);
    assert_int_equal(pd_db_exec(db, "INSERT INTO v (i) VALUES (1); INSERT INTO v (i) VALUES (2)"), PD_OK);
    int calls = 0;
    assert_int_equal(pd_db_query(db, "SELECT i FROM v", NULL, 0, stop_walk, &calls), PD_ERR_BUSY);
    assert_int_equal(calls, 1);
    /* and the store is usable afterwards */
    assert_int_equal(count(db, "SELECT count(*) FROM v"), 2);
}

static void booleans_read_as_0_and_1(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    create_table(db, VALUES_TABLE);
    pd_sqlv a[] = {PD_SQL_I(7)};
    assert_int_equal(pd_db_run(db, "INSERT INTO v (i) VALUES (?)", a, 1, NULL), PD_OK);
    int64_t yes = -1, no = -1;
    assert_int_equal(pd_db_scalar(db, "SELECT EXISTS (SELECT 1 FROM v WHERE i = ?)", a, 1, &yes), PD_OK);
    assert_int_equal(pd_db_scalar(db, "SELECT count(*) > 1 FROM v", NULL, 0, &no), PD_OK);
    assert_int_equal(yes, 1);
    assert_int_equal(no, 0);
}

#define FAMILY_TABLE "CREATE TABLE parent (id @ID@, name TEXT NOT NULL UNIQUE);" \
                     "CREATE TABLE child (id @ID@, parent_id @INT@ NOT NULL REFERENCES parent(id))"

static void constraint_failures_are_mapped(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    create_table(db, FAMILY_TABLE);
    int64_t p = 0, c = 0;
    pd_sqlv name[] = {PD_SQL_S("one")};
    assert_int_equal(pd_db_insert(db, "INSERT INTO parent (name) VALUES (?) RETURNING id", name, 1, &p), PD_OK);
    assert_int_equal(pd_db_insert(db, "INSERT INTO parent (name) VALUES (?) RETURNING id", name, 1, &c),
                     PD_ERR_EXISTS);
    pd_sqlv orphan[] = {PD_SQL_I(p + 100)};
    assert_int_equal(pd_db_insert(db, "INSERT INTO child (parent_id) VALUES (?) RETURNING id", orphan, 1, &c),
                     PD_ERR_INVAL);
    pd_sqlv none[] = {PD_SQL_NUL};
    assert_int_equal(pd_db_run(db, "INSERT INTO parent (name) VALUES (?)", none, 1, NULL), PD_ERR_DB);
    assert_int_equal(pd_db_run(db, "SELECT no_such_column FROM parent", NULL, 0, NULL), PD_ERR_DB);
    /* a failure outside a transaction leaves nothing behind */
    pd_sqlv mine[] = {PD_SQL_I(p)};
    assert_int_equal(pd_db_insert(db, "INSERT INTO child (parent_id) VALUES (?) RETURNING id", mine, 1, &c), PD_OK);
    assert_int_equal(pd_db_run(db, "DELETE FROM parent WHERE id = ?", mine, 1, NULL), PD_ERR_INVAL);
    assert_int_equal(count(db, "SELECT count(*) FROM parent"), 1);
}

static void nested_transactions(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    create_table(db, FAMILY_TABLE);
    pd_sqlv one[] = {PD_SQL_S("one")}, two[] = {PD_SQL_S("two")};
    const char *ins = "INSERT INTO parent (name) VALUES (?)";

    /* all levels succeed: one commit at the outermost end */
    assert_int_equal(pd_db_begin(db), PD_OK);
    assert_int_equal(pd_db_run(db, ins, one, 1, NULL), PD_OK);
    assert_int_equal(pd_db_begin(db), PD_OK);
    assert_int_equal(pd_db_run(db, ins, two, 1, NULL), PD_OK);
    assert_int_equal(pd_db_end(db, PD_OK), PD_OK);
    assert_int_equal(pd_db_end(db, PD_OK), PD_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM parent"), 2);

    /* an inner failure rolls back the whole transaction, the outer part included */
    pd_sqlv three[] = {PD_SQL_S("three")};
    assert_int_equal(pd_db_begin(db), PD_OK);
    assert_int_equal(pd_db_run(db, ins, three, 1, NULL), PD_OK);
    assert_int_equal(pd_db_begin(db), PD_OK);
    pd_err rc = pd_db_run(db, ins, one, 1, NULL);
    assert_int_equal(rc, PD_ERR_EXISTS);
    assert_int_equal(pd_db_end(db, rc), PD_ERR_EXISTS);
    assert_int_not_equal(pd_db_end(db, PD_OK), PD_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM parent"), 2);
    assert_false(pd_db_in_tx(db));

    /* a failure whose error the caller drops: whatever pd_db_end says must be true */
    assert_int_equal(pd_db_begin(db), PD_OK);
    assert_int_equal(pd_db_run(db, ins, three, 1, NULL), PD_OK);
    assert_int_equal(pd_db_run(db, ins, one, 1, NULL), PD_ERR_EXISTS);
    rc = pd_db_end(db, PD_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM parent WHERE name = 'three'"), rc == PD_OK ? 1 : 0);

    /* and the next transaction starts clean */
    assert_int_equal(pd_db_begin(db), PD_OK);
    pd_sqlv four[] = {PD_SQL_S("four")};
    assert_int_equal(pd_db_run(db, ins, four, 1, NULL), PD_OK);
    assert_int_equal(pd_db_end(db, PD_OK), PD_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM parent WHERE name = 'four'"), 1);
}

typedef struct names {
    char v[8][16];
    int n;
} names;

static pd_err collect_name(const pd_row *row, void *ud)
{
    names *o = ud;
    if (o->n < 8)
        snprintf(o->v[o->n++], sizeof o->v[0], "%s", pd_row_null(row, 0) ? "(null)" : pd_row_text(row, 0));
    return PD_OK;
}

/* pd_sqlb_spool_text: whatever the words (quotes, FTS5 operators, short ones, multi-byte
 * letters), the statement runs and keeps every spool that holds them; with an index (SQLite)
 * it also leaves out the spools that hold a long word nowhere. */
static void spool_text_keeps_every_holder(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    assert_int_equal(pd_db_run(db, "INSERT INTO filament (registered, name, density, diameter) VALUES (0, 'F', 1.24, 1.75)",
                               NULL, 0, NULL), PD_OK);
    static const char *const texts[][3] = {
        {"Rack 42", "L120", "dry"}, {NULL, "say \"hi\" AND x", NULL}, {"Übergröße", "NEAR(a b)", "50%_off"}, {"rack 7", NULL, "x*"},
    };
    for (size_t k = 0; k < 4; k++) {
        pd_sqlv a[3];
        for (int c = 0; c < 3; c++)
            a[c] = texts[k][c] ? PD_SQL_S(texts[k][c]) : PD_SQL_NUL;
        assert_int_equal(pd_db_run(db, "INSERT INTO spool (registered, filament_id, location, lot_nr, comment) "
                                       "VALUES (0, 1, ?, ?, ?)", a, 3, NULL), PD_OK);
    }
    static const struct {
        const char *words[3];
        int holders, indexed;  /* spools that hold every word; found by SQLite's index */
    } cases[] = {
        {{"rack"}, 2, 2}, {{"rack", "42"}, 1, 2}, {{"\"hi\"", "and"}, 1, 1}, {{"near(a"}, 1, 1},
        {{"50%_off"}, 1, 1}, {{"x*"}, 1, 4}, {{"größe"}, 1, 1}, {{"nowhere"}, 0, 0}, {{"ra", "42"}, 1, 4},
        {{"\""}, 1, 4}, {{"\"\"\""}, 0, 0}, {{"or", "not"}, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = 0;
        while (n < 3 && cases[k].words[n])
            n++;
        pd_sqlb *b = malloc(sizeof *b);
        assert_non_null(b);
        pd_sqlb_init(b);
        pd_sqlb_add(b, "SELECT count(*) FROM spool s WHERE 1 = 1");
        assert_int_equal(pd_sqlb_spool_text(b, db, (char *const *)cases[k].words, n), PD_OK);
        int64_t found = -1;
        assert_int_equal(pd_db_scalar(db, b->sql, b->args, b->nargs, &found), PD_OK);
        assert_true(found >= cases[k].holders);
        if (pd_db_kind_of(db) == PD_DB_SQLITE)
            assert_int_equal(found, cases[k].indexed);
        else
            assert_int_equal(found, 4);  /* no index: nothing narrowed */
        pd_sqlb_free(b);
        free(b);
    }
}

static void search_sort_and_page(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    create_table(db, "CREATE TABLE s (id @ID@, name TEXT, score @INT@)");
    static const struct { const char *name; int score; } rows[] = {
        {"Alpha", 3}, {"beta", -1}, {"GAMMA", 7}, {"alphabet", -1}, {NULL, 5}, {"Delta", 3},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        pd_sqlv a[] = {rows[k].name ? PD_SQL_S(rows[k].name) : PD_SQL_NUL,
                       rows[k].score >= 0 ? PD_SQL_I(rows[k].score) : PD_SQL_NUL};
        assert_int_equal(pd_db_run(db, "INSERT INTO s (name, score) VALUES (?, ?)", a, 2, NULL), PD_OK);
    }

    names o = {0};
    pd_sqlv q[] = {PD_SQL_S("ALP")};
    assert_int_equal(pd_db_query(db, "SELECT name FROM s WHERE lower(name) LIKE '%' || lower(?) || '%' ORDER BY id",
                                 q, 1, collect_name, &o), PD_OK);
    assert_int_equal(o.n, 2);
    assert_string_equal(o.v[0], "Alpha");
    assert_string_equal(o.v[1], "alphabet");

    /* NULLS LAST both ways, ties broken by id, then one page of it */
    const char *order = "SELECT name FROM s ORDER BY score DESC NULLS LAST, id LIMIT ? OFFSET ?";
    o = (names){0};
    pd_sqlv page[] = {PD_SQL_I(4), PD_SQL_I(1)};
    assert_int_equal(pd_db_query(db, order, page, 2, collect_name, &o), PD_OK);
    assert_int_equal(o.n, 4);
    assert_string_equal(o.v[0], "(null)");  /* score 5 */
    assert_string_equal(o.v[1], "Alpha");   /* 3 */
    assert_string_equal(o.v[2], "Delta");   /* 3 */
    assert_string_equal(o.v[3], "beta");    /* NULL score */
    o = (names){0};
    assert_int_equal(pd_db_query(db, "SELECT name FROM s ORDER BY score ASC NULLS LAST, id DESC", NULL, 0,
                                 collect_name, &o), PD_OK);
    assert_int_equal(o.n, 6);
    assert_string_equal(o.v[0], "Delta");
    assert_string_equal(o.v[3], "GAMMA");
    assert_string_equal(o.v[4], "alphabet");
    assert_string_equal(o.v[5], "beta");
}

/* Ends the store's server connection from outside, as a server restart would. */
static void kill_connection(pd_db *db)
{
    int64_t pid = 0;
    assert_int_equal(pd_db_scalar(db, "SELECT pg_backend_pid()", NULL, 0, &pid), PD_OK);
    char sql[96];
    /* the timeout makes it wait until the backend is gone */
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld, 10000)", (long long)pid);
    pg_admin(sql);
}

/* What differs between backends, asked of the store instead of read from its table. */
static void backend_answers(void **state)
{
    fixture *fx = *state;
    pd_db *db = fx->db;
    assert_int_equal(pd_db_kind_of(db), pg_base ? PD_DB_POSTGRESQL : PD_DB_SQLITE);
    assert_int_equal(pd_db_shared(db), pg_base != NULL);

    /* ids kept from elsewhere: the next one handed out follows them */
    create_table(db, "CREATE TABLE k (id @ID@, d @REAL@)");
    pd_sqlv one[] = {PD_SQL_D(1.5)};
    assert_int_equal(pd_db_run(db, "INSERT INTO k (id, d) VALUES (41, ?)", one, 1, NULL), PD_OK);
    assert_int_equal(pd_db_sync_ids(db, "k"), PD_OK);
    int64_t id = 0;
    assert_int_equal(pd_db_insert(db, "INSERT INTO k (d) VALUES (?) RETURNING id", one, 1, &id), PD_OK);
    assert_int_equal(id, 42);

    /* the type name casts text on both */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM k WHERE d = CAST('1.5' AS %s)", pd_db_type_real(db));
    assert_int_equal(count(db, sql), 2);

    char path[128], err[256];
    snprintf(path, sizeof path, "%s/copy.db", fx->dir);
    pd_printer_rec a = rec("a", "00M09A350100001");
    assert_int_equal(pd_db_printer_insert(db, &a), PD_OK);
    if (pg_base) {
        assert_int_equal(pd_db_backup(db, path, err, sizeof err), PD_ERR_UNSUPPORTED);
        assert_non_null(strstr(err, "pg_dump"));
        return;
    }
    assert_int_equal(pd_db_backup(db, path, err, sizeof err), PD_OK);
    char url[160];
    pd_db *copy = NULL;
    snprintf(url, sizeof url, "sqlite:%s", path);
    assert_int_equal(pd_db_open(&copy, url, fx->dir, err, sizeof err), PD_OK);
    assert_int_equal(count(copy, "SELECT count(*) FROM printer"), 1);
    pd_db_close(&copy);
    assert_null(copy);
}

static unsigned mode_of(const char *dir, const char *name)
{
    char path[160];
    struct stat st;
    snprintf(path, sizeof path, "%s%s", dir, name);
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* SQLite only: whatever the umask, the data directory is 0700 and every file of the database
 * (its -wal and -shm, a backup) 0600; an older install's looser modes are tightened on open. */
static void sqlite_files_are_private(void **state)
{
    fixture *fx = *state;
    if (pg_base)
        return;
    char path[128], err[256];
    mode_t was = umask(022);
    reopen(fx);
    assert_int_equal(mode_of(fx->dir, ""), 0700);
    assert_int_equal(mode_of(fx->dir, "/printdeck.db"), 0600);
    assert_int_equal(mode_of(fx->dir, "/printdeck.db-wal"), 0600);
    assert_int_equal(mode_of(fx->dir, "/printdeck.db-shm"), 0600);
    snprintf(path, sizeof path, "%s/copy.db", fx->dir);
    assert_int_equal(pd_db_backup(fx->db, path, err, sizeof err), PD_OK);
    assert_int_equal(mode_of(fx->dir, "/copy.db"), 0600);

    pd_db_close(&fx->db);
    assert_int_equal(chmod(fx->dir, 0755), 0);
    snprintf(path, sizeof path, "%s/printdeck.db", fx->dir);
    assert_int_equal(chmod(path, 0644), 0);
    reopen(fx);
    assert_int_equal(mode_of(fx->dir, ""), 0700);
    assert_int_equal(mode_of(fx->dir, "/printdeck.db"), 0600);
    umask(was);
}

/* PostgreSQL only: a server that drops the connection (restart, failover) costs the statement
 * that finds it gone, not the store. */
static void dropped_connection_is_reopened(void **state)
{
    pd_db *db = ((fixture *)*state)->db;
    if (!pg_base)
        skip();
    kill_connection(db);
    assert_int_equal(pd_db_run(db, "SELECT 1", NULL, 0, NULL), PD_ERR_DB);
    assert_int_equal(count(db, "SELECT count(*) FROM printer"), 0);

    /* inside a transaction the work so far is gone: the rest of it fails, ROLLBACK recovers */
    pd_printer_rec a = rec("a", "00M09A350100001"), b = rec("b", "01P00A451200002");
    assert_int_equal(pd_db_begin(db), PD_OK);
    assert_int_equal(pd_db_printer_insert(db, &a), PD_OK);
    kill_connection(db);
    assert_int_equal(pd_db_printer_insert(db, &b), PD_ERR_DB);
    assert_int_equal(pd_db_printer_insert(db, &b), PD_ERR_DB);
    assert_int_equal(pd_db_end(db, PD_OK), PD_ERR_DB);
    assert_int_equal(count(db, "SELECT count(*) FROM printer"), 0);
}

static void count_waits(void *ud) { (*(int *)ud)++; }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SQLite only: another connection (as `printdeck import` in another process) holds the write
 * lock. A write waits as long as it was told, then fails with PD_ERR_DB_BUSY and leaves
 * nothing; whoever waits is told once, when the wait grows long. */
static void another_writer_is_waited_for_boundedly(void **state)
{
    fixture *fx = *state;
    pd_db *other = NULL;
    char err[256];
    if (pg_base)
        skip();
    assert_int_equal(pd_db_open(&other, fx->url, fx->dir, err, sizeof err), PD_OK);
    pd_printer_rec a = rec("a", "00M09A350100001"), b = rec("b", "01P00A451200002");
    assert_int_equal(pd_db_begin(other), PD_OK);
    assert_int_equal(pd_db_printer_insert(other, &a), PD_OK);

    int waits = 0;
    pd_db_lock_wait(fx->db, 10, count_waits, &waits);
    int64_t t0 = now_ms();
    assert_int_equal(pd_db_begin(fx->db), PD_OK);
    pd_err rc = pd_db_printer_insert(fx->db, &b);
    assert_int_equal(pd_db_end(fx->db, rc), PD_ERR_DB_BUSY);
    assert_true(now_ms() - t0 < 500);
    assert_int_equal(waits, 0);  /* 10 ms is no wait worth a word */
    assert_false(pd_db_in_tx(fx->db));

    pd_db_lock_wait(fx->db, 300, count_waits, &waits);
    t0 = now_ms();
    assert_int_equal(pd_db_printer_insert(fx->db, &b), PD_ERR_DB_BUSY);
    assert_int_equal(pd_db_printer_insert(fx->db, &b), PD_ERR_DB_BUSY);
    assert_true(now_ms() - t0 >= 600);
    assert_int_equal(waits, 1);  /* told once, not per statement */

    assert_int_equal(pd_db_end(other, PD_OK), PD_OK);
    pd_db_close(&other);
    assert_int_equal(pd_db_printer_insert(fx->db, &b), PD_OK);
    assert_int_equal(count(fx->db, "SELECT count(*) FROM printer"), 2);
}


/* Reads off the loop: more at once than there are readers, each answer asking for another
 * read from its done callback (as a paged walk does), every one answered once and in order. */
typedef struct read_chain {
    pd_db *db;
    uv_loop_t *loop;
    int started, done, answered[64];
    int64_t rows;
} read_chain;

static pd_err chain_work(pd_db *rd, void *ud)
{
    read_chain *c = ud;
    return pd_db_scalar(rd, "SELECT count(*) FROM printer", NULL, 0, &c->rows);
}

static void chain_done(pd_err rc, void *ud);

static void chain_next(read_chain *c)
{
    if (c->started < 64) {
        c->started++;
        assert_int_equal(pd_db_read(c->db, c->loop, chain_work, chain_done, c), PD_OK);
    }
}

static void chain_done(pd_err rc, void *ud)
{
    read_chain *c = ud;
    assert_int_equal(rc, PD_OK);
    c->answered[c->done++] = 1;
    chain_next(c);
}

static void reads_off_the_loop_chain(void **state)
{
    fixture *fx = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    read_chain c = {.db = fx->db, .loop = &loop};
    for (int i = 0; i < 2 * PD_DB_READERS + 3; i++)
        chain_next(&c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c.done, 64);
    assert_int_equal(c.rows, 0);
    pd_db_close(&fx->db);  /* the readers go with it, idle */
    assert_int_equal(uv_loop_close(&loop), 0);
    open_db(fx);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(printers_crud, fresh, drop),
    cmocka_unit_test_setup_teardown(every_printer_member_round_trips, fresh, drop),
    cmocka_unit_test_setup_teardown(newer_schema_is_refused, fresh, drop),
    cmocka_unit_test_setup_teardown(spool_summaries_cover_existing_spools, fresh, drop),
    cmocka_unit_test_setup_teardown(every_value_type_round_trips, fresh, drop),
    cmocka_unit_test_setup_teardown(row_callback_stops_the_walk, fresh, drop),
    cmocka_unit_test_setup_teardown(booleans_read_as_0_and_1, fresh, drop),
    cmocka_unit_test_setup_teardown(constraint_failures_are_mapped, fresh, drop),
    cmocka_unit_test_setup_teardown(nested_transactions, fresh, drop),
    cmocka_unit_test_setup_teardown(search_sort_and_page, fresh, drop),
    cmocka_unit_test_setup_teardown(spool_text_keeps_every_holder, fresh, drop),
    cmocka_unit_test_setup_teardown(backend_answers, fresh, drop),
    cmocka_unit_test_setup_teardown(sqlite_files_are_private, fresh, drop),
    cmocka_unit_test_setup_teardown(dropped_connection_is_reopened, fresh, drop),
    cmocka_unit_test_setup_teardown(another_writer_is_waited_for_boundedly, fresh, drop),
    cmocka_unit_test_setup_teardown(reads_off_the_loop_chain, fresh, drop),
};

int main(void)
{
    return testdb_run(tests, sizeof tests / sizeof tests[0]);
}
