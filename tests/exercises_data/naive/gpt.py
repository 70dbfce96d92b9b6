# A student's gpt.py: the building blocks are in nn.py, the model and the helpers here.
import math
import random

from nn import Embedding, LayerNorm, Linear, Module, SelfAttention, FeedForward


class TransformerBlock(Module):
    def __init__(self, embed_dim, num_heads):
        self.ln1, self.ln2 = LayerNorm(embed_dim), LayerNorm(embed_dim)
        self.attn, self.ffn = SelfAttention(embed_dim), FeedForward(embed_dim)

    def forward(self, x):
        a = self.attn([self.ln1(r) for r in x])
        x = [[p + q for p, q in zip(r, s)] for r, s in zip(x, a)]
        f = [self.ffn(self.ln2(r)) for r in x]
        return [[p + q for p, q in zip(r, s)] for r, s in zip(x, f)]


class MiniGPT(Module):
    def __init__(self, vocab_size, embed_dim, num_heads, num_layers, max_seq_len):
        self.block_size = max_seq_len
        self.tok_emb, self.pos_emb = Embedding(vocab_size, embed_dim), Embedding(max_seq_len, embed_dim)
        self.blocks = []
        while len(self.blocks) < num_layers:
            self.blocks.append(TransformerBlock(embed_dim, num_heads))
        self.ln_f, self.lm_head = LayerNorm(embed_dim), Linear(embed_dim, vocab_size, False)

    def forward(self, token_ids):
        if len(token_ids) > self.block_size:
            raise ValueError(f"sequence length {len(token_ids)} > max_seq_len {self.block_size}")
        x = [[t + p for t, p in zip(self.tok_emb([tok])[0], self.pos_emb([i])[0])]
             for i, tok in enumerate(token_ids)]
        for block in self.blocks:
            x = block(x)
        return [self.lm_head(self.ln_f(r)) for r in x]


def cross_entropy_loss(logits, targets):
    total = 0
    for row, t in zip(logits, targets):
        top = max(z.data for z in row)
        lse = sum((z - top).exp() for z in row).log() + top
        total = total + (lse - row[t])
    return total / len(targets)


def generate(model, start_ids, max_new_tokens, temperature=1.0):
    ids = list(start_ids)
    for _ in range(max_new_tokens):
        last = [z.data / temperature for z in model(ids[-model.block_size:])[-1]]
        top = max(last)
        weights = [math.exp(z - top) for z in last]
        r = random.random() * sum(weights)
        pick = len(weights) - 1
        for i, w in enumerate(weights):
            r -= w
            if r < 0:
                pick = i
                break
        ids.append(pick)
    return ids
