#!/usr/bin/env python3
"""Speed of `streamd bench` next to ONNX Runtime on the same network, sizes and thread count, in one run.

The peer runs ../shared/models/ml5-onnx/udnie_<W>x<H>.onnx (the ml5 udnie network exported from the same
weights); streamd runs ../shared/models/ml5/udnie. Both get the same number of compute threads. The two
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


def streamd_ms(binary, model, size, threads, iterations):
    out = subprocess.run([binary, "bench", "--model", model, "--size", size, "--threads", str(threads),
                          "--iterations", str(iterations), "--warmup", "1", "--json"],
                         check=True, capture_output=True, text=True, timeout=1800).stdout
    return json.loads(out.strip().splitlines()[-1])


class Peer:
    def __init__(self, path, threads):
        import numpy as np
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.name = inp.name
        self.x = (np.random.default_rng(0).random(inp.shape) * 255).astype(np.float32)
        self.session.run(None, {self.name: self.x})  # warm-up

    def ms(self, iterations):
        times = []
        for _ in range(iterations):
            t = time.perf_counter()
            self.session.run(None, {self.name: self.x})
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
    args = ap.parse_args()

    import onnxruntime
    shared = shared_dir()
    model = os.path.join(shared, "models", "ml5", "udnie")
    rows = []
    for size in args.sizes.split(","):
        peer = Peer(os.path.join(shared, "models", "ml5-onnx", f"udnie_{size}.onnx"), args.threads)
        s_ms, p_ms, gflops = [], [], []
        for _ in range(args.rounds):
            r = streamd_ms(args.streamd, model, size, args.threads, args.iterations)
            s_ms.append(r["ms_per_frame"])
            gflops.append(r["gflops"])
            p_ms.append(peer.ms(args.iterations))
        s, p = statistics.median(s_ms), statistics.median(p_ms)
        rows.append({"size": size, "threads": args.threads, "streamd_ms": round(s, 1), "onnxruntime_ms": round(p, 1),
                     "ratio": round(p / s, 2), "streamd_gflops": round(statistics.median(gflops), 1),
                     "streamd_rounds": s_ms, "onnxruntime_rounds": [round(v, 1) for v in p_ms]})
        print(f"{size}: streamd {s:.1f} ms, onnxruntime {p:.1f} ms", file=sys.stderr)

    print(f"ml5 udnie network (126k MAC/pixel), {args.threads} threads, median of {args.rounds} alternating rounds "
          f"x {args.iterations} runs; onnxruntime {onnxruntime.__version__}\n")
    print("| size | streamd ms/frame | ONNX Runtime ms/frame | ratio (ORT / streamd, >1 = streamd faster) | streamd GFLOP/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['size']} | {r['streamd_ms']} | {r['onnxruntime_ms']} | {r['ratio']} | {r['streamd_gflops']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
