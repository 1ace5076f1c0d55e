"""Memory of a training run (issue 16, item 4): dl against PyTorch, the MLP, CNN and LSTM steps
of bench_mlp.py, bench_cnn.py and bench_rnn.py.

    OMP_NUM_THREADS=2 python benchmarks/bench_memory.py [--steps 1000]

Each (library, model) runs in a fresh process that builds both libraries' models (the same
imports on both sides), then trains only its own for `--steps` steps on one batch. Reported,
from /proc/self/status: the resident size before the first step, the training's memory (the
peak over the run, VmHWM, less the size before the first step), and the growth from after the
first step, and from after the tenth, to after the last (0 when nothing is allocated step
after step). Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

_CHILD = """
import sys
sys.path.insert(0, {here!r})
from _interleave import pin_threads
pin_threads({threads})

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

model, lib, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if model == "mlp":
    from bench_mlp import build_pair
    dl_step, torch_step = build_pair([784, 512, 512, 10], 128)[:2]
elif model == "cnn":
    from bench_cnn import build_pair
    dl_step, torch_step = build_pair("cnn", 64, "channels_last")[:2]
else:
    from bench_rnn import build_rnn_pair
    dl_step, torch_step = build_rnn_pair("LSTM")
step = dl_step if lib == "dl" else torch_step
before = status("VmRSS")
step()
after_first = status("VmRSS")
for _ in range(9):
    step()
after_tenth = status("VmRSS")
for _ in range(steps - 10):
    step()
print(before, after_first, after_tenth, status("VmRSS"), status("VmHWM"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    args = parser.parse_args()
    script = _CHILD.format(here=HERE, threads=args.threads)
    mib = 2**20
    print(f"{args.steps} training steps on one batch, {args.threads} threads; MiB")
    print(f"{'model':6}{'lib':7}{'before':>9}{'training':>10}{'growth 1->N':>13}{'10->N':>8}{'dl / torch':>12}")
    for model in ("mlp", "cnn", "lstm"):
        memory = {}
        for lib in ("dl", "torch"):
            out = subprocess.run([sys.executable, "-c", script, model, lib, str(args.steps)], capture_output=True,
                                 text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            before, first, tenth, last, peak = map(int, out.stdout.split())
            memory[lib] = peak - before
            ratio = f"{memory['dl'] / memory['torch']:.2f}x" if lib == "torch" and memory["torch"] else ""
            print(f"{model:6}{lib:7}{before / mib:9.0f}{(peak - before) / mib:10.1f}{(last - first) / mib:13.1f}"
                  f"{(last - tenth) / mib:8.1f}{ratio:>12}")


if __name__ == "__main__":
    main()
