"""Helpers shared by the test tiers (fixtures stay in conftest.py, helpers live here)."""
