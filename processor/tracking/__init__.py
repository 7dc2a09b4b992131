"""Tracking: each fax submission followed to its outcome.

The rules (`rules.py`) are pure: subject keys, which submission a result belongs to, and a submission's state
as a function of its results and the time. Their SQL lives in `processor/store/tracking.py`.
"""
