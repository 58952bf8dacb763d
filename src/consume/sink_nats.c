/*-------------------------------------------------------------------------
 *
 * sink_nats.c
 *	  The NATS JetStream sink (--nats=HOST:PORT): each event becomes one
 *	  message of a JetStream stream, deduplicated by its event_id.
 *
 * The sink speaks the NATS client protocol (a text protocol over TCP)
 * itself: it needs four verbs, and this way every buffer and timeout is
 * its own.  Debian 12 packages the C client (libnats-dev 3.4), which
 * would bring TLS and authentication; this sink has neither.  The
 * protocol it speaks:
 *
 *	server: INFO {...}					on connecting
 *	client: CONNECT {"verbose":false,"pedantic":false,"headers":true,
 *			"no_responders":true,...}
 *	client: PING						server: PONG (the handshake is done)
 *	client: SUB <inbox>.> 1				where the acknowledgements come
 *
 * and for each event of a batch, in commit order:
 *
 *	HPUB <subject> <inbox>.<try>.<n> <header bytes> <total bytes>
 *	NATS/1.0
 *	Nats-Msg-Id: <event_id>
 *
 *	<the event's JSON object, as the plugin wrote it>
 *
 * All of a batch's publishes are sent one after another (pipelined), and
 * JetStream answers each one on its reply subject with a PubAck:
 * {"stream":"DT","seq":N} (stored), the same with "duplicate":true (a
 * message with that Nats-Msg-Id is in the stream already: dropped), or
 * {"error":{...}}.  A publish to a subject no stream listens on is
 * answered by the server itself with a 503 status (HMSG, "no responders",
 * as CONNECT asked).  The batch is delivered when every one of its events
 * has a positive PubAck (a duplicate is one: the event is in the stream);
 * an error PubAck, a 503, a -ERR from the server, a broken connection or
 * the deadline (--nats-timeout, for the whole try) fails the try: the
 * connection is closed, and the next try connects again and publishes the
 * whole batch again.  Writing and reading overlap (poll), so a big batch
 * never waits on acknowledgements the sink does not read.  The server's
 * PINGs are answered, while a batch is out and, at the start of the next
 * one, those that came in between (a connection the server closed in
 * between, e.g. for unanswered PINGs or a restart, is connected again
 * before the batch, without failing a try).
 *
 * The guarantee: JetStream drops a message whose Nats-Msg-Id it has
 * stored within the stream's duplicate window (duplicate_window, 2 min by
 * default), so what comes again -- the rest of a batch whose try failed
 * half way, a batch the consumer delivered but had not recorded when it
 * was killed, a batch whose acknowledgements were lost to a timeout -- is
 * not stored twice, as long as it comes again within that window: exactly
 * once then, at least once beyond it (event_id, in the header and in the
 * event, is the reader's dedupe key).  JetStream applies one connection's
 * publishes in order, so the stream is in commit order.  Durability is the
 * stream's: a file stream syncs to disk on its own schedule (sync_interval,
 * 2 min by default), so a crash of the server's host can lose what it
 * acknowledged (docs/sink-nats.md).
 *
 * Plain TCP only: no TLS, no authentication (a server that asks for
 * either is refused with a message).  No global state: everything is in
 * the sink's NatsSink.  Nothing the server sends can overrun a buffer:
 * control lines and messages are bounded by the input buffer, each length
 * is checked before it is used.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sink.h"

#define NATS_DEFAULT_PORT 4222
#define NATS_IN_SIZE 65536		/* a control line or a message, at most */
#define NATS_LINE_MAX 4096		/* a control line other than INFO */
#define NATS_SNIPPET 300		/* bytes of a server text kept for messages */

typedef struct NatsSink
{
	int			fd;				/* -1: not connected */
	char		host[256];
	char		port[8];
	char		inbox[40];		/* _INBOX.<random hex>, new per connection */
	long		max_payload;	/* from INFO: headers and data, at most */
	int			connects;
	int64_t		tries;			/* numbers the reply subjects' tries */
	/* input: bytes read and not yet parsed */
	char		in[NATS_IN_SIZE];
	size_t		in_len;
	/* output: the batch's publishes (and PONGs), from out_sent on unsent */
	char	   *out;
	size_t		out_len;
	size_t		out_sent;
	size_t		out_cap;
	/* per event of the batch being delivered */
	int64_t    *seqs;			/* its seq (0: none found) */
	unsigned char *acked;		/* got its positive PubAck */
	size_t		events_cap;
	int64_t		acks;			/* positive PubAcks of this try */
	int64_t		duplicates;		/* of which "duplicate":true */
	const char *subject;		/* --nats-subject */
	char		stream_name[128];	/* from the last PubAck */
	int64_t		stream_seq;
	bool		pong;			/* the handshake's PONG came */
} NatsSink;

/*
 * Parse --nats: "HOST:PORT", "[IPV6]:PORT" or "HOST" (port 4222).  false
 * with the reason in error.
 */
static bool
nats_parse_address(const char *text, NatsSink *ns, char *error,
				   size_t error_size)
{
	long		p;
	const char *reason = parse_host_port(text, NATS_DEFAULT_PORT, ns->host,
										 sizeof(ns->host), &p,
										 "HOST:PORT is expected");

	if (reason != NULL)
	{
		snprintf(error, error_size, "invalid value \"%s\" for --nats: %s", text, reason);
		return false;
	}
	snprintf(ns->port, sizeof(ns->port), "%ld", p);
	return true;
}

/*
 * Is this a subject one may publish to: tokens separated by dots, none
 * empty, no wildcard token, no whitespace or control characters?
 */
static bool
nats_valid_subject(const char *subject)
{
	const char *token = subject;

	if (*subject == '\0' || strlen(subject) > 255)
		return false;
	for (const char *p = subject;; p++)
	{
		if (*p == '.' || *p == '\0')
		{
			if (p == token ||
				(p - token == 1 && (*token == '*' || *token == '>')))
				return false;
			if (*p == '\0')
				return true;
			token = p + 1;
		}
		else if ((unsigned char) *p <= ' ' || *p == 0x7f)
			return false;
	}
}

/* forget the connection (the next try connects again) */
static void
nats_disconnect(NatsSink *ns)
{
	if (ns->fd >= 0)
		close(ns->fd);
	ns->fd = -1;
	ns->in_len = 0;
	ns->out_len = ns->out_sent = 0;
}

/* milliseconds left until deadline (0 when past it) */
static int
nats_ms_left(double deadline)
{
	double		left = deadline - now_seconds();

	return left <= 0 ? 0 : (int) (left * 1000) + 1;
}

/* a server's text (an -ERR, an error's description), printable, bounded */
static void
nats_printable(const char *text, size_t len, char *out, size_t size)
{
	size_t		j = 0;

	for (size_t i = 0; i < len && i < NATS_SNIPPET && j + 1 < size; i++)
	{
		unsigned char c = (unsigned char) text[i];

		out[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
	}
	out[j] = '\0';
}

/* make room for more output bytes; false when out of memory */
static bool
nats_out_reserve(NatsSink *ns, size_t more)
{
	size_t		cap = ns->out_cap ? ns->out_cap : 65536;
	char	   *grown;

	if (ns->out_len + more <= ns->out_cap)
		return true;
	while (cap < ns->out_len + more)
	{
		if (cap > ((size_t) 1 << 40))
			return false;
		cap *= 2;
	}
	grown = realloc(ns->out, cap);
	if (grown == NULL)
		return false;
	ns->out = grown;
	ns->out_cap = cap;
	return true;
}

static bool
nats_out_append(NatsSink *ns, const char *data, size_t len)
{
	if (!nats_out_reserve(ns, len))
		return false;
	memcpy(ns->out + ns->out_len, data, len);
	ns->out_len += len;
	return true;
}

/*
 * The value of a JSON number member, e.g. 17 of ..."seq":17...; -1 when
 * absent or not a plain non-negative integer.
 */
static int64_t
nats_json_int(const char *text, size_t len, const char *key)
{
	const char *p = memmem(text, len, key, strlen(key));
	const char *end = text + len;
	int64_t		v = 0;
	int			digits = 0;

	if (p == NULL)
		return -1;
	for (p += strlen(key); p < end && *p == ' '; p++)
		;
	for (; p < end && isdigit((unsigned char) *p) && digits < 18; p++, digits++)
		v = v * 10 + (*p - '0');
	return digits > 0 ? v : -1;
}

/* is a JSON member true, e.g. ..."duplicate": true...? */
static bool
nats_json_true(const char *text, size_t len, const char *key)
{
	const char *p = memmem(text, len, key, strlen(key));
	const char *end = text + len;

	if (p == NULL)
		return false;
	for (p += strlen(key); p < end && *p == ' '; p++)
		;
	return end - p >= 4 && memcmp(p, "true", 4) == 0;
}

/*
 * The bytes of a JSON string member's value, e.g. abc of ..."kind":"abc"...
 * (escapes left as they are); false when absent or not a string.
 */
static bool
nats_json_string(const char *text, size_t len, const char *key,
				 const char **value, size_t *value_len)
{
	const char *p = memmem(text, len, key, strlen(key));
	const char *end = text + len;
	const char *q;

	if (p == NULL)
		return false;
	for (p += strlen(key); p < end && *p == ' '; p++)
		;
	if (p >= end || *p != '"')
		return false;
	for (q = ++p; q < end && *q != '"'; q += (*q == '\\' && q + 1 < end) ? 2 : 1)
		;
	if (q >= end)
		return false;
	*value = p;
	*value_len = q - p;
	return true;
}

/*
 * Write what is pending and read what came, for up to timeout_ms (0: no
 * waiting).  Returns 1 when it did something or the wait ended, 0 when the
 * server closed the connection, -1 with error set on an error.
 */
static int
nats_io(NatsSink *ns, int timeout_ms, char *error, size_t error_size)
{
	struct pollfd pfd = {ns->fd, POLLIN, 0};
	int			rc;

	if (ns->out_sent < ns->out_len)
		pfd.events |= POLLOUT;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0)
	{
		if (errno == EINTR)
			return 1;
		snprintf(error, error_size, "nats: poll failed: %s", strerror(errno));
		return -1;
	}
	if (rc == 0)
		return 1;
	if (pfd.revents & POLLOUT)
	{
		ssize_t		n = send(ns->fd, ns->out + ns->out_sent,
							 ns->out_len - ns->out_sent, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		{
			snprintf(error, error_size, "nats: could not send to %s:%s: %s",
					 ns->host, ns->port, strerror(errno));
			return -1;
		}
		if (n > 0)
			ns->out_sent += n;
		if (ns->out_sent == ns->out_len)
			ns->out_sent = ns->out_len = 0;
	}
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
	{
		ssize_t		n;

		if (ns->in_len >= sizeof(ns->in))
		{
			snprintf(error, error_size, "nats: the server sent a line or a message longer than %d bytes",
					 NATS_IN_SIZE);
			return -1;
		}
		n = recv(ns->fd, ns->in + ns->in_len, sizeof(ns->in) - ns->in_len, 0);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		{
			snprintf(error, error_size, "nats: could not read from %s:%s: %s",
					 ns->host, ns->port, strerror(errno));
			return -1;
		}
		if (n > 0)
			ns->in_len += n;
	}
	return 1;
}

/* drop the first n bytes of the input */
static void
nats_consume_input(NatsSink *ns, size_t n)
{
	memmove(ns->in, ns->in + n, ns->in_len - n);
	ns->in_len -= n;
}

/*
 * Handle a PubAck (or a 503 status: status != 0) that came on reply
 * subject `subject`.  false with error set when it fails the try.
 */
static bool
nats_handle_ack(NatsSink *ns, const char *subject, int status,
				const char *payload, size_t len, int64_t events,
				char *error, size_t error_size)
{
	char		prefix[80];
	size_t		prefix_len;
	char	   *end;
	long long	n;
	char		text[NATS_SNIPPET + 1];

	prefix_len = snprintf(prefix, sizeof(prefix), "%s.%lld.", ns->inbox,
						  (long long) ns->tries);
	if (strncmp(subject, prefix, prefix_len) != 0)
		return true;			/* an earlier try's: not ours to count */
	errno = 0;
	n = strtoll(subject + prefix_len, &end, 10);
	if (*end != '\0' || errno != 0 || n < 1 || n > events)
	{
		snprintf(error, error_size, "nats: an acknowledgement came on an unknown reply subject \"%.100s\"",
				 subject);
		return false;
	}
	if (status != 0)
	{
		if (status == 503)
			snprintf(error, error_size, "nats: no stream listens on subject \"%s\" (503 no responders): create the stream (docs/sink-nats.md); event %lld of the batch (seq %lld) was not stored",
					 ns->subject, n, (long long) ns->seqs[n - 1]);
		else
			snprintf(error, error_size, "nats: status %d for event %lld of the batch (seq %lld)",
					 status, n, (long long) ns->seqs[n - 1]);
		return false;
	}
	if (memmem(payload, len, "\"error\"", 7) != NULL)
	{
		const char *desc;
		size_t		desc_len;

		if (nats_json_string(payload, len, "\"description\":", &desc, &desc_len))
			nats_printable(desc, desc_len, text, sizeof(text));
		else
			nats_printable(payload, len, text, sizeof(text));
		{
			int64_t		code = nats_json_int(payload, len, "\"err_code\":");
			char		code_text[40] = "";

			if (code >= 0)
				snprintf(code_text, sizeof(code_text), " (err_code %lld)", (long long) code);
			snprintf(error, error_size, "nats: JetStream refused event %lld of the batch (seq %lld): %s%s",
					 n, (long long) ns->seqs[n - 1], text, code_text);
		}
		return false;
	}
	{
		int64_t		seq = nats_json_int(payload, len, "\"seq\":");
		const char *name;
		size_t		name_len;

		if (seq < 0 || !nats_json_string(payload, len, "\"stream\":", &name, &name_len))
		{
			nats_printable(payload, len, text, sizeof(text));
			snprintf(error, error_size, "nats: event %lld of the batch (seq %lld) got an answer that is no PubAck: %s",
					 n, (long long) ns->seqs[n - 1], len > 0 ? text : "(empty)");
			return false;
		}
		if (!ns->acked[n - 1])
		{
			ns->acked[n - 1] = 1;
			ns->acks++;
			if (nats_json_true(payload, len, "\"duplicate\":"))
				ns->duplicates++;
			if (name_len >= sizeof(ns->stream_name))
				name_len = sizeof(ns->stream_name) - 1;
			memcpy(ns->stream_name, name, name_len);
			ns->stream_name[name_len] = '\0';
			ns->stream_seq = seq;
		}
	}
	return true;
}

/*
 * Parse what the input holds: answer PINGs, count acknowledgements
 * (events: the batch's, 0 outside a batch), fail on -ERR.  Stops at an
 * incomplete line or message.  false with error set.
 */
static bool
nats_parse(NatsSink *ns, int64_t events, char *error, size_t error_size)
{
	for (;;)
	{
		char	   *eol = memmem(ns->in, ns->in_len, "\r\n", 2);
		size_t		line_len;
		char		line[NATS_LINE_MAX];
		char	   *tok[7];
		int			ntok = 0;
		char	   *save = NULL;

		if (eol == NULL)
		{
			if (ns->in_len >= NATS_LINE_MAX && strncmp(ns->in, "INFO", 4) != 0)
			{
				snprintf(error, error_size, "nats: the server sent a line longer than %d bytes",
						 NATS_LINE_MAX);
				return false;
			}
			return true;
		}
		line_len = eol - ns->in;
		if (line_len >= 4 && strncasecmp(ns->in, "INFO", 4) == 0)
		{
			/* an update of the server's INFO: nothing the sink needs */
			nats_consume_input(ns, line_len + 2);
			continue;
		}
		if (line_len >= sizeof(line))
		{
			snprintf(error, error_size, "nats: the server sent a line longer than %d bytes",
					 NATS_LINE_MAX);
			return false;
		}
		memcpy(line, ns->in, line_len);
		line[line_len] = '\0';
		if (strcasecmp(line, "PING") == 0)
		{
			if (!nats_out_append(ns, "PONG\r\n", 6))
			{
				snprintf(error, error_size, "out of memory");
				return false;
			}
			nats_consume_input(ns, line_len + 2);
			continue;
		}
		if (strcasecmp(line, "PONG") == 0)
		{
			ns->pong = true;
			nats_consume_input(ns, line_len + 2);
			continue;
		}
		if (strcasecmp(line, "+OK") == 0)
		{
			nats_consume_input(ns, line_len + 2);
			continue;
		}
		if (strncasecmp(line, "-ERR", 4) == 0)
		{
			char		text[NATS_SNIPPET + 1];

			nats_printable(line + 4, line_len - 4, text, sizeof(text));
			snprintf(error, error_size, "nats: the server answered -ERR%s", text);
			return false;
		}
		for (char *t = strtok_r(line, " \t", &save); t != NULL && ntok < 7;
			 t = strtok_r(NULL, " \t", &save))
			tok[ntok++] = t;
		if (ntok >= 4 && (strcasecmp(tok[0], "MSG") == 0 || strcasecmp(tok[0], "HMSG") == 0))
		{
			bool		hmsg = strcasecmp(tok[0], "HMSG") == 0;
			int			nsizes = hmsg ? 2 : 1;
			long long	hdr = 0,
						total;
			char	   *end;
			int			status = 0;
			const char *body;

			/* MSG subj sid [reply] total; HMSG subj sid [reply] hdr total */
			if (ntok != 3 + nsizes && ntok != 4 + nsizes)
			{
				snprintf(error, error_size, "nats: the server sent a malformed %s line", tok[0]);
				return false;
			}
			errno = 0;
			total = strtoll(tok[ntok - 1], &end, 10);
			if (*end != '\0' || errno != 0 || total < 0)
				total = -1;
			if (hmsg)
			{
				hdr = strtoll(tok[ntok - 2], &end, 10);
				if (*end != '\0' || errno != 0 || hdr < 0 || hdr > total)
					total = -1;
			}
			if (total < 0 || (size_t) total > sizeof(ns->in) - line_len - 4)
			{
				snprintf(error, error_size, "nats: the server sent a %s of a bad or too big size (limit %d bytes)",
						 tok[0], NATS_IN_SIZE - NATS_LINE_MAX);
				return false;
			}
			if (ns->in_len < line_len + 2 + (size_t) total + 2)
				return true;	/* the rest has not come yet */
			body = ns->in + line_len + 2;
			if (body[total] != '\r' || body[total + 1] != '\n')
			{
				snprintf(error, error_size, "nats: a %s's payload does not end with CRLF", tok[0]);
				return false;
			}
			if (hmsg)
			{
				/* "NATS/1.0 503" or "NATS/1.0 503 No Responders" first */
				if (hdr >= 12 && strncmp(body, "NATS/1.0 ", 9) == 0 &&
					isdigit((unsigned char) body[9]) && isdigit((unsigned char) body[10]) &&
					isdigit((unsigned char) body[11]))
					status = (body[9] - '0') * 100 + (body[10] - '0') * 10 + (body[11] - '0');
			}
			if (events > 0 &&
				!nats_handle_ack(ns, tok[1], status, body + hdr, (size_t) (total - hdr),
								 events, error, error_size))
				return false;
			nats_consume_input(ns, line_len + 2 + (size_t) total + 2);
			continue;
		}
		{
			char		text[NATS_SNIPPET + 1];

			nats_printable(ns->in, line_len, text, sizeof(text));
			snprintf(error, error_size, "nats: the server sent an unexpected line: %s", text);
			return false;
		}
	}
}

/*
 * Read the server's INFO line (the first thing it sends) and check what
 * it offers.  false with error set.
 */
static bool
nats_read_info(NatsSink *ns, double deadline, int timeout_s, char *error,
			   size_t error_size)
{
	char	   *eol;

	while ((eol = memmem(ns->in, ns->in_len, "\r\n", 2)) == NULL)
	{
		int			rc;

		if (nats_ms_left(deadline) == 0)
		{
			snprintf(error, error_size, "nats: timed out after %d s (--nats-timeout) waiting for the INFO of %s:%s",
					 timeout_s, ns->host, ns->port);
			return false;
		}
		rc = nats_io(ns, nats_ms_left(deadline), error, error_size);
		if (rc < 0)
			return false;
		if (rc == 0)
		{
			snprintf(error, error_size, "nats: %s:%s closed the connection before its INFO",
					 ns->host, ns->port);
			return false;
		}
	}
	{
		size_t		len = eol - ns->in;

		if (len < 5 || strncmp(ns->in, "INFO ", 5) != 0)
		{
			char		text[NATS_SNIPPET + 1];

			nats_printable(ns->in, len, text, sizeof(text));
			snprintf(error, error_size, "nats: %s:%s is no NATS server: it began with \"%.60s\"",
					 ns->host, ns->port, text);
			return false;
		}
		if (nats_json_true(ns->in, len, "\"tls_required\":"))
		{
			snprintf(error, error_size, "nats: %s:%s requires TLS, which --nats does not speak",
					 ns->host, ns->port);
			return false;
		}
		if (nats_json_true(ns->in, len, "\"auth_required\":"))
		{
			snprintf(error, error_size, "nats: %s:%s requires authentication, which --nats does not support",
					 ns->host, ns->port);
			return false;
		}
		if (!nats_json_true(ns->in, len, "\"headers\":"))
		{
			snprintf(error, error_size, "nats: %s:%s does not support headers (NATS 2.2 or later is needed for Nats-Msg-Id)",
					 ns->host, ns->port);
			return false;
		}
		ns->max_payload = (long) nats_json_int(ns->in, len, "\"max_payload\":");
		if (ns->max_payload <= 0)
			ns->max_payload = 1024 * 1024;
		nats_consume_input(ns, len + 2);
	}
	return true;
}

/* connect, read INFO, CONNECT, PING/PONG, SUB the inbox; false with error set */
static bool
nats_connect(Sink *sink, NatsSink *ns, char *error, size_t error_size)
{
	int			timeout_s = sink->opts->nats_timeout_s;
	double		deadline = now_seconds() + timeout_s;
	struct addrinfo hints = {0};
	struct addrinfo *res = NULL;
	int			rc;
	int			err = 0;
	unsigned char rnd[12];
	char		cmd[512];

	nats_disconnect(ns);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(ns->host, ns->port, &hints, &res)) != 0)
	{
		snprintf(error, error_size, "nats: could not resolve \"%s\": %s",
				 ns->host, gai_strerror(rc));
		return false;
	}
	for (struct addrinfo *ai = res; ai != NULL && ns->fd < 0; ai = ai->ai_next)
	{
		int			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
								ai->ai_protocol);
		struct pollfd pfd;
		socklen_t	len = sizeof(err);

		if (fd < 0)
		{
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		{
			if (errno != EINPROGRESS)
			{
				err = errno;
				close(fd);
				continue;
			}
			pfd.fd = fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			do
				rc = poll(&pfd, 1, nats_ms_left(deadline));
			while (rc < 0 && errno == EINTR);
			if (rc <= 0)
			{
				err = rc == 0 ? ETIMEDOUT : errno;
				close(fd);
				continue;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
			{
				if (err == 0)
					err = errno;
				close(fd);
				continue;
			}
		}
		ns->fd = fd;
	}
	freeaddrinfo(res);
	if (ns->fd < 0)
	{
		snprintf(error, error_size, "nats: could not connect to %s:%s: %s",
				 ns->host, ns->port, strerror(err ? err : ECONNREFUSED));
		return false;
	}
	{
		int			one = 1;

		(void) setsockopt(ns->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		(void) setsockopt(ns->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	}
	if (!nats_read_info(ns, deadline, timeout_s, error, error_size))
	{
		nats_disconnect(ns);
		return false;
	}

	/* a fresh inbox per connection: nothing of an earlier one comes here */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
	{
		snprintf(error, error_size, "nats: could not get random bytes for the inbox: %s",
				 strerror(errno));
		nats_disconnect(ns);
		return false;
	}
	strcpy(ns->inbox, "_INBOX.");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(ns->inbox + 7 + 2 * i, 3, "%02x", rnd[i]);
	snprintf(cmd, sizeof(cmd),
			 "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
			 "\"no_responders\":true,\"lang\":\"c\",\"version\":\"drivetribe\","
			 "\"name\":\"drivetribe-consume %s\"}\r\nPING\r\nSUB %s.> 1\r\n",
			 sink->opts->slot, ns->inbox);
	ns->pong = false;
	if (!nats_out_append(ns, cmd, strlen(cmd)))
	{
		snprintf(error, error_size, "out of memory");
		nats_disconnect(ns);
		return false;
	}
	while (!ns->pong || ns->out_len > 0)
	{
		if (nats_ms_left(deadline) == 0)
		{
			snprintf(error, error_size, "nats: timed out after %d s (--nats-timeout) in the handshake with %s:%s",
					 timeout_s, ns->host, ns->port);
			nats_disconnect(ns);
			return false;
		}
		rc = nats_io(ns, nats_ms_left(deadline), error, error_size);
		if (rc == 0)
			snprintf(error, error_size, "nats: %s:%s closed the connection during the handshake",
					 ns->host, ns->port);
		if (rc <= 0 || !nats_parse(ns, 0, error, error_size))
		{
			nats_disconnect(ns);
			return false;
		}
	}
	if (ns->connects++ > 0)
		log_msg("connected to nats %s:%s again", ns->host, ns->port);
	else
		log_verbose(sink->opts, "connected to nats %s:%s (max_payload %ld)",
					ns->host, ns->port, ns->max_payload);
	return true;
}

/*
 * Before a batch: handle what came since the last one (PINGs to answer),
 * and notice a connection the server closed meanwhile.  false when the
 * connection is gone (nothing is reported: the caller connects again).
 */
static bool
nats_check_idle(Sink *sink, NatsSink *ns)
{
	char		error[512];
	int			rc;

	for (int i = 0; i < 64; i++)
	{
		struct pollfd pfd = {ns->fd, POLLIN, 0};

		if (poll(&pfd, 1, 0) <= 0 && ns->out_len == 0)
			return true;
		rc = nats_io(ns, 0, error, sizeof(error));
		if (rc <= 0 || !nats_parse(ns, 0, error, sizeof(error)))
		{
			if (rc == 0)
				snprintf(error, sizeof(error), "the server closed it");
			log_msg("nats: the connection to %s:%s was lost between batches (%s): connecting again",
					ns->host, ns->port, error);
			(void) sink;
			nats_disconnect(ns);
			return false;
		}
	}
	return true;
}

/* make room for n events' bookkeeping; false when out of memory */
static bool
nats_reserve_events(NatsSink *ns, size_t n)
{
	int64_t    *seqs;
	unsigned char *acked;

	if (n <= ns->events_cap)
		return true;
	if ((seqs = realloc(ns->seqs, n * sizeof(*seqs))) == NULL)
		return false;
	ns->seqs = seqs;
	if ((acked = realloc(ns->acked, n)) == NULL)
		return false;
	ns->acked = acked;
	ns->events_cap = n;
	return true;
}

/*
 * Build the batch's publishes into the output buffer (after whatever is
 * pending there, e.g. a PONG).  false with error set.
 */
static bool
nats_build(Sink *sink, NatsSink *ns, Batch *batch, char *error,
		   size_t error_size)
{
	const char *subject = sink->opts->nats_subject;
	const char *line;
	ssize_t		len;
	int64_t		n = 0;

	if (!nats_reserve_events(ns, (size_t) batch->events) ||
		!nats_out_reserve(ns, (size_t) batch->complete_bytes +
						  (size_t) batch->events * (strlen(subject) + 200)))
	{
		snprintf(error, error_size, "out of memory for a batch of %lld events",
				 (long long) batch->events);
		return false;
	}
	if (!batch_rewind(batch))
	{
		snprintf(error, error_size, "could not read the batch file");
		return false;
	}
	while ((len = batch_next_line(batch, &line)) > 0)
	{
		const char *id;
		size_t		id_len;
		char		hdr[160];
		int			hdr_len;
		char		head[512];
		int			head_len;

		if (n >= batch->events)
		{
			snprintf(error, error_size, "the batch holds more lines than its %lld events",
					 (long long) batch->events);
			return false;
		}
		ns->seqs[n] = strncmp(line, "{\"seq\":", 7) == 0 ? nats_json_int(line, len, "{\"seq\":") : 0;
		ns->acked[n] = 0;
		n++;
		if (!nats_json_string(line, (size_t) len, "\"event_id\":", &id, &id_len) ||
			id_len == 0 || id_len > 64)
		{
			snprintf(error, error_size, "event %lld of the batch (seq %lld) has no event_id to use as Nats-Msg-Id",
					 (long long) n, (long long) ns->seqs[n - 1]);
			return false;
		}
		for (size_t i = 0; i < id_len; i++)
			if (!isxdigit((unsigned char) id[i]) && id[i] != '-')
			{
				snprintf(error, error_size, "event %lld of the batch (seq %lld) has an event_id that is no UUID",
						 (long long) n, (long long) ns->seqs[n - 1]);
				return false;
			}
		hdr_len = snprintf(hdr, sizeof(hdr), "NATS/1.0\r\nNats-Msg-Id: %.*s\r\n\r\n",
						   (int) id_len, id);
		if (hdr_len + len > ns->max_payload)
		{
			snprintf(error, error_size, "nats: event %lld of the batch (seq %lld) is %lld bytes with its header, more than the server's max_payload %ld",
					 (long long) n, (long long) ns->seqs[n - 1],
					 (long long) (hdr_len + len), ns->max_payload);
			return false;
		}
		head_len = snprintf(head, sizeof(head), "HPUB %s %s.%lld.%lld %d %lld\r\n",
							subject, ns->inbox, (long long) ns->tries,
							(long long) n, hdr_len, (long long) (hdr_len + len));
		if (!nats_out_append(ns, head, head_len) ||
			!nats_out_append(ns, hdr, hdr_len) ||
			!nats_out_append(ns, line, (size_t) len) ||
			!nats_out_append(ns, "\r\n", 2))
		{
			snprintf(error, error_size, "out of memory for a batch of %lld events",
					 (long long) batch->events);
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
	return true;
}

/* the first event of the batch without a positive PubAck (1-based) */
static int64_t
nats_first_unacked(NatsSink *ns, int64_t events)
{
	for (int64_t i = 0; i < events; i++)
		if (!ns->acked[i])
			return i + 1;
	return 0;
}

static bool
nats_deliver(Sink *sink, Batch *batch, int attempt, char *error,
			 size_t error_size)
{
	NatsSink   *ns = sink->private_data;
	int			timeout_s = sink->opts->nats_timeout_s;
	double		deadline;

	(void) attempt;
	if (ns->fd >= 0)
		(void) nats_check_idle(sink, ns);
	if (ns->fd < 0 && !nats_connect(sink, ns, error, error_size))
		return false;
	deadline = now_seconds() + timeout_s;
	ns->tries++;
	ns->acks = ns->duplicates = 0;
	if (!nats_build(sink, ns, batch, error, error_size))
	{
		/* nothing of it was sent; the output holds part of it: start over */
		nats_disconnect(ns);
		return false;
	}
	while (ns->acks < batch->events)
	{
		int			rc;

		if (nats_ms_left(deadline) == 0)
		{
			int64_t		first = nats_first_unacked(ns, batch->events);

			snprintf(error, error_size, "nats: timed out after %d s (--nats-timeout): %lld of the batch's %lld events acknowledged, %s; the first not acknowledged is event %lld (seq %lld)",
					 timeout_s, (long long) ns->acks, (long long) batch->events,
					 ns->out_len > 0 ? "not all of it sent" : "all of it sent",
					 (long long) first, (long long) ns->seqs[first - 1]);
			nats_disconnect(ns);
			return false;
		}
		rc = nats_io(ns, nats_ms_left(deadline), error, error_size);
		if (rc == 0)
		{
			int64_t		first = nats_first_unacked(ns, batch->events);

			snprintf(error, error_size, "nats: %s:%s closed the connection: %lld of the batch's %lld events acknowledged; the first not acknowledged is event %lld (seq %lld)",
					 ns->host, ns->port, (long long) ns->acks,
					 (long long) batch->events, (long long) first,
					 (long long) ns->seqs[first - 1]);
		}
		if (rc <= 0 || !nats_parse(ns, batch->events, error, error_size))
		{
			nats_disconnect(ns);
			return false;
		}
	}
	if (ns->duplicates > 0)
		log_msg("nats: batch %lld (%lld events up to " LSN_FMT "): %lld of its events were in stream %s already (same Nats-Msg-Id): dropped as duplicates",
				(long long) batch->number, (long long) batch->events,
				LSN_ARGS(batch->end), (long long) ns->duplicates, ns->stream_name);
	log_verbose(sink->opts, "nats: batch %lld stored in stream %s up to its seq %lld",
				(long long) batch->number, ns->stream_name, (long long) ns->stream_seq);
	return true;
}

static bool
nats_prepare(Sink *sink, char *error, size_t error_size)
{
	NatsSink   *ns = sink->private_data;

	return ns->fd >= 0 || nats_connect(sink, ns, error, error_size);
}

static void
nats_shutdown(Sink *sink)
{
	NatsSink   *ns = sink->private_data;

	if (ns == NULL)
		return;
	nats_disconnect(ns);
	free(ns->out);
	free(ns->seqs);
	free(ns->acked);
	free(ns);
	sink->private_data = NULL;
}

/*
 * Set up the NATS sink: parse the address, check the subject.  Returns
 * false with the reason in error (a usage error: nothing is connected yet;
 * the delivery thread connects when it starts: nats_prepare).
 */
bool
sink_nats_init(Sink *sink, const ConsumeOptions *opts, char *error,
			   size_t error_size)
{
	NatsSink   *ns = calloc(1, sizeof(NatsSink));

	memset(sink, 0, sizeof(*sink));
	sink->name = "nats";
	sink->deliver = nats_deliver;
	sink->prepare = nats_prepare;
	sink->shutdown = nats_shutdown;
	sink->opts = opts;
	if (ns == NULL)
	{
		snprintf(error, error_size, "out of memory");
		return false;
	}
	ns->fd = -1;
	ns->subject = opts->nats_subject;
	sink->private_data = ns;
	if (!nats_parse_address(opts->nats_address, ns, error, error_size))
		return false;
	if (!nats_valid_subject(opts->nats_subject))
	{
		snprintf(error, error_size, "invalid value \"%s\" for --nats-subject: tokens separated by dots are expected, none empty, no wildcard (* or >), no spaces",
				 opts->nats_subject);
		return false;
	}
	return true;
}
