"""What identifies a fax in the mails about it: InterFAX's subject without its trailing options, and Message-IDs.

Read by the submission detector and again by tracking when it compares a result with a submission.
"""

from __future__ import annotations

from processor import regex_cache

__all__ = ["normalize_message_id", "strip_subject_options"]

# Trailing subject options of InterFAX (formats.md section 3). `/h` takes free text to the end.
_OPTION_RE = regex_cache.compile(
    r"/(?:(?:bn|bb|ib|hn|rs|rf|b)(?=\s|/|$)"
    r"|d[ \t]+\d{4}-\d{1,2}-\d{1,2}[ \t]+\d{1,2}:\d{2}(?=\s|/|$)"
    r"|fonttype[ \t]+\S+?(?=\s|/|$)"
    r"|fontsize[ \t]+\d+(?:\.\d+)?(?=\s|/|$)"
    r"|(?P<h>h(?:[ \t]+|$)))"
)
_MAX_SUBJECT = 2000


def strip_subject_options(subject: str | None) -> str:
    """The subject without InterFAX's trailing options: `見積書 /b /d 2026-11-20 10:00` → `見積書`.

    Options count only at the end, each starting at a space, the start, or after non-ASCII text
    (`見積書/b`), so `A/B test` and `TCP/IP` keep their slash.
    """
    if not subject:
        return ""
    text = subject[:_MAX_SUBJECT].rstrip()
    for index, char in enumerate(text):
        if char != "/":
            continue
        before = text[index - 1] if index else " "
        if (before.isspace() or ord(before) > 127) and _options_to_end(text, index):
            return text[:index].rstrip()
    return text


def _options_to_end(text: str, pos: int) -> bool:
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return True
        match = _OPTION_RE.match(text, pos)
        if match is None:
            return False
        if match.group("h") is not None:
            return True  # header text runs to the end (and may contain later options)
        pos = match.end()



def normalize_message_id(value: str | None) -> str | None:
    """`<id@host>` however it was written (spaces, missing brackets); None when empty."""
    if not value:
        return None
    core = value.strip().strip("<>").strip()
    return f"<{core}>" if core else None
