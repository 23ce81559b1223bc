#!/usr/bin/env bash
# Fuzzes superwatch's config readers with libFuzzer for SECONDS in all (default 60), split between the three
# targets: config (superwatch.yaml through the loader and StackPlan), procfile and env. A crash, a hang (an
# input taking over 5 s), a rejection without LINE:COL or an accepted config that `up` could not start stops
# the run; the input is saved in .build/fuzz/crashes/ and the script exits non-zero. Reproduce one with
#   swift build --product superwatch-fuzz && .build/debug/superwatch-fuzz TARGET FILE
# then add it to fuzz/corpus/TARGET/ and turn it into a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

seconds="${1:-60}"
scratch=.build/fuzz
# An instrumented build of its own, so that it never replaces the ordinary one.
swift build --scratch-path "$scratch" --product superwatch-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DSUPERWATCH_LIBFUZZER -Xcc -fsanitize=fuzzer-no-link
binary="$(swift build --scratch-path "$scratch" --show-bin-path)/superwatch-fuzz"

targets=(config procfile env)
each=$(( seconds / ${#targets[@]} ))
(( each >= 1 )) || each=1
mkdir -p "$scratch/crashes"
for target in "${targets[@]}"; do
    # New inputs go to the first directory (kept between runs); the committed seeds are only read.
    mkdir -p "$scratch/corpus/$target"
    echo "superwatch-fuzz: $target for ${each}s"
    # Swift's backtracer would take SIGILL (a trap) before libFuzzer, which then could not save the input.
    SWIFT_BACKTRACE=enable=no SUPERWATCH_FUZZ_TARGET="$target" "$binary" \
        -max_total_time="$each" -timeout=5 -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 \
        -dict=fuzz/superwatch.dict -artifact_prefix="$scratch/crashes/$target-" \
        "$scratch/corpus/$target" "fuzz/corpus/$target" 2>&1 | grep -v '^#[0-9]' || { echo "superwatch-fuzz: $target failed" >&2; exit 1; }
done
