"""What the benchmarks print: environment, tables, notes, per-evaluation parts.

Imported by Dask workers too (:func:`blas_info`), so its imports stay light.
"""

from __future__ import annotations

import importlib.metadata
import os
import statistics
import sys

import numpy as np

PACKAGES = ("dmltk", "dask", "distributed", "scikit-learn", "dask-ml", "pyspark")


def versions() -> dict:
    """Installed versions of the packages compared, without importing them."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def blas_info() -> list[dict]:
    """The BLAS libraries numpy loaded in this process, per threadpoolctl."""
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "prefix", "architecture", "num_threads", "version")
    return [
        {key: lib.get(key) for key in keys}
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]


def processor() -> str:
    """The processor's model name (``lscpu``'s), or ``"unknown"``."""
    import platform

    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """Processor, cores and memory of this machine, and any OpenBLAS
    variables set."""
    import psutil

    return {
        "processor": processor(),
        "logical_cores": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "openblas_env": {
            k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")
        },
    }


def format_table(
    rows: list[dict], columns: list[tuple[str, str, str]], missing: str = "-"
) -> str:
    """A plain-text table.

    Parameters
    ----------
    rows : list of dict
        One dict per row.
    columns : list of (key, heading, format)
        ``format`` is a format spec applied to numbers.
    missing : str, default="-"
        Printed for a missing value.

    Returns
    -------
    str
    """

    def cell(row, key, spec):
        value = row.get(key)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return missing
        return format(value, spec) if spec else str(value)

    body = [[cell(row, key, spec) for key, _, spec in columns] for row in rows]
    headings = [heading for _, heading, _ in columns]
    widths = [max(len(text) for text in column) for column in zip(headings, *body)]  # noqa: B905
    lines = [
        "  ".join(text.rjust(width) for text, width in zip(line, widths, strict=True))
        for line in [headings, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def header_lines(title: str, rows: list[dict]) -> list[str]:
    """Title, machine, versions and the BLAS of the parent and the workers."""
    found = machine()
    listed = ", ".join(f"{k} {v}" for k, v in versions().items())
    lines = [
        title,
        f"machine: {found['processor']}, {found['logical_cores']} logical / "
        f"{found['physical_cores']} physical cores, {found['memory_gib']} GiB",
        f"versions: {listed}, python {sys.version.split()[0]}",
    ]
    for lib in blas_info():
        lines.append(
            f"BLAS (parent, as in scikit-learn's child): {lib['internal_api']} "
            f"{lib['version']} {lib['architecture']}, {lib['num_threads']} threads"
        )
    worker = next((row for row in rows if row.get("worker_blas")), None)
    if worker is not None:
        lib = worker["worker_blas"][0]
        lines.append(
            f"BLAS (Dask workers): {lib['internal_api']} {lib['architecture']}, "
            f"{lib['num_threads']} thread(s) per worker"
        )
    if found["openblas_env"]:
        lines.append(
            f"WARNING: {found['openblas_env']} set: numpy runs slower with them"
        )
    return lines


def system_notes(rows: list[dict]) -> list[str]:
    """One line of detail per run (settings, placement, Spark's start-up)."""
    lines = []
    for row in rows:
        if "error" in row:
            lines.append(f"{row['label']}: FAILED ({row['error']})")
            lines.extend(f"    {text}" for text in row["log_tail"])
            continue
        parts = [row["settings"]] if row.get("settings") else []
        if row.get("evaluations") is not None:
            parts.append(f"{row['evaluations']} evaluations")
        if "blocks_per_worker" in row:
            parts.append(
                f"blocks per worker {row['blocks_per_worker']}, worker imports "
                f"{row['worker_import_seconds']:.1f} s (before timing)"
            )
        if row.get("partition_seconds") is not None:
            parts.append(f"partition {row['partition_seconds']:.2f} s (not in fit)")
        if "cold_fit_seconds" in row:
            parts.append(
                f"cold fit {row['cold_fit_seconds']:.2f} s, session start "
                f"{row['session_seconds']:.2f} s, load+cache "
                f"{row['load_seconds']:.2f} s"
            )
        parts.append(f"child process {row['child_seconds']:.0f} s")
        if row.get("attempts_made", 1) > 1:
            parts.append(
                f"kept attempt {row['attempt']} of {row['attempts_made']} "
                "(the least disturbed)"
            )
        lines.append(f"{row['label']}: " + "; ".join(parts))
    return lines


# ------------------------------------------------------ per-evaluation parts
def evaluation_parts(row: dict) -> dict | None:
    """dmltk's fit split per evaluation, from its ``fit_stats_``.

    Returns ``None`` when the fit recorded no ``evaluation_seconds``; else
    lists per evaluation: ``evaluation``, ``kernel`` (slowest worker inside
    its block kernels; None when not recorded), ``scheduling`` (evaluation -
    kernel), and ``client`` (fit seconds outside evaluations, per
    evaluation).
    """
    stats = row.get("fit_stats") or {}
    evaluations = stats.get("evaluation_seconds")
    if not evaluations:
        return None
    kernels = stats.get("kernel_seconds")
    outside = row["fit_seconds"] - sum(evaluations)
    return {
        "evaluation": list(evaluations),
        "kernel": list(kernels) if kernels else None,
        "scheduling": (
            [e - k for e, k in zip(evaluations, kernels, strict=True)]
            if kernels
            else None
        ),
        "client": outside / len(evaluations),
        "client_total": outside,
    }


def _ms(values) -> str:
    if values is None:
        return "n/a"
    if np.isscalar(values):
        return f"{values * 1e3:.1f} ms"
    later = values[1:] or values
    return (
        f"first {values[0] * 1e3:.1f} ms, then median "
        f"{statistics.median(later) * 1e3:.1f} ms"
    )


def evaluation_lines(row: dict | None, numpy_read: float | None = None,
                     per_evaluation: bool = False) -> list[str]:  # fmt: skip
    """The per-evaluation section: parts, and ratios to the baselines."""
    if row is None:
        return ["dmltk per evaluation: not measured (dmltk not run)"]
    parts = evaluation_parts(row)
    evaluations = (row.get("fit_stats") or {}).get("evaluations")
    lines = [f"dmltk per evaluation ({evaluations} evaluations, from fit_stats_):"]
    if parts is None:
        lines.append("  evaluation n/a, kernel n/a, scheduling n/a, client n/a "
                     "(this dmltk records no evaluation_seconds)")  # fmt: skip
    else:
        lines += [
            f"  evaluation  {_ms(parts['evaluation'])}",
            f"  kernel      {_ms(parts['kernel'])} (slowest worker)",
            f"  scheduling  {_ms(parts['scheduling'])} (evaluation - kernel)",
            f"  client      {_ms(parts['client'])} per evaluation "
            f"({parts['client_total']:.2f} s of the fit outside evaluations)",
        ]
    lines += _baseline_lines(row, parts, numpy_read)
    if per_evaluation and parts is not None:
        lines += _per_evaluation_table(parts)
    return lines


def _baseline_lines(row: dict, parts: dict | None, numpy_read: float | None):
    base = row.get("cluster_baselines") or {}
    lines = []
    if numpy_read is not None:
        lines.append(
            f"  one read of X in numpy, 2 threads (X.sum(); for CSR, its "
            f"data, indices and indptr)   {numpy_read * 1e3:.1f} ms"
        )
    if base:
        lines.append(
            f"  on the cluster, graphs of the same shape (a task per worker): "
            f"X.sum() {base['read'] * 1e3:.1f} ms, no-op {base['noop'] * 1e3:.1f} ms "
            f"(a no-op task per block: {base['noop_per_block'] * 1e3:.1f} ms)"
        )
    if parts is not None:
        median = statistics.median(parts["evaluation"][1:] or parts["evaluation"])
        if numpy_read:
            lines.append(
                f"  evaluation / one read of X       {median / numpy_read:.2f} x"
            )
        if base:
            lines.append(
                f"  evaluation / no-op graph         {median / base['noop']:.2f} x"
            )
    return lines


def _per_evaluation_table(parts: dict) -> list[str]:
    rows = []
    for i, evaluation in enumerate(parts["evaluation"]):
        kernel = parts["kernel"][i] if parts["kernel"] else None
        rows.append({
            "i": i + 1, "evaluation": evaluation * 1e3,
            "kernel": None if kernel is None else kernel * 1e3,
            "scheduling": None if kernel is None else (evaluation - kernel) * 1e3,
            "client": parts["client"] * 1e3,
        })  # fmt: skip
    columns = [("i", "#", "d"), ("evaluation", "eval ms", ".1f"),
               ("kernel", "kernel ms", ".1f"), ("scheduling", "sched ms", ".1f"),
               ("client", "client ms", ".1f")]  # fmt: skip
    table = format_table(rows, columns, missing="n/a")
    return ["  per evaluation:", *("    " + line for line in table.splitlines())]
