/*-------------------------------------------------------------------------
 *
 * spawn.c
 *	  drivetribe-consume's downstream processes, and the guardian that
 *	  makes sure none of them outlives the consumer.
 *
 * A downstream command runs as /bin/sh -c COMMAND.  Between the consumer
 * and that shell stands a small guardian process (a fork of the consumer
 * that never execs):
 *
 *	consumer (delivery thread) -- guardian -- sh -c COMMAND (its own
 *	                                          process group) -- ...
 *
 * The shell leads a process group of its own, so everything it starts
 * (pipelines, background jobs, their children) is in that group.  The
 * guardian
 *	- gets SIGUSR1 when the consumer dies, however it dies, SIGKILL
 *	  included (PR_SET_PDEATHSIG: the signal comes when the thread that
 *	  forked it ends, and the delivery thread lives as long as the
 *	  consumer), and SIGTERM when the consumer wants it ended: either way
 *	  it kills the whole group with SIGKILL;
 *	- is a child subreaper (PR_SET_CHILD_SUBREAPER), so a descendant
 *	  orphaned by its parent's exit becomes its child, and is killed too;
 *	- when the shell exits, kills what is left of its group (a command
 *	  that leaves a background job behind has not finished with the batch
 *	  for good) and ends with the shell's status: the same exit code, or
 *	  death by the same signal.
 * So a consumer that is restarted never races an orphan of the previous
 * one into the same sink.  Out of reach: a descendant that leaves the
 * group with setsid() while its parent lives on (only a cgroup holds
 * those; run the consumer in its own systemd unit for that).
 *
 * The consumer is multi-threaded, so between fork and exec the children
 * call only async-signal-safe functions: the environment is built before
 * the fork.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sink.h"

extern char **environ;

static volatile sig_atomic_t guardian_ending = 0;

static void
guardian_end_handler(int signo)
{
	(void) signo;
	guardian_ending = 1;
}

static void
guardian_child_handler(int signo)
{
	(void) signo;
}

/* kill the group and every child left (subreaped orphans), reap them all */
static void
guardian_kill_all(pid_t group)
{
	char		path[64];
	char		buf[4096];
	int			fd;
	ssize_t		n;

	(void) kill(-group, SIGKILL);
	/* our own children (orphans that came to us, or a shell not yet reaped) */
	for (int round = 0; round < 3; round++)
	{
		pid_t		self = getpid();
		int			len = 0;

		/* "/proc/PID/task/PID/children" built by hand: no snprintf here */
		{
			const char *prefix = "/proc/self/task/";
			char		digits[16];
			int			d = 0;

			for (pid_t p = self; p > 0 && d < (int) sizeof(digits); p /= 10)
				digits[d++] = (char) ('0' + p % 10);
			for (const char *c = prefix; *c; c++)
				path[len++] = *c;
			while (d > 0)
				path[len++] = digits[--d];
			for (const char *c = "/children"; *c; c++)
				path[len++] = *c;
			path[len] = '\0';
		}
		fd = open(path, O_RDONLY);
		if (fd < 0)
			break;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			break;
		buf[n] = '\0';
		for (char *c = buf; *c;)
		{
			pid_t		pid = 0;

			while (*c == ' ')
				c++;
			while (*c >= '0' && *c <= '9')
				pid = pid * 10 + (*c++ - '0');
			if (pid > 0)
			{
				(void) kill(-pid, SIGKILL);
				(void) kill(pid, SIGKILL);
			}
			if (*c && (*c < '0' || *c > '9'))
				c++;
		}
	}
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

/* the guardian: never returns */
static void
guardian_main(pid_t consumer, const char *command, char *const envp[],
			  int stdin_fd, int stdout_fd)
{
	struct sigaction sa;
	sigset_t	blocked,
				during_wait;
	pid_t		shell;
	int			status = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guardian_end_handler;
	(void) sigaction(SIGUSR1, &sa, NULL);
	(void) sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = guardian_child_handler;
	(void) sigaction(SIGCHLD, &sa, NULL);
	/* a terminal's ^C goes to the consumer's group: the consumer decides */
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGINT, &sa, NULL);
	(void) sigaction(SIGHUP, &sa, NULL);
	(void) sigaction(SIGQUIT, &sa, NULL);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGCHLD);
	(void) sigprocmask(SIG_BLOCK, &blocked, &during_wait);
	sigdelset(&during_wait, SIGUSR1);
	sigdelset(&during_wait, SIGTERM);
	sigdelset(&during_wait, SIGCHLD);

	(void) prctl(PR_SET_PDEATHSIG, SIGUSR1);
	if (getppid() != consumer)
		_exit(127);				/* the consumer is gone already */
	(void) prctl(PR_SET_CHILD_SUBREAPER, 1);

	/*
	 * The shell's stdin and stdout become ours; every other descriptor of
	 * the consumer is closed (the write end of the shell's stdin pipe
	 * among them: the shell must see EOF when the consumer closes it).
	 */
	if ((stdin_fd >= 0 && stdin_fd != STDIN_FILENO && dup2(stdin_fd, STDIN_FILENO) < 0) ||
		(stdout_fd != STDOUT_FILENO && dup2(stdout_fd, STDOUT_FILENO) < 0))
		_exit(127);
	(void) close_range(3, ~0U, 0);

	shell = fork();
	if (shell < 0)
		_exit(127);
	if (shell == 0)
	{
		char	   *argv[] = {"sh", "-c", (char *) command, NULL};
		sigset_t	none;

		(void) setpgid(0, 0);
		sa.sa_handler = SIG_DFL;
		(void) sigaction(SIGUSR1, &sa, NULL);
		(void) sigaction(SIGTERM, &sa, NULL);
		(void) sigaction(SIGCHLD, &sa, NULL);
		(void) sigaction(SIGINT, &sa, NULL);
		(void) sigaction(SIGHUP, &sa, NULL);
		(void) sigaction(SIGQUIT, &sa, NULL);
		(void) sigaction(SIGPIPE, &sa, NULL);
		sigemptyset(&none);
		(void) sigprocmask(SIG_SETMASK, &none, NULL);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	(void) setpgid(shell, shell);	/* whichever of the two runs first */

	for (;;)
	{
		pid_t		done;

		if (guardian_ending)
		{
			guardian_kill_all(shell);
			_exit(128 + SIGKILL);
		}
		done = waitpid(-1, &status, WNOHANG);
		if (done == shell)
			break;
		if (done > 0)
			continue;			/* an orphan that came to us ended */
		(void) sigsuspend(&during_wait);
	}
	guardian_kill_all(shell);
	if (WIFSIGNALED(status))
	{
		sigset_t	none;

		sa.sa_handler = SIG_DFL;
		(void) sigaction(WTERMSIG(status), &sa, NULL);
		sigemptyset(&none);
		(void) sigprocmask(SIG_SETMASK, &none, NULL);
		(void) kill(getpid(), WTERMSIG(status));
		_exit(128 + WTERMSIG(status));
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 127);
}

/* the environment with extra NAME=VALUE entries replacing or adding */
static char **
build_environment(char *const extra[])
{
	int			n_env = 0,
				n_extra = 0,
				n = 0;
	char	  **envp;

	while (environ[n_env])
		n_env++;
	while (extra != NULL && extra[n_extra])
		n_extra++;
	envp = malloc(sizeof(char *) * (n_env + n_extra + 1));
	if (envp == NULL)
		return NULL;
	for (int i = 0; i < n_env; i++)
	{
		bool		replaced = false;

		for (int j = 0; j < n_extra && !replaced; j++)
		{
			size_t		name_len = strcspn(extra[j], "=");

			replaced = strncmp(environ[i], extra[j], name_len + 1) == 0;
		}
		if (!replaced)
			envp[n++] = environ[i];
	}
	for (int j = 0; j < n_extra; j++)
		envp[n++] = extra[j];
	envp[n] = NULL;
	return envp;
}

/*
 * Start COMMAND under a guardian.  Its stdin is stdin_fd (>= 0), or a new
 * pipe (pipe_stdin: spawned->to_child), or the consumer's; its stdout a new
 * pipe (pipe_stdout: spawned->from_child) or the consumer's.  Returns false
 * after writing why into error.
 */
bool
spawn_command(const char *command, char *const extra_env[], int stdin_fd,
			  bool pipe_stdin, bool pipe_stdout, Spawned *spawned,
			  char *error, size_t error_size)
{
	int			in_pipe[2] = {-1, -1};
	int			out_pipe[2] = {-1, -1};
	char	  **envp = build_environment(extra_env);
	pid_t		consumer = getpid();
	pid_t		pid;

	spawned->guardian = 0;
	spawned->to_child = spawned->from_child = -1;
	if (envp == NULL ||
		(pipe_stdin && pipe2(in_pipe, O_CLOEXEC) != 0) ||
		(pipe_stdout && pipe2(out_pipe, O_CLOEXEC) != 0))
	{
		snprintf(error, error_size, "could not start the downstream command: %s",
				 strerror(errno));
		goto failed;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		guardian_main(consumer, command, envp,
					  pipe_stdin ? in_pipe[0] : stdin_fd,
					  pipe_stdout ? out_pipe[1] : STDOUT_FILENO);
	if (pid < 0)
	{
		snprintf(error, error_size, "could not start the downstream command: %s",
				 strerror(errno));
		goto failed;
	}
	free(envp);
	if (pipe_stdin)
	{
		close(in_pipe[0]);
		spawned->to_child = in_pipe[1];
	}
	if (pipe_stdout)
	{
		close(out_pipe[1]);
		spawned->from_child = out_pipe[0];
	}
	spawned->guardian = pid;
	return true;

failed:
	free(envp);
	for (int i = 0; i < 2; i++)
	{
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
	}
	return false;
}

/*
 * Wait for the command (its guardian) to end, at most timeout_s seconds
 * (< 0: no limit).  True with *status once it ended (the guardian is
 * reaped: spawned->guardian = 0); false on timeout.
 */
bool
spawn_wait(Spawned *spawned, double timeout_s, int *status)
{
	double		until = now_seconds() + timeout_s;
	useconds_t	nap = 200;		/* a quick command is seen quickly */

	if (spawned->guardian <= 0)
	{
		*status = 0;
		return true;
	}
	for (;;)
	{
		pid_t		done = waitpid(spawned->guardian, status, WNOHANG);

		if (done == spawned->guardian || (done < 0 && errno != EINTR))
		{
			if (done < 0)
				*status = 127 << 8;
			spawned->guardian = 0;
			return true;
		}
		if (timeout_s >= 0 && now_seconds() >= until)
			return false;
		usleep(nap);
		if (nap < 5000)
			nap *= 2;
	}
}

/*
 * End the command: close its stdin (a well-behaved downstream ends at
 * EOF), give it grace_s seconds, then have the guardian kill its group.
 */
void
spawn_end(Spawned *spawned, double grace_s)
{
	int			status;

	if (spawned->to_child >= 0)
		close(spawned->to_child);
	spawned->to_child = -1;
	if (spawned->guardian > 0 && !spawn_wait(spawned, grace_s, &status))
	{
		(void) kill(spawned->guardian, SIGTERM);
		(void) spawn_wait(spawned, -1, &status);
	}
	if (spawned->from_child >= 0)
		close(spawned->from_child);
	spawned->from_child = -1;
}

/* "exited with status N" or "was killed by signal N" */
void
describe_status(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, size, "ended with wait status %d", status);
}
