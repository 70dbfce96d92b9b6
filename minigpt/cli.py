"""The `minigpt` command line (also `python -m minigpt`).

    minigpt demo                      train on the built-in corpus, predict, sample, draw
    minigpt train --data FILE         train on your own text; writes a JSON checkpoint
    minigpt sample --checkpoint F     sample from a trained model
    minigpt graph --what block        draw a computation graph (SVG, PNG or DOT)

Each sub-command is a function `cmd_<name>(args)` registered in `build_parser()`.
Errors a user can cause (bad files, bad options, unknown characters) end the
program with a one-line message and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from typing import List, Optional

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem with the user's input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus where to find help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------
def _top_predictions(model, tokenizer, prompt: str, k: int = 5):
    """The k most likely next tokens after `prompt`, as (token, probability)."""
    import math

    from .engine import no_grad
    ids = tokenizer.encode(prompt)
    with no_grad():
        logits = [v.data for v in model(ids[-model.config.context_len:])[-1]]
    m = max(logits)
    exps = [math.exp(z - m) for z in logits]
    total = sum(exps)
    best = sorted(range(len(logits)), key=lambda i: -logits[i])[:k]
    return [(tokenizer.decode([i], bos="<bos>"), exps[i] / total) for i in best]


def _print_predictions(title: str, predictions) -> None:
    shown = ", ".join(f"{tok!r} {p:.2f}" for tok, p in predictions)
    print(f"  {title}: {shown}")


def cmd_demo(args: argparse.Namespace) -> int:
    """Train a small Mini-GPT on the built-in verb-grammar corpus, then show what it learned."""
    from .corpus import CANONICAL_PREFIX, default_word_tokenizer, verb_grammar_corpus
    from .gpt import MiniGPT, MiniGPTConfig, generate
    from .train import TextData, TrainConfig, Trainer, sparkline

    tokenizer = default_word_tokenizer()
    documents = verb_grammar_corpus(args.documents, seed=args.seed)
    random.seed(args.seed)
    config = MiniGPTConfig(d_model=args.d_model, n_heads=args.heads, n_layers=args.layers,
                           d_ff=4 * args.d_model, vocab_size=tokenizer.vocab_size, context_len=16)
    model = MiniGPT(config)
    print(f"minigpt demo: a Mini-GPT of {model.num_parameters():,} scalar Values learns a tiny grammar")
    print(f"  corpus: {len(documents):,} generated sentences such as {documents[0]!r}")
    print(f"  vocabulary: {tokenizer.vocab_size} words; model: d_model {config.d_model}, {config.n_heads} heads, "
          f"{config.n_layers} layer(s), RoPE, tied head")
    print(f"\nNext-token predictions after {CANONICAL_PREFIX!r}")
    _print_predictions("before training", _top_predictions(model, tokenizer, CANONICAL_PREFIX))

    data = TextData.from_documents(documents, tokenizer, seed=args.seed)
    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)
    trainer = Trainer(model, tokenizer, data,
                      TrainConfig(steps=args.steps, lr=args.lr, eval_every=max(1, args.steps // 5), seed=args.seed),
                      checkpoint_path=os.path.join(out_dir, "demo-checkpoint.json"),
                      metrics_path=os.path.join(out_dir, "demo-metrics.jsonl"))
    if os.path.exists(trainer.metrics_path):
        os.remove(trainer.metrics_path)
    result = trainer.run(progress=_show_progress(args))
    print(f"\nTrained {result.step} steps in {result.seconds:.0f} s ({result.tokens_per_second:.0f} tokens/s); "
          f"loss {result.losses[0]:.2f} -> {result.mean_loss(50):.2f} (mean of the last 50 steps)")
    print(f"  loss: {sparkline(result.losses)}")
    if result.evals:
        print(f"  held-out loss: {result.evals[-1][1]:.3f}")
    _print_predictions("after training ", _top_predictions(model, tokenizer, CANONICAL_PREFIX))

    print("\nSamples (temperature 0.8):")
    rng = random.Random(args.seed)
    for _ in range(args.samples):
        ids = generate(model, [tokenizer.bos_id], 20, temperature=0.8, rng=rng)
        print("  " + _first_document(tokenizer, ids))
    print(f"\nCheckpoint: {result.checkpoint}  (try: minigpt sample --checkpoint {result.checkpoint} "
          f"--prompt 'I work , you work , he')")
    picture = _demo_picture(out_dir)
    if picture:
        print(f"Graph picture: {picture}")
    return 0


def _demo_picture(out_dir: str) -> Optional[str]:
    """Draw a small computation graph for the demo, if the drawing module is present."""
    try:
        from . import viz
    except ImportError:
        return None
    root = viz.example_graph("expr")
    path = os.path.join(out_dir, "demo-graph.svg")
    try:
        return viz.render(root, path)
    except RuntimeError:  # no Graphviz renderer: render() still wrote the .dot source
        dot_path = os.path.splitext(path)[0] + ".dot"
        print(f"Graph source: {dot_path} (to draw it: pip install 'minigpt[render]' or apt-get install "
              "graphviz, then minigpt graph --what expr)")
        return None


def _show_progress(args: argparse.Namespace) -> bool:
    """A progress bar on a terminal; none when asked, or when output goes to a log."""
    return not args.no_progress and sys.stderr.isatty()


def _first_document(tokenizer, ids: List[int]) -> str:
    """Text of the first document in ids (after a leading <bos>, up to the next one)."""
    body = ids[1:] if ids and ids[0] == tokenizer.bos_id else ids
    if tokenizer.bos_id in body:
        body = body[:body.index(tokenizer.bos_id)]
    return tokenizer.decode(body)


# --------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """Train on a text file (or the built-in corpus), save a checkpoint, resume on request."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .corpus import default_word_tokenizer, verb_grammar_corpus
    from .gpt import MiniGPT, MiniGPTConfig
    from .tokenizers import CharTokenizer, WordTokenizer
    from .train import TextData, TrainConfig, Trainer, read_documents, sparkline

    resumed = None
    if args.resume:
        try:
            resumed = load_checkpoint(args.resume)
        except CheckpointError as err:
            raise UserError(str(err)) from None
    saved = resumed.train if resumed else {}
    data_path = args.data or saved.get("data")
    stream = args.stream or bool(saved.get("stream", False))
    if not data_path:
        raise UserError("say what to train on: --data FILE (a text file) or --data builtin")

    if data_path == "builtin":
        documents = verb_grammar_corpus(args.documents, seed=args.seed)
    else:
        try:
            documents = read_documents(data_path, stream=stream)
        except FileNotFoundError:
            raise UserError(f"no such file: {data_path}") from None
        except UnicodeDecodeError:
            raise UserError(f"{data_path} is not UTF-8 text") from None
        except (IsADirectoryError, PermissionError) as err:
            raise UserError(f"cannot read {data_path}: {err.strerror}") from None
        except ValueError as err:
            raise UserError(str(err)) from None

    if resumed:
        model, tokenizer = resumed.model, resumed.tokenizer
        old = TrainConfig.from_dict(saved.get("config", {}))
        config = TrainConfig(**{**old.__dict__, "steps": args.steps or old.steps})
    else:
        if data_path == "builtin":
            tokenizer = default_word_tokenizer()
        elif args.tokenizer == "word":
            tokenizer = WordTokenizer.from_documents(documents)
        else:
            tokenizer = CharTokenizer.from_documents(documents)
        try:
            model_config = MiniGPTConfig(d_model=args.d_model, n_heads=args.heads, n_layers=args.layers,
                                         d_ff=args.d_ff or 4 * args.d_model, vocab_size=tokenizer.vocab_size,
                                         context_len=args.context, pos_encoding=args.pos,
                                         tie_weights=not args.untied)
            config = TrainConfig(steps=args.steps or 1000, lr=args.lr, betas=(args.beta1, args.beta2),
                                 schedule=args.schedule, warmup_steps=args.warmup, eval_every=args.eval_every,
                                 seed=args.seed, checkpoint_every=args.checkpoint_every)
        except ValueError as err:
            raise UserError(str(err)) from None
        random.seed(args.seed)  # the initial weights follow the seed
        model = MiniGPT(model_config)

    try:
        data = TextData.from_documents(documents, tokenizer, val_fraction=args.val_fraction,
                                       seed=config.seed, stream=stream)
    except ValueError as err:  # e.g. a character the resumed tokenizer never saw
        raise UserError(str(err)) from None
    if stream and model.config.context_len >= len(data.train[0]):
        raise UserError(f"--context {model.config.context_len} is longer than the training text "
                        f"({len(data.train[0])} tokens); use at most {len(data.train[0]) - 1}")
    os.makedirs(args.out, exist_ok=True)
    checkpoint_path = os.path.join(args.out, "checkpoint.json")
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    if resumed is None and os.path.exists(metrics_path):
        os.remove(metrics_path)  # a fresh run starts a fresh log; a resumed one appends
    trainer = Trainer(model, tokenizer, data, config, checkpoint_path=checkpoint_path, metrics_path=metrics_path,
                      start_step=resumed.step if resumed else 0,
                      optimizer_state=resumed.optimizer_state if resumed else None,
                      info={"data": data_path, "stream": stream})
    print(f"training {model.num_parameters():,} parameters on {len(documents):,} document(s) from {data_path} "
          f"(vocabulary {tokenizer.vocab_size}); steps {trainer.step} -> {config.steps}")
    if trainer.step >= config.steps:
        print(f"nothing to do: the checkpoint is already at step {trainer.step}; ask for more with --steps")
        return 0
    result = trainer.run(progress=_show_progress(args))
    if result.losses:
        last = min(100, len(result.losses))
        print(f"loss {sparkline(result.losses)}  last-{last} mean {result.mean_loss(last):.4f}")
    if result.evals:
        print(f"held-out loss {result.evals[-1][1]:.4f} at step {result.evals[-1][0]}")
    print(f"{result.step} steps, {result.seconds:.1f} s, {result.tokens_per_second:.0f} tokens/s")
    print(f"checkpoint: {result.checkpoint}\nmetrics:    {metrics_path}")
    if result.interrupted:
        print(f"interrupted at step {result.step}; continue with: minigpt train --resume {result.checkpoint}")
        return 130
    return 0


# --------------------------------------------------------------------------------------
# sample
# --------------------------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    """Load a checkpoint and print samples that continue a prompt."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .gpt import generate

    try:
        ckpt = load_checkpoint(args.checkpoint)
    except CheckpointError as err:
        raise UserError(str(err)) from None
    tokenizer, model = ckpt.tokenizer, ckpt.model
    try:
        prompt_ids = tokenizer.encode(args.prompt) if args.prompt else []
    except ValueError as err:
        raise UserError(f"the prompt cannot be encoded: {err}") from None
    if not prompt_ids or prompt_ids[0] != tokenizer.bos_id:
        prompt_ids = [tokenizer.bos_id] + prompt_ids  # documents start with <bos>
    try:
        rng = random.Random(args.seed)
        for _ in range(args.num):
            ids = generate(model, prompt_ids, args.max_tokens, temperature=args.temperature, top_k=args.top_k,
                           rng=rng)
            print(_first_document(tokenizer, ids))
    except ValueError as err:
        raise UserError(str(err)) from None
    return 0


# --------------------------------------------------------------------------------------
# graph
# --------------------------------------------------------------------------------------
def cmd_graph(args: argparse.Namespace) -> int:
    """Draw the computation graph of a small example (expression up to a whole model)."""
    from . import viz

    ex = viz.example(args.what)
    depth = None if args.full else (ex.depth if args.depth is None else args.depth)
    out = args.out or f"{args.what}.svg"
    try:
        path = viz.render(ex.root, out, depth=depth, rankdir=args.rankdir or ex.rankdir, params=ex.params)
    except viz.RendererNotFoundError as err:
        raise UserError(" ".join(str(err).split())) from None
    except ValueError as err:  # a bad suffix, or a view too big to lay out
        raise UserError(" ".join(str(err).split())) from None
    shown = "the full graph" if depth is None else f"modules collapsed below depth {depth}"
    print(f"wrote {path} ({args.what}: {shown})")
    return 0


# --------------------------------------------------------------------------------------
# the parser
# --------------------------------------------------------------------------------------
def _number(convert, is_ok, expected: str):
    """An argparse `type=` that converts the text and checks it, with a clear message."""
    def parse(text: str):
        try:
            x = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not is_ok(x):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return x
    return parse


_positive_int = _number(int, lambda n: n >= 1, "a positive integer")
_non_negative_int = _number(int, lambda n: n >= 0, "an integer >= 0")
_positive_float = _number(float, lambda x: 0 < x < float("inf"), "a positive number")
_temperature = _number(float, lambda x: 0 <= x < float("inf"), "a temperature >= 0 (0 = greedy)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minigpt", description="A scalar-Value autograd engine and a Mini-GPT built from it.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    parser.subcommands = sub.choices  # name -> sub-parser, to report errors under the right command

    demo = sub.add_parser("demo", help="train on the built-in corpus, predict, sample and draw (about two minutes)",
                          description="Train a small Mini-GPT on the built-in verb-grammar corpus, show its "
                                      "top-5 next-token predictions after '<bos> I work , you work , he' "
                                      "before and after training, sample a few sentences and draw a graph.")
    demo.add_argument("--steps", type=_positive_int, default=3000, help="training steps (default: 3000)")
    demo.add_argument("--lr", type=_positive_float, default=2e-2, help="Adam learning rate (default: 0.02)")
    demo.add_argument("--d-model", type=_positive_int, default=16, help="model width (default: 16)")
    demo.add_argument("--heads", type=_positive_int, default=2, help="attention heads (default: 2)")
    demo.add_argument("--layers", type=_positive_int, default=1, help="transformer blocks (default: 1)")
    demo.add_argument("--documents", type=_positive_int, default=5000,
                      help="sentences to generate for the corpus (default: 5000)")
    demo.add_argument("--samples", type=_non_negative_int, default=5, help="sentences to sample (default: 5)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--out", default="out", help="folder for the checkpoint, metrics and picture (default: out)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train on a text file; writes a JSON checkpoint",
                           description="Train a Mini-GPT on a UTF-8 text file: one document per line, or the "
                                       "whole file as one stream with --stream. Use '--data builtin' for the "
                                       "built-in verb-grammar corpus. Ctrl-C stops cleanly and saves.")
    train.add_argument("--data", metavar="FILE", help="the text file, or 'builtin'")
    train.add_argument("--stream", action="store_true", help="treat the file as one stream, not one document a line")
    train.add_argument("--tokenizer", choices=("char", "word"), default="char",
                       help="characters, or whitespace-separated words (default: char)")
    train.add_argument("--documents", type=_positive_int, default=5000,
                       help="with --data builtin: sentences to generate (default: 5000)")
    model = train.add_argument_group("model (ignored with --resume)")
    model.add_argument("--d-model", type=_positive_int, default=16, help="width (default: 16)")
    model.add_argument("--heads", type=_positive_int, default=4, help="attention heads (default: 4)")
    model.add_argument("--layers", type=_positive_int, default=1, help="blocks (default: 1)")
    model.add_argument("--d-ff", type=_positive_int, default=None, help="feed-forward width (default: 4 x d-model)")
    model.add_argument("--context", type=_positive_int, default=16, help="context length (default: 16)")
    model.add_argument("--pos", choices=("rope", "learned", "none"), default="rope",
                       help="position encoding (default: rope)")
    model.add_argument("--untied", action="store_true", help="give the output head its own weights")
    opt = train.add_argument_group("optimisation")
    opt.add_argument("--steps", type=_positive_int, default=None,
                     help="total steps of the run (default: 1000; with --resume: the checkpoint's)")
    opt.add_argument("--lr", type=_positive_float, default=1e-2, help="Adam learning rate (default: 0.01)")
    opt.add_argument("--beta1", type=float, default=0.85, help="Adam beta1 (default: 0.85)")
    opt.add_argument("--beta2", type=float, default=0.99, help="Adam beta2 (default: 0.99)")
    opt.add_argument("--schedule", choices=("linear", "cosine", "constant"), default="linear",
                     help="learning-rate schedule (default: linear decay to 0)")
    opt.add_argument("--warmup", type=_non_negative_int, default=0, help="warm-up steps (default: 0)")
    opt.add_argument("--seed", type=int, default=0, help="seed for weights and data order (default: 0)")
    run = train.add_argument_group("run")
    run.add_argument("--val-fraction", type=float, default=0.1, help="held-out share of documents (default: 0.1)")
    run.add_argument("--eval-every", type=_non_negative_int, default=100, help="evaluate every N steps (default: 100)")
    run.add_argument("--checkpoint-every", type=_non_negative_int, default=0,
                     help="also save every N steps (default: 0, at the end and on Ctrl-C)")
    run.add_argument("--out", default="runs/latest", help="output folder (default: runs/latest)")
    run.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    sample = sub.add_parser("sample", help="sample from a trained checkpoint",
                            description="Continue a prompt with a trained model. Each sample ends at the end of "
                                        "a document or after --max-tokens tokens.")
    sample.add_argument("--checkpoint", required=True, metavar="FILE", help="a checkpoint written by minigpt train")
    sample.add_argument("--prompt", default="", help="text to continue (default: empty, a new document)")
    sample.add_argument("--num", type=_positive_int, default=5, help="how many samples (default: 5)")
    sample.add_argument("--temperature", type=_temperature, default=1.0, help="0 = greedy (default: 1.0)")
    sample.add_argument("--top-k", type=_positive_int, default=None, help="sample only among the k most likely (default: all)")
    sample.add_argument("--max-tokens", type=_positive_int, default=50, help="new tokens at most (default: 50)")
    sample.add_argument("--seed", type=int, default=None, help="random seed (default: different each run)")
    sample.set_defaults(func=cmd_sample)

    graph = sub.add_parser("graph", help="draw a computation graph (expression, neuron, attention, block, model)",
                           description="Draw the computation graph of a small example as SVG, PNG or DOT. "
                                       "Blocks and models are drawn with modules collapsed into boxes "
                                       "(--depth); --full draws every node (refused when too big to lay out). "
                                       "Needs Graphviz's dot or pip install 'minigpt[render]'.")
    graph.add_argument("--what", choices=("expr", "neuron", "attention", "block", "model"), default="expr",
                       help="which graph (default: expr)")
    graph.add_argument("--depth", type=_non_negative_int, default=None,
                       help="collapse modules deeper than this (default: chosen per example)")
    graph.add_argument("--full", action="store_true", help="draw every node, no collapsing")
    graph.add_argument("--rankdir", choices=("LR", "TB"), default=None, help="layout direction (default: chosen per example)")
    graph.add_argument("--out", metavar="FILE", default=None,
                       help="output file, .svg, .png or .dot (default: WHAT.svg)")
    graph.set_defaults(func=cmd_graph)

    from .exercises.commands import register as register_exercises  # exercises, grade
    register_exercises(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # report unknown options under the command they were given to
        parser.subcommands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except UserError as err:
        print(f"minigpt {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `minigpt sample ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
