"""gymlab: the ML2021 course as agents acting in Gymnasium environments."""

__version__ = "0.1.0"
