"""A Mini-GPT built from `Value`s: embeddings, LayerNorm, feed-forward, causal
self-attention, pre-norm transformer blocks, the loss and sampling.

Shapes: token ids are a list of T ints; a vector is a list of D Values; a sequence
is a list of T vectors, indexed [position][feature]; logits are [T][vocab_size].
"""
import math
import random

from engine import Value
from nn import Linear, Module


def add_vectors(a, b):
    """a + b element by element (a residual connection): two vectors of D -> a vector of D."""
    return [x + y for x, y in zip(a, b)]


class Embedding(Module):
    """A lookup table: row i of `weight` is the vector for token (or position) i.

    weight: [num_embeddings][embedding_dim] Values, drawn from N(0, 1).
    """

    def __init__(self, num_embeddings, embedding_dim):
        # BEGIN SOLUTION 3.1: self.weight = num_embeddings rows of embedding_dim Values drawn with random.gauss(0, 1)
        # concept: a learnable table: one row of embedding_dim Values for each of the num_embeddings ids, drawn from a standard normal so that tokens start out different.
        self.weight = [[Value(random.gauss(0, 1)) for _ in range(embedding_dim)] for _ in range(num_embeddings)]
        # END SOLUTION

    def forward(self, indices):
        """indices: T ints -> sequence [T][embedding_dim] of the table's own Values."""
        # BEGIN SOLUTION 3.1: return the rows self.weight[i] for i in indices, holding the table's own Values (no copies, so gradients reach the table)
        # concept: T ids -> a T x embedding_dim sequence, one table row per id. The rows must be the table's own Values, not copies, or no gradient would reach the table.
        return [list(self.weight[i]) for i in indices]  # a new list, but the same Values
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 3.1: every Value of the table, row by row
        # concept: every Value of the table, num_embeddings * embedding_dim of them, row by row.
        return [v for row in self.weight for v in row]
        # END SOLUTION


class LayerNorm(Module):
    """Normalise a vector to mean 0 and variance 1, then scale and shift.

    y_i = gamma_i * (x_i - mean) / sqrt(var + eps) + beta_i, with mean and the
    biased variance (divide by D) taken over the D features of x.
    gamma: D Values, 1.0; beta: D Values, 0.0.
    """

    def __init__(self, dim, eps=1e-5):
        # BEGIN SOLUTION 3.2: remember eps; self.gamma = dim Values of 1.0; self.beta = dim Values of 0.0
        # concept: a learnable scale (gamma) and shift (beta) per feature, dim of each, starting at 1 and 0 so that a fresh LayerNorm only normalises; keep eps for the forward.
        self.eps = eps
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]
        # END SOLUTION

    def forward(self, x):
        """x: vector of D -> vector of D."""
        # BEGIN SOLUTION 3.2: mean = sum(x) / D; var = sum((x_i - mean)**2) / D (biased: D, not D - 1); return gamma_i * (x_i - mean) / sqrt(var + eps) + beta_i, eps inside the square root
        # concept: x: a vector of D features -> D features with mean 0 and variance 1 over the features, then scaled by gamma and shifted by beta, feature by feature. Use the population variance (divide by D), and add eps to the variance before the square root, so that a constant vector never divides by zero.
        n = len(x)
        mean = sum(x) / n
        var = sum((xi - mean) ** 2 for xi in x) / n  # biased: divide by n, not n - 1
        inv_std = (var + self.eps) ** -0.5  # eps inside the square root
        return [g * (xi - mean) * inv_std + b for xi, g, b in zip(x, self.gamma, self.beta)]
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 3.2: gamma followed by beta
        # concept: the 2 * dim learnable Values: the scales, then the shifts.
        return self.gamma + self.beta
        # END SOLUTION


def gelu(x):
    """GELU, tanh form: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))). One Value -> one Value."""
    # BEGIN SOLUTION 3.3: return 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))) built from Value operations
    # concept: GELU, the smooth ReLU of GPT-2, in its tanh approximation (formula in the docstring), built from Value operations so that its derivative comes from them.
    return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)).tanh())
    # END SOLUTION


class FeedForward(Module):
    """Position-wise feed-forward: fc2(gelu(fc1(x))).

    fc1: Linear(embed_dim, hidden_dim) and fc2: Linear(hidden_dim, embed_dim), both
    with bias; hidden_dim is 4 * embed_dim unless given.
    """

    def __init__(self, embed_dim, hidden_dim=None):
        # BEGIN SOLUTION 3.3: hidden_dim defaults to 4 * embed_dim; self.fc1 = Linear(embed_dim, hidden_dim); self.fc2 = Linear(hidden_dim, embed_dim)
        # concept: the position-wise MLP of a block: widen from embed_dim to hidden_dim (4 * embed_dim unless given) and project back to embed_dim, two Linear layers with a bias.
        if hidden_dim is None:
            hidden_dim = 4 * embed_dim
        self.fc1 = Linear(embed_dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, embed_dim)
        # END SOLUTION

    def forward(self, x):
        """x: vector of embed_dim -> vector of embed_dim."""
        # BEGIN SOLUTION 3.3: return self.fc2 of [gelu(h) for h in self.fc1(x)]
        # concept: x: a vector of embed_dim -> embed_dim: the first layer, a GELU on every hidden unit, the second layer.
        return self.fc2([gelu(h) for h in self.fc1(x)])
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 3.3: the parameters of fc1, then those of fc2
        # concept: the parameters of both layers, the first layer's first.
        return self.fc1.parameters() + self.fc2.parameters()
        # END SOLUTION


def softmax(scores):
    """Vector of n Values -> n Values, exp(s_i) / sum_j exp(s_j).

    Numerically stable: the largest score (as a plain number) is subtracted first,
    which changes nothing mathematically but keeps exp() from overflowing.
    """
    # BEGIN SOLUTION 3.4: m = max(s.data for s in scores); exps = [(s - m).exp() ...]; return each exp divided by their sum
    # concept: scores: K Values -> K weights, positive and summing to 1: their exponentials divided by the sum. Subtracting the largest score first changes nothing mathematically but keeps exp from overflowing; subtract it as a plain number, not a Value.
    m = max(s.data for s in scores)
    exps = [(s - m).exp() for s in scores]
    total = sum(exps)
    return [e / total for e in exps]
    # END SOLUTION


class SelfAttention(Module):
    """Single-head scaled dot-product self-attention.

    q_proj, k_proj, v_proj, out_proj: Linear(embed_dim, embed_dim, bias=False).
    For each position t: scores s = q_t . k_j / sqrt(embed_dim) over the positions j
    it may see (j <= t when causal), weights = softmax(s), output =
    out_proj(sum_j weights_j * v_j).
    """

    def __init__(self, embed_dim):
        # BEGIN SOLUTION 3.4: remember embed_dim; q_proj, k_proj, v_proj, out_proj = Linear(embed_dim, embed_dim, bias=False) each
        # concept: four embed_dim x embed_dim projections without bias: queries, keys, values, and the output projection applied after the mixing.
        self.embed_dim = embed_dim
        self.q_proj = Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False)
        # END SOLUTION

    def forward(self, x, causal=True):
        """x: sequence [T][embed_dim] -> sequence [T][embed_dim]."""
        # BEGIN SOLUTION 3.4: q, k, v = the projections of every x_t; for each t, scores over the visible positions (j <= t when causal) scaled by 1/sqrt(embed_dim), softmax, the weighted sum of the v_j, then out_proj
        # concept: x: T vectors of embed_dim -> T vectors of embed_dim. Each position t has a query; its scores against the keys of the positions it may see (only j <= t when causal: no peeking at later tokens) are scaled by 1/sqrt(embed_dim) to keep the softmax from saturating; the softmax weights average the values, and the output projection maps the result back.
        q = [self.q_proj(xt) for xt in x]
        k = [self.k_proj(xt) for xt in x]
        v = [self.v_proj(xt) for xt in x]
        scale = 1 / math.sqrt(self.embed_dim)  # keeps the scores' spread independent of embed_dim
        out = []
        for t in range(len(x)):
            visible = range(t + 1) if causal else range(len(x))  # causal: no peeking at later positions
            scores = [sum(qi * ki for qi, ki in zip(q[t], k[j])) * scale for j in visible]
            weights = softmax(scores)
            mixed = [sum(w * v[j][i] for w, j in zip(weights, visible)) for i in range(self.embed_dim)]
            out.append(self.out_proj(mixed))
        return out
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 3.4: the parameters of q_proj, k_proj, v_proj and out_proj, in that order
        # concept: the parameters of the four projections: queries, keys, values, output.
        return (self.q_proj.parameters() + self.k_proj.parameters()
                + self.v_proj.parameters() + self.out_proj.parameters())
        # END SOLUTION


class TransformerBlock(Module):
    """Pre-norm block: x = x + attn(ln1(x)), then x = x + ffn(ln2(x)) at every position.

    ln1, ln2: LayerNorm(embed_dim); attn: SelfAttention(embed_dim), causal;
    ffn: FeedForward(embed_dim). num_heads is accepted for compatibility: this
    block has one attention head.
    """

    def __init__(self, embed_dim, num_heads):
        # BEGIN SOLUTION 3.5: self.ln1 = LayerNorm(embed_dim); self.attn = SelfAttention(embed_dim); self.ln2 = LayerNorm(embed_dim); self.ffn = FeedForward(embed_dim)
        # concept: attention, then a feed-forward network, each with its own LayerNorm before it; one attention head (num_heads is accepted for the contract).
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ffn = FeedForward(embed_dim)
        # END SOLUTION

    def forward(self, x):
        """x: sequence [T][embed_dim] -> sequence [T][embed_dim]."""
        # BEGIN SOLUTION 3.5: pre-norm with residuals: x = x + attn([ln1(x_t) for each t]); then x_t = x_t + ffn(ln2(x_t)) for each t
        # concept: x: T vectors -> T vectors, pre-norm with residuals: normalise, attend across positions, add the result to x; then at each position normalise, apply the feed-forward network, add again. The additions let gradients flow straight through the block.
        attended = self.attn([self.ln1(xt) for xt in x], causal=True)
        x = [add_vectors(xt, at) for xt, at in zip(x, attended)]  # residual around attention
        return [add_vectors(xt, self.ffn(self.ln2(xt))) for xt in x]  # residual around the FFN
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 3.5: the parameters of ln1, attn, ln2 and ffn, in that order
        # concept: the parameters of both norms, the attention and the feed-forward network, in the order they are applied.
        return (self.ln1.parameters() + self.attn.parameters()
                + self.ln2.parameters() + self.ffn.parameters())
        # END SOLUTION


class MiniGPT(Module):
    """Token and position embeddings -> blocks -> final LayerNorm -> logits.

    tok_emb: Embedding(vocab_size, embed_dim); pos_emb: Embedding(max_seq_len,
    embed_dim); blocks: num_layers TransformerBlocks; ln_f: LayerNorm(embed_dim);
    lm_head: Linear(embed_dim, vocab_size, bias=False).
    """

    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        # BEGIN SOLUTION 3.6: remember max_seq_len; build tok_emb, pos_emb, blocks (a list), ln_f and lm_head as the docstring says
        # concept: token embeddings (vocab_size x embed_dim), position embeddings (max_seq_len x embed_dim), num_layers blocks, a final LayerNorm, and a linear head from embed_dim to vocab_size; the docstring names each attribute.
        self.max_seq_len = max_seq_len
        self.tok_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size, bias=False)
        # END SOLUTION

    def forward(self, token_ids):
        """token_ids: T ints (1 <= T <= max_seq_len) -> logits [T][vocab_size], no softmax."""
        # BEGIN SOLUTION 3.6: raise ValueError when T > max_seq_len; x_t = tok_emb row + pos_emb row t; run every block; return [lm_head(ln_f(x_t)) for each t]
        # concept: ids: T token ids (T at most max_seq_len, else ValueError) -> T rows of vocab_size logits. Each position's input is its token's embedding plus its position's (attention alone knows no order); the blocks transform the sequence; the final norm and the head turn each vector into scores for the next token.
        T = len(token_ids)
        if not 1 <= T <= self.max_seq_len:
            raise ValueError(f"got {T} tokens; the model takes 1 to max_seq_len={self.max_seq_len}")
        x = [add_vectors(tok, pos) for tok, pos in zip(self.tok_emb(token_ids), self.pos_emb(list(range(T))))]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(xt)) for xt in x]
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 3.6: the parameters of tok_emb, pos_emb, every block, ln_f and lm_head, in that order
        # concept: every learnable Value, module by module, in the order they are built.
        params = self.tok_emb.parameters() + self.pos_emb.parameters()
        for block in self.blocks:
            params += block.parameters()
        return params + self.ln_f.parameters() + self.lm_head.parameters()
        # END SOLUTION


def cross_entropy_loss(logits, targets):
    """logits [T][V] Values, targets T ints -> one Value: the mean over positions of
    -log softmax(logits[t])[targets[t]].

    Numerically stable: log sum_j exp(z_j) = m + log sum_j exp(z_j - m), m = max_j z_j.
    """
    # BEGIN SOLUTION 3.7: for each position, loss_t = log(sum_j exp(z_j - m)) + m - z[target], m = the largest logit's data; return the mean of the loss_t
    # concept: logits: T rows of V scores, targets: T ids -> one Value, the mean over positions of -log softmax(row)[target]. Each position's loss is the log of the sum of exponentials of its row minus the target's score; subtract the row's largest score inside the exp and add it back, so that large logits do not overflow.
    if len(logits) != len(targets):
        raise ValueError(f"{len(logits)} rows of logits but {len(targets)} targets")
    losses = []
    for row, target in zip(logits, targets):
        m = max(z.data for z in row)
        log_sum_exp = sum((z - m).exp() for z in row).log() + m
        losses.append(log_sum_exp - row[target])  # -log softmax(row)[target]
    return sum(losses) / len(losses)  # the mean, not the sum
    # END SOLUTION


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    """Sample max_new_tokens ids after start_ids; returns start_ids followed by them.

    Each step feeds the model the last max_seq_len ids, takes the last position's
    logits, divides them by temperature and draws the next id from their softmax
    with the `random` module.
    """
    # BEGIN SOLUTION 3.8: ids = list(start_ids); each step: context = the last model.max_seq_len ids; logits = the model's last row (.data); p = softmax(logits / temperature) as numbers; append an id drawn with random.choices(range(V), weights=p)
    # concept: sampling one token at a time: run the model on the latest ids (at most max_seq_len of them), take the last position's logits, turn them into probabilities with a softmax of logits / temperature (plain numbers: no gradients needed), draw the next id with the random module, and append it. Return the prompt followed by the new ids.
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        context = ids[-model.max_seq_len:]  # the model cannot see more than this
        logits = [z.data / temperature for z in model(context)[-1]]
        m = max(logits)
        weights = [math.exp(z - m) for z in logits]  # softmax up to a constant factor
        ids.append(random.choices(range(len(weights)), weights=weights)[0])
    return ids
    # END SOLUTION
