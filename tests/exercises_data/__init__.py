"""Submissions for the exercise-system tests (see submissions.py)."""
