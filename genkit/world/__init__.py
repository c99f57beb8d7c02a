"""The shapes world: a prompt grammar, a seeded renderer and an analyzer of its clips.

It is the training data of synthvid's embedded models, the reference set for FVD-tiny, the authentic
class for content-matched detection, and (through :func:`analyze`) the judge of prompt adherence.
"""

from genkit.world.analyze import WorldAttributes, analyze
from genkit.world.grammar import (
    COLORS,
    DIRECTIONS,
    MOTIONS,
    PALETTE,
    SHAPES,
    SIZES,
    PromptError,
    WorldPrompt,
    all_prompts,
    parse_prompt,
    sample_prompts,
    vocabulary_help,
)
from genkit.world.render import render, render_suite, suite_seed

__all__ = [
    "COLORS",
    "DIRECTIONS",
    "MOTIONS",
    "PALETTE",
    "SHAPES",
    "SIZES",
    "PromptError",
    "WorldAttributes",
    "WorldPrompt",
    "all_prompts",
    "analyze",
    "parse_prompt",
    "render",
    "render_suite",
    "sample_prompts",
    "suite_seed",
    "vocabulary_help",
    "world_source",
]


def world_source():
    """The shapes world as eval's encoders train on it (:class:`eval.training.WorldSource`): renderer,
    prompt sampler, attribute vocabulary and synthvid-tiny's word-level tokenizer."""
    from eval.training import WorldSource
    from genkit.tiny.text import build_tokenizer
    from genkit.world.render import NOISE_SIGMA

    return WorldSource(
        render=render,
        sample_prompts=sample_prompts,
        vocab={"color": COLORS, "background": COLORS, "shape": SHAPES, "motion": MOTIONS, "size": SIZES},
        directions=DIRECTIONS,
        noise_sigma=NOISE_SIGMA,
        tokenizer=build_tokenizer,
    )
