"""How fast is one training step of the Mini-GPT, compared with what it could be?

Run from the repository root:

    .venv/bin/python benchmarks/bench_step.py              # the full table (about a minute)
    .venv/bin/python benchmarks/bench_step.py --quick      # one timed run per row
    .venv/bin/python benchmarks/bench_step.py --json       # also print the results as JSON
    .venv/bin/python benchmarks/bench_step.py --profile    # also cProfile the minigpt step

Everything runs in one process, on one model, `MiniGPT(27, 16, 4, 1, 16)` (vocab 27,
width 16, 4 heads, 1 block, context 16), and one name from the names data set turned
into 16 tokens. The rows:

  floor      the forward pass and loss on plain Python floats (benchmarks/float_gpt.py):
             the cost of the arithmetic alone, with no autograd at all;
  minigpt    one training step: forward, cross_entropy_loss, backward, Adam update;
  primitive  the same step inside `minigpt.engine.primitive_mode()`, where every helper
             builds its graph from + - * / ** exp log tanh only;
  compiled   the same step with `minigpt.compile.compile_step(model, T)`: the graph is
             traced once, before the timing, into a straight-line program on floats
             that computes the loss and adds the gradients to each `.grad`; then the
             same Adam update. Its compile time is reported on its own, and the step
             time with the compile time shared out over 100 steps;
  micrograd  the same step on the `micrograd` package (benchmarks/micrograd_gpt.py);
  generate   milliseconds per sampled token, `minigpt.gpt.generate` against the
             float model sampling the same way (one float forward per token).

All models start from the same weights, so each row's first loss must be the same
number: the table prints it as a check that they all compute the same thing.

Timing: `time.perf_counter`, the median (and the minimum) of `--repeats` runs after one
untimed warm-up run, with Python's garbage collector in its default state. The floor,
minigpt, primitive and compiled rows take turns (floor, minigpt, primitive, compiled,
floor, ...) so that a change in the machine's load hits them alike; micrograd, seconds
per step, runs on its own afterwards, steps back to back as in a training loop. The
`gc off` column times the same run with the collector switched off during it (and a
collection, untimed, after it): the difference is what the cycle collector costs. It
matters a lot for micrograd, whose nodes keep closures that point back to the node
(reference cycles), so its graphs can only be freed by the collector; minigpt's graphs
have no cycles and are freed by reference counting, so minigpt's training step (here
as in `minigpt.train.Trainer.train_step`) pauses the collector while it builds and
backpropagates the graph. The compiled step makes no graph (two lists of floats), so
it runs with the collector as it is. The targets are judged on the default medians,
which for minigpt means its step as the trainer runs it.

Memory: the graph's size in nodes (`minigpt.engine.topological_order(loss)` for the
minigpt rows; an iterative walk of `_prev` for micrograd; leaves and constants
included; for the compiled row, the nodes of the graph it traced), and the peak of
Python allocations during one step measured with `tracemalloc` in a separate, untimed
run (tracemalloc slows allocation down, so it is never on while timing). The process's resident high-water mark (`ru_maxrss`) is
printed after each stage: it only ever goes up, so it shows which stage needed most.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
try:
    import tracemalloc  # CPython only: PyPy has no allocation tracer
except ImportError:
    tracemalloc = None
from typing import Callable, Dict, List, Optional, Sequence, Tuple

try:
    import resource  # Unix only
except ImportError:  # pragma: no cover - Windows
    resource = None

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (HERE, ROOT):  # float_gpt / micrograd_gpt live here; minigpt in the root
    if path not in sys.path:
        sys.path.insert(0, path)

import float_gpt  # noqa: E402
import micrograd_gpt  # noqa: E402
from minigpt.compile import compile_step  # noqa: E402
from minigpt.engine import topological_order  # noqa: E402
from minigpt.functional import primitive_mode  # noqa: E402
from minigpt.fused import gc_paused  # noqa: E402
from minigpt.gpt import MiniGPT, cross_entropy_loss, generate  # noqa: E402

try:
    from minigpt.optim import Adam
    ADAM_SOURCE = "minigpt.optim.Adam"
except ImportError:
    # ---- FALLBACK, only while minigpt.optim does not exist ----------------------------
    # The plain Adam written for the micrograd model works on anything with .data and
    # .grad, minigpt Values included, and does the same update as minigpt.optim.Adam.
    Adam = micrograd_gpt.Adam
    ADAM_SOURCE = "benchmarks/micrograd_gpt.Adam (FALLBACK: minigpt.optim not importable)"

# --------------------------------------------------------------------------------------
# The model and the data
# --------------------------------------------------------------------------------------
VOCAB, EMBED_DIM, NUM_HEADS, NUM_LAYERS, CONTEXT = 27, 16, 4, 1, 16
SEED = 1337
LEARNING_RATE = 1e-2
AMORTISE_STEPS = 100  # the compiled row's compile time is also shown shared over this many steps
from minigpt.corpus import NAMES_FILE as DEFAULT_NAMES  # noqa: E402  (the names shipped with minigpt)
# Used when the names file is absent; the long one fills the whole context.
FALLBACK_NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia",
                  "harper", "evelyn", "muhammadibrahim"]

LETTERS = "abcdefghijklmnopqrstuvwxyz"
BOS = len(LETTERS)  # token 26 marks both the start and the end of a name
TOKEN_OF = {ch: i for i, ch in enumerate(LETTERS)}


def encode_name(name: str, context: int = CONTEXT) -> Tuple[List[int], List[int]]:
    """Character tokens of a name and the next-token targets, cropped to `context`:
    tokens = [BOS] + letters, targets = letters + [BOS] (each token predicts the next)."""
    letters = [TOKEN_OF[ch] for ch in name.strip().lower()]
    tokens, targets = [BOS] + letters, letters + [BOS]
    return tokens[:context], targets[:context]


def load_names(path: str) -> Tuple[List[str], str]:
    """Names from the file (one per line, letters only), or the built-in list if it is absent."""
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip().lower() for line in f]
    except OSError:
        return list(FALLBACK_NAMES), f"built-in list ({path} not found)"
    names = [n for n in names if n and all(ch in TOKEN_OF for ch in n)]
    if not names:
        return list(FALLBACK_NAMES), f"built-in list ({path} has no usable names)"
    return names, path


def pick_name(names: Sequence[str], wanted: Optional[str] = None) -> str:
    """The requested name, or else the first one long enough to fill the context
    (so the step works on the full 16 positions), or else the longest one."""
    if wanted:
        if not all(ch in TOKEN_OF for ch in wanted.lower()):
            raise SystemExit(f"bench_step: --name must be letters a-z only, got {wanted!r}")
        return wanted.lower()
    for n in names:
        if len(n) + 1 >= CONTEXT:
            return n
    return max(names, key=len)


def fresh_model(state: Dict[str, object]) -> MiniGPT:
    """A MiniGPT with the benchmark's sizes and the given weights."""
    model = MiniGPT(VOCAB, EMBED_DIM, NUM_HEADS, NUM_LAYERS, CONTEXT)
    model.load_state_dict(state)
    return model


# --------------------------------------------------------------------------------------
# The things being timed. Each returns (phase times in seconds, loss as a float, root of
# the graph or None); the root lets the caller count nodes after the clock has stopped.
# --------------------------------------------------------------------------------------
perf = time.perf_counter


def floor_forward(model: float_gpt.FloatGPT, tokens, targets):
    """The floor: forward pass and loss on floats (nothing to differentiate, nothing to update)."""
    t0 = perf()
    logits = model.forward(tokens)
    t1 = perf()
    loss = sum(float_gpt.logsumexp(row) - row[y] for row, y in zip(logits, targets)) / len(logits)
    t2 = perf()
    return {"forward": t1 - t0, "loss": t2 - t1}, loss, None


def minigpt_step(model: MiniGPT, optimizer, tokens, targets):
    """One training step of minigpt, as `minigpt.train.Trainer.train_step` runs it: the
    cycle collector is paused while the (acyclic) graph is built and backpropagated;
    reference counting frees it. The "update" phase is zero_grad plus the Adam step."""
    t0 = perf()
    optimizer.zero_grad()
    with gc_paused():
        t1 = perf()
        logits = model(tokens)
        t2 = perf()
        loss = cross_entropy_loss(logits, targets)
        t3 = perf()
        loss.backward()
        t4 = perf()
        nodes = len(topological_order(loss))  # untimed: the graph's size, for the table
        t4b = perf()
        value = loss.data
        del logits, loss  # free the graph while the collector is paused, as the trainer does
    optimizer.step()
    t5 = perf()
    # "update" = zero_grad + freeing the graph + the Adam step
    return ({"forward": t2 - t1, "loss": t3 - t2, "backward": t4 - t3, "update": (t1 - t0) + (t5 - t4b)},
            value, nodes)


def primitive_step(model: MiniGPT, optimizer, tokens, targets):
    """The same step, with every helper building its graph from primitive operations."""
    with primitive_mode():
        return minigpt_step(model, optimizer, tokens, targets)


def compiled_step(step, optimizer, tokens, targets):
    """The same step with the compiled program: `step(tokens, targets)` computes the loss
    and adds its gradients to the parameters' `.grad` (no graph is built), then the same
    Adam update. Returns the traced graph's node count in place of a graph."""
    t0 = perf()
    optimizer.zero_grad()
    t1 = perf()
    value = step(tokens, targets)
    t2 = perf()
    optimizer.step()
    t3 = perf()
    return {"program": t2 - t1, "update": (t1 - t0) + (t3 - t2)}, value, step.n_nodes


def micrograd_step(model, optimizer, tokens, targets):
    """The same step on micrograd (its own recursive backward, the plain Adam)."""
    t0 = perf()
    optimizer.zero_grad()
    t1 = perf()
    logits = model(tokens)
    t2 = perf()
    loss = micrograd_gpt.cross_entropy(logits, targets)
    t3 = perf()
    micrograd_gpt.backward(loss)
    t4 = perf()
    optimizer.step()
    t5 = perf()
    return ({"forward": t2 - t1, "loss": t3 - t2, "backward": t4 - t3, "update": (t1 - t0) + (t5 - t4)},
            loss.data, loss)


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------
def rss_mb() -> Optional[float]:
    """The process's resident-memory high-water mark so far, in MB (None if unknown)."""
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _load_average() -> Optional[List[float]]:
    """The 1, 5 and 15 minute load averages (None where unavailable): timings on a busy
    machine are slower and noisier, so the report shows how busy it was."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def measure(runs: Dict[str, Tuple[Callable[[], tuple], Callable]], repeats: int,
            warmup: int) -> Dict[str, Dict[str, object]]:
    """Time several rows: `runs` maps a row's name to (run, count_nodes).

    The rows take turns (a, b, c, a, b, c, ...), so a change in the machine's load
    while the benchmark runs touches all of them alike and their ratios stay steadier
    than if each row were timed in one block. Each row gets `repeats` timed runs with
    the collector in its default state, then `repeats` with it off during the run; its
    graph's nodes are counted once (after the clock has stopped); and the allocation
    peak of one more run is measured with tracemalloc.
    """
    first_loss: Dict[str, float] = {}
    for _ in range(warmup):
        for row, (run, _) in runs.items():
            first_loss.setdefault(row, run()[1])

    totals = {row: [] for row in runs}
    phases: Dict[str, Dict[str, List[float]]] = {row: {} for row in runs}
    nodes: Dict[str, Optional[int]] = {row: None for row in runs}
    for _ in range(repeats):  # the collector in its default state
        for row, (run, count_nodes) in runs.items():
            times, loss, root = run()
            first_loss.setdefault(row, loss)
            if nodes[row] is None and root is not None:
                nodes[row] = count_nodes(root)
            del root  # drop the graph before the next run
            totals[row].append(sum(times.values()))
            for phase, t in times.items():
                phases[row].setdefault(phase, []).append(t)

    gc_off = {row: [] for row in runs}
    was_enabled = gc.isenabled()
    for _ in range(repeats):  # the same with the cycle collector off during each run
        for row, (run, _) in runs.items():
            gc.collect()
            gc.disable()
            try:
                times, _, root = run()
                del root
            finally:
                if was_enabled:
                    gc.enable()
            gc_off[row].append(sum(times.values()))
    gc.collect()

    results = {}
    for row, (run, _) in runs.items():
        results[row] = {
            "median_ms": 1e3 * statistics.median(totals[row]),
            "min_ms": 1e3 * min(totals[row]),
            "gc_off_median_ms": 1e3 * statistics.median(gc_off[row]),
            "phases_median_ms": {k: 1e3 * statistics.median(v) for k, v in phases[row].items()},
            "runs": repeats,
            "graph_nodes": nodes[row],
            "tracemalloc_peak_mb": _megabytes(allocation_peak(run)),
            "first_loss": first_loss[row],
        }
    return results


def _megabytes(n: Optional[int]) -> Optional[float]:
    return None if n is None else n / (1024 * 1024)


def allocation_peak(run: Callable[[], tuple]) -> Optional[int]:
    """Peak bytes allocated by Python during one run of `run`, from tracemalloc (None
    where there is no tracemalloc, as on PyPy).

    tracemalloc slows every allocation, so it runs on its own, never while timing.
    The collector is off for this run only to make it quicker: a step's graph stays
    alive until the step ends, so collecting during the step would not lower the peak.
    """
    if tracemalloc is None:
        return None
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        _, _, root = run()
        del root
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()
    gc.collect()
    return peak


def measure_generate(runs: Dict[str, Callable[[], List[int]]], n_new: int, repeats: int,
                     warmup: int) -> Dict[str, Dict[str, object]]:
    """Milliseconds per sampled token for each of `runs` (row -> a function that samples
    `n_new` tokens), the rows taking turns as in `measure`."""
    ids: Dict[str, List[int]] = {}
    for _ in range(warmup):
        for row, run in runs.items():
            ids[row] = run()
    per_token = {row: [] for row in runs}
    for _ in range(repeats):
        for row, run in runs.items():
            t0 = perf()
            ids[row] = run()
            per_token[row].append((perf() - t0) / n_new)
    return {row: {"median_ms_per_token": 1e3 * statistics.median(times),
                  "min_ms_per_token": 1e3 * min(times), "runs": repeats, "ids": ids[row]}
            for row, times in per_token.items()}


def profile_minigpt(state, tokens, targets, steps: int, top: int) -> str:
    """cProfile of `steps` minigpt training steps, the `top` functions by own time."""
    model = fresh_model(state)
    optimizer = Adam(model.parameters(), lr=LEARNING_RATE)
    minigpt_step(model, optimizer, tokens, targets)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        minigpt_step(model, optimizer, tokens, targets)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------
def run_benchmark(args) -> Dict[str, object]:
    names, source = load_names(args.names)
    name = pick_name(names, args.name)
    tokens, targets = encode_name(name)

    random.seed(SEED)
    state = MiniGPT(VOCAB, EMBED_DIM, NUM_HEADS, NUM_LAYERS, CONTEXT).state_dict()
    warmup = 0 if args.quick else 1
    results: Dict[str, object] = {
        "config": {"model": f"MiniGPT({VOCAB}, {EMBED_DIM}, {NUM_HEADS}, {NUM_LAYERS}, {CONTEXT})",
                   "name": name, "T": len(tokens), "names_source": source, "seed": SEED,
                   "repeats": args.repeats, "micrograd_repeats": args.micrograd_repeats, "warmup": warmup,
                   "optimizer": ADAM_SOURCE, "python": platform.python_version(),
                   "gc_thresholds": list(gc.get_threshold()) if hasattr(gc, "get_threshold") else None,
                   "load_average": _load_average()},
        "rows": {},
    }
    rows = results["rows"]
    rss = results["rss_high_water_mb"] = {"start": rss_mb()}

    # floor (forward + loss on floats), minigpt, primitive and compiled (a training step
    # each, each on its own fresh model), timed taking turns
    floor = float_gpt.FloatGPT(state, NUM_HEADS)
    model, prim_model, comp_model = fresh_model(state), fresh_model(state), fresh_model(state)
    optimizer = Adam(model.parameters(), lr=LEARNING_RATE)
    prim_optimizer = Adam(prim_model.parameters(), lr=LEARNING_RATE)
    comp_optimizer = Adam(comp_model.parameters(), lr=LEARNING_RATE)
    # the compiled row's program, made once before any timing (its cost is reported apart)
    t0 = perf()
    program = compile_step(comp_model, len(tokens))
    compile_wall = perf() - t0
    gc.collect()  # the traced graph is garbage now: do not let it land in a timed run
    compiled = results["compiled"] = {
        "compile_seconds": program.compile_seconds, "compile_wall_seconds": compile_wall,
        "graph_nodes": program.n_nodes, "source_lines": program.source.count("\n") + 1}
    rss["after compiling"] = rss_mb()
    rows.update(measure({
        "floor": (lambda: floor_forward(floor, tokens, targets), None),
        # the minigpt steps return their graph's node count in place of the graph
        "minigpt": (lambda: minigpt_step(model, optimizer, tokens, targets), lambda n: n),
        "primitive": (lambda: primitive_step(prim_model, prim_optimizer, tokens, targets), lambda n: n),
        "compiled": (lambda: compiled_step(program, comp_optimizer, tokens, targets), lambda n: n),
    }, args.repeats, warmup))
    # the compile time shared out over 100 steps, as in a short training run
    compiled["amortised_steps"] = AMORTISE_STEPS
    compiled["median_ms_amortised"] = (rows["compiled"]["median_ms"]
                                       + 1e3 * compile_wall / AMORTISE_STEPS)
    del model, prim_model, comp_model, optimizer, prim_optimizer, comp_optimizer, program
    rss["after floor, minigpt, primitive, compiled"] = rss_mb()

    # micrograd: seconds per step, so timed on its own with fewer repeats
    if args.no_micrograd:
        rows["micrograd"] = {"unavailable": "skipped (--no-micrograd)"}
    elif micrograd_gpt.AVAILABLE:
        mg_model = micrograd_gpt.MicrogradGPT(state, NUM_HEADS)
        mg_opt = micrograd_gpt.Adam(mg_model.parameters(), lr=LEARNING_RATE)
        rows.update(measure({"micrograd": (lambda: micrograd_step(mg_model, mg_opt, tokens, targets),
                                           micrograd_gpt.count_nodes)}, args.micrograd_repeats, warmup))
        del mg_model, mg_opt
        gc.collect()
        rss["after micrograd"] = rss_mb()
    else:
        rows["micrograd"] = {"unavailable": f"micrograd is not installed ({micrograd_gpt.INSTALL_HINT})"}

    # generate: the 16 tokens of the name as the prompt, so every forward sees a full context
    gen_model = fresh_model(state)
    gen_floor = float_gpt.FloatGPT(state, NUM_HEADS)
    n_new = args.gen_tokens
    rows.update(measure_generate({
        "generate_floor": lambda: gen_floor.generate(tokens, n_new, temperature=1.0, rng=random.Random(SEED)),
        "generate_minigpt": lambda: generate(gen_model, tokens, n_new, temperature=1.0, rng=random.Random(SEED)),
    }, n_new, args.repeats, warmup))
    results["generate_same_ids"] = rows["generate_floor"]["ids"] == rows["generate_minigpt"]["ids"]
    rss["after generate"] = rss_mb()

    results["ratios"], results["targets"] = ratios_and_targets(rows, results["compiled"])
    if args.profile:
        results["profile"] = profile_minigpt(state, tokens, targets, args.profile_steps, args.profile_top)
    return results


def ratios_and_targets(rows, compiled=None) -> Tuple[Dict[str, Dict[str, float]], List[Dict[str, object]]]:
    """The headline ratios (of medians) and, for each target, whether it is met.
    `compiled`: the compiled row's compile figures (results["compiled"]), if any.

    Also `ratios_of_minimums`: the same time ratios from the fastest runs, which are
    the least disturbed by other work on a busy machine (printed next to the medians)."""
    have_micrograd = "median_ms" in rows.get("micrograd", {})
    time_pairs = {
        "minigpt_step / floor_forward": (("minigpt", "median_ms"), ("floor", "median_ms")),
        "primitive_step / minigpt_step": (("primitive", "median_ms"), ("minigpt", "median_ms")),
        "micrograd_step / minigpt_step": (("micrograd", "median_ms"), ("minigpt", "median_ms")),
        "micrograd_step / minigpt_step (gc off)": (("micrograd", "gc_off_median_ms"),
                                                   ("minigpt", "gc_off_median_ms")),
        "primitive_step / minigpt_step (gc off)": (("primitive", "gc_off_median_ms"),
                                                   ("minigpt", "gc_off_median_ms")),
        "compiled_step / floor_forward": (("compiled", "median_ms"), ("floor", "median_ms")),
        "compiled_step / minigpt_step": (("compiled", "median_ms"), ("minigpt", "median_ms")),
        "generate / floor_generate (per token)": (("generate_minigpt", "median_ms_per_token"),
                                                  ("generate_floor", "median_ms_per_token")),
    }
    ratios: Dict[str, float] = {}
    ratios_of_minimums: Dict[str, float] = {}
    for key, ((top, top_field), (bottom, bottom_field)) in time_pairs.items():
        if "micrograd" in (top, bottom) and not have_micrograd:
            continue
        ratios[key] = rows[top][top_field] / rows[bottom][bottom_field]
        if top_field in ("median_ms", "median_ms_per_token"):
            min_field = top_field.replace("median", "min")
            ratios_of_minimums[key] = rows[top][min_field] / rows[bottom][min_field]
    ratios["primitive_nodes / minigpt_nodes"] = rows["primitive"]["graph_nodes"] / rows["minigpt"]["graph_nodes"]
    if compiled is not None:  # no minimum: the compile time is one number
        ratios[f"compiled_step + compile/{compiled['amortised_steps']} / floor_forward"] = (
            compiled["median_ms_amortised"] / rows["floor"]["median_ms"])
    if have_micrograd:
        ratios["micrograd_nodes / minigpt_nodes"] = rows["micrograd"]["graph_nodes"] / rows["minigpt"]["graph_nodes"]

    targets = []

    def target(text, key, ok):
        value = ratios.get(key)  # judged on the medians
        targets.append({"target": text, "ratio": key, "value": value,
                        "met": None if value is None else bool(ok(value))})

    target("minigpt step <= 8x floor forward", "minigpt_step / floor_forward", lambda r: r <= 8)
    target("  stretch: <= 6x floor forward", "minigpt_step / floor_forward", lambda r: r <= 6)
    target(">= 25x faster than micrograd", "micrograd_step / minigpt_step", lambda r: r >= 25)
    target(">= 5x faster than primitive", "primitive_step / minigpt_step", lambda r: r >= 5)
    target("generate <= 2x floor forward per token", "generate / floor_generate (per token)", lambda r: r <= 2)
    target("graph >= 5x smaller than primitive", "primitive_nodes / minigpt_nodes", lambda r: r >= 5)
    target("compiled step <= 2.5x floor forward", "compiled_step / floor_forward", lambda r: r <= 2.5)
    return {"of_medians": ratios, "of_minimums": ratios_of_minimums}, targets


# --------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------
ROW_TITLES = {
    "floor": ("floor", "float forward + loss"),
    "minigpt": ("minigpt", "train step"),
    "primitive": ("primitive", "train step, primitive_mode"),
    "compiled": ("compiled", "train step, compile_step"),
    "micrograd": ("micrograd", "train step on micrograd"),
    "generate_floor": ("gen floor", "ms per token, float forward"),
    "generate_minigpt": ("gen minigpt", "ms per token, generate()"),
}


def _num(x, fmt="{:,.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def format_report(results) -> str:
    c, rows = results["config"], results["rows"]
    out = []
    out.append(f"minigpt step benchmark: {c['model']}, Python {c['python']}, optimizer {c['optimizer']}")
    out.append(f"one name {c['name']!r} -> T = {c['T']} tokens (from {c['names_source']}); seed {c['seed']}; "
               f"median of {c['repeats']} runs (micrograd {c['micrograd_repeats']}) after {c['warmup']} warm-up")
    load = c.get("load_average")
    if load is not None:
        out.append(f"machine: {os.cpu_count()} CPUs, load average at the start {load[0]:.2f} / {load[1]:.2f} / "
                   f"{load[2]:.2f} (1 / 5 / 15 min; above ~1 other work competes and timings get noisier)")
    out.append("")
    header = (f"{'row':<12}{'what is timed':<29}{'median ms':>11}{'min ms':>10}{'gc off ms':>11}"
              f"{'x floor':>9}{'graph nodes':>13}{'peak MB':>9}{'first loss':>20}")
    out.append(header)
    out.append("-" * len(header))
    floor_ms = rows["floor"]["median_ms"]
    for key in ("floor", "minigpt", "primitive", "compiled", "micrograd"):
        r = rows[key]
        short, what = ROW_TITLES[key]
        if "unavailable" in r:
            out.append(f"{short:<12}{what:<29}  not run: {r['unavailable']}")
            continue
        out.append(f"{short:<12}{what:<29}{_num(r['median_ms']):>11}{_num(r['min_ms']):>10}"
                   f"{_num(r['gc_off_median_ms']):>11}{_num(r['median_ms'] / floor_ms, '{:.1f}x'):>9}"
                   f"{_num(r['graph_nodes'], '{:,}'):>13}{_num(r['tracemalloc_peak_mb']):>9}"
                   f"{_num(r['first_loss'], '{:.15f}'):>20}")
    gen_floor_ms = rows["generate_floor"]["median_ms_per_token"]
    for key in ("generate_floor", "generate_minigpt"):
        r = rows[key]
        short, what = ROW_TITLES[key]
        out.append(f"{short:<12}{what:<29}{_num(r['median_ms_per_token'], '{:,.2f}'):>11}"
                   f"{_num(r['min_ms_per_token'], '{:,.2f}'):>10}{'':>11}"
                   f"{_num(r['median_ms_per_token'] / gen_floor_ms, '{:.1f}x'):>9}")
    out.append("-" * len(header))

    out.append("")
    out.append("phases (median ms)     forward      loss  backward    update   (update = zero_grad + freeing the graph + optimizer step)")
    for key in ("floor", "minigpt", "primitive", "micrograd"):
        r = rows[key]
        if "unavailable" in r:
            continue
        p = r["phases_median_ms"]
        out.append(f"  {ROW_TITLES[key][0]:<18}" + "".join(f"{_num(p.get(k), '{:,.1f}'):>10}"
                                                         for k in ("forward", "loss", "backward", "update")))
    p = rows["compiled"]["phases_median_ms"]
    out.append(f"  {'compiled':<18}{_num(p['program'], '{:,.1f}'):>30}{_num(p['update'], '{:,.1f}'):>10}"
               "   (one program: forward, loss and backward)")
    comp = results["compiled"]
    out.append("")
    out.append(f"compiled: {comp['compile_wall_seconds']:.2f} s to compile (compile_seconds "
               f"{comp['compile_seconds']:.2f} s), {comp['graph_nodes']:,} nodes traced, "
               f"{comp['source_lines']:,} source lines; step + compile/{comp['amortised_steps']} = "
               f"{comp['median_ms_amortised']:,.1f} ms")

    out.append("")
    out.append(f"  {'ratios':<44}{'medians':>9}{'minimums':>10}")
    minimums = results["ratios"]["of_minimums"]
    for key, value in results["ratios"]["of_medians"].items():
        low = minimums.get(key)
        out.append(f"  {key:<44}{value:>8.1f}x" + (f"{low:>9.1f}x" if low is not None else ""))
    out.append("")
    out.append("targets (judged on the medians)")
    for t in results["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        value = "-" if t["value"] is None else f"{t['value']:.1f}x"
        out.append(f"  {t['target']:<42}{value:>8}   {verdict}")

    out.append("")
    same = "yes" if results["generate_same_ids"] else "NO (the two samplers disagree!)"
    out.append(f"generate: {len(rows['generate_floor']['ids']) - c['T']} new tokens after the {c['T']}-token "
               f"prompt, temperature 1, same seed; minigpt and the floor drew the same ids: {same}")
    rss = [f"{stage} {mb:.0f}" for stage, mb in results["rss_high_water_mb"].items() if mb is not None]
    if rss:
        out.append("resident high-water mark (ru_maxrss, MB): " + ", ".join(rss))
    out.append("notes: 'gc off' = the same step with the cycle collector disabled during it (collected,")
    out.append("  untimed, afterwards); 'peak MB' = tracemalloc peak of Python allocations in one extra,")
    out.append("  untimed step; ru_maxrss only grows, so each value is the largest footprint so far;")
    out.append("  graph nodes include parameters and constants; the first losses must all agree;")
    out.append("  'x floor' of the generate rows is relative to the floor's generate (ms per token).")
    if "profile" in results:
        out.append("")
        out.append("cProfile of the minigpt step, by own time (tottime):")
        out.append(results["profile"].rstrip())
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Time one Mini-GPT training step against a plain-float floor, "
                                            "primitive mode and micrograd.")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per row (default 5)")
    p.add_argument("--micrograd-repeats", type=int, default=None,
                   help="timed runs for micrograd, which is slow (default: min(repeats, 3))")
    p.add_argument("--names", default=DEFAULT_NAMES, help=f"names file, one per line (default {DEFAULT_NAMES})")
    p.add_argument("--name", default=None, help="the name to train on (default: the first that fills the context)")
    p.add_argument("--gen-tokens", type=int, default=16, help="tokens to sample per generate run (default 16)")
    p.add_argument("--quick", action="store_true", help="one timed run per row and no warm-up (for tests)")
    p.add_argument("--no-micrograd", action="store_true", help="skip the (slow) micrograd row")
    p.add_argument("--json", action="store_true", help="also print the results as one line of JSON at the end")
    p.add_argument("--profile", action="store_true", help="also cProfile the minigpt step and print the top functions")
    p.add_argument("--profile-steps", type=int, default=5, help="steps to profile (default 5)")
    p.add_argument("--profile-top", type=int, default=15, help="functions to list (default 15)")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = 1
    if args.micrograd_repeats is None:
        args.micrograd_repeats = min(args.repeats, 3)
    if args.repeats < 1 or args.micrograd_repeats < 1 or args.gen_tokens < 1:
        p.error("--repeats, --micrograd-repeats and --gen-tokens must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_benchmark(args)
    print(format_report(results))
    if args.json:
        for row in results["rows"].values():
            row.pop("ids", None)  # the sampled ids are only for the same-ids check
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
