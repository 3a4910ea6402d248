"""Validate STAC objects with pystac against vendored JSON schemas, never the network.

The schemas live in ``data/stac-schemas/`` beside this file, laid out by their canonical URL
(``https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json`` is
``data/stac-schemas/schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json``); where each
came from is in ``data/stac-schemas/PROVENANCE.md``.

    from stac_offline import validate, SchemaNotVendored
    validate(collection_dict)            # or a pystac.Collection / Item / Catalog
    validate(item, ignore_extensions=["https://stac-extensions.github.io/processing/v1.1.0/schema.json"])

``validate`` returns the list of schema URIs it validated against and raises
``pystac.STACValidationError`` when the object is invalid. A schema (or a ``$ref`` inside one)
that is not vendored raises ``SchemaNotVendored``: nothing is ever fetched. pystac's own
built-in schema cache is not used either, so every schema comes from the vendored folder. While
validating, socket connections and DNS look-ups are refused (``NetworkBlocked``), as a second
guard against any library fetching something behind our back.

``ignore_extensions`` drops the named extension URIs from the list that pystac validates
against (the fields stay in the object and are still checked by the core schema). Use it only
for an extension whose schema is known to be unavailable offline, and say so where it is used.
"""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urldefrag, urlsplit

import pystac
import pystac.validation
from pystac.validation.stac_validator import JsonSchemaSTACValidator
from referencing import Registry, Resource

SCHEMA_ROOT = Path(__file__).resolve().parent / "data" / "stac-schemas"


class SchemaNotVendored(LookupError):
    """A schema was needed that is not in data/stac-schemas (nothing is fetched)."""


class NetworkBlocked(RuntimeError):
    """Something tried to open a network connection during offline validation."""


def local_path(uri: str) -> Path:
    """The vendored file for a schema URI (http or https, fragment ignored)."""
    url, _ = urldefrag(uri)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SchemaNotVendored(f"not an http(s) schema URI: {uri!r}")
    path = (SCHEMA_ROOT / parts.netloc / parts.path.lstrip("/")).resolve()
    if SCHEMA_ROOT not in path.parents:
        raise SchemaNotVendored(f"schema URI escapes the schema folder: {uri!r}")
    return path


def vendored_uris() -> list[str]:
    """Every schema URI that can be resolved offline (as https URLs)."""
    return sorted(
        "https://" + p.relative_to(SCHEMA_ROOT).as_posix()
        for p in SCHEMA_ROOT.rglob("*.json")
    )


def load_schema(uri: str) -> dict[str, Any]:
    path = local_path(uri)
    if not path.is_file():
        raise SchemaNotVendored(
            f"schema {urldefrag(uri)[0]} is not vendored (looked for {path}); "
            "offline validation never fetches: add it to Tests/python/data/stac-schemas "
            "with its provenance, or pass it in ignore_extensions"
        )
    with path.open(encoding="utf-8") as f:
        return json.load(f)


class OfflineSTACValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator, reading schemas only from data/stac-schemas."""

    def __init__(self) -> None:
        super().__init__()
        # Drop pystac's built-in copies so every schema demonstrably comes from our folder.
        self.schema_cache = {}

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        key = urldefrag(schema_uri)[0]
        if key not in self.schema_cache:
            self.schema_cache[key] = load_schema(key)
        return self.schema_cache[key]

    @property
    def registry(self) -> Any:
        def retrieve(uri: str) -> Resource[Any]:
            return Resource.from_contents(self._get_schema(uri))

        # jsonschema adds its bundled meta-schemas (draft-07 etc.) to this registry itself.
        return Registry(retrieve=retrieve).with_resources(  # type: ignore[call-arg]
            [(k, Resource.from_contents(v)) for k, v in self.schema_cache.items()]
        )


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse socket connections and DNS look-ups inside the block (AF_UNIX still works)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NetworkBlocked(f"network access during offline STAC validation: {args!r}")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        refuse(address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect_ex(self, address)
        refuse(address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    socket.create_connection = refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
        socket.create_connection = real_create_connection


def validate(
    obj: dict[str, Any] | pystac.STACObject,
    *,
    ignore_extensions: Iterable[str] = (),
) -> list[str]:
    """Validate a STAC Item/Collection/Catalog (dict or pystac object) offline.

    Returns the schema URIs validated against. Raises pystac.STACValidationError when
    invalid, SchemaNotVendored when a needed schema is missing, NetworkBlocked if anything
    tried to reach the network.
    """
    if isinstance(obj, pystac.STACObject):
        stac_dict = obj.to_dict(include_self_link=False)
    elif isinstance(obj, dict):
        stac_dict = obj
    else:
        raise TypeError(f"expected a dict or a pystac STACObject, got {type(obj).__name__}")
    ignored = set(ignore_extensions)
    extensions = [e for e in stac_dict.get("stac_extensions", []) if e not in ignored]
    with no_network():
        return pystac.validation.validate_dict(
            stac_dict,
            extensions=extensions,
            validator=OfflineSTACValidator(),
        )
