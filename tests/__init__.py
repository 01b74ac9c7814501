"""Tests of the Solar Cloud integration."""
