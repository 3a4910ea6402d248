#include "ccurl.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

// MARK: parallel byte ranges

struct ccurl_pool {
    CURLM *multi;
    CURL **easy;
    int count;
};

typedef struct {
    ccurl_range *range;
    int overflow;
} range_sink;

static size_t range_write(char *ptr, size_t size, size_t nmemb, void *ud) {
    range_sink *k = ud;
    size_t n = size * nmemb;
    if (k->range->received + n > k->range->size) { k->overflow = 1; return 0; }  // aborts the transfer
    memcpy(k->range->dest + k->range->received, ptr, n);
    k->range->received += n;
    return n;
}

ccurl_pool *ccurl_pool_open(int max_parallel) {
    if (max_parallel < 1) max_parallel = 1;
    ccurl_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->multi = curl_multi_init();
    p->easy = calloc((size_t)max_parallel, sizeof(CURL *));
    if (!p->multi || !p->easy) { ccurl_pool_close(p); return NULL; }
    for (int i = 0; i < max_parallel; i++) {
        p->easy[i] = curl_easy_init();
        if (!p->easy[i]) { ccurl_pool_close(p); return NULL; }
        p->count++;
    }
    curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_parallel);
    return p;
}

void ccurl_pool_close(ccurl_pool *p) {
    if (!p) return;
    for (int i = 0; i < p->count; i++) curl_easy_cleanup(p->easy[i]);
    free(p->easy);
    if (p->multi) curl_multi_cleanup(p->multi);
    free(p);
}

static void setup_range(CURL *c, const char *url, ccurl_range *r, range_sink *sink, char *rangebuf,
                        long connect_timeout_ms, long low_speed_seconds) {
    curl_easy_reset(c);  // keeps connections, drops old options
    snprintf(rangebuf, 64, "%llu-%llu", r->offset, r->offset + (unsigned long long)r->size - 1);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_RANGE, rangebuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    // Large receive chunks: fewer system calls for megabyte-sized tiles.
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, range_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(c, CURLOPT_PRIVATE, sink);
    if (connect_timeout_ms > 0) curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    if (low_speed_seconds > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, low_speed_seconds);
    }
}

int ccurl_fetch_ranges(ccurl_pool *p, const char *url, ccurl_range *ranges, size_t count,
                       long connect_timeout_ms, long low_speed_seconds, char *error, size_t error_len) {
    if (error && error_len) error[0] = 0;
    if (count == 0) return 0;
    range_sink *sinks = calloc(count, sizeof *sinks);
    char (*rangebufs)[64] = calloc((size_t)p->count, sizeof *rangebufs);
    if (!sinks || !rangebufs) {
        free(sinks); free(rangebufs);
        if (error && error_len) snprintf(error, error_len, "out of memory");
        return 1;
    }
    size_t next = 0, done = 0;
    int failed = 0;
    int free_slots[p->count > 0 ? p->count : 1], nfree = 0;
    for (int i = p->count - 1; i >= 0; i--) free_slots[nfree++] = i;
    // On the first failure the remaining transfers are abandoned: the caller reads another way.
    while (done < count && !failed) {
        while (next < count && nfree > 0) {
            int slot = free_slots[--nfree];
            ccurl_range *r = &ranges[next];
            r->status = 0; r->curl_code = 0; r->received = 0;
            sinks[next].range = r;
            sinks[next].overflow = 0;
            setup_range(p->easy[slot], url, r, &sinks[next], rangebufs[slot], connect_timeout_ms, low_speed_seconds);
            curl_multi_add_handle(p->multi, p->easy[slot]);
            next++;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(p->multi, &running);
        if (mc != CURLM_OK) {
            if (error && error_len) snprintf(error, error_len, "curl multi: %s", curl_multi_strerror(mc));
            failed = 1;
            break;
        }
        int queued = 0;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(p->multi, &queued))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *c = msg->easy_handle;
            range_sink *sink = NULL;
            curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&sink);
            ccurl_range *r = sink->range;
            r->curl_code = (int)msg->data.result;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
            curl_multi_remove_handle(p->multi, c);
            for (int i = 0; i < p->count; i++) if (p->easy[i] == c) free_slots[nfree++] = i;
            done++;
            int ok = r->curl_code == 0 && r->received == r->size &&
                     (r->status == 206 || (r->status == 200 && r->offset == 0));
            if (!ok && !failed) {
                failed = 1;
                if (error && error_len) {
                    if (sink->overflow)
                        snprintf(error, error_len, "HTTP %ld: more than the %zu bytes asked for (range ignored?)", r->status, r->size);
                    else if (r->curl_code != 0)
                        snprintf(error, error_len, "%s", curl_easy_strerror((CURLcode)r->curl_code));
                    else
                        snprintf(error, error_len, "HTTP %ld, %zu of %zu bytes", r->status, r->received, r->size);
                }
            }
        }
        if (!failed && done < count && running > 0) curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
    }
    for (int i = 0; i < p->count; i++) curl_multi_remove_handle(p->multi, p->easy[i]);
    free(sinks); free(rangebufs);
    return failed;
}

// MARK: many ranges of many URLs

typedef struct {
    ccurl_many_range *range;
    struct curl_slist *headers;
    int overflow;
} many_sink;

static size_t many_write(char *ptr, size_t size, size_t nmemb, void *ud) {
    many_sink *k = ud;
    size_t n = size * nmemb;
    if (k->range->received + n > k->range->size) { k->overflow = 1; return 0; }
    memcpy(k->range->dest + k->range->received, ptr, n);
    k->range->received += n;
    return n;
}

// Case-insensitive header prefix match; returns the value start or NULL.
static const char *header_value(const char *line, size_t len, const char *name) {
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') return NULL;
    const char *v = line + n + 1;
    while (v < line + len && (*v == ' ' || *v == '\t')) v++;
    return v;
}

static size_t many_header(char *ptr, size_t size, size_t nmemb, void *ud) {
    many_sink *k = ud;
    size_t n = size * nmemb;
    size_t len = n;
    while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n')) len--;
    // A new response (after a redirect) starts with its status line: forget the old headers.
    if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) { k->range->etag[0] = 0; k->range->total = 0; return n; }
    const char *v;
    if ((v = header_value(ptr, len, "ETag"))) {
        size_t m = (size_t)(ptr + len - v);
        if (m >= sizeof k->range->etag) m = sizeof k->range->etag - 1;
        memcpy(k->range->etag, v, m);
        k->range->etag[m] = 0;
    } else if ((v = header_value(ptr, len, "Content-Range"))) {
        const char *slash = memchr(v, '/', (size_t)(ptr + len - v));
        if (slash && slash + 1 < ptr + len && slash[1] != '*') k->range->total = strtoull(slash + 1, NULL, 10);
    } else if ((v = header_value(ptr, len, "Content-Length")) && k->range->offset == 0 && k->range->total == 0) {
        // A 200 for the whole object: its length is the object's size (a 206 overrides below).
        k->range->total = strtoull(v, NULL, 10);
    }
    return n;
}

int ccurl_fetch_many(ccurl_pool *p, ccurl_many_range *ranges, size_t count, long connect_timeout_ms,
                     long low_speed_seconds, ccurl_done_fn on_done, void *ctx) {
    if (count == 0) return 0;
    many_sink *sinks = calloc(count, sizeof *sinks);
    char (*rangebufs)[64] = calloc((size_t)p->count, sizeof *rangebufs);
    if (!sinks || !rangebufs) { free(sinks); free(rangebufs); return 1; }
    size_t next = 0, done = 0;
    int failed = 0;
    int free_slots[p->count > 0 ? p->count : 1], nfree = 0;
    for (int i = p->count - 1; i >= 0; i--) free_slots[nfree++] = i;
    while (done < count && !failed) {
        while (next < count && nfree > 0) {
            int slot = free_slots[--nfree];
            ccurl_many_range *r = &ranges[next];
            r->status = 0; r->curl_code = 0; r->received = 0; r->total = 0; r->etag[0] = 0; r->ok = 0;
            many_sink *k = &sinks[next];
            k->range = r; k->overflow = 0; k->headers = NULL;
            CURL *c = p->easy[slot];
            curl_easy_reset(c);
            snprintf(rangebufs[slot], 64, "%llu-%llu", r->offset, r->offset + (unsigned long long)r->size - 1);
            curl_easy_setopt(c, CURLOPT_URL, r->url);
            curl_easy_setopt(c, CURLOPT_RANGE, rangebufs[slot]);
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
            curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
            curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
            curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024L);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, many_write);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, k);
            curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, many_header);
            curl_easy_setopt(c, CURLOPT_HEADERDATA, k);
            curl_easy_setopt(c, CURLOPT_PRIVATE, k);
            // HTTP/2 where a TLS server offers it (one connection, many streams); HTTP/1.1 keep-alive otherwise.
            curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
            curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
            for (size_t h = 0; h < r->header_count; h++) k->headers = curl_slist_append(k->headers, r->headers[h]);
            if (k->headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, k->headers);
            if (r->aws_sigv4) {
                curl_easy_setopt(c, CURLOPT_AWS_SIGV4, r->aws_sigv4);
                if (r->userpwd) curl_easy_setopt(c, CURLOPT_USERPWD, r->userpwd);
            }
            if (connect_timeout_ms > 0) curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
            if (low_speed_seconds > 0) {
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
                curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, low_speed_seconds);
            }
            curl_multi_add_handle(p->multi, c);
            next++;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(p->multi, &running);
        if (mc != CURLM_OK) { failed = 1; break; }
        int queued = 0;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(p->multi, &queued))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *c = msg->easy_handle;
            many_sink *k = NULL;
            curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&k);
            ccurl_many_range *r = k->range;
            r->curl_code = (int)msg->data.result;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
            curl_multi_remove_handle(p->multi, c);
            curl_slist_free_all(k->headers);
            k->headers = NULL;
            for (int i = 0; i < p->count; i++) if (p->easy[i] == c) free_slots[nfree++] = i;
            done++;
            // A range running past the end of the object is answered with the bytes up to the end.
            int to_end = r->total > 0 && r->offset + r->received == r->total && r->received < r->size;
            r->ok = r->curl_code == 0 && !k->overflow && (r->received == r->size || to_end) &&
                    (r->status == 206 || (r->status == 200 && r->offset == 0));
            if (on_done) on_done(ctx, (size_t)(r - ranges));
        }
        if (done < count && running > 0) curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
    }
    for (int i = 0; i < p->count; i++) curl_multi_remove_handle(p->multi, p->easy[i]);
    for (size_t i = 0; i < count; i++) curl_slist_free_all(sinks[i].headers);
    free(sinks); free(rangebufs);
    return failed;
}

const char *curl_easy_strerror_shim(int code) { return curl_easy_strerror((CURLcode)code); }
