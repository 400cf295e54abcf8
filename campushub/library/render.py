"""Published files as HTML for anonymous visitors: nothing a publisher wrote may ever run or fetch.

A publisher controls every byte of a published file, its name included, and the visitors reading it never
agreed to run their code. So every rendering follows one rule: whatever a converter produces (nbconvert,
mistune), the HTML reaches a visitor only through `sanitize_html`, which keeps structure and formatting and
drops everything that runs, loads or navigates: scripts, event handlers, styles (CSS can fetch through
url()), frames, forms, SVG and MathML, remote images. The page is then served with `SECURITY_HEADERS`,
whose Content-Security-Policy allows no script at all, so a mistake in the sanitizer is not enough on its
own to run anything.

Notebooks are rebuilt, not filtered: only the fields the page shows are copied, with their types checked,
so widget state, JavaScript outputs and whatever else a hostile notebook carries never reach nbconvert.
Rendering is bounded (cells, characters and tags per cell, a cost per notebook) because a visitor's request
must not cost the service more than a couple of seconds, whatever was published; it is still CPU work, to
run off the event loop and to cache.
"""

from __future__ import annotations

import csv
import functools
import html
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin

import mistune
import nh3
from pygments.formatters import HtmlFormatter

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        # Nothing that is not named below: no script, no connect, no frame, no media, no object, no worker.
        "default-src 'none'",
        # data: for notebook outputs and attachments; 'self' for images the library serves itself (raw/).
        "img-src 'self' data:",
        # 'unsafe-inline' is for PAGE_CSS in the page's own <style>: publisher styles never get through
        # sanitize_html, and no remote host may serve CSS (url() in CSS could leak who reads what).
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        # Without allow-scripts, forms, popups, same-origin or top-navigation: the page is an opaque origin,
        # so even a script that slipped through could reach no cookie and no storage of the library.
        "sandbox",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 20 * MB

# What one page may cost the service, measured in the worst cases (hostile files made to be slow): about
# two seconds. nbconvert turns each character of code into up to one highlighted token, and mistune each
# few characters of markdown into a tag, at several microseconds each: a character of a cell's source
# costs SOURCE_WEIGHT units; a character of output one, and each tag or colour code in it MARKUP_WEIGHT.
MAX_CELLS = 1000
MAX_CELL_CHARS = 100_000
MAX_NOTEBOOK_COST = 2_000_000
SOURCE_WEIGHT = 10
MARKUP_WEIGHT = 20
# The HTML parser under nh3 takes time in the square of how deeply elements nest (each <div> looks
# through the elements still open), and nothing stops a publisher from never closing them: 20 000
# nested <div> take over a second, 60 000 fifteen. So each piece of publisher HTML (a markdown cell,
# an HTML output) is cut after MAX_FRAGMENT_TAGS start tags and balanced on its own (see _balanced),
# and a markdown file after MAX_MARKDOWN_TAGS.
MAX_FRAGMENT_TAGS = 2000
MAX_MARKDOWN_CHARS = 300_000
MAX_MARKDOWN_TAGS = 10_000
# Text is only escaped, which is fast: the bound is for the visitor's browser.
MAX_TEXT_CHARS = 2_000_000
MAX_CSV_ROWS = 1000
MAX_CSV_COLUMNS = 100

KINDS = {
    ".ipynb": "notebook",
    ".md": "markdown",
    ".markdown": "markdown",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".webp": "image",
    ".csv": "csv",
    ".txt": "text",
    ".py": "text",
    ".r": "text",
    ".json": "text",
    ".yml": "text",
    ".yaml": "text",
    ".toml": "text",
    ".sh": "text",
}

# What each image extension must start with: a file named .png that is HTML must not reach a browser as one.
IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
}

# Raster images only: an SVG can hold script, and although an <img> never runs it, one rule for every
# image is easier to trust than a rule with an exception.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
# The notebook outputs worth showing; everything else (JavaScript, widgets, SVG, unknown types) is dropped.
OUTPUT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg")

# Ids from publisher content are namespaced so that they cannot collide with, or target, the page's own.
ID_PREFIX = "user-content-"

ALLOWED_TAGS = {
    *("a", "abbr", "acronym", "article", "aside", "b", "bdi", "bdo", "blockquote", "br", "caption", "center"),
    *("cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption"),
    *("figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins"),
    *("kbd", "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section", "small", "span"),
    *("strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time"),
    *("tr", "tt", "u", "ul", "var", "wbr"),
}
# Dropped with everything inside them: their content is code, styling or markup in another namespace,
# never text meant for the reader.
DROPPED_WITH_CONTENT = {
    *("script", "style", "noscript", "template", "iframe", "frame", "frameset", "object", "embed", "applet"),
    *("svg", "math", "title", "textarea", "select", "xmp", "noembed", "noframes", "plaintext", "head"),
}
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "summary"},
    "td": {"colspan", "rowspan", "align", "headers"},
    "th": {"colspan", "rowspan", "align", "headers", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "reversed", "type"},
    "ul": {"type"},
    "details": {"open"},
    "time": {"datetime"},
}
# The schemes the HTML parser lets reach attribute_filter; which of them is allowed where is decided there.
URL_SCHEMES = {"http", "https", "mailto", "data"}
LINK_SCHEMES = {"http", "https", "mailto"}

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/= ]+", re.IGNORECASE)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_STRIP = "".join(chr(code) for code in range(0x21))
_LEXER = re.compile(r"[A-Za-z0-9_+#.\-]{1,40}")
# What an HTML parser may take for a start tag: "<" and a letter.
_TAG_START = re.compile(r"<[A-Za-z]")


class RenderRefused(Exception):
    """A file the library will not render; the message, plain text for a visitor, says why."""


@dataclass(frozen=True)
class Rendered:
    """A rendered file: `body` is sanitized HTML to put in the library's page, `title` plain text.

    `title` is the file's name as published, not escaped: the page escapes it where it is shown (as
    Jinja's autoescape does), so that a name is never escaped twice nor shown as markup.
    """

    title: str
    body: str
    kind: str


def kind_of(name: str) -> str | None:
    """How `name` is rendered, by its extension; None for files offered only as downloads (SVG, HTML...)."""
    return KINDS.get(PurePosixPath(name).suffix.lower())


def render_file(
    name: str, data: bytes, *, image_url: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Rendered:
    """`data`, published as `name`, as safe HTML; RenderRefused when the library does not show it.

    `image_url` is where the library serves the file's own bytes (raw): an image's page shows it, and
    relative image links in markdown and notebooks are resolved against it.
    """
    if len(data) > max_bytes:
        raise RenderRefused(
            f"{name} is {_size(len(data))}; the library renders files up to {_size(max_bytes)}: download it instead"
        )
    kind = kind_of(name)
    if kind is None:
        raise RenderRefused(f"{name}: the library does not show this kind of file: download it instead")
    if kind == "notebook":
        body = _render_notebook(name, data, image_url)
    elif kind == "markdown":
        body = _render_markdown(name, data, image_url)
    elif kind == "image":
        body = _render_image(name, data, image_url)
    elif kind == "csv":
        body = _render_csv(name, data)
    else:
        body = _render_text(data)
    return Rendered(title=name, body=body, kind=kind)


def sanitize_html(html: str, *, image_base: str | None = None) -> str:
    """`html` with nothing left that runs, loads from elsewhere, styles or navigates by itself.

    Images keep only data: URIs of raster types and plain relative paths (never a remote host, which
    would learn who reads what; never `..` or `/...`, which could reach other pages of the library or
    the hub); relative paths are resolved against `image_base`, and dropped without one.
    """
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=functools.partial(_attribute, image_base=image_base, final=True),
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        id_prefix=ID_PREFIX,
        strip_comments=True,
    )


def _balanced(html: str) -> str:
    """One piece of publisher HTML cleaned on its own, so that what it leaves open closes with it.

    Without this, elements a markdown cell leaves open would still be open in the next cell, and so on
    through the page, which is what makes parsing the whole page slow (see MAX_FRAGMENT_TAGS). The
    rules are sanitize_html's; URLs and ids are left as they are, for sanitize_html's pass over the page.
    """
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=functools.partial(_attribute, image_base=None, final=False),
        url_schemes=URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


def _attribute(tag: str, attribute: str, value: str, *, image_base: str | None, final: bool) -> str | None:
    """The value an attribute keeps, or None to drop it: the URL rules nh3 cannot express.

    Before the `final` pass, an allowed URL keeps its value: it is resolved or prefixed only once.
    """
    if attribute == "href":
        url = _link(value)
    elif attribute == "src":
        url = _image_source(value, image_base if final else "") if tag == "img" else None
    else:
        return value
    return url if final or url is None else value


def _normalised_url(value: str) -> str | None:
    """`value` as a browser reads it (no tabs or newlines, no spaces around), or None when it is odd.

    Browsers ignore tabs and newlines anywhere in a URL and treat a backslash like a slash: checking the
    raw value would let `java\\tscript:` or `\\\\evil.example` through.
    """
    url = re.sub(r"[\t\n\r]", "", value).strip(_URL_STRIP)
    if _CONTROL.search(url) or "\\" in url:
        return None
    return url


def _scheme(url: str) -> str | None:
    """The URL's scheme, lowercased; "" for a relative URL; None when a colon makes it ambiguous."""
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    if ":" not in head:
        return ""
    match = _SCHEME.match(head)
    return match.group(1).lower() if match else None


def _link(value: str) -> str | None:
    url = _normalised_url(value)
    if url is None:
        return None
    if url.startswith("#"):
        # Ids carry ID_PREFIX: in-page links must follow them.
        return f"#{ID_PREFIX}{url[1:]}" if len(url) > 1 else url
    scheme = _scheme(url)
    if scheme == "" or scheme in LINK_SCHEMES:
        return url
    return None


def _image_source(value: str, base: str | None) -> str | None:
    url = _normalised_url(value)
    if url is None:
        return None
    if _DATA_IMAGE.fullmatch(url):
        return url
    if base is None or _scheme(url) != "" or url.startswith(("/", "?", "#")) or not url:
        return None
    path = re.split(r"[?#]", url, maxsplit=1)[0]
    if any(unquote(segment) == ".." for segment in path.split("/")):
        return None
    return urljoin(base, url)


def _size(count: int) -> str:
    """A size for a visitor: 23.4 MB, 20 MB, 512 KB."""
    value, unit = (count / MB, "MB") if count >= MB else (count / 1024, "KB") if count >= 1024 else (count, "bytes")
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _text(data: bytes) -> str:
    """Publishers' files are meant to be UTF-8; a stray byte must not refuse the whole file."""
    return data.decode("utf-8-sig", errors="replace")


def _note(text: str) -> str:
    return f'<p class="library-note">{html.escape(text)}</p>'


def _render_text(data: bytes) -> str:
    text = _text(data)
    body = f'<pre class="library-text">{html.escape(text[:MAX_TEXT_CHARS])}</pre>'
    if len(text) > MAX_TEXT_CHARS:
        hidden = len(text) - MAX_TEXT_CHARS
        body += _note(f"The last {hidden:,} characters are not shown: download the file to read it all.")
    return body


def _render_image(name: str, data: bytes, image_url: str | None) -> str:
    if image_url is None:
        raise ValueError("an image is shown from its URL: render_file needs image_url for images")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".webp":
        matches = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    else:
        matches = data.startswith(IMAGE_MAGIC[suffix])
    if not matches:
        raise RenderRefused(f"{name} is not the image its name says it is: download it instead")
    return f'<img class="library-image" src="{html.escape(image_url)}" alt="{html.escape(name)}">'


def _render_markdown(name: str, data: bytes, image_url: str | None) -> str:
    source, hidden = _cut(_text(data), MAX_MARKDOWN_CHARS, MAX_MARKDOWN_TAGS)
    # Raw HTML is passed through (escape=False) because READMEs use it for layout; sanitize_html decides.
    # No task-list plugin: it makes <input> checkboxes, which the sanitizer removes.
    markdown = mistune.create_markdown(escape=False, plugins=["strikethrough", "table", "url", "footnotes"])
    try:
        converted = str(markdown(source))
    except RecursionError:
        raise RenderRefused(f"{name} is nested too deeply to be shown: download it instead") from None
    body = sanitize_html(converted, image_base=image_url)
    if hidden:
        body += _note(f"The last {hidden:,} characters are not shown: download the file to read it all.")
    return body


def _render_csv(name: str, data: bytes) -> str:
    rows = csv.reader(io.StringIO(_text(data), newline=""))
    shown: list[list[str]] = []
    more_rows = more_columns = 0
    try:
        for row in rows:
            if len(shown) > MAX_CSV_ROWS:  # the header and MAX_CSV_ROWS rows under it
                more_rows += 1
                continue
            more_columns = max(more_columns, len(row) - MAX_CSV_COLUMNS)
            shown.append(row[:MAX_CSV_COLUMNS])
    except csv.Error as error:
        raise RenderRefused(f"{name} could not be read as CSV ({error}): download it instead") from None
    if not shown:
        return _note(f"{name} is empty.")
    header, *body_rows = shown
    parts = ['<table class="library-csv">', "<thead><tr>"]
    parts.extend(f"<th>{html.escape(cell)}</th>" for cell in header)
    parts.append("</tr></thead><tbody>")
    for row in body_rows:
        parts.append("<tr>")
        parts.extend(f"<td>{html.escape(cell)}</td>" for cell in row)
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if more_rows:
        parts.append(_note(f"{more_rows:,} more rows are not shown: download the file to see them all."))
    if more_columns > 0:
        parts.append(_note(f"{more_columns:,} more columns are not shown: download the file to see them all."))
    return "".join(parts)


# Notebooks.


def _render_notebook(name: str, data: bytes, image_url: str | None) -> str:
    invalid = f"{name} is not a valid Jupyter notebook: download it instead"
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise RenderRefused(invalid) from None
    raw = _as_version_4(raw, invalid)
    notebook, hidden, cut = _rebuild(raw)
    try:
        converted = _convert(notebook)
    except Exception:  # a converter's failure on a hostile file is a refusal, not an error page
        log.warning("could not render notebook %r", name, exc_info=True)
        raise RenderRefused(f"{name} could not be rendered: download it instead") from None
    body = sanitize_html(converted, image_base=image_url)
    if hidden:
        reason = " (the notebook is too large to show at once)" if cut else ""
        body += _note(f"{hidden:,} more cells are not shown{reason}: download the notebook to see them all.")
    return body


def _as_version_4(raw: Any, invalid: str) -> dict[str, Any]:
    """The notebook in nbformat 4; version 3 is converted by nbformat, anything else refused."""
    if not isinstance(raw, dict):
        raise RenderRefused(invalid)
    version = raw.get("nbformat")
    if version == 3:
        import nbformat  # late, like nbconvert: see _convert

        try:
            raw = json.loads(json.dumps(nbformat.convert(nbformat.from_dict(raw), 4)))
        except Exception:  # nbformat assumes a well-formed version 3 notebook
            raise RenderRefused(invalid) from None
    elif version not in (4, None):
        raise RenderRefused(invalid)
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise RenderRefused(invalid)
    return raw


def _rebuild(raw: dict[str, Any]) -> tuple[dict[str, Any], int, bool]:
    """A new notebook with only what is shown, type-checked: (notebook, cells not shown, cut by cost).

    Dropped on the way: notebook and cell metadata (widget state, titles, tags that change the template),
    outputs of any type but OUTPUT_TYPES, SVG and non-image attachments. Cells are kept while they fit
    MAX_CELLS and MAX_NOTEBOOK_COST; the first is always kept, cut down to fit if it must be.
    """
    cells: list[dict[str, Any]] = []
    spent = 0
    source_cells = raw["cells"]
    for index, cell in enumerate(source_cells):
        if len(cells) >= MAX_CELLS:
            return _notebook(raw, cells), len(source_cells) - index, False
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("markdown", "code", "raw"):
            continue
        new, cost, whole = _cell(cell, len(cells), MAX_NOTEBOOK_COST - spent)
        if cells and (not whole or spent + cost > MAX_NOTEBOOK_COST):
            return _notebook(raw, cells), len(source_cells) - index, True
        cells.append(new)
        spent += cost
    return _notebook(raw, cells), 0, False


def _notebook(raw: dict[str, Any], cells: list[dict[str, Any]]) -> dict[str, Any]:
    metadata = raw.get("metadata")
    language = None
    if isinstance(metadata, dict):
        info = metadata.get("language_info")
        if isinstance(info, dict):
            language = info.get("pygments_lexer") or info.get("name")
    language_info = {"name": language} if isinstance(language, str) and _LEXER.fullmatch(language) else {}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"language_info": language_info} if language_info else {},
        "cells": cells,
    }


def _cell(cell: dict[str, Any], index: int, allowance: int) -> tuple[dict[str, Any], int, bool]:
    """The cell rebuilt, what it costs, and whether it is whole: outputs beyond `allowance` are left out."""
    kind = cell["cell_type"]
    # Code is shown escaped; markdown is HTML, whose tags are counted (see MAX_FRAGMENT_TAGS).
    source = _shortened(_joined(cell.get("source")), MAX_FRAGMENT_TAGS if kind == "markdown" else None)
    # Our own ids: a publisher's could be invalid for nbformat, or aimed at the page's ids.
    new: dict[str, Any] = {"cell_type": kind, "id": f"cell-{index}", "metadata": {}, "source": source}
    spent = _source_cost(source)
    whole = True
    if kind == "markdown":
        attachments = _attachments(cell.get("attachments"))
        if attachments:
            new["attachments"] = attachments
    elif kind == "code":
        new["execution_count"] = _count(cell.get("execution_count"))
        given = cell.get("outputs")
        given = given if isinstance(given, list) else []
        outputs = []
        for position, output in enumerate(given):
            rebuilt, cost = _output(output)
            if rebuilt is None:
                continue
            if spent + cost > allowance:
                left = len(given) - position
                note = f"… {left:,} more outputs are not shown: download the notebook to see them all."
                outputs.append({"output_type": "stream", "name": "stdout", "text": note})
                whole = False
                break
            outputs.append(rebuilt)
            spent += cost
        new["outputs"] = outputs
    return new, spent, whole


def _output(output: Any) -> tuple[dict[str, Any] | None, int]:
    """The output rebuilt (None when nothing of it is shown), and what it costs."""
    if not isinstance(output, dict):
        return None, 0
    kind = output.get("output_type")
    if kind == "stream":
        text = _shortened(_joined(output.get("text")))
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return {"output_type": "stream", "name": name, "text": text}, _output_cost(text)
    if kind == "error":
        traceback = output.get("traceback")
        lines = [line for line in traceback if isinstance(line, str)] if isinstance(traceback, list) else []
        ename, evalue = _shortened(_joined(output.get("ename"))), _shortened(_joined(output.get("evalue")))
        # The traceback is what the page shows; without one, the error's name and message are all there is.
        text = _shortened("\n".join(lines)) or (f"{ename}: {evalue}" if ename or evalue else "")
        error = {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [text] if text else []}
        return error, _output_cost(text)
    if kind not in ("display_data", "execute_result"):
        return None, 0
    data, metadata, cost = _output_data(output.get("data"), output.get("metadata"))
    if not data:
        return None, 0
    new: dict[str, Any] = {"output_type": kind, "data": data, "metadata": metadata}
    if kind == "execute_result":
        new["execution_count"] = _count(output.get("execution_count"))
    return new, cost


def _output_data(data: Any, metadata: Any) -> tuple[dict[str, str], dict[str, Any], int]:
    """The shown representations of an output, their image sizes, and what they cost."""
    kept: dict[str, str] = {}
    sizes: dict[str, Any] = {}
    cost = 0
    if not isinstance(data, dict):
        return kept, sizes, cost
    for mime in OUTPUT_TYPES:
        value = _joined(data.get(mime))
        if not value:
            continue
        if mime.startswith("image/"):
            value = "".join(value.split())
            if not _BASE64.fullmatch(value):
                continue
            size = metadata.get(mime) if isinstance(metadata, dict) else None
            dimensions = {
                key: size[key]
                for key in ("width", "height")
                if isinstance(size, dict) and isinstance(size.get(key), int | float) and not isinstance(size[key], bool)
            }
            if dimensions:
                sizes[mime] = dimensions
        elif mime == "text/markdown":
            value = _shortened(value, MAX_FRAGMENT_TAGS)
            cost += _source_cost(value)
        elif mime == "text/html":
            value = _balanced(_shortened(value, MAX_FRAGMENT_TAGS))
            cost += _output_cost(value)
        else:
            value = _shortened(value)
            cost += _output_cost(value)
        kept[mime] = value
    return kept, sizes, cost


def _output_cost(text: str) -> int:
    return len(text) + MARKUP_WEIGHT * (text.count("<") + text.count("\x1b"))


def _source_cost(text: str) -> int:
    return SOURCE_WEIGHT * len(text) + MARKUP_WEIGHT * text.count("<")


def _count(value: Any) -> int | None:
    """An execution count as nbformat wants it: JSON's true is an int to Python, not to the schema."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _attachments(attachments: Any) -> dict[str, dict[str, str]]:
    kept: dict[str, dict[str, str]] = {}
    if not isinstance(attachments, dict):
        return kept
    for name, bundle in attachments.items():
        if not isinstance(name, str) or not isinstance(bundle, dict):
            continue
        images = {}
        for mime in IMAGE_TYPES:
            value = "".join(_joined(bundle.get(mime)).split())
            if value and _BASE64.fullmatch(value):
                images[mime] = value
        if images:
            kept[name] = images
    return kept


def _joined(value: Any) -> str:
    """nbformat's multiline strings: a string, or a list of strings to join; anything else is nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return ""


def _cut(text: str, chars: int = MAX_CELL_CHARS, tags: int | None = None) -> tuple[str, int]:
    """`text` cut to `chars` characters and before its `tags`+1st start tag; and how much was cut off."""
    end = min(len(text), chars)
    if tags is not None:
        for count, match in enumerate(_TAG_START.finditer(text, 0, end)):
            if count == tags:
                end = match.start()
                break
    return text[:end], len(text) - end


def _shortened(text: str, tags: int | None = None) -> str:
    text, hidden = _cut(text, tags=tags)
    return text + _more(hidden)


def _more(hidden: int) -> str:
    return f"\n… {hidden:,} more characters are not shown: download the notebook to see them all." if hidden else ""


def _convert(notebook: dict[str, Any]) -> str:
    # Imported late: nbconvert takes a second to import, which only a notebook's page should pay.
    import nbformat

    exporter = _exporter_class()(
        template_name="basic",
        optimistic_validation=True,
        # nbconvert's own sanitizer (bleach) turns headings and paragraphs into visible tags, and the
        # output is cleaned afterwards by sanitize_html anyway.
        sanitize_html=False,
        # strip_files_prefix rewrites links of the old notebook server with a regular expression that
        # takes minutes on a line of "[", and the library never had those links.
        filters={"clean_html": _unchanged, "strip_files_prefix": _unchanged},
    )
    body, _ = exporter.from_notebook_node(nbformat.from_dict(notebook))
    return body


def _unchanged(text: str) -> str:
    return text


@functools.cache
def _exporter_class() -> type:
    """nbconvert's HTMLExporter, with markdown that never reads local files and tolerates missing attachments.

    nbconvert's markdown filter takes `embed_images` and a path from its configuration, which could make
    it read files of the server; and it fails on a reference to an attachment the cell lacks (or whose
    only image was an SVG, dropped by _attachments). Here attachments are the cell's, images are never
    embedded from disk, and a missing attachment is an image without a source.
    """
    from jinja2 import pass_context
    from nbconvert import HTMLExporter, TemplateExporter  # late: see _convert
    from nbconvert.filters.datatypefilter import DataTypeFilter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class Attachments(dict[str, dict[str, str]]):
        def __contains__(self, name: object) -> bool:
            return True

        def __missing__(self, name: str) -> dict[str, str]:
            return {"image/png": ""}

    class LibraryExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context: Any, source: str) -> str:
            cell = context.get("cell", {})
            attachments = cell.get("attachments") if isinstance(cell, dict) else None
            renderer = IPythonRenderer(
                escape=False,
                attachments=Attachments(attachments or {}),
                embed_images=False,
                path="",
                anchor_link_text=self.anchor_link_text,
                exclude_anchor_links=False,
            )
            return _balanced(str(MarkdownWithMath(renderer=renderer).render(source)))

        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> tuple[str, dict[str, Any]]:
            # HTMLExporter's own version re-parses the whole page with BeautifulSoup to add alt texts: that
            # is most of the time a large notebook takes, for nothing sanitize_html needs.
            language = nb.metadata.get("language_info", {}).get("name")
            self.register_filter("highlight_code", Highlight2HTML(pygments_lexer=language, parent=self))
            # Which representation of an output is shown; widget outputs, which need the notebook's
            # widget state, are dropped by _rebuild.
            self.register_filter("filter_data_type", DataTypeFilter(parent=self))
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    return LibraryExporter


def _page_css() -> str:
    highlight = HtmlFormatter(style="default")
    scope = ".library-file"
    tokens = highlight.get_token_style_defs(f"{scope} .highlight")
    ansi = []
    colours = ["#3e424d", "#e75c58", "#00a250", "#ddb62b", "#208ffb", "#d160c4", "#60c6c8", "#c5c1b4"]
    intense = ["#282c36", "#b22b31", "#007427", "#b27d12", "#0065ca", "#a03196", "#258f8f", "#a1a6b2"]
    names = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]
    for name, colour, strong in zip(names, colours, intense, strict=True):
        ansi.append(f"{scope} .ansi-{name}-fg {{ color: {colour}; }}")
        ansi.append(f"{scope} .ansi-{name}-bg {{ background-color: {colour}; }}")
        ansi.append(f"{scope} .ansi-{name}-intense-fg {{ color: {strong}; }}")
        ansi.append(f"{scope} .ansi-{name}-intense-bg {{ background-color: {strong}; }}")
    layout = f"""
{scope} {{ font-family: system-ui, sans-serif; line-height: 1.5; overflow-wrap: anywhere; }}
{scope} pre, {scope} code {{ font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }}
{scope} pre {{ margin: 0; padding: 0.4em 0.6em; overflow-x: auto; white-space: pre-wrap; line-height: 1.3; }}
{scope} img {{ max-width: 100%; height: auto; }}
{scope} table {{ border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }}
{scope} th, {scope} td {{ border: 1px solid #d0d0d0; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }}
{scope} thead th {{ background: #f3f3f3; }}
{scope} blockquote {{ margin: 0.5em 0; padding-left: 1em; border-left: 3px solid #d0d0d0; color: #555; }}
{scope} .cell {{ display: flex; flex-direction: column; margin: 0.6em 0; }}
{scope} .input, {scope} .output_area, {scope} .text_cell {{ display: flex; flex-direction: row; }}
{scope} .prompt {{ flex: 0 0 7em; padding: 0.4em 0.5em 0 0; text-align: right; color: #307fc1;
  font-family: ui-monospace, monospace; font-size: 0.85em; }}
{scope} .output_prompt {{ color: #bf5b3d; }}
{scope} .inner_cell, {scope} .output_subarea {{ flex: 1 1 auto; min-width: 0; }}
{scope} .input_area {{ border: 1px solid #e0e0e0; border-radius: 2px; background: #f8f8f8; }}
{scope} .output_stderr {{ background: #fdd; }}
{scope} .output_error pre {{ background: #fdd; }}
{scope} .text_cell_render {{ padding: 0 0.5em; }}
{scope} .anchor-link {{ visibility: hidden; margin-left: 0.3em; text-decoration: none; }}
{scope} h1:hover .anchor-link, {scope} h2:hover .anchor-link, {scope} h3:hover .anchor-link,
{scope} h4:hover .anchor-link, {scope} h5:hover .anchor-link, {scope} h6:hover .anchor-link {{ visibility: visible; }}
{scope} .ansi-bold {{ font-weight: bold; }}
{scope} .ansi-underline {{ text-decoration: underline; }}
{scope} .library-note {{ color: #555; font-style: italic; }}
{scope} .library-csv td, {scope} .library-csv th {{ white-space: pre-wrap; }}
"""
    return "\n".join([layout.strip(), f"{scope} .highlight {{ background: #f8f8f8; }}", *tokens, *ansi]) + "\n"


# The page's own styles, for the page's <style>: made here, never by a publisher, and with no url() in them.
PAGE_CSS: str = _page_css()
