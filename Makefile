# audit_guard: PGXS build, plus the test, demo and benchmark entry points.

EXTENSION = audit_guard
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = audit_guard
OBJS = \
	src/audit_guard.o \
	src/registry.o \
	src/refuse.o \
	src/protect.o \
	src/triggers.o \
	src/definition.o \
	src/postcheck.o \
	src/utility.o \
	src/object_access.o \
	src/executor.o \
	src/roles.o \
	src/overrides.o \
	src/seal_format.o \
	src/seal_data.o \
	src/seal.o \
	src/verify.o \
	src/seal_erasures.o \
	src/seal_snapshot.o \
	src/retention.o \
	src/erase.o

# every released script and every upgrade step: 1.1 installs as 1.0 + 1.0--1.1
DATA = $(wildcard $(EXTENSION)--*.sql)
PGFILEDESC = "audit_guard - append-only audit tables"

# pg_regress suites in sql/ + expected/, run against the cluster that
# scripts/test.sh starts (installcheck never starts a server of its own).
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=audit_guard

PG_CONFIG ?= pg_config
# PostgreSQL's own headers are not -Wextra clean: read them as system headers
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS += -std=c11 -Wall -Wextra
# Warnings fail the build in CI and the tests (scripts/test.sh sets
# AG_WERROR=1), not in a package built later with a newer compiler.
ifeq ($(AG_WERROR),1)
PG_CFLAGS += -Werror
endif
EXTRA_CLEAN = results regression.diffs regression.out tmp_check

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# audit_guard_verify (client/), built, installed into $(bindir) and cleaned
# with the module; its own Makefile is plain PGXS too.
CLIENT_TARGETS = client-all client-install client-uninstall client-clean
all: client-all
install: client-install
uninstall: client-uninstall
clean: client-clean
.PHONY: $(CLIENT_TARGETS)
$(CLIENT_TARGETS): client-%:
	$(MAKE) -C client $* PG_CONFIG=$(PG_CONFIG)

.PHONY: test test-majors test-package demo bench metacheck dist
# Builds, installs, starts a throwaway cluster, runs every suite, cleans up.
test: metacheck
	bash scripts/test.sh

# The whole suite against every PostgreSQL major at hand (15, 17, 18, 19),
# each built from clean; 17 and 18 are built from Debian's source packages.
test-majors: metacheck
	bash scripts/test-majors.sh

# META.json must follow the PGXN Meta Spec and carry the control file's version.
metacheck:
	@perl scripts/metacheck.pl META.json

# The PGXN release zip of the committed tree (git archive of HEAD).
DISTNAME = $(EXTENSION)-$(EXTVERSION).0
dist: metacheck
	@git diff --quiet HEAD -- || { echo "dist: uncommitted changes; git archive packs HEAD, commit them first" >&2; exit 1; }
	git archive --format=zip --prefix=$(DISTNAME)/ -o $(DISTNAME).zip HEAD
	@echo "$(DISTNAME).zip"

# The Debian package: build, install, demo against the installed files,
# remove (replaces the library `make test` installed: run it last).
test-package:
	bash scripts/test-package.sh

# A throwaway cluster that shows the guard refusing real attacks.
demo:
	bash scripts/demo.sh

# pgbench ratios against a baseline measured in the same run.
bench:
	bash bench/run.sh
