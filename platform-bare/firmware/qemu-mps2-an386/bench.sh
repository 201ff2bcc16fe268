#!/usr/bin/env bash
# Size and speed of the appliance (a bench, not a test): builds the 8-ticket
# image in three logging variants and prints flash and static RAM
# (arm-none-eabi-size), then runs the `bench` image in QEMU, once with
# `-icount shift=0` (1 instruction = 1 ns of virtual time: exact instruction
# counts) and once on QEMU's real-time clock, and prints the time to handle
# one authenticated packet. The stack high-water mark comes from a running
# appliance: see the STATUS lines of scripts/test.d/30-appliance.
set -euo pipefail
cd "$(dirname "$0")"
TT=thumbv7em-none-eabihf/release

cargo build --release -q --bins
cargo build --release -q --bin appliance --no-default-features --features defmt --target-dir target/defmt
DEFMT_LOG=info cargo build --release -q --bin appliance --no-default-features --features defmt \
    --target-dir target/defmt-info
cargo build --release -q --bin appliance --no-default-features --target-dir target/nolog

printf '\n%-44s %8s %6s %6s %12s %14s\n' "image (8 tickets)" text data bss "flash" "static RAM"
row() {
    local name=$1 elf=$2
    read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -n 1)
    awk -v n="$name" -v t="$text" -v d="$data" -v b="$bss" \
        'BEGIN { printf "%-44s %8d %6d %6d %7d B %4.1fK %8d B\n", n, t, d, b, t + d, (t + d) / 1024, d + b }' 
}
row "appliance, log over semihosting (default)" "target/$TT/appliance"
row "appliance, defmt (DEFMT_LOG default: errors)" "target/defmt/$TT/appliance"
row "appliance, defmt, DEFMT_LOG=info" "target/defmt-info/$TT/appliance"
row "appliance, no logging" "target/nolog/$TT/appliance"

run_bench() {
    timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none \
        -semihosting-config enable=on,target=native "$@" -kernel "target/$TT/bench"
}

printf '\nbench, -icount shift=0 (ticks x 40 = instructions; at 1 cycle/instruction, ticks x 1.6 = us at 25 MHz):\n'
run_bench -icount shift=0 | while read -r tag what rest; do
    if [[ $rest =~ avg_ticks=([0-9]+)\ min_ticks=([0-9]+)\ max_ticks=([0-9]+) ]]; then
        a=${BASH_REMATCH[1]} mn=${BASH_REMATCH[2]} mx=${BASH_REMATCH[3]}
        printf '  %-36s %s  instructions avg %d (min %d, max %d)  ~%d us at 25 MHz\n' \
            "$what" "${rest%% *}" $((a * 40)) $((mn * 40)) $((mx * 40)) $((a * 16 / 10))
    else
        printf '  %s %s\n' "$what" "$rest"
    fi
done

printf '\nbench, QEMU real-time clock (host speed, not the M4'"'"'s; ticks are 40 ns):\n'
run_bench | sed 's/^BENCH /  /'
