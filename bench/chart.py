"""Draw count time against customers for three shapes, erxseg and the
hand-written SQL, from bench/results/segments-{10k,100k,1m}.json.

Usage: .venv/bin/python bench/chart.py [--out docs/benchmarks-count-time.png]
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PROJECT_DIR, RESULTS_DIR  # noqa: E402

SIZES = ["10k", "100k", "1m"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=PROJECT_DIR / "docs" / "benchmarks-count-time.png"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()

    runs = {}
    for size in SIZES:
        path = args.results_dir / f"segments-{size}.json"
        if not path.exists():
            parser.error(
                f"{path} is missing: run bench/segments.py --size {size} first."
            )
        runs[size] = json.loads(path.read_text())
    customers = [runs[size]["rows"]["contacts by state"]["customer"] for size in SIZES]
    charted = [shape for shape in runs["1m"]["shapes"] if shape["key"] in CHART_SHAPES]

    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    for index, shape in enumerate(charted):
        colour = f"C{index}"
        by_size = [
            next(s for s in runs[size]["shapes"] if s["key"] == shape["key"])
            for size in SIZES
        ]
        axis.plot(
            customers,
            [s["erxseg_ms"] for s in by_size],
            marker="o",
            color=colour,
            label=f"{shape['title']} (erxseg)",
        )
        axis.plot(
            customers,
            [s["sql_ms"] for s in by_size],
            marker="x",
            linestyle="--",
            color=colour,
            label="  same, hand-written SQL",
        )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("customers (log scale)")
    axis.set_ylabel("count time, ms (median, log scale)")
    machine = runs["1m"]["machine"]
    axis.set_title(
        f"Segment count time, PostgreSQL {runs['1m']['postgresql'].split()[0]}, "
        f"{machine['cpus']} CPUs"
    )
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out)
    print(f"Wrote {args.out}")
    return 0


CHART_SHAPES = ("property", "nested", "lifetime_count")

if __name__ == "__main__":
    sys.exit(main())
