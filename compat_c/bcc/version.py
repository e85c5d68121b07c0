"""The bcc release whose Python API compat_c follows."""

__version__ = "0.26.0"
