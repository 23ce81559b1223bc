"""A worker that takes a job every JOB_INTERVAL seconds; several replicas run side by side."""
import os
import signal
import sys
import time

replica = os.environ.get("SUPERWATCH_REPLICA", "1")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"worker {replica} ready")
job = 0
while True:
    time.sleep(float(os.environ.get("JOB_INTERVAL", "2")))
    job += 1
    print(f"worker {replica} finished job {job}")
