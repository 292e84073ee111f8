"""The machine-readable Bot API spec (``api.json``) and request validation against it.

Every request parameter is converted according to its spec type (form fields arrive as strings,
JSON bodies as typed values), nested objects are validated recursively (unions are resolved by
their ``type``/``status`` discriminator or by their required fields), and every documented limit
found in a field description (``1-4096 characters after entities parsing``, ``1-64 bytes``,
``A JSON-serialized list of 1-12 answer options``, ``Values between 1-100 are accepted``, ``Only
characters A-Z, a-z, 0-9, _ and - are allowed`` ...) is parsed from the text and enforced, so
there is no hand-written table of limits.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .html import HtmlParseError, parse_html

__all__ = [
    "ApiError",
    "Bound",
    "Converter",
    "Spec",
    "UploadedFile",
    "apply_parse_mode",
    "get_spec",
    "parse_bound",
    "parse_charset",
]

SPEC_PATH = Path(__file__).with_name("api.json")

_ARRAY_PREFIX = "Array of "
_SCALARS = frozenset({"Integer", "String", "Boolean", "Float"})
_INT_RE = re.compile(r"[+-]?\d+")
_DISCRIMINATOR_FIELDS = ("type", "status", "source")
_DISCRIMINATOR_RE = re.compile(r"(?:must be|always)\s+[\"“]?([\w-]+)[\"”]?")

# Limit phrases found in field descriptions.
_TEXT_RANGE_RE = re.compile(r"(?<![\w.-])(\d+)-(\d+) (characters|bytes)\b", re.IGNORECASE)
_AFTER_ENTITIES_RE = re.compile(r"after entit(?:y|ies) parsing")
_ARRAY_RANGE_RE = re.compile(
    r"(?:\bof|\binclude|[;,]) (\d+)-(\d+) (?!characters|bytes)[A-Za-z]", re.IGNORECASE
)
_ARRAY_AT_MOST_RE = re.compile(r"\bat most (\d+) [\w -]*?can be specified", re.IGNORECASE)
_ARRAY_UP_TO_RE = re.compile(r"\bup to (\d+) (?!kilobytes|megabytes|sizes)[A-Za-z]", re.IGNORECASE)
_VALUE_RE = (
    re.compile(r"values between (\d+)-(\d+) are accepted", re.IGNORECASE),
    re.compile(r"(?:^|[;,:]\s)(\d+)-(\d+)(?=$|[.;,])"),
    re.compile(r"must be between (\d+) and (\d+)(?: if specified)?(?=$|\.)", re.IGNORECASE),
)
_CHARSET_CHARS_RE = re.compile(
    r"\bonly (?:characters )?((?:[A-Za-z0-9]-[A-Za-z0-9]|[_-])"
    r"(?:(?:, | and )(?:[A-Za-z0-9]-[A-Za-z0-9]|[_-]))*) (?:are|is) allowed",
    re.IGNORECASE,
)
_CHARSET_WORDS_RE = re.compile(
    r"\bcan contain only ((?:(?:lowercase |uppercase )?English letters|digits|underscores|hyphens)"
    r"(?:(?:, | and )(?:(?:lowercase |uppercase )?English letters|digits|underscores|hyphens))*)",
    re.IGNORECASE,
)
_EXCLUSIVE_RE = re.compile(
    r"\b(exactly|at most) one of the (optional )?fields"
    r"(?: other than ([\w, ]+?)| (\w+) or (\w+))?(?: (?:must|can|will) be|\.|$)",
    re.IGNORECASE,
)
_CHARSET_WORDS = {
    "lowercase english letters": "a-z",
    "uppercase english letters": "A-Z",
    "english letters": "A-Za-z",
    "digits": "0-9",
    "underscores": "_",
    "hyphens": r"\-",
}


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, ``description`` and optional ``parameters``."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


@dataclass(frozen=True)
class UploadedFile:
    """A file sent with multipart/form-data."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Bound:
    """A documented limit: string length, byte length, array length or numeric range."""

    low: float | None
    high: float | None
    unit: Literal["characters", "bytes", "items", "value"]
    after_entities: bool = False

    def describe(self) -> str:
        low = _fmt_number(self.low)
        high = _fmt_number(self.high)
        if self.unit == "value":
            return f"between {low} and {high}"
        if self.unit == "items":
            if self.low is None:
                return f"at most {high} items"
            return f"{low}-{high} items"
        return f"{low}-{high} {self.unit}"

    def accepts(self, measured: float) -> bool:
        if self.low is not None and measured < self.low:
            return False
        return not (self.high is not None and measured > self.high)


def _fmt_number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def _kind(types: Sequence[str]) -> str:
    if types and all(t.startswith(_ARRAY_PREFIX) for t in types):
        return "array"
    if list(types) == ["String"]:
        return "string"
    if types and all(t in ("Integer", "Float") for t in types):
        return "number"
    return "other"


def parse_bound(description: str, types: Sequence[str]) -> Bound | None:
    """Extract the documented limit of a field from its description (``None`` if there is none)."""
    kind = _kind(types)
    if kind == "string":
        match = _TEXT_RANGE_RE.search(description)
        if match is None:
            return None
        sentence_end = description.find(".", match.end())
        tail = description[match.end() : sentence_end if sentence_end >= 0 else None]
        unit: Literal["characters", "bytes"] = (
            "bytes" if match.group(3).lower() == "bytes" else "characters"
        )
        return Bound(
            int(match.group(1)),
            int(match.group(2)),
            unit,
            after_entities=bool(_AFTER_ENTITIES_RE.search(tail)),
        )
    if kind == "array":
        match = _ARRAY_RANGE_RE.search(description)
        if match is not None:
            return Bound(int(match.group(1)), int(match.group(2)), "items")
        for regex in (_ARRAY_AT_MOST_RE, _ARRAY_UP_TO_RE):
            match = regex.search(description)
            if match is not None:
                return Bound(None, int(match.group(1)), "items")
        return None
    if kind == "number":
        if len(re.findall(r"\bbetween\b", description, re.IGNORECASE)) > 1:
            return None  # several conditional ranges ("... and price in X must be between ...")
        for regex in _VALUE_RE:
            match = regex.search(description)
            if match is not None:
                return Bound(int(match.group(1)), int(match.group(2)), "value")
    return None


def parse_charset(description: str) -> tuple[re.Pattern[str], str] | None:
    """Extract an allowed-characters rule: (full-match regex, human readable rule)."""
    match = _CHARSET_CHARS_RE.search(description)
    if match is not None:
        parts = re.split(r", | and ", match.group(1))
        klass = "".join(re.escape(p) if len(p) == 1 else p for p in parts)
        return re.compile(f"[{klass}]+"), f"contain only characters {match.group(1)}"
    match = _CHARSET_WORDS_RE.search(description)
    if match is not None:
        parts = re.split(r", | and ", match.group(1))
        klass = "".join(_CHARSET_WORDS[p.lower()] for p in parts)
        return re.compile(f"[{klass}]+"), f"contain only {match.group(1)}"
    return None


def parse_exclusive(
    description: str, fields: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str]] | None:
    """Parse "Exactly one of the fields other than text ... must be used" from a type description.

    Returns ("exactly" | "at most", [field names]) or None.
    """
    match = _EXCLUSIVE_RE.search(description)
    if match is None:
        return None
    names = [f["name"] for f in fields]
    if match.group(4):
        group = [match.group(4), match.group(5)]
    elif match.group(3):
        excluded = {part.strip() for part in re.split(r",\s*(?:and\s+)?|\s+and\s+", match.group(3))}
        group = [name for name in names if name not in excluded]
    else:
        group = [f["name"] for f in fields if not f.get("required")]
    return match.group(1).lower(), group


def apply_parse_mode(
    text: str, parse_mode: str | None, *, strict_html: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """Parse ``text`` according to ``parse_mode`` like the Bot API does; raises :class:`ApiError`.

    HTML is parsed fully; Markdown/MarkdownV2 are accepted and left as is.
    """
    mode = (parse_mode or "").lower()
    if mode in ("", "none"):
        return text, []
    if mode == "html":
        try:
            return parse_html(text, strict=strict_html)
        except HtmlParseError as err:
            raise bad_request(f"can't parse entities: {err}") from None
    if mode in ("markdown", "markdownv2"):
        return text, []
    raise bad_request("unsupported parse_mode")


@dataclass(frozen=True)
class FieldRules:
    bound: Bound | None
    charset: tuple[re.Pattern[str], str] | None


class Spec:
    """Indexed view of ``api.json``."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.version: str = str(data.get("version", ""))
        self.methods: dict[str, dict[str, Any]] = {
            name: _with_returns(method) for name, method in data["methods"].items()
        }
        self.types: dict[str, dict[str, Any]] = dict(data["types"])
        self._lower = {name.lower(): name for name in self.methods}
        self._rules: dict[tuple[str, str], FieldRules] = {}
        for owner, spec in (*self.methods.items(), *self.types.items()):
            for field in spec.get("fields", []):
                description = field.get("description", "")
                self._rules[(owner, field["name"])] = FieldRules(
                    parse_bound(description, field["types"]),
                    parse_charset(description) if _kind(field["types"]) == "string" else None,
                )
        self._discriminators: dict[str, tuple[str, str] | None] = {}
        self._exclusive: dict[str, tuple[str, list[str]]] = {}
        for name, spec in self.types.items():
            rule = parse_exclusive(" ".join(spec.get("description", [])), spec.get("fields", []))
            if rule is not None:
                self._exclusive[name] = rule

    def exclusive(self, type_name: str) -> tuple[str, list[str]] | None:
        """("exactly" | "at most", fields): documented mutually exclusive fields of a type."""
        return self._exclusive.get(type_name)

    def method_name(self, name: str) -> str | None:
        """The spec spelling of a method name, matched case-insensitively (like Telegram)."""
        return self._lower.get(name.lower())

    def fields(self, owner: str) -> list[dict[str, Any]]:
        spec = self.methods.get(owner) or self.types.get(owner) or {}
        return list(spec.get("fields", []))

    def rules(self, owner: str, field: str) -> FieldRules:
        return self._rules.get((owner, field), FieldRules(None, None))

    def bound(self, owner: str, field: str) -> Bound | None:
        return self.rules(owner, field).bound

    def discriminator(self, type_name: str) -> tuple[str, str] | None:
        """(field, literal) identifying a subtype, e.g. ("type", "chat") for BotCommandScopeChat."""
        if type_name not in self._discriminators:
            found: tuple[str, str] | None = None
            for field in self.types.get(type_name, {}).get("fields", []):
                if field["name"] in _DISCRIMINATOR_FIELDS:
                    match = _DISCRIMINATOR_RE.search(field.get("description", ""))
                    if match is not None:
                        found = (field["name"], match.group(1))
                        break
            self._discriminators[type_name] = found
        return self._discriminators[type_name]

    def expand(self, type_names: Iterable[str]) -> list[str]:
        """Replace abstract types (with ``subtypes``) by their concrete object subtypes."""
        result: list[str] = []
        for name in type_names:
            spec = self.types.get(name)
            if spec is None:
                continue
            if spec.get("subtypes"):
                for sub in self.expand(spec["subtypes"]):
                    if sub not in result:
                        result.append(sub)
            elif name not in result:
                result.append(name)
        return result

    def required_fields(self, type_name: str) -> list[str]:
        return [f["name"] for f in self.fields(type_name) if f.get("required")]


_RETURNS_TRUE_RE = re.compile(r"Returns (?::code:`)?True|(?::code:`)?True`? is returned")


def _with_returns(method: Mapping[str, Any]) -> dict[str, Any]:
    """The method, with its return type read from its description when the spec leaves it
    empty (the 10.2+ entries say "Returns True on success" in prose only)."""
    result = dict(method)
    if not result.get("returns"):
        description = " ".join(result.get("description", []))
        if _RETURNS_TRUE_RE.search(description):
            result["returns"] = ["Boolean"]
    return result


@functools.cache
def get_spec() -> Spec:
    """Load ``api.json`` from the package directory, once."""
    with SPEC_PATH.open(encoding="utf-8") as fh:
        return Spec(json.load(fh))


def _describe(types: Sequence[str]) -> str:
    return " or ".join(types)


def _parse_mode_field(name: str, names: set[str], rules: FieldRules) -> str | None:
    """The sibling field holding the parse mode of a text field, if any."""
    if f"{name}_parse_mode" in names:
        return f"{name}_parse_mode"
    if "parse_mode" in names and name != "parse_mode":
        if f"{name}_entities" in names:
            return "parse_mode"
        if "entities" in names and rules.bound is not None and rules.bound.after_entities:
            return "parse_mode"
    return None


class Converter:
    """Converts and validates the parameters of one request."""

    def __init__(
        self,
        spec: Spec,
        files: Mapping[str, UploadedFile] | None = None,
        *,
        strict_html: bool = False,
        reject_unknown: bool = False,
    ) -> None:
        self.spec = spec
        self.files = dict(files or {})
        self.strict_html = strict_html
        self.reject_unknown = reject_unknown

    # -- entry points -----------------------------------------------------------------------
    def convert_params(self, method: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the parameters of ``method`` (spec spelling); raises :class:`ApiError`."""
        fields = self.spec.fields(method)
        names = {f["name"] for f in fields}
        source = dict(raw)
        for key, upload in self.files.items():
            if key in names and key not in source:
                source[key] = upload
        unknown = sorted(
            key
            for key, value in source.items()
            if key not in names and not isinstance(value, UploadedFile)
        )
        if unknown and self.reject_unknown:
            # a parameter the spec does not define for this method (removed, misspelt, or
            # never there): Telegram may ignore it or refuse it; the emulator refuses it, so
            # that the bot never counts on one
            raise bad_request(f"unknown parameter {unknown[0]!r} for method {method}")
        result = self._convert_fields(method, fields, source, "")
        for key in unknown:  # kept when ignored, for the tests that look at a call
            result.setdefault(key, source[key])
        return result

    def convert_object(self, value: Any, type_name: str, path: str = "") -> Any:
        """Validate a value against a spec type (also used to self-check responses)."""
        return self._convert(value, [type_name], path or type_name)

    def convert_value(self, value: Any, types: Sequence[str], path: str) -> Any:
        """Validate a value against alternative spec types (e.g. ``["Message", "Boolean"]``)."""
        return self._convert(value, types, path)

    # -- conversion -------------------------------------------------------------------------
    def _convert_fields(
        self, owner: str, fields: list[dict[str, Any]], value: Mapping[str, Any], path: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in fields:
            name = field["name"]
            sub = f"{path}.{name}" if path else name
            item = value.get(name)
            if item is None:
                if field.get("required"):
                    raise self._missing(sub)
                continue
            if (
                isinstance(item, str)
                and item.startswith("attach://")
                and "attach://" in field.get("description", "")
            ):
                # String fields documented to accept "attach://<file_attach_name>" uploads
                out[name] = self._attachment(item, sub)
                continue
            out[name] = self._convert(item, field["types"], sub)
        names = {f["name"] for f in fields}
        for field in fields:
            name = field["name"]
            if name not in out:
                continue
            if out[name] == "" and not field.get("required"):
                continue  # an empty optional string is treated as absent
            self._check_limits(owner, name, out, names, path)
        return out

    def _missing(self, path: str) -> ApiError:
        if path == "text":
            return bad_request("message text is empty")
        return bad_request(f'field "{path}" is required')

    def _type_error(self, path: str, types: Sequence[str]) -> ApiError:
        return bad_request(f'field "{path}" must be of type {_describe(types)}')

    def _convert(self, value: Any, types: Sequence[str], path: str) -> Any:
        if isinstance(value, UploadedFile):
            if "InputFile" in types:
                return value
            raise self._type_error(path, types)
        if isinstance(value, str):
            return self._convert_str(value, types, path)
        if isinstance(value, bool):
            if "Boolean" in types:
                return value
            raise self._type_error(path, types)
        if isinstance(value, int):
            if "Integer" in types:
                return value
            if "Float" in types:
                return float(value)
            if "String" in types:
                return str(value)
            raise self._type_error(path, types)
        if isinstance(value, float):
            if "Float" in types:
                return value
            if "Integer" in types and value.is_integer():
                return int(value)
            if "String" in types:
                return str(value)
            raise self._type_error(path, types)
        if isinstance(value, list):
            return self._convert_list(value, types, path)
        if isinstance(value, dict):
            return self._convert_dict(value, types, path)
        raise self._type_error(path, types)

    def _convert_str(self, value: str, types: Sequence[str], path: str) -> Any:
        if "InputFile" in types and value.startswith("attach://"):
            return self._attachment(value, path)
        if "String" in types:
            if "Integer" in types and _INT_RE.fullmatch(value.strip()):
                return int(value)
            return value
        if "Integer" in types:
            if _INT_RE.fullmatch(value.strip()):
                return int(value)
            raise self._type_error(path, types)
        if "Float" in types:
            try:
                return float(value)
            except ValueError:
                raise self._type_error(path, types) from None
        if "Boolean" in types:
            lowered = value.strip().lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise self._type_error(path, types)
        structured = [t for t in types if t.startswith(_ARRAY_PREFIX) or t in self.spec.types]
        if structured and structured != ["InputFile"]:
            try:
                decoded = json.loads(value)
            except ValueError:
                decoded = None
            if isinstance(decoded, (list, dict)):
                return self._convert(decoded, types, path)
            # Telegram still accepts a plain string for objects with one required String field
            # (e.g. poll options given as ["a", "b"] instead of [{"text": "a"}, ...]).
            if "[" in path:
                for name in self.spec.expand(structured):
                    required = [f for f in self.spec.fields(name) if f.get("required")]
                    if len(required) == 1 and required[0]["types"] == ["String"]:
                        return self._convert({required[0]["name"]: value}, [name], path)
            raise bad_request(f'field "{path}" must be a JSON-serialized {_describe(types)}')
        raise self._type_error(path, types)

    def _attachment(self, value: str, path: str) -> UploadedFile:
        key = value[len("attach://") :]
        upload = self.files.get(key)
        if upload is None:
            raise bad_request(f'field "{path}": file "attach://{key}" was not uploaded')
        return upload

    def _convert_list(self, value: list[Any], types: Sequence[str], path: str) -> list[Any]:
        alternatives = [t[len(_ARRAY_PREFIX) :] for t in types if t.startswith(_ARRAY_PREFIX)]
        if not alternatives:
            raise self._type_error(path, types)
        element = alternatives[0]
        if len(alternatives) > 1 and value and isinstance(value[0], dict):
            for alt in alternatives:
                if self._discriminated_by(value[0], alt):
                    element = alt
                    break
        return [self._convert(item, [element], f"{path}[{i}]") for i, item in enumerate(value)]

    def _discriminated_by(self, value: Mapping[str, Any], type_name: str) -> bool:
        for concrete in self.spec.expand([type_name]):
            disc = self.spec.discriminator(concrete)
            if disc is not None and value.get(disc[0]) == disc[1]:
                return True
        return False

    def _convert_dict(self, value: dict[str, Any], types: Sequence[str], path: str) -> Any:
        candidates = self.spec.expand([t for t in types if t in self.spec.types])
        if not candidates:
            raise self._type_error(path, types)
        chosen = self._choose(value, candidates, path)
        fields = self.spec.fields(chosen)
        if not fields:
            return dict(value)
        result = self._convert_fields(chosen, fields, value, path)
        rule = self.spec.exclusive(chosen)
        if rule is not None:
            used = [name for name in rule[1] if name in result]
            if len(used) > 1 or (rule[0] == "exactly" and not used):
                where = f'field "{path}"' if path else chosen
                raise bad_request(
                    f"{where} must use {rule[0]} one of the fields {', '.join(rule[1])}"
                    + (f" (got {', '.join(used)})" if used else "")
                )
        return result

    def _choose(self, value: Mapping[str, Any], candidates: list[str], path: str) -> str:
        if len(candidates) == 1:
            return candidates[0]
        discriminated = [
            (name, disc)
            for name in candidates
            if (disc := self.spec.discriminator(name)) is not None
        ]
        if discriminated:
            for name, (field, literal) in discriminated:
                if value.get(field) == literal:
                    return name
            field = discriminated[0][1][0]
            sub = f"{path}.{field}" if path else field
            if value.get(field) is None:
                raise self._missing(sub)
            allowed = ", ".join(sorted({d[1] for _, d in discriminated}))
            raise bad_request(f'field "{sub}" must be one of: {allowed}')

        def score(name: str) -> tuple[bool, int]:
            required = self.spec.required_fields(name)
            present = sum(1 for f in required if value.get(f) is not None)
            return present == len(required), present

        return max(candidates, key=score)

    # -- documented limits ------------------------------------------------------------------
    def _check_limits(
        self, owner: str, name: str, values: Mapping[str, Any], names: set[str], path: str
    ) -> None:
        rules = self.spec.rules(owner, name)
        value = values[name]
        sub = f"{path}.{name}" if path else name
        if isinstance(value, str):
            mode_field = _parse_mode_field(name, names, rules)
            mode = values.get(mode_field) if mode_field else None
            plain = value
            if isinstance(mode, str) and mode:
                plain, _ = apply_parse_mode(value, mode, strict_html=self.strict_html)
            bound = rules.bound
            if bound is not None:
                if bound.unit == "bytes":
                    measured = len(value.encode("utf-8", "surrogatepass"))
                else:
                    if bound.after_entities or mode:
                        plain = plain.strip()
                    measured = len(plain)
                if not bound.accepts(measured):
                    raise self._bound_error(sub, bound, measured)
            if rules.charset is not None and not rules.charset[0].fullmatch(value):
                raise bad_request(f'field "{sub}" must {rules.charset[1]}')
            return
        bound = rules.bound
        if bound is None:
            return
        if isinstance(value, list) and bound.unit == "items":
            if not bound.accepts(len(value)):
                raise self._bound_error(sub, bound, len(value))
        elif (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and bound.unit == "value"
            and not bound.accepts(value)
        ):
            raise self._bound_error(sub, bound, value)

    def _bound_error(self, path: str, bound: Bound, measured: float) -> ApiError:
        too_short = bound.low is not None and measured < bound.low
        if bound.after_entities and path == "text":
            return bad_request("message text is empty" if too_short else "message is too long")
        if bound.after_entities and path == "caption" and not too_short:
            return bad_request("message caption is too long")
        verb = "contain" if bound.unit == "items" else "be"
        return bad_request(f'field "{path}" must {verb} {bound.describe()}')
