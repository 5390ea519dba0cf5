#!/usr/bin/python3
"""bench/scan_delete.py SOCKET PATTERN: delete every key matching PATTERN the
way Ray's monitor cleaned up its tables: SCAN (COUNT 1000) and a pipeline of
one DEL per key, sent once per SCAN batch.  Prints {"deleted": N,
"seconds": S} (the time of the loop, not of starting Python)."""
import json
import sys
import time

import redis

r = redis.Redis(unix_socket_path=sys.argv[1], socket_timeout=60)
r.ping()
t0 = time.perf_counter()
deleted = 0
cursor = 0
while True:
    cursor, keys = r.scan(cursor, match=sys.argv[2], count=1000)
    if keys:
        pipe = r.pipeline(transaction=False)
        for k in keys:
            pipe.delete(k)
        deleted += sum(pipe.execute())
    if cursor == 0:
        break
print(json.dumps({"deleted": deleted, "seconds": time.perf_counter() - t0}))
