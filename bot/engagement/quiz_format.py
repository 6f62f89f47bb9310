"""Quizzes as a phone can type them, and as JSON files.

Text format (one message):

    /quiz_add Title of the quiz
    Q: Question text
    + correct option
    - wrong option
    E: optional explanation
    Q: ...

JSON format (what /quiz_export gives and /quiz_add takes, replying to the file or as its
caption):

    {"title": "...", "questions": [
        {"question": "...", "options": ["right", "wrong"], "correct": 0, "explanation": "..."}
    ]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from bot.texts import utf16_length

MAX_QUESTION = 300
MAX_OPTION = 100
MAX_OPTIONS = 12
MAX_EXPLANATION = 200
MAX_QUESTIONS = 100
MAX_TITLE = 120


class QuizProblem(StrEnum):
    """What is wrong with a quiz's text or file; the handler words each, with the line."""

    NO_TITLE = "no_title"
    NO_QUESTIONS = "no_questions"
    BAD_QUESTION = "bad_question"
    BAD_OPTION = "bad_option"
    TOO_FEW_OPTIONS = "too_few_options"
    TOO_MANY_OPTIONS = "too_many_options"
    NO_CORRECT = "no_correct"
    TWO_CORRECT = "two_correct"
    UNKNOWN_LINE = "unknown_line"
    TOO_LONG = "too_long"
    TOO_MANY_QUESTIONS = "too_many_questions"
    BAD_JSON = "bad_json"
    BAD_FILE_QUESTION = "bad_file_question"  # `line` is then the question's number in the file
    SAME_OPTION = "same_option"  # `detail` is the option written twice
    SAME_FILE_OPTION = "same_file_option"  # the same, `line` the question's number in the file
    BAD_FILE_TITLE = "bad_file_title"  # a file's "title" empty or too long


class QuizFormatError(ValueError):
    """`code` names the problem (worded by the handler), `line` where it is (1-based)."""

    def __init__(self, code: QuizProblem, line: int = 0, detail: str = "") -> None:
        super().__init__(f"{code} at line {line}: {detail}")
        self.code = code
        self.line = line
        self.detail = detail


@dataclass
class Question:
    text: str
    options: list[str] = field(default_factory=list)
    correct: int = -1
    explanation: str | None = None


@dataclass
class QuizDraft:
    title: str
    questions: list[Question]

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                "questions": [
                    {
                        "question": q.text,
                        "options": q.options,
                        "correct": q.correct,
                        **({"explanation": q.explanation} if q.explanation else {}),
                    }
                    for q in self.questions
                ],
            },
            ensure_ascii=False,
            indent=2,
        )


def option_key(option: str) -> str:
    """What makes two options the same to a member reading the poll: "Mars", "mars" and
    "Mars  " side by side are one answer shown twice, and nobody can tell which one counts."""
    return " ".join(option.split()).casefold()


def _repeated_option(options: list[str]) -> str | None:
    seen: set[str] = set()
    for option in options:
        key = option_key(option)
        if key in seen:
            return option
        seen.add(key)
    return None


def _check_question(q: Question, line: int) -> None:
    if len(q.options) < 2:
        raise QuizFormatError(QuizProblem.TOO_FEW_OPTIONS, line)
    if q.correct < 0:
        raise QuizFormatError(QuizProblem.NO_CORRECT, line)


def parse_quiz_text(text: str) -> QuizDraft:
    """Parse what follows the command, from the rest of its own line: lines are numbered as
    the author sees them in the message. The title is the first line with text, on the
    command's line or below it (phones often put a line break after the command)."""
    lines = text.splitlines()
    first = next((n for n, line in enumerate(lines) if line.strip()), None)
    # a question where the title belongs: the title was left out, not the question mistyped
    if first is None or lines[first].strip()[:2].upper() == "Q:":
        raise QuizFormatError(QuizProblem.NO_TITLE, (first or 0) + 1)
    title = lines[first].strip()
    if len(title) > MAX_TITLE:
        raise QuizFormatError(QuizProblem.TOO_LONG, first + 1, f"title over {MAX_TITLE} characters")
    questions: list[Question] = []
    current: Question | None = None
    current_line = 0
    for number, raw in enumerate(lines[first + 1 :], start=first + 2):
        line = raw.strip()
        if not line:
            continue
        head, body = line[:2].upper(), line[2:].strip()
        if head == "Q:":
            if current is not None:
                _check_question(current, current_line)
            if not body or utf16_length(body) > MAX_QUESTION:
                raise QuizFormatError(QuizProblem.BAD_QUESTION, number)
            current, current_line = Question(body), number
            questions.append(current)
        elif line[0] in "+-" and current is not None:
            option = line[1:].strip()
            if not option or utf16_length(option) > MAX_OPTION:
                raise QuizFormatError(QuizProblem.BAD_OPTION, number)
            if len(current.options) >= MAX_OPTIONS:
                raise QuizFormatError(QuizProblem.TOO_MANY_OPTIONS, number)
            if option_key(option) in {option_key(o) for o in current.options}:
                raise QuizFormatError(QuizProblem.SAME_OPTION, number, option)
            if line[0] == "+":
                if current.correct >= 0:
                    raise QuizFormatError(QuizProblem.TWO_CORRECT, number)
                current.correct = len(current.options)
            current.options.append(option)
        elif head == "E:" and current is not None:
            if utf16_length(body) > MAX_EXPLANATION:
                raise QuizFormatError(
                    QuizProblem.TOO_LONG, number, "explanation over 200 characters"
                )
            current.explanation = body or None
        else:
            raise QuizFormatError(QuizProblem.UNKNOWN_LINE, number, line[:40])
    if current is None:
        raise QuizFormatError(QuizProblem.NO_QUESTIONS, len(lines))
    _check_question(current, current_line)
    if len(questions) > MAX_QUESTIONS:
        raise QuizFormatError(QuizProblem.TOO_MANY_QUESTIONS, len(lines))
    return QuizDraft(title, questions)


def parse_quiz_json(data: str | bytes) -> QuizDraft:
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # "[[[[…": too deep
        raise QuizFormatError(QuizProblem.BAD_JSON, getattr(exc, "lineno", 0)) from None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("title"), str)
        or not isinstance(raw.get("questions"), list)
    ):
        raise QuizFormatError(QuizProblem.BAD_JSON, 0, "needs title and questions")
    questions = []
    for n, item in enumerate(raw["questions"], start=1):
        question = _file_question(item)
        if question is None:
            # numbered as the file's questions: the text format's "line N" and "+"/"-" wording
            # would point at nothing in a JSON file
            raise QuizFormatError(QuizProblem.BAD_FILE_QUESTION, n)
        repeated = _repeated_option(question.options)
        if repeated is not None:
            raise QuizFormatError(QuizProblem.SAME_FILE_OPTION, n, repeated)
        questions.append(question)
    if not questions:
        raise QuizFormatError(QuizProblem.NO_QUESTIONS, 0)
    if len(questions) > MAX_QUESTIONS:  # as typed quizzes: a file was saved with any number
        raise QuizFormatError(QuizProblem.TOO_MANY_QUESTIONS, 0)
    title = raw["title"].strip()
    if not title or len(title) > MAX_TITLE:  # no "first line after /quiz_add" in a file
        raise QuizFormatError(QuizProblem.BAD_FILE_TITLE, 0)
    return QuizDraft(title, questions)


def _option_fits(option: object) -> bool:
    return isinstance(option, str) and 0 < utf16_length(option.strip()) <= MAX_OPTION


def _file_question(item: object) -> Question | None:
    """One question of a JSON file, or None when Telegram would not take it as a quiz poll
    (an explanation has at most 2 line feeds there: the text format cannot write more)."""
    if not isinstance(item, dict):
        return None
    text, options, correct = item.get("question"), item.get("options"), item.get("correct")
    explanation = item.get("explanation")
    if (
        not isinstance(text, str)
        or not 0 < utf16_length(text.strip()) <= MAX_QUESTION
        or not isinstance(options, list)
        or not 2 <= len(options) <= MAX_OPTIONS
        or not all(_option_fits(o) for o in options)
        or not isinstance(correct, int)
        or isinstance(correct, bool)
        or not 0 <= correct < len(options)
    ):
        return None
    if explanation is not None and (
        not isinstance(explanation, str)
        or utf16_length(explanation) > MAX_EXPLANATION
        or explanation.count("\n") > 2
    ):
        return None
    return Question(text.strip(), [o.strip() for o in options], correct, explanation or None)
