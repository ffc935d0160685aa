"""CPU accounting of the queue benchmarks (benchmarks/queue.py, benchmarks/load.py): the web server's
processes, the local PostgreSQL's, the benchmark's own clients' and the whole machine's CPU time so
far, and the per-cycle figures queue.py prints from two readings."""

import os

# CPU per next + submit cycle over the realistic scenario, by whom: the web server's processes, the
# local PostgreSQL's processes, the benchmark's own client processes, and the whole machine (those
# three, the kernel's loopback networking, anything else running): the machine's figure times the
# cycles per second cannot exceed the cores, so it bounds the closed-loop capacity.
CPU_HEADER = (
    f" {'server CPU/cycle':>17} {'db CPU/cycle':>13} {'clients CPU/cycle':>18} {'machine CPU/cycle':>18}"
)


def cpu_marks(server) -> tuple[float, float, float, float]:
    return server_cpu_seconds(server), database_cpu_seconds(), clients_cpu_seconds(), machine_cpu_seconds()


def cpu_per_cycle(marks, server, items) -> str:
    now = cpu_marks(server)
    per = [(b - a) * 1000 / max(1, items) for a, b in zip(marks, now, strict=True)]
    return f"{per[0]:>15.1f}ms {per[1]:>11.1f}ms {per[2]:>16.1f}ms {per[3]:>16.1f}ms"


def server_cpu_seconds(proc) -> float:
    """CPU time (user + system) the server process and its workers have used so far: divided by the
    cycles served, a figure that does not depend on what else the machine is running."""
    import psutil  # an install dependency of accelerate

    root = psutil.Process(proc.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def database_cpu_seconds() -> float:
    """CPU time (user + system) every local PostgreSQL process has used so far (its backends, the
    checkpointer, the WAL writer ...): the database's share of a cycle when the server runs here.
    Backends that have exited count too, through the postmaster's children's times (a backend that
    ended between two readings would otherwise take its CPU out of the difference: the negative
    figures of session 8 and 9)."""
    import psutil  # an install dependency of accelerate

    total = 0.0
    for p in psutil.process_iter(["name"]):
        if p.info["name"] in ("postgres", "postmaster"):
            try:
                t = p.cpu_times()
                total += t.user + t.system
                if p.ppid() == 1 or p.parent() is None or p.parent().name() not in ("postgres", "postmaster"):
                    total += t.children_user + t.children_system  # the postmaster: its ended backends
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    return total


def machine_cpu_seconds() -> float:
    """CPU time every process and the kernel have used so far on this machine (/proc/stat: all but
    idle and iowait), in CPU-seconds: what the split above misses (the kernel's network stack for the
    loopback connections, PostgreSQL's WAL writer, processes that came and went) is in it."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def clients_cpu_seconds() -> float:
    """CPU time of this process and its joined children (the forked client processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
