"""Fake vendor cloud servers used by the tests, the benchmark and the development scripts."""
