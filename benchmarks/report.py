"""The results table: halogrid ratios, text/Markdown rendering, report.json/report.md.

Rows are the cell records of ``benchmarks.one`` plus the agreement fields of
``benchmarks.agreement`` and ``rss_mb`` (peak RSS of the isolated RSS-size cell).
Ratio columns are system_ms / halogrid_ms of the same workload and size (> 1: halogrid
is faster); they are filled only where a halogrid row of that cell is ok.
"""
import json
import os

COLUMNS = ("workload", "size", "system", "fwd ms", "grad ms", "compile s", "cached s", "RSS MB",
           "grad diff", "fwd err", "fwd/hg", "grad/hg", "others %")


def add_halogrid_ratios(rows):
    """Set ``fwd_vs_halogrid`` / ``grad_vs_halogrid`` on every ok row with an ok
    halogrid row of the same (workload, size)."""
    base = {(r["workload"], r["size"]): r for r in rows
            if r["system"] == "halogrid" and r.get("status") == "ok"}
    for row in rows:
        hg = base.get((row["workload"], row["size"]))
        if hg is None or row.get("status") != "ok":
            continue
        for part in ("fwd", "grad"):
            row[f"{part}_vs_halogrid"] = row[part]["median_ms"] / hg[part]["median_ms"]


def _num(value, fmt):
    return "" if value is None else format(value, fmt)


def cells(row):
    """The row's table cells, in COLUMNS order (status text for rows that did not run)."""
    head = [row["workload"], row["size"], row["system"]]
    if row.get("status") != "ok":
        return head + [row.get("status", "?")] + [""] * (len(COLUMNS) - 4)
    return head + [
        _num(row["fwd"]["median_ms"], ".2f"), _num(row["grad"]["median_ms"], ".2f"),
        _num(row.get("compile_s"), ".2f"), _num(row.get("cached_compile_s"), ".2f"),
        _num(row.get("rss_mb"), ".0f"),
        _num(row.get("grad_rel_diff_max"), ".1e"), _num(row.get("fwd_rel_err"), ".1e"),
        _num(row.get("fwd_vs_halogrid"), ".2f"), _num(row.get("grad_vs_halogrid"), ".2f"),
        _num(100 * row["other_load"] if "other_load" in row else None, ".0f"),
    ]


def text_table(rows):
    """Fixed-width table for the terminal; a row that did not run shows its status
    after the system name instead of numbers."""
    table = [list(COLUMNS)] + [cells(r) for r in rows if r.get("status") == "ok"]
    table += [cells(r)[:3] for r in rows if r.get("status") != "ok"]
    widths = [max(len(line[i]) for line in table if i < len(line)) for i in range(len(COLUMNS))]
    lines = []
    for line in [list(COLUMNS)] + [cells(r) for r in rows]:
        if line[3] and not line[4]:  # a status, not numbers
            line = line[:4]
        lines.append("  ".join(c.rjust(w) if i >= 3 and len(line) > 4 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(line, widths))).rstrip())
    return "\n".join(lines)


def markdown_table(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def summary_markdown(rows):
    """Compact table: one line per (workload, size), one "fwd / grad ms" column per
    system, in first-seen order; a system that did not run shows its status word."""
    systems = list(dict.fromkeys(r["system"] for r in rows))
    keys = list(dict.fromkeys((r["workload"], r["size"]) for r in rows))
    by_key = {(r["workload"], r["size"], r["system"]): r for r in rows}
    lines = ["| workload | size | " + " | ".join(systems) + " |",
             "|---|---|" + "---|" * len(systems)]
    for workload, size in keys:
        entries = []
        for name in systems:
            row = by_key.get((workload, size, name), {})
            if row.get("status") == "ok":
                entries.append(f"{row['fwd']['median_ms']:.1f} / {row['grad']['median_ms']:.1f}")
            else:
                entries.append(row.get("status", "").split(":")[0])
        lines.append(f"| {workload} | {size} | " + " | ".join(entries) + " |")
    return "\n".join(lines)


def _meta_markdown(meta):
    bw = meta["copy_bandwidth_gbs"]
    lines = [f"# halogrid benchmark report ({meta['date']})", "",
             f"- machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gb']:.0f} GB",
             f"- copy bandwidth (np.copyto 256 MB, read+write): {bw['1_thread']:.1f} GB/s"
             f" (1 thread), {bw['2_threads']:.1f} GB/s (2 threads)",
             f"- versions: {', '.join(f'{k} {v}' for k, v in meta['versions'].items())}",
             f"- threading: {', '.join(f'{k}={v}' for k, v in meta['env'].items())}",
             f"- timing: {meta['protocol']}",
             f"- RSS MB: peak RSS of a process running only that system+workload at "
             f"{meta['rss_size']}"]
    return "\n".join(lines)


NOTES = """
Columns: fwd/grad ms = median wall time of one call (NumPy in, NumPy out); compile s =
builder time + excess of the first calls over a steady call (halogrid: from an empty
module cache); cached s = the same in a second process on the cache the first filled
(halogrid only); grad diff = max over
gradients of max|g - g_ref| / max|g_ref| against the float64 oracle (numpy64 for W1/W3,
torch64 otherwise); fwd err = the same for the forward against NumPy float64;
fwd/hg, grad/hg = this system's time / halogrid's (> 1 means halogrid is faster);
others % = share of the machine's CPU time used by OTHER processes while the cell ran
(the machine may be shared; a cell with a high value was slowed by them).
"""


def write(rows, meta, out_dir):
    """Write report.json and report.md into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, "report.json")
    md_path = os.path.join(out_dir, "report.md")
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(md_path, "w") as f:
        f.write(_meta_markdown(meta) + "\n\n" + markdown_table(rows) + "\n" + NOTES
                + "\nfwd / grad median ms:\n\n" + summary_markdown(rows) + "\n")
    return json_path, md_path
