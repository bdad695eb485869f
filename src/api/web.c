#include "api/web.h"

static void h_site(pd_req *r)
{
    pd_req_reply_site(r, &pd_web_site);
}

/* The page shell needs no token: the data it shows comes from /api/v1, which does. */
const pd_route pd_api_web_routes[] = {
    {"FILES", "/", h_site, PD_ROUTE_OPEN},
};
const size_t pd_api_web_nroutes = sizeof pd_api_web_routes / sizeof *pd_api_web_routes;
