"""Judging one check: the student's raw data against the reference's, with feedback.

`judge(task, check, answer, reference)` returns a Verdict (passed, message). The
answer is what a probe returned for the student's code ({'raw': ...} or
{'error': ...}); `reference(mistake)` gives the reference's answer, with a typical
mistake put in when `mistake` is a name from mistakes.py. Every number, pass or
fail, is decided here, in the grader's process.

Feedback says what was expected and what came out, with the tolerance; for an
operation, which derivative and its formula; for a module, the weights whose
gradients are furthest off; and, when the student's numbers match a typical
mistake, its name and how to fix it.
"""
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

from . import probes
from .mistakes import MISTAKES
from .tasks import (ATOL, INIT_LOSS_TOLERANCE, OVERFIT_LOSS, RTOL, SAMPLING_ALPHA, Check, Task)

Reference = Callable[[Optional[str]], dict]
TOLERANCE = f"tolerance {ATOL:g} + {RTOL:g} * |expected|"


@dataclass
class Verdict:
    passed: bool
    message: str = ""


def fmt(x) -> str:
    """A number as feedback shows it: 7 significant digits, and never -0."""
    if isinstance(x, float):
        return "0" if x == 0 else f"{x:.7g}"  # never "-0": it reads as a sign error that is not there
    if isinstance(x, list):
        return "[" + ", ".join(fmt(v) for v in x) + "]"
    return str(x)


def close(got, expected) -> bool:
    try:
        return abs(got - expected) <= ATOL + RTOL * abs(expected)
    except TypeError:
        return False


# --------------------------------------------------------------------------------------
# Comparing nested numbers
# --------------------------------------------------------------------------------------
def differences(got, expected, label: str) -> List[tuple]:
    """(size, label, got, expected) for every number of `got` that is not close to `expected`."""
    if isinstance(expected, dict):
        got = got if isinstance(got, dict) else {}
        return [d for key in expected for d in differences(got.get(key), expected[key], key)]
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return [(math.inf, label, "a different shape", "length %d" % len(expected))]
        return [d for i, (g, e) in enumerate(zip(got, expected)) for d in differences(g, e, f"{label}[{i}]")]
    if close(got, expected):
        return []
    size = abs(got - expected) if isinstance(got, float) and not math.isnan(got) else math.inf
    return [(size, label, got, expected)]


def count_numbers(x) -> int:
    if isinstance(x, dict):
        return sum(count_numbers(v) for v in x.values())
    if isinstance(x, list):
        return sum(count_numbers(v) for v in x)
    return 1


def describe_differences(what: str, found: List[tuple], expected, most: int = 3) -> str:
    worst = sorted(found, key=lambda d: -d[0])[:most]
    listed = "; ".join(f"{label}: got {fmt(g)}, expected {fmt(e)}" for _, label, g, e in worst)
    return f"{what}: {len(found)} of {count_numbers(expected)} numbers differ ({TOLERANCE}). Largest: {listed}"


def numbers_match(a: dict, b: dict, keys: Sequence[str]) -> bool:
    return all(k in a and k in b for k in keys) and not differences([a[k] for k in keys], [b[k] for k in keys], "")


# --------------------------------------------------------------------------------------
# Errors and typical mistakes
# --------------------------------------------------------------------------------------
def explain_error(error: dict) -> str:
    kind, message, where = error.get("type", "?"), error.get("message", ""), error.get("where", "")
    at = f" ({where})" if where else ""
    if kind == "NotImplementedError":  # the stub's own raise: where it is, not the line again
        return f"not implemented yet: {message or 'NotImplementedError'}" + (f" ({where.split(':')[0]})" if where else "")
    if kind == "ContractError":
        return f"does not follow the contract: {message}"
    if kind in ("Timeout", "TimeBudget", "WorkerDied", "MissingFile", "ImportFailed", "MemoryLimit"):
        return message
    return f"raised {kind}: {message}{at}"


# Which numbers of a probe's raw data must agree for the student's code to "do the same
# thing" as a variant with a typical mistake (any one group of keys is enough).
SAME_BEHAVIOUR = {"module": (("out", "grads"),), "loss": (("loss", "grads"),)}


def behaviour_keys(check: Check):
    if check.probe == "graph":  # the ways of getting gradients this check accepts
        return [(way,) for way in check.args["ways"] if way in ("driven", "own")]
    return SAME_BEHAVIOUR.get(check.probe, ())


def mistake_hints(check: Check, answer: dict, reference: Reference) -> List[str]:
    """Hints of the typical mistakes whose reference variant behaves like the student's code:
    it fails the same way, or it gives the student's numbers where those differ from the
    reference's."""
    hints = []
    for name in check.mistakes:
        variant = reference(name)
        if "error" in answer:
            same = (answer["error"]["type"] in MISTAKES[name].errors
                    or "error" in variant and variant["error"]["type"] == answer["error"]["type"])
        else:
            expected = reference(None)
            same = "raw" in variant and "raw" in expected and any(
                numbers_match(answer["raw"], variant["raw"], keys)
                and not numbers_match(expected["raw"], variant["raw"], keys)
                for keys in behaviour_keys(check))
        if same:
            hints.append(f"likely mistake: {MISTAKES[name].hint}")
    return hints


def judge(task: Task, check: Check, answer: dict, reference: Reference) -> Verdict:
    """Pass or fail, and why, for one check."""
    if "error" in answer:
        verdict = Verdict(False, explain_error(answer["error"]))
        if check.probe == "sampling" and len(check.args["prompt"]) > check.args["ctor"]["max_seq_len"]:
            verdict.message += (f"\nhint: the prompt has {len(check.args['prompt'])} ids and max_seq_len is "
                                f"{check.args['ctor']['max_seq_len']}; generate must crop the context")
    else:
        verdict = JUDGES[check.probe](task, check, answer["raw"], reference)
    if not verdict.passed:
        hints = [h for h in mistake_hints(check, answer, reference) if h not in verdict.message]
        if hints:
            verdict.message += "\n" + "\n".join(hints)
    return verdict


# --------------------------------------------------------------------------------------
# engine: operations and graphs
# --------------------------------------------------------------------------------------
# d(result)/d(input) of each expression, as a formula to show next to the expected number.
FORMULAS = {
    "a + b": {"a": "1", "b": "1"}, "a + 2": {"a": "1"}, "2 + a": {"a": "1"},
    "a * b": {"a": "b", "b": "a"}, "a * 3": {"a": "3"}, "3 * a": {"a": "3"},
    "a ** 2": {"a": "2*a"}, "a ** 3": {"a": "3*a**2"}, "a ** -1": {"a": "-1/a**2"}, "a ** 0.5": {"a": "0.5/sqrt(a)"},
    "-a": {"a": "-1"}, "a - b": {"a": "1", "b": "-1"}, "a - 1": {"a": "1"}, "1 - a": {"a": "-1"},
    "a / b": {"a": "1/b", "b": "-a/b**2"}, "a / 2": {"a": "1/2"}, "2 / a": {"a": "-2/a**2"},
    "exp(a)": {"a": "exp(a)"}, "log(a)": {"a": "1/a"}, "tanh(a)": {"a": "1 - tanh(a)**2"},
    "relu(a)": {"a": "1 if a > 0 else 0"},
}


def judge_op(task, check, raw, reference) -> Verdict:
    ref = reference(None)["raw"]
    args, expr = check.args, check.args["expr"]
    at = f"{expr} at a={args['a']:g}" + (f", b={args['b']:g}" if "b" in args else "")
    problems = []
    if not close(raw["data"], ref["data"]):
        problems.append(f"{at}: value {fmt(raw['data'])}, expected {fmt(ref['data'])}")
    if "children" in ref and raw.get("children") != ref["children"]:
        problems.append(f"{at}: the result's _prev should hold its inputs ({', '.join(ref['children'])}) "
                        f"so that backward can reach them")
    expected = ref["own"]
    if not any(w in raw and not differences(raw[w], expected, "") for w in ("driven", "own")):
        way = "driven" if "driven" in raw else "own" if "own" in raw else None
        if way is None:
            problems.append(f"{at}: no gradients: backward() {explain_error(raw['own_error'])}, and the result "
                            f"has no _backward to call")
        else:
            kind = "local derivative" if expr in probes.DIRECT else "gradient"
            for name, e in expected.items():
                if not close(raw[way][name], e):
                    problems.append(f"{at}: {kind} with respect to {name} is {fmt(raw[way][name])}, expected "
                                    f"{FORMULAS[expr][name]} = {fmt(e)}")
    if problems:
        problems.append(f"({TOLERANCE})")
    return Verdict(not problems, "\n".join(problems))


def step_text(step) -> str:
    """"s = x + y", "t = tanh(x)", "p = x ** 2": one step of a probe graph."""
    node, op, left, right = step
    if right is None:
        return f"{node} = {left} ** 2" if op == "**2" else f"{node} = {op}({left})"
    return f"{node} = {left} {op} {right:g}" if isinstance(right, float) else f"{node} = {left} {op} {right}"


def graph_text(name: str) -> str:
    graph = probes.GRAPHS[name]
    steps = ", ".join(step_text(step) for step in graph["steps"])
    leaves = ", ".join(f"{n} = {x:g}" for n, x in graph["leaves"].items())
    return f"{steps} (with {leaves})"


def order_problems(order: List[str], name: str) -> List[str]:
    graph = probes.GRAPHS[name]
    nodes = list(graph["leaves"]) + [step[0] for step in graph["steps"]]
    order = [n for n in order if n != "?"]  # nodes the probe did not name (e.g. constants)
    problems = [f"{n} appears {order.count(n)} times" for n in nodes if order.count(n) > 1]
    problems += [f"{n} is missing" for n in nodes if n not in order]
    if problems:
        return problems
    position = {n: order.index(n) for n in nodes}
    return [f"{node} comes before its child {child}" for node, _, left, right in graph["steps"]
            for child in dict.fromkeys((left, right)) if position[child] > position[node]]


def call_problems(calls: List[str], name: str) -> List[str]:
    """What is wrong with the order in which backward() called the operation nodes' _backward
    (each once, a node before the nodes it was computed from); leaves do not matter."""
    steps = probes.GRAPHS[name]["steps"]
    inner = [step[0] for step in steps]
    problems = [f"{n}._backward is called {calls.count(n)} times" for n in inner if calls.count(n) > 1]
    problems += [f"{n}._backward is never called" for n in inner if n not in calls]
    if problems:
        return problems
    position = {n: calls.index(n) for n in inner}
    return [f"{child}._backward is called before {node}._backward, though {node} uses {child}"
            for node, _, left, right in steps for child in dict.fromkeys((left, right))
            if child in position and position[child] < position[node]]


def not_accumulating(raw: dict, name: str) -> List[str]:
    """The operations whose _backward sets an input's grad instead of adding to it, from the
    probe's two calls of each node's _backward (from 0.0, and on top of a grad already
    there); [] when every one adds a contribution that is not 0."""
    steps = {step[0]: step_text(step) for step in probes.GRAPHS[name]["steps"]}
    return [steps.get(node, node) for node, pairs in raw["accumulation"].items()
            if any(not close(added, first) or first == 0 for first, added in pairs)]


def judge_graph(task, check, raw, reference) -> Verdict:
    """Task 1.6 accepts a valid topological_order(), a valid order of the _backward calls
    backward() makes, or right gradients from backward() (so a wrong local derivative, task
    1.1 or 1.8, does not cost the sort); 1.7 needs backward(); 1.8 accepts right gradients
    from the probe-driven _backward calls or backward(), or every _backward adding to the
    grads it reaches (whatever it adds: a wrong derivative is task 1.1's)."""
    ref = reference(None)["raw"]
    expected, ways, graph = ref["own"], check.args["ways"], check.args["graph"]
    passing = [w for w in ways if w in raw and w not in ("order", "calls") and not differences(raw[w], expected, "")]
    if "order" in ways and "order" in raw and not order_problems(raw["order"], graph):
        passing.append("order")
    if "calls" in ways and "calls" in raw and not call_problems(raw["calls"], graph):
        passing.append("calls")
    # 1.8 tests that gradients add up; wrong local derivatives are task 1.1's to lose
    if "accumulation" in ways and "accumulation" in raw and not not_accumulating(raw, graph):
        passing.append("accumulation")
    if passing:
        return Verdict(True)
    lines = [f"graph: {graph_text(graph)}"]
    problems = []
    if "order" in ways:
        if "order" in raw:
            problems = order_problems(raw["order"], graph)
            lines.append("topological_order(L): " + "; ".join(problems) + f" (got {', '.join(raw['order'])})")
        elif "order_error" in raw:
            lines.append(f"topological_order(L) {explain_error(raw['order_error'])}")
    if "calls" in ways and "calls" in raw and "order" not in raw:
        problems = call_problems(raw["calls"], graph)
        lines.append("L.backward() calls the nodes' _backward in a wrong order: " + "; ".join(problems)
                     + f" (the calls: {', '.join(raw['calls'])})")
    # the order itself shows these two mistakes (the gradients they give depend on set order)
    if any(" times" in p for p in problems):
        lines.append(f"likely mistake: {MISTAKES['no_visited'].hint}")
    elif any(" before " in p for p in problems):
        lines.append(f"likely mistake: {MISTAKES['preorder'].hint}")
    if "accumulation" in ways and "accumulation" in raw and not_accumulating(raw, graph):
        lines.append("these nodes' _backward set their inputs' grads (=) instead of adding to them (+=): "
                     + "; ".join(not_accumulating(raw, graph)))
    for way in ways:
        if way not in ("driven", "own"):
            continue
        label = "after L.backward()" if way == "own" else "calling each node's _backward in order"
        if way in raw:
            wrong = [f"{n}.grad = {fmt(raw[way][n])}, expected {fmt(e)}"
                     for n, e in expected.items() if not close(raw[way][n], e)]
            lines.append(f"{label}: " + "; ".join(wrong))
        elif f"{way}_error" in raw:
            lines.append(f"{label}: {explain_error(raw[way + '_error'])}")
    return Verdict(False, "\n".join(lines))


# --------------------------------------------------------------------------------------
# nn and gpt modules
# --------------------------------------------------------------------------------------
def judge_call(task, check, raw, reference) -> Verdict:
    expected = reference(None)["raw"]["result"]
    if close(raw["result"], expected):
        return Verdict(True)
    return Verdict(False, f"module(3.0, scale=2.0) gave {fmt(raw['result'])}; forward(3.0, scale=2.0) gives "
                          f"{fmt(expected)}: __call__ should return self.forward(*args, **kwargs)")


def judge_zero_grad(task, check, raw, reference) -> Verdict:
    if all(g == 0.0 for g in raw["grads"]):
        return Verdict(True)
    return Verdict(False, f"after zero_grad() the grads of parameters() are {fmt(raw['grads'])}; expected all 0")


def parameters_problems(got: dict) -> List[str]:
    problems = []
    if got["n_missing"]:
        problems.append(f"parameters() misses {got['n_missing']} of the {got['expected']} weights, e.g. "
                        + ", ".join(got["missing"]))
    if got["extra"]:
        problems.append(f"parameters() returns {got['extra']} Values that are none of the contract's weights")
    if got["duplicates"]:
        problems.append(f"parameters() returns some Values more than once ({got['duplicates']} repeats); "
                        f"each parameter must appear once")
    return problems


def judge_module(task, check, raw, reference) -> Verdict:
    ref = reference(None)["raw"]
    problems = parameters_problems(raw["params"]) if "params" in raw else []
    if "bias_is_none" in ref and raw.get("bias_is_none") != ref["bias_is_none"]:
        problems.append("bias should be None when bias=False" if ref["bias_is_none"]
                        else "bias should be a list of Values when bias=True")
    if "out" in ref:
        wrong_out = differences(raw["out"], ref["out"], "output")
        if wrong_out:
            problems.append(describe_differences("output", wrong_out, ref["out"]))
        else:
            wrong_grads = differences(raw["grads"], ref["grads"], "")
            if wrong_grads:
                problems.append(describe_differences("the output matches, but gradients", wrong_grads, ref["grads"]))
    return Verdict(not problems, "\n".join(problems))


def judge_raises(task, check, raw, reference) -> Verdict:
    n, limit = len(check.args["ids"]), check.args["ctor"]["max_seq_len"]
    if raw["value_error"]:
        return Verdict(True)
    got = "raised nothing" if raw["raised"] is None else f"raised {raw['raised']}: {raw['message']}"
    return Verdict(False, f"forward on {n} tokens with max_seq_len={limit} {got}; expected a ValueError naming the limit")


def judge_loss(task, check, raw, reference) -> Verdict:
    ref = reference(None)["raw"]
    if not close(raw["loss"], ref["loss"]):
        return Verdict(False, f"loss {fmt(raw['loss'])}, expected {fmt(ref['loss'])} ({TOLERANCE})")
    wrong = differences(raw["grads"], ref["grads"], "")
    if wrong:
        return Verdict(False, describe_differences("the loss matches, but gradients", wrong, ref["grads"]))
    return Verdict(True)


# --------------------------------------------------------------------------------------
# generate: return value and a chi-square test of the draws
# --------------------------------------------------------------------------------------
def judge_generate(task, check, raw, reference) -> Verdict:
    a = check.args
    ids, prompt, vocab = raw["ids"], a["prompt"], a["ctor"]["vocab_size"]
    want = f"the prompt {prompt} followed by {a['new']} ids"
    if not isinstance(ids, list):
        return Verdict(False, f"generate returned {ids}; expected a list: {want}")
    if len(ids) != len(prompt) + a["new"] or ids[:len(prompt)] != prompt:
        text = f"generate returned {fmt(ids)}; expected {want}"
        if only_new_ids(ids, prompt, a["new"]):
            text += f"\nlikely mistake: {MISTAKES['gen_only_new'].hint}"
        return Verdict(False, text)
    bad = [i for i in ids[len(prompt):] if not isinstance(i, int) or not 0 <= i < vocab]
    if bad:
        return Verdict(False, f"generate returned {ids}: {bad[0]} is not a token id in range({vocab})")
    return Verdict(True)


def only_new_ids(ids, prompt, new: int) -> bool:
    """Does a wrong return value of generate look like the new ids without the prompt?"""
    return isinstance(ids, list) and len(ids) == new and ids[:len(prompt)] != prompt


def softmax(logits: List[float], temperature: float = 1.0) -> List[float]:
    scaled = [z / temperature for z in logits]
    m = max(scaled)
    exps = [math.exp(z - m) for z in scaled]
    return [e / sum(exps) for e in exps]


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X ~ chi-square with `dof` degrees of freedom: the regularized upper
    incomplete gamma function Q(dof/2, x/2), by its series (small x) or continued fraction."""
    a, z = dof / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    front = math.exp(-z + a * math.log(z) - math.lgamma(a))
    if z < a + 1:  # P(a, z) = front * sum_n z^n / (a (a+1) ... (a+n))
        term = total = 1.0 / a
        n = a
        while term > total * 1e-16:
            n += 1
            term *= z / n
            total += term
        return max(0.0, 1.0 - front * total)
    tiny = 1e-300  # Q(a, z) = front / (z + 1 - a - 1(1-a)/(z + 3 - a - 2(2-a)/(z + 5 - a - ...))), Lentz's method
    b = z + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return front * h


def chi_square(counts: List[int], probs: List[float]) -> tuple:
    """(statistic, degrees of freedom, p-value) of counts against probabilities.

    Categories expected fewer than 5 times are pooled, as the test needs. A draw of
    a category of probability 0 rejects the probabilities outright (p = 0)."""
    if any(c and p == 0 for c, p in zip(counts, probs)):
        return math.inf, 0, 0.0
    n = sum(counts)
    big = [(c, n * p) for c, p in zip(counts, probs) if n * p >= 5]
    small = [(c, n * p) for c, p in zip(counts, probs) if n * p < 5]
    if small:
        pooled = (sum(c for c, _ in small), sum(e for _, e in small))
        if pooled[1] < 5 and big:
            i = min(range(len(big)), key=lambda k: big[k][1])
            pooled = (pooled[0] + big[i][0], pooled[1] + big[i][1])
            big.pop(i)
        big.append(pooled)
    if len(big) < 2:
        return 0.0, 0, 1.0
    stat = sum((c - e) ** 2 / e for c, e in big)
    dof = len(big) - 1
    return stat, dof, chi2_sf(stat, dof)


def judge_sampling(task, check, raw, reference) -> Verdict:
    a = check.args
    t, context = a["temperature"], a["prompt"][-a["ctor"]["max_seq_len"]:]
    if "bad_return" in raw:
        text = (f"generate(model, {a['prompt']}, 1) returned {raw['bad_return']}; expected the prompt followed by "
                f"one id in range({a['ctor']['vocab_size']})")
        if raw.get("returned_length") == 1:  # the new id without the prompt
            text += f"\nlikely mistake: {MISTAKES['gen_only_new'].hint}"
        return Verdict(False, text)
    logits, counts = raw["logits"], raw["counts"]
    probs = softmax(logits, t)
    stat, dof, p = chi_square(counts, probs)
    if p >= SAMPLING_ALPHA:
        return Verdict(True)
    shown = f"softmax(logits / {t:g})" if t != 1 else "softmax(logits)"
    lines = [f"{a['draws']} draws of the next id after {context} (random.seed({a['seed']})) do not follow "
             f"{shown}: chi-square {stat:.1f} with {dof} degrees of freedom, p = {p:.2g} < {SAMPLING_ALPHA:g}",
             "drawn:    " + " ".join(f"{c:4d}" for c in counts),
             "expected: " + " ".join(f"{a['draws'] * q:4.0f}" for q in probs),
             "(the expected counts use your model's own logits for this context: "
             + ", ".join(fmt(z) for z in logits) + ")"]
    best = max(range(len(logits)), key=lambda i: logits[i])
    alternatives = [("the temperature is ignored (softmax(logits))", softmax(logits)),
                    (f"the logits are multiplied by the temperature (softmax(logits * {t:g}))",
                     softmax(logits, 1 / t)),
                    ("the most likely id is always taken (argmax, not sampling)",
                     [1.0 if i == best else 0.0 for i in range(len(logits))]),
                    ("every id is drawn with the same probability (the logits are not used)",
                     [1 / len(logits)] * len(logits))]
    fits = [(chi_square(counts, q)[2], text) for text, q in alternatives if differences(q, probs, "")]
    best = max(fits, default=(0.0, ""))
    if best[0] >= SAMPLING_ALPHA:
        lines.append(f"likely mistake: the draws fit the case where {best[1]} (p = {best[0]:.2g})")
    return Verdict(False, "\n".join(lines))


# --------------------------------------------------------------------------------------
# whole-model sanity checks (seeds 000, 002, 004)
# --------------------------------------------------------------------------------------
def judge_init_loss(task, check, raw, reference) -> Verdict:
    vocab = check.args["ctor"]["vocab_size"]
    losses = raw["losses"]
    mean = sum(losses) / len(losses)
    target = math.log(vocab)
    if abs(mean - target) <= INIT_LOSS_TOLERANCE:
        return Verdict(True)
    text = (f"untrained models (your initialisation, random.seed {check.args['seeds']}) have mean loss {fmt(mean)} "
            f"over every possible next token; a uniform guess over {vocab} tokens gives ln({vocab}) = {fmt(target)}, "
            f"and an untrained model should be within {INIT_LOSS_TOLERANCE:g} of it")
    if not math.isfinite(mean):
        text += "\nhint: the loss is not a finite number"
    elif mean > target:
        text += ("\nhint: far too high: the initial logits are too large (e.g. Linear weights uniform in "
                 "+-1/sqrt(in_features), not +-1)")
    else:
        text += ("\nhint: lower than a uniform guess before any training: check that the loss averages "
                 "-log p(target) over positions and that targets are not fed in as inputs")
    return Verdict(False, text)


def judge_causality(task, check, raw, reference) -> Verdict:
    k, a, b = raw["k"], raw["a"], raw["b"]
    leaked = [t for t in range(k) if differences(b[t], a[t], "")]
    unchanged = [t for t in range(k, len(a)) if not differences(b[t], a[t], "")]
    lines = []
    if leaked:
        lines.append(f"changing token {k} changed the logits at position(s) {leaked}: earlier positions see a later "
                     f"token (no causal mask, or a mask in the wrong direction)")
    if unchanged:
        lines.append(f"changing token {k} left the logits at position(s) {unchanged} unchanged: the input does not "
                     f"reach later positions (are the embeddings added and every block applied?)")
    return Verdict(not lines, "\n".join(lines))


def judge_overfit(task, check, raw, reference) -> Verdict:
    losses = raw["losses"]
    final = losses[-1]
    if math.isfinite(final) and final < OVERFIT_LOSS:
        return Verdict(True)
    text = (f"training on one sequence of {check.args['T']} tokens (Adam, lr {check.args['lr']:g}, "
            f"{check.args['steps']} steps, on parameters()) took the loss from {fmt(losses[0])} to {fmt(final)}; "
            f"it should end below {OVERFIT_LOSS:g}")
    if raw["n_params"] == 0:
        text += "\nhint: parameters() returned nothing, so the optimiser had nothing to train"
    else:
        text += ("\nhint: the optimiser only updates what parameters() returns: does it return every weight? "
                 "Then check the residual connections and the direction of the causal mask")
    return Verdict(False, text)


JUDGES = {
    "op": judge_op, "graph": judge_graph, "call": judge_call, "zero_grad": judge_zero_grad,
"module": judge_module, "raises": judge_raises,
    "loss": judge_loss, "generate": judge_generate, "sampling": judge_sampling,
    "init_loss": judge_init_loss, "causality": judge_causality, "overfit": judge_overfit,
}
