"""PyTorch versions of the networks ccq studies, layer for layer as ccq's nn
package builds them (nn/README.md, "Architectures and tensor names"), with
the same state_dict names, so that a PyTorch model's weights load into ccq
(`ccq evaluate FILE --model ARCH`), the speed comparisons run the same
arithmetic and nn's golden files (nn/testdata/gen_golden.py, which imports
this module) come from these very models.

  mlp       fc1 (in -> 256), ReLU, fc2 (256 -> 256), ReLU, fc3 (256 -> classes)
  lenet5    conv1 6@5x5 pad 2, ReLU, max-pool 2, conv2 16@5x5, ReLU, max-pool 2,
            fc1 (-> 120), ReLU, fc2 (-> 84), ReLU, fc3
  resnet20  the CIFAR ResNet-20 (He et al. 2016): conv1 16@3x3, bn1, three
            stages layer1..layer3 of three BasicBlocks (16, 32, 64 channels,
            stride 2 at the start of layer2 and layer3, option-A shortcuts:
            subsample and zero-pad channels), global average pool, linear
  resnet32, resnet44, resnet56
            the same with 5, 7 and 9 BasicBlocks per stage (depth 6n+2)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

# CIFAR ResNets by name: BasicBlocks per stage.
RESNET_BLOCKS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9}
ARCHS = ("mlp", "lenet5") + tuple(RESNET_BLOCKS)


def input_shape(arch):
    """The per-image input shape ccq's benchmarks use for arch (C, H, W)."""
    return (3, 32, 32) if arch in RESNET_BLOCKS else (1, 28, 28)


class MLP(nn.Module):
    def __init__(self, in_features=784, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, classes)

    def forward(self, x):
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5(nn.Module):
    def __init__(self, channels=1, classes=10, side=28):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        s = ((side // 2) - 4) // 2  # 5 for 28x28 inputs
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if (stride != 1 or cin != cout) else None

    def shortcut(self, x):
        if self.pad is None:
            return x
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CIFARResNet(nn.Module):
    """The CIFAR ResNet of He et al. (2016) with n BasicBlocks per stage."""

    def __init__(self, n=3, channels=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for stage, width in enumerate((16, 32, 64), start=1):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, width, 2 if (stage > 1 and b == 0) else 1))
                cin = width
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, classes)
        # Kaiming-normal weights (fan-in, ReLU gain), as ccq initialises the
        # CIFAR ResNets (nn's ArchSpec.KaimingNormal) and the usual CIFAR
        # ResNet code does; biases keep PyTorch's default.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        if tuple(x.shape[-2:]) == (28, 28):  # ccq zero-pads 28x28 inputs to 32x32 (graph node "pad"), no others
            x = F.pad(x, (2, 2, 2, 2))
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.linear(x)


def ResNet20(channels=3, classes=10):
    return CIFARResNet(3, channels, classes)


def build(arch, classes=10):
    """A freshly initialised model of arch for its benchmark input shape."""
    c, h, w = input_shape(arch)
    if arch == "mlp":
        return MLP(c * h * w, classes)
    if arch == "lenet5":
        return LeNet5(c, classes, h)
    if arch in RESNET_BLOCKS:
        return CIFARResNet(RESNET_BLOCKS[arch], c, classes)
    raise ValueError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHS)})")


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())
