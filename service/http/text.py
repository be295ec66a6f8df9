"""What text the API stores: emails as a mail library normalizes them, names and descriptions
without characters that change how text around them renders.

The rules, and why, are in docs/api.md, "Text input".
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

# Format characters (Cf) that reorder or hide text: the bidirectional
# controls, and invisible separators that make two strings look alike.
# Zero-width joiners (U+200C, U+200D) are not here: scripts and emoji need them.
INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)
# The same set for JSON Schema patterns, so clients and fuzzers know the rule.
_INVISIBLE_CLASS = "\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff"
_CONTROLS_CLASS = "\\u0000-\\u001f\\u007f-\\u009f"
LINE_CONTROLS = frozenset("\t\n\r")

# Patterns that mirror the validators below (JSON Schema, ECMA 262 syntax).
_NAME_CHAR = f"[^{_CONTROLS_CLASS}{_INVISIBLE_CLASS}]"
# At least one character that is not white space: a name is never blank.
NAME_PATTERN = f"^{_NAME_CHAR}*[^\\s{_CONTROLS_CLASS}{_INVISIBLE_CLASS}]{_NAME_CHAR}*$"
DESCRIPTION_PATTERN = (
    f"^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f{_INVISIBLE_CLASS}]*$"
)


def refuse_controls(value: str, *, allow: frozenset[str] = frozenset()) -> str:
    """The value, unless it holds a control character (Cc) or an invisible format character."""
    for char in value:
        if char in allow:
            continue
        if unicodedata.category(char) == "Cc" or char in INVISIBLE:
            raise ValueError(
                f"must not contain control or invisible formatting characters (U+{ord(char):04X})"
            )
    return value


def _script(char: str) -> str:
    # The first word of a letter's Unicode name is its script for the
    # alphabets that look alike (LATIN, CYRILLIC, GREEK, ...).
    return unicodedata.name(char, "?").split(" ", 1)[0]


def _mixes_scripts(part: str) -> bool:
    scripts = {_script(char) for char in part if char.isalpha()}
    return len(scripts) > 1


def normalize_email(value: str) -> str:
    """The email as stored and compared: NFKC, validated, case-folded; refused if it mixes
    scripts within its local part or one domain label (a Latin name with one Cyrillic letter)."""
    refuse_controls(value)
    value = unicodedata.normalize("NFKC", value.strip())
    try:
        valid = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    # Addresses compare case-insensitively here, as most providers treat them.
    # casefold() may leave upper case (Cherokee); lower() settles it, so the
    # database's own `email = lower(email)` check holds.
    email = valid.normalized.casefold().lower()
    local, domain = email.rsplit("@", 1)
    if _mixes_scripts(local) or any(_mixes_scripts(label) for label in domain.split(".")):
        raise ValueError("must not mix alphabets within one part (a look-alike address)")
    return email
