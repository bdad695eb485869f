/* The schema, one migration per version, shared by every backend. Tokens expand per backend:
 * @ID@ an auto-increment integer primary key, @INT@ a 64-bit integer, @REAL@ a double.
 * Timestamps are unix seconds (@INT@); booleans are 0/1 integers, so SQL stays one dialect. */
#include "store/schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A day-level summary's rows with `doy`, the day of the year counted from March 1st (Hinnant's
 * days-to-civil), from which MONTH_OF_DAY is the first day of the month. */
#define DAYS_OF_YEAR(cols, table) \
    "(SELECT day, " cols ", doe - (365 * yoe + yoe / 4 - yoe / 100) AS doy FROM " \
    "(SELECT day, " cols ", doe, (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365 AS yoe FROM " \
    "(SELECT day, " cols ", (day + 719468) % 146097 AS doe FROM " table " WHERE span = 0) e) y) m"
#define MONTH_OF_DAY "day - doy + (153 * ((5 * doy + 2) / 153) + 2) / 5"

/* Append-only: migration i brings the schema to version i+1. Never edit a released row. */
/* The summaries computed from the job and usage rows: migration 11 fills them so, and
 * `printdeck stats rebuild` again after rows went in behind the daemon's back. */
#define ROLLUP_FILL \
    "INSERT INTO job_rollup (span, day, printer_id, status, materials, reason, jobs, print_s, max_s) " \
    "SELECT 0, started_at / 86400, printer_id, status, materials, " \
    "CASE WHEN status = 'failed' THEN COALESCE(reason, '') ELSE '' END, count(*), SUM(ended_at - started_at), " \
    "MAX(CASE WHEN ended_at > started_at THEN ended_at - started_at ELSE 0 END) " \
    "FROM job WHERE ended_at IS NOT NULL GROUP BY 2, 3, 4, 5, 6;" \
    "INSERT INTO job_rollup (span, day, printer_id, status, materials, reason, jobs, print_s, max_s) " \
    "SELECT 1, day - (day + 3) % 7, printer_id, status, materials, reason, SUM(jobs), SUM(print_s), MAX(max_s) " \
    "FROM job_rollup WHERE span = 0 GROUP BY 2, 3, 4, 5, 6;" \
    "INSERT INTO job_rollup (span, day, printer_id, status, materials, reason, jobs, print_s, max_s) " \
    "SELECT 2, " MONTH_OF_DAY ", printer_id, status, materials, reason, SUM(jobs), SUM(print_s), MAX(max_s) FROM " \
    DAYS_OF_YEAR("printer_id, status, materials, reason, jobs, print_s, max_s", "job_rollup") \
    " GROUP BY 2, 3, 4, 5, 6;" \
    "INSERT INTO usage_rollup (span, day, printer_id, material, spool_id, uses, grams, meters, cost) " \
    "SELECT 0, at / 86400, printer_id, material, spool_id, count(*), SUM(grams), COALESCE(SUM(meters), 0), " \
    "COALESCE(SUM(cost), 0) FROM filament_usage GROUP BY 2, 3, 4, 5;" \
    "INSERT INTO usage_rollup (span, day, printer_id, material, spool_id, uses, grams, meters, cost) " \
    "SELECT 1, day - (day + 3) % 7, printer_id, material, spool_id, SUM(uses), SUM(grams), SUM(meters), SUM(cost) " \
    "FROM usage_rollup WHERE span = 0 GROUP BY 2, 3, 4, 5;" \
    "INSERT INTO usage_rollup (span, day, printer_id, material, spool_id, uses, grams, meters, cost) " \
    "SELECT 2, " MONTH_OF_DAY ", printer_id, material, spool_id, SUM(uses), SUM(grams), SUM(meters), SUM(cost) FROM " \
    DAYS_OF_YEAR("printer_id, material, spool_id, uses, grams, meters, cost", "usage_rollup") \
    " GROUP BY 2, 3, 4, 5;"

/* spool_sum, one row per (location, filament, archived) of the spools (docs/inventory.md,
 * Groups): the cell of row R (NEW or OLD) in a trigger, what R adds to its cell, and the spools
 * of R's cell in the table. A NULL location is kept as '', the same group. The remaining grams
 * are added up in whole micrograms: a float sum moved by every write would drift. */
#define SUM_CELL(R) "COALESCE(" R ".location, ''), " R ".filament_id, " R ".archived"
#define SUM_IN_USE(R) "CASE WHEN " R ".used_weight > 0 THEN 1 ELSE 0 END"
#define SUM_UG(R) "CASE WHEN " R ".initial_weight > " R ".used_weight THEN CAST(round((" R ".initial_weight - " \
    R ".used_weight) * 1000000) AS @INT@) ELSE 0 END"
#define SUM_WHERE(R) " WHERE location = COALESCE(" R ".location, '') AND filament_id = " R ".filament_id " \
    "AND archived = " R ".archived"
#define SUM_MERGE \
    " ON CONFLICT (location, filament_id, archived) DO UPDATE SET spools = spool_sum.spools + excluded.spools, " \
    "in_use = spool_sum.in_use + excluded.in_use, own_ug = spool_sum.own_ug + excluded.own_ug, " \
    "last_used = CASE WHEN spool_sum.last_used IS NULL OR excluded.last_used > spool_sum.last_used " \
    "THEN excluded.last_used ELSE spool_sum.last_used END;"
#define SUM_ADD(R) \
    "INSERT INTO spool_sum (location, filament_id, archived, spools, in_use, own_ug, last_used) VALUES (" \
    SUM_CELL(R) ", 1, " SUM_IN_USE(R) ", " SUM_UG(R) ", " R ".last_used)" SUM_MERGE
/* The cells of rows R: spools, in use, micrograms and latest use of each (R's FROM follows). */
#define SUM_OF(R) "SELECT " SUM_CELL(R) ", count(*), sum(" SUM_IN_USE(R) "), sum(" SUM_UG(R) "), max(" R ".last_used) FROM "
/* What inserted rows add, one upsert per cell they fall in ("WHERE true": SQLite's parser
 * needs it between a SELECT and ON CONFLICT). */
#define SUM_ADD_ROWS \
    "INSERT INTO spool_sum (location, filament_id, archived, spools, in_use, own_ug, last_used) " SUM_OF("r") \
    "@NEW_ROWS location, filament_id, archived, used_weight, initial_weight, last_used@ r WHERE true GROUP BY 1, 2, 3" \
    SUM_MERGE
/* The latest use cannot be taken back by a subtraction: when the row that goes held it (and,
 * for an update, does not stay in its cell at a later or equal time), the cell's spools that
 * remain say it, found through the index spool_location (location, archived, …): one part per
 * spelling of the location, since an OR of the two made SQLite walk all of the filament's
 * spools instead (280,000 instructions a delete rather than 16,000). */
#define SUM_CELL_SPOOLS(where) "SELECT s.last_used AS l FROM spool s WHERE " where " AND s.archived = OLD.archived " \
    "AND s.filament_id = OLD.filament_id"
#define SUM_REMOVE(keep) \
    "UPDATE spool_sum SET spools = spools - 1, in_use = in_use - " SUM_IN_USE("OLD") ", own_ug = own_ug - " \
    SUM_UG("OLD") ", last_used = CASE WHEN OLD.last_used IS NULL OR last_used > OLD.last_used" keep \
    " THEN last_used ELSE (SELECT max(c.l) FROM (" SUM_CELL_SPOOLS("s.location = COALESCE(OLD.location, '')") \
    " UNION ALL " SUM_CELL_SPOOLS("s.location IS NULL AND COALESCE(OLD.location, '') = ''") ") c) END" \
    SUM_WHERE("OLD") ";" \
    "DELETE FROM spool_sum" SUM_WHERE("OLD") " AND spools = 0;"

/* spool_text, an FTS5 index over the spools' own columns: a row's entry added, or removed
 * (FTS5's 'delete' command, which wants the values that were indexed). */
#define TEXT_ADD(R) "INSERT INTO spool_text (rowid, comment, location, lot_nr) VALUES (" R ".id, " R ".comment, " \
    R ".location, " R ".lot_nr);"
#define TEXT_REMOVE(R) "INSERT INTO spool_text (spool_text, rowid, comment, location, lot_nr) VALUES ('delete', " \
    R ".id, " R ".comment, " R ".location, " R ".lot_nr);"

static const char *const migrations[] = {
    /* 1: printers and API tokens */
    "CREATE TABLE printer ("
    "  id @ID@,"
    "  name TEXT NOT NULL,"
    "  serial TEXT NOT NULL UNIQUE,"
    "  host TEXT NOT NULL,"
    "  port @INT@ NOT NULL DEFAULT 8883,"
    "  access_code TEXT NOT NULL,"
    "  model TEXT NOT NULL DEFAULT '',"
    "  ca_file TEXT NOT NULL DEFAULT '',"
    "  tls_verify @INT@ NOT NULL DEFAULT 1,"
    "  created_at @INT@ NOT NULL);"
    "CREATE TABLE api_token ("
    "  id @ID@,"
    "  name TEXT NOT NULL,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  created_at @INT@ NOT NULL);",

    /* 2: the filament inventory: Spoolman's vendor/filament/spool model plus what the
     * filament-tracking seed asks for; extra fields; settings; AMS slots and their history */
    "CREATE TABLE vendor ("
    "  id @ID@,"
    "  registered @INT@ NOT NULL,"
    "  name TEXT NOT NULL,"
    "  comment TEXT,"
    "  empty_spool_weight @REAL@,"
    "  external_id TEXT);"
    "CREATE TABLE filament ("
    "  id @ID@,"
    "  registered @INT@ NOT NULL,"
    "  name TEXT,"
    "  vendor_id @INT@ REFERENCES vendor(id) ON DELETE SET NULL,"
    "  material TEXT,"
    "  price @REAL@,"
    "  density @REAL@ NOT NULL,"
    "  diameter @REAL@ NOT NULL,"
    "  weight @REAL@,"
    "  spool_weight @REAL@,"
    "  article_number TEXT,"
    "  comment TEXT,"
    "  settings_extruder_temp @INT@,"
    "  settings_bed_temp @INT@,"
    "  color_hex TEXT,"
    "  multi_color_hexes TEXT,"
    "  multi_color_direction TEXT,"
    "  external_id TEXT,"
    "  nozzle_temp_min @INT@,"
    "  nozzle_temp_max @INT@,"
    "  bed_temp_min @INT@,"
    "  bed_temp_max @INT@,"
    "  drying_temp @INT@,"
    "  drying_hours @REAL@,"
    "  drying_notes TEXT,"
    "  low_stock_weight @REAL@);"
    "CREATE INDEX filament_vendor ON filament(vendor_id);"
    "CREATE TABLE spool ("
    "  id @ID@,"
    "  registered @INT@ NOT NULL,"
    "  filament_id @INT@ NOT NULL REFERENCES filament(id),"
    "  price @REAL@,"
    "  initial_weight @REAL@,"
    "  spool_weight @REAL@,"
    "  used_weight @REAL@ NOT NULL DEFAULT 0,"
    "  first_used @INT@,"
    "  last_used @INT@,"
    "  location TEXT,"
    "  lot_nr TEXT,"
    "  comment TEXT,"
    "  archived @INT@ NOT NULL DEFAULT 0,"
    "  purchase_date TEXT,"
    "  low_stock_weight @REAL@,"
    "  tray_uuid TEXT,"
    "  tag_uid TEXT,"
    "  tray_id_name TEXT);"
    "CREATE INDEX spool_filament ON spool(filament_id);"
    "CREATE INDEX spool_last_used ON spool(last_used);"
    "CREATE INDEX spool_tray_uuid ON spool(tray_uuid);"
    "CREATE INDEX spool_tag_uid ON spool(tag_uid);"
    "CREATE TABLE extra ("
    "  entity TEXT NOT NULL,"
    "  entity_id @INT@ NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (entity, entity_id, key));"
    "CREATE TABLE setting ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);"
    "CREATE TABLE ams_slot ("
    "  id @ID@,"
    "  printer_id @INT@ NOT NULL REFERENCES printer(id) ON DELETE CASCADE,"
    "  unit @INT@ NOT NULL,"
    "  slot @INT@ NOT NULL,"
    "  spool_id @INT@ REFERENCES spool(id) ON DELETE SET NULL,"
    "  reported_color TEXT,"
    "  reported_material TEXT,"
    "  reported_tray_uuid TEXT,"
    "  updated_at @INT@ NOT NULL,"
    "  UNIQUE (printer_id, unit, slot));"
    "CREATE INDEX ams_slot_spool ON ams_slot(spool_id);"
    "CREATE TABLE slot_history ("
    "  id @ID@,"
    "  slot_id @INT@ NOT NULL REFERENCES ams_slot(id) ON DELETE CASCADE,"
    "  spool_id @INT@ REFERENCES spool(id) ON DELETE SET NULL,"
    "  assigned_at @INT@ NOT NULL,"
    "  unassigned_at @INT@,"
    "  event_type TEXT NOT NULL,"
    "  unassign_event TEXT);"
    "CREATE INDEX slot_history_slot ON slot_history(slot_id, id);",

    /* 3: the printer's implicit-FTPS port (its storage), beside the MQTT one */
    "ALTER TABLE printer ADD COLUMN ftps_port @INT@ NOT NULL DEFAULT 990;",
    /* 4: print jobs (docs/jobs.md): the job, its pauses and offline gaps, every tray_now change
     * with its layer, and the trays as they were at the start, for the accounting that follows */
    "CREATE TABLE job ("
    "  id @ID@,"
    "  printer_id @INT@ REFERENCES printer(id) ON DELETE SET NULL,"
    "  printer_name TEXT NOT NULL DEFAULT '',"
    "  name TEXT NOT NULL,"
    "  file TEXT NOT NULL DEFAULT '',"
    "  plate @INT@,"
    "  task_id TEXT NOT NULL DEFAULT '',"
    "  subtask_id TEXT NOT NULL DEFAULT '',"
    "  profile_id TEXT NOT NULL DEFAULT '',"
    "  print_type TEXT NOT NULL DEFAULT '',"
    "  origin TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  started_at @INT@ NOT NULL,"
    "  ended_at @INT@,"
    "  estimated_s @INT@,"
    "  progress @INT@ NOT NULL DEFAULT 0,"
    "  layer @INT@ NOT NULL DEFAULT 0,"
    "  total_layers @INT@ NOT NULL DEFAULT 0,"
    "  reason TEXT,"
    "  error_code @INT@,"
    "  materials TEXT NOT NULL DEFAULT '',"
    "  environment TEXT,"
    "  seen_at @INT@ NOT NULL,"
    "  notes TEXT,"
    "  rating @INT@);"
    "CREATE INDEX job_printer ON job(printer_id, id);"
    "CREATE INDEX job_started ON job(started_at);"
    "CREATE INDEX job_open ON job(ended_at);"
    "CREATE TABLE job_pause ("
    "  id @ID@,"
    "  job_id @INT@ NOT NULL REFERENCES job(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  started_at @INT@ NOT NULL,"
    "  ended_at @INT@,"
    "  reason TEXT);"
    "CREATE INDEX job_pause_job ON job_pause(job_id, id);"
    "CREATE TABLE job_tray ("
    "  id @ID@,"
    "  job_id @INT@ NOT NULL REFERENCES job(id) ON DELETE CASCADE,"
    "  tray @INT@ NOT NULL,"
    "  layer @INT@ NOT NULL,"
    "  at @INT@ NOT NULL);"
    "CREATE INDEX job_tray_job ON job_tray(job_id, id);"
    "CREATE TABLE job_snapshot ("
    "  job_id @INT@ NOT NULL REFERENCES job(id) ON DELETE CASCADE,"
    "  unit @INT@ NOT NULL,"
    "  slot @INT@ NOT NULL,"
    "  spool_id @INT@ REFERENCES spool(id) ON DELETE SET NULL,"
    "  tray_uuid TEXT NOT NULL DEFAULT '',"
    "  material TEXT NOT NULL DEFAULT '',"
    "  color TEXT NOT NULL DEFAULT '',"
    "  remain @INT@,"
    "  PRIMARY KEY (job_id, unit, slot));",
    /* 5: filament usage (docs/accounting.md): grams taken off a spool, by which job, from which
     * tray, found how; material and cost are kept as they were, so statistics stay true after
     * a spool or filament is deleted or repriced */
    "CREATE TABLE filament_usage ("
    "  id @ID@,"
    "  job_id @INT@ REFERENCES job(id) ON DELETE SET NULL,"
    "  spool_id @INT@ REFERENCES spool(id) ON DELETE SET NULL,"
    "  printer_id @INT@ REFERENCES printer(id) ON DELETE SET NULL,"
    "  unit @INT@,"
    "  slot @INT@,"
    "  grams @REAL@ NOT NULL,"
    "  meters @REAL@,"
    "  source TEXT NOT NULL,"
    "  material TEXT NOT NULL DEFAULT '',"
    "  cost @REAL@,"
    "  at @INT@ NOT NULL);"
    "CREATE INDEX filament_usage_job ON filament_usage(job_id);"
    "CREATE INDEX filament_usage_spool ON filament_usage(spool_id, at);"
    "CREATE INDEX filament_usage_at ON filament_usage(at);",
    /* 6: alerts (docs/alerts.md): one row per crossing, open while its condition holds (cleared_at
     * NULL), so a restart neither repeats nor forgets one; when each spool was last dried; and
     * the covering indexes the statistics read instead of the tables (docs/stats.md) */
    "CREATE TABLE alert ("
    "  id @ID@,"
    "  kind TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  printer_id @INT@ REFERENCES printer(id) ON DELETE SET NULL,"
    "  spool_id @INT@ REFERENCES spool(id) ON DELETE SET NULL,"
    "  filament_id @INT@ REFERENCES filament(id) ON DELETE SET NULL,"
    "  job_id @INT@ REFERENCES job(id) ON DELETE SET NULL,"
    "  message TEXT NOT NULL,"
    "  data TEXT,"
    "  raised_at @INT@ NOT NULL,"
    "  cleared_at @INT@,"
    "  acked_at @INT@);"
    "CREATE INDEX alert_key ON alert(key, cleared_at);"
    "CREATE INDEX alert_raised ON alert(raised_at);"
    "CREATE INDEX alert_open ON alert(cleared_at);"
    "ALTER TABLE spool ADD COLUMN last_dried @INT@;"
    "CREATE INDEX job_stats ON job(started_at, printer_id, status, ended_at, materials);"
    "CREATE INDEX job_failures ON job(status, started_at, reason);"
    "CREATE INDEX filament_usage_stats ON filament_usage(at, printer_id, material, spool_id, grams, meters, cost);",
    /* 7: filament accounting (docs/accounting.md): the job's file and its analysis (filaments,
     * the per-layer curve sampled, the thumbnail as base64 PNG), spools swapped in a tray while
     * it printed, its tray mapping, the trays' remain at its end, the warnings given at its
     * start, the ambiguous matches left to a person, and when it was accounted (once) */
    "CREATE TABLE job_file ("
    "  job_id @INT@ PRIMARY KEY REFERENCES job(id) ON DELETE CASCADE,"
    "  state TEXT NOT NULL,"
    "  reason TEXT,"
    "  path TEXT,"
    "  plate @INT@,"
    "  weight_g @REAL@,"
    "  prediction_s @INT@,"
    "  filaments TEXT,"
    "  curve TEXT,"
    "  thumbnail TEXT,"
    "  updated_at @INT@ NOT NULL);"
    "CREATE TABLE job_swap ("
    "  id @ID@,"
    "  job_id @INT@ NOT NULL REFERENCES job(id) ON DELETE CASCADE,"
    "  unit @INT@ NOT NULL,"
    "  slot @INT@ NOT NULL,"
    "  tray_uuid TEXT NOT NULL DEFAULT '',"
    "  material TEXT NOT NULL DEFAULT '',"
    "  color TEXT NOT NULL DEFAULT '',"
    "  remain_before @INT@,"
    "  remain_after @INT@,"
    "  layer @INT@ NOT NULL,"
    "  at @INT@ NOT NULL);"
    "CREATE INDEX job_swap_job ON job_swap(job_id, id);"
    "ALTER TABLE job ADD COLUMN mapping TEXT;"
    "ALTER TABLE job ADD COLUMN trays_end TEXT;"
    "ALTER TABLE job ADD COLUMN warnings TEXT;"
    "ALTER TABLE job ADD COLUMN candidates TEXT;"
    "ALTER TABLE job ADD COLUMN usage_note TEXT;"
    "ALTER TABLE job ADD COLUMN accounted_at @INT@;"
    "ALTER TABLE job ADD COLUMN accounted_as TEXT;",
    /* 8: "which spool is this?" (docs/inventory.md, Prompts): a slot's new spool nobody could
     * identify, or a job's filament with several candidate spools; and what a tray reported
     * when its history row was written, so a change without a spool still leaves a trace */
    "CREATE TABLE prompt ("
    "  id @ID@,"
    "  kind TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  printer_id @INT@ REFERENCES printer(id) ON DELETE CASCADE,"
    "  unit @INT@,"
    "  slot @INT@,"
    "  job_id @INT@ REFERENCES job(id) ON DELETE CASCADE,"
    "  filament_index @INT@,"
    "  material TEXT NOT NULL DEFAULT '',"
    "  color TEXT NOT NULL DEFAULT '',"
    "  tray_uuid TEXT NOT NULL DEFAULT '',"
    "  candidates TEXT,"
    "  spool_id @INT@ REFERENCES spool(id) ON DELETE SET NULL,"
    "  created_at @INT@ NOT NULL,"
    "  closed_at @INT@);"
    "CREATE INDEX prompt_status ON prompt(status, id);"
    "CREATE INDEX prompt_slot ON prompt(printer_id, unit, slot, status);"
    "ALTER TABLE slot_history ADD COLUMN material TEXT;"
    "ALTER TABLE slot_history ADD COLUMN color TEXT;"
    "ALTER TABLE slot_history ADD COLUMN tray_uuid TEXT;",

    /* 9: accounts (docs/accounts.md): users with an argon2id password hash, a role and the
     * printers they are limited to ("1,5,7"; "" = every printer); sessions and tokens stored
     * as the SHA-256 of their secret; tokens get a role (those made before: admin). A session
     * belongs to a user or a token; one with neither was exchanged for PRINTDECK_TOKEN and
     * keeps its role itself */
    "CREATE TABLE account ("
    "  id @ID@,"
    "  name TEXT NOT NULL,"
    "  password TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  printers TEXT NOT NULL DEFAULT '',"
    "  created_at @INT@ NOT NULL,"
    "  password_at @INT@ NOT NULL,"
    "  last_login_at @INT@);"
    "CREATE UNIQUE INDEX account_name ON account(lower(name));"
    "ALTER TABLE api_token ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';"
    "ALTER TABLE api_token ADD COLUMN hint TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE api_token ADD COLUMN last_used_at @INT@;"
    "CREATE TABLE session ("
    "  id @ID@,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  user_id @INT@ REFERENCES account(id) ON DELETE CASCADE,"
    "  token_id @INT@ REFERENCES api_token(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL DEFAULT '',"
    "  csrf TEXT NOT NULL,"
    "  created_at @INT@ NOT NULL,"
    "  seen_at @INT@ NOT NULL,"
    "  expires_at @INT@ NOT NULL);"
    "CREATE INDEX session_by_user ON session(user_id);"
    "CREATE INDEX session_by_token ON session(token_id);",
    /* 10: every pause and offline gap of a job counted, also those past the rows it keeps
     * (docs/jobs.md) */
    "ALTER TABLE job ADD COLUMN interruptions @INT@ NOT NULL DEFAULT 0;",

    /* 11: the statistics' summaries (docs/stats.md, src/track/rollup.c) per day (span 0), ISO week
     * (1) and month (2), `day` the bucket's first day since 1970-01-01 UTC; filled here from the
     * rows, kept by their writers after. Months come from days by Hinnant's days-to-civil in
     * integer arithmetic, the same on both backends. */
    "CREATE TABLE job_rollup ("
    "  id @ID@,"
    "  span @INT@ NOT NULL,"
    "  day @INT@ NOT NULL,"
    "  printer_id @INT@ REFERENCES printer(id) ON DELETE SET NULL,"
    "  status TEXT NOT NULL,"
    "  materials TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  jobs @INT@ NOT NULL,"
    "  print_s @INT@ NOT NULL,"
    "  max_s @INT@ NOT NULL);"
    "CREATE INDEX job_rollup_key ON job_rollup(span, day, printer_id, status, materials, reason, jobs, print_s, max_s);"
    "CREATE INDEX job_rollup_printer ON job_rollup(printer_id);"
    "CREATE TABLE usage_rollup ("
    "  id @ID@,"
    "  span @INT@ NOT NULL,"
    "  day @INT@ NOT NULL,"
    "  printer_id @INT@ REFERENCES printer(id) ON DELETE SET NULL,"
    "  material TEXT NOT NULL,"
    "  spool_id @INT@ REFERENCES spool(id) ON DELETE SET NULL,"
    "  uses @INT@ NOT NULL,"
    "  grams @REAL@ NOT NULL,"
    "  meters @REAL@ NOT NULL,"
    "  cost @REAL@ NOT NULL);"
    "CREATE INDEX usage_rollup_key ON usage_rollup(span, day, printer_id, material, spool_id, uses, grams, meters, cost);"
    "CREATE INDEX usage_rollup_printer ON usage_rollup(printer_id);"
    "CREATE INDEX usage_rollup_spool ON usage_rollup(spool_id);"
    ROLLUP_FILL,
    /* 12: the tray log names each tray by unit and slot (docs/jobs.md): tray_now alone cannot on
     * printers that send a unit's own slot or feed from two extruders. Earlier rows numbered
     * trays globally (unit × 4 + slot, 128-135 AMS HT, 254 the external holder, 255 none) */
    "ALTER TABLE job_tray ADD COLUMN unit @INT@;"
    "ALTER TABLE job_tray ADD COLUMN slot @INT@;"
    "UPDATE job_tray SET unit = CASE WHEN tray < 16 THEN tray / 4 WHEN tray = 254 THEN 255 "
    "WHEN tray BETWEEN 128 AND 135 THEN tray END, "
    "slot = CASE WHEN tray < 16 THEN tray % 4 WHEN tray = 254 OR tray BETWEEN 128 AND 135 THEN 0 END;",
    /* 13: which spool a usage row was taken from after that spool is deleted (spool_id is then
     * null), so a job still says "deleted spool #12" (docs/api.md, Print jobs) */
    "ALTER TABLE filament_usage ADD COLUMN deleted_spool_id @INT@;",
    /* 14: notification channels (config: the type's fields as JSON, secrets included, never
     * served) and the delivery log, one row per attempt (docs/notify.md) */
    "CREATE TABLE notify_channel ("
    "  id @ID@,"
    "  type TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  enabled @INT@ NOT NULL,"
    "  events TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  created_at @INT@ NOT NULL,"
    "  last_ok_at @INT@,"
    "  last_error TEXT,"
    "  last_error_at @INT@);"
    "CREATE TABLE notify_log ("
    "  id @ID@,"
    "  channel_id @INT@ NOT NULL REFERENCES notify_channel(id) ON DELETE CASCADE,"
    "  event TEXT NOT NULL,"
    "  printer_id @INT@,"
    "  title TEXT NOT NULL,"
    "  attempt @INT@ NOT NULL,"
    "  ok @INT@ NOT NULL,"
    "  status @INT@,"
    "  error TEXT,"
    "  at @INT@ NOT NULL);"
    "CREATE INDEX notify_log_channel ON notify_log(channel_id, id);",
    /* 15: spool groups and search over 100,000 spools (docs/inventory.md, Groups): each index
     * holds every column a group adds up, so grouping by location or filament reads it alone,
     * in group order, and never the table. By filament it also gives a filament's spools in id
     * order, for the search's first spools of a filament. The cost: each spool write that
     * changes one of these columns (a print's used weight) rewrites two index entries. The
     * spools without their own initial weight, whose remaining weight is the filament's
     * concern, are found by the third rather than by reading them all */
    "DROP INDEX spool_filament;"
    "CREATE INDEX spool_filament ON spool(filament_id, archived, id, used_weight, initial_weight, last_used);"
    "CREATE INDEX spool_location ON spool(location, archived, used_weight, initial_weight, last_used, filament_id);"
    "CREATE INDEX spool_unweighed ON spool(filament_id) WHERE initial_weight IS NULL;",
    /* 16: notification rules (docs/notify.md, Rules): a channel's rules as checked JSON, its
     * owner (a user's channel hears only the printers that user sees), the local day its digest
     * went out; per printer the kinds it may tell at all; what quiet hours held for a digest */
    "ALTER TABLE notify_channel ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';"
    "ALTER TABLE notify_channel ADD COLUMN owner_id @INT@;"
    "ALTER TABLE notify_channel ADD COLUMN digest_day @INT@;"
    "CREATE TABLE notify_printer ("
    "  printer_id @INT@ PRIMARY KEY,"
    "  events TEXT NOT NULL);"
    "CREATE TABLE notify_held ("
    "  id @ID@,"
    "  channel_id @INT@ NOT NULL REFERENCES notify_channel(id) ON DELETE CASCADE,"
    "  event TEXT NOT NULL,"
    "  printer_id @INT@,"
    "  title TEXT NOT NULL,"
    "  at @INT@ NOT NULL);"
    "CREATE INDEX notify_held_channel ON notify_held(channel_id, id);",
    /* 17: the browsers subscribed to Web Push (docs/notify.md, Web Push): each belongs to a user,
     * else to the token (user_id null) whose session subscribed it, else to PRINTDECK_TOKEN
     * (both null); it goes with them */
    "CREATE TABLE webpush_sub ("
    "  id @ID@,"
    "  endpoint TEXT NOT NULL UNIQUE,"
    "  p256dh TEXT NOT NULL,"
    "  auth TEXT NOT NULL,"
    "  user_id @INT@ REFERENCES account(id) ON DELETE CASCADE,"
    "  token_id @INT@ REFERENCES api_token(id) ON DELETE CASCADE,"
    "  created_at @INT@ NOT NULL);"
    "CREATE INDEX webpush_sub_user ON webpush_sub(user_id);"
    "CREATE INDEX webpush_sub_token ON webpush_sub(token_id);",
    /* 18: the printer's camera (docs/camera.md): a relay's host and port instead of the
     * printer's (0: the model's), and whether it is relayed at all */
    "ALTER TABLE printer ADD COLUMN camera_host TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN camera_port @INT@ NOT NULL DEFAULT 0;"
    "ALTER TABLE printer ADD COLUMN camera_enabled @INT@ NOT NULL DEFAULT 1;",
    /* 19: printers fed by Home Assistant's webhooks (docs/homeassistant.md, Inbound): where a
     * printer's state comes from, and the printer_id Home Assistant calls it by - on an MQTT
     * printer too, once a Home Assistant one was merged into it, so its webhooks are known */
    "ALTER TABLE printer ADD COLUMN source TEXT NOT NULL DEFAULT 'mqtt';"
    "ALTER TABLE printer ADD COLUMN ha_id TEXT;"
    "CREATE UNIQUE INDEX printer_ha_id ON printer(ha_id);",
    /* 20: timelapses (docs/camera.md, Timelapses): the video made of a job's frames, a file in
     * the data directory's timelapse/ named by `file`; it stays when its job or printer goes */
    "CREATE TABLE timelapse ("
    "  id @ID@,"
    "  job_id @INT@ REFERENCES job(id) ON DELETE SET NULL,"
    "  printer_id @INT@ REFERENCES printer(id) ON DELETE SET NULL,"
    "  file TEXT NOT NULL,"
    "  size @INT@ NOT NULL,"
    "  frames @INT@ NOT NULL,"
    "  duration_ms @INT@ NOT NULL,"
    "  fps @INT@ NOT NULL,"
    "  width @INT@ NOT NULL,"
    "  height @INT@ NOT NULL,"
    "  codec TEXT NOT NULL,"
    "  created_at @INT@ NOT NULL);"
    "CREATE INDEX timelapse_job ON timelapse(job_id);"
    "CREATE INDEX timelapse_printer ON timelapse(printer_id, id);",
    /* 21: groups by location, filament, vendor or material read spool_sum (a few rows a cell)
     * rather than every spool; its triggers keep it true through every writer of spools,
     * the daemon's and anything else's */
    "CREATE TABLE spool_sum ("
    "  location TEXT NOT NULL,"
    "  filament_id @INT@ NOT NULL,"
    "  archived @INT@ NOT NULL,"
    "  spools @INT@ NOT NULL,"
    "  in_use @INT@ NOT NULL,"
    "  own_ug @INT@ NOT NULL,"
    "  last_used @INT@,"
    "  PRIMARY KEY (location, filament_id, archived));"
    "INSERT INTO spool_sum (location, filament_id, archived, spools, in_use, own_ug, last_used) "
    SUM_OF("spool") "spool GROUP BY 1, 2, 3;"
    "@TRIGGER spool_sum_insert AFTER INSERT ON spool@" SUM_ADD("NEW") "@END@"
    "@TRIGGER spool_sum_delete AFTER DELETE ON spool@" SUM_REMOVE("") "@END@"
    "@TRIGGER spool_sum_update AFTER UPDATE OF location, filament_id, archived, used_weight, initial_weight, "
    "last_used ON spool@"
    SUM_REMOVE(" OR (NEW.last_used >= OLD.last_used AND COALESCE(NEW.location, '') = COALESCE(OLD.location, '') "
               "AND NEW.filament_id = OLD.filament_id AND NEW.archived = OLD.archived)")
    SUM_ADD("NEW") "@END@",
    /* 22: search over 100,000 spools (docs/inventory.md, Search). SQLite: a trigram index of
     * the spools' searchable columns, holding no copy of them (content='spool'), that finds
     * the spools holding a word of 3 characters or more without reading the others; kept by
     * triggers. PostgreSQL keeps its scan (pg_trgm is an extension a server may not have). */
    "@ONLY sqlite@"
    "CREATE VIRTUAL TABLE spool_text USING fts5(comment, location, lot_nr, content='spool', content_rowid='id', "
    "tokenize='trigram');"
    "INSERT INTO spool_text (spool_text) VALUES ('rebuild');"
    "@TRIGGER spool_text_insert AFTER INSERT ON spool@" TEXT_ADD("NEW") "@END@"
    "@TRIGGER spool_text_delete AFTER DELETE ON spool@" TEXT_REMOVE("OLD") "@END@"
    "@TRIGGER spool_text_update AFTER UPDATE OF comment, location, lot_nr ON spool@" TEXT_REMOVE("OLD")
    TEXT_ADD("NEW") "@END@"
    "@END_ONLY@",
    /* 23: a bulk insert of spools (an import, one's own SQL) on PostgreSQL paid an upsert of
     * the same few spool_sum rows per spool, each a row version the next one walked past:
     * 100,000 spools took 50 s instead of 2. Inserted rows are now added by cell, once per
     * statement there (SQLite, whose rows have no versions, still runs it per row). */
    "@ONLY sqlite@DROP TRIGGER spool_sum_insert;@END_ONLY@"
    "@ONLY postgresql@DROP TRIGGER spool_sum_insert ON spool; DROP FUNCTION spool_sum_insert();@END_ONLY@"
    "@TRIGGER spool_sum_insert AFTER INSERT ON spool@" SUM_ADD_ROWS "@END@",
    /* 24: printers followed through Home Assistant's WebSocket API (docs/homeassistant.md,
     * Source): the ha-bambulab device's entity prefix and the entity ids that replace its
     * defaults ("" = the default) */
    "ALTER TABLE printer ADD COLUMN ha_device TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_print_status TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_task_name TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_gcode_file TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_print_progress TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_current_layer TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_total_layers TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_active_tray TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN ha_ams_tray TEXT NOT NULL DEFAULT '';",
    /* 25: a printer's own secret for Home Assistant's webhooks naming it (docs/homeassistant.md,
     * Inbound); '' = the global [homeassistant] webhook_secret */
    "ALTER TABLE printer ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';",
    /* 26: a printer's own timelapse settings (docs/camera.md, Timelapses); NULL and '' =
     * [timelapse]'s */
    "ALTER TABLE printer ADD COLUMN timelapse_enabled @INT@;"
    "ALTER TABLE printer ADD COLUMN timelapse_mode TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE printer ADD COLUMN timelapse_interval_s @INT@;"
    "ALTER TABLE printer ADD COLUMN timelapse_fps @INT@;",
};

int pd_schema_latest(void) { return (int)(sizeof migrations / sizeof migrations[0]); }

const char *pd_schema_rollup_rebuild(void)
{
    return "DELETE FROM job_rollup; DELETE FROM usage_rollup;" ROLLUP_FILL;
}

/* A row trigger's head or tail: fmt with %1$s the trigger's name, %2$s its event; len bounds
 * both (migrations are ours, and short). */
static size_t trigger_piece(const char *fmt, const char *name, size_t nlen, const char *event,
                            size_t elen, char *out)
{
    char n[64], ev[192], buf[512];
    snprintf(n, sizeof n, "%.*s", (int)nlen, name);
    snprintf(ev, sizeof ev, "%.*s", (int)elen, event);
    int len = snprintf(buf, sizeof buf, fmt, n, ev);
    if (out)
        memcpy(out, buf, (size_t)len);
    return (size_t)len;
}

/* The rows an insert trigger's statements read, "@NEW_ROWS col, …@": the transition table
 * where the backend has one for the trigger (rows_tail), else the one row, as a subquery. */
static size_t new_rows(const pd_schema_words *w, const char *cols, size_t clen, char *out)
{
    if (w->rows_tail) {
        if (out)
            memcpy(out, "new_rows", 8);
        return 8;
    }
    size_t n = 0;
    int len;
    char piece[96];
    for (size_t i = 0; i < clen;) {
        while (i < clen && (cols[i] == ' ' || cols[i] == ','))
            i++;
        size_t c = i;
        while (i < clen && cols[i] != ',' && cols[i] != ' ')
            i++;
        if (i == c)
            break;
        len = snprintf(piece, sizeof piece, "%sNEW.%.*s AS %.*s", n ? ", " : "(SELECT ", (int)(i - c), cols + c,
                       (int)(i - c), cols + c);
        if (out)
            memcpy(out + n, piece, (size_t)len);
        n += (size_t)len;
    }
    if (out)
        out[n] = ')';
    return n + 1;
}

/* Writes src with tokens replaced into out (when non-NULL); returns the expanded length.
 * "@TRIGGER name event@ statements @END@" is a row trigger in the backend's own words
 * (SQLite's body inline, PostgreSQL's a plpgsql function), the statements written once with
 * NEW and OLD, or with "@NEW_ROWS col, …@" for the inserted rows (see rows_tail).
 * "@ONLY backend@ … @END_ONLY@" is kept for that backend alone: an index that only one of
 * them has. */
static size_t expand(const char *src, const pd_schema_words *w, char *out)
{
    const char *const tok[] = {"@ID@", "@INT@", "@REAL@"}, *const rep[] = {w->id, w->integer, w->real};
    const char *name = "", *event = "";
    size_t nlen = 0, elen = 0, n = 0;
    bool rows = false; /* the trigger being written reads @NEW_ROWS@ */
    for (const char *p = src; *p;) {
        if (!strncmp(p, "@NEW_ROWS ", 10)) {
            size_t clen = strcspn(p + 10, "@");
            n += new_rows(w, p + 10, clen, out ? out + n : NULL);
            rows = true;
            p += 10 + clen + (p[10 + clen] == '@');
            continue;
        }
        if (!strncmp(p, "@TRIGGER ", 9)) {
            name = p + 9;
            nlen = strcspn(name, " ");
            event = name + nlen + 1;
            elen = strcspn(event, "@");
            n += trigger_piece(w->trigger_head, name, nlen, event, elen, out ? out + n : NULL);
            p = event + elen + (event[elen] == '@');
            continue;
        }
        if (!strncmp(p, "@ONLY ", 6)) {
            size_t blen = strcspn(p + 6, "@");
            bool ours = blen == strlen(w->backend) && !strncmp(p + 6, w->backend, blen);
            const char *end = strstr(p, "@END_ONLY@");
            p = ours || !end ? p + 6 + blen + (p[6 + blen] == '@') : end;
            continue;
        }
        if (!strncmp(p, "@END_ONLY@", 10)) {
            p += 10;
            continue;
        }
        if (!strncmp(p, "@END@", 5)) {
            n += trigger_piece(rows && w->rows_tail ? w->rows_tail : w->trigger_tail, name, nlen, event, elen,
                               out ? out + n : NULL);
            rows = false;
            p += 5;
            continue;
        }
        size_t k = 0;
        while (k < 3 && strncmp(p, tok[k], strlen(tok[k])))
            k++;
        const char *piece = k < 3 ? rep[k] : p;
        size_t len = k < 3 ? strlen(rep[k]) : 1;
        if (out)
            memcpy(out + n, piece, len);
        n += len;
        p += k < 3 ? strlen(tok[k]) : 1;
    }
    return n;
}

const char *pd_schema_migration(int version)
{
    return version < 1 || version > pd_schema_latest() ? NULL : migrations[version - 1];
}

char *pd_schema_expand(const char *sql, const pd_schema_words *w)
{
    size_t len = expand(sql, w, NULL);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    expand(sql, w, out);
    out[len] = '\0';
    return out;
}
