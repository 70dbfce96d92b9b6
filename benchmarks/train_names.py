"""The names run: MiniGPT(27, 16, 4, 1, 16) trained for 1,000 steps on the shipped names.

    python benchmarks/train_names.py [--names PATH] [--steps 1000] [--batch-size 6]

Adam (lr 1e-2, betas 0.85/0.99) with linear decay; each step averages the loss of 6
names (`TrainConfig.batch_size`), each cropped to the 16-token context. Prints the mean
training loss over the last 100 steps (target: at most 2.35, from about ln 27 = 3.30
at the start; one name per step, `--batch-size 1`, gives about 2.41), the wall time,
and samples. The names are the 32,033 shipped with minigpt (minigpt/data/names.txt).
"""
import argparse
import math
import os
import random
import sys
import time

from minigpt.corpus import NAMES_FILE as DEFAULT_NAMES
from minigpt.gpt import MiniGPT, generate
from minigpt.tokenizers import CharTokenizer
from minigpt.train import TextData, TrainConfig, Trainer, read_documents, sparkline

BATCH_SIZE = 6  # names per step
TARGET = 2.35   # mean training loss of the last 100 steps


def run(names_path: str, steps: int = 1000, seed: int = 0, progress: bool = True, batch_size: int = BATCH_SIZE):
    """Train and return (trainer, result); used by the slow acceptance test too."""
    names = read_documents(names_path)
    tokenizer = CharTokenizer.from_documents(names)
    random.seed(seed)
    model = MiniGPT(tokenizer.vocab_size, 16, 4, 1, 16)
    data = TextData.from_documents(names, tokenizer, val_fraction=0.1, seed=seed)
    config = TrainConfig(steps=steps, lr=1e-2, betas=(0.85, 0.99), schedule="linear", eval_every=steps // 4,
                         eval_docs=200, seed=seed, batch_size=batch_size)
    trainer = Trainer(model, tokenizer, data, config)
    return trainer, trainer.run(progress=progress)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default=DEFAULT_NAMES, help="the names file (default: the names shipped with minigpt)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"names per step (default {BATCH_SIZE})")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(args.names):
        print(f"no names file at {args.names}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    trainer, result = run(args.names, args.steps, args.seed, progress=not args.no_progress,
                          batch_size=args.batch_size)
    wall = time.perf_counter() - t0
    first = sum(result.losses[:10]) / 10
    last = result.mean_loss(100)
    print(f"MiniGPT(27, 16, 4, 1, 16): {trainer.model.num_parameters():,} parameters, {result.step} steps "
          f"of {args.batch_size} name(s)")
    print(f"loss: first 10 steps {first:.3f} (ln 27 = {math.log(27):.3f}), last 100 steps {last:.4f} "
          f"(target <= {TARGET}: {'met' if last <= TARGET else 'MISSED'})")
    print("held-out loss: " + ", ".join(f"step {s}: {v:.3f}" for s, v in result.evals))
    print(f"loss curve: {sparkline(result.losses)}")
    print(f"wall time {wall:.1f} s ({result.seconds / result.step * 1000:.1f} ms/step, "
          f"{result.tokens_per_second:.0f} tokens/s)")
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
