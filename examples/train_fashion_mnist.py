"""Train the Fashion-MNIST fixture networks and export them to ONNX.

    pip install torch==2.13.0 onnxscript && pip install -e .
    python examples/train_fashion_mnist.py --epochs 12

Writes examples/fmnist_vgg.onnx and examples/fmnist_resnet.onnx (batch dimension dynamic,
BatchNormalization left in the graph for snnc to fold). torch is needed only here, never by
snnc or its tests.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from snnc.datasets import fashion_mnist

HERE = Path(__file__).resolve().parent


def conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class VGG(nn.Module):
    """7 conv layers with BN, max and average pooling, two dense layers."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 32),
            *conv_bn(32, 32),
            nn.MaxPool2d(2),
            *conv_bn(32, 64),
            *conv_bn(64, 64),
            nn.AvgPool2d(2),
            *conv_bn(64, 128),
            *conv_bn(128, 128),
            *conv_bn(128, 128),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(128 * 3 * 3, 256), nn.ReLU(), nn.Linear(256, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN and a residual add; a 1x1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn(cin, cout, stride),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet: stem, three stages of two blocks (16, 32, 64 channels), global pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(1, 16))
        blocks = []
        for cin, cout, stride in [(16, 16, 1), (16, 32, 2), (32, 64, 2)]:
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean()) * 100


def train(model: nn.Module, epochs: int, seed: int, held_out: int = 0) -> nn.Module:
    """Train on the training split less its last `held_out` images (kept for choosing defaults)."""
    torch.manual_seed(seed)
    x_np, y_np = fashion_mnist("train")
    x_np, y_np = x_np[: len(x_np) - held_out], y_np[: len(y_np) - held_out]
    xt_np, yt_np = fashion_mnist("test")
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    xt, yt = torch.from_numpy(xt_np), torch.from_numpy(yt_np)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    steps = epochs * (len(x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    for epoch in range(epochs):
        model.train()
        start = time.time()
        order = torch.randperm(len(x))
        for i in range(0, len(x) - 127, 128):
            idx = order[i : i + 128]
            xb = x[idx]
            flip = torch.rand(len(xb)) < 0.5  # horizontal flips: clothes are left-right symmetric
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            opt.zero_grad()
            loss_fn(model(xb), y[idx]).backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xt, yt)
        print(f"  epoch {epoch + 1}/{epochs}: test accuracy {acc:.2f}% ({time.time() - start:.0f}s)", flush=True)
    return model.eval()


def export(model: nn.Module, path: Path, dynamo: bool = False) -> None:
    """To ONNX, batch dynamic, BatchNormalization kept (folding it is snnc's job): by the
    TorchScript exporter, or with `dynamo` by torch.export's (opset 18, where it starts)."""
    dummy = torch.zeros(1, 1, 28, 28)
    names = dict(input_names=["image"], output_names=["logits"])
    if dynamo:
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.onnx.export(model, (dummy,), str(path), **names, dynamo=True, opset_version=18,
                          dynamic_shapes={"x": {0: batch}}, external_data=False)  # fmt: skip
    else:
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            **names,
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
            training=torch.onnx.TrainingMode.PRESERVE,
        )
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="vgg,resnet")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    builders = {"vgg": VGG, "resnet": ResNet}
    for name in args.models.split(","):
        print(f"training {name}")
        model = train(builders[name](), args.epochs, args.seed)
        export(model, HERE / f"fmnist_{name}.onnx")


if __name__ == "__main__":
    main()
