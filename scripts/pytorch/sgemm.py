"""Single-precision matrix multiply speed of the BLAS PyTorch calls: the
OpenBLAS row of nn/gemm/README.md's table (and README.md's "0.96-1.05x
OpenBLAS").

Times torch.mm on square float32 matrices (C = A B, n x n x n) on one thread
by default and reports GFLOP/s (2 n^3 / time) twice: by wall clock and by the
thread's CPU time (time.thread_time), which is what to compare on a shared
machine, where other processes take time slices. Run through run.sh so that
torch calls OpenBLAS and not Debian's reference BLAS, next to ccq's side:

    PT_THREADS=1 scripts/pytorch/run.sh sgemm.py
    go test -run '^$' -bench 'Sgemm/square' ./nn/gemm/
"""
import argparse
import json
import os
import sys
import time

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="256,512,1024,2048", help="comma-separated n of the n x n x n products")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--min-time", type=float, default=1.0, help="minimum seconds per timed repetition")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (the best is reported)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS")
    if blas_threads is not None and blas_threads != str(args.threads):
        print(f"warning: OPENBLAS_NUM_THREADS={blas_threads} but --threads {args.threads}: OpenBLAS's own threads "
              f"are not counted in the thread CPU time (run with PT_THREADS={args.threads})", file=sys.stderr)
    torch.manual_seed(0)
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)  # warm-up
        wall, cpu = [], []
        for _ in range(args.reps):
            k, t0, c0 = 0, time.perf_counter(), time.thread_time()
            while True:
                torch.mm(a, b, out=c)
                k += 1
                dt = time.perf_counter() - t0
                if dt >= args.min_time:
                    break
            flops = 2.0 * n ** 3 * k
            wall.append(flops / dt / 1e9)
            cpu.append(flops / max(time.thread_time() - c0, 1e-9) / 1e9)
        results.append({"n": n, "gflops_wall": max(wall), "gflops_thread_cpu": max(cpu)})
    if args.json:
        json.dump({"torch": torch.__version__, "threads": args.threads, "results": results}, sys.stdout, indent=2)
        print()
        return
    print(f"torch {torch.__version__}, {args.threads} thread(s); GFLOP/s, best of {args.reps}")
    print(f"{'n':>6} {'wall':>8} {'thread CPU':>11}")
    for r in results:
        print(f"{r['n']:>6} {r['gflops_wall']:>8.1f} {r['gflops_thread_cpu']:>11.1f}")
    if args.threads > 1:
        print("(with more than one thread, the CPU-time figure counts only the calling thread)")


if __name__ == "__main__":
    main()
