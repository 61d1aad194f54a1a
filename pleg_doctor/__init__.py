"""pleg-doctor: how close is this node to "PLEG is not healthy", why, and what to do next."""

__version__ = "0.1.0"
