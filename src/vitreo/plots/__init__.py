"""Matplotlib figures and PDF logfiles (Agg backend, no display needed)."""
