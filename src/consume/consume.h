/*-------------------------------------------------------------------------
 *
 * consume.h
 *	  drivetribe-consume: a consumer of the drivetribe stream that confirms
 *	  a position to the server only after its downstream command succeeded.
 *
 * The program reads a logical replication slot of the drivetribe output
 * plugin over libpq's replication protocol (replication.c), collects whole
 * transactions' events into a batch file (downstream.c), runs the downstream
 * command with the batch on its standard input (JSON lines, one event per
 * line), and when that command exits 0: records the batch's end in its state
 * file (state.c, fsync'd), then confirms the same position to the server.
 * A command that fails is retried with backoff, the same batch: forever by
 * default (the consumer never skips), or --max-tries times, after which it
 * stops (DT_EXIT_DOWNSTREAM, naming the batch's seqs) or, with
 * --dead-letter, appends the batch to that file and goes on.  Killed at any
 * moment, it restarts from the position in its state file; what it
 * re-delivers is the one batch it had not confirmed, and each event carries
 * event_id for the downstream to dedupe.
 *
 * Invariant: the server's confirmed position <= the state file's position.
 * The state file is written before every confirmation, so the slot can only
 * be ahead of the state file if something else moved it (the slot was
 * dropped and created again, advanced, or read by another consumer); then
 * the consumer stops (DT_EXIT_SLOT_AHEAD) instead of skipping what lies
 * between.  A slot the server invalidated (max_slot_wal_keep_size:
 * wal_status lost) cannot be read again: the consumer stops
 * (DT_EXIT_SLOT_LOST) and says what it had confirmed.  The slot may
 * legitimately be behind it: a server that crashes
 * before a checkpoint forgets confirmations it had not written to disk;
 * the consumer then asks to start at its own position, and the server
 * skips the transactions that committed before it.
 *
 * Plain C with libpq only (no server or libpgport code), built by
 * src/consume/Makefile and installed into PostgreSQL's bindir.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_CONSUME_H
#define DRIVETRIBE_CONSUME_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>

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

/* what the command line says */
typedef struct ConsumeOptions
{
	const char *conninfo;		/* -d: a connection string or database name */
	const char *slot;			/* -S */
	const char *state_path;		/* -s */
	const char *command;		/* -c: the downstream command, run by /bin/sh */
	const char *kinds;			/* --kinds: the plugin's kinds filter */
	bool		create_slot;	/* --create-slot: create it when missing */
	bool		include_commit_time;	/* --include-commit-time */
	int			batch_events;	/* deliver at a transaction end once this many */
	int			batch_delay_ms; /* ... or once the oldest is this old */
	int			status_interval_s;	/* feedback at least this often */
	int			heartbeat_interval_s;	/* heartbeat when idle this long (0 = never) */
	int			retry_max_s;	/* the longest wait between two retries */
	int			max_tries;		/* tries of one batch before giving up (0 = no limit) */
	const char *dead_letter;	/* --dead-letter: where a given-up batch goes */
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

/* a batch: whole transactions' events in an unlinked temporary file */
typedef struct Batch
{
	FILE	   *file;
	int64_t		events;			/* events of complete transactions */
	int64_t		open_events;	/* events of the transaction being received */
	bool		txn_open;		/* received objects after the last commit */
	Lsn			end;			/* end_lsn of the last complete transaction */
	long		complete_bytes; /* file size at the last transaction end */
	double		first_at;		/* when its first event arrived (seconds) */
	int64_t		min_seq;		/* smallest and greatest seq in it (0: none) */
	int64_t		max_seq;
} Batch;

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

/* downstream.c */
extern bool batch_open(Batch *batch);
extern bool batch_add_event(Batch *batch, const char *line, size_t len);
extern void batch_end_transaction(Batch *batch, Lsn end);
extern void batch_reset(Batch *batch);
extern int	batch_deliver(const ConsumeOptions *opts, Batch *batch,
						  Stream *stream);

#endif							/* DRIVETRIBE_CONSUME_H */
