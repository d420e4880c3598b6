"""Randomly initialised Grounding DINO + SAM, no download: for tests, benchmarks and dry runs.

``"tiny"`` builds toy sizes that run in milliseconds on a CPU; ``"real"`` builds the architectures of
the default checkpoints (Grounding DINO Swin-T with a BERT-base text encoder, SAM ViT-H) so
throughput and memory can be measured without the weights. The tokenizer knows only the prompt
words (a real BERT vocabulary is a download); detections are meaningless, costs are not.
"""

from __future__ import annotations

from typing import Any, Literal

from repro.masks.backends import TransformersGroundedSAM

Size = Literal["tiny", "real"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "sky", "watermark"]


def random_processors(size: Size = "tiny") -> tuple[Any, Any]:
    """(Grounding DINO processor, SAM processor); ``real`` uses the checkpoints' image sizes."""
    from transformers import (
        BertTokenizer,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SamImageProcessor,
        SamProcessor,
    )

    tokenizer = BertTokenizer(vocab={tok: i for i, tok in enumerate(VOCAB)})
    if size == "tiny":
        dino_images = GroundingDinoImageProcessor(size={"shortest_edge": 32, "longest_edge": 64})
        sam_images = SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
    else:
        dino_images, sam_images = GroundingDinoImageProcessor(), SamImageProcessor()
    return GroundingDinoProcessor(image_processor=dino_images, tokenizer=tokenizer), SamProcessor(sam_images)


def random_detector(size: Size = "tiny") -> Any:
    from transformers import BertConfig, GroundingDinoConfig, GroundingDinoForObjectDetection, SwinConfig

    if size == "real":
        return GroundingDinoForObjectDetection(GroundingDinoConfig())  # Swin-T + BERT-base, 900 queries
    swin = SwinConfig(
        embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=2, image_size=32, out_indices=[2, 3, 4]
    )
    bert = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    config = GroundingDinoConfig(
        backbone_config=swin,
        text_config=bert,
        num_queries=8,
        encoder_layers=1,
        decoder_layers=2,
        d_model=32,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_feature_levels=3,
        encoder_n_points=1,
        decoder_n_points=1,
        max_text_len=16,
    )  # d_model: a multiple of 32 (GroupNorm); decoder_layers >= 2 (tied box heads)
    return GroundingDinoForObjectDetection(config)


def random_segmenter(size: Size = "tiny") -> Any:
    from transformers import SamConfig, SamMaskDecoderConfig, SamModel, SamPromptEncoderConfig, SamVisionConfig

    if size == "real":  # ViT-H, as facebook/sam-vit-huge
        vision = SamVisionConfig(
            hidden_size=1280,
            num_hidden_layers=32,
            num_attention_heads=16,
            global_attn_indexes=[7, 15, 23, 31],
            initializer_range=0.02,  # the config default 1e-10 gives denormals: slow on CPUs, meaningless for timing
        )
        return SamModel(SamConfig(vision_config=vision))
    config = SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=1,
            output_channels=16,
            image_size=64,
            patch_size=16,
            global_attn_indexes=[0],
            mlp_dim=32,
            num_pos_feats=8,
            initializer_range=0.02,
        ),
        prompt_encoder_config=SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=16),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=1, mlp_dim=16, iou_head_hidden_dim=16
        ),
    )
    return SamModel(config)


def random_grounded_sam(size: Size = "tiny", **kwargs: Any) -> TransformersGroundedSAM:
    """The transformers backend with random weights (``kwargs``: prompts, thresholds, device)."""
    dino_proc, sam_proc = random_processors(size)
    return TransformersGroundedSAM(random_detector(size), dino_proc, random_segmenter(size), sam_proc, **kwargs)
