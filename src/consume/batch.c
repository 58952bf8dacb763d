/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  drivetribe-consume's batches: whole transactions' events, one JSON
 *	  object per line, in an anonymous memory file (memfd) that spills to
 *	  an unlinked temporary file (in $TMPDIR, else /tmp) past
 *	  --batch-memory bytes (32 MiB), so memory stays bounded whatever the
 *	  size of a transaction.
 *
 * Why memory first: a batch is written, read once and emptied, often
 * hundreds of times a second.  On a disk file each batch extends and
 * truncates an inode, and those journal updates queue behind every fsync
 * of the same file system (the server's WAL, our own state file), which
 * stretched the commit-to-downstream tail (docs/benchmarks.md).  A batch that outgrows the limit
 * (a transaction of tens of megabytes, or a --batch-bytes above it) is
 * copied to the disk file once and stays there until it is emptied.  The
 * FILE keeps its descriptor number throughout (dup3 over it), so a
 * command given the batch as stdin sees whichever holds it.
 *
 * The receive thread appends to a batch (batch_add_event, and
 * batch_end_transaction when the plugin's commit object arrives); once it
 * is handed to the delivery thread, only that thread reads it
 * (batch_rewind, batch_next_line, batch_copy_to) until it is reset.  The
 * file's descriptor is close-on-exec: only a command given the batch as
 * its stdin sees it.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "consume.h"

/* an unlinked, close-on-exec temporary file on disk, or -1 (after a message) */
static int
disk_file(void)
{
	const char *dir = getenv("TMPDIR");
	char		path[4096];
	int			fd;

	snprintf(path, sizeof(path), "%s/drivetribe-consume.XXXXXX",
			 dir != NULL && dir[0] != '\0' ? dir : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0 || unlink(path) != 0)
	{
		log_msg("could not create a temporary file for batches in \"%s\": %s",
				path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* an anonymous memory file, close-on-exec, or -1 (the kernel has none) */
static int
memory_file(void)
{
	return memfd_create("drivetribe-consume-batch", MFD_CLOEXEC);
}

/*
 * Open an empty batch that keeps up to memory_limit bytes in memory (0:
 * none).  False after a message.
 */
bool
batch_open(Batch *batch, long memory_limit)
{
	int			fd = memory_limit > 0 ? memory_file() : -1;

	memset(batch, 0, sizeof(*batch));
	batch->memory_limit = memory_limit;
	batch->on_disk = fd < 0;	/* no memfd: on disk from the start */
	if (fd < 0 && (fd = disk_file()) < 0)
		return false;
	if ((batch->file = fdopen(fd, "w+")) == NULL)
	{
		log_msg("could not open the batch file: %s", strerror(errno));
		close(fd);
		return false;
	}
	return true;
}

/*
 * Put the batch's file on descriptor fd's file instead (its descriptor
 * number stays): copies the content when copy is true, else leaves it
 * empty.  False after a message, the batch as it was.
 */
static bool
batch_move(Batch *batch, int fd, bool copy)
{
	int			old = fileno(batch->file);
	long		size = 0;

	if (fflush(batch->file) != 0)
	{
		log_msg("could not write to the batch file: %s", strerror(errno));
		close(fd);
		return false;
	}
	if (copy)
	{
		char		buf[65536];
		ssize_t		n;

		while ((n = pread(old, buf, sizeof(buf), size)) != 0)
		{
			if (n < 0 || write(fd, buf, (size_t) n) != n)
			{
				log_msg("could not copy the batch to a temporary file: %s",
						strerror(errno));
				close(fd);
				return false;
			}
			size += n;
		}
	}
	if (dup3(fd, old, O_CLOEXEC) < 0 || lseek(old, size, SEEK_SET) != size)
	{
		log_msg("could not move the batch file: %s", strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* the seq of an event object of the plugin (it starts {"seq":N), or 0 */
static int64_t
event_seq(const char *line, size_t len)
{
	static const char key[] = "{\"seq\":";
	int64_t		seq = 0;

	if (len <= strlen(key) || strncmp(line, key, strlen(key)) != 0)
		return 0;
	for (size_t i = strlen(key); i < len && line[i] >= '0' && line[i] <= '9'; i++)
		seq = seq * 10 + (line[i] - '0');
	return seq;
}

/* append one event object (a line without its newline) */
bool
batch_add_event(Batch *batch, const char *line, size_t len)
{
	int64_t		seq = event_seq(line, len);

	if (batch->first_at == 0)
		batch->first_at = now_seconds();
	if (seq > 0 && (batch->min_seq == 0 || seq < batch->min_seq))
		batch->min_seq = seq;
	if (seq > batch->max_seq)
		batch->max_seq = seq;
	batch->txn_open = true;
	batch->open_events++;
	if (fwrite(line, 1, len, batch->file) != len || putc('\n', batch->file) == EOF)
	{
		log_msg("could not write to the batch file: %s", strerror(errno));
		return false;
	}
	if (!batch->on_disk && ftell(batch->file) > batch->memory_limit)
	{
		int			fd = disk_file();

		if (fd < 0 || !batch_move(batch, fd, true))
			return false;
		batch->on_disk = true;
	}
	return true;
}

/* the plugin's commit object arrived: the transaction is whole */
void
batch_end_transaction(Batch *batch, Lsn end)
{
	batch->events += batch->open_events;
	batch->open_events = 0;
	batch->transactions++;
	batch->txn_open = false;
	batch->end = end;
	batch->complete_bytes = ftell(batch->file);
}

/* empty the batch (delivered, or to be received again after a reconnect) */
void
batch_reset(Batch *batch)
{
	FILE	   *file = batch->file;
	char	   *line = batch->line;
	size_t		line_cap = batch->line_cap;
	bool		on_disk = batch->on_disk;
	long		memory_limit = batch->memory_limit;

	/* a batch that spilled goes back to memory (on disk if that fails) */
	if (on_disk && memory_limit > 0)
	{
		int			fd = memory_file();

		if (fd >= 0 && batch_move(batch, fd, false))
			on_disk = false;
	}
	if (fflush(file) != 0 || ftruncate(fileno(file), 0) != 0)
		log_msg("could not empty the batch file: %s", strerror(errno));
	rewind(file);
	memset(batch, 0, sizeof(*batch));
	batch->file = file;
	batch->line = line;
	batch->line_cap = line_cap;
	batch->on_disk = on_disk;
	batch->memory_limit = memory_limit;
}

/* get ready to read the batch from its first line; false on an I/O error */
bool
batch_rewind(Batch *batch)
{
	batch->read_bytes = 0;
	if (fflush(batch->file) != 0 || fseek(batch->file, 0, SEEK_SET) != 0)
	{
		log_msg("could not read the batch file: %s", strerror(errno));
		return false;
	}
	return true;
}

/*
 * The next event line of the batch (without its newline; valid until the
 * next call), its length, or 0 after the last one of the whole
 * transactions, or -1 on an I/O error.
 */
ssize_t
batch_next_line(Batch *batch, const char **line)
{
	ssize_t		len;

	if (batch->read_bytes >= batch->complete_bytes)
		return 0;
	len = getline(&batch->line, &batch->line_cap, batch->file);
	if (len <= 0)
	{
		log_msg("could not read the batch file: %s",
				len < 0 && ferror(batch->file) ? strerror(errno) : "it ended early");
		return -1;
	}
	batch->read_bytes += len;
	if (batch->line[len - 1] == '\n')
		batch->line[--len] = '\0';
	*line = batch->line;
	return len;
}

/* the whole transactions' lines, as they are, to out; false on an error */
bool
batch_copy_to(Batch *batch, FILE *out)
{
	char		buf[65536];
	long		left = batch->complete_bytes;

	if (!batch_rewind(batch))
		return false;
	while (left > 0)
	{
		size_t		want = left < (long) sizeof(buf) ? (size_t) left : sizeof(buf);
		size_t		n = fread(buf, 1, want, batch->file);

		if (n == 0 || fwrite(buf, 1, n, out) != n)
			return false;
		left -= (long) n;
	}
	return true;
}

/*
 * The batch's seqs for a message: every one for a small batch ("seq 70,
 * 72, 75"), else the range ("seq 70 to 1204").
 */
void
batch_describe_seqs(Batch *batch, char *out, size_t size)
{
	const char *line;
	ssize_t		len;
	size_t		used;
	int64_t		n = 0;

	if (batch->events > 20 || !batch_rewind(batch))
	{
		snprintf(out, size, "seq %lld to %lld", (long long) batch->min_seq,
				 (long long) batch->max_seq);
		return;
	}
	used = (size_t) snprintf(out, size, "seq");
	while (used < size && (len = batch_next_line(batch, &line)) > 0)
		used += (size_t) snprintf(out + used, size - used, "%s %lld",
								  n++ > 0 ? "," : "",
								  (long long) event_seq(line, (size_t) len));
}
