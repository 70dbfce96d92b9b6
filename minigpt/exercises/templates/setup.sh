#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image. The grader needs
# Python 3.9+ and nothing else: minigpt itself is in this bundle (minigpt-src/), and
# run_autograder uses it from there. Installing it too gives the image a `minigpt`
# command for debugging; that step may fail without harm. bubblewrap gives the grader
# its sandbox (no network, nothing of the machine but the Python runtime); without it,
# or where the image cannot make namespaces, the grader uses its fallback isolation and
# says so in its output.
set -e
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update && apt-get install -y bubblewrap) || echo "note: bubblewrap not installed; grading uses the fallback isolation"
fi
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update && apt-get install -y python3 python3-pip
fi
python3 -c 'import sys; assert sys.version_info >= (3, 9), "minigpt needs Python 3.9 or newer"'
python3 -m pip install --no-deps /autograder/source/minigpt-src || echo "note: minigpt not installed; run_autograder uses the bundled source"
