"""Helpers the benchmark scripts share: Django setup against a database of
their own, a progress bar, timing by the median of several runs, and results
written as JSON next to the scripts."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_DIR / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/erxseg_bench"

SIZES = {
    "10k": {"customers": 10_000, "companies": 500, "events": 100_000},
    "100k": {"customers": 100_000, "companies": 5_000, "events": 1_000_000},
    "1m": {"customers": 1_000_000, "companies": 50_000, "events": 10_000_000},
}


def setup_django(database_url: str) -> None:
    """Point Django at `database_url` with the test settings (fixed key,
    DEBUG off, so no query log grows during a long run) and set it up."""
    sys.path.insert(0, str(PROJECT_DIR))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def database_name(database_url: str) -> str:
    return database_url.rsplit("/", 1)[-1].split("?", 1)[0]


def server_url(database_url: str) -> str:
    """Return the same server's maintenance database URL, for CREATE and DROP
    DATABASE."""
    return database_url.rsplit("/", 1)[0] + "/postgres"


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, total: int, *, quiet: bool = False):
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.started = time.perf_counter()
        self.drawn_at = 0.0
        self.quiet = quiet or not sys.stderr.isatty()

    def advance(self, amount: int) -> None:
        self.done += amount
        now = time.perf_counter()
        if now - self.drawn_at >= 0.1:
            self.drawn_at = now
            self._draw(now)

    def finish(self) -> float:
        elapsed = time.perf_counter() - self.started
        self.done = self.total
        if self.quiet:
            print(f"{self.label}: {self.total:,} in {elapsed:.1f} s", file=sys.stderr)
        else:
            self._draw(time.perf_counter())
            print(file=sys.stderr)
        return elapsed

    def _draw(self, now: float) -> None:
        if self.quiet:
            return
        share = min(self.done / self.total, 1.0)
        width = 30
        bar = "#" * int(share * width) + "-" * (width - int(share * width))
        print(
            f"\r{self.label:<22} [{bar}] {share:6.1%} "
            f"{self.done:>12,}/{self.total:,} {now - self.started:7.1f} s",
            end="",
            file=sys.stderr,
            flush=True,
        )


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Run `run` `repeats` times; return the median wall time and the last
    result."""
    times = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def paired_medians(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, object, float, object]:
    """Time two runs alternately, `repeats` times each, and return the median
    time and last result of each. Alternating makes a change in the machine's
    load during the measurement weigh on both alike."""
    first_times, second_times = [], []
    first_result = second_result = None
    for _ in range(repeats):
        started = time.perf_counter()
        first_result = first()
        first_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        second_result = second()
        second_times.append(time.perf_counter() - started)
    return (
        statistics.median(first_times),
        first_result,
        statistics.median(second_times),
        second_result,
    )


def machine() -> dict:
    """Return the CPU, memory, Python version and commit the figures were
    taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def write_results(name: str, results: dict, folder: Path = RESULTS_DIR) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path
