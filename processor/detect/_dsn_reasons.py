"""Status codes and diagnostic phrases to Sisimai reason words, kept as data.

Why a table and not a model: the words must agree with Sisimai's, so the same evidence is read the same
way. The status table follows Sisimai's `smtp/status` (one RFC 3463 code per line), the phrase tables its
`reason/why-*` modules, and `decide_reason` its trial order (`reason/find.go`: probe the status and the
diagnostic per reason in a fixed order, then fall back to weaker evidence). Sources: sisimai/go-sisimai
(BSD 2-Clause) at commit 02714b7; IANA SMTP enhanced status codes registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "PSEUDO_STATUS",
    "STATUS_REASONS",
    "Delivery",
    "decide_reason",
    "find_command",
    "find_reply",
    "find_status",
    "includes",
    "prefer_status",
    "pseudo_status",
    "status_reason",
]

# --- RFC 3463 status -> reason (Sisimai `status.Name`) ---------------------------------------------------
STATUS_REASONS: dict[str, str] = {
    "2.1.5": "delivered",  # Destination address valid
    "4.1.6": "hasmoved",  # Destination mailbox has moved, no forwarding address
    "4.1.7": "rejected",  # Bad sender's mailbox address syntax
    "4.1.8": "rejected",  # Bad sender's system address
    "4.1.9": "systemerror",  # Message relayed to non-compliant mailer
    "4.2.1": "blocked",  # Mailbox disabled, not accepting messages
    "4.2.2": "mailboxfull",  # Mailbox full
    "4.2.3": "exceedlimit",  # Message length exceeds administrative limit
    "4.2.4": "filtered",  # Mailing list expansion problem
    "4.3.1": "systemfull",  # Mail system full
    "4.3.2": "notaccept",  # System not accepting network messages
    "4.3.3": "systemerror",  # System not capable of selected features
    "4.3.5": "systemerror",  # System incorrectly configured
    "4.4.1": "expired",  # No answer from host
    "4.4.2": "networkerror",  # Bad connection
    "4.4.3": "systemerror",  # Directory server failure
    "4.4.4": "networkerror",  # Unable to route
    "4.4.5": "systemfull",  # Mail system congestion
    "4.4.6": "networkerror",  # Routing loop detected
    "4.4.7": "expired",  # Delivery time expired
    "4.4.8": "networkerror",  # Retry on IPv4
    "4.5.3": "systemerror",  # Too many recipients
    "4.5.5": "systemerror",  # Wrong protocol version
    "4.6.0": "contenterror",  # Other or undefined media error
    "4.6.2": "contenterror",  # Conversion required and prohibited
    "4.6.5": "contenterror",  # Conversion failed
    "4.7.1": "blocked",  # Delivery not authorized, message refused
    "4.7.2": "blocked",  # Mailing list expansion prohibited
    "4.7.5": "securityerror",  # Cryptographic failure
    "4.7.6": "securityerror",  # Cryptographic algorithm not supported
    "4.7.7": "securityerror",  # Message integrity failure
    "4.7.12": "securityerror",  # A password transition is needed
    "4.7.15": "securityerror",  # Priority level is too low
    "4.7.16": "mesgtoobig",  # Message is too big for the specified priority
    "4.7.24": "authfailure",  # SPF validation error
    "4.7.25": "requireptr",  # Reverse DNS validation failed
    "4.7.26": "authfailure",  # Multiple authentication checks failed
    "5.1.0": "userunknown",  # Other address status
    "5.1.1": "userunknown",  # Bad destination mailbox address
    "5.1.2": "hostunknown",  # Bad destination system address
    "5.1.3": "userunknown",  # Bad destination mailbox address syntax
    "5.1.4": "filtered",  # Destination mailbox address ambiguous
    "5.1.6": "hasmoved",  # Destination mailbox has moved, no forwarding address
    "5.1.7": "rejected",  # Bad sender's mailbox address syntax
    "5.1.8": "rejected",  # Bad sender's system address
    "5.1.9": "systemerror",  # Message relayed to non-compliant mailer
    "5.1.10": "notaccept",  # Recipient address has null MX
    "5.2.0": "filtered",  # Other or undefined mailbox status
    "5.2.1": "filtered",  # Mailbox disabled, not accepting messages
    "5.2.2": "mailboxfull",  # Mailbox full
    "5.2.3": "exceedlimit",  # Message length exceeds administrative limit
    "5.2.4": "filtered",  # Mailing list expansion problem
    "5.3.0": "systemerror",  # Other or undefined mail system status
    "5.3.1": "systemfull",  # Mail system full
    "5.3.2": "notaccept",  # System not accepting network messages
    "5.3.3": "systemerror",  # System not capable of selected features
    "5.3.4": "mesgtoobig",  # Message too big for system
    "5.3.5": "systemerror",  # System incorrectly configured
    "5.4.0": "networkerror",  # Other or undefined network or routing status
    "5.4.3": "systemerror",  # Directory server failure
    "5.4.4": "hostunknown",  # Unable to route
    "5.5.2": "syntaxerror",  # Syntax error
    "5.5.3": "toomanyconn",  # Too many recipients
    "5.5.4": "systemerror",  # Invalid command arguments
    "5.5.5": "systemerror",  # Wrong protocol version
    "5.5.6": "syntaxerror",  # Authentication exchange line is too long
    "5.6.0": "contenterror",  # Other or undefined media error
    "5.6.1": "contenterror",  # Media not supported
    "5.6.2": "contenterror",  # Conversion required and prohibited
    "5.6.3": "contenterror",  # Conversion required but not supported
    "5.6.5": "contenterror",  # Conversion failed
    "5.6.6": "contenterror",  # Message content not available
    "5.6.7": "contenterror",  # Non-ASCII addresses not permitted
    "5.6.8": "contenterror",  # UTF-8 string reply required
    "5.6.9": "contenterror",  # UTF-8 header cannot be transferred
    "5.7.0": "securityerror",  # Other or undefined security status
    "5.7.1": "securityerror",  # Delivery not authorized, message refused
    "5.7.2": "securityerror",  # Mailing list expansion prohibited
    "5.7.3": "securityerror",  # Security conversion required but not possible
    "5.7.4": "securityerror",  # Security features not supported
    "5.7.5": "securityerror",  # Cryptographic failure
    "5.7.6": "securityerror",  # Cryptographic algorithm not supported
    "5.7.7": "securityerror",  # Message integrity failure
    "5.7.8": "securityerror",  # Authentication credentials invalid
    "5.7.9": "securityerror",  # Authentication mechanism is too weak
    "5.7.10": "securityerror",  # Encryption needed
    "5.7.11": "securityerror",  # Encryption required for requested authentication mechanism
    "5.7.13": "suspend",  # User account disabled
    "5.7.14": "securityerror",  # Trust relationship required
    "5.7.15": "securityerror",  # Priority level is too low
    "5.7.16": "mesgtoobig",  # Message is too big for the specified priority
    "5.7.17": "hasmoved",  # Mailbox owner has changed
    "5.7.18": "hasmoved",  # Domain owner has changed
    "5.7.19": "securityerror",  # RRVS test cannot be completed
    "5.7.20": "authfailure",  # No passing DKIM signature found
    "5.7.21": "authfailure",  # No acceptable DKIM signature found
    "5.7.22": "authfailure",  # No valid author-matched DKIM signature found
    "5.7.23": "authfailure",  # SPF validation failed
    "5.7.24": "authfailure",  # SPF validation error
    "5.7.25": "requireptr",  # Reverse DNS validation failed
    "5.7.26": "authfailure",  # Multiple authentication checks failed
    "5.7.27": "notaccept",  # Sender address has null MX
    "5.7.28": "spamdetected",  # Mail flood of similar abusive messages
    "5.7.29": "authfailure",  # ARC validation failed
    "5.7.30": "failedstarttls",  # REQUIRETLS support required
}

# --- reason -> Sisimai's pseudo status, used when the report carries no status at all ---------------------
PSEUDO_STATUS: dict[str, str] = {
    "authfailure": "926", "badreputation": "975", "blocked": "971", "contenterror": "960",
    "exceedlimit": "923", "expired": "947", "failedstarttls": "976", "filtered": "910", "hasmoved": "916",
    "hostunknown": "912", "mailboxfull": "922", "mailererror": "939", "mesgtoobig": "934",
    "networkerror": "944", "norelaying": "909", "notaccept": "932", "notcompliantrfc": "974",
    "onhold": "901", "policyviolation": "972", "rejected": "918", "requireptr": "973",
    "securityerror": "970", "spamdetected": "980", "speeding": "946", "suspend": "921",
    "systemerror": "930", "systemfull": "931", "syntaxerror": "902", "toomanyconn": "945",
    "userunknown": "911", "undefined": "900", "virusdetected": "981",
}
_NO_TEMPORARY_PSEUDO = frozenset({"hasmoved", "hostunknown", "userunknown"})
_TEMPORARY_FILTERED = "4.0.924"

# --- diagnostic phrases per reason (lower case; a tuple means "these parts, in this order") ---------------
Phrase = str | tuple[str, ...]
PHRASES: dict[str, tuple[Phrase, ...]] = {
    "userunknown": (
        "#5.1.1 bad address", "550 address invalid", "5.1.0 address rejected.", "address does not exist",
        "address not present in directory", "address unknown", "can't accept user", "does not exist.",
        "destination addresses were unknown", "destination server rejected recipients",
        "email address does not exist", "email address could not be found", "invalid address",
        "invalid mailbox", "invalid recipient", "is not a known user", "is not a valid mailbox",
        "is not an active address at this host", "mailbox does not exist", "mailbox invalid",
        "mailbox is inactive", "mailbox is unavailable", "mailbox not present", "mailbox not found",
        "mailbox unavaiable", "nessun utente simile in questo indirizzo", "no account by that name here",
        "no existe dicha persona", "no existe ese usuario ", "no mail box available for this user",
        "no mailbox by that name is currently available", "no mailbox found", "no such address here",
        "no such mailbox", "no such person at this address", "no such recipient", "no such user",
        "no thank you rejected: account unavailable", "no valid recipients, bye", "not a valid recipient",
        "not a valid user here", "not a local address", "not email addresses",
        "recipient address rejected. (in reply to rcpt to command)", "recipient address rejected: access denied",
        "recipient address rejected: invalid user", "recipient address rejected: invalid-recipient",
        "recipient address rejected: unknown user", "recipient address rejected: userunknown",
        "recipient does not exist", "recipient is not accepted", "recipient is not local", "recipient not exist",
        "recipient not found", "recipient not ok", "recipient refuses to accept your mail", "recipient unknown",
        "requested action not taken: mailbox unavailable", "resolver.adr.recipient notfound",
        "sorry, user unknown", "sorry, badrcptto", "sorry, no mailbox here by that name",
        "sorry, your envelope recipient has been denied",
        "that domain or user isn't in my list of allowed rcpthosts",
        "the email account that you tried to reach does not exist", "the following recipients was undeliverable",
        "the user's email name is not found", "there is no one at this address",
        "this address no longer accepts mail", "this email address is wrong or no longer valid",
        "this recipient is in my badrecipientto list", "this recipient is not in my validrcptto list",
        "this spectator does not exist", "unknown mailbox", "unknown recipient", "unknown user",
        "user does not exist", "user missing home directory", "user not active", "user not exist",
        "user not found", "user not known", "user unknown", "utilisateur inconnu !",
        "vdeliver: invalid or unknown virtual user",
        "weil die adresse nicht gefunden wurde oder keine e-mails empfangen kann",
        "your envelope recipient is in my badrcptto list",
        ("<", "> not found"), ("<", ">... blocked by "), ("account ", " does not exist at the organization"),
        ("bad", "recipient"), ("mailbox ", "does not exist"), ("mailbox ", "unavailable or access denied"),
        ("no ", " in name directory"), ("non", "existent user"), ("rcpt <", " does not exist"),
        ("rcpt (", "t exist "), ("recipient ", " was not found in"),
        ("recipient address rejected: user ", "  does not exist"),
        ("recipient address rejected: user unknown in ", "  table"), ("said: 550", "5.1.1 ", " user unknown "),
        ("this user doesn't have a ", " account"), ("unknown e", "mail address"), ("unknown local", "part"),
        ("user ", " was not found"), ("user ", " does not exist"), ("user (", ") unknown"),
    ),
    "mailboxfull": (
        "452 insufficient disk space", "account disabled temporarly for exceeding receiving limits",
        "boite du destinataire pleine", "exceeded storage allocation", "full mailbox",
        "mailbox exceeds allowed size", "mailbox size limit exceeded", "mailbox would exceed maximum allowed storage",
        "mailfolder is full", "no space left on device", "not sufficient disk space", "quota violation for",
        "too much mail data", "user has exceeded quota, bouncing mail", "user has too many messages on the server",
        "user's space has been used up",
        ("account is ", " quota"), ("disk", "quota"), ("enough ", " space"), ("mailbox ", "exceeded", " limit"),
        ("mailbox ", "full"), ("mailbox ", "quota"), ("maildir ", "quota"), ("over ", "quota"),
        ("quota ", "exceeded"),
    ),
    "mesgtoobig": (
        "exceeded maximum inbound message size", "exceeded the maximum incoming message size",
        "line limit exceeded", "max message size exceeded", "message file too big",
        "message length exceeds administrative limit", "message size exceeds fixed limit",
        "message size exceeds fixed maximum message size", "message size exceeds maximum value",
        "message too big", "message too large for this ", "size limit", "taille limite du message atteinte",
    ),
    "exceedlimit": ("message header size exceeds limit", "message too large"),
    "suspend": (
        " is currently suspended", " temporary locked", "archived recipient", "boite du destinataire archivee",
        "email account that you tried to reach is disabled", "has been suspended", "inactive account",
        "invalid/inactive user", "is a deactivated mailbox", "is unavailable: user is terminated",
        "mailbox currently suspended", "mailbox disabled", "mailbox is frozen", "mailbox unavailable or access denied",
        "recipient rejected: temporarily inactive", "recipient suspend the service",
        "the email account that you tried to reach is inactive", "this account has been disabled or discontinued",
        "this account has been temporarily suspended", "this address no longer accepts mail",
        "this mailbox is disabled", "user or domain is disabled", "user suspended",
        "vdelivermail: account is locked email bounced",
    ),
    "hasmoved": (" has been replaced by ",),
    "norelaying": (
        "as a relay", "email address is not verified.", "insecure mail relay",
        "is not permitted to relay through this server without authentication",
        "mail server requires authentication when attempting to send to a non-local e-mail address",
        "no relaying", "not a gateway", "not allowed to relay through this machine", "not an open relay, so get lost",
        "not local host", "relay access denied", "relay denied", "relay not permitted", "relaying denied",
        "relaying mail to ", "specified domain is not allowed", "that domain isn't in my list of allowed rcpthost",
        "this system is not configured to relay mail", "unable to relay ", "we don't handle mail for",
    ),
    "authfailure": (
        "//spf.pobox.com", "bad spf records for", "dmarc policy", "doesn't meet the required authentication level",
        "please inspect your spf settings", "sender policy framework (spf) fail", "sender policy framework violation",
        "spf (sender policy framework) domain authentication fail", "spf check: fail",
        "the 5322.from address doesn't meet the authentication requirements defined for the sender",
        (" is not allowed to send mail.", "_401"), ("is not allowed to send from <", " per it's spf record"),
    ),
    "filtered": (
        "account is protected by", "bounced address", "has restricted sms e-mail", "is not accepting any mail",
        "message filtered", "message rejected due to user rules", "not found recipient account",
        "recipient id refuse to receive mail", "recipient is only accepting mail from specific email addresses",
        "refused due to recipient preferences", "user not found", "user refuses to receive this mail", "user reject",
        "you have been blocked by the recipient",
    ),
    "requireptr": (
        "access denied. ip name lookup failed",
        "all mail servers must have a ptr record with a valid reverse dns entry",
        "bad dns ptr resource record", "cannot find your hostname", "cannot resolve your address.",
        "client host rejected: cannot find your hostname", "fix reverse dns for ", "ips with missing ptr records",
        "no ptr record found.", "please get a custom reverse dns name from your isp for your host", "ptr record setup",
        "reverse dns failed", "reverse dns required", "sender ip reverse lookup rejected",
        "the ip address sending this message does not have a ptr record setup",
        "the corresponding forward dns entry does not point to the sending ip",
        "this system will not accept messages from servers/devices with no reverse dns",
        "unresolvable relay host name", "we do not accept mail from hosts with dynamic ip or generic dns ptr-records",
        ("domain ", " mismatches client ip"), ("dns lookup failure: ", " try again later"),
        ("reverse dns lookup for host ", " failed permanently"),
        ("server access ", " forbidden by invalid rdns record of your mail server"),
        ("service permits ", " unverifyable sending ips"),
    ),
    "notcompliantrfc": (
        "duplicate header", "this message is not rfc 5322 compliant",
        "https://support.google.com/mail/?p=rfcmessagenoncompliant", (" multiple ", " header"),
    ),
    "badreputation": (
        "a poor email reputation score", "has been temporarily rate limited due to ip reputation",
        "ip/domain reputation problems", "likely suspicious due to the very low reputation", "none/bad reputation",
        "temporarily deferred due to unexpected volume or user complaints", "the sending mta's poor reputation",
    ),
    "contenterror": (
        "duplicate header", "header size exceeds maximum permitted", "improper use of 8-bit data in message header",
        "message header size, or recipient list, exceeds policy limit",
        "message mime complexity exceeds the policy maximum", "routing loop detected -- too many received: headers",
        "this message contain invalid mime headers", "this message contain improperly-formatted binary content",
        "this message contain text that uses unnecessary base64 encoding",
    ),
    "rejected": (
        "access denied (in reply to mail from command)", "access denied (sender blacklisted)", "address rejected",
        "administrative prohibition", "batv failed to verify", "batv validation failure",
        "backscatter protection detected an invalid or expired email address",
        "because the sender isn't on the recipient's list of senders to accept mail from", "bogus mail from",
        "can't determine purported responsible address",
        "connections not accepted from servers without a valid sender domain", "denied [bouncedeny]",
        "denied by secumail valid-address-filter", "delivery not authorized, message refused", "does not exist e2110",
        "domain of sender address ", "email address is on senderfilterconfig list", "emetteur invalide",
        "empty envelope senders not allowed", "envelope blocked - ", "error: no third-party dsns",
        "from: domain is invalid. please provide a valid from:", "fully qualified email address required",
        "invalid domain, see <url:", "invalid sender", "is not a registered gateway user",
        "mail from not owned by user", "message rejected: email address is not verified", "mx records for ",
        "null sender is not allowed", "recipient addresses rejected : access denied",
        "recipient not accepted. (batv: no tag", "returned mail not accepted here",
        "rfc 1035 violation: recursive cname records for", "rule imposed mailbox access for",
        "sending this from a different address or alias using the ", "sender address has been blacklisted",
        "sender email address rejected", "sender is in my black list", "sender is spammer", "sender not pre-approved",
        "sender rejected", "sender domain is empty", "sender verify failed", "sender was rejected",
        "spam reporting address", "syntax error: empty email address", "the message has been rejected by batv defense",
        "this server does not accept mail from", "transaction failed unsigned dsn for", "unroutable sender address",
        "you are not allowed to post to this mailing list",
        "you are sending to/from an address that has been blacklisted",
        "your access to submit messages to this e-mail system has been rejected",
        "your email address has been blacklisted",
    ),
    "hostunknown": (
        "domain does not exist", "domain is not reachable", "domain must exist", "host or domain name not found",
        "host unknown", "host unreachable", "mail domain mentioned in email address is unknown",
        "name or service not known", "no such domain", "recipient address rejected: unknown domain name",
        "recipient domain must exist", "the account or domain may not exist", "unknown host", "unroutable address",
        "unrouteable address", ("553 ", " does not exist"),
    ),
    "spamdetected": (
        " - spam", "//www.spamhaus.org/help/help_spam_16.htm", "//dsbl.org/help/help_spam_16.htm",
        "//mail.163.com/help/help_spam_16.htm", "554 5.7.0 reject, id=", "appears to be unsolicited",
        "blacklisted url in message", "block for spam", "blocked by policy: no spam please", "blocked by spamassassin",
        "blocked for abuse. see http://att.net/blocks", "cannot be forwarded because it was detected as spam",
        "considered unsolicited bulk e-mail (spam) by our mail filters", "content filter rejection",
        "cyberoam anti spam engine has identified this email as a bulk email", "denied due to spam list",
        "high probability of spam", "is classified as spam and is rejected", "listed in work.drbl.imedia.ru",
        "the mail server detected your message as spam and has prevented delivery.", "mail appears to be unsolicited",
        "mail content denied", "may consider spam", "message considered as spam or virus",
        "message contains spam or virus", "message content rejected", "message detected as spam", "message filtered",
        "message looks like spam", "message is being rejected as it seems to be a spam",
        "message refused by mailmarshal spamprofiler", "message refused by trustwave seg spamprofiler",
        "message rejected as spam", "message rejected because of unacceptable content",
        "message rejected due to suspected spam content", "message rejected for policy reasons",
        "message was rejected for possible spam/virus content", "our email server thinks this email is spam",
        "our system has detected that this message is ", "probable spam", "reject bulk.advertising",
        "rejected: spamassassin score ", "rejected - bulk email", "rejecting banned content", "rejecting mail content",
        "related to content with spam-like characteristics", "sender domain listed at ",
        "sending address not accepted due to spam filter", "spam blocked", "spam check", "spam content matched",
        "spam detected", "spam email", "spam message rejected.", "spam not accepted", "spam refused",
        "spam rejection", "spam score ", "spambouncer identified spam", "spamming not allowed",
        "too many spam complaints", "too much spam.", "the email message was detected as spam",
        "the message has been rejected by spam filtering engine",
        "the message was rejected due to classification as bulk mail", "the content of this message looked like spam",
        "this message appears to be spam", "this message has been identified as spam",
        "this message has been scored as spam with a probability", "this message was classified as spam",
        "this message was rejected by recurrent pattern detection system", "transaction failed spam message not queued",
        "we dont accept spam", "your email appears similar to spam we have received before",
        "your email breaches local uribl policy", "your email had spam-like ", "your email is considered spam",
        "your email is probably spam", "your email was detected as spam",
        "your message as spam and has prevented delivery",
        "your message has been temporarily blocked by our filter",
        "your message has been rejected because it appears to be spam", "your message has triggered a spam block",
        "your message may contain the spam contents", "your message failed several antispam checks",
        ("greylisted", " please try again in"), ("mail score (", " over "), ("mail rejete. mail rejected. ", "506"),
        ("our filters rate at and above ", " percent probability of being spam"), ("rejected by ", " (spam)"),
        ("rejected due to spam ", "classification"), ("rejected due to spam ", "content"),
        ("rule imposed as ", " is blacklisted on"), ("spam ", " exceeded"), ("this message scored ", " spam points"),
    ),
    "speeding": (
        "mail sent from your ip address has been temporarily rate limited", "please try again slower",
        "receiving mail at a rate that prevents additional messages from being delivered",
    ),
    "toomanyconn": (
        "all available ips are at maximum connection limit", "connection rate limit exceeded",
        "exceeds per-domain connection limit for", "has exceeded the max emails per hour ",
        "throttling failure: daily message quota exceeded", "throttling failure: maximum sending rate exceeded",
        "too many connections", "too many concurrent smtp connections", "too many errors from your ip",
        "too many recipients", "too many smtp sessions for this host", "trop de connexions, ",
        "we have already made numerous attempts to deliver this message",
    ),
    "blocked": (
        " said: 550 blocked", "//www.spamcop.net/bl.", "bad sender ip address", "banned sending ip", "blacklisted by",
        "blocked using ", "blocked - see http", "dnsbl:attrbl", "client host rejected: abus detecte gu_eib_02",
        "client host rejected: abus detecte gu_eib_04", "client host rejected: may not be mail exchanger",
        "client host rejected: was not authenticated", "confirm this mail server", "connection dropped",
        "connection refused by", "connection reset by peer", "connection was dropped by remote host",
        "connections not accepted from ip addresses on spamhaus xbl", "currently sending spam see: ",
        "domain does not exist:", "dynamic/zombied/spam ips blocked", "error: no valid recipients from ",
        "esmtp not accepting connections", "extreme bad ip profile", "go away", "helo command rejected:",
        "host network not allowed", "hosts with dynamic ip", "invalid ip for sending mail of domain",
        "is in a black list", "is not allowed to send mail from", "mailfrom domain is listed in spamhaus",
        "no access from mail server", "no matches to nameserver query", "not currently accepting mail from your ip",
        "part of their network is on our block list", "please use the smtp server of your isp", "refused - see http",
        "rejected - multi-blacklist", "rejected because the sending mta or the sender has not passed validation",
        "rejecting open proxy", "sender ip address rejected", "server access forbidden by your ip ",
        "service not available, closing transmission channel",
        "smtp error from remote mail server after initial connection:",
        "sorry, that domain isn't in my list of allowed rcpthosts",
        "sorry, your remotehost looks suspiciously like spammer",
        "temporarily deferred due to unexpected volume or user complaints",
        "to submit messages to this e-mail system has been rejected", "too many spams from your ip",
        "too many unwanted messages have been sent from the following ip address above", "was blocked by ",
        "we do not accept mail from dynamic ips", "you are not allowed to connect", "you are sending spam",
        "your ip address is listed in the rbl", "your network is temporary blacklisted",
        "your server requires confirmation",
        ("(", "@", ":blocked)"), ("access from ip address ", " blocked"), ("client host ", " blocked using"),
        ("connections will not be accepted from ", " because the ip is in spamhaus's list"),
        ("dnsbl:rbl ", ">_is_blocked"), ("email blocked by ", ".barracudacentral.org"),
        ("email blocked by ", "spamhaus"), ("host ", " refused to talk to me: ", " blocked"),
        ("ip ", " is blocked by earthlink"), ("is in an ", "rbl on "), ("mail server at ", " is blocked"),
        ("mail from ", " refused:"), ("mail from ", " refused, see ", "orbs"),
        ("message from ", " rejected based on blacklist"),
        ("messages from ", " temporarily deferred due to user complaints"), ("server ip ", " listed as abusive"),
        ("sorry! your ip address", " is blocked by rbl"), ("the domain ", " is blacklisted"),
        ("the email ", " is blacklisted"), ("the ip", " is blacklisted"),
        ("veuillez essayer plus tard. service refused, please try later. ", "103"),
        ("veuillez essayer plus tard. service refused, please try later. ", "510"),
        ("your access ip", " has been rejected"), ("your sender's ip address is listed at ", ".abuseat.org"),
    ),
    "virusdetected": (
        "it has a potentially executable attachment",
        "the message was rejected because it contains prohibited virus or spam content",
        "this form of attachment has been used by recent viruses or other malware", "virus detected",
        "virus phishing/malicious_url detected", "your message was infected with a virus",
    ),
    "policyviolation": (
        "an illegal attachment on your message", "because the recipient is not accepting mail with ",
        "by non-member to a members-only list", "closed mailing list", "denied by policy",
        "email not accepted for policy reasons", "email rejected due to security policies",
        "header are not accepted", "header error", "local policy violation",
        "message bounced due to organizational settings", "message given low priority",
        "message not accepted for policy reasons", "message rejected due to local policy",
        "messages with multiple addresses", "rejected for policy reasons", "protocol violation",
        "the email address used to send your message is not subscribed to this group",
        "the message was rejected by organization policy",
        "this message was blocked because its content presents a potential",
        "we do not accept messages containing images or other attachments", "you're using a mass mailer",
        ("you have exceeded the", "allowable number of posts without solving a captcha"),
    ),
    "systemerror": (
        "aliasing/forwarding loop broken", "can't create user output file", "could not load drd for domain",
        "internal error reading data", "internal server error: operation now in progress", "interrupted system call",
        "it encountered an error while being processed", "it would create a mail loop", "local configuration error",
        "local error in processing", "loop was found in the mail exchanger", "loops back to myself",
        "mail system configuration error", "queue file write error", "recipient deferred because there is no mdb",
        "remote server is misconfigured", "server configuration error", "service currently unavailable",
        "system config error", "temporary local problem", "timeout waiting for input", "transaction failed ",
        ("unable to connect ", "daemon"),
    ),
    "networkerror": (
        "could not connect and send the mail to", "dns records for the destination computer could not be found",
        "hop count exceeded - possible mail loop", "host is unreachable", "host name lookup failure",
        "host not found, try again", "mail forwarding loop for ", "malformed name server reply",
        "malformed or unexpected name server reply", "maximum forwarding loop count exceeded", "message looping",
        "message probably in a routing loop", "no route to host", "too many hops", "unable to resolve route ",
        "unrouteable mail domain",
    ),
    "systemfull": ("mail system full", "requested mail action aborted: exceeded storage allocation"),
    "notaccept": (
        "does not accept mail (nullmx)", "host/domain does not accept mail", "host does not accept mail",
        "mail receiving disabled", "name server: .: host not found", "no mx record found for domain=",
        "no route for current request", "smtp protocol returned a permanent error",
    ),
    "expired": (
        "connection timed out", "could not find a gateway for", "delivery attempts will continue to be",
        "delivery expired", "delivery time expired", "failed to deliver to domain ", "giving up on",
        "have been failing for a long time", "has been delayed", "it has not been collected after",
        "message expired after sitting in queue for", "message expired, cannot connect to remote server",
        "message expired, connection refulsed", "message timed out",
        "retry time not reached for any host after a long failure period", "server did not respond",
        "this message has been in the queue too long", "unable to deliver message after multiple retries",
        "was not reachable within the allowed queue period", "your message could not be delivered for more than",
        ("could not be delivered for", " days"),
    ),
    "failedstarttls": ("starttls is required to send mail", "tls required but not supported"),
    "securityerror": (
        "account not subscribed to ses", "authentication credentials invalid", "authentication failure",
        "authentication required", "authentication turned on in your email client",
        "executable files are not allowed in compressed files", "insecure mail relay",
        "recipient address rejected: access denied",
        "sorry, you don't authenticate or the domain isn't in my list of allowed rcpthosts",
        "unauthenticated senders not allowed", "verification failure",
        "you are not authorized to send mail, authentication is required",
        ("authentication failed; server ", " said: "), ("authentification invalide", "305"),
        ("authentification requise", "402"), ("domain ", " is a dead domain"),
        ("user ", " is not authorized to perform ses:sendrawemail on resource"),
    ),
    "mailererror": (
        " || exit ", "procmail: ", "bin/procmail", "bin/maidrop", "command failed: ", "command died with status ",
        "command output:", "mailer error", "pipe to |/", "x-unix; ",
    ),
    "vacation": (
        "i am away on vacation", "i am away until", "i am out of the office", "i will be traveling for work on",
    ),
}
_REJECTED_NOT = ("5.1.0 address rejected", "recipient address rejected", "sender ip address rejected")

#: Trial order of the first pass (status and phrase per reason), then of the phrase-only fallback.
_PROBE_ORDER: tuple[str, ...] = (
    "mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved", "norelaying", "authfailure",
    "userunknown", "filtered", "requireptr", "notcompliantrfc", "badreputation", "contenterror", "rejected",
    "hostunknown", "spamdetected", "speeding", "toomanyconn", "blocked",
)
_FALLBACK_ORDER: tuple[str, ...] = (
    "mailboxfull", "authfailure", "badreputation", "speeding", "spamdetected", "virusdetected", "policyviolation",
    "norelaying", "systemerror", "networkerror", "suspend", "contenterror", "systemfull", "notaccept", "expired",
    "failedstarttls", "securityerror", "mailererror",
)
#: Reasons weak enough that the phrases deserve a second look (Sisimai's GetRetried).
_WEAK: frozenset[str] = frozenset(
    {"undefined", "onhold", "systemerror", "securityerror", "expired", "networkerror", "hostunknown", "userunknown"}
)
#: SMTP commands sent before DATA: content-based reasons cannot apply to rejections there.
_BEFORE_DATA: frozenset[str] = frozenset({"CONN", "EHLO", "HELO", "MAIL", "RCPT"})
#: Reasons whose probe also succeeds when the status alone names them.
_BY_STATUS: frozenset[str] = frozenset(
    {"mailboxfull", "exceedlimit", "authfailure", "requireptr", "toomanyconn", "blocked", "rejected"}
)


@dataclass(slots=True)
class Delivery:
    """One recipient's facts as read from a report, before the reason is decided."""

    recipient: str
    action: str = ""
    status: str = ""
    diagnosis: str = ""
    diagnostic_type: str = ""
    reply: str = ""
    command: str = ""
    date: str = ""
    reason: str = ""
    """Set by a reader that knows better than the phrase tables (e.g. a vendor's own wording)."""


def _aligned(text: str, parts: tuple[str, ...]) -> bool:
    position = 0
    for part in parts:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def includes(reason: str, text: str) -> bool:
    """Whether the lower-case diagnostic contains one of the reason's phrases."""
    if not text:
        return False
    if reason == "rejected" and any(p in text for p in _REJECTED_NOT):
        return False
    for phrase in PHRASES.get(reason, ()):
        if (phrase in text) if isinstance(phrase, str) else _aligned(text, phrase):
            return True
    return False


def status_reason(status: str) -> str:
    return STATUS_REASONS.get(status, "")


def _probe(reason: str, d: Delivery, diag: str) -> bool:
    """One reason's test of Sisimai's first pass: its status code, its phrases, and a few guards."""
    named = status_reason(d.status)
    if reason == "userunknown":
        if named == "userunknown":
            return not any(includes(r, diag) for r in ("norelaying", "blocked", "mailboxfull", "hasmoved", "rejected"))
        return d.command == "RCPT" and includes("userunknown", diag)
    if reason == "filtered":
        if named == "filtered":
            return includes("userunknown", diag) or includes("filtered", diag)
        return d.command not in _BEFORE_DATA and (includes("filtered", diag) or includes("userunknown", diag))
    if reason == "hostunknown":
        if named == "hostunknown":
            return not includes("networkerror", diag)
        return includes("hostunknown", diag)
    if reason == "rejected":
        if named == "rejected":
            return True
        if d.command == "MAIL" or (d.command == "DATA" and named != "userunknown"):
            return includes("rejected", diag)
        if named in ("", "undefined", "onhold", "securityerror", "systemerror"):
            return includes("rejected", diag)
        return False
    if reason == "mesgtoobig":
        if named == "mesgtoobig":
            return True
        if named == "exceedlimit" or d.status == "5.2.3":
            return False
        return includes("mesgtoobig", diag)
    if reason == "contenterror":
        if _probe("spamdetected", d, diag):
            return False
        return named == "contenterror" or includes("contenterror", diag)
    if reason == "spamdetected":
        if not d.status:
            return False
        if named == "spamdetected":
            return True
        return d.command not in _BEFORE_DATA and includes("spamdetected", diag)
    if reason == "suspend":
        return d.reply == "525" or includes("suspend", diag)
    if reason == "norelaying":
        return d.command not in ("CONN", "EHLO", "HELO") and includes("norelaying", diag)
    if reason in _BY_STATUS and named == reason:
        return True
    return includes(reason, diag)


def _fallback(d: Delivery, diag: str) -> str:
    """Sisimai's `anotherone`: phrases of the remaining reasons, then the status class and the command."""
    named = status_reason(d.status)
    if named in _WEAK or not named or d.diagnostic_type not in ("SMTP", ""):
        for reason in _FALLBACK_ORDER:
            if includes(reason, diag):
                return reason
        if named:
            return named
        if d.status[:3] in ("5.6", "4.6"):
            return "contenterror"
        if d.status[:3] in ("5.7", "4.7"):
            return "securityerror"
        if d.diagnostic_type.upper().startswith("X-UNIX"):
            return "mailererror"
        if d.reply.isdigit() and (400 < int(d.reply) < 408 or 500 < int(d.reply) < 508):
            return "syntaxerror"
        if d.action in ("delayed", "expired"):
            return "expired"
        if d.command in ("EHLO", "HELO"):
            return "blocked"
    return named


def decide_reason(d: Delivery) -> str:
    """The Sisimai reason word for one recipient: a reader's own verdict first, then status and phrases."""
    if d.reason and d.reason != "expired":  # a vendor's own words, except its generic "giving up"
        return d.reason
    if d.status.startswith("2.") or d.action == "delivered":
        return "delivered"
    diag = d.diagnosis.lower()
    reason = ""
    if not d.diagnostic_type.upper().startswith("X-UNIX"):
        reason = next((r for r in _PROBE_ORDER if _probe(r, d, diag)), "")
    if not reason:
        reason = _fallback(d, diag)
        if not reason and d.action == "delayed":
            reason = "expired"
        if not reason:
            if d.reason:
                return d.reason
            if includes("vacation", diag):
                return "vacation"
            reason = "onhold" if diag else "undefined"
    return reason


def pseudo_status(reason: str, temporary: bool) -> str:
    """Sisimai's internal status (`5.0.911`) for a report that gives no status code of its own."""
    if reason == "delivered":
        return "2.1.5"
    number = PSEUDO_STATUS.get(reason, "900")
    if temporary and reason == "filtered":
        return _TEMPORARY_FILTERED
    if temporary and reason not in _NO_TEMPORARY_PSEUDO:
        return f"4.0.{number}"
    return f"5.0.{number}"


# --- SMTP commands named in a diagnostic (Sisimai's `command.Find`: upper case, not inside a word) -------
_COMMANDS: tuple[tuple[str, str], ...] = (
    ("HELO", "HELO"), ("EHLO", "EHLO"), ("STARTTLS", "STARTTLS"), ("AUTH PLAIN", "AUTH"), ("AUTH LOGIN", "AUTH"),
    ("AUTH CRAM-", "AUTH"), ("AUTH DIGEST-", "AUTH"), ("MAIL F", "MAIL"), ("RCPT", "RCPT"), ("RCPT T", "RCPT"),
    ("DATA", "DATA"), ("QUIT", "QUIT"), ("XFORWARD", "XFORWARD"),
)
_COMMAND_RES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"(?<![0-9A-Za-z@`]){re.escape(word)}" + ("" if " " in word else r"(?![0-9A-Za-z@`])")), name)
    for word, name in _COMMANDS
)


def find_command(text: str) -> str:
    """The SMTP command a diagnostic names (the last of HELO/EHLO/.../RCPT/DATA that occurs), or ''."""
    found: list[str] = []
    for pattern, name in _COMMAND_RES:
        if name not in found and pattern.search(text):
            found.append(name)
    return found[-1] if found else ""


# --- finding codes inside free text -----------------------------------------------------------------------
_STATUS_RE = re.compile(r"(?<![\d.vV])([245])\.([0-7])\.(\d{1,3})(?!\d)")
_IPV4_RE = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")
_REPLY_RE = re.compile(r"(?<![\d.\-:/])([245][0-5][0-9])(?=[ \-,]|$|\])", re.MULTILINE)


def find_status(text: str, klass: str = "") -> str:
    """The RFC 3463 status named in free text, preferring a specific one over `X.0.0` and `4.4.7`."""
    if len(text) < 5:
        return ""
    text = _IPV4_RE.sub(" ", text)
    found: list[str] = []
    weak = ""
    for m in _STATUS_RE.finditer(text):
        if klass and m.group(1) != klass:
            continue
        code = f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
        if code[1:] == ".0.0" or code == "4.4.7":
            weak = code
            continue
        found.append(code)
    if weak:
        found.append(weak)
    if not found:
        return ""
    chosen = found[0]
    for code in found[1:]:
        chosen = prefer_status(chosen, code, "")
    return chosen


def find_reply(text: str, klass: str = "") -> str:
    """The three-digit SMTP reply code in free text (of the given class when one is given)."""
    for m in _REPLY_RE.finditer(text):
        code = m.group(1)
        if code[0] not in "245":
            continue
        if klass and code[0] != klass:
            continue
        if code in ("200", "220", "221", "250", "251", "252", "253", "354") and klass != "2":
            continue
        return code
    return ""


def prefer_status(field: str, in_text: str, reply: str) -> str:
    """Choose between the Status: field and the code inside the diagnostic (Sisimai's `status.Prefer`)."""
    if not field:
        return in_text
    if not in_text or len(in_text) < 5:
        return field
    if len(field) < 5:
        return in_text
    if reply and field[0] != in_text[0]:
        if reply[0] == field[0]:
            return field
        if reply[0] == in_text[0]:
            return in_text
    if field == in_text:
        return field
    if ".0.0" in field:
        return in_text if ".0.0" not in in_text else field
    if ".0" in field and ".0" not in in_text:
        return in_text
    if ".0.0" in in_text:
        return field
    if field in ("4.4.7", "4.7.0") or field.startswith("5.3.") or field[1:4] in (".5.1", ".5.2", ".5.4", ".5.5"):
        return in_text
    if field == "5.1.1":
        return field if (".0" in in_text or in_text.startswith("5.5.")) else in_text
    if field == "5.1.3" and in_text.startswith("5.7."):
        return in_text
    return field
