"""Median and p90 latency of the same GET, on one keep-alive connection each,
without authorization (:18079) and through ext_authz → zt-authz (:18080)."""
import http.client
import statistics
import sys
import time

token, n = sys.argv[1], int(sys.argv[2])


def measure(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = []
    for i in range(n + 20):
        start = time.perf_counter()
        conn.request("GET", "/orders/7", headers={"authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        resp.read()
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            sys.exit(f"port {port}: HTTP {resp.status}")
        if i >= 20:  # warm-up
            samples.append(elapsed * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


# Interleave rounds so that drift affects both alike.
base, authz = [], []
for _ in range(3):
    base.append(measure(18079))
    authz.append(measure(18080))
b50 = statistics.median(m for m, _ in base)
a50 = statistics.median(m for m, _ in authz)
b90 = statistics.median(p for _, p in base)
a90 = statistics.median(p for _, p in authz)
print(f"  without authorization : median {b50:7.0f} µs   p90 {b90:7.0f} µs")
print(f"  through zt-authz      : median {a50:7.0f} µs   p90 {a90:7.0f} µs")
print(f"  added by zt-authz     : median {a50 - b50:7.0f} µs   ({n} requests x 3 rounds each)")
