#!/usr/bin/env python3
"""Plots the loss log of `streamd train` (CHECKPOINTS/loss.csv) as a PNG: content, style and total loss per step
(log scale, with a moving average over the noisy per-batch values) and the wall time on a second axis.

    scripts/plot-loss.py LOSS.csv OUT.png [--title TEXT] [--window N]

A developer tool (needs matplotlib: pip install matplotlib); building, running and testing streamd never need it."""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def moving_average(values, window):
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--title", default="streamd train")
    ap.add_argument("--window", type=int, default=25)
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.csv)))
    if not rows:
        raise SystemExit(f"{a.csv}: no steps logged")
    steps = [int(r["step"]) for r in rows]
    t0 = float(rows[0]["unix_time"])
    hours = [(float(r["unix_time"]) - t0) / 3600 for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for key, colour in (("total", "black"), ("style", "tab:red"), ("content", "tab:blue")):
        values = [float(r[key]) for r in rows]
        ax.plot(steps, values, color=colour, alpha=0.15, linewidth=0.8)
        ax.plot(steps, moving_average(values, a.window), color=colour, linewidth=1.6, label=f"{key} (mean of {a.window})")
    ax.set_yscale("log")
    ax.set_xlabel("step (batch of 4)")
    ax.set_ylabel("loss (λ-weighted)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    top = ax.secondary_xaxis("top", functions=(lambda s: s, lambda s: s))
    top.set_xticks(ax.get_xticks())
    top.set_xticklabels([f"{h:.1f} h" if 0 <= s <= steps[-1] else "" for s, h in
                         ((s, hours[min(range(len(steps)), key=lambda i: abs(steps[i] - s))]) for s in ax.get_xticks())])
    ax.set_xlim(steps[0], steps[-1])
    ax.set_title(a.title, pad=24)
    fig.tight_layout()
    fig.savefig(a.png)
    print(f"plot-loss: wrote {a.png} ({len(rows)} steps, {hours[-1]:.2f} h)")


if __name__ == "__main__":
    main()
