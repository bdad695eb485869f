#include "core/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

X509_STORE *pd_tls_pem_store(const char *pem, int len)
{
    X509_STORE *store = X509_STORE_new();
    BIO *bio = BIO_new_mem_buf(pem, len);
    int n = 0;
    X509 *x;
    if (!store || !bio)
        goto fail;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error(); /* the loop ends on a "no start line" error by design */
    BIO_free(bio);
    if (n == 0) {
        X509_STORE_free(store);
        return NULL;
    }
    return store;
fail:
    BIO_free(bio);
    X509_STORE_free(store);
    return NULL;
}

const char *pd_tls_read_ca(const char *path, char **pem, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    const char *why = NULL;
    *pem = NULL;
    *len = 0;
    if (fd < 0 || fstat(fd, &st))
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size > PD_TLS_CA_FILE_MAX)
        why = "larger than 1 MiB";
    else if (!(*pem = malloc((size_t)st.st_size + 1)))
        why = "out of memory";
    while (!why && *len < (size_t)st.st_size) {
        ssize_t n = read(fd, *pem + *len, (size_t)st.st_size - *len);
        if (n <= 0)
            break; /* shrunk meanwhile: parse what was there */
        *len += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    return why;
}

pd_err pd_tls_trust_printer(SSL_CTX *ctx, const char *pem, size_t pem_len, const char *serial)
{
    X509_STORE *store = pd_tls_pem_store(pem ? pem : pd_bambu_ca_pem, pem ? (int)pem_len : -1);
    if (!store)
        return PD_ERR_TLS;
    SSL_CTX_set_cert_store(ctx, store);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx), serial, 0) == 1 ? PD_OK : PD_ERR_INVAL;
}
