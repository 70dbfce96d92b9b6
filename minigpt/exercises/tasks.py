"""The exercise tasks: ids, titles, points, and the checks that grade each one.

A task is a piece of the student's code (one operation group of the engine, one
class, one function) worth some points. Its checks are run one after the other in
a worker process; each has a weight, and a task's score is its points times the
weighted share of its checks that pass (partial credit). Public checks are also
the workspace's pytest tests; the grader adds the hidden ones.

`uses` lists the tasks whose code a task's checks also run. When one of those
fails, the grader runs the task again with the reference in its place, so a task
is scored on its own merits (see grader.py).
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

# Tolerance of every numeric comparison: |got - expected| <= ATOL + RTOL * |expected|.
RTOL, ATOL = 1e-6, 1e-9


@dataclass(frozen=True)
class Check:
    """One probe run and compared with the reference. `args` go to the probe."""
    name: str          # unique inside its task, a valid Python identifier
    title: str         # what it checks, in a few words
    probe: str         # a key of probes.PROBES
    args: dict
    public: bool = True
    weight: float = 1.0
    timeout: float = 20.0  # seconds, for the student's code; the grader kills it after that
    mistakes: Tuple[str, ...] = ()  # known mistakes (mistakes.py) to name when the output matches one


@dataclass(frozen=True)
class Task:
    id: str            # "3.2"
    title: str
    points: float
    module: str        # the file the student writes it in: engine, nn or gpt
    checks: Tuple[Check, ...]
    uses: Tuple[str, ...] = ()  # other tasks whose code these checks run
    component: str = ""         # the contract name it implements, if the reference can stand in for it
                                # ("Value.+*": Value's + and * methods, for the engine's own later tasks)
    note: str = ""              # for the student's README

    @property
    def marker(self) -> str:
        """The pytest marker of its public tests: task3_2."""
        return "task" + self.id.replace(".", "_")

    @property
    def modules(self) -> Tuple[str, ...]:
        """The files its checks import (gpt.py may be missing when nn.py holds its names)."""
        return {"engine": ("engine",), "nn": ("engine", "nn"), "gpt": ("engine", "nn", "gpt")}[self.module]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


def _op(name, title, expr, a, b=None, public=True):
    args = {"expr": expr, "a": a}
    if b is not None:
        args["b"] = b
    return Check(name, title, "op", args, public, timeout=5)


def _graph(name, title, graph, ways, public=True, mistakes=()):
    """`ways` that may show the right gradients: "order" (a valid topological_order()),
    "calls" (backward() calls each node's _backward once, before those of its inputs),
    "own" (the student's backward()), "driven" (each node's _backward, called by the probe),
    "accumulation" (each node's _backward adds to its inputs' grads, whatever it adds)."""
    return Check(name, title, "graph", {"graph": graph, "ways": ways}, public, timeout=5, mistakes=mistakes)


def _module(name, title, kind, ctor, seed, public=True, weight=1.0, mistakes=(), **args):
    return Check(name, title, "module", dict(kind=kind, ctor=ctor, seed=seed, **args), public, weight,
                 mistakes=mistakes)


def _parameters(kind, ctor, public=False):
    return Check("parameters", f"{kind}.parameters(): every weight once", "module",
                 {"kind": kind, "ctor": ctor, "seed": 1, "parameters_only": True}, public)


def _vector(n, **extra):
    return {"shape": [n], **extra}


def _sequence(t, d, **extra):
    return {"shape": [t, d], **extra}


ORDER_WAYS = ("order", "calls", "own")  # see feedback.judge_graph
ACCUMULATION_WAYS = ("driven", "own", "accumulation")
ENGINE_ORDER_MISTAKES = ("no_visited", "preorder", "assign_grad")
ENGINE_BACKWARD_MISTAKES = ("not_reversed", "no_seed")  # (a pre-order sort is task 1.6's, standing in here)
LAYERNORM_MISTAKES = ("ln_unbiased", "ln_eps_outside", "ln_eps_after_inverse", "ln_no_affine")
FFN_MISTAKES = ("ffn_relu", "ffn_no_activation")
ATTENTION_MISTAKES = ("attn_no_mask", "attn_empty_row", "attn_empty_row_zeros", "attn_no_scale", "attn_scale_d",
                      "attn_no_out_proj", "attn_unstable")
BLOCK_MISTAKES = ("block_post_norm", "block_no_residual")
MODEL_MISTAKES = ("gpt_no_ln_f", "gpt_no_pos")
LOSS_MISTAKES = ("ce_sum", "ce_unstable")

SMALL_GPT = {"vocab_size": 5, "embed_dim": 4, "num_heads": 1, "num_layers": 1, "max_seq_len": 4}
TRAIN_GPT = {"vocab_size": 5, "embed_dim": 8, "num_heads": 1, "num_layers": 1, "max_seq_len": 6}
ENGINE_TASKS = ("1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8")
# Every task whose code a whole MiniGPT runs: generate and the model sanity checks use them,
# so that a bug in one of them costs that task only (the reference stands in for it). The
# sanity checks (3.9, no code of their own) test the student's MiniGPT as a whole, so the
# reference stands in for its failed parts but never for MiniGPT itself.
MODEL_PARTS = ("2.1", "2.5", "3.1", "3.2", "3.3", "3.4", "3.5")
MODEL_TASKS = MODEL_PARTS + ("3.6",)

TASKS: List[Task] = [
    # ---- engine.py --------------------------------------------------------------------
    Task("1.1", "Add and multiply", 4, "engine", (
        _op("add_values", "a + b", "a + b", 2.0, -3.0),
        _op("add_number_right", "a + 2", "a + 2", 1.5),
        _op("add_number_left", "2 + a", "2 + a", -0.75),
        _op("mul_values", "a * b", "a * b", -1.5, 4.0),
        _op("mul_number_right", "a * 3", "a * 3", 0.5),
        _op("mul_number_left", "3 * a", "3 * a", -2.5, public=False),
        _op("mul_values_again", "a * b, other values", "a * b", 0.25, -0.5, public=False),
    ), component="Value.+*"),
    Task("1.2", "Powers", 3, "engine", (
        _op("square", "a ** 2", "a ** 2", 3.0),
        _op("cube", "a ** 3", "a ** 3", -2.0),
        _op("inverse", "a ** -1", "a ** -1", 4.0),
        _op("square_root", "a ** 0.5", "a ** 0.5", 2.25, public=False),
        _op("square_negative", "a ** 2 at a < 0", "a ** 2", -0.5, public=False),
    ), component="Value.**"),
    Task("1.3", "Negate, subtract, divide", 4, "engine", (
        _op("negate", "-a", "-a", 1.25),
        _op("sub_values", "a - b", "a - b", 2.0, 5.0),
        _op("sub_number_right", "a - 1", "a - 1", 0.5),
        _op("sub_number_left", "1 - a", "1 - a", 3.0),
        _op("div_values", "a / b", "a / b", 3.0, -2.0),
        _op("div_number_right", "a / 2", "a / 2", 5.0, public=False),
        _op("div_number_left", "2 / a", "2 / a", 0.5, public=False),
    ), uses=("1.1", "1.2")),  # built on + * and ** in the reference: see standins.py
    Task("1.4", "exp and log", 3, "engine", (
        _op("exp", "exp(a)", "exp(a)", 0.5),
        _op("exp_negative", "exp(a) at a < 0", "exp(a)", -1.0),
        _op("log", "log(a)", "log(a)", 2.0),
        _op("exp_large", "exp(a) at a = 2", "exp(a)", 2.0, public=False),
        _op("log_small", "log(a) at a < 1", "log(a)", 0.3, public=False),
    )),
    Task("1.5", "tanh and relu", 4, "engine", (
        _op("tanh", "tanh(a)", "tanh(a)", 0.5),
        _op("tanh_negative", "tanh(a) at a < 0", "tanh(a)", -1.2),
        _op("relu_positive", "relu(a) at a > 0", "relu(a)", 1.3),
        _op("relu_negative", "relu(a) at a < 0", "relu(a)", -0.7),
        _op("tanh_zero", "tanh(a) at 0", "tanh(a)", 0.0, public=False),
        _op("tanh_large", "tanh(a) at a = 2", "tanh(a)", 2.0, public=False),
        _op("relu_small", "relu(a) at a = 0.2", "relu(a)", 0.2, public=False),
    )),
    Task("1.6", "Topological order", 4, "engine", (
        _graph("shared", "a node used by two others", "shared", ORDER_WAYS, mistakes=ENGINE_ORDER_MISTAKES),
        _graph("shallow_and_deep", "a node reached by a short and a long path", "shallow_and_deep", ORDER_WAYS,
               mistakes=ENGINE_ORDER_MISTAKES),
        _graph("wide", "a node used by four others", "wide", ORDER_WAYS, public=False, mistakes=ENGINE_ORDER_MISTAKES),
    ), component="topological_order"),
    Task("1.7", "Backward", 4, "engine", (
        _graph("chain", "a chain: (a*b + c) * d", "chain", ("own",), mistakes=ENGINE_BACKWARD_MISTAKES),
        _graph("tree", "a tree: (a*b + c*d) * k", "tree", ("own",), mistakes=ENGINE_BACKWARD_MISTAKES),
        _graph("single", "one operation: a * b", "single", ("own",), public=False, mistakes=ENGINE_BACKWARD_MISTAKES),
    ), uses=("1.1", "1.6")),
    Task("1.8", "Accumulation: a node used twice", 4, "engine", (
        _graph("add_twice", "a + a", "add_twice", ACCUMULATION_WAYS, mistakes=("assign_grad",)),
        _graph("mul_twice", "a * a", "mul_twice", ACCUMULATION_WAYS, mistakes=("assign_grad",)),
        _graph("two_branches", "x*y + x*z", "two_branches", ACCUMULATION_WAYS, mistakes=("assign_grad",)),
        _graph("cube", "x * x * x", "cube", ACCUMULATION_WAYS, public=False, mistakes=("assign_grad",)),
        _graph("add_and_x", "(x + 1) * x", "add_and_x", ACCUMULATION_WAYS, mistakes=("assign_grad",)),
        _graph("pow_and_x", "x ** 2 + x", "pow_and_x", ACCUMULATION_WAYS, mistakes=("assign_grad",)),
        _graph("exp_log_and_x", "exp(x) + log(x) + x", "exp_log_and_x", ACCUMULATION_WAYS, public=False,
               mistakes=("assign_grad",)),
        _graph("tanh_relu_and_x", "tanh(x) + relu(x) + x", "tanh_relu_and_x", ACCUMULATION_WAYS, public=False,
               mistakes=("assign_grad",)),
    ), note="No code of its own: every _backward must add to .grad (+=), never set it, so that a Value used "
            "twice gets both contributions."),
    # ---- nn.py ------------------------------------------------------------------------
    Task("2.1", "Module: calling forward, zero_grad", 3, "nn", (
        Check("call", "module(x, k=v) calls forward(x, k=v)", "call", {}),
        Check("zero_grad", "zero_grad() zeroes every parameter's grad", "zero_grad", {}),
    ), uses=ENGINE_TASKS, component="Module"),
    Task("2.2", "Neuron", 4, "nn", (
        _module("relu_active", "nonlin=True, positive input to the ReLU", "Neuron", {"nin": 3}, 11,
                input=_vector(3), fixed={"b": 2.5}, mistakes=("neuron_no_relu",)),
        _module("relu_inactive", "nonlin=True, negative input to the ReLU", "Neuron", {"nin": 3}, 12,
                input=_vector(3), fixed={"b": -2.5}, mistakes=("neuron_no_relu",)),
        _module("linear", "nonlin=False", "Neuron", {"nin": 4, "nonlin": False}, 13, input=_vector(4),
                fixed={"b": -2.5}, mistakes=("neuron_relu_always",)),
        _parameters("Neuron", {"nin": 4}, public=True),
    ), uses=ENGINE_TASKS + ("2.1",), component="Neuron"),
    Task("2.3", "Layer", 3, "nn", (
        _module("forward", "Layer(3, 4)", "Layer", {"nin": 3, "nout": 4}, 21, input=_vector(3)),
        _module("linear", "Layer(4, 2, nonlin=False)", "Layer", {"nin": 4, "nout": 2, "nonlin": False}, 22,
                input=_vector(4), fixed={"neurons.0.b": -3.0}, public=False),
        _parameters("Layer", {"nin": 3, "nout": 2}),
    ), uses=ENGINE_TASKS + ("2.1", "2.2"), component="Layer"),
    Task("2.4", "MLP", 4, "nn", (
        _module("forward", "MLP(3, [4, 4, 1])", "MLP", {"nin": 3, "nouts": [4, 4, 1]}, 31, input=_vector(3),
                fixed={"layers.2.neurons.0.b": -3.0}, mistakes=("mlp_relu_last",)),
        _module("two_outputs", "MLP(2, [3, 2])", "MLP", {"nin": 2, "nouts": [3, 2]}, 32, input=_vector(2),
                fixed={"layers.1.neurons.0.b": -3.0}, public=False, mistakes=("mlp_relu_last",)),
        _parameters("MLP", {"nin": 3, "nouts": [4, 4, 1]}),
    ), uses=ENGINE_TASKS + ("2.1", "2.2", "2.3")),
    Task("2.5", "Linear", 6, "nn", (
        _module("forward", "Linear(3, 2)", "Linear", {"in_features": 3, "out_features": 2}, 41, input=_vector(3),
                mistakes=("linear_no_bias",)),
        _module("no_bias", "Linear(4, 3, bias=False): bias is None", "Linear",
                {"in_features": 4, "out_features": 3, "bias": False}, 42, input=_vector(4)),
        _module("larger", "Linear(5, 4)", "Linear", {"in_features": 5, "out_features": 4}, 43, input=_vector(5),
                public=False, mistakes=("linear_no_bias",)),
        _parameters("Linear", {"in_features": 3, "out_features": 2}, public=True),
    ), uses=ENGINE_TASKS + ("2.1",), component="Linear"),
    # ---- gpt.py -----------------------------------------------------------------------
    Task("3.1", "Embedding", 4, "gpt", (
        _module("lookup", "rows for [2, 0, 2]: values, and gradients reach the table", "Embedding",
                {"num_embeddings": 3, "embedding_dim": 4}, 51, input={"ids": [2, 0, 2]},
                mistakes=("embedding_copies",)),
        _module("lookup_longer", "rows for [4, 1, 3, 1, 0]", "Embedding",
                {"num_embeddings": 5, "embedding_dim": 3}, 52, input={"ids": [4, 1, 3, 1, 0]}, public=False,
                mistakes=("embedding_copies",)),
        _parameters("Embedding", {"num_embeddings": 3, "embedding_dim": 4}),
    ), uses=ENGINE_TASKS + ("2.1",), component="Embedding"),
    Task("3.2", "LayerNorm", 6, "gpt", (
        _module("forward", "LayerNorm(5): output and gradients", "LayerNorm", {"dim": 5}, 61, input=_vector(5),
                weight=2, mistakes=LAYERNORM_MISTAKES),
        _module("small_variance", "an input with tiny variance, where eps matters", "LayerNorm", {"dim": 4}, 62,
                input=_vector(4, offset=3.0, scale=0.002), mistakes=LAYERNORM_MISTAKES),
        _module("eps", "LayerNorm(4, eps=0.1)", "LayerNorm", {"dim": 4, "eps": 0.1}, 63, input=_vector(4),
                public=False, mistakes=LAYERNORM_MISTAKES),
        _parameters("LayerNorm", {"dim": 5}, public=True),
    ), uses=ENGINE_TASKS + ("2.1",), component="LayerNorm"),
    Task("3.3", "FeedForward", 5, "gpt", (
        _module("forward", "FeedForward(4): hidden 16, output and gradients", "FeedForward", {"embed_dim": 4}, 71,
                input=_vector(4), weight=2, mistakes=FFN_MISTAKES),
        _module("hidden_dim", "FeedForward(3, hidden_dim=5)", "FeedForward", {"embed_dim": 3, "hidden_dim": 5}, 72,
                input=_vector(3), mistakes=FFN_MISTAKES),
        _parameters("FeedForward", {"embed_dim": 3, "hidden_dim": 5}),
    ), uses=ENGINE_TASKS + ("2.1", "2.5"), component="FeedForward"),
    Task("3.4", "SelfAttention", 8, "gpt", (
        _module("causal", "causal, T=4, embed_dim=4: output and gradients", "SelfAttention", {"embed_dim": 4}, 81,
                input=_sequence(4, 4), weight=2, mistakes=ATTENTION_MISTAKES),
        _module("not_causal", "causal=False", "SelfAttention", {"embed_dim": 4}, 82, input=_sequence(3, 4),
                call={"causal": False}, mistakes=ATTENTION_MISTAKES),
        _module("large_scores", "scores around 1000: softmax must not overflow", "SelfAttention",
                {"embed_dim": 4}, 83, input=_sequence(3, 4), scales={"q_proj.weight": 35.0, "k_proj.weight": 35.0},
                mistakes=ATTENTION_MISTAKES),
        _module("one_position", "a single position", "SelfAttention", {"embed_dim": 3}, 84, input=_sequence(1, 3),
                public=False, mistakes=ATTENTION_MISTAKES),
        _module("other_size", "causal, T=5, embed_dim=3", "SelfAttention", {"embed_dim": 3}, 85,
                input=_sequence(5, 3), public=False, mistakes=ATTENTION_MISTAKES),
        _parameters("SelfAttention", {"embed_dim": 4}),
    ), uses=ENGINE_TASKS + ("2.1", "2.5"), component="SelfAttention"),
    Task("3.5", "TransformerBlock", 6, "gpt", (
        _module("forward", "TransformerBlock(4, 1), T=3: output and gradients", "TransformerBlock",
                {"embed_dim": 4, "num_heads": 1}, 91, input=_sequence(3, 4), weight=2, mistakes=BLOCK_MISTAKES),
        _module("num_heads", "TransformerBlock(4, 2): num_heads accepted, one head", "TransformerBlock",
                {"embed_dim": 4, "num_heads": 2}, 92, input=_sequence(2, 4), public=False, mistakes=BLOCK_MISTAKES),
        _parameters("TransformerBlock", {"embed_dim": 4, "num_heads": 1}),
    ), uses=ENGINE_TASKS + ("2.1", "2.5", "3.2", "3.3", "3.4"), component="TransformerBlock"),
    Task("3.6", "MiniGPT", 6, "gpt", (
        _module("forward", "MiniGPT(5, 4, 1, 1, 4) on 4 tokens: logits and gradients", "MiniGPT", SMALL_GPT, 101,
                input={"ids": [1, 3, 0, 2]}, weight=2, mistakes=MODEL_MISTAKES),
        _module("two_layers", "two blocks, 3 tokens", "MiniGPT", dict(SMALL_GPT, num_layers=2), 102,
                input={"ids": [4, 4, 1]}, public=False, mistakes=MODEL_MISTAKES),
        Check("too_long", "more than max_seq_len tokens raises ValueError", "raises",
              {"kind": "MiniGPT", "ctor": SMALL_GPT, "ids": [0, 1, 2, 3, 4]}),
        _parameters("MiniGPT", SMALL_GPT),
    ), uses=ENGINE_TASKS + ("2.1", "2.5", "3.1", "3.2", "3.3", "3.4", "3.5"), component="MiniGPT"),
    Task("3.7", "cross_entropy_loss", 5, "gpt", (
        Check("mean", "T=3, V=4: the mean over positions, and gradients", "loss",
              {"T": 3, "V": 4, "seed": 111, "targets": [1, 0, 3]}, weight=2, mistakes=LOSS_MISTAKES),
        Check("large_logits", "logits around 1000: no overflow", "loss",
              {"T": 2, "V": 3, "seed": 112, "targets": [2, 0], "offset": 1000.0}, mistakes=LOSS_MISTAKES),
        Check("one_position", "a single position", "loss", {"T": 1, "V": 5, "seed": 113, "targets": [4]},
              public=False, mistakes=LOSS_MISTAKES),
        Check("wider", "T=4, V=6, spread-out logits", "loss",
              {"T": 4, "V": 6, "seed": 114, "targets": [5, 0, 2, 2], "spread": 6.0}, public=False,
              mistakes=LOSS_MISTAKES),
    ), uses=ENGINE_TASKS, component="cross_entropy_loss"),
    Task("3.8", "generate", 5, "gpt", (
        Check("returns", "returns the prompt followed by the new ids", "generate",
              {"ctor": SMALL_GPT, "seed": 121, "prompt": [1, 2], "new": 3}),
        Check("temperature_1", "draws follow softmax(logits) (chi-square test)", "sampling",
              {"ctor": SMALL_GPT, "seed": 122, "prompt": [3, 1], "temperature": 1.0, "draws": 400,
               "head_scale": 0.5}, timeout=60),
        Check("temperature_0_5", "draws follow softmax(logits / 0.5) (chi-square test)", "sampling",
              {"ctor": SMALL_GPT, "seed": 123, "prompt": [0, 4, 2], "temperature": 0.5, "draws": 400,
               "head_scale": 0.5}, timeout=60),
        Check("cropped", "a prompt longer than max_seq_len: the last max_seq_len ids are used", "sampling",
              {"ctor": SMALL_GPT, "seed": 124, "prompt": [2, 0, 1, 4, 3, 3, 1], "temperature": 1.0,
               "draws": 200, "head_scale": 0.5}, timeout=60, mistakes=("gpt_no_crop",)),
        Check("temperature_2", "draws follow softmax(logits / 2) (chi-square test)", "sampling",
              {"ctor": SMALL_GPT, "seed": 125, "prompt": [1], "temperature": 2.0, "draws": 400,
               "head_scale": 1.0}, public=False, timeout=60),
    ), uses=ENGINE_TASKS + MODEL_TASKS, component="generate"),
    Task("3.9", "Model sanity: init loss, causality, overfitting", 5, "gpt", (
        Check("init_loss", "untrained loss close to ln(vocab_size)", "init_loss",
              {"ctor": dict(SMALL_GPT, vocab_size=7, embed_dim=16, max_seq_len=8), "seeds": [1, 2, 3], "T": 8}),
        Check("causality", "changing token 2 changes logits at positions >= 2 only", "causality",
              {"ctor": dict(SMALL_GPT, max_seq_len=5), "seed": 4, "ids": [0, 3, 1, 4, 2], "k": 2}),
        Check("overfit", "one short sequence: loss below 0.5 after 40 Adam steps", "overfit",
              {"ctor": TRAIN_GPT, "seed": 5, "T": 5, "steps": 40, "lr": 0.05}, weight=2, timeout=120),
    ), uses=ENGINE_TASKS + MODEL_PARTS + ("3.7",),
        note="No code of its own: your whole model, with your own initialisation, must start near a uniform "
             "guess, never look at later tokens, and learn one short sequence by heart (the first sanity checks "
             "to run on any transformer written from scratch)."),
]

TASKS_BY_ID: Dict[str, Task] = {t.id: t for t in TASKS}
MAX_SCORE = sum(t.points for t in TASKS)

# Statistical test of generate(): a chi-square goodness-of-fit test of the drawn ids
# against softmax(logits / temperature), rejected below this p-value.
SAMPLING_ALPHA = 0.001
# Model sanity: the untrained loss must be within this of ln(vocab_size) (reasonable
# initialisations measure +0.1 to +0.5 here, micrograd's uniform(-1, 1) weights +1.6); the
# single-sequence training must end below OVERFIT_LOSS.
INIT_LOSS_TOLERANCE = 0.8
OVERFIT_LOSS = 0.5


def find_task(task_id: str) -> Task:
    """The task with this id ("3.2"; "task3_2" works too), or ValueError listing the ids."""
    key = task_id.replace("task", "").replace("_", ".")
    if key not in TASKS_BY_ID:
        raise ValueError(f"unknown task {task_id!r}; the tasks are {', '.join(TASKS_BY_ID)}")
    return TASKS_BY_ID[key]


def find_check(full_id: str) -> Tuple[Task, Check]:
    """The task and check of an id like "3.2:forward"."""
    task_id, _, name = full_id.partition(":")
    task = find_task(task_id)
    for c in task.checks:
        if c.name == name:
            return task, c
    raise ValueError(f"task {task.id} has no check {name!r}; its checks are {', '.join(c.name for c in task.checks)}")


def check_id(task: Task, check: Check) -> str:
    return f"{task.id}:{check.name}"

