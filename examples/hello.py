"""The seed exercise end to end: the "hello" example.

Build a Mini-GPT on the characters of "hello", compute the loss, backpropagate,
take a few Adam steps, and generate. Run it with `python examples/hello.py`.
"""
import math
import random

from minigpt.gpt import MiniGPT, cross_entropy_loss, generate
from minigpt.optim import Adam

random.seed(0)  # the weights and the samples below come out the same every run

text = "hello"
chars = sorted(set(text))                      # ['e', 'h', 'l', 'o']
char_to_idx = {c: i for i, c in enumerate(chars)}
encode = lambda s: [char_to_idx[c] for c in s]  # noqa: E731 (as in the exercise)
decode = lambda ids: "".join(chars[i] for i in ids)  # noqa: E731

model = MiniGPT(vocab_size=len(chars), embed_dim=16, num_heads=2, num_layers=2, max_seq_len=8)
print(model)

x = encode(text)                     # [1, 0, 2, 2, 3]
targets = x[1:] + [x[-1]]            # predict the next character (the last one repeats)
logits = model(x)                    # 5 positions x 4 logits, all Values
loss = cross_entropy_loss(logits, targets)
print(f"\nlogits: {len(logits)} x {len(logits[0])}; initial loss {loss.data:.4f} "
      f"(ln V = {math.log(len(chars)):.4f}: an untrained model guesses uniformly)")

loss.backward()                      # every parameter's .grad is now d(loss)/d(parameter)
w = model.tok_emb.weight[0][0]
print(f"one gradient: d(loss)/d(tok_emb.weight[0][0]) = {w.grad:+.6f}")

optimizer = Adam(model.parameters(), lr=1e-2)
for step in range(30):
    loss = cross_entropy_loss(model(x), targets)
    optimizer.zero_grad()            # gradients accumulate, so clear them first
    loss.backward()
    optimizer.step()
    if step % 10 == 9:
        print(f"step {step + 1:2d}: loss {loss.data:.4f}")

ids = generate(model, encode("h"), max_new_tokens=4, temperature=0)  # greedy
print(f"\ngreedy continuation of 'h': {decode(ids)!r}")
