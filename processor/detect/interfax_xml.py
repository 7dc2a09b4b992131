"""InterFAX result notifications in the XML format, as the body or an XML attachment.

Recognised by elements that group InterFAX's ten result fields (TransactionID, Status, DestinationFax,
...), repeated once per transaction for a list send: one result per group. Input with a DTD or entity
declaration is refused, not parsed (billion laughs), and input over `MAX_XML_CHARS` is ignored.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from processor.detect.base import Detection, NeedsNoSettings
from processor.detect.rows import INTERFAX_FIELDS, Row, field_name, interfax_rows_detection
from processor.parse import ParsedMail
from processor.reasons import Kind

__all__ = ["InterfaxXmlDetector"]

log = logging.getLogger(__name__)

XML_TYPES = frozenset({"text/xml", "application/xml"})
MAX_XML_CHARS = 4 * 1024 * 1024
MIN_FIELDS = 6
"""A group needs Status plus this many of the ten fields: tolerant of templates that drop a column."""


class InterfaxXmlDetector(NeedsNoSettings):
    name: ClassVar[str] = "interfax_xml"
    kind: ClassVar[Kind] = Kind.INTERFAX_RESULT
    reads_attachments: ClassVar[bool] = True
    """Its evidence is a file's header row or elements, never free text: safe to run on a forward's attachments."""

    def detect(self, mail: ParsedMail) -> Detection | None:
        return interfax_rows_detection(mail, ".xml", XML_TYPES, _groups, self.name, log)


def _groups(text: str) -> list[Row] | None:
    """Field groups of the XML document in `text`, or None when it is not InterFAX XML."""
    start = text.find("<")
    if start < 0 or "status" not in text.casefold() or "destinationfax" not in text.casefold():
        return None
    document = text[start:].strip()
    upper = document.upper()
    if len(document) > MAX_XML_CHARS or "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        log.warning("refusing XML with a DTD or entity declaration, or over %d characters", MAX_XML_CHARS)
        return None
    import xml.etree.ElementTree as ET  # only for a text that names InterFAX's fields (start-up time)

    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        return None
    groups: list[Row] = []
    for element in root.iter():
        fields = {field_name(_local(child.tag)): (child.text or "").strip() for child in element
                  if isinstance(child.tag, str)}
        if "status" in fields and len(set(fields) & set(INTERFAX_FIELDS)) >= MIN_FIELDS:
            groups.append(fields)
    return groups or None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
