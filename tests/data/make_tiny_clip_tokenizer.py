"""Write tests/data/tiny-clip-tokenizer/: a small byte-level BPE tokenizer in CLIP's file format.

diffusers' own tests load ``hf-internal-testing/tiny-random-clip`` from the hub; ours must build
offline, so the same files (vocab.json, merges.txt, tokenizer_config.json) are made here once and
shipped. The merges are learnt with CLIP's own pre-tokenizer from the shapes world's prompts and a few
generic ones; the vocabulary is laid out as CLIP's: the 256 byte symbols, the same with the
end-of-word mark ``</w>``, one token per merge, then ``<|startoftext|>`` and ``<|endoftext|>``. So
``CLIPTokenizer.from_pretrained`` reads it like a real CLIP tokenizer and any text stays encodable.

Run from the repository root: ``python tests/data/make_tiny_clip_tokenizer.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

MAX_MERGES = 1000
MODEL_MAX_LENGTH = 77  # CLIP's context length
SPECIAL = ("<|startoftext|>", "<|endoftext|>")
GENERIC_PROMPTS = (
    "A painting of a squirrel eating a burger",
    "an astronaut riding a horse on the moon, 4k, cinematic",
    "a cat walks on the grass, realistic style",
    "waves crashing against a lighthouse at sunset",
    "a panda playing guitar in a bamboo forest",
    "time-lapse of clouds over a mountain lake",
)


def main(out: Path = Path(__file__).parent / "tiny-clip-tokenizer") -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    from genkit.world import all_prompts

    template = CLIPTokenizer()  # CLIP's normaliser and pre-tokenizer, with an empty vocabulary
    tokenizer = Tokenizer(models.BPE(end_of_word_suffix="</w>", continuing_subword_prefix=""))
    tokenizer.normalizer = template.backend_tokenizer.normalizer
    tokenizer.pre_tokenizer = template.backend_tokenizer.pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=MAX_MERGES,
        special_tokens=list(SPECIAL),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    corpus = [prompt.text for prompt in all_prompts()] + list(GENERIC_PROMPTS)
    tokenizer.train_from_iterator(corpus, trainer)
    pairs = [pair if isinstance(pair, list) else pair.split(" ") for pair in json.loads(tokenizer.to_str())["model"]["merges"]]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + [f"{symbol}</w>" for symbol in alphabet] + ["".join(pair) for pair in pairs] + list(SPECIAL)
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "bos_token": SPECIAL[0],
        "eos_token": SPECIAL[1],
        "pad_token": SPECIAL[1],
        "unk_token": SPECIAL[1],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in pairs), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(vocab)} tokens ({len(pairs)} merges) to {out}")


if __name__ == "__main__":
    main()
