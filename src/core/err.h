/* One error enum for the whole daemon; HTTP status and API code are derived in one place. */
#ifndef PD_ERR_H
#define PD_ERR_H

typedef enum pd_err {
    PD_OK = 0,
    PD_ERR_NOMEM,        /* allocation failed */
    PD_ERR_INVAL,        /* bad argument, or a request that breaks a business rule */
    PD_ERR_FIELD,        /* a request field has the wrong type, range or form (422) */
    PD_ERR_PARSE,        /* malformed input (JSON, INI, …) */
    PD_ERR_TOOBIG,       /* input over its bound */
    PD_ERR_NOTFOUND,
    PD_ERR_EXISTS,       /* duplicate (e.g. serial already registered) */
    PD_ERR_AUTH,         /* missing/invalid credentials */
    PD_ERR_FORBIDDEN,
    PD_ERR_IO,
    PD_ERR_DB,
    PD_ERR_DB_BUSY,      /* another process holds the database's write lock: retry later */
    PD_ERR_TLS,
    PD_ERR_OFFLINE,      /* printer not connected */
    PD_ERR_TIMEOUT,      /* printer did not acknowledge in time */
    PD_ERR_REFUSED,      /* printer answered "failed" */
    PD_ERR_SIGNED,       /* firmware requires signed commands (Developer Mode off) */
    PD_ERR_BUSY,         /* too many in flight / queue full */
    PD_ERR_UNSUPPORTED,
    PD_ERR_METHOD,       /* HTTP method not allowed on an existing path */
    PD_ERR_SCHEMA,       /* database schema newer than this binary */
    PD_ERR_SLOW,         /* a request that did not arrive in time (408) */
    PD_ERR_CODING,       /* a transfer coding we do not decode (501) */
    PD_ERR_URI_LONG,     /* a request target over its bound (414) */
    PD_ERR_HEAD_BIG,     /* request headers over their bound (431) */
    PD_ERR_UPGRADE,      /* a protocol version we do not speak (426) */
    PD_ERR_OVERLOAD,     /* a bounded worker queue is full: retry later (503) */
    PD_ERR_INTERNAL,
    PD_ERR__COUNT
} pd_err;

const char *pd_strerror(pd_err e);   /* human sentence */
const char *pd_err_code(pd_err e);   /* stable API code, e.g. "not_found" */
int pd_err_http_status(pd_err e);

#endif
