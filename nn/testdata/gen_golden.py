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

  * the state_dict: mlp and lenet5 under models.py's names; resnet20 in the
    flat naming of CIFAR ResNet code that keeps all blocks in one
    Sequential (layers.N.*, fc.*), which nn accepts as an alias of
    layerS.B.*, linear.*. mlp and resnet20 store weights as F16 (the model
    computes with the F16-rounded values, so the golden outputs stay exact
    and the files small); lenet5 stores F32;
  * golden.input: a batch of 4 random inputs (N x C x H x W, F32; 1x28x28,
    which the ResNet zero-pads to 32x32 as the engine's OpPad does);
  * golden.labels: their labels (I64);
  * golden.logits_eval: model.eval() logits;
  * golden.logits_train: model.train() logits (batch-norm batch statistics);
  * golden.loss: mean cross-entropy of the train-mode logits;
  * golden.grad.<name>: d loss / d parameter for some parameters (train mode);
  * golden.after.<bn>.running_mean/var: running statistics of the first and
    the last batch norm after that one train-mode forward (the ResNets).

Files: golden_<arch>.safetensors for each arch of ARCHS below.
"""
import argparse, json, os, re, struct, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts", "pytorch"))
from models import MLP, LeNet5, CIFARResNet, RESNET_BLOCKS  # noqa: E402


# The architectures with a golden file, in the order they are written.
ARCHS = ["mlp", "lenet5", "resnet20"]


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


def golden(out_dir, name, model, in_shape, half, grads, after=(), rename=lambda k: k):
    """Writes out_dir/golden_<name>.safetensors for model (see the module
    doc): grads names the parameters whose gradients are stored, after the
    batch norms whose updated running statistics are, both in the model's
    own names; rename maps the model's names to the file's."""
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
    x = torch.randn(4, *in_shape)
    y = torch.tensor([3, 1, 4, 1])
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
    print(name, "loss", loss.item())


def resnet_case(arch):
    """The golden case of a CIFAR ResNet: input shape, F16 weights,
    gradients and batch-norm statistics checked, naming."""
    n = RESNET_BLOCKS[arch]
    last = f"layer3.{n - 1}"
    if arch == "resnet20":  # 28x28x1 (padded), flat names
        return ((1, 28, 28), True,
                ["conv1.weight", "bn1.weight", "layer2.0.conv1.weight", f"{last}.bn2.bias", "linear.weight", "linear.bias"],
                ["bn1", f"{last}.bn2"], flat_names(n))
    return ((3, 32, 32), True,
            ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.conv1.weight",
             f"layer2.{n // 2}.bn1.weight", f"{last}.bn2.bias", "linear.weight", "linear.bias"],
            ["bn1", f"{last}.bn2"], lambda k: k)


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
            in_shape, half, grads, after, rename = resnet_case(arch)
            model = CIFARResNet(RESNET_BLOCKS[arch], channels=in_shape[0])
            golden(args.out, arch, model, in_shape, half, grads, after, rename)


if __name__ == "__main__":
    main()
