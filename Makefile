# Top-level build: the agent, unit tests, fuzzers, the lab and its scenarios.
# `make demo` runs the main job, `make check` runs every test (see README.md).

VERSION  := 0.1.0
BUILD    := build
CC       ?= cc
PKGS     := libnl-3.0 libnl-xfrm-3.0 libnl-route-3.0 libsctp libevent json-c nss
HAVE_SYSTEMD := $(shell pkg-config --exists libsystemd 2>/dev/null && echo 1)
ifeq ($(HAVE_SYSTEMD),1)
PKGS     += libsystemd
SYSTEMD_CFLAGS := -DHAVE_SYSTEMD=1
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -DHASYNC_VERSION=\"$(VERSION)\" $(SYSTEMD_CFLAGS) -Iagent
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = $(WARN) $(CFLAGS) $(CPPFLAGS) $(PKG_CFLAGS)

# Every agent/*.c except the two programs goes into one library that the
# programs, the unit tests and the fuzzers link, so a new module is picked up
# by adding its file.
PROGRAM_SRC := agent/hasyncd.c agent/hasyncctl.c
LIB_SRC     := $(filter-out $(PROGRAM_SRC),$(wildcard agent/*.c))
LIB_OBJ     := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB         := $(BUILD)/libhasync.a
HEADERS     := $(wildcard agent/*.h)

# Header dependencies of the objects: the compiler writes OBJ.d next to each
# OBJ.o (-MMD -MP), naming the headers it read; they are included at the
# end. An object without its .d file (built before these rules) depends on
# every header until it is rebuilt. The rules that compile and link a
# program in one step (unit tests, lab tools, benchmarks, fuzz targets)
# keep the blanket $(HEADERS): gcc cannot write one exact .d for them.
DEPFLAGS    := -MMD -MP
.SECONDEXPANSION:
OBJ_HEADERS  = $$(if $$(wildcard $$(basename $$@).d),,$$(HEADERS))

UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
ASAN_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/asan/%)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 20

# Small programs the lab runs in the guest to exercise one agent module
# against the real kernel (tests/lab/tools/NAME.c -> build/labtools/NAME).
LABTOOL_SRC := $(wildcard tests/lab/tools/*.c)
LABTOOL_BIN := $(LABTOOL_SRC:tests/lab/tools/%.c=$(BUILD)/labtools/%)

TRAFFIC     := $(BUILD)/hatraffic
TRAFFIC_SRC := $(filter-out tests/lab/traffic/traffic_main.c,$(wildcard tests/lab/traffic/*.c))

.PHONY: all deps check unit asan fuzz deb ansible-check lab-image pluto lab demo bench bench-scale install clean

all: $(BUILD)/hasyncd $(BUILD)/hasyncctl $(TRAFFIC) $(LABTOOL_BIN)

deps:
	@tools/install-deps all

$(BUILD)/%.o: %.c $(OBJ_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/hasyncd: $(BUILD)/agent/hasyncd.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/hasyncctl: $(BUILD)/agent/hasyncctl.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/labtools/%: tests/lab/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

# Benchmark programs (bench/NAME.c -> build/bench/NAME), built like the
# daemon; bench/*.sh build the one they run with `make build/bench/NAME`.
$(BUILD)/bench/%: bench/%.c $(LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

# The traffic tool runs inside the lab guest; it needs nothing but libc.
$(TRAFFIC): tests/lab/traffic/traffic_main.c $(TRAFFIC_SRC) $(wildcard tests/lab/traffic/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -D_GNU_SOURCE $(LDFLAGS) -o $@ tests/lab/traffic/traffic_main.c $(TRAFFIC_SRC)

# Unit tests: each tests/unit/test_X.c is one cmocka program.
$(BUILD)/unit/%: tests/unit/%.c $(LIB) $(TRAFFIC_SRC) $(HEADERS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Wno-missing-prototypes -Itests/lab/traffic -o $@ $< $(TRAFFIC_SRC) $(LIB) \
		$(PKG_LIBS) $(shell pkg-config --libs cmocka)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer,
# linked with a library of the agent built once with the sanitizers.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_OBJ := $(LIB_SRC:%.c=$(BUILD)/asan/obj/%.o) $(TRAFFIC_SRC:%.c=$(BUILD)/asan/obj/%.o)
ASAN_LIB := $(BUILD)/asan/libhasync.a
$(BUILD)/asan/obj/%.o: %.c $(OBJ_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -O1 $(SAN) -Itests/lab/traffic -c -o $@ $<
$(ASAN_LIB): $(ASAN_OBJ)
	rm -f $@
	ar rcs $@ $^
$(BUILD)/asan/%: tests/unit/%.c $(ASAN_LIB) $(HEADERS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -O1 -Wno-missing-prototypes $(SAN) -Itests/lab/traffic -o $@ $< $(ASAN_LIB) \
		$(PKG_LIBS) $(shell pkg-config --libs cmocka)

asan: $(ASAN_BIN)
	@set -e; for t in $(ASAN_BIN); do echo "== $$t (asan)"; ASAN_OPTIONS=detect_leaks=1 $$t; done

# libFuzzer targets, each run for FUZZ_SECONDS from its seed corpus, linked
# with a library of the agent built once with clang's fuzzer instrumentation.
# clang warns about sign comparisons inside glibc's NLMSG_OK macro, which gcc
# (the build of record) does not report for system-header macros.
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -Wno-sign-compare
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_LIB := $(BUILD)/fuzz/libhasync.a
$(BUILD)/fuzz/obj/%.o: %.c $(OBJ_HEADERS)
	@mkdir -p $(dir $@)
	clang $(WARN) $(FUZZ_FLAGS) $(DEPFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(WARN) -Wno-missing-prototypes -g -O1 $(CPPFLAGS) $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined $(LDFLAGS) -o $@ $< $(FUZZ_LIB) $(PKG_LIBS)

fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do \
		name=$$(basename $$f); corpus=tests/fuzz/corpus/$$name; \
		work=$(BUILD)/fuzz/$$name.corpus; mkdir -p $$work; \
		echo "== $$name for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$work $$([ -d $$corpus ] && echo $$corpus) \
			2>$(BUILD)/fuzz/$$name.log || { tail -40 $(BUILD)/fuzz/$$name.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec' $(BUILD)/fuzz/$$name.log || true; \
	done

lab-image:
	@tools/install-deps lab
	tests/lab/image.sh

# Libreswan 5.2 with our patch series (pluto-patches/), built in a trixie
# chroot and cached; the lab mounts it for scenarios that call
# lab_use_patched_pluto.
pluto:
	@tools/install-deps lab
	pluto-patches/build.sh > $(BUILD)/pluto.dir.tmp && mv $(BUILD)/pluto.dir.tmp $(BUILD)/pluto.dir

# Every scenario in tests/lab/scenarios, smoke first; all run, then the
# failures are listed. The patched pluto first: scenarios with LAB_PLUTO_HA=1
# (failover, ike-continuity) run it.
LAB_SCENARIOS ?= smoke $(filter-out smoke,$(sort $(basename $(notdir $(wildcard tests/lab/scenarios/*.sh)))))
lab: all lab-image pluto
	@failed=; for s in $(LAB_SCENARIOS); do tests/lab/run $$s || failed="$$failed $$s"; done; \
	if [ -n "$$failed" ]; then echo "lab: failed:$$failed"; exit 1; fi; \
	echo "lab: every scenario passed ($(LAB_SCENARIOS))"

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
check: deps
	$(MAKE) -j$(JOBS) all
	$(MAKE) -j$(JOBS) unit
	$(MAKE) -j$(JOBS) asan
	$(MAKE) -j$(JOBS) fuzz
	$(MAKE) deb
	$(MAKE) ansible-check
	$(MAKE) lab

demo: deps
	$(MAKE) all lab-image pluto
	tests/lab/demo

bench: all
	@set -e; for b in $(wildcard bench/*.sh); do $$b; done

# The scale scenario as a benchmark: N=1,000 real IKE tunnels (SCALE_SIZES)
# with the agent, then without it; figures in bench/results/scale-*.json.
# `make check` runs the same scenario at 100 tunnels.
bench-scale: all lab-image pluto
	bench/scale.sh

# Installs the daemon, the control tool (also as Libreswan's `ipsec ha`),
# man pages, keepalived scripts and systemd units. DESTDIR for packaging.
PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
LIBEXECIPSEC ?= $(PREFIX)/libexec/ipsec
MANDIR     ?= $(PREFIX)/share/man
SCRIPTDIR  ?= $(PREFIX)/libexec/hasync
UNITDIR    ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
install: $(BUILD)/hasyncd $(BUILD)/hasyncctl
	install -D -m 0755 $(BUILD)/hasyncd $(DESTDIR)$(SBINDIR)/hasyncd
	install -D -m 0755 $(BUILD)/hasyncctl $(DESTDIR)$(SBINDIR)/hasyncctl
	install -d $(DESTDIR)$(LIBEXECIPSEC)
	ln -sf $(SBINDIR)/hasyncctl $(DESTDIR)$(LIBEXECIPSEC)/ha
	install -D -m 0644 docs/man/hasyncd.8 $(DESTDIR)$(MANDIR)/man8/hasyncd.8
	install -D -m 0644 docs/man/hasyncctl.8 $(DESTDIR)$(MANDIR)/man8/hasyncctl.8
	install -D -m 0644 docs/man/hasyncd.conf.5 $(DESTDIR)$(MANDIR)/man5/hasyncd.conf.5
	@set -e; for f in keepalived-scripts/hasync-*; do \
		[ -f "$$f" ] && install -D -m 0755 "$$f" $(DESTDIR)$(SCRIPTDIR)/$$(basename $$f); done; true
	@set -e; for f in systemd/*.service; do \
		[ -f "$$f" ] && install -D -m 0644 "$$f" $(DESTDIR)$(UNITDIR)/$$(basename $$f); done; true
	@set -e; for f in systemd/*.service.d/*.conf; do \
		[ -f "$$f" ] && install -D -m 0644 "$$f" $(DESTDIR)$(UNITDIR)/$$(basename $$(dirname $$f))/$$(basename $$f); done; true

# The Debian package (debian/) of the commit DEB_REV (default HEAD: what is
# committed, not work in progress in the tree). dpkg-buildpackage builds in
# place and wants a clean tree, so it runs on `git archive` of that commit
# in build/deb/src; the .debs land in build/deb/. Then lintian, which fails
# the target on any error.
DEB_DIR := $(BUILD)/deb
DEB_REV ?= HEAD
deb:
	@tools/install-deps deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	git archive --format=tar $(DEB_REV) | tar -x -C $(DEB_DIR)/src
	@cd $(DEB_DIR)/src && v=$$(dpkg-parsechangelog -S Version) && \
	m=$$(sed -n 's/^VERSION *:= *//p' Makefile) && [ "$$v" = "$$m" ] || \
		{ echo "deb: debian/changelog is at $$v, the Makefile at $$m"; exit 1; }
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -uc -us -j$(JOBS) >../build.log 2>&1 || \
		{ tail -40 ../build.log; exit 1; }
	lintian --fail-on error --tag-display-limit 0 $(DEB_DIR)/hasync_*.changes
	@ls -l $(DEB_DIR)/*.deb

# The ansible role (ansible/roles/hasync), without the lab: syntax check of
# its test playbooks, ansible-lint, and real runs of the role against two
# local "nodes" writing into temporary roots under build/ansible-check
# (packages and services off), --check --diff before and after, the second
# run required to change nothing. See ansible/check.
ansible-check: $(BUILD)/hasyncd
	@tools/install-deps ansible
	HASYNCD=$(BUILD)/hasyncd ansible/check

clean:
	rm -rf $(BUILD)

-include $(wildcard $(LIB_OBJ:.o=.d) $(BUILD)/agent/hasyncd.d $(BUILD)/agent/hasyncctl.d \
	$(ASAN_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d))
