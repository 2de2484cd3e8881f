# Yuexiang backend: build, run and test.
#
#   make run     start the whole stack locally (installs missing packages)
#   make test    build, start an isolated stack, run unit and API tests
#   make stop    stop what `make run` started
#
# Every service is one binary: Kore 4.1 (built here from Debian's source in
# /usr/share/kore as a single-binary server) + the shared library + the
# service's own code, with its Kore configuration embedded.

CC ?= cc
BUILD ?= build
KORE_SRC ?= /usr/share/kore
SERVICES := identity gateway mall
SANITIZE ?=

KORE_INC = $(BUILD)/kore-src/include
PG_INC := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wformat=2 \
	-Wstrict-prototypes -Wpointer-arith -Wvla -Wno-unused-parameter
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -fno-strict-aliasing
OPT := -O2 -g

ifneq ($(SANITIZE),)
OPT := -O1 -g -fno-omit-frame-pointer
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
HARDEN := -fstack-protector-strong -fPIE
BUILD := build-san
endif

CFLAGS_YX := -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(OPT) $(SAN) \
	-Ishared -Ishared/kore -I$(KORE_INC) -I$(PG_INC) \
	-DKORE_USE_PGSQL -DKORE_USE_TASKS -DKORE_SINGLE_BINARY
LDFLAGS_YX := -pie -Wl,-z,relro,-z,now $(SAN)
LIBS := -lhiredis -lpq -lssl -lcrypto -largon2 -lpthread -ldl -lm

# --- Kore, compiled from Debian's source as a single-binary runtime --------
KORE_FILES := kore buf config connection domain filemap fileref json mem msg \
	module net pool runtime timer utils worker keymgr auth accesslog http \
	validator websocket pgsql tasks linux seccomp
KORE_OBJS := $(KORE_FILES:%=$(BUILD)/kore/%.o) $(BUILD)/kore/version.o
KORE_CFLAGS := -std=c99 -D_GNU_SOURCE=1 -D_FILE_OFFSET_BITS=64 -O2 -g $(SAN) $(if $(SAN),-fno-omit-frame-pointer) \
	-fstack-protector-strong -fPIE -Wall -Wno-error \
	-I$(BUILD)/kore-src/include/kore -I$(BUILD)/kore -I$(PG_INC) \
	-DKORE_USE_PGSQL -DKORE_USE_TASKS -DKORE_SINGLE_BINARY \
	-DPGSQL_INCLUDE_PATH='"$(PG_INC)"' -DPREFIX='"/usr/local"'

$(BUILD)/kore/platform.h:
	@mkdir -p $(@D)
	$(KORE_SRC)/misc/linux-platform.sh > $@

$(BUILD)/kore/version.c:
	@mkdir -p $(@D)
	printf 'const char *kore_version = "%s";\n' "$$(cat $(KORE_SRC)/RELEASE)" > $@

$(BUILD)/kore/version.o: $(BUILD)/kore/version.c
	$(CC) $(KORE_CFLAGS) -c $< -o $@

# Debian's Kore source, copied and patched (shared/kore/patches, in order):
# fixes we need that the packaged 4.1.0 lacks.
KORE_PATCHES := $(sort $(wildcard shared/kore/patches/*.patch))

$(BUILD)/kore-src/.patched: $(KORE_PATCHES)
	rm -rf $(BUILD)/kore-src && mkdir -p $(BUILD)/kore-src
	cp -r $(KORE_SRC)/src $(KORE_SRC)/include $(BUILD)/kore-src/
	for p in $(KORE_PATCHES); do patch -s -p1 -d $(BUILD)/kore-src < $$p || exit 1; done
	touch $@

$(BUILD)/kore-src/src/%.c: $(BUILD)/kore-src/.patched
	@test -f $@

.SECONDARY:

$(BUILD)/kore/%.o: $(BUILD)/kore-src/src/%.c $(BUILD)/kore/platform.h
	$(CC) $(KORE_CFLAGS) -c $< -o $@

# --- the shared library ------------------------------------------------------
# shared/*.c knows nothing of Kore (unit-tested alone); shared/kore/*.c is the
# glue between it and Kore's request and pgsql machinery.
SHARED_SRC := $(wildcard shared/*.c)
SHARED_OBJS := $(SHARED_SRC:shared/%.c=$(BUILD)/shared/%.o)
GLUE_SRC := $(wildcard shared/kore/*.c)
GLUE_OBJS := $(GLUE_SRC:shared/kore/%.c=$(BUILD)/glue/%.o)

$(BUILD)/shared/%.o: shared/%.c $(wildcard shared/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_YX) -c $< -o $@

$(BUILD)/glue/%.o: shared/kore/%.c $(wildcard shared/*.h shared/kore/*.h) $(BUILD)/kore-src/.patched
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_YX) -c $< -o $@

$(BUILD)/libyx.a: $(SHARED_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/libyxkore.a: $(GLUE_OBJS)
	$(AR) rcs $@ $^

# --- services ------------------------------------------------------------------
# $(1) = service name. Objects, the embedded Kore configuration, the binary.
define service_rules
$(1)_SRC := $$(wildcard services/$(1)/*.c)
$(1)_OBJS := $$($(1)_SRC:services/$(1)/%.c=$(BUILD)/$(1)/%.o) $(BUILD)/$(1)/conf_asset.o

$(BUILD)/$(1)/%.o: services/$(1)/%.c $$(wildcard services/$(1)/*.h shared/*.h shared/kore/*.h) $(BUILD)/kore-src/.patched
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_YX) -Iservices/$(1) -c $$< -o $$@

$(BUILD)/$(1)/conf_asset.c: services/$(1)/$(1).conf scripts/embed-asset.sh
	@mkdir -p $$(@D)
	scripts/embed-asset.sh builtin_kore_conf $$< > $$@

$(BUILD)/$(1)/conf_asset.o: $(BUILD)/$(1)/conf_asset.c
	$$(CC) -c $$< -o $$@

$(BUILD)/bin/yx-$(1): $$($(1)_OBJS) $(BUILD)/libyxkore.a $(BUILD)/libyx.a $(KORE_OBJS)
	@mkdir -p $$(@D)
	$$(CC) -rdynamic $$($(1)_OBJS) -Wl,--whole-archive $(BUILD)/libyxkore.a \
		-Wl,--no-whole-archive $(BUILD)/libyx.a $(KORE_OBJS) \
		$(LDFLAGS_YX) $(LIBS) -o $$@
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

BINS := $(SERVICES:%=$(BUILD)/bin/yx-%)

# --- unit tests (cmocka) ------------------------------------------------------
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

# Helpers several unit tests share (a real PostgreSQL, ...).
SUPPORT_SRC := $(wildcard tests/unit/support/*.c)
SUPPORT_OBJS := $(SUPPORT_SRC:tests/unit/support/%.c=$(BUILD)/unit/support/%.o)

$(BUILD)/unit/support/%.o: tests/unit/support/%.c $(wildcard tests/unit/support/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_YX) -c $< -o $@

$(BUILD)/unit/%: tests/unit/%.c $(BUILD)/libyx.a $(SUPPORT_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_YX) -Itests/unit/support -Wno-missing-prototypes $< $(SUPPORT_OBJS) \
		$(BUILD)/libyx.a $(LDFLAGS_YX) -lcmocka $(LIBS) -o $@

# Pure gateway code (no Kore): test_gw_<x>.c is linked with services/gateway/gw_<x>.c.
$(BUILD)/unit/test_gw_%: tests/unit/test_gw_%.c services/gateway/gw_%.c services/gateway/gw_%.h \
		$(BUILD)/libyx.a $(SUPPORT_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_YX) -Iservices/gateway -Itests/unit/support -Wno-missing-prototypes $< \
		services/gateway/gw_$*.c $(SUPPORT_OBJS) \
		$(BUILD)/libyx.a $(LDFLAGS_YX) -lcmocka $(LIBS) -o $@

# --- fuzz targets (clang libFuzzer) -----------------------------------------------
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)

build-fuzz/%: tests/fuzz/%.c $(SHARED_SRC)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-Ishared -I$(PG_INC) $< $(SHARED_SRC) $(LIBS) -o $@

# Drivers for pure gateway code: fuzz_gw_<x>.c also gets services/gateway/gw_<x>.c.
build-fuzz/fuzz_gw_%: tests/fuzz/fuzz_gw_%.c services/gateway/gw_%.c services/gateway/gw_%.h \
		$(SHARED_SRC)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-Ishared -Iservices/gateway -I$(PG_INC) $< services/gateway/gw_$*.c $(SHARED_SRC) \
		$(LIBS) -o $@

# --- entry points -----------------------------------------------------------------
.PHONY: all build deps run stop test unit api lint api-lint format format-check cppcheck \
	fuzz bench clean

all: build
build: $(BINS) $(UNIT_BINS)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory build
	@scripts/run.sh

stop:
	@scripts/stack.sh stop var

test: deps
	@$(MAKE) --no-print-directory build
	@BUILD=$(BUILD) scripts/test.sh

fuzz: $(FUZZ_BINS)
	@scripts/fuzz.sh $(FUZZ_BINS)

lint: format-check cppcheck

# OpenAPI lint of api-spec/ (Redocly CLI from the npm registry).
api-lint:
	@scripts/api-lint.sh

FMT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find shared services tests -name '*.[ch]')

format:
	clang-format -i $(FMT_FILES)

format-check:
	@clang-format --dry-run -Werror $(FMT_FILES) && echo "format: clean"

cppcheck:
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr --suppress=missingIncludeSystem \
		-D__linux__ -DKORE_USE_PGSQL -DKORE_SINGLE_BINARY -Ishared \
		shared services && echo "cppcheck: clean"

# The gateway's cost (any stack; a temporary one when none runs), then the
# mall's figures against the running stack of `make run DETACH=1`.
bench: deps
	@$(MAKE) --no-print-directory build
	@scripts/bench.sh
	@scripts/bench-mall.sh

clean:
	rm -rf build build-san build-fuzz
