"""The prompt grammar of the shapes world.

    a[n] [SIZE] COLOR SHAPE MOTION on a[n] [textured] COLOR background [with noise] [with camera pan DIR]

    MOTION := moving (left | right | up | down) | standing still | staying still | still

Example: "a red circle moving left on a blue background". Articles, case, commas and a final period
are free; everything else must come from the vocabulary, and the object's colour must differ from the
background's. :func:`parse_prompt` turns text into a :class:`WorldPrompt` or raises
:class:`PromptError` whose message lists the vocabulary.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from genkit.errors import GenkitError

# Colours are chosen ≥ 140 apart in RGB so that texture, noise and H.264 never blur one into another.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (235, 215, 30),
    "cyan": (30, 200, 215),
    "magenta": (210, 40, 200),
    "white": (240, 240, 240),
    "black": (15, 15, 15),
}
COLORS = tuple(PALETTE)
SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross")
DIRECTIONS = ("left", "right", "up", "down")
OPPOSITE_DIRECTIONS = {"left": "right", "right": "left", "up": "down", "down": "up"}
MOTIONS = DIRECTIONS + ("still",)
SIZES = ("small", "medium", "large")
SIZE_SYNONYMS = {"small": "small", "tiny": "small", "medium": "medium", "big": "large", "large": "large"}
STILL_PHRASES = (("standing", "still"), ("staying", "still"), ("still",), ("not", "moving"))


class PromptError(GenkitError, ValueError):
    """A prompt outside the shapes-world grammar; the message says why and lists the vocabulary."""

    def __init__(self, prompt: str, reason: str):
        self.prompt = prompt
        self.reason = reason
        super().__init__(f"prompt {prompt!r}: {reason}. {vocabulary_help()}")


def vocabulary_help() -> str:
    return (
        "Grammar: 'a [SIZE] COLOR SHAPE moving DIR|standing still on a [textured] COLOR background "
        "[with noise] [with camera pan DIR]'; "
        f"COLOR: {', '.join(COLORS)}; SHAPE: {', '.join(SHAPES)}; DIR: {', '.join(DIRECTIONS)}; "
        f"SIZE: {', '.join(SIZES)}"
    )


@dataclass(frozen=True)
class WorldPrompt:
    """The attributes a prompt asks for; ``text`` is its canonical wording."""

    color: str
    shape: str
    motion: str
    background: str
    size: str = "medium"
    textured: bool = False
    noise: bool = False
    pan: str | None = None

    def __post_init__(self) -> None:
        for value, allowed, what in (
            (self.color, COLORS, "colour"),
            (self.background, COLORS, "background colour"),
            (self.shape, SHAPES, "shape"),
            (self.motion, MOTIONS, "motion"),
            (self.size, SIZES, "size"),
        ):
            if value not in allowed:
                raise PromptError(str(value), f"unknown {what} {value!r}")
        if self.pan is not None and self.pan not in DIRECTIONS:
            raise PromptError(str(self.pan), f"unknown camera pan direction {self.pan!r}")
        if self.color == self.background:
            raise PromptError(self.text, f"object and background are both {self.color}; they must differ")

    @property
    def text(self) -> str:
        size = "" if self.size == "medium" else f"{self.size} "
        motion = "standing still" if self.motion == "still" else f"moving {self.motion}"
        bg = f"{'textured ' if self.textured else ''}{self.background}"
        words = [f"{_article(size or self.color)} {size}{self.color} {self.shape} {motion} on {_article(bg)} {bg} background"]
        if self.noise:
            words.append("with noise")
        if self.pan:
            words.append(f"with camera pan {self.pan}")
        return " ".join(words)

    def __str__(self) -> str:
        return self.text


def _article(next_word: str) -> str:
    return "an" if next_word[:1] in "aeiou" else "a"


_TOKEN = re.compile(r"[a-z]+")


def parse_prompt(prompt: str | WorldPrompt) -> WorldPrompt:
    """Parse ``prompt`` into a :class:`WorldPrompt`; raise :class:`PromptError` when outside the grammar."""
    if isinstance(prompt, WorldPrompt):
        return prompt
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptError(str(prompt), "empty prompt")
    if re.search(r"[^A-Za-z\s,.]", prompt):
        raise PromptError(prompt, "only letters, spaces, commas and periods are allowed")
    words = _TOKEN.findall(prompt.lower())
    parser = _Parser(prompt, words)
    return parser.parse()


class _Parser:
    def __init__(self, prompt: str, words: list[str]):
        self.prompt, self.words, self.i = prompt, words, 0

    def peek(self, offset: int = 0) -> str | None:
        j = self.i + offset
        return self.words[j] if j < len(self.words) else None

    def fail(self, expected: str) -> PromptError:
        got = self.peek()
        where = f"got {got!r} at word {self.i + 1}" if got else "prompt ended"
        return PromptError(self.prompt, f"expected {expected}, {where}")

    def take(self, allowed, expected: str) -> str:
        word = self.peek()
        if word not in allowed:
            raise self.fail(expected)
        self.i += 1
        return word

    def optional(self, *words: str) -> bool:
        if tuple(self.words[self.i : self.i + len(words)]) == words:
            self.i += len(words)
            return True
        return False

    def article(self) -> None:
        self.optional("a") or self.optional("an") or self.optional("the")

    def parse(self) -> WorldPrompt:
        self.article()
        size = "medium"
        if self.peek() in SIZE_SYNONYMS:
            size = SIZE_SYNONYMS[self.take(SIZE_SYNONYMS, "a size")]
        color = self.take(COLORS, f"an object colour ({', '.join(COLORS)})")
        shape = self.take(SHAPES, f"a shape ({', '.join(SHAPES)})")
        motion = self.motion()
        if not self.optional("on"):
            raise self.fail("'on'")
        self.article()
        textured = self.optional("textured")
        background = self.take(COLORS, f"a background colour ({', '.join(COLORS)})")
        self.optional("background") or self.optional("backdrop")
        noise, pan = False, None
        while self.peek() is not None:
            self.optional("and")
            if self.optional("with", "noise") or self.optional("noisy"):
                noise = True
            elif self.optional("with", "camera", "pan") or self.optional("camera", "pan") or self.optional("with", "camera", "panning"):
                pan = self.take(DIRECTIONS, f"a pan direction ({', '.join(DIRECTIONS)})")
            else:
                raise self.fail("'with noise', 'with camera pan DIR' or the end of the prompt")
        return WorldPrompt(color, shape, motion, background, size, textured, noise, pan)

    def motion(self) -> str:
        for phrase in STILL_PHRASES:
            if self.optional(*phrase):
                return "still"
        if self.optional("moving") or self.optional("going") or self.optional("sliding"):
            self.optional("to", "the")
            return self.take(DIRECTIONS, f"a direction ({', '.join(DIRECTIONS)})")
        raise self.fail("'moving DIR' or 'standing still'")


def all_prompts() -> list[WorldPrompt]:
    """Every prompt of the core grammar (medium size, plain background, no noise, no pan)."""
    return [
        WorldPrompt(color, shape, motion, background)
        for shape, color, background, motion in itertools.product(SHAPES, COLORS, COLORS, MOTIONS)
        if color != background
    ]


def sample_prompts(count: int, rng, *, modifiers: bool = True) -> list[WorldPrompt]:
    """``count`` core prompts drawn from ``rng`` (a ``numpy.random.Generator``), without replacement
    while the grammar lasts; with ``modifiers``, each gets a random size and, independently, texture
    (30 %), noise (30 %) and a camera pan (20 %) — the mix benchmarks and tests score the analyzer on."""
    core = all_prompts()
    picks = rng.choice(len(core), count, replace=count > len(core))
    if not modifiers:
        return [core[i] for i in picks]
    return [
        WorldPrompt(
            core[i].color,
            core[i].shape,
            core[i].motion,
            core[i].background,
            size=SIZES[rng.integers(len(SIZES))],
            textured=bool(rng.random() < 0.3),
            noise=bool(rng.random() < 0.3),
            pan=DIRECTIONS[rng.integers(len(DIRECTIONS))] if rng.random() < 0.2 else None,
        )
        for i in picks
    ]
