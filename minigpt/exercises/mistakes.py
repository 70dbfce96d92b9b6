"""Typical mistakes, each written as a small edit of the reference solution.

When a check fails, the grader runs the same probe on the reference with a
mistake put in; if the student's numbers match that (or it fails the same way,
e.g. with an OverflowError), the feedback names the mistake with its hint. The
feedback is then about what the code does, found by its numbers, not by reading
the code.
"""
from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class Mistake:
    file: str      # engine, nn or gpt
    old: str       # text of the reference solution...
    new: str       # ...replaced by this (every occurrence)
    hint: str      # what to tell a student whose code behaves like this
    more: Tuple[Tuple[str, str], ...] = ()  # further (old, new) edits of the same file, when one is not enough
    errors: Tuple[str, ...] = ()  # exceptions that show this mistake in any code (where the variant's own
                                  # numbers may stay finite: an overflow can come in forward or in backward)

    def apply(self, sources: Dict[str, str]) -> Dict[str, str]:
        """The solution sources with this mistake put in (ValueError if the text is gone)."""
        text = sources[self.file]
        for old, new in ((self.old, self.new),) + self.more:
            if old not in text:
                raise ValueError(f"mistake patch no longer applies to {self.file}.py: {old!r}")
            text = text.replace(old, new)
        return dict(sources, **{self.file: text})


MISTAKES: Dict[str, Mistake] = {
    # ---- engine -----------------------------------------------------------------------
    "no_visited": Mistake(
        "engine", "if v not in visited:", "if True:",
        "a node reached by two paths was handled twice: keep a set of visited nodes so each node "
        "goes into the topological order once"),
    "preorder": Mistake(
        "engine",
        "            for child in v._prev:\n                visit(child)\n            order.append(v)",
        "            order.append(v)\n            for child in v._prev:\n                visit(child)",
        "a node was put in the order before its children (pre-order): append it after visiting them, "
        "so that the reversed order handles every node before its children"),
    "not_reversed": Mistake(
        "engine", "for v in reversed(order):", "for v in order:",
        "backward went from the leaves to the output: call _backward in reversed topological order"),
    "no_seed": Mistake(
        "engine", "self.grad = 1.0  # d self / d self", "pass",
        "backward() must start with self.grad = 1.0 (d self / d self); otherwise every gradient stays 0"),
    "assign_grad": Mistake(
        "engine", ".grad += ", ".grad = ",
        "a Value used twice kept only the last contribution: in _backward, add to .grad (+=) instead "
        "of setting it (=)"),
    # ---- nn ---------------------------------------------------------------------------
    "neuron_no_relu": Mistake(
        "nn", "return act.relu() if self.nonlin else act", "return act",
        "with nonlin=True the neuron returns relu(w . x + b)"),
    "neuron_relu_always": Mistake(
        "nn", "return act.relu() if self.nonlin else act", "return act.relu()",
        "with nonlin=False the neuron returns w . x + b, no ReLU"),
    "mlp_relu_last": Mistake(
        "nn", "nonlin=i != len(nouts) - 1", "nonlin=True",
        "the last layer of an MLP is linear (nonlin=False); ReLU only on the layers before it"),
    "linear_no_bias": Mistake(
        "nn", "y = y + self.bias[i]", "pass",
        "the bias is not added: y[i] = sum_j W[i][j] x[j] + b[i]"),
    # ---- gpt --------------------------------------------------------------------------
    "embedding_copies": Mistake(
        "gpt", "return [list(self.weight[i]) for i in indices]",
        "return [[Value(w.data) for w in self.weight[i]] for i in indices]",
        "no gradient reaches the embedding table: forward must return the table's own Values, not new "
        "Values holding the same numbers"),
    "ln_unbiased": Mistake(
        "gpt", "/ n  # biased", "/ (n - 1)  # biased",
        "the variance is divided by D - 1 (unbiased); LayerNorm uses the biased variance: divide by D"),
    "ln_eps_outside": Mistake(
        "gpt", "inv_std = (var + self.eps) ** -0.5", "inv_std = 1 / (var ** 0.5 + self.eps)",
        "eps is added outside the square root; it goes inside: sqrt(var + eps)"),
    "ln_eps_after_inverse": Mistake(
        "gpt", "inv_std = (var + self.eps) ** -0.5", "inv_std = var ** -0.5 + self.eps",
        "eps is added outside the square root (var ** -0.5 + eps); it goes inside: (var + eps) ** -0.5"),
    "ln_no_affine": Mistake(
        "gpt", "g * (xi - mean) * inv_std + b", "(xi - mean) * inv_std",
        "gamma and beta are not applied: y_i = gamma_i * x_hat_i + beta_i"),
    "ffn_relu": Mistake(
        "gpt", "[gelu(h) for h in self.fc1(x)]", "[h.relu() for h in self.fc1(x)]",
        "ReLU is used where GELU (tanh form) is asked: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"),
    "ffn_no_activation": Mistake(
        "gpt", "[gelu(h) for h in self.fc1(x)]", "self.fc1(x)",
        "there is no activation between fc1 and fc2; apply GELU to every hidden value"),
    "attn_no_mask": Mistake(
        "gpt", "range(t + 1) if causal else range(len(x))", "range(len(x))",
        "no causal mask: with causal=True, position t may only attend to positions j <= t"),
    "attn_empty_row": Mistake(
        "gpt", "range(t + 1) if causal", "range(t) if causal",
        "with causal=True position t attends to positions 0..t, itself included (range(t + 1)); range(t) "
        "leaves position 0 with nothing to attend to"),
    "attn_empty_row_zeros": Mistake(  # the same, with a softmax that returns [] for no scores
        "gpt", "range(t + 1) if causal", "range(t) if causal",
        "with causal=True position t attends to positions 0..t, itself included (range(t + 1)); range(t) "
        "leaves position 0 with nothing to attend to",
        more=(("m = max(s.data for s in scores)", "m = max((s.data for s in scores), default=0.0)"),)),
    "attn_no_scale": Mistake(
        "gpt", "zip(q[t], k[j])) * scale for", "zip(q[t], k[j])) for",
        "the scores are not scaled: divide q . k by sqrt(embed_dim)"),
    "attn_scale_d": Mistake(
        "gpt", "scale = 1 / math.sqrt(self.embed_dim)", "scale = 1 / self.embed_dim",
        "the scores are divided by embed_dim; divide by sqrt(embed_dim)"),
    "attn_no_out_proj": Mistake(
        "gpt", "out.append(self.out_proj(mixed))", "out.append(mixed)",
        "out_proj is not applied to the weighted sum of the values"),
    "attn_unstable": Mistake(
        "gpt", "m = max(s.data for s in scores)", "m = 0.0",
        "softmax overflows for large scores: subtract the largest score before exp() (it cancels in the "
        "division)", errors=("OverflowError",)),
    "block_post_norm": Mistake(
        "gpt",
        "        attended = self.attn([self.ln1(xt) for xt in x], causal=True)\n"
        "        x = [add_vectors(xt, at) for xt, at in zip(x, attended)]  # residual around attention\n"
        "        return [add_vectors(xt, self.ffn(self.ln2(xt))) for xt in x]  # residual around the FFN",
        "        attended = self.attn(x, causal=True)\n"
        "        x = [self.ln1(add_vectors(xt, at)) for xt, at in zip(x, attended)]\n"
        "        return [self.ln2(add_vectors(xt, self.ffn(xt))) for xt in x]",
        "this is post-norm (LayerNorm after the residual add); the block is pre-norm: "
        "x = x + attn(ln1(x)), then x = x + ffn(ln2(x))"),
    "block_no_residual": Mistake(
        "gpt",
        "        x = [add_vectors(xt, at) for xt, at in zip(x, attended)]  # residual around attention\n"
        "        return [add_vectors(xt, self.ffn(self.ln2(xt))) for xt in x]  # residual around the FFN",
        "        x = attended\n"
        "        return [self.ffn(self.ln2(xt)) for xt in x]",
        "the residual connections are missing: x = x + attn(ln1(x)), then x = x + ffn(ln2(x))"),
    "gpt_no_ln_f": Mistake(
        "gpt", "self.lm_head(self.ln_f(xt))", "self.lm_head(xt)",
        "ln_f is not applied before lm_head"),
    "gpt_no_pos": Mistake(
        "gpt", "add_vectors(tok, pos) for tok, pos", "tok for tok, pos",
        "the position embeddings are not added to the token embeddings"),
    "ce_sum": Mistake(
        "gpt", "return sum(losses) / len(losses)  # the mean, not the sum", "return sum(losses)",
        "the loss is summed over positions; it is the mean (divide by the number of positions)"),
    "ce_unstable": Mistake(
        "gpt", "m = max(z.data for z in row)", "m = 0.0",
        "exp() overflows for large logits: subtract the largest logit first, "
        "log sum exp(z) = m + log sum exp(z - m)", errors=("OverflowError",)),
    "gen_only_new": Mistake(
        "gpt", "    return ids\n", "    return ids[len(start_ids):]\n",
        "generate returned only the new ids; it returns the prompt followed by them (start_ids + the new ids)"),
    "gpt_no_crop": Mistake(
        "gpt", "context = ids[-model.max_seq_len:]", "context = ids",
        "the context is not cropped: feed the model only the last max_seq_len ids"),
}
