"""A test vision-language model built offline: SmolVLM's architecture (Idefics3: a SigLIP vision encoder, pixel
shuffle, a Llama text model) at a tiny size (or at SmolVLM-256M's size, for benchmarks), random weights, and a
word-level tokenizer built here.

It exercises the real loading and generation code path (aria_nav.core.describe.vlm) in tests and on CPU. Its words
mean nothing: the folder's config marks it (TEST_MODEL_KEY) so the describer says so. Real models:
docs/guidance.md "Scene description".
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict

TEST_VLM_NAME = "smolvlm_test"
TEST_MODEL_KEY = "aria_nav_test_model"  # in config.json: random weights, meaningless words
SEED = 20


@dataclass(frozen=True)
class VlmSize:
    """The dimensions of an Idefics3 (SmolVLM) build."""

    folder: str
    image_size: int  # pixels; (image_size / patch_size)^2 / scale_factor^2 image tokens
    patch_size: int
    scale_factor: int
    vision: Dict[str, int] = field(default_factory=dict)
    text: Dict[str, int] = field(default_factory=dict)
    vocab_size: int = 0  # 0: the test tokenizer's own size; more: padded with filler words to this size


# For tests: 4 image tokens, about 0.1 M parameters.
TINY = VlmSize(TEST_VLM_NAME, 64, 16, 2,
               vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
               text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512))
# SmolVLM-256M-Instruct's dimensions (SigLIP base/16 at 512 px, SmolLM2-135M, 64 image tokens): random weights of
# the real size, for speed and memory measurements where the real weights cannot be downloaded.
SMOLVLM_256M = VlmSize("smolvlm_256m_random", 512, 16, 4,
                       vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                   num_attention_heads=12),
                       text=dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                 num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                                 rope_theta=100000.0),
                       vocab_size=49280)
SIZES = {"tiny": TINY, "256m": SMOLVLM_256M}

# Special tokens of the Idefics3 processor and SmolVLM's chat format.
_SPECIAL = ["<unk>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>"]
_SPECIAL += [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
# Plain words so that random generation decodes to readable (meaningless) text.
_WORDS = ("user assistant describe the scene for a blind person walking short sentence what is ahead left right "
          "person chair table door car bicycle wall floor street path stairs tree bench dog open clear near far "
          "meters one two three there is are on your in front of and with to it".split())
_PUNCTUATION = [".", ",", ":", "?"]
# Not SmolVLM's own template: the same roles and markers, written for this test model.
_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>{% else %} {{ part['text'] }}"
    "{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")


def _tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(_SPECIAL + list(dict.fromkeys(_WORDS)) + _PUNCTUATION)}
    vocab.update({word.capitalize(): len(vocab) + i for i, word in enumerate(("user", "assistant"))})
    vocab.update({f"word{i}": i for i in range(len(vocab), vocab_size)})
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces, punctuation attached
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<|im_start|>",
                                        eos_token="<end_of_utterance>", pad_token="<unk>")
    tokenizer.add_special_tokens({"additional_special_tokens": _SPECIAL[1:]})
    return tokenizer


def vlm_config(size: VlmSize, tokenizer=None):
    """The Idefics3Config of `size` (with the test tokenizer's special token ids)."""
    from transformers import Idefics3Config

    tokenizer = tokenizer or _tokenizer(size.vocab_size)
    return Idefics3Config(
        vision_config=dict(size.vision, image_size=size.image_size, patch_size=size.patch_size),
        text_config=dict(size.text, model_type="llama", vocab_size=len(tokenizer),
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        scale_factor=size.scale_factor, image_token_id=tokenizer.convert_tokens_to_ids("<image>"))


def build_test_vlm(models_dir: Path, size: VlmSize = TINY) -> Path:
    """Builds models_dir/<size.folder> (a transformers folder: config, weights, processor, tokenizer) unless it is
    there already; returns the folder."""
    import torch
    from transformers import Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    target = Path(models_dir) / size.folder
    config_file = target / "config.json"
    if config_file.is_file():
        if not json.loads(config_file.read_text()).get(TEST_MODEL_KEY):
            from aria_nav.core.inference.interface import ModelError
            raise ModelError(f"{target} holds a model that is not the test build: it is never overwritten")
        return target
    tokenizer = _tokenizer(size.vocab_size)
    image_processor = Idefics3ImageProcessor(size={"longest_edge": size.image_size},
                                             max_image_size={"longest_edge": size.image_size},
                                             do_image_splitting=False)
    image_seq_len = (size.image_size // size.patch_size) ** 2 // size.scale_factor ** 2
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=image_seq_len,
                                  chat_template=_CHAT_TEMPLATE)
    torch.manual_seed(SEED)
    model = Idefics3ForConditionalGeneration(vlm_config(size, tokenizer)).eval()
    model.config.update({TEST_MODEL_KEY: True})
    model.generation_config.update(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{size.folder}.", dir=target.parent))
    try:  # written beside, then renamed: a half-built folder never looks like a model
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
