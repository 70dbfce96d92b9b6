"""How long a chain of N operations takes to build and to backpropagate.

    python benchmarks/bench_chain.py            # N = 1,000,000
    python benchmarks/bench_chain.py --n 200000

The chain y = ((x * c) * c) * ... has N multiplications, so 2N + 1 nodes (each
constant is a leaf). Backward never recurses, so any N works; this prints the
times and checks the gradient against the closed form c**N.
"""
import argparse
import gc
import resource
import sys
import time

from minigpt import Value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="operations in the chain (default 1,000,000)")
    args = parser.parse_args()
    n, c = args.n, 1.0 + 1e-7

    print(f"chain of {n:,} multiplications, Python {sys.version.split()[0]}, recursion limit "
          f"{sys.getrecursionlimit()}")
    for collector in ("on", "off"):
        if collector == "off":
            gc.disable()
        t0 = time.perf_counter()
        x = Value(0.5, label="x")
        y = x
        for _ in range(n):
            y = y * c
        t1 = time.perf_counter()
        y.backward()
        t2 = time.perf_counter()
        expected = c ** n
        assert abs(x.grad - expected) <= 1e-9 * expected, (x.grad, expected)
        del y
        gc.enable()
        print(f"  cycle collector {collector:3s}: build {t1 - t0:6.2f} s   backward {t2 - t1:6.2f} s   "
              f"total {t2 - t0:6.2f} s   dy/dx = {x.grad:.9f} (expected {expected:.9f})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident memory {peak:.0f} MB")
    print("  (backward pauses the collector itself; 'off' also pauses it while the chain is built)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
