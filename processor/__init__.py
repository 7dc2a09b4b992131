"""faxbounce: receive fax-service notifications and bounces over SMTP, classify them, keep them in SQL."""

__version__ = "0.1.0"
