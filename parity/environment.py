"""What anyone needs to reproduce a run: versions, BLAS libraries, thread counts, CPU; and thread pinning.

Thread counts change float results (BLAS and torch split reductions per thread), so the suite pins every
library to one thread per process: results are then the same with ``-n 0`` and ``-n auto``, and two xdist
workers on two cores do not oversubscribe the machine.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

THREADS = 1
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def pin_thread_variables() -> None:
    """Set the BLAS/OpenMP thread variables, unless the user set them; effective only before numpy loads."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(THREADS))


def pin_threads():
    """Limit BLAS and torch to ``THREADS`` threads at run time; returns the threadpoolctl limiter to keep."""
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=THREADS)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(THREADS)
    return limiter


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_libraries() -> str:
    """The BLAS/OpenMP libraries numpy loaded, with their versions and current thread counts."""
    import numpy  # noqa: F401  (loads numpy's BLAS so that threadpoolctl can see it)
    from threadpoolctl import threadpool_info

    return "; ".join(
        f"{i.get('internal_api')} {i.get('version')} "
        f"({i.get('architecture', '-')}, {i.get('num_threads')} threads)"
        for i in threadpool_info()
    )


def header_line(base_seed: int, engine: str, workers: str) -> str:
    return (
        f"parity: base seed {base_seed}, engine {engine}, workers {workers}, {THREADS} BLAS/torch thread(s) "
        f"per process; numpy {version('numpy')}, torch {version('torch')}, pandas {version('pandas')}"
    )


def environment_rows(
    *,
    base_seed: int,
    engine: str,
    workers: int,
    hypothesis_profile: str,
    start_time: str,
    report_dir: str,
    run_id: str = "",
    blas: str | None = None,
) -> list[tuple[str, str]]:
    """The key/value rows of environment.csv. ``blas``: the BLAS of the processes that ran the tests (the
    xdist workers, as they reported it); None: this process's own (``-n 0``)."""
    return [
        ("run_id", run_id),
        ("python", sys.version.split()[0]),
        ("implementation", platform.python_implementation()),
        ("platform", platform.platform()),
        ("cpu", cpu_model()),
        ("cpu_count", str(os.cpu_count())),
        *[
            (pkg, version(pkg))
            for pkg in ("numpy", "torch", "pandas", "hypothesis", "pytest", "pytest-xdist")
        ],
        ("blas", blas if blas is not None else blas_libraries()),
        ("threads_per_process", str(THREADS)),
        *[(name, os.environ.get(name, "")) for name in THREAD_VARIABLES],
        ("xdist_workers", str(workers)),
        ("engine", engine),
        ("base_seed", str(base_seed)),
        ("hypothesis_profile", hypothesis_profile),
        ("start_time", start_time),
        ("report_dir", report_dir),
    ]
