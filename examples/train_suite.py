"""Train the held-out architecture suite on Fashion-MNIST and export it to ONNX.

    pip install torch==2.13.0 onnxscript && pip install -e .
    python examples/train_suite.py --epochs 3

Networks snnc's defaults were not chosen on, one per structure that rate coding finds hard:
depthwise convolutions with ReLU6 and linear bottlenecks (MobileNetV2-style), pre-activation
residual blocks (a signed residual stream, BN before every ReLU), dense concatenation
(DenseNet-style), 1-D convolutions over the image's rows, a plain MLP, and a VGG whose head is
an adaptive average pool. Each trains on the first 55,000 training images; the last 5,000 are
held out for choosing defaults (bench/rate_suite.py), never the test set. Writes
examples/suite/fmnist_<name>.onnx; two of them by torch.export's exporter, the rest by the
TorchScript one. torch is needed only here, never by snnc or its tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from train_fashion_mnist import export, train

HERE = Path(__file__).resolve().parent
HELD_OUT = 5_000  # the training split's last images: calibration and the choice of defaults


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1, act=nn.ReLU) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([act()] if act else [])


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expansion, 3×3 depthwise (both ReLU6), linear 1×1 projection."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.body = nn.Sequential(
            *conv_bn(cin, hidden, 1, act=nn.ReLU6),
            *conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            *conv_bn(hidden, cout, 1, act=None),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        blocks = [(16, 16, 1, 2), (16, 24, 2, 4), (24, 24, 1, 4), (24, 32, 2, 4), (32, 32, 1, 4)]
        self.features = nn.Sequential(
            *conv_bn(1, 16, act=nn.ReLU6),
            *[InvertedResidual(*block) for block in blocks],
            *conv_bn(32, 96, 1, act=nn.ReLU6),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class PreActBlock(nn.Module):
    """BN–ReLU–conv twice, added to the input (or its 1×1 projection of the pre-activation)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        )
        self.projection = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre(x)
        return self.body(pre) + (x if self.projection is None else self.projection(pre))


class PreActResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        stages = [(16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)]
        self.blocks = nn.Sequential(*[PreActBlock(*stage) for stage in stages])
        self.head = nn.Sequential(
            nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


class DenseLayer(nn.Module):
    """BN–ReLU–conv 3×3 (growth channels), concatenated to its input."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, growth, 3, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


class DenseNet(nn.Module):
    def __init__(self, growth: int = 12, layers: int = 4) -> None:
        super().__init__()
        channels, modules = 24, [nn.Conv2d(1, 24, 3, 2, 1, bias=False)]  # 14×14 from the start
        for block in range(2):
            for _ in range(layers):
                modules.append(DenseLayer(channels, growth))
                channels += growth
            if block == 0:  # transition: BN–ReLU–1×1 conv, halving the channels, then 2×2 average pool
                modules += [nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels // 2, 1, bias=False),
                            nn.AvgPool2d(2)]  # fmt: skip
                channels //= 2
        self.features = nn.Sequential(*modules, nn.BatchNorm2d(channels), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class RowConv1d(nn.Module):
    """The image as a sequence of 28 rows of 28 pixels: 1-D convolutions along the rows' order."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv1d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]

        self.features = nn.Sequential(*block(28, 64), *block(64, 64), nn.MaxPool1d(2), *block(64, 128),
                                      nn.AdaptiveAvgPool1d(1))  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(x.shape[0], 28, 28)))


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class VGGAdaptive(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 32), *conv_bn(32, 32), nn.MaxPool2d(2), *conv_bn(32, 64), *conv_bn(64, 64), nn.MaxPool2d(2),
            *conv_bn(64, 128), nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# name → (builder, exported by torch.export's exporter)
SUITE = {
    "mobilenet": (MobileNet, False),
    "preact": (PreActResNet, False),
    "densenet": (DenseNet, True),
    "conv1d": (RowConv1d, True),
    "mlp": (MLP, False),
    "vgg_adaptive": (VGGAdaptive, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(SUITE))
    args = parser.parse_args()
    out = HERE / "suite"
    out.mkdir(exist_ok=True)
    for name in args.models.split(","):
        build, dynamo = SUITE[name]
        print(f"training {name}", flush=True)
        model = train(build(), args.epochs, args.seed, held_out=HELD_OUT)
        export(model, out / f"fmnist_{name}.onnx", dynamo=dynamo)


if __name__ == "__main__":
    main()
