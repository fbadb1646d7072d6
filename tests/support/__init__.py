"""Helpers the tests share (not fixtures: those live in conftest.py)."""
