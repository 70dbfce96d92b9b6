"""Graded exercises: a student workspace, its public tests, and a sandboxed grader.

| module        | what it holds |
| ------------- | ------------- |
| tasks.py      | the task table: ids, titles, points, checks |
| solutions/    | the reference engine.py, nn.py, gpt.py (micrograd-like; solution blocks marked) |
| stubs.py      | the student stubs, cut from the solutions |
| assignment.py | an assignment file: tasks, points, hint level, visibility, limits |
| workspace.py  | `minigpt exercises new`: stubs, public tests, README |
| probes.py     | what a check runs on a set of modules (also the worker process's script) |
| reference.py  | the reference's answers, computed in this process |
| mistakes.py   | typical mistakes as edits of the reference, to recognise and name them |
| feedback.py   | judging one check: pass or fail, and feedback |
| sandbox.py    | worker processes: isolation, time and memory limits |
| grader.py     | grading submissions: one pool of workers for a class, reruns with reference stand-ins |
| standins.py   | what of the reference stands in for failed tasks, and which run counts |
| report.py     | Gradescope and PrairieLearn JSON, terminal table, batch CSV |
| classreport.py | a class on one offline page: score distributions, mistakes ranked, limits hit |
| public.py     | the workspace's pytest checks, in-process |
| autograder.py | the Gradescope bundle |
| prairielearn.py | a PrairieLearn question with its external grader |
| commands.py   | `minigpt exercises ...` and `minigpt grade ...` |

Nothing here imports minigpt.engine, nn or gpt: the reference is the solutions.
"""
