/*-------------------------------------------------------------------------
 *
 * sink.h
 *	  drivetribe-consume's sinks: where a batch is delivered.
 *
 * A sink is a set of functions the delivery thread (deliver.c) calls, one
 * batch at a time, never concurrently:
 *
 *	deliver		hand the batch over; return true once the sink has it for
 *				good (the command exited 0, the process acknowledged it, the
 *				receiving database committed it), false after writing why
 *				into error (the same batch is tried again after a backoff,
 *				with attempt + 1).  It may block; it must come back within
 *				its own timeout, and soon after consume_stop_requested when
 *				it is only waiting to retry.
 *	prepare		optional: get ready before the first batch (start the
 *				process, open the connection), so the first event does not
 *				wait for it; false after writing why into error (logged: the
 *				first delivery tries again).
 *	shutdown	the consumer is ending: stop processes, close connections.
 *
 * Guarantees each sink documents (docs/design.md, "The consumer"):
 *	command		at-least-once: after a crash the batch that was not recorded
 *				comes again (DRIVETRIBE_ATTEMPT, DRIVETRIBE_END_LSN and each
 *				event's event_id let the command dedupe).
 *	pipe		the same, per batch number and end_lsn.
 *	http		the same, per Idempotency-Key (slot/end_lsn) and event_id.
 *	postgres	exactly once: the receiver's progress row (end_lsn per slot)
 *				changes in the batch's own transaction (sink_postgres.c).
 *	redis		exactly once: a Lua script applies a batch and moves a
 *				progress key in Redis atomically, and skips a batch whose
 *				end_lsn is not past it (sink_redis.c, docs/sink-redis.md).
 *	nats		exactly once within the JetStream stream's duplicate window:
 *				each event is published with Nats-Msg-Id: event_id, and
 *				JetStream drops a message whose id it stored in that window
 *				(sink_nats.c, docs/sink-nats.md); at-least-once beyond it.
 *
 * Processes a sink starts are started by spawn.c: each in a process group
 * of its own under a guardian process that ends the whole group when the
 * consumer ends, however it ends (SIGKILL included).
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_CONSUME_SINK_H
#define DRIVETRIBE_CONSUME_SINK_H

#include "consume.h"

typedef struct Sink Sink;

struct Sink
{
	const char *name;			/* for messages: "command", "pipe" */
	bool		(*deliver) (Sink *sink, Batch *batch, int attempt,
							char *error, size_t error_size);
	bool		(*prepare) (Sink *sink, char *error, size_t error_size);
	void		(*shutdown) (Sink *sink);
	const ConsumeOptions *opts;
	Lsn			start_lsn;		/* confirmed when the consumer (re)connected */
	void	   *private_data;	/* the sink's own */
};

/* sink_command.c, sink_pipe.c, sink_http.c, sink_postgres.c */
extern void sink_command_init(Sink *sink, const ConsumeOptions *opts);
extern void sink_pipe_init(Sink *sink, const ConsumeOptions *opts);
extern bool sink_http_init(Sink *sink, const ConsumeOptions *opts);
extern void sink_postgres_init(Sink *sink, const ConsumeOptions *opts);

/* sink_redis.c: false with the reason in error (bad address, password file) */
extern bool sink_redis_init(Sink *sink, const ConsumeOptions *opts,
							char *error, size_t error_size);

/* sink_nats.c: false with the reason in error (bad address or subject) */
extern bool sink_nats_init(Sink *sink, const ConsumeOptions *opts,
						   char *error, size_t error_size);

/* spawn.c: a process under a guardian (see the file's banner) */
typedef struct Spawned
{
	pid_t		guardian;		/* 0: not running */
	int			to_child;		/* its stdin, when asked for (else -1) */
	int			from_child;		/* its stdout, when asked for (else -1) */
} Spawned;

extern bool spawn_command(const char *command, char *const extra_env[],
						  int stdin_fd, bool pipe_stdin, bool pipe_stdout,
						  Spawned *spawned, char *error, size_t error_size);
extern bool spawn_wait(Spawned *spawned, double timeout_s, int *status);
extern void spawn_end(Spawned *spawned, double grace_s);
extern void describe_status(int status, char *out, size_t size);

#endif							/* DRIVETRIBE_CONSUME_SINK_H */
