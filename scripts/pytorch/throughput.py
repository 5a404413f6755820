"""Training and inference throughput of PyTorch on the networks ccq studies:
the PyTorch side of `ccq bench` (nn/README.md, "Figures", the speed table).

Measures the same work as `ccq bench`, on random data: training is one full
SGD step per batch (forward, cross-entropy, backward, momentum-0.9 update;
batch 128), inference an eval-mode forward pass under torch.inference_mode
(batch 1024); images per second, the median of --reps timed repetitions of
at least --min-time seconds each. Inputs: 1x28x28 for mlp and lenet5,
3x32x32 for resnet20.

Run through run.sh (OpenBLAS, malloc and OpenMP settings), next to ccq with
the same thread count, back to back:

    scripts/pytorch/run.sh throughput.py --threads 2
    go run ./cmd/ccq bench --threads 2
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from models import ARCHS, build, input_shape, parameter_count


def timed(step, images_per_step, min_time, reps):
    """Median images/s over reps repetitions of at least min_time seconds."""
    rates = []
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while True:
            step()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        rates.append(images_per_step * n / dt)
    return statistics.median(rates), rates


def bench(arch, args):
    torch.manual_seed(args.seed)
    model = build(arch)
    shape = input_shape(arch)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.train_batch, *shape)
    y = torch.randint(0, 10, (args.train_batch,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):  # warm-up: allocations, oneDNN primitive caches
        train_step()
    train, train_runs = timed(train_step, args.train_batch, args.min_time, args.reps)

    model.eval()
    xi = torch.randn(args.infer_batch, *shape)
    with torch.inference_mode():
        def infer_step():
            model(xi)
        for _ in range(2):
            infer_step()
        infer, infer_runs = timed(infer_step, args.infer_batch, args.min_time, args.reps)

    return {
        "model": arch, "input": "x".join(map(str, shape)), "parameters": parameter_count(model),
        "threads": torch.get_num_threads(),
        "train_batch": args.train_batch, "train_images_per_sec": train, "train_runs": train_runs,
        "infer_batch": args.infer_batch, "infer_images_per_sec": infer, "infer_runs": infer_runs,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(ARCHS), help="comma-separated: mlp, lenet5, resnet20")
    p.add_argument("--threads", type=int, default=2, help="torch threads (use run.sh's PT_THREADS too)")
    p.add_argument("--min-time", type=float, default=1.0, help="minimum seconds of one timed repetition")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (the median is reported)")
    p.add_argument("--train-batch", type=int, default=128)
    p.add_argument("--infer-batch", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in ARCHS:
            p.error(f"--models: unknown model {m!r} (expected {', '.join(ARCHS)})")
    results = []
    for m in models:
        results.append(bench(m, args))
        if not args.json:
            print(f"{m} done", file=sys.stderr, flush=True)
    if args.json:
        json.dump({"torch": torch.__version__, "results": results}, sys.stdout, indent=2)
        print()
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"BLAS: {blas_note()}")
    print(f"{'model':>9} {'input':>8} {'threads':>7} {'train img/s (batch)':>20} {'infer img/s (batch)':>20}")
    for r in results:
        print(f"{r['model']:>9} {r['input']:>8} {r['threads']:>7} "
              f"{r['train_images_per_sec']:>12,.0f} ({r['train_batch']:>4}) "
              f"{r['infer_images_per_sec']:>12,.0f} ({r['infer_batch']:>4})")


def blas_note():
    """Which BLAS this process loaded, from its memory map (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line}
    except OSError:
        return "unknown"
    return ", ".join(sorted(libs)) or "none loaded"


if __name__ == "__main__":
    main()
