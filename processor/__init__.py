"""faxbounce: receive fax-service notifications and bounces over SMTP, classify them, keep them in SQL."""

from processor import dataclass_cache

__version__ = "0.1.0"

dataclass_cache.install()  # before the package's first record class: see processor/dataclass_cache.py
