"""Submissions for the exercise tests: the reference, the stubs, single-bug mutants and
hostile ones, written into temporary folders; and grades computed once per session.

A mutant is one typical student mistake, written as a text edit of the reference
solution, with the tasks that should lose points and words its feedback should hold.
The edits are written independently of minigpt/exercises/mistakes.py (often in other
words), so a hint has to come from the numbers, not from the text.
"""
import functools
import tempfile
from pathlib import Path
from typing import Dict, Iterable, NamedTuple, Optional, Set

from minigpt.exercises.grader import Report, grade
from minigpt.exercises.reference import SOLUTIONS_DIR
from minigpt.exercises.stubs import stubs

DATA = Path(__file__).resolve().parent
NAIVE = DATA / "naive"
FILES = ("engine", "nn", "gpt")


def sources(base: str) -> Dict[str, str]:
    """The three files of 'solutions', 'stubs' or 'naive'."""
    if base == "stubs":
        return stubs()
    folder = SOLUTIONS_DIR if base == "solutions" else DATA / base
    return {name: (folder / f"{name}.py").read_text(encoding="utf-8") for name in FILES}


def write_submission(folder, base: str = "solutions", edits: Iterable = (), prepend: Optional[Dict] = None,
                     drop: Iterable[str] = ()) -> Path:
    """Write a submission: `base`'s files with text `edits` (file, old, new; old must occur
    once), code put at the top of some files, and some files left out."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    texts = sources(base)
    for name, old, new in edits:
        assert texts[name].count(old) == 1, f"{name}.py should contain {old!r} once"
        texts[name] = texts[name].replace(old, new)
    for name, code in (prepend or {}).items():
        texts[name] = code + texts[name]
    for name in FILES:
        if name not in drop:
            (folder / f"{name}.py").write_text(texts[name], encoding="utf-8")
    return folder


@functools.lru_cache(maxsize=None)
def graded(base: str) -> Report:
    """The full grade of 'solutions', 'stubs' or 'naive', computed once per test session."""
    return grade(write_submission(tempfile.mkdtemp(prefix=f"graded-{base}-"), base))


def scores(report: Report) -> Dict[str, float]:
    return {r.task.id: r.score for r in report.tasks}


def feedback_of(report: Report, task_id: str) -> str:
    result = next(r for r in report.tasks if r.task.id == task_id)
    return "\n".join(result.notes + [c.message for c in result.checks])


class Mutant(NamedTuple):
    name: str
    file: str
    old: str
    new: str
    loses: Set[str]  # the tasks that must lose points (all others keep full credit)
    says: str        # words the feedback of the first of those tasks must hold


MUTANTS = [
    # ---- engine ----
    Mutant("tanh_forgets_square", "engine", "self.grad += (1 - t ** 2) * out.grad",
           "self.grad += (1 - t) * out.grad", {"1.5"}, "expected 1 - tanh(a)**2"),
    Mutant("relu_passes_everything", "engine", "self.grad += (1.0 if self.data > 0 else 0.0) * out.grad",
           "self.grad += out.grad", {"1.5"}, "expected 1 if a > 0 else 0"),
    Mutant("exp_uses_its_input", "engine", "self.grad += out.data * out.grad",
           "self.grad += self.data * out.grad", {"1.4"}, "expected exp(a)"),
    Mutant("log_without_reciprocal", "engine", "self.grad += (1 / self.data) * out.grad",
           "self.grad += self.data * out.grad", {"1.4"}, "expected 1/a"),
    Mutant("pow_keeps_the_exponent", "engine", "self.grad += other * self.data ** (other - 1) * out.grad",
           "self.grad += other * self.data ** other * out.grad", {"1.2"}, "expected 2*a"),
    Mutant("mul_forgets_numbers", "engine",
           "        other = other if isinstance(other, Value) else Value(other)\n        out = Value(self.data * other.data",
           "        out = Value(self.data * other.data", {"1.1"}, "AttributeError"),
    Mutant("add_assigns_grad", "engine", "            self.grad += out.grad\n            other.grad += out.grad",
           "            self.grad = out.grad\n            other.grad = out.grad", {"1.8"}, "(+=)"),
    Mutant("tanh_assigns_grad", "engine", "self.grad += (1 - t ** 2) * out.grad",
           "self.grad = (1 - t ** 2) * out.grad", {"1.8"}, "t = tanh(x)"),
    Mutant("topo_preorder", "engine",
           "            for child in v._prev:\n                visit(child)\n            order.append(v)",
           "            order.append(v)\n            for child in v._prev:\n                visit(child)", {"1.6"},
           "pre-order"),
    Mutant("topo_without_visited_set", "engine", "            visited.add(v)\n", "", {"1.6"}, "set of visited nodes"),
    Mutant("backward_not_reversed", "engine", "for v in reversed(order):", "for v in order[::1]:", {"1.7"},
           "reversed topological order"),
    # ---- nn ----
    Mutant("neuron_ignores_nonlin", "nn", "        self.nonlin = nonlin", "        self.nonlin = True", {"2.2"},
           "with nonlin=False the neuron returns w . x + b"),
    Mutant("mlp_relu_everywhere", "nn",
           "Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1) for i", "Layer(sizes[i], sizes[i + 1]) for i",
           {"2.4"}, "the last layer of an MLP is linear"),
    Mutant("linear_drops_bias", "nn", "            if self.bias is not None:",
           "            if self.bias is not None and False:", {"2.5"}, "the bias is not added"),
    # ---- gpt ----
    Mutant("embedding_copies_rows", "gpt", "return [list(self.weight[i]) for i in indices]",
           "return [[Value(v.data) for v in row] for row in (self.weight[i] for i in indices)]", {"3.1"},
           "no gradient reaches the embedding table"),
    Mutant("layernorm_unbiased_variance", "gpt", "var = sum((xi - mean) ** 2 for xi in x) / n",
           "var = sum((xi - mean) ** 2 for xi in x) / (len(x) - 1)", {"3.2"}, "unbiased"),
    Mutant("layernorm_eps_outside_sqrt", "gpt", "inv_std = (var + self.eps) ** -0.5",
           "inv_std = (var ** 0.5 + self.eps) ** -1", {"3.2"}, "eps is added outside the square root"),
    Mutant("gelu_is_relu", "gpt",
           "    return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)).tanh())",
           "    return x.relu()", {"3.3"}, "ReLU is used where GELU"),
    Mutant("attention_without_mask", "gpt", "visible = range(t + 1) if causal else range(len(x))",
           "visible = range(len(x))", {"3.4"}, "no causal mask"),
    Mutant("attention_without_scale", "gpt", "scale = 1 / math.sqrt(self.embed_dim)", "scale = 1", {"3.4"},
           "the scores are not scaled"),
    Mutant("softmax_without_max", "gpt",
           "    m = max(s.data for s in scores)\n    exps = [(s - m).exp() for s in scores]",
           "    exps = [s.exp() for s in scores]", {"3.4"}, "softmax overflows"),
    Mutant("block_post_norm", "gpt",
           "        attended = self.attn([self.ln1(xt) for xt in x], causal=True)\n"
           "        x = [add_vectors(xt, at) for xt, at in zip(x, attended)]  # residual around attention\n"
           "        return [add_vectors(xt, self.ffn(self.ln2(xt))) for xt in x]  # residual around the FFN",
           "        x = [self.ln1(add_vectors(xt, at)) for xt, at in zip(x, self.attn(x))]\n"
           "        return [self.ln2(add_vectors(xt, self.ffn(xt))) for xt in x]", {"3.5"}, "post-norm"),
    Mutant("model_skips_ln_f", "gpt", "return [self.lm_head(self.ln_f(xt)) for xt in x]",
           "return [self.lm_head(xt) for xt in x]", {"3.6"}, "ln_f is not applied"),
    Mutant("loss_summed", "gpt", "return sum(losses) / len(losses)  # the mean, not the sum", "return sum(losses)",
           {"3.7"}, "the loss is summed over positions"),
    Mutant("loss_without_max", "gpt",
           "        m = max(z.data for z in row)\n        log_sum_exp = sum((z - m).exp() for z in row).log() + m",
           "        log_sum_exp = sum(z.exp() for z in row).log()", {"3.7"}, "exp() overflows"),
    Mutant("generate_ignores_temperature", "gpt", "logits = [z.data / temperature for z in model(context)[-1]]",
           "logits = [z.data for z in model(context)[-1]]", {"3.8"}, "the temperature is ignored"),
    Mutant("generate_does_not_crop", "gpt", "context = ids[-model.max_seq_len:]", "context = ids", {"3.8"},
           "crop"),
]
MUTANTS_BY_NAME = {m.name: m for m in MUTANTS}


# --------------------------------------------------------------------------------------
# Independent solutions in other styles, and the same five single-bug variants of each
# --------------------------------------------------------------------------------------
# naive: Module.parameters() walks vars() of every module of its own Module class;
# walker: it walks self.__dict__ and asks each sub-module of its own class for parameters();
# registry: PyTorch style, Module.__setattr__ registers sub-modules, parameters() a generator;
# explicit: every class lists its own parameters (lists, generators, itertools.chain).
STYLES = ("naive", "walker", "registry", "explicit")


class Variant(NamedTuple):
    bug: str
    task: str   # the task the bug is in: only it may lose points
    file: str
    old: str
    new: str


_FRESH = "[[Value(w.data) for w in self.weight[i]] for i in indices]"
VARIANTS = {
    "naive": [
        Variant("layernorm_variance", "3.2", "nn", "var = sum(c * c for c in centred) * (1.0 / len(x))",
                "var = sum(c * c for c in centred) * (1.0 / (len(x) - 1))"),
        Variant("layernorm_mean_from_data", "3.2", "nn", "mu = sum(x) * (1.0 / len(x))",
                "mu = sum(xi.data for xi in x) * (1.0 / len(x))"),
        Variant("gelu_without_half", "3.3", "nn", "h = [0.5 * z * (1.0 + ", "h = [z * (1.0 + "),
        Variant("attention_scaled_by_d", "3.4", "nn", "/ math.sqrt(self.d)", "/ self.d"),
        Variant("embedding_fresh_values", "3.1", "nn", "return [self.weight[i] for i in indices]",
                "return " + _FRESH),
    ],
    "walker": [
        Variant("layernorm_variance", "3.2", "gpt", "for xi in x), Value(0.0)) / d", "for xi in x), Value(0.0)) / (d - 1)"),
        Variant("layernorm_mean_from_data", "3.2", "gpt", "mean = sum(x, Value(0.0)) / d",
                "mean = sum(xi.data for xi in x) / d"),
        Variant("gelu_without_half", "3.3", "gpt", "return 0.5 * x * (1.0 + inner.tanh())",
                "return x * (1.0 + inner.tanh())"),
        Variant("attention_scaled_by_d", "3.4", "gpt", "/ math.sqrt(self.embed_dim) for j", "/ self.embed_dim for j"),
        Variant("embedding_fresh_values", "3.1", "gpt", "return [self.weight[i][:] for i in indices]",
                "return " + _FRESH),
    ],
    "registry": [
        Variant("layernorm_variance", "3.2", "gpt", "variance = sum(d * d for d in diffs) / n",
                "variance = sum(d * d for d in diffs) / (n - 1)"),
        Variant("layernorm_mean_from_data", "3.2", "gpt", "mu = sum(x) / n", "mu = sum(xi.data for xi in x) / n"),
        Variant("gelu_without_half", "3.3", "gpt", "return 0.5 * x * (1 + (math.sqrt", "return x * (1 + (math.sqrt"),
        Variant("attention_scaled_by_d", "3.4", "gpt", "* (1 / math.sqrt(self.embed_dim))", "* (1 / self.embed_dim)"),
        Variant("embedding_fresh_values", "3.1", "gpt", "return [[w for w in self.weight[i]] for i in indices]",
                "return " + _FRESH),
    ],
    "explicit": [
        Variant("layernorm_variance", "3.2", "gpt", "var = sum((v - mean) ** 2 for v in x) / len(x)",
                "var = sum((v - mean) ** 2 for v in x) / (len(x) - 1)"),
        Variant("layernorm_mean_from_data", "3.2", "gpt", "mean = sum(x) / len(x)",
                "mean = sum(v.data for v in x) / len(x)"),
        Variant("gelu_without_half", "3.3", "gpt", "return 0.5 * v * (1 + ", "return v * (1 + "),
        Variant("attention_scaled_by_d", "3.4", "gpt", "/ self.d ** 0.5 for j", "/ self.d for j"),
        Variant("embedding_fresh_values", "3.1", "gpt", "return [list(self.weight[i]) for i in indices]",
                "return " + _FRESH),
    ],
}


def write_variant(folder, style: str, variant: Variant) -> Path:
    return write_submission(folder, style, [(variant.file, variant.old, variant.new)])


def lost_elsewhere(report: Report, task_id: str) -> float:
    """Points lost outside task `task_id`."""
    return round(sum(r.task.points - r.score for r in report.tasks if r.task.id != task_id), 2)
