#!/usr/bin/env python3
"""Checkpoints of both published SuperPoint layouts, with random weights, and the PyTorch
forward pass of each architecture on a test batch: the fixtures of tests/import_checkpoint.rs.

    python make_checkpoints.py OUT_DIR

Writes to OUT_DIR:
  magicleap.pth          state dict of Magic Leap's original SuperPointNet (conv1a..convDb)
  magicleap_wrapped.pth  the same weights as {'state_dict': {'module.<key>': ...}, 'epoch': 5}
  rpautrat.pth           state dict of the MIT-licensed superpoint_pytorch.py layout
                         (backbone/detector/descriptor VGG blocks: conv -> ReLU -> BatchNorm)
  rpautrat_legacy.pth    the same weights as {'model': state_dict}, legacy (pre-1.6) format
  other.pth              a state dict of neither layout (no descriptor head, an extra 'fc')
  input.f32              the batch [N, 1, H, W] in [0, 1], float32 little-endian
  <layout>.scores.f32    [N, H, W] softmax over 65 bins, dustbin dropped, depth-to-space
  <layout>.descriptors.f32  [N, 256, H/8, W/8] L2-normalised dense descriptors
  <layout>.f64.scores.f32, <layout>.f64.descriptors.f32  the same forward pass in float64
  shape.txt              "N H W"
Needs only torch (the trainer's venv).
"""
import array
import sys
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

N, H, W = 2, 64, 96


def decode(semi, desc):
    """Raw head outputs -> (scores [N,H,W], unit descriptors), as both reference codes do."""
    prob = F.softmax(semi, 1)[:, :-1]
    b, _, h, w = prob.shape
    scores = prob.permute(0, 2, 3, 1).reshape(b, h, w, 8, 8)
    scores = scores.permute(0, 1, 3, 2, 4).reshape(b, h * 8, w * 8)
    return scores, F.normalize(desc, p=2, dim=1)


class MagicLeapSuperPointNet(nn.Module):
    """The original SuperPointNet: 3x3 conv + ReLU pairs, 2x2 max-pool after the first three
    pairs, detector head convPa (3x3, ReLU) -> convPb (1x1, 65), descriptor head convDa (3x3,
    ReLU) -> convDb (1x1, 256). No BatchNorm."""

    def __init__(self):
        super().__init__()
        c1, c2, c3, c4, c5, d1 = 64, 64, 128, 128, 256, 256
        self.conv1a = nn.Conv2d(1, c1, 3, padding=1)
        self.conv1b = nn.Conv2d(c1, c1, 3, padding=1)
        self.conv2a = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv2b = nn.Conv2d(c2, c2, 3, padding=1)
        self.conv3a = nn.Conv2d(c2, c3, 3, padding=1)
        self.conv3b = nn.Conv2d(c3, c3, 3, padding=1)
        self.conv4a = nn.Conv2d(c3, c4, 3, padding=1)
        self.conv4b = nn.Conv2d(c4, c4, 3, padding=1)
        self.convPa = nn.Conv2d(c4, c5, 3, padding=1)
        self.convPb = nn.Conv2d(c5, 65, 1)
        self.convDa = nn.Conv2d(c4, c5, 3, padding=1)
        self.convDb = nn.Conv2d(c5, d1, 1)

    def forward(self, x):
        x = F.relu(self.conv1a(x))
        x = F.max_pool2d(F.relu(self.conv1b(x)), 2, 2)
        x = F.relu(self.conv2a(x))
        x = F.max_pool2d(F.relu(self.conv2b(x)), 2, 2)
        x = F.relu(self.conv3a(x))
        x = F.max_pool2d(F.relu(self.conv3b(x)), 2, 2)
        x = F.relu(self.conv4a(x))
        x = F.relu(self.conv4b(x))
        semi = self.convPb(F.relu(self.convPa(x)))
        desc = self.convDb(F.relu(self.convDa(x)))
        return decode(semi, desc)


class VGGBlock(nn.Sequential):
    """conv -> ReLU (or nothing) -> BatchNorm(eps=0.001): the re-implementation's block."""

    def __init__(self, c_in, c_out, kernel, relu=True):
        super().__init__(OrderedDict([
            ("conv", nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)),
            ("activation", nn.ReLU() if relu else nn.Identity()),
            ("bn", nn.BatchNorm2d(c_out, eps=0.001)),
        ]))


class RpautratSuperPoint(nn.Module):
    """The MIT-licensed re-implementation's layout: backbone of four stages of two blocks
    (max-pool after the first three), detector and descriptor heads of two blocks each."""

    def __init__(self):
        super().__init__()
        channels = [1, 64, 64, 128, 128]
        stages = []
        for i in range(1, 5):
            layers = [VGGBlock(channels[i - 1], channels[i], 3), VGGBlock(channels[i], channels[i], 3)]
            if i < 4:
                layers.append(nn.MaxPool2d(2, 2))
            stages.append(nn.Sequential(*layers))
        self.backbone = nn.Sequential(*stages)
        self.detector = nn.Sequential(VGGBlock(128, 256, 3), VGGBlock(256, 65, 1, relu=False))
        self.descriptor = nn.Sequential(VGGBlock(128, 256, 3), VGGBlock(256, 256, 1, relu=False))

    def forward(self, x):
        features = self.backbone(x)
        return decode(self.detector(features), self.descriptor(features))


def randomise(model, images):
    """He-normal convolutions and small random biases; random (partly negative) BatchNorm scales
    and offsets, running statistics gathered from train-mode passes, then perturbed."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.normal_(m.bias, std=0.1)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            sign = torch.where(torch.rand(m.num_features) < 0.2, -1.0, 1.0)
            m.weight.copy_(sign * (0.5 + torch.rand(m.num_features)))
            m.bias.normal_(std=0.3)
            m.momentum = None  # cumulative average of the batches below
        if bns:
            model.train()
            for _ in range(3):
                model(images)
            for m in bns:
                m.running_mean.add_(0.1 * torch.randn(m.num_features))
                m.running_var.mul_(0.7 + 0.6 * torch.rand(m.num_features))
                # Channels that are almost always zero after the ReLU would be scaled up by
                # 1/sqrt(eps) ~ 30: keep the activations (and logits) in a trained network's range.
                m.running_var.clamp_(min=0.1)
    model.eval()
    return model


def write_f32(path, t):
    values = array.array("f", t.detach().to(torch.float32).flatten().tolist())
    if sys.byteorder == "big":
        values.byteswap()
    path.write_bytes(values.tobytes())


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(14)
    low = torch.rand(N, 1, H // 8, W // 8)
    images = F.interpolate(low, size=(H, W), mode="bilinear", align_corners=False)
    images = (images + 0.15 * torch.rand(N, 1, H, W)).clamp(0, 1)
    write_f32(out / "input.f32", images)
    (out / "shape.txt").write_text(f"{N} {H} {W}\n")

    nets = {
        "magicleap": randomise(MagicLeapSuperPointNet(), images),
        "rpautrat": randomise(RpautratSuperPoint(), images),
    }
    for name, net in nets.items():
        torch.save(net.state_dict(), out / f"{name}.pth")
        with torch.no_grad():
            scores, desc = net(images)
            scores64, desc64 = net.double()(images.double())
            net.float()
        write_f32(out / f"{name}.scores.f32", scores)
        write_f32(out / f"{name}.descriptors.f32", desc)
        write_f32(out / f"{name}.f64.scores.f32", scores64)
        write_f32(out / f"{name}.f64.descriptors.f32", desc64)
        print(f"{name}: scores max {scores.max():.4f}, mean {scores.mean():.5f}; "
              f"{len(net.state_dict())} keys")

    ml = nets["magicleap"].state_dict()
    torch.save({"state_dict": OrderedDict(("module." + k, v) for k, v in ml.items()), "epoch": 5},
               out / "magicleap_wrapped.pth")
    torch.save({"model": nets["rpautrat"].state_dict()}, out / "rpautrat_legacy.pth",
               _use_new_zipfile_serialization=False)
    other = OrderedDict((k, v) for k, v in ml.items() if not k.startswith("convD"))
    other["fc.weight"] = torch.zeros(10, 256)
    torch.save(other, out / "other.pth")


if __name__ == "__main__":
    main()
