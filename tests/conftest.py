"""Shared test setup: draw figures off-screen, keep torch single-process and seeded."""

import matplotlib

matplotlib.use("Agg")
