"""``bench/run.py --pin``: PostgreSQL on one CPU, everything else on another.

On EMR → RDS the Spark executors (and S3) run on other machines than the
database; on one 2-CPU box they fight over the same cores. ``--pin`` imitates
the separate machines with CPU affinity (``taskset``, util-linux):

* the benchmark process (the Spark driver's Python side, the psycopg/dlt/ADBC
  peers), pinned first, so everything it starts inherits the client CPU: the
  SeaweedFS S3 server, the Spark JVM and the Python workers the JVM forks;
* PostgreSQL's postmaster and its children, re-pinned to the database CPU right
  after the cluster starts; every backend it forks later (one per connection)
  inherits that CPU.

``taskset -a`` pins every thread of a process, not only its main thread. At the
end of the run :func:`check` reads the affinity of every process of each group
back, so results.json says what was actually pinned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any


def choose_cpus() -> tuple[int, int]:
    """(database CPU, client CPU): the first two CPUs this process may use."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit(f"--pin needs at least 2 CPUs, this process may use {cpus}")
    if shutil.which("taskset") is None:
        raise SystemExit("--pin needs taskset (util-linux)")
    return cpus[0], cpus[1]


def taskset(pid: int, cpu: int) -> None:
    """Pin every thread of ``pid`` to ``cpu``."""
    subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], check=True, capture_output=True,
                   text=True)


def _ppids() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        out[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> list[int]:
    ppids = _ppids()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in ppids.items() if pp == parent]
        found += kids
        todo += kids
    return found


def postmaster_pid(pg: Any) -> int:
    return int((Path(pg.root) / "data" / "postmaster.pid").read_text().split()[0])


def pin_tree(pid: int, cpu: int) -> int:
    """Pin ``pid`` and every process below it; how many processes were pinned."""
    n = 0
    for p in [pid, *descendants(pid)]:
        try:
            taskset(p, cpu)
            n += 1
        except subprocess.CalledProcessError:  # exited in between
            pass
    return n


def proc_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _affinity(pid: int) -> list[int] | None:
    """The union of the affinities of all threads of ``pid``."""
    cpus: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                cpus |= os.sched_getaffinity(int(tid))
            except OSError:
                pass
    except OSError:
        return None
    return sorted(cpus)


def check(pg: Any, s3_pid: int | None) -> dict[str, Any]:
    """What each group of processes may run on now: {group: {"processes": n, "cpus": [...]}}."""
    groups: dict[str, list[int]] = {"postgres": [], "driver": [os.getpid()], "s3": [], "spark-jvm": [],
                                    "spark-python-workers": []}
    master = postmaster_pid(pg)
    groups["postgres"] = [master, *descendants(master)]
    if s3_pid:
        groups["s3"] = [s3_pid, *descendants(s3_pid)]
    for p in descendants(os.getpid()):
        if proc_name(p) == "java":
            groups["spark-jvm"].append(p)
            groups["spark-python-workers"] += descendants(p)
    out: dict[str, Any] = {}
    for group, pids in groups.items():
        cpus: set[int] = set()
        n = 0
        for p in pids:
            aff = _affinity(p)
            if aff is not None:
                cpus |= set(aff)
                n += 1
        out[group] = {"processes": n, "cpus": sorted(cpus)}
    return out
