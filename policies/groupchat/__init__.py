"""Class group chats under articles B.1 and A.6: the platform catalog, the chat, the check.

    catalog = load_platforms()
    chat = validate_chat(form_or_json, catalog)          # ChatInputError names each bad field
    school = validate_school({"closed_platform": "parro"}, catalog)
    findings = active_findings(check_chat(chat, school, catalog), policy)

``check_chat`` is pure, so the collector re-checks every stored chat whenever the school's
setting, the platform catalog (``catalog.digest``) or the policy changes.
"""

from policies.groupchat.chat import (
    ACCOUNTS,
    ALTERNATIVES,
    FIELDS,
    PURPOSES,
    Account,
    Alternative,
    Chat,
    ChatInputError,
    FieldError,
    Purpose,
    School,
    validate_chat,
    validate_school,
)
from policies.groupchat.check import CODES, ChatFinding, active_findings, check_chat
from policies.groupchat.platforms import (
    ChatPlatform,
    Confidence,
    PlatformCatalog,
    PlatformKind,
    load_platforms,
    parse_platforms,
)

__all__ = [
    "ACCOUNTS",
    "ALTERNATIVES",
    "CODES",
    "FIELDS",
    "PURPOSES",
    "Account",
    "Alternative",
    "Chat",
    "ChatFinding",
    "ChatInputError",
    "ChatPlatform",
    "Confidence",
    "FieldError",
    "PlatformCatalog",
    "PlatformKind",
    "Purpose",
    "School",
    "active_findings",
    "check_chat",
    "load_platforms",
    "parse_platforms",
    "validate_chat",
    "validate_school",
]
