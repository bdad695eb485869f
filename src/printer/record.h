/* The printer record's rules: one declarative field table (record.c) validates and normalises
 * a printer from every source - an API body (JSON), a `[printer NAME]` section of the
 * configuration file (text) and a database row - so no source can let in a printer another
 * would refuse. The record itself (pd_printer_rec) is declared with its storage in
 * store/store.h.
 *
 * Errors are "KEY: RULE" (e.g. "serial: must be 8-31 letters and digits, one at least a
 * letter"); they never repeat the value, which may be a secret (access_code). The caller adds
 * the source: file:line, database row id, API body. */
#ifndef PD_PRINTER_RECORD_H
#define PD_PRINTER_RECORD_H

#include <jansson.h>
#include <stdio.h>

#include "core/err.h"
#include "store/store.h"

/* A record holding the table's defaults (port 8883, tls_verify true) and nothing else. */
void pd_printer_rec_init(pd_printer_rec *rec);
/* Sets field `key` from a JSON value (the API). A null clears an optional text field.
 * INVAL for an unknown key or a value that breaks the field's rule. */
pd_err pd_printer_rec_set_json(pd_printer_rec *rec, const char *key, const json_t *v, char *err,
                               size_t errlen);
/* Sets field `key` from its text form (the configuration file): whole numbers and
 * true/false/yes/no/on/off/1/0 are parsed; "" clears an optional text field. */
pd_err pd_printer_rec_set_text(pd_printer_rec *rec, const char *key, const char *v, char *err,
                               size_t errlen);
/* Checks the whole record against every rule, required fields included, and normalises it
 * (serial in upper case, model as its key): what every record goes through before it is
 * stored or started. */
pd_err pd_printer_rec_check(pd_printer_rec *rec, char *err, size_t errlen);
/* One line per field: its name, whether it is required or its default, and its rule. */
void pd_printer_rec_help(FILE *out, const char *indent);

#endif
