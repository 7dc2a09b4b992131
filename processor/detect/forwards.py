"""Notices a person forwarded: found inside the forward and read as mails of their own.

Two shapes:

- attached: the notice is a `message/rfc822` part of a mail that is no delivery report (a bounce carries the
  refused original the same way, and that is no forward);
- inline: the forwarder's mailer quoted the notice's header block and body in its text, after a separator line
  (Outlook `-----Original Message-----` / `-----元のメッセージ-----`, Gmail `---------- Forwarded message
  ---------`, Thunderbird `-------- 転送メッセージ --------`, Apple Mail `Begin forwarded message:`, mutt
  `----- Forwarded message from … -----`, Lotus Notes `----- Forwarded by … on … -----`, a rule of underscores
  followed by a header block), or, under a forward subject (`Fwd:`, `転送:`), straight after the forwarder's
  note; with or without `> ` quoting.

The quoted header block (`差出人:`, `送信日時:`, `宛先:`, `件名:` and their English names) becomes the inner mail's
headers, so its `宛先: yamada@…` or `送信日時:` is never read as a field of the notice; the body after it is the
inner mail's text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice

from processor import regex_cache
from processor.catalogues import vendor_hosts
from processor.detect.replies import has_forward_prefix, is_delivery_report, strip_subject_prefixes
from processor.domains import is_domain_or_subdomain
from processor.parse import ParsedMail, embedded_mail, text_mail
from processor.parse.charset import FoldMap, fold_text, fold_with_offsets

__all__ = ["HEADER_NAMES", "Forward", "forwarded_mails"]

#: Separator lines that forwarding mailers write before the quoted notice (one pass, no nested repetition: linear
#: on hostile lines).
SEPARATOR_RE = regex_cache.compile(
    r"^[ \t>]*(?:[-_=]{2,}[ \t]*)?(?:"
    r"original message|forwarded message|forwarded e-?mail|元のメッセージ|転送メッセージ|転送されたメッセージ"
    r"|転送済みメッセージ|オリジナルメッセージ|ursprüngliche nachricht|weitergeleitete nachricht|message d'origine"
    r"|message transféré|mensaje original|mensaje reenviado|messaggio originale|messaggio inoltrato"
    r"|forwarded message from [^\n]{0,200}?|forwarded by [^\n]{1,200}? on [^\n]{1,80}?"
    r")(?:[ \t]*[-_=]{2,})?[ \t]*$"
    r"|^[ \t>]*(?:begin forwarded message|転送されたメッセージ|転送メッセージ)[ \t]*[:：][ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
#: A rule of underscores (Outlook's HTML forwards): a separator only when a quoted header block follows it.
RULE_RE = regex_cache.compile(r"^[ \t>]*_{10,}[ \t]*$", re.MULTILINE)
#: A plain-text digest's rules (RFC 1153: 70 hyphens after the contents, 30 between messages; Mailman's and fml's
#: plain digests), each message then `Message: N` and its header block: a separator only when one follows it.
DIGEST_RULE_RE = regex_cache.compile(r"^-{30,80}[ \t]*$", re.MULTILINE)
_DIGEST_NUMBER_RE = regex_cache.compile(r"[ \t]*Message[ \t]*:[ \t]*\d{1,6}[ \t]*")
#: Names in a quoted header block, by the header they stand for (Outlook ja/en, Gmail, Thunderbird, Apple Mail,
#: Outlook de/fr/es/it).
HEADER_NAMES: dict[str, str] = {
    "from": "from", "差出人": "from", "送信者": "from", "von": "from", "de": "from", "da": "from",
    "sent": "date", "date": "date", "送信日時": "date", "日付": "date", "日時": "date", "gesendet": "date",
    "datum": "date", "envoyé": "date", "enviado": "date", "inviato": "date",
    "to": "to", "宛先": "to", "an": "to", "à": "to", "para": "to", "a": "to",
    "cc": "cc", "subject": "subject", "件名": "subject", "betreff": "subject", "objet": "subject",
    "asunto": "subject", "oggetto": "subject", "reply-to": "reply-to", "message-id": "message-id",
}
_INTERFAX = vendor_hosts("interfax")
VENDOR_DOMAINS = tuple(dict.fromkeys(_INTERFAX.sender_domains + _INTERFAX.submission_domains))
#: A quoted header line: its name (also spaced out to a column's width, `件　　名：`, as Japanese mailers and
#: templates write short names) and its value.
_HEADER_LINE_RE = regex_cache.compile(
    r"^[ \t]*\*?([^\s:：*]{1,12}|[^\x00-\x7f\s:：*](?:[ \t\u3000]{1,4}[^\x00-\x7f\s:：*]){1,5})\*?[ \t]*[:：]"
    r"[ \t\u3000]*(.*)$")
_SPACING_RE = regex_cache.compile(r"[ \t\u3000]+")
_QUOTE_RE = regex_cache.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)
#: `_QUOTE_RE` for the unfolded text, whose quote marks and spaces may be full width (`＞　`).
_SOURCE_QUOTE_RE = regex_cache.compile(r"^[ \t\u3000]*[>＞][ \t\u3000]?", re.MULTILINE)
_MAILTO_RE = regex_cache.compile(r"\[mailto:([^\]\s]+)\]", re.IGNORECASE)
#: Notes' unlabelled sender line: a name and an address in angle brackets, nothing that reads as a header.
_SENDER_LINE_RE = regex_cache.compile(r"[^<>:：\n]{0,100}<[^<>\s@]{1,64}@[^<>\s]{1,255}>")
#: The date line under it (`2026/11/20 10:00`, `11/20/2026 10:00 AM`).
_DATE_LINE_RE = regex_cache.compile(r"[0-9０-９/.\-年月日 :：午前後AMP()]{6,40}", re.IGNORECASE)
MAX_INLINE = 10
"""Separators read per mail; more is no forward a person made."""


@dataclass(frozen=True, slots=True)
class Forward:
    """What a mail forwards: the notices inside it, and whether it says it is a forward at all."""

    mails: tuple[ParsedMail, ...]
    """The forwarded mails, attached ones first, then inline ones in text order."""
    explicit: bool
    """The mail says it is a forward (a forward subject or a separator line): its own text is the forwarder's
    and is not read as a notice even when nothing inside could be read."""


def forwarded_mails(mail: ParsedMail) -> Forward:
    """The notices `mail` forwards (none for delivery reports, which carry the refused original instead, nor for
    the vendors' own mail, whose templates may draw rules but forward nothing)."""
    if is_delivery_report(mail) or is_domain_or_subdomain(mail.from_address.rpartition("@")[2], VENDOR_DOMAINS):
        return Forward((), False)
    attached = tuple(m for e in mail.embedded if (m := embedded_mail(e)) is not None)
    text = mail.text
    rules = (m.end() for m in islice(RULE_RE.finditer(text), MAX_INLINE) if _header_follows(text, m.end()))
    digests = (m.end() for m in islice(DIGEST_RULE_RE.finditer(text), MAX_INLINE) if _header_follows(text, m.end()))
    starts = sorted([m.end() for m in islice(SEPARATOR_RE.finditer(text), MAX_INLINE)]
                    + list(rules) + list(digests))[:MAX_INLINE]
    prefix = has_forward_prefix(mail)
    # the text as written is mapped only for a mail that forwards something inline: most mail does not
    source = _Source.of(mail) if starts or (prefix and not attached) else _Source(None, None)
    inline: list[ParsedMail] = []
    for index, start in enumerate(starts):
        end = _line_start(text, starts[index + 1]) if index + 1 < len(starts) else len(text)
        found = _inline(text[start:end], source.cut(start, end))
        if is_delivery_report(found):
            # A bounce runs to the end of the forward: its own `----- Original message -----` begins the
            # original it returns (its cause may come after it), and a returned original the forwarder's mailer
            # attached as a file belongs to it.
            inline.append(dataclasses.replace(_inline(text[start:], source.cut(start, len(text))),
                                              embedded=mail.embedded))
            break
        inline.append(found)
    if not starts and prefix and not attached:
        # `Fwd:` with no separator: the header block (if any) follows the forwarder's note, else the whole text.
        inline.append(_inline(text, source.cut(0, len(text)), search=True,
                              subject=strip_subject_prefixes(mail.subject)))
    return Forward(attached + tuple(inline), explicit=bool(starts) or prefix)


def _header_follows(text: str, pos: int) -> bool:
    lines = _unquote(text[pos:pos + 2000]).split("\n")
    return any(_header_block(lines, start)[0] for start in islice(_block_starts(lines, False), 1))


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _inline(block: str, source: str | None = None, search: bool = False, subject: str | None = None) -> ParsedMail:
    """The quoted header block and body after a separator as a mail; with `search`, the header block may start
    further down (after the forwarder's note). `source`: the block unfolded, for the values that are stored."""
    quoted = _is_quoted(block)
    if quoted:
        block = _QUOTE_RE.sub("", block)
    lines = block.split("\n")
    source_lines = _same_lines(lines, _SOURCE_QUOTE_RE.sub("", source) if quoted and source else source)

    def mail_from(headers: Mapping[str, str | None], at: int) -> ParsedMail:
        return text_mail(headers, "\n".join(lines[at:]),
                         source="\n".join(source_lines[at:]) if source_lines is not None else None)

    for start in _block_starts(lines, search):
        headers, body_at = _header_block(lines, start)
        if headers:
            return mail_from(headers, body_at)
    if (sender := _unlabelled_sender(lines)) is not None:
        headers, body_at = sender
        return mail_from({"subject": subject, **headers}, body_at)
    return mail_from({"subject": subject}, 0)


class _Source:
    """The forward's text as it writes it (`ParsedMail.text_source`) and the map from `text`'s positions to it,
    so that an inline notice keeps its full-width digits and `①` in the values that are stored."""

    __slots__ = ("fold_map", "text")

    def __init__(self, text: str | None, fold_map: FoldMap | None) -> None:
        self.text = text
        self.fold_map = fold_map

    @classmethod
    def of(cls, mail: ParsedMail) -> _Source:
        source = mail.text_source
        if source == mail.text:
            return cls(None, None)  # nothing was folded: the text is as written
        folded, fold_map = fold_with_offsets(source)
        return cls(source, fold_map) if folded == mail.text else cls(None, None)

    def cut(self, start: int, end: int) -> str | None:
        """The source of `text[start:end]`; None when there is none to keep."""
        if self.text is None or self.fold_map is None:
            return None
        return self.text[self.fold_map.start(start) if start else 0:self.fold_map.end(end)]


def _same_lines(lines: list[str], source: str | None) -> list[str] | None:
    """`source`'s lines when each folds to the line of `lines` in its place; None when any does not (a quote
    mark written full width, say), so that nothing is cut from a line that is not the one read."""
    if source is None:
        return None
    source_lines = source.split("\n")
    if len(source_lines) != len(lines) or any(
            fold_text(written) != line for written, line in zip(source_lines, lines, strict=True)):
        return None
    return source_lines


def _unlabelled_sender(lines: list[str]) -> tuple[dict[str, str], int] | None:
    """Lotus Notes writes the sender without a label: `Mail Delivery Subsystem <MAILER-DAEMON@fax.tc>`, the date
    on the next line, then `To:` … `Subject:` (or nothing it labels). ({headers}, first body line), or None when
    the block does not begin so."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not _SENDER_LINE_RE.fullmatch(lines[first].strip()):
        return None
    after = next((i for i in range(first + 1, len(lines)) if lines[i].strip()), len(lines))
    if after < len(lines) and _DATE_LINE_RE.fullmatch(lines[after].strip()):
        after += 1
    headers, body_at = _header_block(lines, after, need=1)
    if not headers:
        body_at = after
    return {**headers, "from": lines[first].strip()}, body_at


def _block_starts(lines: list[str], search: bool) -> Iterator[int]:
    first = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if first < len(lines) and _DIGEST_NUMBER_RE.fullmatch(lines[first]):
        first += 1  # a digest's `Message: 2` above the message's headers
    yield first
    if search:
        yield from (i for i in range(first + 1, len(lines)) if _header_name(lines[i]) == "from")


def _header_block(lines: list[str], start: int, need: int = 2) -> tuple[dict[str, str], int]:
    """({name: value}, index of the first body line) of a header block at `start`; empty when there is none.
    A block needs a From or Subject and one more name (`need` names, and no From or Subject, after a sender
    that Notes did not label); it ends at a blank line, a line that is no header, or a name seen before (a
    body field such as `送信日時:` right after the block). A value folded onto lines that begin with white
    space (a long `件名:` wrapped by the forwarder's mailer) is joined, as a mail's own headers are."""
    headers: dict[str, str] = {}
    index = start
    while index < len(lines):
        line = lines[index]
        name = _header_name(line)
        if name is None or name in headers:
            break
        match = _HEADER_LINE_RE.match(line)
        assert match is not None
        value = match.group(2).strip()
        index += 1
        while index < len(lines) and lines[index][:1] in (" ", "\t") and lines[index].strip() \
                and _header_name(lines[index]) is None:
            value = f"{value} {lines[index].strip()}"
            index += 1
        headers[name] = _MAILTO_RE.sub(r"<\1>", value)
    if len(headers) < need or (need > 1 and not ({"from", "subject"} & headers.keys())):
        return {}, start
    return headers, index


def _header_name(line: str) -> str | None:
    match = _HEADER_LINE_RE.match(line)
    return HEADER_NAMES.get(_SPACING_RE.sub("", match.group(1)).casefold()) if match else None


def _unquote(block: str) -> str:
    """One level of `> ` quoting removed when most of the block's lines carry it."""
    return _QUOTE_RE.sub("", block) if _is_quoted(block) else block


def _is_quoted(block: str) -> bool:
    lines = [line for line in block.split("\n") if line.strip()]
    quoted = sum(1 for line in lines if line.lstrip().startswith(">"))
    return bool(lines) and quoted * 2 >= len(lines)
