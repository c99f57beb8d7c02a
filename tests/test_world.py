"""The shapes world: grammar, renderer and analyzer."""

from __future__ import annotations

import numpy as np
import pytest

from genkit.errors import GenkitError
from genkit.suites import SuiteItem
from genkit.world import (
    COLORS,
    DIRECTIONS,
    SHAPES,
    SIZES,
    PromptError,
    WorldPrompt,
    all_prompts,
    analyze,
    parse_prompt,
    render,
    render_suite,
    sample_prompts,
)
from provenance.media import encode_decode


def test_every_core_prompt_parses_back_to_itself():
    prompts = all_prompts()
    assert len(prompts) == len(SHAPES) * len(COLORS) * (len(COLORS) - 1) * 5 == 1680
    assert all(parse_prompt(prompt.text) == prompt for prompt in prompts)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red circle moving left on a blue background", WorldPrompt("red", "circle", "left", "blue")),
        ("The Tiny RED circle going to the left on a blue backdrop.", WorldPrompt("red", "circle", "left", "blue", "small")),
        ("a big green star not moving on a white background", WorldPrompt("green", "star", "still", "white", "large")),
        ("a cyan cross staying still on a black background", WorldPrompt("cyan", "cross", "still", "black")),
        ("a magenta diamond sliding down on a textured yellow background", WorldPrompt("magenta", "diamond", "down", "yellow", textured=True)),
        (
            "a white square moving up on a red background, with noise and with camera pan right",
            WorldPrompt("white", "square", "up", "red", noise=True, pan="right"),
        ),
        ("a black triangle still on a cyan background noisy camera pan up", WorldPrompt("black", "triangle", "still", "cyan", noise=True, pan="up")),
    ],
)
def test_parser_accepts_canonical_and_synonym_forms(text, expected):
    parsed = parse_prompt(text)
    assert parsed == expected
    assert parse_prompt(parsed.text) == parsed  # the canonical wording parses back


@pytest.mark.parametrize(
    "text, reason",
    [
        ("a purple circle moving left on a blue background", "got 'purple' at word 2"),
        ("a red hexagon moving left on a blue background", "expected a shape"),
        ("a red circle moving sideways on a blue background", "expected a direction"),
        ("a red circle moving left on a red background", "they must differ"),
        ("a red circle moving left", "prompt ended"),
        ("a red circle moving left on a blue background with sparkles", "'with noise'"),
        ("a red circle moving left on a blue background 2x", "only letters"),
        ("   ", "empty prompt"),
        ("a cat playing the piano", "got 'cat'"),
    ],
)
def test_parser_rejects_prompts_outside_the_grammar_listing_the_vocabulary(text, reason):
    with pytest.raises(PromptError) as caught:
        parse_prompt(text)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message
    for word in (*COLORS, *SHAPES, *DIRECTIONS, *SIZES):
        assert word in message
    assert isinstance(caught.value, GenkitError) and isinstance(caught.value, ValueError)


def test_render_is_deterministic_per_seed_and_differs_across_seeds():
    prompt = "a yellow star moving right on a textured blue background with noise"
    first, again, other = (render(prompt, seed=s) for s in (5, 5, 6))
    assert np.array_equal(first.frames, again.frames)
    assert not np.array_equal(first.frames, other.frames)
    assert first.meta["seed"] == 5 and first.meta["prompt"] == parse_prompt(prompt).text


def test_a_suite_renders_item_i_with_seed_plus_i_whatever_else_is_rendered():
    prompts = ["a red circle moving left on a blue background", "a green square moving up on a white background"]
    items = [prompts[0], WorldPrompt("yellow", "star", "still", "black"), SuiteItem(prompts[1], "p2")]
    rendered = list(render_suite(items, frames=3, size=(24, 32), fps=6, seed=40))
    assert [(index, item) for index, item, _ in rendered] == list(enumerate(items))
    for index, item, video in rendered:
        expected = render(getattr(item, "prompt", item), frames=3, size=(24, 32), fps=6, seed=40 + index)
        assert video.meta["seed"] == 40 + index and video.fps == 6 and np.array_equal(video.frames, expected.frames)
    [(index, item, video)] = render_suite(items, frames=3, size=(24, 32), fps=6, seed=40, only={2})  # a shard
    assert index == 2 and item is items[2] and np.array_equal(video.frames, rendered[2][2].frames)


@pytest.mark.parametrize(
    "frames, size, shape", [(1, 16, (1, 16, 16, 3)), (8, "96x48", (8, 48, 96, 3)), (5, (40, 72), (5, 40, 72, 3)), (3, 257, (3, 257, 257, 3))]
)
def test_render_honours_frames_and_size(frames, size, shape):
    video = render("a red square moving down on a green background", frames=frames, size=size, fps=12)
    assert video.frames.shape == shape and video.frames.dtype == np.uint8
    assert video.fps == 12.0


@pytest.mark.parametrize("kwargs", [{"frames": 0}, {"size": 8}, {"size": "64x"}, {"size": 9000}])
def test_render_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError):
        render("a red square moving down on a green background", **kwargs)


def test_edges_are_anti_aliased_and_the_object_stays_inside_the_frame():
    for index, prompt in enumerate(all_prompts()[::97]):
        video = render(prompt, frames=8, size=48, seed=index)
        frames = video.frames.astype(np.int16)
        background = frames[0, 0, 0]
        border = np.concatenate([frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1]], axis=1)
        assert np.abs(border - background).max() <= 1, prompt.text
    circle = render("a white circle standing still on a black background", frames=1, size=64).frames[0, :, :, 0]
    partial = (circle > 40) & (circle < 200)
    assert partial.sum() >= 8  # edge pixels blend object and background


@pytest.mark.parametrize("size, frames, count, crf", [(64, 16, 60, None), (64, 16, 30, 28), (32, 8, 30, None)])
def test_analyzer_recovers_every_attribute(size, frames, count, crf):
    wrong = []
    for index, prompt in enumerate(sample_prompts(count, np.random.default_rng(size + frames + (crf or 0)))):
        video = render(prompt, frames=frames, size=size, seed=index)
        if crf is not None:
            video = encode_decode(video, crf=crf)
        found = analyze(video)
        if not all(found.matches(video.meta["attributes"]).values()):
            wrong.append((prompt.text, found))
    assert wrong == []


def test_analyzer_on_an_empty_scene_finds_no_object():
    blank = np.full((4, 32, 32, 3), (30, 60, 220), np.uint8)
    found = analyze(blank)
    assert found.background == "blue"
    assert (found.color, found.shape, found.motion) == (None, None, None)


def test_sample_prompts_is_seeded_distinct_and_mixes_modifiers():
    first = sample_prompts(200, np.random.default_rng(4))
    assert first == sample_prompts(200, np.random.default_rng(4))
    assert first != sample_prompts(200, np.random.default_rng(5))
    core = [(p.color, p.shape, p.motion, p.background) for p in first]
    assert len(set(core)) == 200  # without replacement
    assert {p.size for p in first} == set(SIZES)
    assert 0.15 < np.mean([p.textured for p in first]) < 0.45 and 0.15 < np.mean([p.noise for p in first]) < 0.45
    assert {p.pan for p in first} == {None, *DIRECTIONS}
    assert all(p.size == "medium" and not p.noise for p in sample_prompts(20, np.random.default_rng(0), modifiers=False))
