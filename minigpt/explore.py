"""What a trained Mini-GPT does with a prompt, as plain numbers (the explore page's data).

    explore(model, tokenizer, prompt)        the page: shown inline in a notebook, .save(path)
    explore_data(model, tokenizer, prompt)   the numbers alone, a JSON-ready dict (below)
    next_token_probs(logits, temperature, top_k)   the distribution `generate` samples from

`trace` runs the model's forward pass step by step with the model's own layers and its
readable attention formula (softmax of q.k/sqrt(d), then the weighted sum of the
values), keeping every intermediate Value: the logits are those of `model(ids)` (a
test checks it), and the attention weights are nodes of the graph, so `backward()`
gives the gradient of a prediction's loss with respect to each of them and to each
input vector. Nothing in the model changes; its parameters' `.grad` are restored.

The dict `explore_data` returns (T prompt tokens, L layers, H heads, d model width,
f feed-forward width, V vocabulary; most numbers rounded to 4 significant digits):

    model        sizes, parameter count, training step
    tokens, ids  the prompt as tokens [T]; vocab [V] every token's text
    predictions  [T] the top next tokens after each position: [[id, probability], ...]
    attention    [L][H] {"scores": [T][t+1] q.k/sqrt(hd), "weights": [T][t+1]}  (row t: 0..t)
    trace        {t: one position through the model}: embeddings, and per layer ln1, q, k,
                 v (after RoPE), per head its weighted sum, the output projection, the
                 residuals, ln2, the feed-forward's hidden layer before and after GELU,
                 then ln_f, logits [V] and probabilities [V]
    saliency     {"t:target": gradients of -log p(target | tokens 0..t)}: "inputs" [T] the
                 length of d loss / d x_s for each input vector x_s (token + position
                 embedding), "grad_x_input" [T] x_s . d loss / d x_s, "attention"
                 [L][H][T][t+1] d loss / d weight
    sampling     the last position's logits [V] in full precision, for the page's slider
    metrics      the training run's loss curves (None without a metrics file)
    omitted      what was left out to keep the page small, in words
"""
from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

from .engine import Value, topological_order
from .functional import dot, gelu, logsumexp, softmax, vsum
from .nn import apply_rope, linear

__all__ = ["explore", "explore_data", "trace", "next_token_probs", "read_metrics", "metrics_beside",
           "ExplorePage"]

# Above this many numbers in the step-through and saliency sections, they cover only
# the chosen position (the demo model with its 8-token prompt needs about 8,000).
DEFAULT_BUDGET = 60_000
MAX_CURVE_POINTS = 400


def _r(x: float) -> float:
    """x in 4 significant digits: what the page shows, at a fifth of the size."""
    return float(f"{x:.4g}")


def _rv(xs) -> List[float]:
    return [_r(v.data if isinstance(v, Value) else v) for v in xs]


# --------------------------------------------------------------------------------------
# the forward pass, kept
# --------------------------------------------------------------------------------------
def trace(model, ids: Sequence[int]) -> Dict[str, object]:
    """Run `model` on `ids` keeping every intermediate Value.

    Returns a dict of Values: "x0" [T][d] (fresh leaves, one per position, holding
    token + position embedding, so each position gets its own gradient), "layers"
    [L] of dicts ("ln1", "q", "k", "v", "heads_out", "attn_out", "resid1", "ln2",
    "hidden", "act", "ffn_out", "resid2": each [T][width]; "q_raw", "k_raw" before
    RoPE; "scores" and "weights" [H][T][t+1]), "ln_f" [T][d] and "logits" [T][V].
    The arithmetic is the model's: tests check the logits against `model(ids)`."""
    ids = model.check_tokens(list(ids))
    T = len(ids)
    tok = [[w.data for w in model.tok_emb.weight[i]] for i in ids]
    if model.pos_emb is not None:
        pos = [[w.data for w in model.pos_emb.weight[t]] for t in range(T)]
        x = [[Value(a + b) for a, b in zip(tr, pr)] for tr, pr in zip(tok, pos)]
    else:
        pos = None
        x = [[Value(a) for a in tr] for tr in tok]
    x0 = x
    layers = []
    for block in model.blocks:
        attn = block.attn
        ln1 = [block.ln1(xt) for xt in x]                                 # [T][d]
        q, k, v = attn.q_proj(ln1), attn.k_proj(ln1), attn.v_proj(ln1)  # each [T][d]
        hd, scale = attn.head_dim, 1.0 / math.sqrt(attn.head_dim)
        heads_out = [[] for _ in range(T)]
        q_rot, k_rot, all_scores, all_weights = [[] for _ in range(T)], [[] for _ in range(T)], [], []
        for h in range(attn.num_heads):
            cols = slice(h * hd, (h + 1) * hd)
            qh, kh, vh = [r[cols] for r in q], [r[cols] for r in k], [r[cols] for r in v]
            if attn.rope:
                qh = [apply_rope(r, t) for t, r in enumerate(qh)]
                kh = [apply_rope(r, t) for t, r in enumerate(kh)]
            scores_h, weights_h = [], []
            for t in range(T):                                   # the causal mask: t sees 0..t
                scaled = [dot(qh[t], kh[j]) * scale for j in range(t + 1)]   # q_t . k_j / sqrt(hd)
                weights = softmax(scaled)                                     # [t+1], sums to 1
                heads_out[t] += [dot(weights, [vh[j][f] for j in range(t + 1)]) for f in range(hd)]
                q_rot[t] += qh[t]
                k_rot[t] += kh[t]
                scores_h.append(scaled)
                weights_h.append(weights)
            all_scores.append(scores_h)
            all_weights.append(weights_h)
        attn_out = attn.out_proj(heads_out)                                     # [T][d]
        resid1 = [[a + b for a, b in zip(xt, at)] for xt, at in zip(x, attn_out)]
        ln2 = [block.ln2(xt) for xt in resid1]
        hidden = block.ffn.fc1(ln2)                                             # [T][f]
        act = [[gelu(u) for u in ht] for ht in hidden]
        ffn_out = block.ffn.fc2(act)                                            # [T][d]
        resid2 = [[a + b for a, b in zip(xt, ft)] for xt, ft in zip(resid1, ffn_out)]
        layers.append({"ln1": ln1, "q_raw": q, "k_raw": k, "q": q_rot, "k": k_rot, "v": v,
                       "scores": all_scores, "weights": all_weights, "heads_out": heads_out,
                       "attn_out": attn_out, "resid1": resid1, "ln2": ln2, "hidden": hidden, "act": act,
                       "ffn_out": ffn_out, "resid2": resid2})
        x = resid2
    ln_f = [model.ln_f(xt) for xt in x]
    logits = model.lm_head(ln_f) if model.lm_head is not None else linear(model.E, ln_f)
    return {"ids": ids, "tok": tok, "pos": pos, "x0": x0, "layers": layers, "ln_f": ln_f, "logits": logits}


def _softmax_floats(row: Sequence[float]) -> List[float]:
    m = max(row)
    exps = [math.exp(z - m) for z in row]
    total = sum(exps)
    return [e / total for e in exps]


def next_token_probs(logits: Sequence[float], temperature: float, top_k: Optional[int] = None) -> List[float]:
    """The probabilities `generate` draws the next id from, given the last logits [V]:
    temperature 0 puts 1 on the largest logit (lowest id among ties); otherwise
    exp((z_i - max) / temperature) over the `top_k` largest (ties: lower ids first),
    divided by their sum. The page computes the same, in the same order."""
    order = sorted(range(len(logits)), key=lambda i: -logits[i])
    probs = [0.0] * len(logits)
    if temperature == 0:
        probs[order[0]] = 1.0
        return probs
    keep = order[:top_k] if top_k is not None else order
    top = logits[order[0]]
    for i in keep:
        probs[i] = math.exp((logits[i] - top) / temperature)
    total = sum(probs)
    return [p / total for p in probs]


# --------------------------------------------------------------------------------------
# gradients of one prediction
# --------------------------------------------------------------------------------------
def _saliency(tr: Dict[str, object], t: int, target: int, nodes: List[Value]) -> Dict[str, object]:
    """Gradients of loss = -log softmax(logits[t])[target] (the cross-entropy at t).
    `nodes` is every node of the traced graph, parameters included; their grads are
    0 before and after."""
    row = tr["logits"][t]
    loss = logsumexp(row) - row[target]
    loss.backward()
    norms = [math.sqrt(sum(v.grad ** 2 for v in xs)) for xs in tr["x0"]]
    gxi = [sum(v.grad * v.data for v in xs) for xs in tr["x0"]]
    attention = [[[_rv([w.grad for w in r]) for r in head] for head in layer["weights"]]
                 for layer in tr["layers"]]
    for node in nodes:  # the next target starts from zero everywhere
        node.grad = 0.0
    return {"position": t, "target": target, "loss": _r(loss.data), "prob": _r(math.exp(-loss.data)),
            "inputs": _rv(norms), "grad_x_input": _rv(gxi), "attention": attention}


def _position_trace(tr: Dict[str, object], t: int) -> Dict[str, object]:
    """Everything position t's vector goes through, rounded."""
    out = {"token": _rv(tr["tok"][t]), "position": _rv(tr["pos"][t]) if tr["pos"] is not None else None,
           "x0": _rv(tr["x0"][t]), "layers": []}
    for layer in tr["layers"]:
        rec = {name: _rv(layer[name][t]) for name in ("ln1", "q_raw", "k_raw", "q", "k", "v", "heads_out",
                                                       "attn_out", "resid1", "ln2", "hidden", "act",
                                                       "ffn_out", "resid2")}
        out["layers"].append(rec)
    out["ln_f"] = _rv(tr["ln_f"][t])
    logits = [v.data for v in tr["logits"][t]]
    out["logits"] = _rv(logits)
    out["probs"] = _rv(_softmax_floats(logits))
    return out


# --------------------------------------------------------------------------------------
# the training run's curves
# --------------------------------------------------------------------------------------
def metrics_beside(checkpoint_path: str) -> Optional[str]:
    """The metrics file written with a checkpoint, if it is there: `metrics.jsonl`
    beside `checkpoint.json`, `demo-metrics.jsonl` beside `demo-checkpoint.json`."""
    folder, name = os.path.split(checkpoint_path)
    prefix = name[:-len("checkpoint.json")] if name.endswith("checkpoint.json") else ""
    for candidate in (prefix + "metrics.jsonl", "metrics.jsonl"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_metrics(path: str) -> Dict[str, object]:
    """The loss curves of a metrics file: "train" [[step, loss]] (averaged into at most
    MAX_CURVE_POINTS buckets of steps), "eval" [[step, held-out loss]], "steps".
    Lines that are not records (a half-written last line) are skipped."""
    train, evals = [], []
    try:
        f = open(path, encoding="utf-8")
    except OSError as err:
        raise OSError(f"explore: cannot read the metrics file {path}: {err.strerror or err}") from None
    with f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                continue
            if isinstance(rec.get("loss"), (int, float)):
                train.append((rec["step"], float(rec["loss"])))
            if isinstance(rec.get("eval_loss"), (int, float)):
                evals.append((rec["step"], float(rec["eval_loss"])))
    size = max(1, math.ceil(len(train) / MAX_CURVE_POINTS))
    buckets = [train[i:i + size] for i in range(0, len(train), size)]
    curve = [[b[-1][0], _r(sum(l for _, l in b) / len(b))] for b in buckets]
    return {"train": curve, "eval": [[s, _r(l)] for s, l in evals], "steps": len(train),
            "averaged": size, "path": os.path.basename(path)}


# --------------------------------------------------------------------------------------
# the page's data
# --------------------------------------------------------------------------------------
def _prompt_ids(tokenizer, prompt) -> List[int]:
    if isinstance(prompt, str):
        try:
            ids = tokenizer.encode(prompt)
        except ValueError as err:
            raise ValueError(f"explore: the prompt cannot be encoded: {err}") from None
    elif isinstance(prompt, (list, tuple)):
        ids = list(prompt)
    else:
        raise TypeError(f"explore: prompt must be text or a list of token ids, got {type(prompt).__name__}")
    if not ids or ids[0] != tokenizer.bos_id:
        ids = [tokenizer.bos_id] + ids  # documents start with <bos>, as in training
    return ids


def explore_data(model, tokenizer, prompt, position: Optional[int] = None, top: int = 5,
                 metrics=None, budget: int = DEFAULT_BUDGET, step: Optional[int] = None) -> Dict[str, object]:
    """The numbers of the explore page for `prompt` (text or ids; `<bos>` is put in
    front when missing), as a JSON-ready dict (see the module docstring).

    position: the position opened first (default: the last); top: next tokens listed
    per position; metrics: a metrics.jsonl path or None; budget: the most numbers the
    step-through and saliency sections may hold before they cover `position` only."""
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"explore: the tokenizer has {tokenizer.vocab_size} tokens but the model's "
                         f"vocab_size is {model.config.vocab_size}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"explore: top must be a positive integer, got {top!r}")
    ids = _prompt_ids(tokenizer, prompt)
    omitted = []
    c = model.config
    if len(ids) > c.context_len:
        omitted.append(f"the first {len(ids) - c.context_len} tokens of the prompt "
                       f"(the model sees {c.context_len} at most, as generate crops it)")
        ids = ids[-c.context_len:]
    ids = model.check_tokens(ids)
    T = len(ids)
    if position is None:
        position = T - 1
    if isinstance(position, bool) or not isinstance(position, int) or not -T <= position < T:
        raise ValueError(f"explore: position must be an int in 0..{T - 1} for this {T}-token prompt, got {position!r}")
    position %= T
    params = model.parameters()
    held = [p.grad for p in params]
    try:
        tr = trace(model, ids)
        nodes = topological_order(vsum([v for row in tr["logits"] for v in row]))  # the whole graph
        for node in nodes:  # the parameters' own grads must not count
            node.grad = 0.0
        logits = [[v.data for v in row] for row in tr["logits"]]
        probs = [_softmax_floats(row) for row in logits]
        predictions = [[[i, _r(p[i])] for i in sorted(range(len(p)), key=lambda i: -p[i])[:top]] for p in probs]
        # how many numbers each position costs in the step-through and in the saliency
        L, H, d, f, V = c.n_layers, c.n_heads, c.d_model, c.d_ff, c.vocab_size
        per_trace = L * (13 * d + 2 * f) + 3 * d + 2 * V
        per_grad = 2 * T + L * H * T * (T + 1) // 2
        targets_per = top + 1
        if T * (per_trace + targets_per * per_grad) <= budget:
            chosen, n_targets = list(range(T)), top
        else:
            chosen, n_targets = [position], min(top, 3)
            omitted.append(f"the step-through and the gradients of positions other than {position}"
                           + (f", and the gradients for targets below the top {n_targets}" if n_targets < top else "")
                           + f" (the page would hold more than {budget:,} numbers; choose another position with "
                           f"--position / position=)")
        traces = {str(t): _position_trace(tr, t) for t in chosen}
        saliency = {}
        for t in chosen:
            targets = [i for i, _ in predictions[t][:n_targets]]
            if t + 1 < T and ids[t + 1] not in targets:
                targets.append(ids[t + 1])  # the prompt's own next token
            for target in targets:
                saliency[f"{t}:{target}"] = _saliency(tr, t, target, nodes)
    finally:
        for p, g in zip(params, held):
            p.grad = g
    attention = [[{"scores": [_rv(r) for r in layer["scores"][h]], "weights": [_rv(r) for r in layer["weights"][h]]}
                  for h in range(c.n_heads)] for layer in tr["layers"]]
    return {"version": 1,
            "model": {**c.to_dict(), "head_dim": c.head_dim, "parameters": len(params), "step": step},
            "tokens": [tokenizer.decode([i], bos="<bos>") for i in ids], "ids": ids,
            "vocab": [tokenizer.decode([i], bos="<bos>") for i in range(tokenizer.vocab_size)],
            "position": position, "predictions": predictions, "attention": attention,
            "trace": traces, "saliency": saliency,
            "sampling": {"logits": logits[-1], "temperature": 1.0, "top_k": None, "seed": 0},
            "metrics": read_metrics(metrics) if metrics else None,
            "omitted": omitted}


class ExplorePage:
    """The explore page: `data` (explore_data's dict), `html` (the page as a string),
    `save(path)` writes it; a notebook shows it inline."""

    def __init__(self, data: Dict[str, object], title: Optional[str] = None):
        from .viz.explore_page import explore_html  # the page's HTML, CSS and script
        self.data = data
        self.html = explore_html(data, title=title)

    def save(self, path: str) -> str:
        """Write the page to `path` (a one-line OSError naming it if that fails); returns the path."""
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.html)
        except OSError as err:
            raise OSError(f"cannot write {path}: {err.strerror or err}") from None
        return path

    def _repr_html_(self) -> str:
        import html
        return (f'<iframe srcdoc="{html.escape(self.html)}" title="inside the Mini-GPT" '
                f'style="width: 100%; height: 900px; border: 0"></iframe>')

    def __repr__(self) -> str:
        return f"ExplorePage({' '.join(self.data['tokens'])!r}, {len(self.html):,} bytes)"


def explore(model, tokenizer, prompt, out: Optional[str] = None, *, position: Optional[int] = None,
            top: int = 5, metrics: Optional[str] = None, budget: int = DEFAULT_BUDGET,
            step: Optional[int] = None, title: Optional[str] = None) -> ExplorePage:
    """The explore page for `model` on `prompt`: tokens and predictions, attention,
    one position through the model, sampling, saliency and (with `metrics=`, a
    metrics.jsonl path) the loss curves. Written to `out` when given; a notebook
    shows the returned page inline. Options as for `explore_data`."""
    page = ExplorePage(explore_data(model, tokenizer, prompt, position=position, top=top, metrics=metrics,
                                    budget=budget, step=step), title=title)
    if out is not None:
        page.save(out)
    return page
