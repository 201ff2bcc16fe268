#!/usr/bin/env bash
# Size and speed of the appliance (a bench, not a test): builds every image
# the repo builds (8 tickets, 5 members) and prints, as the Markdown table
# of docs/appliance.md, flash and static RAM (arm-none-eabi-size), the
# worst-case stack from the call graph (stack-bound.sh) and their total
# against the budget (64 KiB flash, 16 KiB RAM). Then it runs the `bench`
# image in QEMU, once with `-icount shift=0` (1 instruction = 1 ns of
# virtual time: exact instruction counts) and once on QEMU's real-time
# clock, and prints the time to handle one authenticated packet.
#
#   bench.sh           print the tables
#   bench.sh --write   also put the size table into docs/appliance.md
#                      (between its `sizes:begin` and `sizes:end` marks)
#
# Builds go to $CARGO_TARGET_DIR (default: target/) in sub-directories.
set -euo pipefail
cd "$(dirname "$0")"
TT=thumbv7em-none-eabihf/release
OUT=${CARGO_TARGET_DIR:-target}
DOC=../../../docs/appliance.md
FLASH_BUDGET=65536
RAM_BUDGET=16384

# Each variant builds the appliance and the bench with the same features
# and log level, in its own target directory (the shipped one in the
# default one, which 30-appliance builds too).
dir() { [ "$1" = shipped ] && echo "$OUT" || echo "$OUT/$1"; }
build() { # NAME DEFMT_LOG CARGO-ARGS...
    local name=$1 level=$2
    shift 2
    DEFMT_LOG=$level cargo build --release -q --bins --target-dir "$(dir "$name")" "$@"
}
build shipped info
build defmt-errors error
build nolog info --no-default-features
build textlog info --no-default-features --features log

run_bench() { # NAME QEMU-ARGS...
    local name=$1
    shift
    timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none \
        -semihosting-config enable=on,target=native "$@" -kernel "$(dir "$name")/$TT/bench"
}

# Instructions to handle one authenticated packet (receive, verify, engine,
# sign, send), from the variant's bench under -icount shift=0.
per_packet() { # NAME
    local ticks
    ticks=$(run_bench "$1" -icount shift=0 | grep -ao 'BENCH handle_authenticated_packet n=[0-9]* avg_ticks=[0-9]*' |
        sed 's/.*avg_ticks=//')
    printf '%d instr., %d µs' $((ticks * 40)) $((ticks * 16 / 10))
}

row() { # NAME VARIANT
    local name=$1 elf text data bss flash static stack total verdict packet
    elf=$(dir "$2")/$TT/appliance
    read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -n 1)
    flash=$((text + data))
    static=$((data + bss))
    packet=$(per_packet "$2")
    if stack=$(./stack-bound.sh "$elf" 2>/dev/null | sed -n 's/^worst-case stack: \([0-9]*\) bytes$/\1/p') &&
        [ -n "$stack" ] && ./stack-bound.sh "$elf" >/dev/null 2>&1; then
        total=$((static + stack))
        if [ "$flash" -le "$FLASH_BUDGET" ] && [ "$total" -le "$RAM_BUDGET" ]; then verdict=yes; else verdict=no; fi
        printf '| %s | %d | %d | %d | %d | %s | %s |\n' "$name" "$flash" "$static" "$stack" "$total" "$packet" "$verdict"
    else
        # core::fmt calls through trait objects: no bound from the call graph.
        if [ "$flash" -le "$FLASH_BUDGET" ]; then verdict="no stack bound"; else verdict="no: flash"; fi
        printf '| %s | %d | %d | none (dynamic calls) | – | %s | %s |\n' "$name" "$flash" "$static" "$packet" "$verdict"
    fi
}
table() {
    echo '| Image (8 tickets, 5 members) | flash B | static RAM B | worst-case stack B | RAM total B | per packet (at 25 MHz, 1 instr./cycle) | within 64 KiB / 16 KiB |'
    echo '|---|---|---|---|---|---|---|'
    row '**shipped**: defmt, info lines (`cargo build --release`)' shipped
    row 'defmt, errors only (`DEFMT_LOG=error`)' defmt-errors
    row 'no logging (`--no-default-features`)' nolog
    row 'text logs (`--no-default-features --features log`)' textlog
}
printf '\n'
table | tee "$OUT/size-table.md"

if [ "${1:-}" = "--write" ]; then
    awk -v table="$OUT/size-table.md" '
        /<!-- sizes:begin/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
        /<!-- sizes:end/ { skip = 0 }
        !skip' "$DOC" >"$DOC.new" && mv "$DOC.new" "$DOC"
    echo "(written to docs/appliance.md)"
fi

printf '\nbench of the shipped variant, -icount shift=0 (ticks x 40 = instructions; at 1 cycle/instruction, ticks x 1.6 = us at 25 MHz):\n'
run_bench shipped -icount shift=0 | grep -ao 'BENCH .*' | while read -r tag what rest; do
    if [[ $rest =~ avg_ticks=([0-9]+)\ min_ticks=([0-9]+)\ max_ticks=([0-9]+) ]]; then
        a=${BASH_REMATCH[1]} mn=${BASH_REMATCH[2]} mx=${BASH_REMATCH[3]}
        printf '  %-36s %s  instructions avg %d (min %d, max %d)  ~%d us at 25 MHz\n' \
            "$what" "${rest%% *}" $((a * 40)) $((mn * 40)) $((mx * 40)) $((a * 16 / 10))
    else
        printf '  %s %s\n' "$what" "$rest"
    fi
done

printf '\nbench of the shipped variant, QEMU real-time clock (host speed, not the M4'"'"'s; ticks are 40 ns):\n'
run_bench shipped | grep -ao 'BENCH .*' | sed 's/^BENCH /  /'
