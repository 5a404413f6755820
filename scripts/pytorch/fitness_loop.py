"""The naive PyTorch fitness loop: the baseline ccq's candidate evaluator is
compared with (README.md, "Components"; quant/README.md, "Measured:
evaluator speed").

An evolutionary optimizer scores many candidate networks that differ from a
base network in a few weights. The naive way, measured here, runs one full
forward pass per candidate: a LeNet-5 (or MLP, ResNet-20) with k-bit
per-tensor weights (level * scale, round-to-nearest from a random float
model, levels -(2^(k-1)-1)..2^(k-1)-1 as in ccq), a batch of random images,
and for every candidate a delta of --delta weights each moved by one level
(clamped to the range) in --layer or spread over all conv/linear layers:
write the candidate's weights into the model, run the batch in eval mode
under torch.inference_mode, take the mean cross-entropy and the correct
count, restore the base weights. Prints candidates per second.

ccq's side of the same measurement, back to back:

    scripts/pytorch/run.sh fitness_loop.py --threads 2 --layer fc1
    go run ./cmd/ccq bench evaluator --model lenet5 --batch 1024 --delta 2000 --layer fc1
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from models import ARCHS, build, input_shape


def quantize(model, bits):
    """Per-tensor round-to-nearest levels and scales of every conv/linear
    weight, written back into the model; returns {name: (param, levels, scale)}."""
    hi = 1 if bits <= 1 else (1 << (bits - 1)) - 1
    layers = {}
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                w = mod.weight
                scale = w.abs().max().item() / hi
                levels = torch.clamp(torch.round(w / scale), -hi, hi)
                w.copy_(levels * scale)
                layers[name] = (w, levels, scale)
    return layers, hi


def candidates(layers, hi, layer, delta, count, gen):
    """count deltas: lists of (layer name, flat indices, new levels)."""
    names = list(layers) if layer == "all" else [layer]
    sizes = torch.tensor([layers[n][1].numel() for n in names], dtype=torch.float64)
    out = []
    for _ in range(count):
        # Spread the changed weights over the layers in proportion to their size.
        per_layer = torch.multinomial(sizes, delta, replacement=True, generator=gen).bincount(minlength=len(names))
        cand = []
        for n, k in zip(names, per_layer.tolist()):
            if k == 0:
                continue
            flat = layers[n][1].view(-1)
            idx = torch.randperm(flat.numel(), generator=gen)[:k]
            step = torch.randint(0, 2, (idx.numel(),), generator=gen) * 2 - 1
            new = torch.clamp(flat[idx] + step, -hi, hi)
            cand.append((n, idx, new))
        out.append(cand)
    return out


def score(model, layers, cand, x, y):
    """One candidate, naively: set its weights, full forward pass, restore."""
    with torch.no_grad():
        for n, idx, new in cand:
            w, _, scale = layers[n]
            w.view(-1)[idx] = new * scale
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        correct = (logits.argmax(1) == y).sum().item()
        for n, idx, _ in cand:
            w, levels, scale = layers[n]
            w.view(-1)[idx] = levels.view(-1)[idx] * scale
    return loss, correct


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="lenet5", choices=ARCHS)
    p.add_argument("--layer", default="fc1", help="layer the deltas fall in (fc1, conv2, ...) or all")
    p.add_argument("--delta", type=int, default=2000, help="changed weights per candidate")
    p.add_argument("--batch", type=int, default=1024, help="images per forward pass")
    p.add_argument("--bits", type=int, default=4, help="weight bits")
    p.add_argument("--threads", type=int, default=2, help="torch threads (use run.sh's PT_THREADS too)")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum measuring time of each repetition")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions (the median is reported)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    model = build(args.model).eval()
    layers, hi = quantize(model, args.bits)
    if args.layer != "all" and args.layer not in layers:
        p.error(f"--layer: no conv/linear layer {args.layer!r} in {args.model} (have {', '.join(layers)}, or all)")
    size = sum(layers[n][1].numel() for n in layers) if args.layer == "all" else layers[args.layer][1].numel()
    if not 0 < args.delta <= size:
        p.error(f"--delta {args.delta}: expected 1..{size} (weights in {args.layer})")
    x = torch.randn(args.batch, *input_shape(args.model), generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    pool = candidates(layers, hi, args.layer, args.delta, 64, gen)

    with torch.inference_mode():
        for c in pool[:2]:  # warm-up
            score(model, layers, c, x, y)
        rates = []
        for _ in range(args.reps):
            n, t0 = 0, time.perf_counter()
            while True:
                score(model, layers, pool[n % len(pool)], x, y)
                n += 1
                dt = time.perf_counter() - t0
                if dt >= args.seconds:
                    break
            rates.append(n / dt)
    res = {"torch": torch.__version__, "model": args.model, "layer": args.layer, "delta": args.delta,
           "batch": args.batch, "bits": args.bits, "threads": torch.get_num_threads(),
           "candidates_per_sec": statistics.median(rates), "runs": rates}
    if args.json:
        json.dump(res, sys.stdout, indent=2)
        print()
        return
    print(f"{args.model}, batch {args.batch}, {args.delta} changed weights in {args.layer}, {args.bits}-bit weights, "
          f"torch {torch.__version__}, {res['threads']} threads")
    print(f"naive loop (one full forward pass per candidate): {res['candidates_per_sec']:.1f} candidates/s "
          f"(median of {args.reps})")


if __name__ == "__main__":
    main()
