"""An optional judge: any OpenAI-compatible chat endpoint grading an answer against the gold one.

Offline metrics never depend on it. Its verdict must be one word; anything else is an error
(counted and reported by the answer evaluation), not a guess.
"""

from __future__ import annotations

import re

from generation.generators.openai import without_credentials

JUDGE_PROMPT = (
    "You grade answers to questions about documents. Compare the ANSWER with the GOLD answer. "
    "Reply with exactly one word: CORRECT if the answer states what the gold answer states "
    "(extra correct detail is fine), INCORRECT otherwise."
)
_VERDICT = re.compile(r"^\W*(CORRECT|INCORRECT)\W*$", re.IGNORECASE)


class JudgeError(RuntimeError):
    pass


class OpenAICompatibleJudge:
    def __init__(self, base_url: str, model: str, api_key: str = "not-needed", timeout_s: float = 60) -> None:
        import openai

        self.name = f"{model}@{without_credentials(base_url)}"
        self.model = model
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)

    def grade(self, question: str, gold: str, answer: str) -> bool:
        reply = self._client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": JUDGE_PROMPT},
                {
                    "role": "user",
                    "content": f"QUESTION: {question}\nGOLD: {gold}\nANSWER: {answer}\nVerdict:",
                },
            ],
            max_tokens=4,
            temperature=0,
        )
        text = (reply.choices[0].message.content or "").strip()
        verdict = _VERDICT.match(text)
        if not verdict:
            raise JudgeError(f"the judge replied {text[:60]!r}, not CORRECT or INCORRECT")
        return verdict.group(1).upper() == "CORRECT"
