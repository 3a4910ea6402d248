#include "ccurl.h"
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct ccurl_handle { CURL *easy; };

typedef struct { unsigned char *data; size_t len, cap, limit; int limit_hit; } buffer;

static size_t append(buffer *b, const void *src, size_t n) {
    if (b->limit && b->len + n > b->limit) { b->limit_hit = 1; return 0; }  // makes curl abort
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p) return 0;
        b->data = p; b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
    return append((buffer *)ud, ptr, size * nmemb);
}

void ccurl_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

ccurl_handle *ccurl_open(void) {
    ccurl_handle *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->easy = curl_easy_init();
    if (!h->easy) { free(h); return NULL; }
    return h;
}

void ccurl_close(ccurl_handle *h) {
    if (!h) return;
    curl_easy_cleanup(h->easy);
    free(h);
}

int ccurl_perform(ccurl_handle *h, const ccurl_request *req, ccurl_response *resp) {
    memset(resp, 0, sizeof *resp);
    CURL *c = h->easy;
    curl_easy_reset(c);  // keeps the connection cache, drops old options
    buffer body = {0}, head = {0};
    body.limit = req->max_body_bytes;
    char errbuf[CURL_ERROR_SIZE] = {0};
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; i < req->header_count; i++) hdrs = curl_slist_append(hdrs, req->headers[i]);

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    if (req->timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    if (req->connect_timeout_ms > 0) curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    const char *m = req->method ? req->method : "GET";
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    }
    if (req->body || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_length);
    }
    if (req->aws_sigv4) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, req->aws_sigv4);
        if (req->userpwd) curl_easy_setopt(c, CURLOPT_USERPWD, req->userpwd);
    }

    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    resp->curl_code = (int)rc;
    resp->body_limit_hit = body.limit_hit;
    if (rc != CURLE_OK) {
        strncpy(resp->error, errbuf[0] ? errbuf : curl_easy_strerror(rc), sizeof resp->error - 1);
        free(body.data); free(head.data);
        return (int)rc;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = body.data; resp->body_length = body.len;
    resp->headers = (char *)head.data; resp->headers_length = head.len;
    return 0;
}

void ccurl_response_free(ccurl_response *resp) {
    free(resp->body); free(resp->headers);
    resp->body = NULL; resp->headers = NULL;
}
