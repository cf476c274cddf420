# domicile - build, test, demo.  `make` builds build/domicile and
# build/libdomicile.a; `make test` and `make demo` install what they need.

CC      ?= cc
PKGS    := libpq sqlite3 yaml-0.1 libcrypto jansson libmicrohttpd
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-missing-field-initializers
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS_ALL = -Iinclude -Isrc -I$(GEN)
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) $(CFLAGS)
LIBS_ALL = $(PKG_LIBS) -lpthread -lm

BUILD   ?= build
GEN     := $(BUILD)/gen
LIB_SRC := $(wildcard src/util/*.c src/core/*.c src/store/*.c src/demo/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/geo_gen.o
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/dashboard.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test asan-bins unit-bins demo fuzz bench clean format compile_commands.json check-format
all: $(BUILD)/domicile $(BUILD)/libdomicile.a

deps:
	@tools/install-deps.sh build

$(GEN)/geo_gen.c: data/countries.tsv data/cities.tsv data/rtt-measured.tsv tools/gen_geo.sh
	@mkdir -p $(GEN)
	sh tools/gen_geo.sh data/countries.tsv data/cities.tsv data/rtt-measured.tsv > $@.tmp && mv $@.tmp $@

$(GEN)/dashboard.c: src/cli/dashboard.html tools/embed.sh
	@mkdir -p $(GEN)
	sh tools/embed.sh serve_dashboard_html src/cli/dashboard.html > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/dashboard.o: $(GEN)/dashboard.c
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/gen/geo_gen.o: $(GEN)/geo_gen.c
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libdomicile.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/domicile: $(CLI_OBJ) $(BUILD)/libdomicile.a
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(BUILD)/libdomicile.a $(LIBS_ALL) $(LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdomicile.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) -Itests $(CFLAGS_ALL) -o $@ $< $(BUILD)/libdomicile.a $(LIBS_ALL) -lcmocka $(LDFLAGS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libdomicile.a
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CFLAGS_ALL) -o $@ $< $(BUILD)/libdomicile.a $(LIBS_ALL) $(LDFLAGS)

$(BUILD)/tools/%: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(OPT) -o $@ $< -lpthread $(LDFLAGS)

$(BUILD)/tests/tools/writer $(BUILD)/tests/tools/failrun: $(BUILD)/tests/tools/%: tests/tools/%.c \
		$(BUILD)/libdomicile.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libdomicile.a $(LIBS_ALL) $(LDFLAGS)

$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(OPT) $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS) -lpthread $(LDFLAGS)

unit-bins: $(UNIT_BIN) $(BUILD)/domicile $(BUILD)/examples/locate $(BUILD)/tools/delayproxy \
	$(BUILD)/tests/tools/rtt_client $(BUILD)/tests/tools/writer $(BUILD)/tests/tools/failrun \
	$(BUILD)/tests/tools/cutproxy $(BUILD)/tests/tools/sqlite_app

# The test suite runs under ASan and UBSan in a build of its own, its
# jobs several at a time (tests/run.sh --help; TESTS=NAME... for a subset,
# JOBS=N for the jobs at a time); on this machine every PostgreSQL
# scenario must run, none may skip.
NPROC := $(shell nproc 2>/dev/null || echo 2)
ASAN_OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan-bins:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT="$(ASAN_OPT)" unit-bins

test:
	@tools/install-deps.sh test
	@$(MAKE) --no-print-directory -j$(NPROC) asan-bins
	@DOMICILE_PG_REQUIRED=1 tests/run.sh --build build/asan $(if $(JOBS),-j $(JOBS)) $(TESTS)

demo:
	@tools/install-deps.sh build
	@$(MAKE) --no-print-directory all
	$(BUILD)/domicile demo $(DEMO_ARGS)

FUZZ_SECONDS ?= 60
fuzz:
	@tools/install-deps.sh fuzz
	@mkdir -p $(BUILD)/fuzz
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build/fuzz/libdomicile.a
	clang $(CPPFLAGS_ALL:$(GEN)=build/fuzz/gen) $(CSTD) -O1 -g -fsanitize=fuzzer,address,undefined \
	    $(PKG_CFLAGS) -o build/fuzz/fuzz_config tests/fuzz/fuzz_config.c build/fuzz/libdomicile.a $(LIBS_ALL)
	@mkdir -p build/fuzz/corpus
	cp tests/fuzz/corpus/* build/fuzz/corpus/ 2>/dev/null || true
	build/fuzz/fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build/fuzz/corpus

bench:
	@tools/install-deps.sh bench
	@$(MAKE) --no-print-directory all build/tests/tools/writer build/tools/delayproxy \
		build/tests/tools/sqlite_app
	bench/plan_1m.sh
	bench/move_sqlite.sh
	bench/move_pg.sh
	bench/fence_cost.sh
	bench/fence_cost_sqlite.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

compile_commands.json:
	$(MAKE) clean && bear -- $(MAKE) all unit-bins

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
