"""Helpers shared by the tests: the small models."""
