#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: fuzz/corpus/TARGET/NAME.

Archive segments and ledger logs are written in the formats described at
the top of src/archive.c and src/ledger_log.c (CRC-32C done here), so the seeds
do not depend on a build.  Run it from anywhere; it rewrites the seeds it
knows and leaves every other file alone (regression inputs, inputs merged
from fuzz runs).

    python3 fuzz/mkcorpus.py
"""
import os
import struct

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(TOP, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- request ------------------------------------------------------------------

REQUESTS = {
    "status": "status",
    "flush": "flush primary",
    "flush-n": "flush primary 100",
    "flush-failing": "flush replica-1 5",
    "flush-down": "flush down",
    "flush-unknown": "flush nosuch",
    "flush-zero": "flush primary 0",
    "flush-huge": "flush primary 99999999999999999999999",
    "flush-usage": "flush",
    "flush-extra": "flush primary 5 6",
    "flush-dry-run": "flush --dry-run primary 500",
    "flush-dry-run-down": "flush --dry-run down",
    "flush-dry-run-usage": "flush --dry-run",
    "oldest": "oldest primary",
    "oldest-n": "oldest primary 2",
    "oldest-too-many": "oldest primary 10001",
    "pause-all": "pause",
    "pause-one": "pause primary",
    "resume-one": "resume\treplica-1",
    "resume-unknown": "resume nosuch",
    "reload": "reload",
    "reload-extra": "reload now please",
    "empty": "",
    "blanks": " \t \t ",
    "unknown": "frobnicate",
    "status-extra": "  status   x ",
    "quotes": 'flush "pri\\mary"',
    "utf8": "flush caf\u00e9-\U0001f600",
    "control": "status\r",
    "nul": b"status\x00x",
    "binary": bytes(range(0x80, 0x100)),
    # an unknown command cut at 64 bytes in the middle of a UTF-8 sequence
    "cut-utf8": "x" * 63 + "\u00e9\u00e9",
    "many-words": " ".join(["w"] * 70),
}


# ---- conf ---------------------------------------------------------------------

ALL_KEYS = """\
[daemon]
control_socket = /run/gcs-flushd/control.sock
control_socket_mode = 0660
state_dir = /var/lib/gcs-flushd
log_level = debug

[policy]
flush_when_at_least_bytes = 2GiB
flush_period_secs = 10
flush_num_entries_each_time = 10000
flush_max_entries_per_sec = 100000
match = job:* actor:*
archive = yes
archive_max_bytes = 10GB
archive_max_age = 7d
archive_segment_bytes = 64MiB
policy_key = gcs-flushd:policy
connect_timeout_secs = 5
command_timeout_secs = 0.5
reconnect_max_secs = 30s

[shard:primary]
address = 127.0.0.1:6379
db = 3
username = alice
password = secret
flush_when_at_least_bytes = 1.5G
flush_period_secs = 2m
match = *
archive = off
archive_max_age = 12h

[shard:v6]
address = [::1]:6380
password_file = /etc/hostname
flush_num_entries_each_time = 1

[shard:sock.1]
address = unix:/run/redis/redis.sock
flush_max_entries_per_sec = 0
archive_segment_bytes = 4096
"""

CONFS = {
    "minimal": "[shard:a]\naddress = localhost:6379\n",
    "all-keys": ALL_KEYS,
    "comments": "; c\n# c\n[daemon]\n  log_level = info ; inline\n[shard:a]\n"
    "address=h:1\nmatch = a;b  # x\n",
    "broken-lines": "[daemon\nlog_level\n[policy]\n= x\n[shard:a]\naddress = h:1\n",
    "unknown": "[nope]\nx = 1\n[daemon]\nflush_period_secs = 1\nbogus = 2\n",
    "duplicates": "[shard:a]\naddress = h:1\naddress = h:2\n[shard:a]\n[policy]\n[policy]\n",
    "bad-values": "[daemon]\ncontrol_socket_mode = 0999\nstate_dir = relative\n"
    "control_socket = " + "x" * 120 + "\n[policy]\nflush_period_secs = 1e400\n"
    "flush_when_at_least_bytes = 99999999TiB\narchive = maybe\narchive_max_age = -1\n"
    "[shard:a]\naddress = [::1\ndb = 2147483648\n",
    "bad-shards": "[shard:]\n[shard:a b]\n[shard:" + "n" * 33 + "]\n[shard:ok]\naddress = unix:rel\n",
    "secrets": "[shard:a]\naddress = h:1\nusername = u\n[shard:b]\naddress = h:2\n"
    "password = p\npassword_file = /nonexistent\n",
    "empty-match": "[policy]\nmatch = \n[shard:a]\naddress = h:65536\n",
    "key-outside": "address = h:1\n[shard:a]\naddress = h:1\n",
    "long-line": "[shard:a]\naddress = h:1\npolicy_key = " + "k" * 1100 + "\n",
    "nul": "[shard:a]\naddress = h:1\x00\n",
    "crlf": "[daemon]\r\nlog_level = warning\r\n[shard:a]\r\naddress = h:1\r\n",
    "bom": "\ufeff[shard:a]\naddress = h:1\n",
    "ipv6-no-brackets": "[shard:a]\naddress = ::1:6379\n",
}


# ---- archive --------------------------------------------------------------------

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def record(key, payload, shard=b"primary", db=0, expire_ms=-1, flushed_ms=1700000000000):
    body = struct.pack("<qqIHII", flushed_ms, expire_ms, db, len(shard), len(key), len(payload))
    body += shard + key + payload
    return struct.pack("<IBBHII", 0x41534347, 1, 0, 0, len(body), crc32c(body)) + body


def segment(*records):
    return b"GCSARCH1" + b"".join(records)


# A DUMP payload as Redis 7 writes it: type, value, RDB version, CRC-64.
DUMP = b"\x00\x05hello\x0b\x00" + bytes(8)
R1 = record(b"job:1", DUMP)
R2 = record(b"actor:\x00\xff\n\"q\"", DUMP * 3, db=7, expire_ms=1700000060000, flushed_ms=1700000001000)
R3 = record(b"", b"", shard=b"s", flushed_ms=0)
BAD = bytearray(R2)
BAD[20] ^= 0xFF  # a body byte: the CRC no longer matches
ARCHIVES = {
    "empty": segment(),
    "one": segment(R1),
    "three": segment(R1, R2, R3),
    "torn-tail": segment(R1, R2)[:-5],
    "torn-header": segment(R1) + R2[:10],
    "bad-crc-middle": segment(R1, bytes(BAD), R3),
    "garbage-middle": segment(R1, b"\x00garbage GCSA\x01", R2),
    "garbage-tail": segment(R1) + b"GCSA" + bytes(60),
    "not-a-segment": b"GCSARCH2" + R1,
    "short": b"GCSA",
    "lengths-mismatch": segment(R1[:8] + struct.pack("<I", len(R1) - 15) + R1[12:] + b"\x00"),
}


# ---- ledger ---------------------------------------------------------------------

def lrec(t, key, created=1700000000):
    return t + struct.pack("<II", created, len(key)) + key


LEDGERS = {
    "empty": b"GCSLEDG1",
    "adds": b"GCSLEDG1" + lrec(b"A", b"job:1") + lrec(b"A", b"job:2", 1700000001) + lrec(b"A", b"job:3"),
    "add-delete-readd": b"GCSLEDG1" + lrec(b"A", b"a") + lrec(b"A", b"b") + lrec(b"D", b"a", 0)
    + lrec(b"A", b"b", 5) + lrec(b"A", b"a", 6) + lrec(b"D", b"zz", 0),
    "binary-keys": b"GCSLEDG1" + lrec(b"A", b"") + lrec(b"A", b"\x00\xff\n") + lrec(b"A", b"k" * 300),
    "torn-tail": (b"GCSLEDG1" + lrec(b"A", b"job:1") + lrec(b"A", b"job:2"))[:-3],
    "garbage-type": b"GCSLEDG1" + lrec(b"A", b"x") + lrec(b"Q", b"y") + lrec(b"A", b"z"),
    "huge-length": b"GCSLEDG1" + lrec(b"A", b"x") + b"A" + struct.pack("<II", 0, 0x7FFFFFFF),
    "not-a-ledger": b"GCSLEDG2" + lrec(b"A", b"x"),
    "short": b"GCS",
    # Regression inputs (fuzz/README.md, findings): an empty key first, and a
    # length of 496 MiB that the file does not hold.
    "regress-empty-first-key": b"GCSLEDG1" + lrec(b"A", b"", 0),
    "regress-huge-alloc": b"GCSLEDG1" + lrec(b"A", b"x") + b"A" + struct.pack("<II", 0, 0x1F000000),
    "many": b"GCSLEDG1" + b"".join(lrec(b"A" if i % 5 else b"D", b"k%d" % (i % 37), i) for i in range(400)),
}


def main():
    for name, text in REQUESTS.items():
        put("request", name, text)
    with open(os.path.join(TOP, "etc", "gcs-flushd.conf"), "rb") as f:
        put("conf", "sample", f.read())
    for name, text in CONFS.items():
        put("conf", name, text)
    for name, data in ARCHIVES.items():
        put("archive", name, data)
    for name, data in LEDGERS.items():
        put("ledger", name, data)


if __name__ == "__main__":
    main()
