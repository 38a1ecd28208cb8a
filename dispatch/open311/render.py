"""GeoReport v2 bodies as XML or JSON (the Spark convention: a list becomes repeated child elements)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi.responses import Response

from dispatch.localtime import SHANGHAI

FORMATS = ("xml", "json")
MEDIA_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}

# the element of one item of each list, by the list's name
ITEMS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "service_request_updates": "request_update",
}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def w3(dt: datetime | None) -> str | None:
    """W3C datetime in Beijing time with its offset and whole seconds: 2026-11-22T10:05:00+08:00."""
    if dt is None:
        return None
    return dt.astimezone(SHANGHAI).replace(microsecond=0).isoformat()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(el: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(el, key), item)
    elif isinstance(value, list):
        tag = ITEMS.get(el.tag, "item")
        for item in value:
            _fill(ET.SubElement(el, tag), item)
    else:
        el.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    el = ET.Element(root)
    _fill(el, value)
    ET.indent(el)
    body = ET.tostring(el, encoding="unicode", short_empty_elements=False)  # <a></a> as in the spec's examples
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body.encode()


def respond(fmt: str, root: str, value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``value`` as ``fmt``; ``root`` names the XML root element (JSON has no root)."""
    if fmt == "json":
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        body = to_xml(root, value)
    return Response(body, status_code=status, media_type=MEDIA_TYPES[fmt], headers=headers)


def errors(fmt: str, status: int, *descriptions: str, headers: Mapping[str, str] | None = None) -> Response:
    """The specification's error list; XML when the format is unknown (XML is the required one)."""
    body = [{"code": status, "description": d} for d in descriptions]
    return respond(fmt if fmt in FORMATS else "xml", "errors", body, status, headers)
