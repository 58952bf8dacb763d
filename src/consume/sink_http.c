/*-------------------------------------------------------------------------
 *
 * sink_http.c
 *	  The HTTP webhook sink (--http URL): a POST per batch, over libcurl.
 *
 * Each batch is one request: POST URL with the body
 *
 *	{"slot":"s","batch":7,"end_lsn":"0/1A2B3C8","events":[{...},{...}]}
 *
 * where the events are the batch's event objects exactly as the plugin
 * wrote them (each starts with {"seq":), in commit order.  The headers:
 *
 *	Content-Type: application/json
 *	Idempotency-Key: SLOT/END_LSN	the same on every try of the batch
 *	X-Drivetribe-Slot: SLOT
 *	X-Drivetribe-End-LSN: END_LSN
 *	X-Drivetribe-Attempt: N			1 for the first try of this batch...
 *	X-Drivetribe-Signature: sha256=HEX	with --http-secret-file: the
 *									HMAC-SHA256 of the exact body, keyed by
 *									the file's content (a final newline is
 *									not part of the key)
 *	and each --http-header given.
 *
 * A 2xx status delivers the batch (the consumer records it and confirms
 * end_lsn to the server).  Anything else is a failed try whose message has
 * the status and the first bytes of the response: 3xx (redirects are not
 * followed: the body would not be sent again), 4xx, 5xx, a timeout
 * (--http-timeout, the whole request), a refused or broken connection.
 * The delivery thread retries the batch with backoff; the body, and so its
 * signature, is the same on every try of it.
 *
 * At-least-once: a batch whose response was lost (timeout, crash of the
 * consumer, restart) comes again.  After a restart the batches may be cut
 * differently (one batch's events in two, or two in one), so the
 * Idempotency-Key only recognises a batch resent by the same run; the
 * receiver dedupes durably by end_lsn (a batch whose end_lsn is not past
 * the last one it applied holds nothing new when it applies batches whole
 * and in order) or by each event's event_id.
 *
 * One CURL easy handle lives as long as the sink, so the connection is
 * kept alive from batch to batch.  The body is built in memory from the
 * batch's lines (batch_next_line): its size is about the batch's, which
 * --batch-bytes bounds (a single transaction bigger than that is a batch
 * of its own).  A stop request (SIGTERM) aborts a request in progress: the
 * batch is then not delivered, and comes again at the next start.
 *
 * The URL is never written to the log (it may hold credentials), nor are
 * the headers or the secret.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sink.h"

#define HTTP_SECRET_MAX 4096	/* bytes of key, at most */
#define HTTP_SNIPPET_MAX 200	/* bytes of a failed response kept for messages */

typedef struct HttpSink
{
	CURL	   *curl;
	struct curl_slist *fixed_headers;	/* Content-Type, --http-header... */
	unsigned char *secret;		/* NULL: no signature */
	size_t		secret_len;
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	char		snippet[HTTP_SNIPPET_MAX + 1];	/* the response's first bytes */
	size_t		snippet_len;
	char		curl_error[CURL_ERROR_SIZE];
} HttpSink;

/* headers the sink sets itself: --http-header may not name them */
static const char *const own_headers[] = {
	"content-type", "content-length", "idempotency-key", "expect",
	"transfer-encoding", "host", NULL
};

/*
 * Is this a header line we accept from --http-header: "Name: value", a
 * token for a name, no control characters, none of the sink's own?  On
 * false, why is in error.
 */
static bool
valid_header(const char *header, char *error, size_t error_size)
{
	const char *colon = strchr(header, ':');
	size_t		name_len;

	if (colon == NULL || colon == header)
	{
		snprintf(error, error_size, "\"NAME: VALUE\" is expected");
		return false;
	}
	name_len = (size_t) (colon - header);
	for (const char *p = header; p < colon; p++)
		if (!isalnum((unsigned char) *p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
		{
			snprintf(error, error_size, "the name is not an HTTP token");
			return false;
		}
	for (const char *p = colon + 1; *p; p++)
		if ((unsigned char) *p < 0x20 && *p != '\t')
		{
			snprintf(error, error_size, "the value has a control character");
			return false;
		}
	if (name_len >= 13 && strncasecmp(header, "x-drivetribe-", 13) == 0)
	{
		snprintf(error, error_size, "X-Drivetribe-* headers are the consumer's own");
		return false;
	}
	for (int i = 0; own_headers[i] != NULL; i++)
		if (strlen(own_headers[i]) == name_len &&
			strncasecmp(header, own_headers[i], name_len) == 0)
		{
			snprintf(error, error_size, "the consumer sets that header itself");
			return false;
		}
	return true;
}

/*
 * Read the HMAC key from --http-secret-file: its bytes, without a final
 * newline (LF or CRLF).  False after a message.
 */
static bool
read_secret(const char *path, HttpSink *hs)
{
	FILE	   *file = fopen(path, "rb");
	unsigned char *buf;
	size_t		len;

	if (file == NULL)
	{
		log_msg("could not open --http-secret-file \"%s\": %s", path, strerror(errno));
		return false;
	}
	buf = malloc(HTTP_SECRET_MAX + 1);
	if (buf == NULL)
	{
		fclose(file);
		log_msg("out of memory");
		return false;
	}
	len = fread(buf, 1, HTTP_SECRET_MAX + 1, file);
	if (ferror(file))
	{
		log_msg("could not read --http-secret-file \"%s\": %s", path, strerror(errno));
		fclose(file);
		OPENSSL_cleanse(buf, HTTP_SECRET_MAX + 1);
		free(buf);
		return false;
	}
	fclose(file);
	if (len > HTTP_SECRET_MAX)
	{
		log_msg("--http-secret-file \"%s\" is longer than %d bytes", path, HTTP_SECRET_MAX);
		OPENSSL_cleanse(buf, HTTP_SECRET_MAX + 1);
		free(buf);
		return false;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
	{
		log_msg("--http-secret-file \"%s\" is empty", path);
		free(buf);
		return false;
	}
	hs->secret = buf;
	hs->secret_len = len;
	return true;
}

/* make room for more bytes in the body; false when out of memory */
static bool
body_reserve(HttpSink *hs, size_t more)
{
	size_t		cap = hs->body_cap;
	char	   *grown;

	if (hs->body_len + more <= hs->body_cap)
		return true;
	if (cap == 0)
		cap = 65536;
	while (cap < hs->body_len + more)
	{
		if (cap > ((size_t) 1 << 40))
			return false;
		cap *= 2;
	}
	grown = realloc(hs->body, cap);
	if (grown == NULL)
		return false;
	hs->body = grown;
	hs->body_cap = cap;
	return true;
}

static bool
body_append(HttpSink *hs, const char *data, size_t len)
{
	if (!body_reserve(hs, len))
		return false;
	memcpy(hs->body + hs->body_len, data, len);
	hs->body_len += len;
	return true;
}

/*
 * Build the request body from the batch's event lines.  False after
 * writing why into error.
 */
static bool
build_body(HttpSink *hs, const ConsumeOptions *opts, Batch *batch,
		   char *error, size_t error_size)
{
	char		head[256];
	const char *line;
	ssize_t		len;
	int64_t		n = 0;

	hs->body_len = 0;
	/* give back what an exceptionally big transaction's batch needed */
	if (hs->body_cap > ((size_t) 16 << 20) &&
		hs->body_cap / 4 > (size_t) batch->complete_bytes)
	{
		free(hs->body);
		hs->body = NULL;
		hs->body_cap = 0;
	}
	/* the lines and the envelope: reserve once (the slot name is [a-z0-9_]) */
	if (!body_reserve(hs, (size_t) batch->complete_bytes + sizeof(head) + 16))
	{
		snprintf(error, error_size, "out of memory for a request body of %ld bytes",
				 batch->complete_bytes);
		return false;
	}
	snprintf(head, sizeof(head),
			 "{\"slot\":\"%s\",\"batch\":%lld,\"end_lsn\":\"" LSN_FMT "\",\"events\":[",
			 opts->slot, (long long) batch->number, LSN_ARGS(batch->end));
	body_append(hs, head, strlen(head));
	if (!batch_rewind(batch))
	{
		snprintf(error, error_size, "could not read the batch file");
		return false;
	}
	while ((len = batch_next_line(batch, &line)) > 0)
	{
		if ((n++ > 0 && !body_append(hs, ",", 1)) ||
			!body_append(hs, line, (size_t) len))
		{
			snprintf(error, error_size, "out of memory for a request body");
			return false;
		}
	}
	if (len < 0)
	{
		snprintf(error, error_size, "could not read the batch file");
		return false;
	}
	if (n != batch->events)
	{
		snprintf(error, error_size, "the batch file holds %lld events, not %lld",
				 (long long) n, (long long) batch->events);
		return false;
	}
	if (!body_append(hs, "]}", 2))
	{
		snprintf(error, error_size, "out of memory for a request body");
		return false;
	}
	return true;
}

/* libcurl's write callback: keep the response's first bytes, drop the rest */
static size_t
keep_snippet(char *data, size_t size, size_t nmemb, void *arg)
{
	HttpSink   *hs = arg;
	size_t		len = size * nmemb;
	size_t		room = HTTP_SNIPPET_MAX - hs->snippet_len;
	size_t		take = len < room ? len : room;

	memcpy(hs->snippet + hs->snippet_len, data, take);
	hs->snippet_len += take;
	hs->snippet[hs->snippet_len] = '\0';
	return len;
}

/* libcurl's progress callback: abort the request on a stop request */
static int
stop_requested(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			   curl_off_t ultotal, curl_off_t ulnow)
{
	(void) arg;
	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	return consume_stop_requested ? 1 : 0;
}

/* the response's first bytes, printable, on one line */
static void
printable_snippet(HttpSink *hs, char *out, size_t size)
{
	size_t		j = 0;

	for (size_t i = 0; i < hs->snippet_len && j + 1 < size; i++)
	{
		unsigned char c = (unsigned char) hs->snippet[i];

		out[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
	}
	out[j] = '\0';
}

/* the header NAME: VALUE appended to list; false when out of memory */
static bool
add_header(struct curl_slist **list, const char *name, const char *value)
{
	char		line[512];
	struct curl_slist *grown;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	grown = curl_slist_append(*list, line);
	if (grown == NULL)
		return false;
	*list = grown;
	return true;
}

static bool
http_deliver(Sink *sink, Batch *batch, int attempt, char *error,
			 size_t error_size)
{
	HttpSink   *hs = sink->private_data;
	const ConsumeOptions *opts = sink->opts;
	struct curl_slist *headers = NULL;
	char		value[256];
	char		end[32];
	CURLcode	res;
	long		status = 0;
	bool		ok = false;

	if (!build_body(hs, opts, batch, error, error_size))
		return false;

	/* the batch's own headers, then the fixed ones */
	snprintf(end, sizeof(end), LSN_FMT, LSN_ARGS(batch->end));
	snprintf(value, sizeof(value), "%s/%s", opts->slot, end);
	ok = add_header(&headers, "Idempotency-Key", value) &&
		add_header(&headers, "X-Drivetribe-Slot", opts->slot) &&
		add_header(&headers, "X-Drivetribe-End-LSN", end);
	snprintf(value, sizeof(value), "%d", attempt);
	ok = ok && add_header(&headers, "X-Drivetribe-Attempt", value);
	snprintf(value, sizeof(value), "%lld", (long long) batch->events);
	ok = ok && add_header(&headers, "X-Drivetribe-Events", value);
	if (ok && hs->secret != NULL)
	{
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;
		char		hex[2 * EVP_MAX_MD_SIZE + 8];

		if (HMAC(EVP_sha256(), hs->secret, (int) hs->secret_len,
				 (const unsigned char *) hs->body, hs->body_len,
				 mac, &mac_len) == NULL)
		{
			curl_slist_free_all(headers);
			snprintf(error, error_size, "could not compute the HMAC of the request body");
			return false;
		}
		strcpy(hex, "sha256=");
		for (unsigned int i = 0; i < mac_len; i++)
			snprintf(hex + 7 + 2 * i, 3, "%02x", mac[i]);
		ok = add_header(&headers, "X-Drivetribe-Signature", hex);
	}
	for (struct curl_slist *h = hs->fixed_headers; ok && h != NULL; h = h->next)
	{
		struct curl_slist *grown = curl_slist_append(headers, h->data);

		ok = grown != NULL;
		if (ok)
			headers = grown;
	}
	if (!ok)
	{
		curl_slist_free_all(headers);
		snprintf(error, error_size, "out of memory for the request headers");
		return false;
	}

	hs->snippet_len = 0;
	hs->snippet[0] = '\0';
	hs->curl_error[0] = '\0';
	curl_easy_setopt(hs->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(hs->curl, CURLOPT_POSTFIELDS, hs->body);
	curl_easy_setopt(hs->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) hs->body_len);
	res = curl_easy_perform(hs->curl);
	curl_easy_setopt(hs->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);

	if (res != CURLE_OK)
	{
		if (res == CURLE_ABORTED_BY_CALLBACK)
			snprintf(error, error_size, "http request aborted: the consumer is stopping");
		else if (res == CURLE_OPERATION_TIMEDOUT)
			snprintf(error, error_size, "http request timed out after %d s (--http-timeout): %s",
					 opts->http_timeout_s,
					 hs->curl_error[0] ? hs->curl_error : curl_easy_strerror(res));
		else
			snprintf(error, error_size, "http request failed: %s",
					 hs->curl_error[0] ? hs->curl_error : curl_easy_strerror(res));
		return false;
	}
	curl_easy_getinfo(hs->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300)
		return true;
	{
		char		text[HTTP_SNIPPET_MAX + 1];

		printable_snippet(hs, text, sizeof(text));
		snprintf(error, error_size, "http status %ld%s%s%s", status,
				 status >= 300 && status < 400 ? " (redirects are not followed)" : "",
				 text[0] ? ": " : "", text);
	}
	return false;
}

static void
http_shutdown(Sink *sink)
{
	HttpSink   *hs = sink->private_data;

	if (hs == NULL)
		return;
	if (hs->curl != NULL)
		curl_easy_cleanup(hs->curl);
	curl_slist_free_all(hs->fixed_headers);
	if (hs->secret != NULL)
	{
		OPENSSL_cleanse(hs->secret, hs->secret_len);
		free(hs->secret);
	}
	free(hs->body);
	free(hs);
	sink->private_data = NULL;
}

/*
 * Set up the HTTP sink: check the headers, read the secret, initialise
 * libcurl (curl_global_init is not thread safe: call this before the
 * delivery thread starts) and its one easy handle.  False after a message.
 */
bool
sink_http_init(Sink *sink, const ConsumeOptions *opts)
{
	HttpSink   *hs;
	char		error[256];
	bool		ok = true;

	memset(sink, 0, sizeof(*sink));
	sink->name = "http";
	sink->deliver = http_deliver;
	sink->shutdown = http_shutdown;
	sink->opts = opts;

	for (int i = 0; i < opts->http_header_count; i++)
		if (!valid_header(opts->http_headers[i], error, sizeof(error)))
		{
			/* the value may be a credential: name the header only */
			log_msg("invalid --http-header (number %d): %s", i + 1, error);
			return false;
		}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		log_msg("could not initialise libcurl");
		return false;
	}
	hs = calloc(1, sizeof(HttpSink));
	if (hs == NULL)
	{
		log_msg("out of memory");
		return false;
	}
	sink->private_data = hs;
	if (opts->http_secret_file != NULL && !read_secret(opts->http_secret_file, hs))
	{
		http_shutdown(sink);
		return false;
	}
	ok = add_header(&hs->fixed_headers, "Content-Type", "application/json");
	/* no "Expect: 100-continue" round trip before big bodies */
	ok = ok && (hs->fixed_headers = curl_slist_append(hs->fixed_headers, "Expect:")) != NULL;
	for (int i = 0; ok && i < opts->http_header_count; i++)
	{
		struct curl_slist *grown = curl_slist_append(hs->fixed_headers,
													 opts->http_headers[i]);

		ok = grown != NULL;
		if (ok)
			hs->fixed_headers = grown;
	}
	hs->curl = ok ? curl_easy_init() : NULL;
	if (hs->curl == NULL)
	{
		log_msg("could not initialise libcurl");
		http_shutdown(sink);
		return false;
	}
	curl_easy_setopt(hs->curl, CURLOPT_URL, opts->http_url);
	curl_easy_setopt(hs->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(hs->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(hs->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(hs->curl, CURLOPT_NOSIGNAL, 1L);	/* threads: no SIGALRM */
	curl_easy_setopt(hs->curl, CURLOPT_TIMEOUT, (long) opts->http_timeout_s);
	curl_easy_setopt(hs->curl, CURLOPT_CONNECTTIMEOUT,
					 (long) (opts->http_timeout_s < 10 ? opts->http_timeout_s : 10));
	curl_easy_setopt(hs->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(hs->curl, CURLOPT_USERAGENT, "drivetribe-consume");
	curl_easy_setopt(hs->curl, CURLOPT_ERRORBUFFER, hs->curl_error);
	curl_easy_setopt(hs->curl, CURLOPT_WRITEFUNCTION, keep_snippet);
	curl_easy_setopt(hs->curl, CURLOPT_WRITEDATA, hs);
	curl_easy_setopt(hs->curl, CURLOPT_XFERINFOFUNCTION, stop_requested);
	curl_easy_setopt(hs->curl, CURLOPT_NOPROGRESS, 0L);
	return true;
}
