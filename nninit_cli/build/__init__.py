"""Seeded builders: activations, initialisers, random streams, devices (torch)."""
