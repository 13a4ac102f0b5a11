"""The torch side of a network: activations, initialisers, the model builder, random streams and devices."""
