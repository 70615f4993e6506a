"""One full training step, the engine against torch eager side by side, and the engine's matrix-product floor.

    python benchmarks/bench_step.py               # full run: reports/benchmarks.csv and a printed table
    python benchmarks/bench_step.py --quick       # smoke test (seconds): reports/benchmarks-quick.csv
    python benchmarks/bench_step.py --threads 1   # both sides on one thread (default: every core)

BLAS kernels: each row records, per side, the BLAS library, its kernel and its thread count (threadpoolctl's
``architecture`` for NumPy's OpenBLAS; MKL and torch's CPU capability for torch). When ``OPENBLAS_CORETYPE``
or ``OPENBLAS_L2_SIZE`` is set (these machines set them, and they hold NumPy's OpenBLAS to an older kernel),
the whole benchmark also runs once more in a subprocess of its own with both unset together, the kernel
OpenBLAS picks for the CPU: both sets of rows are written (``blas_override`` says which), and the targets are
judged on the rows of the best kernel (``judged``). Tests and CI keep the environment as it is.

Per size (n_in, n_hidden, batch) and dtype, ReLU hidden layer, one output, full batch, lr 0.01; size "deep" is
a DeepNet of 10 ReLU hidden layers 256 wide on 1024 samples (``depth`` says how many hidden layers a row has):

- engine: ``TwoLayerNet.train(X, y, epochs=k, lr) / k``: forward, loss, backward and SGD update of k steps;
  train()'s per-call input checks and workspace allocation are included, spread over k >= 20 steps (up to
  ~15 ms per call at the largest size in float64, mostly first-touch page faults: under 1 ms per step).
- torch:  k turns of reference/training.py's loop: ``zero_grad(set_to_none=True)``, forward,
  ``binary_cross_entropy_with_logits``, ``backward()``, ``torch.optim.SGD.step()``.
- floor:  k turns of the engine's own matrix products at the same shapes and dtype, into preallocated ``out=``
  arrays, with the engine's routine (np.dot, as a single network's): ``W1 @ X``, ``W2 @ h``, ``dz2 @ h^T``,
  ``dz1 @ X^T``. (With one output, ``W2^T dz2`` is an outer product, which the engine computes with a
  broadcast multiply, not a matmul.) The engine cannot be faster.

Timing on a shared machine: both sides pinned to the same thread count (the BLAS/OpenMP environment variables
are set before numpy and torch load; threadpoolctl and torch.set_num_threads after); a warm-up block per side,
which also sizes k so that one block lasts at least --min-block seconds; in every repeat the three blocks run
in rotating order, one right after another; the garbage collector is off while timing; each side's figure is
the median over the repeats of (block time / k), and a ratio (engine / torch, engine / floor) is the ratio of
two medians: the targets are judged on these. Also recorded: each side's fastest block (``*_min_ms``, timeit's
figure: the run least disturbed by the rest of the machine), and ratio_paired, the median over the repeats of
each repeat's own engine / torch ratio, whose blocks ran back to back, with its spread (IQR / median).
Parameters are reset before every block, so every block trains from the same point. The load average is
recorded, and so is numpy_call_ns, the time of one ``np.add`` of two 4-element arrays, probed after every
repeat (the median): about 450 ns on the quiet project machine. A slow spell of a shared machine raises it (to
1100 ns and more on the project machine): it slows NumPy's per-call overhead, most of the engine's time at XOR
size, more than torch's step. XOR-size ratios measured in such a spell are high, and should be rerun.

Memory (the peak of one step above what the step started with: parameters, data and nothing else):
- alloc: array and tensor buffers, counted by each library's own allocator accounting. Engine: tracemalloc,
  which NumPy informs of every array buffer, over one ``train(epochs=1)`` of a network with no cache. Torch:
  torch.profiler(profile_memory=True) over one step with no gradients held, the peak of "Total Allocated" of
  its CPU allocator. Both exclude BLAS-internal workspaces and allocator slack, and are exact and
  load-independent: this is the comparison the memory target is judged on.
- rss (the largest size, unless --no-rss): what the operating system sees, as a cross-check. Each side in a
  fresh process of its own (the engine's never imports torch), data and parameters in place: the peak resident
  set (VmHWM, reset through /proc/self/clear_refs) of its first step minus the resident set before it. It
  includes BLAS and torch kernel buffers set up on first use, and whatever the C allocator keeps mapped.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SIZES = {"xor": (2, 4, 4), "small": (64, 128, 256), "large": (784, 1024, 4096), "deep": (256, 256, 1024)}
DEPTHS = {"deep": 10}  # hidden layers, 1 for the sizes not named: a TwoLayerNet
DTYPES = ("float32", "float64")
LR = 0.01
SEED = 0
# The targets, each judged on one run's figures: (size, column, bound).
TARGETS = {
    "xor": (("ratio", 0.1),),
    "small": (("ratio", 0.5),),
    "large": (("engine_over_floor", 1.15),),
    "deep": (("ratio", 0.5), ("engine_over_floor", 1.3)),
}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
KERNEL_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # unset together, never one alone
MiB = 2.0**20


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="BLAS and torch threads, the same on both sides (default: every core, %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 3 repeats, short blocks, 1 engine step per block at least, no RSS",
    )
    parser.add_argument("--repeats", type=int, help="timed blocks per side (default 15, quick 3)")
    parser.add_argument(
        "--min-block", type=float, help="seconds one block lasts at least (default 0.1, quick 0.005)"
    )
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES), help="which sizes")
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES), help="which dtypes")
    parser.add_argument("--no-rss", action="store_true", help="skip the RSS cross-check subprocesses")
    parser.add_argument(
        "--out",
        type=Path,
        help="CSV path (default reports/benchmarks.csv, quick: reports/benchmarks-quick.csv)",
    )
    parser.add_argument(
        "--no-best-kernel",
        action="store_true",
        help="do not rerun with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset when they are set",
    )
    parser.add_argument("--rss-probe", nargs=3, metavar=("SIDE", "SIZE", "DTYPE"), help=argparse.SUPPRESS)
    parser.add_argument("--best-kernel-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    args.repeats = args.repeats or (3 if args.quick else 15)
    args.min_block = args.min_block if args.min_block is not None else (0.005 if args.quick else 0.1)
    args.out = args.out or ROOT / "reports" / ("benchmarks-quick.csv" if args.quick else "benchmarks.csv")
    # train()'s per-call checks and allocations, spread over the engine's block (see the docstring)
    args.min_steps = {"engine": 1 if args.quick else 20}
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for _name in THREAD_VARIABLES:  # before numpy or torch load their thread pools
        os.environ[_name] = str(ARGS.threads)
    sys.path.insert(0, str(ROOT))

import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import scratch_nn as sn  # noqa: E402

# -- the problem ---------------------------------------------------------------------------------------------


def problem(size: str, dtype: str):
    """X (n_in, m), y (1, m) and He-initialized Params, the same values for both sides."""
    n_in, n_hidden, m = SIZES[size]
    rng = np.random.default_rng(SEED)
    if size == "xor":
        X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
        y = np.array([[0.0, 1.0, 1.0, 0.0]])
    else:
        X = rng.standard_normal((n_in, m))
        y = (rng.random((1, m)) < 0.5).astype(np.float64)
    if size in DEPTHS:
        return X.astype(dtype), y.astype(dtype), deep_layers(n_in, n_hidden, DEPTHS[size], rng, dtype)
    params = sn.TwoLayerNet.init(n_in, n_hidden, activation="relu", rng=rng, dtype=dtype).params
    return X.astype(dtype), y.astype(dtype), params


def deep_layers(n_in: int, width: int, depth: int, rng, dtype) -> sn.Layers:
    """He initialization of depth hidden layers of width units and one output (TwoLayerNet.init's rule)."""
    widths = [n_in] + [width] * depth + [1]
    weights = [
        rng.standard_normal((o, i)) * np.sqrt(2.0 / i) for i, o in zip(widths, widths[1:], strict=False)
    ]
    return sn.Layers([w.astype(dtype) for w in weights], [np.zeros((o, 1), dtype) for o in widths[1:]])


class Engine:
    def __init__(self, X, y, params):
        self.X, self.y, self.params = X, y, params
        self.net = sn.TwoLayerNet(params, "relu")

    def reset(self):
        self.net.params = (
            self.params
        )  # copied into the same buffer: no fresh pages to fault in; drops the cache

    def run(self, k: int):
        self.net.train(self.X, self.y, k, LR)


class Torch:
    def __init__(self, X, y, params):
        import torch

        from reference.network import logits, mean_bce

        self.torch, self.logits, self.mean_bce = torch, logits, mean_bce
        self.X, self.y = torch.from_numpy(X.copy()), torch.from_numpy(y.copy())
        self.init = [torch.from_numpy(a.copy()) for a in params]
        self.ps = [torch.nn.Parameter(t.clone()) for t in self.init]
        self.opt = torch.optim.SGD(self.ps, lr=LR)

    def reset(self):
        with self.torch.no_grad():
            for p, v in zip(self.ps, self.init, strict=True):
                p.copy_(v)
                p.grad = None

    def run(self, k: int):
        ps, opt, X, y, relu = self.ps, self.opt, self.X, self.y, self.torch.relu
        losses = []  # as reference/training.py (and the engine's History) keep every epoch's loss
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = self.mean_bce(self.logits(ps, X, relu), y)
            losses.append(loss.detach())
            loss.backward()
            opt.step()


class Floor:
    """The engine's matrix products alone, into preallocated arrays (random dz2 and dz1 stand in)."""

    def __init__(self, X, y, params):
        self.X, self.W1, self.W2 = X, params.W1, params.W2
        rng = np.random.default_rng(SEED + 1)
        hidden = (params.W1.shape[0], X.shape[1])
        self.h, self.dz1 = np.empty(hidden, X.dtype), rng.standard_normal(hidden).astype(X.dtype)
        self.z2, self.dz2 = np.empty(y.shape, X.dtype), rng.standard_normal(y.shape).astype(X.dtype)
        self.dW1, self.dW2 = np.empty_like(params.W1), np.empty_like(params.W2)

    def reset(self):
        pass

    def run(self, k: int):
        X, XT, h, hT, dot = self.X, self.X.T, self.h, self.h.T, np.dot
        for _ in range(k):
            dot(self.W1, X, out=h)
            dot(self.W2, h, out=self.z2)
            dot(self.dz2, hT, out=self.dW2)
            dot(self.dz1, XT, out=self.dW1)


class DeepEngine(Engine):
    def __init__(self, X, y, params):
        self.X, self.y, self.params = X, y, params
        self.net = sn.DeepNet(params, "relu")

    def reset(self):
        self.net.params = self.params  # copied in, drops the cache


class DeepTorch(Torch):
    """The same loop as Torch's, through reference/deep.py's forward (every hidden layer ReLU)."""

    def __init__(self, X, y, params):
        super().__init__(X, y, list(params))
        from reference.deep import logits

        self.deep_logits, self.acts = logits, [self.torch.relu] * (len(params.weights) - 1)
        self.logits = lambda ps, X, relu: self.deep_logits(ps, X, self.acts)


class DeepFloor:
    """DeepNet's matrix products alone (np.matmul, its routine), into preallocated arrays: per layer W a in
    the forward, dz a^T and (above the first layer) W^T dz in the backward; random dz stand in."""

    def __init__(self, X, y, params):
        rng = np.random.default_rng(SEED + 1)
        self.weights, m = params.weights, X.shape[1]
        self.below = [X] + [np.empty((W.shape[0], m), X.dtype) for W in self.weights[:-1]]
        self.z = np.empty((self.weights[-1].shape[0], m), X.dtype)
        self.dz = [rng.standard_normal((W.shape[0], m)).astype(X.dtype) for W in self.weights]
        self.dW = [np.empty_like(W) for W in self.weights]
        self.da = [np.empty_like(a) for a in self.below]

    def reset(self):
        pass

    def run(self, k: int):
        W, below, dz, matmul = self.weights, self.below, self.dz, np.matmul
        for _ in range(k):
            for i in range(len(W)):
                matmul(W[i], below[i], out=below[i + 1] if i + 1 < len(W) else self.z)
            for i in reversed(range(len(W))):
                matmul(dz[i], below[i].T, out=self.dW[i])
                if i > 0:
                    matmul(W[i].T, dz[i], out=self.da[i])


def floor_flops(X, params) -> float:
    """The floor's floating-point operations: 2 n k m per product."""
    m = X.shape[1]
    if isinstance(params, sn.Layers):
        weights = params.weights
        return sum(2 * W.size * m * (3 if i else 2) for i, W in enumerate(weights))
    return 4 * params.W1.shape[0] * m * (X.shape[0] + 1)


def side_classes(size: str) -> dict:
    """The classes that time the engine, torch and the floor at a size."""
    if size in DEPTHS:
        return {"engine": DeepEngine, "torch": DeepTorch, "floor": DeepFloor}
    return {"engine": Engine, "torch": Torch, "floor": Floor}


# -- timing --------------------------------------------------------------------------------------------------


def numpy_call_ns(repeats: int = 7, calls: int = 20_000) -> float:
    """The median over repeats of the time of one np.add of two 4-element arrays into a third: the machine's
    NumPy call overhead right now."""
    a, out = np.ones(4), np.empty(4)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            np.add(a, a, out=out)
        times.append((time.perf_counter() - start) / calls)
    return float(np.median(times)) * 1e9


def block_seconds(side, k: int) -> float:
    side.reset()
    gc.disable()
    try:
        start = time.perf_counter()
        side.run(k)
        return time.perf_counter() - start
    finally:
        gc.enable()


def steps_per_block(side, min_steps: int, min_block: float) -> int:
    """The number of steps k >= min_steps that makes one block last at least min_block seconds (warms up)."""
    k = min_steps
    t = block_seconds(side, k)
    while t < min_block:
        k = max(k + 1, int(k * min(10.0, 1.2 * min_block / max(t, 1e-9))))
        t = block_seconds(side, k)
    return k


def time_sides(sides: dict, repeats: int, min_block: float, min_steps: dict) -> dict[str, dict]:
    """Per side: steps per block, the seconds per step of every repeat (an array), their median, minimum and
    spread (IQR / median); and numpy_call_ns, probed after every repeat, its median."""
    steps = {name: steps_per_block(side, min_steps.get(name, 1), min_block) for name, side in sides.items()}
    per_step = {name: [] for name in sides}
    names = list(sides)
    call_ns = []
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            per_step[name].append(block_seconds(sides[name], steps[name]) / steps[name])
        call_ns.append(numpy_call_ns(repeats=1))
    out = {"numpy_call_ns": float(np.median(call_ns))}
    for name, times in per_step.items():
        q25, median, q75 = np.percentile(times, [25, 50, 75])
        out[name] = {
            "k": steps[name],
            "times": np.array(times),
            "median": float(median),
            "min": float(np.min(times)),
            "spread": float((q75 - q25) / median),
        }
    return out


def paired_ratio(t: dict, a: str, b: str) -> tuple[float, float]:
    """The median over repeats of side a's time / side b's time in the same repeat, and its spread (IQR /
    median)."""
    q25, median, q75 = np.percentile(t[a]["times"] / t[b]["times"], [25, 50, 75])
    return float(median), float((q75 - q25) / median)


# -- memory --------------------------------------------------------------------------------------------------


def engine_peak_alloc(X, y, params) -> int:
    """Bytes: tracemalloc's peak over one train(epochs=1) of a network without a cache, above the start."""
    net = sn.DeepNet(params, "relu") if isinstance(params, sn.Layers) else sn.TwoLayerNet(params, "relu")
    net.train(X, y, 1, LR)  # warm-up: first-call costs are not the step's
    net.params, net.cache = params, None
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        net.train(X, y, 1, LR)
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def torch_peak_alloc(X, y, params) -> int:
    """Bytes: the peak of torch's CPU allocator over one step with no gradients held (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    side = (DeepTorch if isinstance(params, sn.Layers) else Torch)(X, y, params)
    side.run(1)  # warm-up
    side.reset()
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        side.run(1)  # (the profiler's C++ side logs its start and stop to stderr)
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as fh:
            trace = json.load(fh)
    finally:
        os.unlink(path)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    # "Total Allocated" counts the bytes allocated while profiling and not yet freed
    return max((e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]"), default=0)


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_probe(side_name: str, size: str, dtype: str) -> None:
    """In a fresh process: print the peak RSS increase (bytes) of its first step over the RSS before it.

    No warm-up: the C allocator keeps freed pages of a first step resident for the next, which would then
    show no increase at all. The first step includes each library's lazy set-up (torch's CPU kernels, BLAS
    buffers allocated on first use), a cost the step really has in a fresh process.
    """
    X, y, params = problem(size, dtype)
    side = side_classes(size)[side_name](X, y, params)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current RSS
    start = _status_kib("VmRSS")
    side.run(1)
    print(json.dumps({"bytes": (_status_kib("VmHWM") - start) * 1024}))


def peak_rss(side: str, size: str, dtype: str, threads: int) -> float:
    cmd = [sys.executable, __file__, "--threads", str(threads), "--rss-probe", side, size, dtype]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])["bytes"]


# -- the run -------------------------------------------------------------------------------------------------


def pin_threads(threads: int, *, with_torch: bool = True):
    """Limit every BLAS/OpenMP pool loaded (and torch's intra-op pool) to `threads`; keep the result alive."""
    from threadpoolctl import threadpool_limits

    if with_torch:
        import reference

        reference.set_threads(threads)  # imports torch, whose OpenMP/MKL pools threadpoolctl then also sees
    return threadpool_limits(limits=threads)


def environment() -> dict:
    import torch
    from threadpoolctl import threadpool_info

    from parity.environment import cpu_model, version

    info = threadpool_info()
    blas = "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)" for i in info
    )
    numpy_blas = next(
        (i for i in info if i.get("user_api") == "blas" and "numpy" in i.get("filepath", "")), {}
    )
    torch_blas = next(
        (
            line.split("BLAS_INFO=")[1].split(",")[0]
            for line in torch.__config__.show().splitlines()
            if "BLAS_INFO=" in line
        ),
        "unknown",
    )
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": version("torch"),
        "torch_threads": torch.get_num_threads(),
        "blas": blas,
        "cpu": cpu_model(),
        "engine_blas": f"{numpy_blas.get('internal_api', 'unknown')} {numpy_blas.get('version', '')}".strip(),
        "engine_blas_kernel": numpy_blas.get("architecture", "unknown"),
        "engine_blas_threads": numpy_blas.get("num_threads"),
        "torch_blas": torch_blas,
        "torch_blas_kernel": torch.backends.cpu.get_cpu_capability(),
        "torch_blas_threads": torch.get_num_threads(),
        "blas_override": " ".join(f"{k}={os.environ[k]}" for k in KERNEL_OVERRIDES if k in os.environ),
    }


def run(args) -> list[dict]:
    rows = []
    env = environment()
    total, started = len(args.sizes) * len(args.dtypes), time.perf_counter()
    for size in args.sizes:
        n_in, n_hidden, m = SIZES[size]
        for dtype in args.dtypes:
            X, y, params = problem(size, dtype)
            load_before = os.getloadavg()[0]
            sides = {name: cls(X, y, params) for name, cls in side_classes(size).items()}
            t = time_sides(sides, args.repeats, args.min_block, args.min_steps)
            eng, tor, flo = t["engine"]["median"], t["torch"]["median"], t["floor"]["median"]
            ratio_paired, ratio_paired_spread = paired_ratio(t, "engine", "torch")
            row = {
                "size": size,
                "n_in": n_in,
                "n_hidden": n_hidden,
                "depth": DEPTHS.get(size, 1),
                "batch": m,
                "dtype": dtype,
                "engine_ms": eng * 1e3,
                "torch_ms": tor * 1e3,
                "ratio": eng / tor,
                "floor_ms": flo * 1e3,
                "engine_over_floor": eng / flo,
                "ratio_paired": ratio_paired,
                "ratio_paired_spread": ratio_paired_spread,
                "ratio_of_mins": t["engine"]["min"] / t["torch"]["min"],
                "floor_gflops": floor_flops(X, params) / flo / 1e9,
                "engine_min_ms": t["engine"]["min"] * 1e3,
                "torch_min_ms": t["torch"]["min"] * 1e3,
                "floor_min_ms": t["floor"]["min"] * 1e3,
                "engine_spread": t["engine"]["spread"],
                "torch_spread": t["torch"]["spread"],
                "floor_spread": t["floor"]["spread"],
                "engine_steps_per_block": t["engine"]["k"],
                "torch_steps_per_block": t["torch"]["k"],
                "repeats": args.repeats,
                "engine_peak_alloc_mib": engine_peak_alloc(X, y, params) / MiB,
                "torch_peak_alloc_mib": torch_peak_alloc(X, y, params) / MiB,
                "engine_peak_rss_mib": None,
                "torch_peak_rss_mib": None,
            }
            if size == "large" and not args.no_rss and not args.quick:
                row["engine_peak_rss_mib"] = peak_rss("engine", size, dtype, args.threads) / MiB
                row["torch_peak_rss_mib"] = peak_rss("torch", size, dtype, args.threads) / MiB
            row["target"] = "; ".join(f"{column} <= {bound}" for column, bound in TARGETS[size])
            row["target_met"] = all(bool(row[column] <= bound) for column, bound in TARGETS[size])
            if size == "large":
                row["target"] += "; engine_peak_alloc_mib <= torch_peak_alloc_mib"
                row["target_met"] &= bool(row["engine_peak_alloc_mib"] <= row["torch_peak_alloc_mib"])
            row.update(
                threads=args.threads,
                load_1min_before=load_before,
                load_1min_after=os.getloadavg()[0],
                numpy_call_ns=t["numpy_call_ns"],
                mode="quick" if args.quick else "full",
                **env,
            )
            rows.append(row)
            print(format_row(row), flush=True)
            print(progress(len(rows), total, time.perf_counter() - started), file=sys.stderr, flush=True)
    return rows


def progress(done: int, total: int, elapsed: float) -> str:
    """``[done/total] elapsed, about N s left``: sizes take very different times, so the estimate is rough."""
    left = elapsed / done * (total - done)
    return f"  [{done}/{total} done, {elapsed:.0f} s so far, about {left:.0f} s left in this pass]"


def best_kernel_rows(args) -> list[dict]:
    """The same benchmark in a subprocess with the OpenBLAS kernel overrides unset (both together)."""
    env = {k: v for k, v in os.environ.items() if k not in KERNEL_OVERRIDES}
    fd, out = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    cmd = [
        sys.executable,
        __file__,
        "--best-kernel-child",
        "--out",
        out,
        "--threads",
        str(args.threads),
        "--repeats",
        str(args.repeats),
        "--min-block",
        str(args.min_block),
        "--sizes",
        *args.sizes,
        "--dtypes",
        *args.dtypes,
        *(["--quick"] if args.quick else []),
        *(["--no-rss"] if args.no_rss else []),
    ]
    print(
        f"again with {' and '.join(KERNEL_OVERRIDES)} unset, in a subprocess (the kernel OpenBLAS picks):",
        flush=True,
    )
    try:
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        import pandas as pd

        return pd.read_csv(out, keep_default_na=False).to_dict("records")
    finally:
        os.unlink(out)


def judge(rows: list[dict]) -> None:
    """Mark the rows the targets are judged on: the best kernel's where an override was also measured."""
    best = {(r["size"], r["dtype"]) for r in rows if not r["blas_override"]}
    for r in rows:
        r["judged"] = not r["blas_override"] or (r["size"], r["dtype"]) not in best


HEADER = (
    f"{'size':>16} {'dtype':>7} {'engine ms':>10} {'torch ms':>10} {'ratio':>6} {'floor ms':>10} "
    f"{'/floor':>6} {'peak MiB eng/torch':>19} {'target':>6} {'load':>5} {'call ns':>7}"
)


def format_row(row: dict) -> str:
    size = "x".join(str(row[c]) for c in ("n_in", "n_hidden", "batch"))
    size += f" d{row['depth']}" if row["depth"] > 1 else ""
    peaks = f"{row['engine_peak_alloc_mib']:.3g}/{row['torch_peak_alloc_mib']:.3g}"
    return (
        f"{size:>16} {row['dtype']:>7} {row['engine_ms']:>10.4g} {row['torch_ms']:>10.4g} "
        f"{row['ratio']:>6.3f} "
        f"{row['floor_ms']:>10.4g} {row['engine_over_floor']:>6.3f} {peaks:>19} "
        f"{'met' if row['target_met'] else 'MISSED':>6} {row['load_1min_after']:>5.1f} "
        f"{row['numpy_call_ns']:>7.0f}"
    )


def main(args) -> int:
    if args.rss_probe:
        side = args.rss_probe[0]
        limiter = pin_threads(args.threads, with_torch=side == "torch")  # noqa: F841  (kept for the run)
        rss_probe(*args.rss_probe)
        return 0
    limiter = pin_threads(args.threads)  # noqa: F841  (kept for the run)
    import pandas as pd

    from parity.report import write_csv_atomic

    load, cores = os.getloadavg()[0], len(os.sched_getaffinity(0))
    print(
        f"{args.threads} thread(s) per side, {args.repeats} repeats, blocks >= {args.min_block:g} s, "
        f"load average {load:.2f} on {cores} cores"
    )
    if load > 0.5:
        print(
            "NOTE: the machine is busy: timings are noisy, and a multi-threaded side suffers most; "
            "rerun on a quiet machine for figures to quote"
        )
    env = environment()
    print(
        f"BLAS: engine {env['engine_blas']} kernel {env['engine_blas_kernel']} "
        f"({env['engine_blas_threads']} threads); torch {env['torch_blas']} {env['torch_blas_kernel']} "
        f"({env['torch_blas_threads']} threads); overrides: {env['blas_override'] or 'none'}"
    )
    print(HEADER)
    rows = run(args)
    if env["blas_override"] and not args.no_best_kernel and not args.best_kernel_child:
        rows += best_kernel_rows(args)
    judge(rows)
    path = write_csv_atomic(pd.DataFrame.from_records(rows), args.out)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
