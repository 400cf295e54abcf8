"""The library's renderer: nothing a publisher wrote runs, loads from elsewhere or styles the page.

Rendered bodies are audited by parsing them as a browser would (html.parser decodes entities, so an
attribute cannot hide behind `&#x6a;avascript:`): every tag and attribute must be one the library allows,
and every URL one that neither runs nor fetches from another host. The audit is checked against unsafe
markup too, so that a broken audit cannot pass everything.
"""

from __future__ import annotations

import functools
import html
import re
import time
from html.parser import HTMLParser

import pytest

from campushub.library import render
from campushub.library.render import (
    CONTENT_SECURITY_POLICY,
    PAGE_CSS,
    SECURITY_HEADERS,
    Rendered,
    RenderRefused,
    kind_of,
    render_file,
    sanitize_html,
)
from tests.helpers.hostile_notebooks import (
    HOSTILE_HTML,
    HOSTILE_MARKDOWN,
    PAYLOAD,
    REFUSED,
    TINY_PNG_BASE64,
    VANISHING,
    code_cell,
    display,
    hostile_files,
    huge_notebook,
    markdown_cell,
    notebook,
    slow_notebooks,
    stream,
    tiny_png,
)

RAW_DIR = "/library/p/alice/demo/v/1/raw/"
ALLOWED_ATTRIBUTES = {
    *("class", "id", "title", "lang", "dir", "href", "rel", "src", "alt", "width", "height", "border", "summary"),
    *("colspan", "rowspan", "align", "headers", "scope", "span", "start", "reversed", "type", "open", "datetime"),
}
FORBIDDEN_TAGS = {
    *("script", "style", "iframe", "frame", "object", "embed", "applet", "form", "input", "button", "select"),
    *("textarea", "meta", "link", "base", "svg", "math", "template", "noscript", "video", "audio", "source"),
    *("marquee", "isindex", "title", "head", "body", "html"),
}
# Markup can only show up as these if it is markup: text always has its "<" escaped.
FORBIDDEN_TEXT = ("<script", "<iframe", "<meta", "<base", "<link", "<object", "<embed", "<form", "<style", "<svg")
DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+")


class Audit(HTMLParser):
    """What in a body could run, fetch from elsewhere or style the page."""

    def __init__(self, image_dir: str) -> None:
        super().__init__(convert_charrefs=True)
        self.image_dir = image_dir
        self.problems: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES or name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            elif name == "href" and not self.safe_link(value or ""):
                self.problems.append(f"<{tag} href={value!r}>")
            elif name == "src":
                self.images.append(value or "")
                if tag != "img" or not self.safe_image(value or ""):
                    self.problems.append(f"<{tag} src={value!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    @staticmethod
    def safe_link(url: str) -> bool:
        head = re.split(r"[/?#]", url.strip(), maxsplit=1)[0]
        return ":" not in head or head.split(":", 1)[0].lower() in {"http", "https", "mailto"}

    def safe_image(self, url: str) -> bool:
        return bool(DATA_IMAGE.fullmatch(url)) or (url.startswith(self.image_dir) and ".." not in url)


def audit(body: str, image_dir: str = RAW_DIR) -> list[str]:
    parser = Audit(image_dir)
    parser.feed(body)
    parser.close()
    lowered = body.lower()
    text = [word for word in (*FORBIDDEN_TEXT, "javascript:", "vbscript:", "data:text") if word in lowered]
    return parser.problems + [f"text {word!r}" for word in text]


def image_sources(body: str) -> list[str]:
    parser = Audit(RAW_DIR)
    parser.feed(body)
    return parser.images


@functools.cache
def files() -> dict[str, bytes]:
    return hostile_files()


def rendered(name: str, data: bytes, **kw: object) -> Rendered:
    return render_file(name, data, image_url=RAW_DIR + name, **kw)  # type: ignore[arg-type]


# The audit itself.


@pytest.mark.parametrize(
    "unsafe",
    [
        "<script>x</script>",
        '<img src="x" onerror="x">',
        '<a href="javascript:x">a</a>',
        '<a href="&#x6a;avascript:x">a</a>',
        '<a href=" VBScript:x">a</a>',
        '<iframe src="/"></iframe>',
        '<meta http-equiv="refresh" content="0">',
        '<base href="http://127.0.0.1:9/">',
        '<link rel="stylesheet" href="/x.css">',
        "<style>p{}</style>",
        '<p style="color: red">x</p>',
        '<img src="http://127.0.0.1:9/x.png">',
        '<img src="//127.0.0.1:9/x.png">',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
        f'<img src="{RAW_DIR}../../hub/logout">',
        '<img srcset="http://127.0.0.1:9/x.png 2x">',
        '<svg><circle r="1"/></svg>',
        "<form></form>",
        '<object data="x"></object>',
        '<embed src="x">',
    ],
)
def test_the_audit_catches_unsafe_markup(unsafe: str) -> None:
    assert audit(unsafe) != []


def test_the_audit_lets_safe_markup_through() -> None:
    safe = (
        f'<h1 id="a">T</h1><a href="https://example.org/x" rel="noopener">x</a><a href="#a">y</a>'
        f'<img src="data:image/png;base64,{TINY_PNG_BASE64}" alt="png"><img src="{RAW_DIR}fig.png" alt="file">'
        "<pre>&lt;script&gt;</pre><table><tr><td>1</td></tr></table>"
    )
    assert audit(safe) == []


# Every hostile file.


@pytest.mark.parametrize("name", sorted(hostile_files()))
def test_every_hostile_file_renders_safely_or_is_refused(name: str) -> None:
    data = files()[name]
    if name in REFUSED:
        with pytest.raises(RenderRefused, match="download"):
            rendered(name, data)
        return
    result = rendered(name, data)
    assert result.kind == kind_of(name)
    assert result.title == name
    assert audit(result.body) == []
    left = [marker for marker in VANISHING if marker in result.body]
    assert left == []


def test_the_hostile_set_has_every_kind_of_file_and_marks_every_payload() -> None:
    assert {kind_of(name) for name in files()} == {"notebook", "markdown", "image", "csv", "text", None}
    unmarked = [markup for markup in (*HOSTILE_HTML, *HOSTILE_MARKDOWN) if "PWNED" not in markup]
    assert unmarked == []


def test_hostile_names_are_escaped_wherever_shown() -> None:
    name = f"<img src=x onerror={PAYLOAD}>.png"
    body = render_file(name, tiny_png(), image_url=f'/raw/"><script>{PAYLOAD}</script>.png').body
    assert audit(body, image_dir="/raw/") == []
    assert f'alt="{html.escape(name)}"' in body
    assert f'src="/raw/{html.escape(chr(34))}&gt;&lt;script&gt;' in body
    empty = render_file(f"<svg onload={PAYLOAD}>.csv", b"").body
    assert audit(empty) == []
    assert html.escape(f"<svg onload={PAYLOAD}>.csv") in empty


def test_the_title_is_the_plain_name_for_the_page_to_escape() -> None:
    name = "<img src=x onerror=alert('PWNED')>.ipynb"
    result = rendered(name, files()[name])
    assert result.title == name
    assert name not in result.body


# Notebooks.


def normal_notebook() -> bytes:
    table = (
        "<div><style scoped>.dataframe tbody tr th {vertical-align: top;}</style>"
        '<table border="1" class="dataframe"><thead><tr style="text-align: right;"><th></th><th>score</th></tr>'
        "</thead><tbody><tr><th>0</th><td>0.75</td></tr><tr><th>1</th><td>0.93</td></tr></tbody></table></div>"
    )
    return notebook(
        [
            markdown_cell(
                "# Results of the week\n\nSee [the data](data/scores.csv) and [below](#Results-of-the-week)."
            ),
            code_cell("print('hello from the cell')", [stream("hello from the cell\n")], count=1),
            code_cell("plot()", [display({"image/png": TINY_PNG_BASE64, "text/plain": "<Figure>"})], count=2),
            code_cell(
                "frame",
                [
                    {
                        "output_type": "execute_result",
                        "execution_count": 3,
                        "data": {"text/html": table, "text/plain": "   score\n0   0.75"},
                        "metadata": {},
                    }
                ],
                count=3,
            ),
        ]
    )


def test_a_normal_notebook_keeps_its_content() -> None:
    result = rendered("week.ipynb", normal_notebook())
    body = result.body
    assert result.kind == "notebook"
    assert audit(body) == []
    assert re.search(r"<h1 id=\"user-content-Results-of-the-week\">Results of the week", body)
    assert 'href="#user-content-Results-of-the-week"' in body  # in-page links follow the prefixed ids
    assert '<a href="data/scores.csv" rel="noopener noreferrer nofollow">the data</a>' in body
    assert '<span class="nb">print</span>' in body  # highlighted code
    assert "hello from the cell\n</pre>" in body  # the stream output
    assert f'src="data:image/png;base64,{TINY_PNG_BASE64}"' in body
    assert '<table border="1" class="dataframe">' in body
    assert "<td>0.93</td>" in body
    assert "Out[3]:" in body
    assert "vertical-align" not in body  # the output's <style> is gone, with what it said


def test_scripts_widgets_and_svg_outputs_are_dropped_and_images_kept() -> None:
    body = rendered("outputs.ipynb", files()["outputs.ipynb"]).body
    assert audit(body) == []
    assert f'src="data:image/png;base64,{TINY_PNG_BASE64}"' in body
    assert 'height="1"' in body  # a numeric size is kept, a hostile one dropped
    assert "onerror" not in re.sub(r">[^<]*<", "><", body)  # not in any tag, only in escaped text
    assert "isolated" in body  # the isolated output is shown inline, not in an iframe
    assert "<iframe" not in body
    assert "IntSlider(value=0)" in body  # a widget falls back to its text
    assert "&lt;Figure size 640x480&gt;" in body  # and an SVG figure to its text


def test_attachments_keep_raster_images_only() -> None:
    body = rendered("attachments.ipynb", files()["attachments.ipynb"]).body
    assert audit(body) == []
    assert image_sources(body) == [f"data:image/png;base64,{TINY_PNG_BASE64}"]
    for alt in ("svg attachment", "html attachment", "broken attachment", "missing attachment"):
        assert f'alt="{alt}"' in body


def test_relative_images_are_served_from_the_files_folder_and_never_climb_out() -> None:
    source = "\n\n".join(["![a](figures/plot.png)", "![b](../secret.png)", "![c](/hub/logout)", "![d](%2e%2e/x.png)"])
    body = render_file("nb/week.ipynb", notebook([markdown_cell(source)]), image_url=RAW_DIR + "nb/week.ipynb").body
    assert image_sources(body) == [RAW_DIR + "nb/figures/plot.png"]
    without_url = render_file("week.ipynb", notebook([markdown_cell(source)])).body
    assert image_sources(without_url) == []


def test_a_huge_notebook_is_cut_and_quick() -> None:
    start = time.monotonic()
    body = rendered("huge.ipynb", huge_notebook(20_000)).body
    assert time.monotonic() - start < 10
    assert body.count('class="cell border-box-sizing') == render.MAX_CELLS
    assert "19,000 more cells are not shown: download the notebook to see them all." in body
    assert audit(body) == []


@pytest.mark.parametrize("name", sorted([*slow_notebooks(), "nested.md"]))
def test_files_made_to_be_slow_render_in_seconds(name: str) -> None:
    start = time.monotonic()
    body = rendered(name, files()[name]).body
    assert time.monotonic() - start < 10
    assert audit(body) == []


def test_publisher_html_is_cut_after_so_many_tags() -> None:
    source = "<b>x</b>" * (render.MAX_FRAGMENT_TAGS + 500)
    body = rendered("bold.ipynb", notebook([markdown_cell(source), markdown_cell("# After")])).body
    assert body.count("<b>") == render.MAX_FRAGMENT_TAGS
    assert f"… {len('<b>x</b>') * 500:,} more characters are not shown" in body
    assert ">After<a" in body


def test_a_notebook_made_to_be_slow_is_cut_by_cost() -> None:
    # One highlighted token per character, in cells that each fit the per-cell limit.
    cells = [code_cell("a+" * 50_000) for _ in range(20)]
    start = time.monotonic()
    body = rendered("slow.ipynb", notebook(cells)).body
    assert time.monotonic() - start < 10
    shown = body.count('class="cell border-box-sizing')
    assert 1 <= shown < 20
    assert f"{20 - shown:,} more cells are not shown (the notebook is too large to show at once)" in body


def test_one_huge_output_is_shortened() -> None:
    text = "0123456789" * 1_000_000
    body = rendered("big.ipynb", notebook([code_cell("x", [stream(text)])])).body
    hidden = len(text) - render.MAX_CELL_CHARS
    assert f"… {hidden:,} more characters are not shown" in body
    assert len(body) < 2 * render.MAX_CELL_CHARS


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b'{"nbformat": 4, "cells": {}}',
        b'{"nbformat": 99, "cells": []}',
        b'{"nbformat": 3, "worksheets": 5}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_what_is_not_a_notebook_is_refused(data: bytes) -> None:
    with pytest.raises(RenderRefused, match=r"^x\.ipynb is not a valid Jupyter notebook: download it instead$"):
        rendered("x.ipynb", data)


def test_malformed_cells_are_skipped_not_fatal() -> None:
    cells = [
        7,
        {"cell_type": "code", "source": 5, "outputs": "x", "execution_count": True},
        {"cell_type": "markdown", "source": ["kept ", 3, "text"], "attachments": [1]},
        {"cell_type": "code", "outputs": [1, {"output_type": "display_data", "data": {"image/png": "!!"}}]},
        {"cell_type": "code", "outputs": [{"output_type": "error", "ename": "ValueError", "evalue": "bad"}]},
    ]
    body = rendered("odd.ipynb", notebook(cells)).body
    assert audit(body) == []
    assert "<p>kept text</p>" in body
    assert "ValueError: bad" in body
    assert image_sources(body) == []


def test_an_nbformat_3_notebook_is_converted_and_cleaned() -> None:
    body = rendered("old.ipynb", files()["old.ipynb"]).body
    assert audit(body) == []
    assert '>Old notebook<a class="anchor-link"' in body
    assert "<b>old</b>" in body


# Markdown, CSV, text.


def test_markdown_files_render_with_their_tables_links_and_images() -> None:
    source = "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[site](https://example.org) ![fig](img/fig.png)\n"
    result = render_file("docs/README.md", source.encode(), image_url=RAW_DIR + "docs/README.md")
    assert result.kind == "markdown"
    assert audit(result.body) == []
    assert "<h1>Title</h1>" in result.body
    assert "<td>2</td>" in result.body
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">site</a>' in result.body
    assert image_sources(result.body) == [RAW_DIR + "docs/img/fig.png"]


def test_csv_is_a_table_of_escaped_cells_cut_at_a_thousand_rows() -> None:
    rows = ["name,note", *(f"row{number},<b>{number}</b>" for number in range(1500))]
    body = rendered("data.csv", "\n".join(rows).encode()).body
    assert audit(body) == []
    assert "<th>name</th><th>note</th>" in body
    assert "<td>row0</td><td>&lt;b&gt;0&lt;/b&gt;</td>" in body
    assert "<td>row999</td>" in body
    assert "row1000" not in body
    assert body.count("<tr>") == 1 + render.MAX_CSV_ROWS
    assert "500 more rows are not shown" in body


def test_a_csv_the_csv_module_cannot_read_is_refused() -> None:
    with pytest.raises(RenderRefused, match="could not be read as CSV"):
        rendered("wide.csv", b'a,"' + b"x" * 200_000 + b'"\n')


def test_text_is_escaped_in_a_pre() -> None:
    body = rendered("notes.txt", b"if a < b && c > d:\n    print('<script>')\n").body
    assert (
        body
        == '<pre class="library-text">if a &lt; b &amp;&amp; c &gt; d:\n    print(&#x27;&lt;script&gt;&#x27;)\n</pre>'
    )


def test_long_text_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "MAX_TEXT_CHARS", 10)
    body = rendered("long.txt", b"x" * 25).body
    assert body.startswith('<pre class="library-text">xxxxxxxxxx</pre>')
    assert "The last 15 characters are not shown" in body


# Sizes and images.


def test_files_over_the_limit_are_refused_with_their_size() -> None:
    data = b"x" * int(23.4 * 1024 * 1024)
    with pytest.raises(RenderRefused) as refused:
        rendered("big.txt", data)
    assert str(refused.value) == "big.txt is 23.4 MB; the library renders files up to 20 MB: download it instead"


def test_the_limit_is_the_callers() -> None:
    assert rendered("small.txt", b"x" * 100, max_bytes=100).kind == "text"
    with pytest.raises(RenderRefused, match="is 101 bytes; the library renders files up to 100 bytes"):
        rendered("small.txt", b"x" * 101, max_bytes=100)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.png", tiny_png()),
        ("PHOTO.PNG", tiny_png()),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
        ("photo.jpeg", b"\xff\xd8\xff\xdb"),
        ("anim.gif", b"GIF89a\x01\x00\x01\x00"),
        ("old.gif", b"GIF87a\x01\x00\x01\x00"),
        ("photo.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 "),
    ],
)
def test_images_are_shown_from_their_url_when_their_bytes_match(name: str, data: bytes) -> None:
    result = render_file(name, data, image_url=f"/raw/{name}?v=1&x=2")
    assert result.kind == "image"
    assert result.body == f'<img class="library-image" src="/raw/{name}?v=1&amp;x=2" alt="{name}">'


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.png", b"\xff\xd8\xff\xe0 a jpeg"),
        ("photo.jpg", tiny_png()),
        ("anim.gif", b"GIF90a"),
        ("photo.webp", b"RIFF\x24\x00\x00\x00WAVEfmt "),
        ("empty.png", b""),
        ("page.png", b"<html><script>x</script>"),
    ],
)
def test_images_whose_bytes_do_not_match_are_refused(name: str, data: bytes) -> None:
    with pytest.raises(RenderRefused, match="is not the image its name says it is"):
        render_file(name, data, image_url="/raw/x")


def test_an_image_needs_its_url() -> None:
    with pytest.raises(ValueError, match="image_url"):
        render_file("photo.png", tiny_png())


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("week.ipynb", "notebook"),
        ("README.md", "markdown"),
        ("notes.markdown", "markdown"),
        ("a/b/photo.PNG", "image"),
        ("photo.jpeg", "image"),
        ("photo.webp", "image"),
        ("data.csv", "csv"),
        ("analysis.R", "text"),
        ("analysis.r", "text"),
        ("setup.sh", "text"),
        ("pyproject.toml", "text"),
        ("drawing.svg", None),
        ("page.html", None),
        ("archive.zip", None),
        ("Makefile", None),
        (".md", None),
        ("notebook.ipynb.html", None),
    ],
)
def test_kind_of_goes_by_extension(name: str, kind: str | None) -> None:
    assert kind_of(name) == kind


def test_other_kinds_are_refused() -> None:
    with pytest.raises(RenderRefused, match=r"^drawing\.svg: the library does not show this kind of file"):
        render_file("drawing.svg", b"<svg/>")


# The sanitizer.


@pytest.mark.parametrize("markup", HOSTILE_HTML)
def test_sanitize_html_leaves_nothing_that_runs(markup: str) -> None:
    assert audit(sanitize_html(markup)) == []


def test_sanitize_html_keeps_what_reads_well() -> None:
    markup = (
        '<h2 id="part">Part</h2><p>Some <em>text</em> and <code>code</code>.</p>'
        '<ul><li><a href="https://example.org/a?b=c">link</a></li>'
        '<li><a href="mailto:me@example.org">mail</a></li></ul>'
        f'<img src="data:image/png;base64,{TINY_PNG_BASE64}" alt="dot" width="10">'
        '<table><tr><th colspan="2">h</th></tr></table><details open><summary>more</summary>hidden</details>'
    )
    clean = sanitize_html(markup)
    assert '<h2 id="user-content-part">Part</h2>' in clean
    assert "<p>Some <em>text</em> and <code>code</code>.</p>" in clean
    assert '<a href="https://example.org/a?b=c" rel="noopener noreferrer nofollow">link</a>' in clean
    assert '<a href="mailto:me@example.org" rel="noopener noreferrer nofollow">mail</a>' in clean
    assert f'src="data:image/png;base64,{TINY_PNG_BASE64}"' in clean
    assert '<th colspan="2">h</th>' in clean
    assert "<details open" in clean


@pytest.mark.parametrize(
    "src",
    [
        "http://127.0.0.1:9/x.png",
        "https://example.org/x.png",
        "//example.org/x.png",
        "\\\\example.org\\x.png",
        "/hub/logout",
        "../x.png",
        "a/../../x.png",
        "%2e%2e/x.png",
        "javascript:x",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "data:text/html;base64,PHNjcmlwdD4=",
        "#fragment",
        "?query",
    ],
)
def test_image_sources_that_leave_the_files_folder_are_dropped(src: str) -> None:
    assert image_sources(sanitize_html(f'<img src="{html.escape(src)}" alt="x">', image_base=RAW_DIR + "f.md")) == []


# Headers and styles.


def directives() -> dict[str, list[str]]:
    parsed = {}
    for directive in CONTENT_SECURITY_POLICY.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def test_the_policy_allows_no_script_no_remote_fetch_and_no_navigation() -> None:
    policy = directives()
    assert policy["default-src"] == ["'none'"]
    assert not any(
        name.startswith("script-src") or name in ("connect-src", "frame-src", "child-src") for name in policy
    )
    assert policy["sandbox"] == []  # sandboxed without any allow-* token: no scripts, forms, popups, navigation
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]
    for name in ("img-src", "style-src", "font-src"):
        assert set(policy.get(name, [])) <= {"'self'", "data:", "'unsafe-inline'"}, name
    assert "data:" not in policy["style-src"]
    assert "'unsafe-inline'" not in policy["img-src"]


def test_security_headers() -> None:
    assert SECURITY_HEADERS == {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "same-origin",
        "X-Frame-Options": "SAMEORIGIN",
    }


def test_page_css_is_ours_and_fetches_nothing() -> None:
    assert ".library-file .highlight .k " in PAGE_CSS  # pygments token colours for highlighted code
    assert ".library-file .ansi-red-fg" in PAGE_CSS
    lowered = PAGE_CSS.lower()
    assert "url(" not in lowered
    assert "@import" not in lowered
    assert "expression(" not in lowered
    rules = re.sub(r"/\*.*?\*/", "", PAGE_CSS)
    selectors = [rule.split("{")[0] for rule in rules.split("}") if "{" in rule]
    unscoped = [s for s in selectors for part in s.split(",") if not part.strip().startswith(".library-file")]
    assert unscoped == []
