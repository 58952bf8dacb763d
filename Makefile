# drivetribe: PGXS build.  See README.md for the two commands that matter.
EXTENSION = drivetribe
MODULE_big = drivetribe
DATA = drivetribe--1.0.sql drivetribe--1.0--1.1.sql drivetribe--1.1--1.2.sql \
	drivetribe--1.2--1.3.sql drivetribe--1.3--1.4.sql drivetribe--1.4--1.5.sql \
	drivetribe--1.5--1.6.sql drivetribe--1.6--1.7.sql drivetribe--1.7--1.8.sql \
	drivetribe--1.8--1.9.sql
OBJS = \
	src/drivetribe.o \
	src/event.o \
	src/event_shapes.o \
	src/rebuild.o \
	src/write_api.o \
	src/project.o \
	src/sink_live.o \
	src/counters.o \
	src/read_api.o \
	src/feed.o \
	src/rank_worker.o \
	src/stream_output.o \
	src/validate.o \
	src/idempotency.o \
	src/replay.o \
	src/reconcile.o \
	src/monitor.o \
	src/progress.o \
	src/statements.o \
	src/locks.o \
	src/comments.o \
	src/projection.o \
	src/projection_worker.o \
	src/worker.o

# Regression tests: every sql/NAME.sql, in name order, against the server
# that PGHOST/PGPORT point at (scripts/test.sh starts a throwaway one).
REGRESS = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS ?=

PG_CPPFLAGS = -I$(srcdir)/src

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the shared headers (PGXS tracks no dependencies)
$(OBJS): $(wildcard src/*.h)

# the stream consumer program, src/consume (its own PGXS Makefile: one
# Makefile builds either a module or a program)
all: consume
consume:
	$(MAKE) -C src/consume PG_CONFIG=$(PG_CONFIG)
install: install-consume
install-consume:
	$(MAKE) -C src/consume PG_CONFIG=$(PG_CONFIG) install
uninstall: uninstall-consume
uninstall-consume:
	$(MAKE) -C src/consume PG_CONFIG=$(PG_CONFIG) uninstall
clean: clean-consume
clean-consume:
	$(MAKE) -C src/consume PG_CONFIG=$(PG_CONFIG) clean
.PHONY: consume install-consume uninstall-consume clean-consume
