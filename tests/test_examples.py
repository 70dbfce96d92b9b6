"""The scripts in examples/ run and print what they promise."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_hello_example_trains_and_generates():
    out = run_example("hello.py")
    assert "initial loss" in out and "step 30" in out
    assert "greedy continuation of 'h': 'hello'" in out


def test_graph_examples_write_their_pictures(tmp_path):
    for name in ("graph_expression.py", "graph_neuron.py", "graph_attention_head.py", "graph_block.py"):
        target = tmp_path / (name[:-3] + ".dot")
        out = run_example(name, str(target))
        assert f"wrote {target}" in out, out
        assert target.read_text(encoding="utf-8").startswith("digraph")
