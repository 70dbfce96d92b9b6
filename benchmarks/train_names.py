"""The names run: MiniGPT(27, 16, 4, 1, 16) trained for 1,000 steps on the shipped names.

    python benchmarks/train_names.py [--names PATH] [--steps 1000] [--batch-size 6]
    python benchmarks/train_names.py --compile       # compiled steps (minigpt.compile)
    python benchmarks/train_names.py --no-compile    # the graph, built and backpropagated each step
    python benchmarks/train_names.py --floor         # also: the plain-float forward of the same names

Adam (lr 1e-2, betas 0.85/0.99) with linear decay; each step averages the loss of 6
names (`TrainConfig.batch_size`), each cropped to the 16-token context. Prints the mean
training loss over the last 100 steps (target: at most 2.35, from about ln 27 = 3.30
at the start; one name per step, `--batch-size 1`, gives about 2.41), the wall time,
and samples. The names are the 32,033 shipped with minigpt (minigpt/data/names.txt).

`--compile` trains with `TrainConfig(compile=True)`: each sequence length's step is
compiled once (`minigpt.compile`) and run as a program on floats; the losses are the
graph's to rounding, so both paths print the same curve. Without either flag the run
takes TrainConfig's default. The time to compile is part of the wall time and is also
printed on its own. Target: 1,000 steps in at most 10 s on CPython with `--compile`.
(With a minigpt whose TrainConfig has no `compile`, the run takes the graph and
`--compile` is an error.)
"""
import argparse
import math
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # this checkout's minigpt, not another one installed elsewhere
    sys.path.insert(0, ROOT)

from minigpt.corpus import NAMES_FILE as DEFAULT_NAMES  # noqa: E402
from minigpt.gpt import MiniGPT, generate  # noqa: E402
from minigpt.tokenizers import CharTokenizer  # noqa: E402
from minigpt.train import TextData, TrainConfig, Trainer, read_documents, sparkline  # noqa: E402

BATCH_SIZE = 6  # names per step
TARGET = 2.35   # mean training loss of the last 100 steps
COMPILED_TARGET_SECONDS = 10.0  # 1,000 steps with --compile, on CPython
HAS_COMPILE_FIELD = "compile" in TrainConfig.__dataclass_fields__


def compile_path(trainer) -> str:
    """How the trainer runs its steps: 'compiled' (TrainConfig.compile) or 'graph'."""
    return "compiled" if getattr(trainer.config, "compile", False) else "graph"


def compile_seconds(trainer, result=None):
    """Seconds the run spent compiling (`TrainResult.compile_seconds`, else the Trainer's;
    None if neither says)."""
    for owner in (result, trainer):
        seconds = getattr(owner, "compile_seconds", None)
        if isinstance(seconds, (int, float)):
            return float(seconds)
    return None


def run(names_path: str, steps: int = 1000, seed: int = 0, progress: bool = True, batch_size: int = BATCH_SIZE,
        compile=None):
    """Train and return (trainer, result); used by the slow acceptance test too.
    compile: True/False for the compiled/graph step, None for TrainConfig's default."""
    names = read_documents(names_path)
    tokenizer = CharTokenizer.from_documents(names)
    random.seed(seed)
    model = MiniGPT(tokenizer.vocab_size, 16, 4, 1, 16)
    data = TextData.from_documents(names, tokenizer, val_fraction=0.1, seed=seed)
    options = {"compile": compile} if HAS_COMPILE_FIELD and compile is not None else {}
    config = TrainConfig(steps=steps, lr=1e-2, betas=(0.85, 0.99), schedule="linear", eval_every=steps // 4,
                         eval_docs=200, seed=seed, batch_size=batch_size, **options)
    if compile and not HAS_COMPILE_FIELD:
        raise SystemExit("train_names: --compile needs TrainConfig.compile, which this minigpt does not have")
    trainer = Trainer(model, tokenizer, data, config)
    _time_evaluations(trainer)
    return trainer, trainer.run(progress=progress)


def _time_evaluations(trainer) -> None:
    """Count the seconds spent in held-out evaluations (in `trainer.bench_eval_seconds`):
    they are part of the training time but are forward passes only, on either path."""
    evaluate = trainer.evaluate
    trainer.bench_eval_seconds = 0.0

    def timed():
        start = time.perf_counter()
        try:
            return evaluate()
        finally:
            trainer.bench_eval_seconds += time.perf_counter() - start
    trainer.evaluate = timed


def floor_seconds(trainer, steps: int, batch_size: int, seed: int) -> float:
    """Seconds of the plain-float forward pass and loss (benchmarks/float_gpt.py) over the
    examples the run trained on: no graph, no gradient, no update. A training step
    also runs the backward pass (about twice the forward's multiplications) and Adam,
    so a run in pure Python takes well over this."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:  # float_gpt lives beside this file
        sys.path.insert(0, here)
    import float_gpt
    model = float_gpt.FloatGPT.from_model(trainer.model)
    context = trainer.model.config.context_len
    examples = [trainer.data.example(i, seed, context) for i in range(steps * batch_size)]
    start = time.perf_counter()
    for inputs, targets in examples:
        logits = model.forward(inputs)
        sum(float_gpt.logsumexp(row) - row[y] for row, y in zip(logits, targets)) / len(logits)
    return time.perf_counter() - start


def dot_counts(config, lengths, batch_size: int) -> dict:
    """{n: how many dot products of length n} a training run on sequences of these
    lengths does, forward and backward, in its linear layers and attention (one
    `sum(map(mul, ...))` each, as a compiled step on CPython does them): forward, each
    output of a layer is a dot over its inputs and each attention score and output
    feature one over the heads' features and the positions; backward, x's gradient
    is one dot per input over the outputs, the scores' and values' gradients as many as
    forward, and each weight's gradient one dot over the positions of a batch."""
    d, h, ff, V, L = config.d_model, config.n_heads, config.d_ff, config.vocab_size, config.n_layers
    layers = [(d, 3 * d), (d, d), (d, ff), (ff, d)] * L + [(d, V)]   # (n_in, n_out) of each matrix
    counts: dict = {}

    def add(n, k):
        counts[n] = counts.get(n, 0) + k
    for T in lengths:
        for n_in, n_out in layers:
            add(n_in, n_out * T)        # forward: y = W x
            add(n_out, n_in * T)        # backward: x += W^T G
        for t in range(T):
            add(d // h, 2 * h * L * (t + 1))   # scores q.k, forward and backward
            add(t + 1, 2 * d * L)              # outputs a.v, forward and backward
    positions = sum(lengths) / max(1, len(lengths)) * batch_size
    for n_in, n_out in layers:  # W += sum over a batch's positions of G x: once per step
        add(max(1, round(positions)), n_in * n_out * -(-len(lengths) // batch_size))
    return counts


def dot_floor_seconds(counts: dict) -> float:
    """Seconds of `sum(map(mul, a, b))` for every dot product in `counts`, timed here:
    the multiply-adds alone, with nothing else a step does."""
    from operator import mul
    total = 0.0
    for n, k in counts.items():
        a, b = [0.5] * n, [0.25] * n
        reps = max(1, min(k, 20000))
        start = time.perf_counter()
        for _ in range(reps):
            sum(map(mul, a, b))
        total += (time.perf_counter() - start) / reps * k
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default=DEFAULT_NAMES, help="the names file (default: the names shipped with minigpt)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"names per step (default {BATCH_SIZE})")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="compiled steps (--compile) or the graph (--no-compile); default: TrainConfig's")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--floor", action="store_true",
                        help="also time the plain-float forward pass over the same examples (benchmarks/float_gpt.py)")
    args = parser.parse_args()
    if not os.path.exists(args.names):
        print(f"no names file at {args.names}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    trainer, result = run(args.names, args.steps, args.seed, progress=not args.no_progress,
                          batch_size=args.batch_size, compile=args.compile)
    wall = time.perf_counter() - t0
    first = sum(result.losses[:10]) / 10
    last = result.mean_loss(100)
    print(f"MiniGPT(27, 16, 4, 1, 16): {trainer.model.num_parameters():,} parameters, {result.step} steps "
          f"of {args.batch_size} name(s); steps: {compile_path(trainer)}")
    print(f"loss: first 10 steps {first:.3f} (ln 27 = {math.log(27):.3f}), last 100 steps {last:.4f} "
          f"(target <= {TARGET}: {'met' if last <= TARGET else 'MISSED'})")
    print("held-out loss: " + ", ".join(f"step {s}: {v:.3f}" for s, v in result.evals))
    print(f"loss curve: {sparkline(result.losses)}")
    print(f"wall time {wall:.1f} s (training {result.seconds:.1f} s: "
          f"{result.seconds / result.step * 1000:.1f} ms/step, "
          f"{result.tokens_per_second:.0f} tokens/s; of which {len(result.evals)} held-out evaluations "
          f"{trainer.bench_eval_seconds:.1f} s)")
    seconds = compile_seconds(trainer, result)
    if compile_path(trainer) != "graph":
        if seconds is None:
            print("compile time: not reported by the Trainer (it is inside the training time)")
        else:
            per_step = (result.seconds - seconds) / result.step * 1000
            print(f"compile time {seconds:.1f} s (inside the training time; {per_step:.1f} ms/step without it)")
        if result.step == 1000 and sys.implementation.name == "cpython":
            print(f"target: 1,000 steps <= {COMPILED_TARGET_SECONDS:.0f} s (wall time, compiling included): "
                  f"{'met' if wall <= COMPILED_TARGET_SECONDS else 'MISSED'}")
    if args.floor:
        floor = floor_seconds(trainer, result.step, args.batch_size, args.seed)
        print(f"floor: the plain-float forward pass and loss of the same {result.step * args.batch_size:,} names "
              f"take {floor:.1f} s (no backward pass, no Adam; the training took {result.seconds / floor:.1f}x that)")
        context = trainer.model.config.context_len
        lengths = [len(trainer.data.example(i, args.seed, context)[0]) for i in range(result.step * args.batch_size)]
        counts = dot_counts(trainer.model.config, lengths, args.batch_size)
        dots = dot_floor_seconds(counts)
        print(f"floor: the run's {sum(counts.values()):,} dot products alone, forward and backward, "
              f"{sum(n * k for n, k in counts.items()):,} multiply-adds, take {dots:.1f} s as sum(map(mul, ...))")
    tok = trainer.tokenizer
    rng = random.Random(0)
    samples = []
    for _ in range(10):
        ids = generate(trainer.model, [tok.bos_id], 15, temperature=0.8, rng=rng)[1:]
        samples.append(tok.decode(ids[:ids.index(tok.bos_id)] if tok.bos_id in ids else ids))
    print("samples (temperature 0.8): " + ", ".join(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
