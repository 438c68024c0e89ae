"""The GPU suite's results: ratios to halogrid, times over the memory-traffic floor,
the targets of issue 10 section 4, and cuda_report.json / cuda_report.md.

Rows are ``cuda_cell`` size records plus the ``agreement`` fields, ``cached_s``
(halogrid's cached start) and the floor fields set here. The floor of a function is
the time to move its compulsory bytes at the measured device-to-device copy bandwidth:
every input it reads read once, every output written once (``floor_bytes``).
"""
import json
import os

from benchmarks.report import _num
from benchmarks.workloads import WORKLOADS

COLUMNS = ("workload", "size", "system", "fwd ms", "grad ms", "fwd/hg", "grad/hg",
           "fwd/floor", "grad/floor", "compile s", "cached s", "peak MB", "grad diff",
           "fwd err")
LOSS_ONLY = ("target", "hist_target")  # inputs that only the loss reads
SPEEDUP_TARGET = {"W2": 1.0}  # grad speed-up over PyTorch at S4 the issue asks for
DEFAULT_SPEEDUP = 3.0
FLOOR_TARGET = ("W4", 5.0)  # W4 at S4 within 5x of its floor


def floor_bytes(inputs, fwd_outputs, grad_names):
    """(forward bytes, gradient bytes) that any implementation must move: the forward
    reads its inputs and writes its outputs (float32); the gradient reads every input
    (target included) and writes one gradient per ``grad_names`` and the loss."""
    read = sum(a.nbytes for k, a in inputs.items() if k not in LOSS_ONLY)
    fwd = read + sum(4 * a.size for a in fwd_outputs)
    grad = (sum(a.nbytes for a in inputs.values())
            + sum(inputs[n].nbytes for n in grad_names) + 4)
    return fwd, grad


def add_floors(rows, floors, copy_gbs):
    """Set ``<part>_floor_ms`` and ``<part>_over_floor`` on ok rows; ``floors`` maps
    (workload, size label) -> floor_bytes()."""
    for row in rows:
        found = floors.get((row["workload"], row["size"]))
        if row.get("status") != "ok" or found is None or not copy_gbs:
            continue
        for part, nbytes in zip(("fwd", "grad"), found):
            row[f"{part}_floor_ms"] = nbytes / (copy_gbs * 1e6)
            row[f"{part}_over_floor"] = row[part]["median_ms"] / row[f"{part}_floor_ms"]


def cells(row):
    head = [row["workload"], row["size"], row["system"]]
    if row.get("status") != "ok":
        return head + [row.get("status", "?")]
    return head + [
        _num(row["fwd"]["median_ms"], ".3f"), _num(row["grad"]["median_ms"], ".3f"),
        _num(row.get("fwd_vs_halogrid"), ".2f"), _num(row.get("grad_vs_halogrid"), ".2f"),
        _num(row.get("fwd_over_floor"), ".1f"), _num(row.get("grad_over_floor"), ".1f"),
        _num(row.get("compile_s"), ".2f"), _num(row.get("cached_s"), ".2f"),
        _num(row.get("peak_mb"), ".0f"), _num(row.get("grad_rel_diff_max"), ".1e"),
        _num(row.get("fwd_rel_err"), ".1e")]


def text_table(rows):
    """Fixed-width table; a row that did not run shows its status after its name."""
    lines = [list(COLUMNS)] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in lines if i < len(line) and (i < 3 or len(line) > 4))
              for i in range(len(COLUMNS))]
    out = []
    for line in lines:
        if len(line) < len(COLUMNS):  # a status
            out.append("  ".join(c.ljust(w) for c, w in zip(line[:3], widths)) + "  "
                       + line[3])
        else:
            out.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(line, widths))).rstrip())
    return "\n".join(out)


def _at(rows, workload, system, size):
    """The ok row of (workload, system) at ``size`` (W2, which has one size: any)."""
    for row in rows:
        if ((row["workload"], row["system"]) == (workload, system) and row.get("status") == "ok"
                and (row.get("size_key") == size or WORKLOADS[workload].fixed_size)):
            return row
    return None


def _verdict(ok):
    return "met" if ok else "NOT met"


def targets(rows, size="S4"):
    """Lines checking issue 10's GPU targets at ``size`` on the rows that ran."""
    lines = []
    for workload in sorted({r["workload"] for r in rows}):
        hg, peer = _at(rows, workload, "halogrid", size), _at(rows, workload, "torch", size)
        if hg is None or peer is None:
            continue
        goal = SPEEDUP_TARGET.get(workload, DEFAULT_SPEEDUP)
        speedup = peer["grad"]["median_ms"] / hg["grad"]["median_ms"]
        line = (f"{workload} {hg['size']}: fwd+grad {speedup:.2f}x PyTorch's speed "
                f"(target >= {goal:g}x: {_verdict(speedup >= goal)})")
        if hg.get("peak_mb") is not None and peer.get("peak_mb") is not None:
            line += (f"; peak {hg['peak_mb']:.0f} MB vs {peer['peak_mb']:.0f} MB "
                     f"({_verdict(hg['peak_mb'] <= peer['peak_mb'])})")
        if workload == FLOOR_TARGET[0] and "grad_over_floor" in hg:
            over = hg["grad_over_floor"]
            line += (f"; {over:.1f}x its memory-traffic floor of {hg['grad_floor_ms']:.3f} ms"
                     f" (target <= {FLOOR_TARGET[1]:g}x: {_verdict(over <= FLOOR_TARGET[1])})")
        lines.append(line)
    return lines


def header(meta):
    probe = meta["probe"]
    memory = probe.get("memory_gb")
    return "\n".join([
        f"GPU: {probe.get('device')} (compute capability "
        f"{'.'.join(map(str, probe.get('compute_capability', [])))})"
        + ("" if memory is None else f", {memory:.0f} GB")
        + (" -- the numba-cuda SIMULATOR: times mean nothing" if probe.get("simulator") else ""),
        f"device-to-device copy ({probe.get('copy_megabytes')} MB, read + write): "
        f"{_num(probe.get('copy_gbs'), '.0f')} GB/s = the floor's bandwidth",
        "versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "peak memory: " + ("; ".join(f"{k}: {v}" for k, v in meta["memory"].items())
                           or "no system ran")])


NOTES = """
fwd/grad ms: median wall time of one call on device-resident inputs, each call waited for
(synchronize / block_until_ready); the "numpy-io" row passes NumPy arrays (copies in and
out included). fwd/hg, grad/hg: this row's time / halogrid's (> 1: halogrid faster).
fwd/floor, grad/floor: time / (compulsory bytes / copy bandwidth). compile s: builder +
excess of the first calls over a steady call (halogrid from an empty module cache; at
the second size, only the first calls' excess); cached s: the same in a second process
on the filled cache. peak MB: the GPU memory the size's calls held at once, inputs
included (method per system above). grad diff / fwd err: max|a - ref| / max|ref|
against float64 oracles (numpy64 for W1/W3, torch64 on the CPU otherwise).
"""


def write(rows, meta, out_dir):
    """Write cuda_report.json and cuda_report.md into ``out_dir``; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, "cuda_report.json")
    md_path = os.path.join(out_dir, "cuda_report.md")
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(md_path, "w") as f:
        f.write(f"# halogrid GPU benchmark ({meta['date']})\n\n{header(meta)}\n\n```\n"
                f"{text_table(rows)}\n```\n\n" + "\n".join(targets(rows)) + "\n" + NOTES)
    return json_path, md_path
