"""dietnet: genetic ancestry prediction with Diet Networks."""

__version__ = "0.1.0"
