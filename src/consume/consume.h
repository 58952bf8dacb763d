/*-------------------------------------------------------------------------
 *
 * consume.h
 *	  drivetribe-consume: a consumer of the drivetribe stream that confirms
 *	  a position to the server only after its sink delivered everything up
 *	  to it.
 *
 * Three threads.  The receive thread (main.c, replication.c) reads a
 * logical replication slot of the drivetribe output plugin over libpq's
 * replication protocol and collects whole transactions' events into a
 * batch (batch.c: JSON lines in an unlinked temporary file, so memory stays
 * bounded whatever the size of a transaction).  The delivery thread
 * (deliver.c) takes one batch at a time, hands it to the sink (the
 * downstream: a command per batch, a long-running process speaking the
 * line protocol, ... see sink.h), retries it with backoff until the sink
 * says it is delivered, and passes its end to the recorder thread
 * (deliver.c too), which records it in the state file (state.c, fsync'd)
 * and only then tells the receive thread, which confirms that position to
 * the server.  While one batch is delivered the receive thread fills the
 * next: batches grow with the sink's latency (up to --batch-events events
 * and --batch-bytes bytes), so a slow sink gets big batches and a fast one
 * gets small ones at low latency; and recording a batch (an fsync)
 * overlaps the next batch's delivery, never ahead of its own.
 *
 * A failed batch is retried: forever by default (the consumer never
 * skips), or --max-tries times, after which it stops (DT_EXIT_DOWNSTREAM,
 * naming the batch's seqs) or, with --dead-letter, appends the batch to
 * that file and goes on.  Killed at any moment, it restarts from the
 * position in its state file; what it re-delivers is at most the batch it
 * had not recorded, and each event carries event_id for the sink to dedupe
 * (sinks that can are exactly once: see sink.h).
 *
 * Invariant: the server's confirmed position <= the state file's position
 * <= the end of what the sink acknowledged.  The state file is written
 * before every confirmation, so the slot can only be ahead of the state
 * file if something else moved it (the slot was dropped and created again,
 * advanced, or read by another consumer); then the consumer stops
 * (DT_EXIT_SLOT_AHEAD) instead of skipping what lies between.  A slot the
 * server invalidated (max_slot_wal_keep_size: wal_status lost) cannot be
 * read again: the consumer stops (DT_EXIT_SLOT_LOST) and says what it had
 * confirmed.  The slot may legitimately be behind it: a server that crashes
 * before a checkpoint forgets confirmations it had not written to disk;
 * the consumer then asks to start at its own position, and the server
 * skips the transactions that committed before it.
 *
 * Locking: the threads share only the Pipeline (below), under its mutex.
 * The ConsumeState is the recorder's while it records and the receive
 * thread's otherwise (at start and between connections, when nothing is
 * pending or being recorded).
 *
 * Plain C with libpq and pthreads only (no server code, no libpgport),
 * built by src/consume/Makefile and installed into PostgreSQL's bindir.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_CONSUME_H
#define DRIVETRIBE_CONSUME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <pthread.h>
#include <sys/types.h>

#include "libpq-fe.h"

/* exit codes: each reason to stop has its own (documented in --help) */
#define DT_EXIT_OK				0	/* stopped by SIGTERM/SIGINT or --endpos */
#define DT_EXIT_USAGE			1	/* bad arguments, state file or I/O error */
#define DT_EXIT_CONNECT			2	/* the first connection failed */
#define DT_EXIT_SLOT_MISSING	3	/* the slot does not exist */
#define DT_EXIT_SLOT_AHEAD		4	/* slot ahead of what this consumer confirmed */
#define DT_EXIT_SERVER_BEHIND	5	/* another server, or one restored to before it */
#define DT_EXIT_PLUGIN			6	/* the plugin is refused or the slot is not ours */
#define DT_EXIT_DOWNSTREAM		7	/* --max-tries failed tries of one batch */
#define DT_EXIT_SLOT_LOST		8	/* the slot was invalidated (wal_status lost) */

typedef uint64_t Lsn;

#define LSN_FMT "%X/%X"
#define LSN_ARGS(lsn) (unsigned) ((lsn) >> 32), (unsigned) (lsn)

/* the sinks (sink.h) */
typedef enum SinkKind
{
	SINK_COMMAND,				/* -c: a command per batch */
	SINK_PIPE,					/* --pipe: one long-running process, line protocol */
	SINK_HTTP,					/* --http: a POST per batch (sink_http.c) */
	SINK_POSTGRES,				/* --postgres: a receiving database, exactly once */
	SINK_REDIS,					/* --redis: a Redis stream, exactly once */
	SINK_NATS,					/* --nats: a JetStream stream, Nats-Msg-Id dedupe */
} SinkKind;

/* what the command line says */
typedef struct ConsumeOptions
{
	const char *conninfo;		/* -d: a connection string or database name */
	const char *slot;			/* -S */
	const char *state_path;		/* -s */
	SinkKind	sink;
	const char *command;		/* -c or --pipe: run by /bin/sh */
	const char *http_url;		/* --http: POST each batch there */
	int			http_timeout_s; /* --http-timeout: a whole request, at most */
	const char **http_headers;	/* --http-header: "Name: value", repeatable */
	int			http_header_count;
	const char *http_secret_file;	/* --http-secret-file: the HMAC key */
	const char *postgres;		/* --postgres: the receiving database */
	const char *postgres_table; /* --postgres-table: SCHEMA.TABLE */
	const char *postgres_function;	/* --postgres-function: SCHEMA.FUNC */
	int			postgres_timeout_s; /* --postgres-timeout: statement_timeout */
	const char *redis_address;	/* --redis: HOST:PORT or a socket path */
	const char *redis_stream;	/* --redis-stream: the stream's key */
	const char *redis_password_file;	/* --redis-password-file */
	int			redis_timeout_s;	/* --redis-timeout: connect and each command */
	const char *nats_address;	/* --nats: HOST:PORT */
	const char *nats_subject;	/* --nats-subject: where events are published */
	int			nats_timeout_s; /* --nats-timeout: connect, and a batch's try */
	const char *kinds;			/* --kinds: the plugin's kinds filter */
	bool		create_slot;	/* --create-slot: create it when missing */
	bool		include_commit_time;	/* --include-commit-time */
	int			batch_events;	/* a batch holds at most this many events... */
	long		batch_bytes;	/* ... and this many bytes (whole transactions) */
	long		batch_memory;	/* a batch past this spills to disk (batch.c) */
	int			batch_delay_ms; /* wait this long for more before delivering */
	int			ack_timeout_s;	/* --pipe: a batch's acknowledgement, at most */
	int			status_interval_s;	/* feedback at least this often */
	int			heartbeat_interval_s;	/* heartbeat when idle this long (0 = never) */
	int			retry_max_s;	/* the longest wait between two retries */
	int			max_tries;		/* tries of one batch before giving up (0 = no limit) */
	const char *dead_letter;	/* --dead-letter: where a given-up batch goes */
	const char *status_file;	/* --status-file: metrics, Prometheus text */
	int			report_interval_s;	/* a progress line in the log this often */
	Lsn			endpos;			/* --endpos: stop once confirmed past it */
	bool		verbose;
} ConsumeOptions;

/* the state file's content */
typedef struct ConsumeState
{
	char		system_identifier[32];	/* "" until the first connection */
	char		slot[64];
	Lsn			confirmed;		/* 0 until the first connection */
	int64_t		last_seq;		/* greatest seq of the events confirmed (0: none) */
} ConsumeState;

/* a batch: whole transactions' events in a memory file or on disk (batch.c) */
typedef struct Batch
{
	FILE	   *file;
	bool		on_disk;		/* spilled to a temporary file (batch.c) */
	long		memory_limit;	/* bytes it may hold in memory */
	int64_t		number;			/* 1, 2, ... in this run of the consumer */
	int64_t		events;			/* events of complete transactions */
	int64_t		open_events;	/* events of the transaction being received */
	int64_t		transactions;	/* complete transactions (with events or not) */
	bool		txn_open;		/* received objects after the last commit */
	Lsn			end;			/* end_lsn of the last complete transaction */
	long		complete_bytes; /* file size at the last transaction end */
	double		first_at;		/* when its first event arrived (seconds) */
	int64_t		min_seq;		/* smallest and greatest seq in it (0: none) */
	int64_t		max_seq;
	/* reading it back (batch_rewind, batch_next_line) */
	char	   *line;
	size_t		line_cap;
	long		read_bytes;
} Batch;

/* counters the delivery thread keeps, for the log and the status file */
typedef struct DeliveryStats
{
	int64_t		events;			/* delivered (or set aside) since start */
	int64_t		batches;
	int64_t		failed_tries;
	int64_t		dead_lettered;	/* events appended to --dead-letter */
	double		last_delivery_at;	/* 0: none yet */
	double		last_batch_seconds; /* how long the last batch's delivery took */
	int64_t		last_batch_events;
	double		last_error_at;	/* 0: none */
	char		last_error[512];
} DeliveryStats;

/*
 * What the threads share, under lock.  The receive thread hands a batch
 * over by setting `pending` (only when it is NULL); the delivery thread
 * delivers it, moves `record_end` to its end, then sets `pending` back to
 * NULL and gives the emptied batch back in `spare`; the recorder thread
 * writes `record_end` into the state file and publishes it as `confirmed`.
 */
typedef struct Pipeline
{
	pthread_mutex_t lock;
	pthread_cond_t wake_delivery;	/* a batch or quit for the delivery thread */
	int			wake_receiver[2];	/* a pipe: the delivery thread finished a batch */
	Batch	   *pending;		/* handed over, not yet recorded */
	Batch	   *spare;			/* emptied, for the receive thread to fill */
	Lsn			confirmed;		/* recorded in the state file */
	int64_t		last_seq;
	Lsn			record_end;		/* delivered, for the recorder to record */
	int64_t		record_seq;
	pthread_cond_t wake_recorder;	/* record_end moved, or quit */
	bool		recorder_quit;
	int			fatal;			/* a reason to stop (DT_EXIT_*), 0 = none */
	bool		quit;			/* the delivery thread should end */
	DeliveryStats stats;
} Pipeline;

/* one replication connection and its position */
typedef struct Stream
{
	PGconn	   *conn;
	Lsn			confirmed;		/* last position confirmed to the server */
	Lsn			received_end;	/* walEnd of the last message */
	double		last_feedback;	/* when feedback was last sent */
	double		last_data;		/* when an object last arrived */
} Stream;

/* set by SIGTERM/SIGINT */
extern volatile sig_atomic_t consume_stop_requested;

/* main.c */
extern double now_seconds(void);
extern void log_msg(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void log_verbose(const ConsumeOptions *opts, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern bool parse_lsn(const char *text, Lsn *lsn);

/* state.c */
extern int	state_load(const char *path, ConsumeState *state);
extern int	state_save(const char *path, const ConsumeState *state);

/* replication.c */
extern PGconn *stream_connect(const char *conninfo, bool replication);
extern int	stream_check(PGconn *conn, const ConsumeOptions *opts,
						 ConsumeState *state, Lsn *start);
extern int	stream_start(PGconn *conn, const ConsumeOptions *opts,
						 const ConsumeState *state, Lsn start);
extern bool stream_send_feedback(Stream *stream, Lsn position, bool reply);
extern void send_heartbeat(const ConsumeOptions *opts, PGconn **conn);

/* batch.c */
extern bool batch_open(Batch *batch, long memory_limit);

/* main.c: HOST:PORT, [IPV6]:PORT or HOST; NULL, or why it does not parse */
extern const char *parse_host_port(const char *text, long default_port,
								   char *host, size_t host_size, long *port,
								   const char *host_expected);
extern bool batch_add_event(Batch *batch, const char *line, size_t len);
extern void batch_end_transaction(Batch *batch, Lsn end);
extern void batch_reset(Batch *batch);
extern bool batch_rewind(Batch *batch);
extern ssize_t batch_next_line(Batch *batch, const char **line);
extern void batch_describe_seqs(Batch *batch, char *out, size_t size);
extern bool batch_copy_to(Batch *batch, FILE *out);

/* deliver.c */
extern int	delivery_start(Pipeline *pipeline, const ConsumeOptions *opts,
						   ConsumeState *state);
extern void delivery_stop(Pipeline *pipeline);

/* report.c */
extern void report_progress(const ConsumeOptions *opts, Pipeline *pipeline,
							Lsn server_end, double oldest_pending_at,
							bool streaming, bool log_line);

#endif							/* DRIVETRIBE_CONSUME_H */
