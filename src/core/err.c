#include "core/err.h"

static const struct {
    const char *code;
    const char *text;
    int status;
} pd_errs[PD_ERR__COUNT] = {
    [PD_OK]              = {"ok", "success", 200},
    [PD_ERR_NOMEM]       = {"no_memory", "out of memory", 503},
    [PD_ERR_INVAL]       = {"invalid", "invalid argument", 400},
    [PD_ERR_FIELD]       = {"invalid_field", "invalid request field", 422},
    [PD_ERR_PARSE]       = {"parse_error", "malformed input", 400},
    [PD_ERR_TOOBIG]      = {"too_large", "input too large", 413},
    [PD_ERR_NOTFOUND]    = {"not_found", "not found", 404},
    [PD_ERR_EXISTS]      = {"conflict", "already exists", 409},
    [PD_ERR_AUTH]        = {"unauthorized", "missing or invalid credentials", 401},
    [PD_ERR_FORBIDDEN]   = {"forbidden", "forbidden", 403},
    [PD_ERR_IO]          = {"io_error", "input/output error", 500},
    [PD_ERR_DB]          = {"database_error", "database error", 500},
    [PD_ERR_DB_BUSY]     = {"database_busy",
                            "the database is locked by another process (an import or a backup); "
                            "retry in a moment", 503},
    [PD_ERR_TLS]         = {"tls_error", "TLS error", 502},
    [PD_ERR_OFFLINE]     = {"printer_offline", "printer is not connected", 409},
    [PD_ERR_TIMEOUT]     = {"printer_timeout", "printer did not acknowledge in time", 504},
    [PD_ERR_REFUSED]     = {"printer_refused", "printer refused the command", 502},
    [PD_ERR_SIGNED]      = {"signature_required",
                            "printer firmware requires signed commands: enable LAN-only mode and "
                            "Developer Mode on the printer", 409},
    [PD_ERR_BUSY]        = {"busy", "too many requests in flight", 429},
    [PD_ERR_UNSUPPORTED] = {"unsupported", "not supported", 400},
    [PD_ERR_METHOD]      = {"method_not_allowed", "method not allowed", 405},
    [PD_ERR_SCHEMA]      = {"schema_too_new",
                            "database schema is newer than this printdeck understands", 500},
    [PD_ERR_SLOW]        = {"request_timeout", "request not received in time", 408},
    [PD_ERR_CODING]      = {"not_implemented", "transfer coding not implemented", 501},
    [PD_ERR_URI_LONG]    = {"uri_too_long", "request target too long", 414},
    [PD_ERR_HEAD_BIG]    = {"headers_too_large", "request headers too large", 431},
    [PD_ERR_UPGRADE]     = {"upgrade_required", "protocol version not supported", 426},
    [PD_ERR_OVERLOAD]    = {"overloaded", "the server is at capacity; retry in a moment", 503},
    [PD_ERR_INTERNAL]    = {"internal", "internal error", 500},
};

static int pd_err_valid(pd_err e) { return e >= PD_OK && e < PD_ERR__COUNT; }

const char *pd_strerror(pd_err e) { return pd_err_valid(e) ? pd_errs[e].text : "unknown error"; }
const char *pd_err_code(pd_err e) { return pd_err_valid(e) ? pd_errs[e].code : "internal"; }
int pd_err_http_status(pd_err e) { return pd_err_valid(e) ? pd_errs[e].status : 500; }
