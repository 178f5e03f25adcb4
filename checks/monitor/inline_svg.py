"""Make a standalone SVG document fit inside an HTML page, next to others like it.

Dropped: the XML declaration, the DOCTYPE (its DTD is a URL), the namespace
declarations (inside HTML, <svg> is SVG without them) and <metadata>. `xlink:href`
becomes SVG 2's plain `href`. Every id gets `prefix-` unless it is already one of
`keep`, and each reference to it (`href="#id"`, `url(#id)`) follows, so two charts
drawn alike (same clip rectangle, same tick marker) never share an id on one page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping

_URL_REF = re.compile(r"url\(#([^)]+)\)")


def inline(svg: str, prefix: str, keep: Collection[str], root: Mapping[str, str]) -> str:
    """`svg` as an <svg> element for an HTML page; `root` attributes set on it."""
    tree = ET.fromstring(svg)
    for element in tree.iter():
        element.tag = _local(element.tag)
        for key in [k for k in element.attrib if k.startswith("{")]:
            element.attrib[_local(key)] = element.attrib.pop(key)
        for child in [c for c in element if _local(c.tag) == "metadata"]:
            element.remove(child)
    renamed = {
        old: f"{prefix}-{old}"
        for element in tree.iter()
        if (old := element.get("id")) is not None and old not in keep
    }
    for element in tree.iter():
        _rename(element, renamed)
    tree.attrib.pop("version", None)
    tree.attrib.update(root)
    return ET.tostring(tree, encoding="unicode")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _rename(element: ET.Element, renamed: Mapping[str, str]) -> None:
    for key, value in list(element.attrib.items()):
        if key == "id":
            element.set(key, renamed.get(value, value))
        elif key == "href" and value.startswith("#"):
            element.set(key, "#" + renamed.get(value[1:], value[1:]))
        elif "url(#" in value:
            element.set(key, _URL_REF.sub(lambda m: f"url(#{renamed.get(m[1], m[1])})", value))
