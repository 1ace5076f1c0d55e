"""Data pipelines (issue 15): loading that overlaps training, and memory-mapped inputs.

    OMP_NUM_THREADS=2 python benchmarks/bench_data.py            # both parts
    python benchmarks/bench_data.py loader --rounds 5             # one part
    python benchmarks/bench_data.py mmap --gib 2

loader: an epoch of an MLP (784-512-512-10, batch 128, 120 batches) from in-memory
arrays, then from a PyDataset whose __getitem__ sleeps 2 ms per batch (a slow disk or
decoder) with workers=1 and workers=4 (threads), rounds interleaved in one process; the
same with PyTorch (in-memory tensors vs a DataLoader over the same sleepy Dataset with
num_workers=0 and 4) as the peer. Reported: each epoch's time and its ratio to the
in-memory epoch (1.00 = the loading is hidden entirely).

mmap: one epoch of a small MLP over a .npy of N GiB, read with np.load(mmap_mode="r")
versus loaded into memory, each in a fresh process; reported: the epoch's time, the
process's resident size before fit and its peak (VmHWM) over the whole run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _interleave import pin_threads  # noqa: E402

BATCH, BATCHES, SLEEP = 128, 120, 0.002


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH * BATCHES, 784)).astype(np.float32)
    return x, rng.integers(0, 10, len(x))


def _dl_epochs(x, y):
    from corelib import layers, models, utils

    class Sleepy(utils.PyDataset):
        def __len__(self):
            return BATCHES

        def __getitem__(self, i):
            time.sleep(SLEEP)
            return x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]

    utils.set_random_seed(0)
    model = models.Sequential([layers.Input((784,)), layers.Dense(512, activation="relu"),
                               layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x[:BATCH * 4], y[:BATCH * 4], batch_size=BATCH, epochs=1, verbose=0)  # warm up
    return {
        "arrays": lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0),
        "workers=1": lambda: model.fit(Sleepy(), epochs=1, shuffle=False, verbose=0),
        "workers=4": lambda: model.fit(Sleepy(workers=4), epochs=1, shuffle=False, verbose=0),
    }


def _torch_epochs(x, y):
    import torch

    class Sleepy(torch.utils.data.Dataset):
        def __len__(self):
            return BATCHES

        def __getitem__(self, i):
            time.sleep(SLEEP)
            return torch.from_numpy(x[i * BATCH:(i + 1) * BATCH]), torch.from_numpy(y[i * BATCH:(i + 1) * BATCH])

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                              torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def train(batches):
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()

    def loader(workers):
        return torch.utils.data.DataLoader(Sleepy(), batch_size=None, num_workers=workers,
                                           persistent_workers=False, prefetch_factor=4 if workers else None)

    train((tx[i:i + BATCH], ty[i:i + BATCH]) for i in range(0, BATCH * 4, BATCH))
    return {
        "arrays": lambda: train((tx[i:i + BATCH], ty[i:i + BATCH]) for i in range(0, len(tx), BATCH)),
        "workers=1": lambda: train(loader(0)),
        "workers=4": lambda: train(loader(4)),
    }


def bench_loader(rounds: int) -> None:
    x, y = _data()
    runs = {"dl": _dl_epochs(x, y)}
    try:
        runs["torch"] = _torch_epochs(x, y)
    except ImportError:
        print("PyTorch is not installed: dl only")
    times: dict = {(lib, case): [] for lib, cases in runs.items() for case in cases}
    for _ in range(rounds):  # interleaved: every case once per round
        for lib, cases in runs.items():
            for case, run in cases.items():
                time.sleep(0.25)
                start = time.perf_counter()
                run()
                times[(lib, case)].append(time.perf_counter() - start)
    print(f"\nloader: {BATCHES} batches of {BATCH}, {SLEEP * 1e3:.0f} ms of sleep per loaded batch, "
          f"{rounds} rounds, median (min-max) seconds per epoch")
    print(f"{'':8}{'case':12}{'epoch s':>22}{'/ arrays':>10}")
    for lib, cases in runs.items():
        base = statistics.median(times[(lib, "arrays")])
        for case in cases:
            t = times[(lib, case)]
            med = statistics.median(t)
            print(f"{lib:8}{case:12}{med:10.3f} ({min(t):.3f}-{max(t):.3f}){med / base:10.2f}")
    print(f"(sleep alone: {BATCHES * SLEEP:.3f} s per epoch)")


_MMAP_CHILD = """
import sys, time
import numpy as np
from corelib import layers, models, utils

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

path, mode = sys.argv[1], sys.argv[2]
x = np.load(path, mmap_mode="r") if mode == "mmap" else np.load(path)
y = (np.arange(len(x)) % 10).astype(np.int64)
utils.set_random_seed(0)
model = models.Sequential([layers.Input((x.shape[1],)), layers.Dense(64, activation="relu"),
                           layers.Dense(10, activation="softmax")])
model.compile("sgd", "sparse_categorical_crossentropy")
model.predict(np.zeros((2, x.shape[1]), np.float32), verbose=0)
before = status("VmRSS")
start = time.perf_counter()
history = model.fit(x, y, batch_size=1024, epochs=1, verbose=0)
print(time.perf_counter() - start, before, status("VmHWM"), history.history["loss"][0])
"""


def bench_mmap(gib: float, folder: str | None) -> None:
    cols = 1024
    rows = int(gib * 2**30) // (cols * 4)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = os.path.join(tmp, "x.npy")
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
        rng = np.random.default_rng(0)
        for start in range(0, rows, 8192):
            mm[start:start + 8192] = rng.standard_normal((min(8192, rows - start), cols), dtype=np.float32)
        mm.flush()
        del mm
        script = os.path.join(tmp, "child.py")
        with open(script, "w") as f:
            f.write(_MMAP_CHILD)
        print(f"\nmmap: one shuffled epoch over {rows} x {cols} float32 ({os.path.getsize(path) / 2**30:.2f} GiB), "
              "batch 1024, each mode in a fresh process")
        print(f"{'mode':10}{'epoch s':>10}{'RSS before fit':>18}{'peak RSS':>14}{'loss':>10}")
        for mode in ("memory", "mmap", "memory", "mmap"):
            out = subprocess.run([sys.executable, script, path, mode], capture_output=True, text=True, check=True)
            seconds, before, peak, loss = out.stdout.split()
            print(f"{mode:10}{float(seconds):10.2f}{int(before) / 2**20:14.0f} MiB{int(peak) / 2**20:10.0f} MiB"
                  f"{float(loss):10.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["loader", "mmap", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--folder", help="where the mmap part writes its file (default: the temporary folder)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    args = parser.parse_args()
    pin_threads(args.threads)
    if args.part in ("loader", "all"):
        bench_loader(args.rounds)
    if args.part in ("mmap", "all"):
        bench_mmap(args.gib, args.folder)


if __name__ == "__main__":
    main()
