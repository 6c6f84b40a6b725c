"""What a benchmark ran on: CPU model, cores and threads, and the versions that shape the numbers.

Every benchmark prints `machine_line()` first, so a pasted result says where it came from:

    machine: AMD EPYC (2 CPUs, torch threads 2, load average 0.3 at start), Linux x86_64; python 3.11.7, torch 2.14.1,
             open_clip 3.3.0
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo, else what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(extra_packages: tuple[str, ...] = ()) -> dict[str, object]:
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "usable_cpus": usable,
        "torch_threads": torch.get_num_threads(),
        "os": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "open_clip": package_version("open_clip_torch"),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    for name in extra_packages:
        info[name] = package_version(name)
    return info


def machine_line(extra_packages: tuple[str, ...] = ()) -> str:
    """One line: CPU model, CPUs and torch threads, then python, torch, open_clip (and `extra_packages`)."""
    info = machine_info(extra_packages)
    cpus = f"{info['cpus']} CPUs" + (f", {info['usable_cpus']} usable" if info["usable_cpus"] != info["cpus"] else "")
    gpu = f", GPU {info['cuda']}" if info["cuda"] else ""
    versions = ", ".join(f"{name} {info[name]}" for name in ("python", "torch", "open_clip", *extra_packages))
    load = f", load average {info['load_1min']:.1f} at start" if info["load_1min"] is not None else ""
    return (
        f"machine: {info['cpu']} ({cpus}, torch threads {info['torch_threads']}{gpu}{load}), {info['os']}; {versions}"
    )


if __name__ == "__main__":
    print(machine_line())
    sys.exit(0)
