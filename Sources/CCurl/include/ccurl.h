#ifndef CCURL_H
#define CCURL_H
#include <stddef.h>

// One HTTP request, performed synchronously with a reusable easy handle.
// libcurl's curl_easy_setopt is variadic, which Swift cannot call; this shim
// exposes the handful of options the project uses with plain C types.

typedef struct ccurl_handle ccurl_handle;

typedef struct {
    const char *method;          // "GET", "POST", "PUT", "HEAD", "DELETE"
    const char *url;
    const char *const *headers;  // "Name: value" strings
    size_t header_count;
    const unsigned char *body;   // request body (may be NULL)
    size_t body_length;
    long timeout_ms;             // whole-request timeout, 0 = none
    long connect_timeout_ms;
    const char *aws_sigv4;       // e.g. "aws:amz:us-east-1:s3", NULL = unsigned
    const char *userpwd;         // "KEY:SECRET" for sigv4, NULL otherwise
    size_t max_body_bytes;       // abort when the response body grows past this, 0 = no cap
} ccurl_request;

typedef struct {
    long status;                 // HTTP status, 0 when the transfer failed
    int curl_code;               // CURLcode, 0 = OK
    char error[256];             // libcurl's error text when curl_code != 0
    unsigned char *body;         // malloc'd, caller frees with ccurl_free
    size_t body_length;
    char *headers;               // raw response header block, malloc'd
    size_t headers_length;
    int body_limit_hit;          // 1 when the transfer stopped at max_body_bytes
} ccurl_response;

void ccurl_global_init(void);
ccurl_handle *ccurl_open(void);
void ccurl_close(ccurl_handle *h);
// Returns 0 when a response (any status) arrived, the CURLcode otherwise.
int ccurl_perform(ccurl_handle *h, const ccurl_request *req, ccurl_response *resp);
void ccurl_response_free(ccurl_response *resp);


// Byte ranges of one URL fetched in parallel straight into caller buffers: a pool of easy
// handles on one multi handle, whose connection cache keeps connections alive between calls.
// Not thread-safe: one pool per thread.
typedef struct ccurl_pool ccurl_pool;

typedef struct {
    unsigned long long offset;
    size_t size;
    unsigned char *dest;         // exactly `size` bytes are written here on success
    long status;                 // HTTP status of the answer, 0 when none arrived
    int curl_code;               // CURLcode, 0 = OK
    size_t received;             // body bytes received
} ccurl_range;

ccurl_pool *ccurl_pool_open(int max_parallel);
void ccurl_pool_close(ccurl_pool *p);
// Returns 0 when every range came back complete as a 206 (or a 200 for a range at offset 0
// that is the whole file); 1 otherwise, with `error` describing the first failure.
int ccurl_fetch_ranges(ccurl_pool *p, const char *url, ccurl_range *ranges, size_t count,
                       long connect_timeout_ms, long low_speed_seconds, char *error, size_t error_len);


// Many byte ranges of many URLs, all in flight together (up to the pool's size), each
// finished on its own: `on_done(ctx, i)` is called from the calling thread as soon as range i
// completed or failed, so a caller can decode while the rest downloads. A failure never
// abandons the other ranges. The ETag and the total object size (from Content-Range) of each
// answer are captured so a caller can notice an object that changed since it was indexed.
typedef struct {
    const char *url;
    unsigned long long offset;
    size_t size;
    unsigned char *dest;         // exactly `size` bytes are written here on success
    const char *aws_sigv4;       // e.g. "aws:amz:us-east-1:s3", NULL = unsigned
    const char *userpwd;         // "KEY:SECRET" for sigv4
    const char *const *headers;  // extra "Name: value" strings (e.g. x-amz-security-token)
    size_t header_count;
    // Results.
    long status;                 // HTTP status, 0 when no answer arrived
    int curl_code;               // CURLcode, 0 = OK
    size_t received;             // body bytes received
    unsigned long long total;    // object size from Content-Range ("bytes a-b/TOTAL"), 0 = unknown
    char etag[128];              // ETag header, "" when absent
    int ok;                      // 1 when complete: 206 (or 200 for a whole object from offset 0), `size` bytes
} ccurl_many_range;

// libcurl's text for a CURLcode.
const char *curl_easy_strerror_shim(int code);

typedef void (*ccurl_done_fn)(void *ctx, size_t index);

// Returns 0 when the loop ran to the end (check each range's `ok`), 1 on a multi-handle error.
int ccurl_fetch_many(ccurl_pool *p, ccurl_many_range *ranges, size_t count, long connect_timeout_ms,
                     long low_speed_seconds, ccurl_done_fn on_done, void *ctx);

#endif
