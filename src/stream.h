/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  The stream: the drivetribe logical decoding output plugin
 *	  (stream_output.c) and what its consumers need to know.
 *
 * The plugin emits one JSON object per event appended to drivetribe.events,
 * for committed transactions only, in commit order and seq order inside a
 * transaction, and a heartbeat object for each heartbeat message (sent by
 * drivetribe.heartbeat()), which consumers skip but may confirm.
 *
 *-------------------------------------------------------------------------
 */
#ifndef DRIVETRIBE_STREAM_H
#define DRIVETRIBE_STREAM_H

#include "drivetribe.h"

/* the prefix of the transactional logical message that is a heartbeat */
#define DT_HEARTBEAT_PREFIX "drivetribe.heartbeat"

/* skipped changes of other tables between two progress reports */
#define DT_STREAM_PROGRESS_EVERY 100

#endif							/* DRIVETRIBE_STREAM_H */
