"""The `minigpt` command line (also `python -m minigpt`).

    minigpt demo                      train on the built-in corpus, predict, sample, draw
    minigpt train --data FILE         train on your own text; writes a JSON checkpoint
    minigpt sample --checkpoint F     sample from a trained model
    minigpt graph --what block        draw a computation graph (SVG, PNG or DOT)
    minigpt explore --checkpoint F    one offline page showing what a trained model does with a prompt

Each sub-command is a function `cmd_<name>(args)` registered in `build_parser()`.
Errors a user can cause (bad files, bad options, unknown characters) end the
program with a one-line message and exit status 2, never a traceback. The rules of
a training run (its settings, resuming it) are minigpt.run's: `train` turns options
into its settings and its errors into one line, and prints.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from dataclasses import MISSING
from typing import Dict, List, Optional

from .example_graphs import EXAMPLES
from .gpt import POS_ENCODINGS
from .run import DEFAULTS, Spelling
from .tokenizers import TOKENIZERS
from .train import SCHEDULES

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


def _print_predictions(title: str, predictions, flush: bool = False) -> None:
    shown = ", ".join(f"{tok!r} {p:.2f}" for tok, p in predictions)
    print(f"  {title}: {shown}", flush=flush)


def cmd_demo(args: argparse.Namespace) -> int:
    """Train a small Mini-GPT on the built-in verb-grammar corpus, then show what it learned.

    The demo keeps its checkpoint and metrics only when its run is complete: an
    interrupted demo says so, exits 130 (143 for SIGTERM) and leaves the files of the
    previous demo as they were."""
    from .corpus import CANONICAL_PREFIX
    from .explore import explore
    from .gpt import generate
    from .run import RunError, start_run
    from .train import StopSignals, sparkline

    settings = {"documents": args.documents, "seed": args.seed, "d_model": args.d_model, "n_heads": args.heads,
                "n_layers": args.layers, "steps": args.steps, "lr": args.lr, "eval_every": max(1, args.steps // 5),
                # a short warm-up steadies Adam's first steps: "works" comes in 2,000 steps, not 3,000
                "warmup_steps": args.steps // 20}
    try:  # the checkpoint is written only when the demo is complete (_keep_demo_files)
        run = start_run("builtin", out=args.out, checkpoint=None, metrics="demo-metrics.jsonl.partial",
                        spelling=_OptionSpelling({}), **settings)
    except RunError as err:
        raise UserError(str(err)) from None
    trainer, documents = run.trainer, run.documents
    model, tokenizer, config = trainer.model, trainer.tokenizer, trainer.model.config
    print(f"minigpt demo: a Mini-GPT of {model.num_parameters():,} scalar Values learns a tiny grammar")
    print(f"  corpus: {len(documents):,} generated sentences such as {documents[0]!r}")
    print(f"  vocabulary: {tokenizer.vocab_size} words; model: d_model {config.d_model}, {config.n_heads} heads, "
          f"{config.n_layers} layer(s), RoPE, tied head")
    print(f"\nNext-token predictions after {CANONICAL_PREFIX!r}")
    _print_predictions("before training", _top_predictions(model, tokenizer, CANONICAL_PREFIX), flush=True)

    # also while saving: a second Ctrl-C waits for the files to be complete
    with StopSignals(then="keeping the previous demo's files"):
        result = run.train(progress=_show_progress(args))
        if result.interrupted or result.error:
            return _demo_stopped(result, trainer, args.out)
        checkpoint = _keep_demo_files(trainer, args.out)
    print(f"\nTrained {result.step} steps in {result.seconds:.0f} s ({result.tokens_per_second:.0f} tokens/s); "
          f"loss {result.losses[0]:.2f} -> {result.mean_loss(50):.2f} (mean of the last 50 steps)")
    print(f"  loss: {sparkline(result.losses)}")
    if trainer.config.compile:
        print(f"  {_compile_summary(result, trainer)}")
    if result.evals:
        print(f"  held-out loss: {result.evals[-1][1]:.3f}")
    _print_predictions("after training ", _top_predictions(model, tokenizer, CANONICAL_PREFIX))

    print("\nSamples (temperature 0.8):")
    rng = random.Random(args.seed)
    for _ in range(args.samples):
        ids = generate(model, [tokenizer.bos_id], 20, temperature=0.8, rng=rng, stop_id=tokenizer.bos_id)
        print("  " + _first_document(tokenizer, ids))
    print(f"\nCheckpoint: {checkpoint}  (try: minigpt sample --checkpoint {checkpoint} "
          f"--prompt 'I work , you work , he')")
    picture = _demo_picture(args.out, model, tokenizer)
    if picture:
        print(f"Graph picture: {picture}")
    page = explore(model, tokenizer, CANONICAL_PREFIX, os.path.join(args.out, "explore.html"),
                   metrics=os.path.join(args.out, "demo-metrics.jsonl"), step=result.step)
    print(f"Inside the model: {os.path.join(args.out, 'explore.html')} ({len(page.html) // 1024} KB; open it in a browser)")
    return 0


def _demo_stopped(result, trainer, out_dir: str) -> int:
    """An interrupted or failed demo: drop its partial log, keep the previous demo's files."""
    from .checkpoint import saved_step
    if os.path.exists(trainer.metrics_path):
        os.remove(trainer.metrics_path)
    previous = os.path.join(out_dir, "demo-checkpoint.json")
    step = saved_step(previous)
    kept = f"kept the previous {previous} (step {step})" if step is not None else "nothing was saved"
    if result.error:
        raise UserError(f"{result.error}; {kept}")
    print(f"demo stopped by {result.signal or 'Ctrl-C'} at step {result.step} of {trainer.config.steps}; "
          f"{kept}", file=sys.stderr)
    return _signal_status(result)


def _keep_demo_files(trainer, out_dir: str) -> str:
    """A complete demo replaces the previous one's checkpoint and metrics; returns the
    checkpoint's path. A failure is a one-line error."""
    from .checkpoint import SaveError
    trainer.checkpoint_path = os.path.join(out_dir, "demo-checkpoint.json")
    metrics = os.path.join(out_dir, "demo-metrics.jsonl")
    try:
        checkpoint = trainer.save()
        os.replace(trainer.metrics_path, metrics)
    except SaveError as err:
        raise UserError(str(err)) from None
    except OSError as err:
        raise UserError(f"cannot write {metrics}: {err.strerror or err}") from None
    return checkpoint


def _demo_picture(out_dir: str, model, tokenizer) -> Optional[str]:
    """Draw the model just trained: its loss on the demo's prompt, with the modules as
    boxes (depth 1); returns what to print, or None without a Graphviz renderer."""
    from . import viz
    from .corpus import CANONICAL_PREFIX
    from .gpt import cross_entropy_loss
    ids = tokenizer.encode(CANONICAL_PREFIX)[:model.config.context_len + 1]
    with viz.scopes():  # so that depth= can draw each module as a box
        loss = cross_entropy_loss(model(ids[:-1]), ids[1:])
    loss.label = "loss"
    loss.backward()
    path = os.path.join(out_dir, "demo-graph.svg")
    try:
        viz.render(loss, path, depth=1, rankdir="TB", params=model)
    except RuntimeError:  # no Graphviz renderer: render() still wrote the .dot source
        dot_path = os.path.splitext(path)[0] + ".dot"
        print(f"Graph source: {dot_path} (to draw it: pip install graphviz-pure or apt-get install "
              "graphviz, then minigpt graph --what model)")
        return None
    finally:
        model.zero_grad()  # the picture's backward leaves no grads behind
    return (f"{path}  (the trained model's loss on {CANONICAL_PREFIX!r}, each module a box; "
            f"minigpt graph --what expr draws a small expression node by node)")


def _show_progress(args: argparse.Namespace):
    """A progress bar on a terminal, plain lines now and then when output goes to a
    log (a bar would be one endless line there), nothing with --no-progress."""
    if args.no_progress:
        return False
    return True if sys.stderr.isatty() else "lines"


def _first_document(tokenizer, ids: List[int]) -> str:
    """Text of the first document in ids (after a leading <bos>, up to the next one)."""
    body = ids[1:] if ids and ids[0] == tokenizer.bos_id else ids
    if tokenizer.bos_id in body:
        body = body[:body.index(tokenizer.bos_id)]
    return tokenizer.decode(body)


# --------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------
# The train options default to None, so that a resumed run can tell an option the user
# gave from one left out; minigpt.run fills in its DEFAULTS. Each option that sets one of
# the run's settings has the setting's name as its `dest`.
class _OptionSpelling(Spelling):
    """minigpt.run's messages in this command's words: a setting as its option
    ('--lr 0.5', '--stream', 'no --untied'), a resume as '--resume PATH'."""

    def __init__(self, options: Dict[str, argparse.Action]):  # setting name -> its option
        self.options = options

    def setting(self, name: str, value=MISSING) -> str:
        action = self.options.get(name)
        flag = action.option_strings[0] if action else "--" + name.replace("_", "-")
        if value is MISSING:
            return flag
        if name == "betas":
            return f"--beta1 {value[0]} --beta2 {value[1]}"
        if isinstance(value, bool) and isinstance(action, argparse.BooleanOptionalAction):
            return flag if value else action.option_strings[1]  # --compile, --no-compile
        if isinstance(value, bool):  # a flag: --stream sets True, --untied sets tie_weights False
            on = action.const if action is not None and action.const is not None else True
            return flag if value == on else f"no {flag}"
        return f"{flag} {value}"

    def resume(self, path: str) -> str:
        return f"--resume {path}"


def cmd_train(args: argparse.Namespace) -> int:
    """Train on a text file (or the built-in corpus), save a checkpoint, resume on request."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .run import RunError, resume_run, start_run
    from .train import StopSignals

    resumed = None
    try:
        if args.resume:
            resumed = load_checkpoint(args.resume)
            run = resume_run(resumed, data=args.data, out=args.out, spelling=args.spelling,
                             **_settings(args, resumed.train_config))
        elif not args.data:
            raise UserError("say what to train on: --data FILE (a text file), --data names or --data builtin")
        else:
            run = start_run(args.data, out=args.out or "runs/latest", spelling=args.spelling, **_settings(args))
    except (CheckpointError, RunError) as err:
        raise UserError(str(err)) from None
    for note in run.notes:
        print(note)
    trainer = run.trainer
    print(f"training {trainer.model.num_parameters():,} parameters on {len(run.documents):,} document(s) from "
          f"{run.settings['data']} (vocabulary {trainer.tokenizer.vocab_size}); steps {trainer.step} -> "
          f"{trainer.config.steps}", flush=True)  # flushed: output to a log shows it now, not at the end
    if trainer.step >= trainer.config.steps:
        print(f"nothing to do: the checkpoint is already at step {trainer.step}; ask for more with --steps")
        return 0
    with StopSignals():  # also while reporting: a second Ctrl-C must not cut the last lines short
        before = trainer.seconds if resumed is None or resumed.train.get("seconds") is not None else None
        return _report_run(run.train(progress=_show_progress(args)), trainer, before)


def _settings(args: argparse.Namespace, config=None) -> dict:
    """The run's settings given as options (None: not given); --beta1 and --beta2 make
    `betas`, the other half taken from `config` (the resumed run's) or the default."""
    from .run import DEFAULTS
    settings = {name: getattr(args, name) for name in args.spelling.options if name in DEFAULTS}
    if args.beta1 is not None or args.beta2 is not None:
        base = config.betas if config is not None else DEFAULTS["betas"]
        settings["betas"] = (base[0] if args.beta1 is None else args.beta1,
                             base[1] if args.beta2 is None else args.beta2)
    return settings


def _report_run(result, trainer, seconds_before: Optional[float] = 0.0) -> int:
    """Print how the run went; the exit status (128 + signal number when stopped by one).
    seconds_before: the training time of the run before this part (None: not recorded)."""
    from .checkpoint import saved_step
    from .train import sparkline
    if result.error:  # say what is on the disk now, read back from it
        step = saved_step(trainer.checkpoint_path)
        kept = f"kept {trainer.checkpoint_path} at step {step}" if step is not None else "no checkpoint was saved"
        raise UserError(f"{result.error}; {kept}")
    if result.losses:
        last = min(100, len(result.losses))
        print(f"loss {sparkline(result.losses)}  last-{last} mean {result.mean_loss(last):.4f}")
    if result.evals:
        print(f"held-out loss {result.evals[-1][1]:.4f} at step {result.evals[-1][0]}")
    # the training time up to the last step, as the checkpoint records it (saving not counted)
    seconds = trainer.seconds - (seconds_before or 0.0)
    speed = result.tokens / seconds if seconds > 0 else 0.0
    summary = f"{result.steps_run} steps in {seconds:.1f} s, {speed:.0f} tokens/s"
    if result.start_step:  # a resumed run: this part, then the whole run
        total = f" in {trainer.seconds:.1f} s" if seconds_before is not None else ""
        summary += f" (steps {result.start_step + 1}-{result.step}); the run: {result.step} steps{total}"
    print(summary)
    print(_compile_summary(result, trainer))
    print(f"checkpoint: {result.checkpoint}\nmetrics:    {trainer.metrics_path}")
    if result.interrupted:
        print(f"stopped by {result.signal or 'Ctrl-C'} at step {result.step}, saved in {result.checkpoint}; "
              f"continue with: minigpt train --resume {result.checkpoint}")
        return _signal_status(result)
    print(f"try: {_sample_command(result.checkpoint, trainer)}")
    return 0


def _compile_summary(result, trainer) -> str:
    """How the steps ran: compiled programs (how many, in how long) or the graph."""
    if not trainer.config.compile:
        return "graph path (--no-compile): each step built and walked its graph"
    n = result.compiled
    return (f"compiled {n} step program{'s' if n != 1 else ''} (one per sequence length) in "
            f"{result.compile_seconds:.1f} s, part of the time above")


def _sample_command(checkpoint: str, trainer) -> str:
    """A `minigpt sample` command for the checkpoint, its prompt the first two tokens
    of a training document (when they read well on a command line)."""
    import shlex
    command = f"minigpt sample --checkpoint {shlex.quote(checkpoint)}"
    ids = [i for i in trainer.data.train[0][:3] if i != trainer.tokenizer.bos_id][:2]
    prompt = trainer.tokenizer.decode(ids)
    if prompt.strip() and prompt.isprintable() and prompt == prompt.strip():
        command += f" --prompt {shlex.quote(prompt)}"
    return command


def _signal_status(result) -> int:
    """The exit status of a run stopped by a signal: 128 + its number (Ctrl-C: 130)."""
    import signal
    return 128 + (signal.Signals[result.signal].value if result.signal else signal.SIGINT.value)


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
    context = model.config.context_len
    if len(prompt_ids) > context:  # generate() crops it: say so, as the samples print all of it
        print(f"note: the prompt is {len(prompt_ids)} tokens (with <bos>), longer than the model's context of "
              f"{context}; it continues from the last {context}: {tokenizer.decode(prompt_ids[-context:])!r}",
              file=sys.stderr)
    try:
        rng = random.Random(args.seed)
        for _ in range(args.num):
            ids = generate(model, prompt_ids, args.max_tokens, temperature=args.temperature, top_k=args.top_k,
                           rng=rng, stop_id=tokenizer.bos_id)  # <bos> also ends a document
            print(_first_document(tokenizer, ids))
    except ValueError as err:
        raise UserError(str(err)) from None
    return 0


# --------------------------------------------------------------------------------------
# graph
# --------------------------------------------------------------------------------------
def cmd_graph(args: argparse.Namespace) -> int:
    """Draw the computation graph of a small example (expression up to a whole model),
    or write the page that steps through its backward pass (--out FILE.html)."""
    from . import viz
    from .example_graphs import example

    out = args.out or f"{args.what}.svg"
    _check_picture_path(out, args.what)
    page = out.lower().endswith(".html")
    ex = example(args.what)
    depth = None if args.full else (ex.depth if args.depth is None else args.depth)
    try:
        path = viz.render(ex.root, out, depth=depth, rankdir=args.rankdir or ex.rankdir, params=ex.params)
    except viz.RendererNotFoundError as err:
        raise UserError(" ".join(str(err).split())) from None
    except viz.PictureTooBigError as err:  # advice in this command's own options
        if err.depth is None:
            advice = "draw a summary with --depth 1 (modules as boxes) or --depth 0"
        else:
            advice = f"try --depth {err.depth - 1}" if err.depth > 0 else "--depth 0 is the coarsest view there is"
        raise UserError(f"the {args.what} picture would have {err.nodes:,} nodes, more than the "
                        f"{err.limit:,} that can be laid out and read; {advice}") from None
    except ValueError as err:  # a bad suffix
        raise UserError(" ".join(str(err).split())) from None
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror or err}") from None
    shown = "the full graph" if depth is None else f"modules collapsed below depth {depth}"
    print(f"wrote {path} ({args.what}: {'a page stepping through backward over ' if page else ''}{shown})")
    return 0


def _check_picture_path(out: str, what: str) -> None:
    """A one-line error for an --out that is a folder, or below a file."""
    if os.path.isdir(out):
        raise UserError(f"--out {out} is a folder; give a file in it, such as "
                        f"{os.path.join(out, what + '.svg')}")
    folder = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(folder):  # the nearest part of the path that exists
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise UserError(f"--out {out}: {folder} is a file, not a folder")


# --------------------------------------------------------------------------------------
# explore
# --------------------------------------------------------------------------------------
def cmd_explore(args: argparse.Namespace) -> int:
    """Write the explore page of a checkpoint's model on a prompt (minigpt/explore.py)."""
    from .checkpoint import CheckpointError, load_checkpoint
    from .explore import explore, metrics_beside

    try:
        ckpt = load_checkpoint(args.checkpoint)
        page = explore(ckpt.model, ckpt.tokenizer, args.prompt, out=args.out, position=args.position, top=args.top,
                       metrics=metrics_beside(args.checkpoint), step=ckpt.step)
    except (CheckpointError, ValueError, OSError) as err:
        raise UserError(str(err)) from None
    left_out = f"; left out: {'; '.join(page.data['omitted'])}" if page.data["omitted"] else ""
    print(f"wrote {args.out} ({len(page.html.encode('utf-8')) / 1024:.0f} KB, {len(page.data['tokens'])} tokens"
          f"{left_out})")
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
    from . import __version__
    parser = _Parser(prog="minigpt", description="A scalar-Value autograd engine and a Mini-GPT built from it.")
    parser.add_argument("--version", action="version", version=f"minigpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    parser.subcommands = sub.choices  # name -> sub-parser, to report errors under the right command

    demo = sub.add_parser("demo", help="train on the built-in corpus, predict, sample and draw (under a minute)",
                          description="Train a small Mini-GPT on the built-in verb-grammar corpus, show its "
                                      "top-5 next-token predictions after '<bos> I work , you work , he' "
                                      "before and after training, sample a few sentences and draw a graph.")
    demo.add_argument("--steps", type=_positive_int, default=2000,
                      help="training steps, the first 5%% warming up (default: 2000)")
    demo.add_argument("--lr", type=_positive_float, default=3e-2, help="Adam learning rate (default: 0.03)")
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
                                       "built-in verb-grammar corpus. Ctrl-C or SIGTERM stops cleanly and saves. "
                                       "--resume restores every setting of the run; of the options, only "
                                       "those of optimisation, --eval-every/--checkpoint-every and "
                                       "--compile/--no-compile may change.")
    options: Dict[str, argparse.Action] = {}  # setting name -> its option, for messages in these words

    def setting(group, flag: str, help: str, **kw) -> None:
        """An option that sets one of the run's settings (its `dest`), None when not given."""
        if "dest" in kw and "action" not in kw:
            kw["metavar"] = flag[2:].upper().replace("-", "_")  # --heads HEADS, not N_HEADS
        action = group.add_argument(flag, default=None, help=help.format(**DEFAULTS), **kw)
        options[action.dest] = action
    train.add_argument("--data", metavar="FILE", help="the text file; 'names' for the 32,033 names shipped with "
                                                      "minigpt; 'builtin' for the built-in verb-grammar corpus")
    setting(train, "--stream", "treat the file as one stream, not one document a line", action="store_true")
    setting(train, "--tokenizer", "characters, or whitespace-separated words (default: {tokenizer})",
            choices=TOKENIZERS)
    setting(train, "--documents", "with --data builtin: sentences to generate (default: {documents})",
            type=_positive_int)
    model = train.add_argument_group("model (kept from the checkpoint with --resume)")
    setting(model, "--d-model", "width (default: {d_model})", type=_positive_int)
    setting(model, "--heads", "attention heads (default: {n_heads})", type=_positive_int, dest="n_heads")
    setting(model, "--layers", "blocks (default: {n_layers})", type=_positive_int, dest="n_layers")
    setting(model, "--d-ff", "feed-forward width (default: 4 x d-model)", type=_positive_int)
    setting(model, "--context", "context length (default: {context_len})", type=_positive_int, dest="context_len")
    setting(model, "--pos", "position encoding (default: {pos_encoding})", choices=POS_ENCODINGS,
            dest="pos_encoding")
    setting(model, "--untied", "give the output head its own weights", action="store_const", const=False,
            dest="tie_weights")
    opt = train.add_argument_group("optimisation (with --resume: the checkpoint's, unless given)")
    setting(opt, "--steps", "total steps of the run (default: {steps}; with --resume: the checkpoint's)",
            type=_positive_int)
    setting(opt, "--lr", "Adam learning rate (default: {lr})", type=_positive_float)
    beta1, beta2 = DEFAULTS["betas"]
    opt.add_argument("--beta1", type=float, default=None, help=f"Adam beta1 (default: {beta1})")
    opt.add_argument("--beta2", type=float, default=None, help=f"Adam beta2 (default: {beta2})")
    setting(opt, "--schedule", "learning-rate schedule (default: {schedule})", choices=SCHEDULES)
    setting(opt, "--warmup", "warm-up steps (default: {warmup_steps})", type=_non_negative_int, dest="warmup_steps")
    setting(opt, "--seed", "seed for weights, data order and split (default: {seed}; kept with --resume)", type=int)
    run = train.add_argument_group("run")
    setting(run, "--val-fraction", "held-out share of documents (default: {val_fraction}; kept with --resume)",
            type=float)
    setting(run, "--eval-every", "evaluate every N steps (default: {eval_every})", type=_non_negative_int)
    setting(run, "--checkpoint-every", "also save every N steps (default: {checkpoint_every}, at the end and on "
                                       "Ctrl-C)", type=_non_negative_int)
    setting(run, "--compile", "run each step as a straight-line program compiled once per sequence length, "
                              "or build and walk the graph (--no-compile); the same numbers to rounding "
                              "(default: on CPython, off on PyPy; with --resume: the checkpoint's, unless given)",
            action=argparse.BooleanOptionalAction)
    setting(run, "--out", "output folder (default: runs/latest; with --resume: the checkpoint's folder)")
    run.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train, spelling=_OptionSpelling(options))

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
                           description="Draw the computation graph of a small example as SVG, PNG or DOT, "
                                       "or write an HTML page that steps through its backward pass. "
                                       "Blocks and models are drawn with modules collapsed into boxes "
                                       "(--depth); --full draws every node (refused when too big to lay out). "
                                       "Needs Graphviz's dot or pip install graphviz-pure.")
    graph.add_argument("--what", choices=EXAMPLES, default="expr",
                       help="which graph (default: expr)")
    graph.add_argument("--depth", type=_non_negative_int, default=None,
                       help="collapse modules deeper than this (default: chosen per example)")
    graph.add_argument("--full", action="store_true", help="draw every node, no collapsing")
    graph.add_argument("--rankdir", choices=("LR", "TB"), default=None, help="layout direction (default: chosen per example)")
    graph.add_argument("--out", metavar="FILE", default=None,
                       help="output file: .svg, .png, .dot, or .html for a page that steps through "
                            "backward (default: WHAT.svg)")
    graph.set_defaults(func=cmd_graph)

    explore = sub.add_parser("explore", help="write one offline page showing what a trained model does with a prompt",
                             description="Write a self-contained HTML page for a checkpoint's model on a prompt: "
                                         "the next-token predictions at each position, the attention of every "
                                         "head, one position step by step through the model, the sampling "
                                         "distribution with a temperature slider, the gradients saying which "
                                         "input mattered, and the loss curves when the metrics file is beside "
                                         "the checkpoint.")
    explore.add_argument("--checkpoint", required=True, metavar="FILE", help="a checkpoint written by minigpt train or demo")
    explore.add_argument("--prompt", default="", help="the text to look at (<bos> is put in front when missing)")
    explore.add_argument("--out", default="explore.html", metavar="FILE", help="the page to write (default: explore.html)")
    explore.add_argument("--position", type=int, default=None,
                         help="the position shown first, from 0 (default: the last; negative counts from the end)")
    explore.add_argument("--top", type=_positive_int, default=5, help="next tokens listed per position (default: 5)")
    explore.set_defaults(func=cmd_explore)

    from .exercises.commands import register as register_exercises  # exercises, grade
    register_exercises(sub)
    return parser


def _shadowing_folder() -> Optional[str]:
    """The folder that hides the minigpt package, or None.

    Run in the folder above a clone named `minigpt`, Python takes the clone's folder
    (no __init__.py) for the package `minigpt`: an empty namespace package, without
    a __file__ and without `Value` or `__version__`. Its modules still load (an
    editable install finds them one by one), so the command can see it and say so."""
    package = sys.modules.get(__name__.rpartition(".")[0])
    if package is None or getattr(package, "__file__", None) is not None:
        return None
    return next(iter(getattr(package, "__path__", None) or []), "minigpt")


def main(argv: Optional[List[str]] = None) -> int:
    shadow = _shadowing_folder()
    if shadow:
        print(f"minigpt: error: the folder {shadow} hides the minigpt package (Python imports a folder named "
              "minigpt in the current folder first); run minigpt from another folder, such as the clone itself "
              f"(cd {os.path.relpath(shadow)})", file=sys.stderr)
        return EXIT_USER_ERROR
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
