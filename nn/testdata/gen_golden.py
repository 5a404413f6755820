#!/usr/bin/python3
"""Generates the golden files nn's tests compare the Go engine against.

Run from the repository root (needs Debian's python3-torch and python3-numpy;
use /usr/bin/python3; scripts/pytorch/README.md has the set-up):

    /usr/bin/python3 nn/testdata/gen_golden.py

It builds PyTorch reference models of the three networks (defined below so
that the script stands alone; the same layers as scripts/pytorch/models.py,
with ResNet-20 in the flat naming), gives them fixed pseudo-random
weights (torch.manual_seed), random batch-norm affine parameters and running
statistics, and writes, per model, one safetensors file holding

  * the state_dict under PyTorch's own names (ResNet-20 in the flat
    naming: layers.N.*, fc.*; nn accepts it as an alias of layerS.B.*,
    linear.*). mlp and resnet20 store weights as F16 (the model computes with
    the F16-rounded values, so the golden outputs stay exact and the files
    small); lenet5 stores F32;
  * golden.input: a batch of 4 random inputs (N x C x H x W, F32);
  * golden.labels: their labels (I64);
  * golden.logits_eval: model.eval() logits;
  * golden.logits_train: model.train() logits (batch-norm batch statistics);
  * golden.loss: mean cross-entropy of the train-mode logits;
  * golden.grad.<name>: d loss / d parameter for some parameters (train mode);
  * golden.after.<bn>.running_mean/var: running statistics after that one
    train-mode forward (batch-norm models).

Files: golden_mlp.safetensors, golden_lenet5.safetensors,
golden_resnet20.safetensors (28x28 inputs, zero-padded to 32x32 as the
engine's OpPad does).
"""
import json, os, struct
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.dirname(os.path.abspath(__file__))


class LeNet5(nn.Module):
    def __init__(self, in_ch=1, n_cls=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, n_cls)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__(); self.fn = fn

    def forward(self, x):
        return self.fn(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            pad = (cout - cin) // 2
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad)))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, in_ch=3, n_cls=10, n=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        cin = 16
        for i, w in enumerate([16, 32, 64]):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, w, stride)); cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, n_cls)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        x = F.pad(x, (2, 2, 2, 2))  # 28x28 -> 32x32, the engine's OpPad
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


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


def golden(name, model, in_shape, half, grads):
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
    sd = {k: (v.half() if half and v.is_floating_point() else v.clone()) for k, v in model.state_dict().items()}
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
        out["golden.grad." + g] = params[g].grad
    for k, v in model.state_dict().items():
        if k.endswith("running_mean") or k.endswith("running_var"):
            if k.startswith("bn1.") or k.startswith("layers.8.bn2."):
                out["golden.after." + k] = v.float()
    save(os.path.join(OUT, f"golden_{name}.safetensors"), out,
         {"generator": "nn/testdata/gen_golden.py", "torch": torch.__version__})
    print(name, "loss", loss.item())


torch.manual_seed(0)
golden("mlp", MLP(), (1, 28, 28), True, ["fc1.bias", "fc2.weight", "fc3.bias"])
torch.manual_seed(0)
lenet = LeNet5()
golden("lenet5", lenet, (1, 28, 28), False, [k for k, _ in lenet.named_parameters()])
torch.manual_seed(0)
golden("resnet20", ResNet20(in_ch=1), (1, 28, 28), True,
       ["conv1.weight", "bn1.weight", "layers.3.conv1.weight", "layers.8.bn2.bias", "fc.weight", "fc.bias"])
