/* The dashboard at / (docs/web.md): the web build, embedded by tools/webgen. Only the daemon
 * links this (with the generated table), so the unit tests and fuzzers build without node. */
#ifndef PD_API_WEB_H
#define PD_API_WEB_H

#include <stddef.h>

#include "http/http.h"

extern const pd_http_site pd_web_site;  /* generated: build/gen/web_site.c */
extern const pd_route pd_api_web_routes[];
extern const size_t pd_api_web_nroutes;

#endif
