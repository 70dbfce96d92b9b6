"""A training step on several examples: their mean loss, and gradients that add up to its gradient."""
import random

import pytest

from minigpt.gpt import MiniGPT, cross_entropy_loss
from minigpt.tokenizers import CharTokenizer
from minigpt.train import TextData, TrainConfig, Trainer

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper"]


def setup(batch_size):
    tok = CharTokenizer.from_documents(DOCS)
    random.seed(3)
    model = MiniGPT(tok.vocab_size, 8, 2, 1, 8)
    data = TextData.from_documents(DOCS, tok, val_fraction=0.0, seed=1)
    config = TrainConfig(steps=4, lr=1e-2, eval_every=0, batch_size=batch_size, seed=1)
    return model, data, Trainer(model, tok, data, config)


def test_a_batch_step_uses_the_next_examples_and_the_gradient_of_their_mean():
    model, data, trainer = setup(batch_size=3)
    trainer.step = 2  # step 2 of a batch of 3 takes examples 6, 7 and 8
    examples = [data.example(6 + i, 1, 8) for i in range(3)]
    losses = []
    model.zero_grad()
    for inputs, targets in examples:
        loss = cross_entropy_loss(model(inputs), targets)
        losses.append(loss.data)
        (loss * (1.0 / 3)).backward()
    expected_grads = [p.grad for p in model.parameters()]

    trainer.optimizer.step = lambda: None  # keep the weights, to read the gradients
    value, tokens = trainer.train_step()
    assert value == pytest.approx(sum(losses) / 3, rel=1e-12)
    assert tokens == sum(len(t) for _, t in examples)
    assert [p.grad for p in model.parameters()] == pytest.approx(expected_grads, rel=1e-12, abs=1e-15)
    assert trainer.step == 3


def test_batch_size_one_is_the_single_example_step_and_bad_sizes_are_refused():
    model, data, trainer = setup(batch_size=1)
    inputs, targets = data.example(0, 1, 8)
    expected = cross_entropy_loss(model(inputs), targets).data
    value, _ = trainer.train_step()
    assert value == expected
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            TrainConfig(batch_size=bad)
