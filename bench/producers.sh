# Sourced by the throughput benchmarks (bench/throughput.sh, bench/pty-throughput.sh): the same four producers
# (bench/producer.py) in one place. `write_producers DIR LINES` puts producer.py, a superwatch.yaml running four
# of them (p1 to p4, LINES lines each) and the same as a Procfile into DIR.
write_producers() {
    local dir=$1 lines=$2 bench
    bench=$(dirname "${BASH_SOURCE[0]}")
    cp "$bench/producer.py" "$dir/"
    {
        echo "processes:"
        for i in 1 2 3 4; do echo "  p$i: {command: [python3, producer.py, p$i, \"$lines\"]}"; done
    } > "$dir/superwatch.yaml"
    for i in 1 2 3 4; do echo "p$i: python3 producer.py p$i $lines"; done > "$dir/Procfile"
}
