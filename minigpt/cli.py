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
from typing import List, Optional, Tuple

from .example_graphs import EXAMPLES
from .gpt import POS_ENCODINGS
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
    from .gpt import generate
    from .train import StopSignals, sparkline

    settings = {**TRAIN_DEFAULTS, "data": "builtin", "tokenizer": "word", "documents": args.documents,
                "seed": args.seed, "d_model": args.d_model, "heads": args.heads, "layers": args.layers,
                "steps": args.steps, "lr": args.lr, "eval_every": max(1, args.steps // 5),
                # a short warm-up steadies Adam's first steps: "works" comes in 2,000 steps, not 3,000
                "warmup": args.steps // 20}
    documents = _training_text(settings)
    trainer = _set_up_run(settings, documents, args.out, files=(None, "demo-metrics.jsonl.partial"))
    model, tokenizer, config = trainer.model, trainer.tokenizer, trainer.model.config
    print(f"minigpt demo: a Mini-GPT of {model.num_parameters():,} scalar Values learns a tiny grammar")
    print(f"  corpus: {len(documents):,} generated sentences such as {documents[0]!r}")
    print(f"  vocabulary: {tokenizer.vocab_size} words; model: d_model {config.d_model}, {config.n_heads} heads, "
          f"{config.n_layers} layer(s), RoPE, tied head")
    print(f"\nNext-token predictions after {CANONICAL_PREFIX!r}")
    _print_predictions("before training", _top_predictions(model, tokenizer, CANONICAL_PREFIX), flush=True)

    # also while saving: a second Ctrl-C waits for the files to be complete
    with StopSignals(then="keeping the previous demo's files"):
        result = trainer.run(progress=_show_progress(args))
        if result.interrupted or result.error:
            return _demo_stopped(result, trainer, args.out)
        checkpoint = _keep_demo_files(trainer, args.out)
    print(f"\nTrained {result.step} steps in {result.seconds:.0f} s ({result.tokens_per_second:.0f} tokens/s); "
          f"loss {result.losses[0]:.2f} -> {result.mean_loss(50):.2f} (mean of the last 50 steps)")
    print(f"  loss: {sparkline(result.losses)}")
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
    picture = _demo_picture(args.out)
    if picture:
        print(f"Graph picture: {picture}")
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


def _demo_picture(out_dir: str) -> Optional[str]:
    """Draw a small computation graph for the demo, if the drawing module is present."""
    from . import viz
    from .example_graphs import example
    root = example("expr").root
    path = os.path.join(out_dir, "demo-graph.svg")
    try:
        return viz.render(root, path)
    except RuntimeError:  # no Graphviz renderer: render() still wrote the .dot source
        dot_path = os.path.splitext(path)[0] + ".dot"
        print(f"Graph source: {dot_path} (to draw it: pip install graphviz-pure or apt-get install "
              "graphviz, then minigpt graph --what expr)")
        return None


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
# The parser's defaults for `train` are None, so that a resumed run can tell an option
# the user gave from one left out; a new run fills in these.
TRAIN_DEFAULTS = {"tokenizer": "char", "documents": 5000, "stream": False, "d_model": 16, "heads": 4,
                  "layers": 1, "d_ff": None, "context": 16, "pos": "rope", "untied": False, "steps": 1000,
                  "lr": 1e-2, "beta1": 0.85, "beta2": 0.99, "schedule": "linear", "warmup": 0, "seed": 0,
                  "val_fraction": 0.1, "eval_every": 100, "checkpoint_every": 0}
# Options a resumed run must keep, with the reason. Changing one would make it another run.
FIXED_ON_RESUME = {
    **dict.fromkeys(("d_model", "heads", "layers", "d_ff", "context", "pos", "untied"),
                    "the model's shape is fixed by its weights"),
    "tokenizer": "the vocabulary is part of the model",
    "stream": "it decides what each step trains on", "documents": "it decides what each step trains on",
    "val_fraction": "it decides which documents are held out", "seed": "it decides the data order and split",
}
# Options a resumed run may change: applied from the current step on, and reported.
CHANGEABLE_ON_RESUME = ("steps", "lr", "beta1", "beta2", "schedule", "warmup", "eval_every", "checkpoint_every")


def cmd_train(args: argparse.Namespace) -> int:
    """Train on a text file (or the built-in corpus), save a checkpoint, resume on request."""
    from .train import StopSignals

    resumed = _load_for_resume(args.resume) if args.resume else None
    settings, changes = _resumed_settings(args, resumed) if resumed else (_new_settings(args), None)
    documents = _training_text(settings, from_checkpoint=bool(resumed) and not args.data)
    if resumed:
        _check_same_text(settings, resumed)
    # a resumed run continues in its own folder, wherever the command is typed
    out_dir = args.out or (os.path.dirname(os.path.abspath(args.resume)) if resumed else "runs/latest")
    _refuse_to_overwrite(os.path.join(out_dir, "checkpoint.json"), args.resume)
    trainer = _set_up_run(settings, documents, out_dir, resumed)
    if changes:
        print(changes)
    print(f"training {trainer.model.num_parameters():,} parameters on {len(documents):,} document(s) from "
          f"{settings['data']} (vocabulary {trainer.tokenizer.vocab_size}); steps {trainer.step} -> "
          f"{trainer.config.steps}", flush=True)  # flushed: output to a log shows it now, not at the end
    if trainer.step >= trainer.config.steps:
        print(f"nothing to do: the checkpoint is already at step {trainer.step}; ask for more with --steps")
        return 0
    with StopSignals():  # also while reporting: a second Ctrl-C must not cut the last lines short
        return _report_run(trainer.run(progress=_show_progress(args)), trainer)


TRAIN_FILES = ("checkpoint.json", "metrics.jsonl")


def _set_up_run(settings: dict, documents: List[str], out_dir: str, resumed=None, files=TRAIN_FILES):
    """The one set-up of `demo` and `train`: tokenizer, model (new, or the resumed
    checkpoint's), data and a Trainer writing `files` (checkpoint, metrics; a name
    or None) into out_dir. The checkpoint keeps every setting of the run."""
    from .train import TextData, Trainer
    config = _train_config(settings)
    model, tokenizer = (resumed.model, resumed.tokenizer) if resumed else _new_model(settings, documents)
    try:
        data = TextData.from_documents(documents, tokenizer, val_fraction=settings["val_fraction"],
                                       seed=config.seed, stream=settings["stream"])
    except ValueError as err:  # e.g. a character the resumed tokenizer never saw
        raise UserError(str(err)) from None
    if settings["stream"] and model.config.context_len >= len(data.train[0]):
        raise UserError(f"--context {model.config.context_len} is longer than the training text "
                        f"({len(data.train[0])} tokens); use at most {len(data.train[0]) - 1}")
    info = {key: settings[key] for key in ("data", "data_sha256", "stream", "val_fraction", "tokenizer")}
    info["data"] = _data_path(settings["data"])  # absolute: a resume may be typed in another folder
    info["documents"] = settings["documents"] if settings["data"] == "builtin" else None
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f"--out {out_dir} is a file, not a folder; choose a folder for the run")
    paths = [os.path.join(out_dir, name) if name else None for name in files]
    try:
        os.makedirs(out_dir, exist_ok=True)
        return Trainer(model, tokenizer, data, config, checkpoint_path=paths[0], metrics_path=paths[1],
                       start_step=resumed.step if resumed else 0,
                       optimizer_state=resumed.optimizer_state if resumed else None, info=info)
    except OSError as err:
        raise UserError(f"cannot write to {out_dir}: {err.strerror or err}") from None
    except ValueError as err:  # a damaged optimizer section
        raise UserError(f"the checkpoint cannot be resumed: {err}") from None


def _load_for_resume(path: str):
    from .checkpoint import CheckpointError, load_checkpoint
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        raise UserError(str(err)) from None


def _new_settings(args: argparse.Namespace) -> dict:
    """The options of a new run: as given, else the defaults."""
    settings = {name: default if getattr(args, name) is None else getattr(args, name)
                for name, default in TRAIN_DEFAULTS.items()}
    settings["data"] = args.data
    if not args.data:
        raise UserError("say what to train on: --data FILE (a text file), --data names or --data builtin")
    if args.data == "builtin":
        settings["tokenizer"] = "word"  # the built-in corpus comes with its word vocabulary
    return settings


def _saved_settings(resumed) -> dict:
    """The options the resumed run was made with, by option name (None: not recorded,
    in a checkpoint written before minigpt stored them)."""
    from .tokenizers import WordTokenizer
    from .train import TrainConfig
    train = resumed.train
    try:
        c = TrainConfig.from_dict(_checked_train_section(train))
    except ValueError as err:
        raise UserError(f"the checkpoint's train settings are damaged: {err}") from None
    m = resumed.model.config
    return {"d_model": m.d_model, "heads": m.n_heads, "layers": m.n_layers, "d_ff": m.d_ff,
            "context": m.context_len, "pos": m.pos_encoding, "untied": not m.tie_weights,
            "tokenizer": "word" if isinstance(resumed.tokenizer, WordTokenizer) else "char",
            "data": train.get("data"), "stream": bool(train.get("stream", False)),
            "documents": train.get("documents"), "val_fraction": train.get("val_fraction"), "seed": c.seed,
            "steps": c.steps, "lr": c.lr, "beta1": c.betas[0], "beta2": c.betas[1], "schedule": c.schedule,
            "warmup": c.warmup_steps, "eval_every": c.eval_every, "checkpoint_every": c.checkpoint_every}


# The types of the run's settings in a checkpoint's "train" section (None: not recorded).
_TRAIN_SECTION = {"data": (str,), "data_sha256": (str,), "stream": (bool,), "val_fraction": (int, float),
                  "tokenizer": (str,), "documents": (int,)}


def _checked_train_section(train: dict) -> dict:
    """The section's TrainConfig as a dict; ValueError for a setting of the wrong type."""
    for key, types in _TRAIN_SECTION.items():
        value = train.get(key)
        if value is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            raise ValueError(f"{key} is {value!r}")
    if train.get("documents") is not None and train["documents"] < 1:
        raise ValueError(f"documents is {train['documents']!r}")
    config = train.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"config is a {type(config).__name__}, not an object")
    return config


def _resumed_settings(args: argparse.Namespace, resumed) -> Tuple[dict, Optional[str]]:
    """The resumed run's options and a line saying what changed (or None): restored
    from the checkpoint; an option given that would change the run is refused (one
    line, exit status 2), one that may change is applied."""
    settings = _saved_settings(resumed)
    fixed = dict(FIXED_ON_RESUME)
    if settings["data"] != "builtin":
        del fixed["documents"]  # only the built-in corpus is generated to a number of documents
    _restore_unrecorded(args, settings, [name for name in ("documents", "val_fraction") if name in fixed])
    _refuse_changes(args, settings, fixed)
    if settings["data"] == "builtin" or args.data == "builtin":
        _refuse_changes(args, settings, {"data": "the built-in corpus and a file are different data"})
    settings["data"] = args.data or settings["data"]
    if not settings["data"]:
        raise UserError(f"{args.resume} does not say what it was trained on: give --data FILE")
    changed = [name for name in CHANGEABLE_ON_RESUME
               if getattr(args, name) is not None and getattr(args, name) != settings[name]]
    if not changed:
        return settings, None
    was = ", ".join(_option_text(name, settings[name]) for name in changed)
    settings.update({name: getattr(args, name) for name in changed})
    now = ", ".join(_option_text(name, settings[name]) for name in changed)
    return settings, f"continuing with {now} from step {resumed.step} (the checkpoint had {was})"


def _restore_unrecorded(args: argparse.Namespace, settings: dict, names: List[str]) -> None:
    """Checkpoints of older versions do not record some options: take them as given
    (or their defaults), and say so."""
    missing = [name for name in names if settings[name] is None]
    for name in missing:
        settings[name] = TRAIN_DEFAULTS[name] if getattr(args, name) is None else getattr(args, name)
    if missing:
        shown = ", ".join(_option_text(name, settings[name]) for name in missing)
        print(f"note: {args.resume} does not record these settings; assuming the run used {shown}")


def _refuse_changes(args: argparse.Namespace, settings: dict, reasons: dict) -> None:
    for name, why in reasons.items():
        given = getattr(args, name)
        if given is not None and given != settings[name]:
            raise UserError(f"{_option_text(name, given)} would change the run: {args.resume} was trained with "
                            f"{_option_text(name, settings[name])}, and {why}; leave the option out to "
                            "continue the run, or start a new run in another --out folder")


def _option_text(name: str, value) -> str:
    """How an option reads on the command line: '--lr 0.5', '--stream', 'no --stream'."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else f"no {flag}"
    return f"{flag} {value}"


def _training_text(settings: dict, from_checkpoint: bool = False) -> List[str]:
    """The documents the run trains on, read from the file or generated; records
    their fingerprint in settings["data_sha256"]."""
    from .corpus import NAMES_FILE, verb_grammar_corpus
    from .train import read_documents
    source = settings["data"]
    if source == "builtin":
        documents = verb_grammar_corpus(settings["documents"], seed=settings["seed"])
        settings["data_sha256"] = _fingerprint(documents)
        return documents
    try:
        documents = read_documents(NAMES_FILE if source == "names" else source, stream=settings["stream"])
    except FileNotFoundError:
        where = " (the file the run was trained on; if it is elsewhere now, say where with --data FILE)" \
            if from_checkpoint else ""
        raise UserError(f"no such file: {source}{where}") from None
    except UnicodeDecodeError:
        raise UserError(f"{source} is not UTF-8 text") from None
    except (IsADirectoryError, PermissionError) as err:
        raise UserError(f"cannot read {source}: {err.strerror}") from None
    except ValueError as err:
        raise UserError(str(err)) from None
    settings["data_sha256"] = _fingerprint(documents)
    return documents


def _data_path(data):
    """A data file as an absolute path; 'names' and 'builtin' as they are."""
    return data if data in ("names", "builtin") or not isinstance(data, str) else os.path.abspath(data)


def _fingerprint(documents: List[str]) -> str:
    """A SHA-256 of exactly the text the run trains on (after splitting into documents)."""
    import hashlib
    import json
    return hashlib.sha256(json.dumps(documents).encode("utf-8")).hexdigest()


def _check_same_text(settings: dict, resumed) -> None:
    """Refuse to resume on text that differs from the text the checkpoint was trained on."""
    saved, fingerprint = resumed.train.get("data_sha256"), settings["data_sha256"]
    if saved is None:
        print(f"note: the checkpoint does not record a fingerprint of its data; assuming {settings['data']} "
              "is the text it was trained on")
    elif saved != fingerprint:
        raise UserError(f"{settings['data']} is not the text this run was trained on (its fingerprint "
                        f"{fingerprint[:12]} differs from the checkpoint's {saved[:12]}); resume with the same "
                        "text, or start a new run in another --out folder")
    elif _data_path(resumed.train.get("data")) != _data_path(settings["data"]):
        print(f"reading the run's data from {settings['data']} (the same text as {resumed.train.get('data')})")


def _refuse_to_overwrite(checkpoint_path: str, resume: Optional[str]) -> None:
    """A checkpoint in --out is only ever replaced by the same run, one step further."""
    from .checkpoint import saved_step
    if not os.path.exists(checkpoint_path):
        return
    if os.path.isdir(checkpoint_path):
        raise UserError(f"{checkpoint_path} is a directory, where the run's checkpoint goes; remove it or "
                        "choose another --out folder")
    if resume and os.path.exists(resume) and os.path.samefile(checkpoint_path, resume):
        return
    step = saved_step(checkpoint_path)
    held = f"a run at step {step}" if step is not None else "a file"
    raise UserError(f"{checkpoint_path} already holds {held}; continue it with --resume {checkpoint_path}, "
                    "or choose another --out folder (or delete that one) to start a new run")


def _new_model(settings: dict, documents: List[str]):
    """A fresh model and tokenizer for the text; the initial weights follow the seed."""
    from .corpus import default_word_tokenizer
    from .gpt import MiniGPT, MiniGPTConfig
    from .tokenizers import CharTokenizer, WordTokenizer
    if settings["data"] == "builtin":
        tokenizer = default_word_tokenizer()
    elif settings["tokenizer"] == "word":
        tokenizer = WordTokenizer.from_documents(documents)
    else:
        tokenizer = CharTokenizer.from_documents(documents)
    d = settings["d_model"]
    try:
        config = MiniGPTConfig(d_model=d, n_heads=settings["heads"], n_layers=settings["layers"],
                               d_ff=settings["d_ff"] or 4 * d, vocab_size=tokenizer.vocab_size,
                               context_len=settings["context"], pos_encoding=settings["pos"],
                               tie_weights=not settings["untied"])
    except ValueError as err:
        raise UserError(str(err)) from None
    random.seed(settings["seed"])
    return MiniGPT(config), tokenizer


def _train_config(settings: dict):
    from .train import TrainConfig
    try:
        return TrainConfig(steps=settings["steps"], lr=settings["lr"], betas=(settings["beta1"], settings["beta2"]),
                           schedule=settings["schedule"], warmup_steps=settings["warmup"],
                           eval_every=settings["eval_every"], seed=settings["seed"],
                           checkpoint_every=settings["checkpoint_every"])
    except ValueError as err:
        raise UserError(str(err)) from None


def _report_run(result, trainer) -> int:
    """Print how the run went; the exit status (128 + signal number when stopped by one)."""
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
    print(f"{result.step} steps, {result.seconds:.1f} s, {result.tokens_per_second:.0f} tokens/s")
    print(f"checkpoint: {result.checkpoint}\nmetrics:    {trainer.metrics_path}")
    if result.interrupted:
        print(f"stopped by {result.signal or 'Ctrl-C'} at step {result.step}, saved in {result.checkpoint}; "
              f"continue with: minigpt train --resume {result.checkpoint}")
        return _signal_status(result)
    return 0


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
    shown = "the full graph" if depth is None else f"modules collapsed below depth {depth}"
    print(f"wrote {path} ({args.what}: {'a page stepping through backward over ' if page else ''}{shown})")
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
                                       "those of optimisation and --eval-every/--checkpoint-every may change.")
    train.add_argument("--data", metavar="FILE", help="the text file; 'names' for the 32,033 names shipped with "
                                                      "minigpt; 'builtin' for the built-in verb-grammar corpus")
    train.add_argument("--stream", action="store_true", default=None,
                       help="treat the file as one stream, not one document a line")
    train.add_argument("--tokenizer", choices=TOKENIZERS, default=None,
                       help="characters, or whitespace-separated words (default: char)")
    train.add_argument("--documents", type=_positive_int, default=None,
                       help="with --data builtin: sentences to generate (default: 5000)")
    model = train.add_argument_group("model (kept from the checkpoint with --resume)")
    model.add_argument("--d-model", type=_positive_int, default=None, help="width (default: 16)")
    model.add_argument("--heads", type=_positive_int, default=None, help="attention heads (default: 4)")
    model.add_argument("--layers", type=_positive_int, default=None, help="blocks (default: 1)")
    model.add_argument("--d-ff", type=_positive_int, default=None, help="feed-forward width (default: 4 x d-model)")
    model.add_argument("--context", type=_positive_int, default=None, help="context length (default: 16)")
    model.add_argument("--pos", choices=POS_ENCODINGS, default=None,
                       help="position encoding (default: rope)")
    model.add_argument("--untied", action="store_true", default=None, help="give the output head its own weights")
    opt = train.add_argument_group("optimisation (with --resume: the checkpoint's, unless given)")
    opt.add_argument("--steps", type=_positive_int, default=None,
                     help="total steps of the run (default: 1000; with --resume: the checkpoint's)")
    opt.add_argument("--lr", type=_positive_float, default=None, help="Adam learning rate (default: 0.01)")
    opt.add_argument("--beta1", type=float, default=None, help="Adam beta1 (default: 0.85)")
    opt.add_argument("--beta2", type=float, default=None, help="Adam beta2 (default: 0.99)")
    opt.add_argument("--schedule", choices=SCHEDULES, default=None,
                     help="learning-rate schedule (default: linear decay to 0)")
    opt.add_argument("--warmup", type=_non_negative_int, default=None, help="warm-up steps (default: 0)")
    opt.add_argument("--seed", type=int, default=None,
                     help="seed for weights, data order and split (default: 0; kept with --resume)")
    run = train.add_argument_group("run")
    run.add_argument("--val-fraction", type=float, default=None,
                     help="held-out share of documents (default: 0.1; kept with --resume)")
    run.add_argument("--eval-every", type=_non_negative_int, default=None, help="evaluate every N steps (default: 100)")
    run.add_argument("--checkpoint-every", type=_non_negative_int, default=None,
                     help="also save every N steps (default: 0, at the end and on Ctrl-C)")
    run.add_argument("--out", default=None,
                     help="output folder (default: runs/latest; with --resume: the checkpoint's folder)")
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
