/*-------------------------------------------------------------------------
 *
 * state.c
 *	  drivetribe-consume's state file: the server it reads, the slot, and
 *	  the last position it confirmed.
 *
 *	  # drivetribe-consume state
 *	  system_identifier 7440123456789012345
 *	  slot notify
 *	  confirmed_lsn 0/1A2B3C8
 *	  last_seq 7140
 *
 * last_seq (since 1.7; optional) is the greatest seq of the events
 * confirmed: what the consumer can say was delivered when its slot is
 * lost.
 * Written to a temporary file beside it, fsync'd, renamed over it and the
 * directory fsync'd: after a crash the file holds either the old or the new
 * position, never a torn one.  The consumer writes it before it confirms
 * the position to the server (see consume.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consume.h"

/*
 * Read the state file into *state.  A missing file is an empty state
 * (a first start).  Returns DT_EXIT_OK or DT_EXIT_USAGE (after a message).
 */
int
state_load(const char *path, ConsumeState *state)
{
	FILE	   *f;
	char		line[256];
	int			lineno = 0;

	memset(state, 0, sizeof(*state));
	f = fopen(path, "r");
	if (f == NULL)
	{
		if (errno == ENOENT)
			return DT_EXIT_OK;
		log_msg("could not open state file \"%s\": %s", path, strerror(errno));
		return DT_EXIT_USAGE;
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *key;
		char	   *value;
		char	   *save;
		int			n = 0;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		key = strtok_r(line, " \t", &save);
		value = strtok_r(NULL, " \t", &save);
		if (key == NULL || value == NULL)
			goto malformed;
		if (strcmp(key, "system_identifier") == 0 &&
			strlen(value) < sizeof(state->system_identifier))
			strcpy(state->system_identifier, value);
		else if (strcmp(key, "slot") == 0 && strlen(value) < sizeof(state->slot))
			strcpy(state->slot, value);
		else if (strcmp(key, "confirmed_lsn") == 0 &&
				 parse_lsn(value, &state->confirmed))
			 /* parsed */ ;
		else if (strcmp(key, "last_seq") == 0 &&
				 sscanf(value, "%" SCNd64 "%n", &state->last_seq, &n) == 1 &&
				 value[n] == '\0' && state->last_seq >= 0)
			 /* parsed */ ;
		else
			goto malformed;
	}
	fclose(f);
	return DT_EXIT_OK;

malformed:
	fclose(f);
	log_msg("state file \"%s\" line %d is not \"system_identifier N\", \"slot NAME\", \"confirmed_lsn X/X\" or \"last_seq N\"",
			path, lineno);
	return DT_EXIT_USAGE;
}

/* fsync a file or directory by path; true when done */
static bool
fsync_path(const char *path, int flags)
{
	int			fd = open(path, flags);
	bool		ok;

	if (fd < 0)
		return false;
	ok = fsync(fd) == 0 || errno == EINVAL;	/* some filesystems refuse dirs */
	close(fd);
	return ok;
}

/*
 * Replace the state file durably.  Returns DT_EXIT_OK or DT_EXIT_USAGE
 * (after a message); the caller must not confirm anything on failure.
 */
int
state_save(const char *path, const ConsumeState *state)
{
	char		tmp[4096];
	char		dir[4096];
	FILE	   *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
	{
		log_msg("state file path \"%s\" is too long", path);
		return DT_EXIT_USAGE;
	}
	f = fopen(tmp, "w");
	if (f == NULL)
		goto failed;
	fprintf(f, "# drivetribe-consume state: the last position confirmed to the server\n");
	fprintf(f, "system_identifier %s\n", state->system_identifier);
	fprintf(f, "slot %s\n", state->slot);
	fprintf(f, "confirmed_lsn " LSN_FMT "\n", LSN_ARGS(state->confirmed));
	if (state->last_seq > 0)
		fprintf(f, "last_seq %" PRId64 "\n", state->last_seq);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
	{
		fclose(f);
		goto failed;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		goto failed;
	snprintf(dir, sizeof(dir), "%s", path);
	if (!fsync_path(dirname(dir), O_RDONLY))
		goto failed;
	return DT_EXIT_OK;

failed:
	log_msg("could not write state file \"%s\": %s", path, strerror(errno));
	return DT_EXIT_USAGE;
}
