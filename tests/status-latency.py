#!/usr/bin/env python3
"""status-latency.py SOCKET N: N `status` requests to the daemon's control
socket, one every 5 ms, each on a new connection; prints the 99th
percentile and the median of their round trips, in ms.  Used by
tests/slowdisk.bats and bench scenario 11."""
import socket
import sys
import time


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.sendall(b"status\n")
        while s.recv(65536):
            pass
        s.close()
        lat.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.005)
    lat.sort()
    print("%.2f %.2f" % (lat[int(0.99 * (n - 1))], lat[n // 2]))


if __name__ == "__main__":
    main()
