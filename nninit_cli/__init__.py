"""nninit: experiments that make neural-network initialisation visible."""

__version__ = "0.1.0"
