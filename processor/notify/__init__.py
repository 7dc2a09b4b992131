"""From record to action: webhooks, mail to people, the number stop list, and safe human output.

Pure modules (`display`, `stoplist`, `events`, `messages`) import no SQL and no network; `mailer`,
`webhooks` and `digest` do the I/O; every query lives in `processor/store/notify.py` and `numbers.py`.
"""
