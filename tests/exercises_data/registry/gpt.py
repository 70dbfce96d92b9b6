# A student's gpt.py: the PyTorch-style modules of nn.py, vectors as lists.
import math
import random

from engine import Value
from nn import Linear, Module


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.weight = [[Value(random.gauss(0, 1)) for _ in range(embedding_dim)] for _ in range(num_embeddings)]

    def forward(self, indices):
        return [[w for w in self.weight[i]] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]

    def forward(self, x):
        n = len(x)
        mu = sum(x) / n
        diffs = [xi - mu for xi in x]
        variance = sum(d * d for d in diffs) / n
        rstd = (variance + self.eps) ** -0.5
        return [self.gamma[i] * diffs[i] * rstd + self.beta[i] for i in range(n)]


def gelu(x):
    return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))).tanh())


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        super().__init__()
        hidden_dim = hidden_dim or 4 * embed_dim
        self.fc1 = Linear(embed_dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, embed_dim)

    def forward(self, x):
        return self.fc2(list(map(gelu, self.fc1(x))))


class SelfAttention(Module):
    def __init__(self, embed_dim):
        super().__init__()
        self.embed_dim = embed_dim
        self.q_proj = Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x, causal=True):
        T = len(x)
        q = [self.q_proj(r) for r in x]
        k = [self.k_proj(r) for r in x]
        v = [self.v_proj(r) for r in x]
        outs = []
        for i in range(T):
            keys = range(i + 1) if causal else range(T)
            s = [sum(a * b for a, b in zip(q[i], k[j])) * (1 / math.sqrt(self.embed_dim)) for j in keys]
            top = max(z.data for z in s)
            e = [(z - top).exp() for z in s]
            norm = sum(e)
            p = [ej / norm for ej in e]
            ctx = [sum(p[n] * v[j][c] for n, j in enumerate(keys)) for c in range(self.embed_dim)]
            outs.append(self.out_proj(ctx))
        return outs


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.ln1 = LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim)
        self.ln2 = LayerNorm(embed_dim)
        self.ffn = FeedForward(embed_dim)

    def forward(self, x):
        h = self.attn([self.ln1(r) for r in x])
        x = [[a + b for a, b in zip(r, hr)] for r, hr in zip(x, h)]
        return [[a + b for a, b in zip(r, self.ffn(self.ln2(r)))] for r in x]


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        super().__init__()
        self.max_seq_len = max_seq_len
        self.tok_emb = Embedding(vocab_size, embed_dim)
        self.pos_emb = Embedding(max_seq_len, embed_dim)
        self.blocks = [TransformerBlock(embed_dim, num_heads) for _ in range(num_layers)]
        self.ln_f = LayerNorm(embed_dim)
        self.lm_head = Linear(embed_dim, vocab_size, bias=False)

    def forward(self, token_ids):
        T = len(token_ids)
        if T > self.max_seq_len:
            raise ValueError(f"{T} tokens, but max_seq_len is {self.max_seq_len}")
        tok, pos = self.tok_emb(token_ids), self.pos_emb(list(range(T)))
        x = [[a + b for a, b in zip(tok[t], pos[t])] for t in range(T)]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits, targets):
    losses = []
    for row, y in zip(logits, targets):
        top = max(z.data for z in row)
        losses.append((sum((z - top).exp() for z in row)).log() + top - row[y])
    return sum(losses) * (1 / len(losses))


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        row = [z.data / temperature for z in model(ids[-model.max_seq_len:])[-1]]
        top = max(row)
        w = [math.exp(z - top) for z in row]
        ids.append(random.choices(range(len(w)), weights=w)[0])
    return ids
