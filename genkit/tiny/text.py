"""The prompt tokenizer and text encoder of synthvid-tiny.

The tokenizer is a word-level ``PreTrainedTokenizerFast`` over the shapes-world vocabulary (built
here, saved with the pipeline, so nothing is fetched); the encoder is a small ``CLIPTextModel``
trained from scratch with the UNet. Its attention and position embeddings keep word order, which a bag
of words loses: "a red circle on a blue background" and "a blue circle on a red background" differ
only by order.
"""

from __future__ import annotations

from genkit.world.grammar import COLORS, DIRECTIONS, SHAPES, SIZE_SYNONYMS

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
MAX_TOKENS = 24
FUNCTION_WORDS = (
    "a an the on background backdrop moving going sliding to standing staying still not textured with noise noisy camera pan panning and , ."
).split()


def vocabulary() -> list[str]:
    words = [PAD, UNK, BOS, EOS, *FUNCTION_WORDS, *COLORS, *SHAPES, *DIRECTIONS, *SIZE_SYNONYMS]
    return list(dict.fromkeys(words))


def build_tokenizer():
    """A word-level fast tokenizer over :func:`vocabulary`: lower-cased, ``[BOS] words [EOS]``, padded."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=MAX_TOKENS,
    )


def build_text_encoder(hidden_size: int = 128, layers: int = 3, heads: int = 4):
    """A randomly initialised small ``CLIPTextModel`` matching :func:`build_tokenizer`."""
    from transformers import CLIPTextConfig, CLIPTextModel

    vocab = vocabulary()
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=MAX_TOKENS,
        pad_token_id=vocab.index(PAD),
        bos_token_id=vocab.index(BOS),
        eos_token_id=vocab.index(EOS),
        projection_dim=hidden_size,
    )
    return CLIPTextModel(config)
