# A student's gpt.py: explicit parameters() in every class (itertools.chain, lists, generators).
import itertools
import math
import random

from engine import Value
from nn import Linear, Module


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.weight = [[Value(random.gauss(0, 1)) for _ in range(embedding_dim)] for _ in range(num_embeddings)]

    def forward(self, indices):
        return [list(self.weight[i]) for i in indices]

    def parameters(self):
        return [w for row in self.weight for w in row]


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]

    def forward(self, x):
        mean = sum(x) / len(x)
        var = sum((v - mean) ** 2 for v in x) / len(x)
        std = (var + self.eps) ** 0.5
        return [(v - mean) / std * g + b for v, g, b in zip(x, self.gamma, self.beta)]

    def parameters(self):
        return self.gamma + self.beta


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        hidden = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.fc1 = Linear(embed_dim, hidden)
        self.fc2 = Linear(hidden, embed_dim)

    @staticmethod
    def gelu(v):
        return 0.5 * v * (1 + (math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)).tanh())

    def forward(self, x):
        return self.fc2([self.gelu(h) for h in self.fc1(x)])

    def parameters(self):
        return list(itertools.chain(self.fc1.parameters(), self.fc2.parameters()))


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.d = embed_dim
        self.q_proj = Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x, causal=True):
        q = list(map(self.q_proj, x))
        k = list(map(self.k_proj, x))
        v = list(map(self.v_proj, x))
        y = []
        for t in range(len(x)):
            js = list(range(t + 1 if causal else len(x)))
            scores = [sum(a * b for a, b in zip(q[t], k[j])) / self.d ** 0.5 for j in js]
            m = max(s.data for s in scores)
            ex = [(s - m).exp() for s in scores]
            z = sum(ex)
            att = [e / z for e in ex]
            y.append(self.out_proj([sum(att[n] * v[j][c] for n, j in enumerate(js)) for c in range(self.d)]))
        return y

    def parameters(self):
        for proj in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            yield from proj.parameters()


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ffn = FeedForward(embed_dim)

    def forward(self, x):
        a = self.attn([self.ln1(r) for r in x])
        x = [[u + w for u, w in zip(r, ar)] for r, ar in zip(x, a)]
        return [[u + w for u, w in zip(r, self.ffn(self.ln2(r)))] for r in x]

    def parameters(self):
        return [*self.ln1.parameters(), *self.attn.parameters(), *self.ln2.parameters(), *self.ffn.parameters()]


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
            raise ValueError(f"too many tokens: {len(token_ids)} > max_seq_len={self.max_seq_len}")
        te = self.tok_emb(token_ids)
        pe = self.pos_emb(range(len(token_ids)))
        x = [[a + b for a, b in zip(te[t], pe[t])] for t in range(len(token_ids))]
        for blk in self.blocks:
            x = blk(x)
        return [self.lm_head(self.ln_f(r)) for r in x]

    def parameters(self):
        parts = [self.tok_emb, self.pos_emb, *self.blocks, self.ln_f, self.lm_head]
        return itertools.chain.from_iterable(p.parameters() for p in parts)


def cross_entropy_loss(logits, targets):
    total = 0
    for row, t in zip(logits, targets):
        m = max(z.data for z in row)
        total = total + (sum((z - m).exp() for z in row).log() + m - row[t])
    return total / len(logits)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        last = model(ids[-model.max_seq_len:])[-1]
        m = max(z.data for z in last)
        p = [math.exp((z.data - m) / temperature) for z in last]
        ids.append(random.choices(range(len(p)), weights=p)[0])
    return ids
