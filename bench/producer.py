"""Writes N numbered lines to stdout, line-buffered like a chatty dev server's logger."""
import sys

name, count = sys.argv[1], int(sys.argv[2])
write = sys.stdout.write
for i in range(count):
    write(f"{name} request {i} GET /api/items?page={i % 97} 200 {i % 13}ms\n")
