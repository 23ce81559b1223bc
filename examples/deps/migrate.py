"""Brings the database's schema to SCHEMA_VERSION, then exits: 0 when it worked."""
import os
import socket
import sys

SCHEMA_VERSION = 2

with socket.create_connection(("127.0.0.1", int(os.environ.get("DB_PORT", "7432"))), timeout=5) as db:
    stream = db.makefile("rw")
    stream.write(f"MIGRATE {SCHEMA_VERSION}\n")
    stream.flush()
    if stream.readline().strip() != "OK":
        print("migrate: the database refused the migration", flush=True)
        sys.exit(1)
print(f"migrate: schema is at version {SCHEMA_VERSION}", flush=True)
