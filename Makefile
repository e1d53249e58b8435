# masqd — one plain GNU Makefile.
#   make            build masqd and masqctl
#   make check      unit tests, then the network-namespace end-to-end tests (root)
#   make demo       throw-away namespace topology showing masqd at work (root)
#   make deps       install the Debian packages the build and the tests need
#   WERROR=1  SANITIZE=address,undefined  V=1  PREFIX=/usr/local  DESTDIR=

VERSION  := 0.1.0
REVISION := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CC       ?= cc
PKG_CONFIG ?= pkg-config
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SANITIZE ?=
BUILD    ?= build$(if $(SANITIZE),-san)

# libnl-route-3 (node addresses, --snat-*) is linked: two small libraries
# with nothing below them but libc, about 0.35 ms per exec (hyperfine,
# masqd --version), not worth a dlopen table of its ~20 functions.
PKGS     := libnftnl libmnl yaml-0.1 jansson libnl-route-3.0
# libmicrohttpd: headers only; agent/http.c loads it with dlopen (agent/dl.c)
# when an endpoint starts; libcurl the same, when the API watch starts.
# Linked normally they cost 1.0 and 3.2 ms at every exec, which --once and
# masqctl never need (hyperfine, masqd --version: 1.0 ms against 4.5 ms).
DLOPEN_PKGS := libmicrohttpd libcurl
TEST_PKGS := cmocka

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wwrite-strings -Wundef -Wno-unused-parameter
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -fno-strict-aliasing
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -D_GNU_SOURCE $(WARN) $(HARDEN) -MMD -MP -I. \
            -DMASQD_VERSION='"$(VERSION)"' -DMASQD_REVISION='"$(REVISION)"' \
            $(shell $(PKG_CONFIG) --cflags $(PKGS) $(DLOPEN_PKGS))
LDFLAGS  += -pie -Wl,-z,relro,-z,now -Wl,--as-needed
LDLIBS   += $(shell $(PKG_CONFIG) --libs $(PKGS)) -lm
ifeq ($(WERROR),1)
CFLAGS   += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif

CONFIG_SRC  := config/cidr.c config/duration.c config/diag.c config/doc.c config/file.c \
               config/model.c config/config.c config/precedence.c config/outcome.c \
               config/flags.c config/ruleset.c config/hostport.c config/yamltree.c \
               config/policy.c config/pstore.c config/nameset.c config/sources.c config/slots.c config/kubeconfig.c \
               config/kwatch.c config/snat.c config/podsrc.c config/node.c
CONFIG_SRC  += config/lpm.c config/merge.c config/explain.c config/build.c config/avl.c \
               config/lpmidx.c config/incr.c config/cidrbag.c
NETLINK_SRC := netlink/batch.c netlink/exprs.c netlink/nft.c netlink/reply.c netlink/table.c \
               netlink/legacy.c netlink/state.c netlink/lookup.c netlink/nodeaddr.c \
               netlink/conntrack.c netlink/podset.c netlink/natchains.c
AGENT_SRC   := agent/log.c agent/agent.c agent/stats.c agent/reconcile.c agent/intake.c \
               agent/legacy.c agent/uninstall.c agent/loop.c agent/watch.c agent/caps.c \
               agent/expo.c agent/http.c agent/metrics.c agent/status.c agent/kube.c \
               agent/kube_http.c agent/kube_recv.c agent/kube_state.c agent/explain_live.c agent/dl.c agent/snat.c agent/podsrc.c \
               agent/ctclean.c agent/ctrecheck.c agent/natconflict.c agent/statusdoc.c
MASQCTL_SRC := tools/masqctl.c tools/masqctl_status.c
LIB_OBJ     := $(patsubst %.c,$(BUILD)/%.o,$(CONFIG_SRC) $(NETLINK_SRC) $(AGENT_SRC))

UNIT_TESTS  := cidr doc duration config precedence log flags ruleset batch reply expo sources kube \
               pstore snat podsrc
UNIT_TESTS  += lpm masqcidrs explain conntrack incr ctclean mergekeep natchains
UNIT_BINS   := $(addprefix $(BUILD)/tests/unit/test_,$(UNIT_TESTS))
NETNS_BINS  := $(BUILD)/tests/netns/nfthelper $(BUILD)/tests/netns/faultnl.so

all: $(BUILD)/masqd $(BUILD)/masqctl

$(BUILD)/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libmasq.a: $(LIB_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/masqd: $(BUILD)/agent/main.o $(BUILD)/libmasq.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/masqctl: $(patsubst %.c,$(BUILD)/%.o,$(MASQCTL_SRC)) $(BUILD)/libmasq.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/test_%: $(BUILD)/tests/unit/test_%.o $(BUILD)/libmasq.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell $(PKG_CONFIG) --libs $(TEST_PKGS))

$(BUILD)/tests/netns/%: $(BUILD)/tests/netns/%.o $(BUILD)/libmasq.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The netlink fault shim (LD_PRELOAD, tests only): never sanitized itself, so
# it preloads into the plain and the ASan build alike.
$(BUILD)/tests/netns/faultnl.so: tests/netns/faultnl.c
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -g $(WARN) -fPIC -shared -o $@ $< -ldl

$(BUILD)/tests/unit/%.o: CFLAGS += $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS))

# Fuzz targets need clang's libFuzzer; `make fuzz` builds them, `make check` smoke-runs them.
FUZZ_TARGETS := config doc duration cidr policy watch kubeconfig pstore snat node conntrack
FUZZ_BINS    := $(addprefix build-fuzz/fuzz_,$(FUZZ_TARGETS))
FUZZ_CFLAGS  := -std=gnu11 -D_GNU_SOURCE -g -O1 -I. -fsanitize=fuzzer,address,undefined \
                $(shell $(PKG_CONFIG) --cflags $(PKGS))
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CONFIG_SRC)
	$(call say,FUZZ,$@)
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)
# conntrack.c alone: the fuzz target defines the two socket calls it makes
build-fuzz/fuzz_conntrack: netlink/conntrack.c
fuzz: $(FUZZ_BINS)

check: all $(UNIT_BINS) $(NETNS_BINS) $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) bash tests/run.sh

check-unit: all $(UNIT_BINS)
	$(Q)BUILD=$(BUILD) bash tests/run.sh unit

demo: deps all
	$(Q)BUILD=$(BUILD) bash tools/demo.sh

bench: all $(BUILD)/tools/bench/flood $(BUILD)/tools/bench/load $(BUILD)/tests/netns/nfthelper
	$(Q)BUILD=$(BUILD) bash tools/bench/run.sh

$(BUILD)/tools/bench/flood: $(BUILD)/tools/bench/flood.o
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/tools/bench/load: $(BUILD)/tools/bench/load.o $(BUILD)/libmasq.a
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	$(Q)bash tools/deps.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BUILD)/masqd $(BUILD)/masqctl $(DESTDIR)$(BINDIR)/
	install -m 0644 deploy/man/masqd.8 deploy/man/masqctl.8 $(DESTDIR)$(MANDIR)/man8/
	sed 's|@SBINDIR@|$(BINDIR)|g' deploy/systemd/masqd.service >$(DESTDIR)$(UNITDIR)/masqd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/masqd.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/masqd $(DESTDIR)$(BINDIR)/masqctl
	rm -f $(DESTDIR)$(MANDIR)/man8/masqd.8 $(DESTDIR)$(MANDIR)/man8/masqctl.8
	rm -f $(DESTDIR)$(UNITDIR)/masqd.service

FORMAT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	$(Q)clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format OK"

clean:
	rm -rf build build-san build-fuzz

.PHONY: all bench check check-unit demo deps install uninstall format format-check clean fuzz
.SECONDARY:
-include $(shell find build build-san -name '*.d' 2>/dev/null)
