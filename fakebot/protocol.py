"""Telegram's wire format as the fake reads and answers it: error answers and the decoding of parameters."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from .records import JSONDict

__all__ = [
    "ApiError",
    "INT_RE",
    "as_bool",
    "as_int",
    "as_json_object",
    "bad_request",
    "decode_form_value",
    "opt_float",
    "opt_int",
    "unix_now",
]

INT_RE = re.compile(r"-?\d+")

# Parameters that python-telegram-bot sends as raw strings (it JSON-encodes every non-string value). Everything
# else in a form body is JSON-decoded when it parses.
_STRING_PARAMS = frozenset(
    {
        "text",
        "parse_mode",
        "caption",
        "callback_query_id",
        "inline_query_id",
        "next_offset",
        "url",
        "action",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "data",
        "description",
        "short_description",
        "name",
        "title",
        "secret_token",
    }
)


class ApiError(Exception):
    """An error answer in Telegram's shape."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def decode_form_value(key: str, value: str) -> Any:
    if key in _STRING_PARAMS or not value or value[0] not in '[{"-0123456789tfn':
        return value
    if value.isdigit() and value.isascii() and (value[0] != "0" or len(value) == 1):
        return int(value)  # the common case (chat_id, message_id, offset), without the JSON decoder
    try:
        return json.loads(value)
    except ValueError:
        return value


def as_json_object(value: Any) -> Any:
    """A JSON-serialized parameter (e.g. reply_markup sent in a JSON body as a string) decoded."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f'field "{name}" must be of type Integer')
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and INT_RE.fullmatch(value.strip()):
        return int(value)
    raise bad_request(f'field "{name}" must be of type Integer')


def opt_int(params: JSONDict, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    return as_int(value, name)


def opt_float(params: JSONDict, name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise bad_request(f'field "{name}" must be of type Number')


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def unix_now() -> int:
    return int(time.time())
