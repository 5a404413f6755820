#!/usr/bin/python3
"""Generates the golden files nn's tests compare the Go engine against.

Run from the repository root (needs Debian's python3-torch and python3-numpy;
use /usr/bin/python3; scripts/pytorch/README.md has the set-up):

    /usr/bin/python3 nn/testdata/gen_golden.py                # every file
    /usr/bin/python3 nn/testdata/gen_golden.py resnet20       # only some
    /usr/bin/python3 nn/testdata/gen_golden.py --out DIR      # elsewhere

The models are those of scripts/pytorch/models.py (imported, not copied:
the PyTorch twins of nn's architectures, with nn's state_dict names). Each
gets fixed pseudo-random weights (torch.manual_seed(0) before it is built;
the CIFAR ResNets Kaiming-normal, as models.py initialises them), random
batch-norm affine parameters and running statistics
(torch.manual_seed(1234)), and one safetensors file holding

  * the state_dict: mlp, lenet5 and resnet32/44/56 under models.py's names
    (layerS.B.*, linear.*); resnet20 in the flat naming of CIFAR ResNet
    code that keeps all blocks in one Sequential (layers.N.*, fc.*), which
    nn accepts as an alias. All but lenet5 store weights as F16 (the model
    computes with the F16-rounded values, so the golden outputs stay exact
    and the files small); lenet5 stores F32;
  * golden.input: a batch of 4 random inputs (N x C x H x W, F32): 1x28x28
    for mlp, lenet5 and resnet20 (which zero-pads them to 32x32 as the
    engine's OpPad does), 3x8x8 for resnet32/44/56 (DEEP_INPUT below);
    for these the input is drawn again until no ReLU input of the
    train-mode forward lies within DEEP_MARGIN (relative) of zero (see
    relu_margin: an element nearer than float32 rounding flips its ReLU in
    one engine and not the other, and every gradient behind it moves by up
    to a few percent; on 3x32x32 inputs ResNet-44 and -56 had such elements);
  * golden.labels: their labels (I64);
  * golden.logits_eval: model.eval() logits;
  * golden.logits_train: model.train() logits (batch-norm batch statistics);
  * golden.loss: mean cross-entropy of the train-mode logits;
  * golden.grad.<name>: d loss / d parameter for some parameters (train mode);
  * golden.after.<bn>.running_mean/var: running statistics of the first and
    the last batch norm after that one train-mode forward (the ResNets).

Files: golden_<arch>.safetensors for each arch of ARCHS below.
"""
import argparse, copy, json, os, re, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "pytorch"))
import models  # noqa: E402
from models import MLP, LeNet5, CIFARResNet, RESNET_BLOCKS  # noqa: E402


# The architectures with a golden file, in the order they are written.
ARCHS = ["mlp", "lenet5", "resnet20", "resnet32", "resnet44", "resnet56"]


def flat_names(n):
    """Renames a CIFAR ResNet's names (n blocks per stage) to the flat
    naming: layerS.B. -> layers.{(S-1)*n+B}., linear. -> fc."""
    def rename(name):
        name = re.sub(r"(^|\.)layer(\d)\.(\d+)\.",
                      lambda m: f"{m[1]}layers.{(int(m[2]) - 1) * n + int(m[3])}.", name)
        return re.sub(r"(^|\.)linear\.", r"\1fc.", name)
    return rename


DT = {torch.float32: ("F32", np.float32), torch.float16: ("F16", np.float16), torch.int64: ("I64", np.int64)}


def save(path, tensors, metadata):
    """A minimal safetensors writer (the format of huggingface/safetensors)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dt, npdt = DT[t.dtype]
        b = t.numpy().astype(npdt).tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs:
            f.write(b)


class _ReLURecorder:
    """Stands in for torch.nn.functional in models.py and keeps the input of
    every ReLU."""

    def __init__(self):
        self.inputs = []

    def __getattr__(self, name):
        return getattr(F, name)

    def relu(self, x):
        self.inputs.append(x.detach())
        return F.relu(x)


def relu_margin(model, x):
    """How far from ReLU's kink a train-mode forward of x runs: the smallest
    |input| of any ReLU, relative to the largest |input| of that ReLU,
    computed in float64 on a copy of model. An element closer to zero than
    float32 rounding can flip its ReLU in another engine, and with it every
    gradient behind it; the forward barely moves (ReLU is continuous)."""
    m = copy.deepcopy(model).double().train()
    rec = _ReLURecorder()
    models.F = rec
    try:
        with torch.no_grad():
            m(x.double())
    finally:
        models.F = F
    if not rec.inputs:
        raise RuntimeError("relu_margin: models.py called no F.relu (does it use nn.ReLU modules now?)")
    return min((t.abs().min() / t.abs().max()).item() for t in rec.inputs)


def golden(out_dir, name, model, in_shape, half, grads, after=(), rename=lambda k: k, batch=4, min_margin=0):
    """Writes out_dir/golden_<name>.safetensors for model (see the module
    doc): grads names the parameters whose gradients are stored, after the
    batch norms whose updated running statistics are, both in the model's
    own names; rename maps the model's names to the file's. Inputs are
    drawn again until relu_margin is at least min_margin."""
    torch.manual_seed(1234)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5); mod.bias.normal_(0, 0.2)
                mod.running_mean.normal_(0, 0.3); mod.running_var.uniform_(0.5, 1.5)
                mod.num_batches_tracked.fill_(7)
        if half:  # compute with exactly the values the F16 file holds
            for p in model.state_dict().values():
                if p.is_floating_point():
                    p.copy_(p.half().float())
    sd = {rename(k): (v.half() if half and v.is_floating_point() else v.clone()) for k, v in model.state_dict().items()}
    x = torch.randn(batch, *in_shape)
    draws = 1
    while relu_margin(model, x) < min_margin:
        x = torch.randn(batch, *in_shape)
        draws += 1
    y = torch.tensor([3, 1, 4, 1])[:batch]
    out = dict(sd)
    out["golden.input"] = x
    out["golden.labels"] = y
    model.eval()
    with torch.no_grad():
        out["golden.logits_eval"] = model(x)
    model.train()
    model.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out["golden.logits_train"] = logits
    out["golden.loss"] = loss.reshape(1)
    params = dict(model.named_parameters())
    for g in grads:
        out["golden.grad." + rename(g)] = params[g].grad
    for bn in after:
        for stat in ("running_mean", "running_var"):
            k = f"{bn}.{stat}"
            out["golden.after." + rename(k)] = model.state_dict()[k].float()
    save(os.path.join(out_dir, f"golden_{name}.safetensors"), out,
         {"generator": "nn/testdata/gen_golden.py", "torch": torch.__version__})
    print(f"{name}: loss {loss.item():.6f}, input draws {draws}, ReLU margin {relu_margin(model, x):.3g}")


# The input of the deeper CIFAR ResNets' golden files: a small batch of
# small images keeps few ReLU inputs near zero (see relu_margin) and the
# files and the test small; the engine runs any input size.
DEEP_INPUT, DEEP_BATCH, DEEP_MARGIN = (3, 8, 8), 4, 5e-6


def resnet_case(arch):
    """The golden arguments of a CIFAR ResNet: input, F16 weights, the
    gradients and batch-norm statistics stored, naming."""
    n = RESNET_BLOCKS[arch]
    last = f"layer3.{n - 1}"
    if arch == "resnet20":  # 28x28x1 (padded), flat names
        return dict(in_shape=(1, 28, 28), half=True,
                    grads=["conv1.weight", "bn1.weight", "layer2.0.conv1.weight", f"{last}.bn2.bias", "linear.weight", "linear.bias"],
                    after=["bn1", f"{last}.bn2"], rename=flat_names(n))
    return dict(in_shape=DEEP_INPUT, half=True, batch=DEEP_BATCH, min_margin=DEEP_MARGIN,
                grads=["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.conv1.weight",
                       f"layer2.{n // 2}.bn1.weight", f"{last}.bn2.bias", "linear.weight", "linear.bias"],
                after=["bn1", f"{last}.bn2"])


def main():
    ap = argparse.ArgumentParser(description="Writes nn's PyTorch golden files.")
    ap.add_argument("archs", nargs="*", metavar="ARCH", help=f"architectures (default all: {' '.join(ARCHS)})")
    ap.add_argument("--out", default=HERE, help="folder to write to (default: this script's folder)")
    args = ap.parse_args()
    for arch in args.archs:
        if arch not in ARCHS:
            ap.error(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHS)})")
    for arch in args.archs or ARCHS:
        torch.manual_seed(0)
        if arch == "mlp":
            golden(args.out, arch, MLP(), (1, 28, 28), True, ["fc1.bias", "fc2.weight", "fc3.bias"])
        elif arch == "lenet5":
            lenet = LeNet5()
            golden(args.out, arch, lenet, (1, 28, 28), False, [k for k, _ in lenet.named_parameters()])
        else:
            case = resnet_case(arch)
            model = CIFARResNet(RESNET_BLOCKS[arch], channels=case["in_shape"][0])
            golden(args.out, arch, model, **case)


if __name__ == "__main__":
    main()
