# A student's gpt.py: everything here, helpers for the vector arithmetic.
import math
import random

from engine import Value
from nn import Linear, Module


def dot(a, b):
    return sum((x * y for x, y in zip(a, b)), Value(0.0))


def plus(a, b):
    return [x + y for x, y in zip(a, b)]


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.weight = [[Value(random.gauss(0.0, 1.0)) for _ in range(embedding_dim)]
                       for _ in range(num_embeddings)]

    def forward(self, indices):
        return [self.weight[i][:] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]

    def forward(self, x):
        d = len(x)
        mean = sum(x, Value(0.0)) / d
        var = sum(((xi - mean) ** 2 for xi in x), Value(0.0)) / d
        denom = (var + self.eps) ** 0.5
        return [g * ((xi - mean) / denom) + b for xi, g, b in zip(x, self.gamma, self.beta)]


def gelu(x):
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)
    return 0.5 * x * (1.0 + inner.tanh())


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        self.fc1 = Linear(embed_dim, hidden_dim if hidden_dim is not None else 4 * embed_dim)
        self.fc2 = Linear(hidden_dim if hidden_dim is not None else 4 * embed_dim, embed_dim)

    def forward(self, x):
        return self.fc2([gelu(h) for h in self.fc1(x)])


def softmax(scores):
    biggest = max(s.data for s in scores)
    exps = [(s - biggest).exp() for s in scores]
    total = sum(exps[1:], exps[0])
    return [e / total for e in exps]


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.embed_dim = embed_dim
        self.q_proj = Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x, causal=True):
        qs, ks, vs = ([proj(xt) for xt in x] for proj in (self.q_proj, self.k_proj, self.v_proj))
        result = []
        for t, q in enumerate(qs):
            last = t + 1 if causal else len(x)
            weights = softmax([dot(q, ks[j]) / math.sqrt(self.embed_dim) for j in range(last)])
            context = [sum((weights[j] * vs[j][c] for j in range(last)), Value(0.0)) for c in range(self.embed_dim)]
            result.append(self.out_proj(context))
        return result


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ffn = FeedForward(embed_dim)

    def forward(self, x):
        x = [plus(xt, at) for xt, at in zip(x, self.attn([self.ln1(xt) for xt in x]))]
        return [plus(xt, self.ffn(self.ln2(xt))) for xt in x]


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.max_seq_len = max_seq_len
        self.tok_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size, bias=False)

    def forward(self, token_ids):
        if len(token_ids) > self.max_seq_len:
            raise ValueError("at most %d tokens, got %d" % (self.max_seq_len, len(token_ids)))
        x = [plus(tok, pos) for tok, pos in zip(self.tok_emb(token_ids), self.pos_emb(range(len(token_ids))))]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(xt)) for xt in x]


def cross_entropy_loss(logits, targets):
    total = Value(0.0)
    for row, target in zip(logits, targets):
        biggest = max(z.data for z in row)
        total = total + (sum((z - biggest).exp() for z in row).log() + biggest - row[target])
    return total / len(targets)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        logits = model(ids[-model.max_seq_len:])[-1]
        scaled = [z.data / temperature for z in logits]
        top = max(scaled)
        probs = [math.exp(s - top) for s in scaled]
        ids.append(random.choices(list(range(len(probs))), weights=probs, k=1)[0])
    return ids
