#!/usr/bin/env python3
"""A simulated copy job for scripts/demo: the move of a billion files (2 PB) from the two data
centres into S3, well advanced in the US, crawling in Europe. Every second it advances its counters and publishes them
twice, as a real copier would: the US data centre's job in a row of its job database
(headroom_test.copy_progress in the services' MariaDB, written with the `mariadb` client as
the load user) and the EU data centre's job as JSON over HTTP (GET /progress.json). Runs until
killed; progress continues from where the counters stand, so a restart picks up where it left.

usage: demo_copier.py MYSQL_HOST:PORT USER PASSWORD HTTP_PORT
"""
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MYSQL, USER, PASSWORD, HTTP_PORT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HOST, PORT = MYSQL.rsplit(":", 1)
FILE_BYTES = 2_000_000  # 2 PB over a billion files: 2 MB each on average

# (total files, share done when the demo first starts, files per second, failed per 10,000).
# The EU job crawls: at half a file a second its last 3.8% take a year, past D-day, so
# MIGRATION_PROGRESS is CRITICAL for it and the D-day board says NO-GO with that reason.
JOBS = {
    "us": (600_000_000, 0.985, 900.0, 2),
    "eu": (400_000_000, 0.962, 0.5, 5),
}
state = {}


def sql(statements):
    subprocess.run(
        ["mariadb", "-h", HOST, "-P", PORT, "-u", USER, "-N", "-e", statements],
        env={**os.environ, "MYSQL_PWD": PASSWORD}, check=True, capture_output=True, text=True,
    )


def counters(job):
    total, _, _, failed_per_10k = JOBS[job]
    done = min(state[job], total)
    failed = int(done * failed_per_10k / 10_000)
    skipped = int(done * 0.01)  # already in S3 from an earlier attempt
    copied = int(done) - failed - skipped
    return {
        "files": {"total": total, "copied": copied, "failed": failed, "skipped": skipped},
        "bytes": {"total": total * FILE_BYTES, "copied": copied * FILE_BYTES,
                  "failed": failed * FILE_BYTES, "skipped": skipped * FILE_BYTES},
    }


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/progress.json":
            self.send_error(404)
            return
        body = json.dumps(counters("eu")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


sql("CREATE TABLE IF NOT EXISTS headroom_test.copy_progress (job VARCHAR(16) PRIMARY KEY, "
    "files_total BIGINT, files_copied BIGINT, files_failed BIGINT, files_skipped BIGINT, "
    "bytes_total BIGINT, bytes_copied BIGINT, bytes_failed BIGINT, bytes_skipped BIGINT, "
    "updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)")
for job, (total, share, _, _) in JOBS.items():
    state[job] = total * share
server = ThreadingHTTPServer(("127.0.0.1", HTTP_PORT), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
last = time.monotonic()
while True:
    time.sleep(1)
    now = time.monotonic()
    for job, (_, _, per_s, _) in JOBS.items():
        state[job] += per_s * (now - last)
    last = now
    c = counters("us")
    f, b = c["files"], c["bytes"]
    sql("REPLACE INTO headroom_test.copy_progress (job, files_total, files_copied, files_failed, "
        "files_skipped, bytes_total, bytes_copied, bytes_failed, bytes_skipped) VALUES "
        f"('us', {f['total']}, {f['copied']}, {f['failed']}, {f['skipped']}, "
        f"{b['total']}, {b['copied']}, {b['failed']}, {b['skipped']})")
