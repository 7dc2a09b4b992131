"""Parsing stage: raw bytes to `ParsedMail`. Imports nothing above it (detect, store, smtp)."""

from processor.parse.mail import EmbeddedMessage, MailPart, ParsedMail, embedded_mail, parse_mail, text_mail

__all__ = ["EmbeddedMessage", "MailPart", "ParsedMail", "embedded_mail", "parse_mail", "text_mail"]
