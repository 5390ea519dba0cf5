#!/usr/bin/python3
"""notify-listen.py SOCKET OUTFILE: a stand-in for systemd's notify socket.

Binds an AF_UNIX datagram socket at SOCKET and appends every datagram it
receives to OUTFILE as one line, its newline-separated assignments joined by
a tab (READY=1<TAB>STATUS=...), until it gets SIGTERM or SIGINT.  Each line
is flushed at once so that a test can poll the file.  Run it with
/usr/bin/python3, which has no dependency beyond the standard library.
"""
import os
import signal
import socket
import sys


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: notify-listen.py SOCKET OUTFILE\n")
        return 2
    path, outfile = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    # A timeout lets the loop see the signal flag even when nothing arrives.
    sock.settimeout(0.2)
    with open(outfile, "a", encoding="utf-8") as out:
        while not stop:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except InterruptedError:
                continue
            text = data.decode("utf-8", "replace").strip("\n")
            out.write("\t".join(text.split("\n")) + "\n")
            out.flush()
    sock.close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
