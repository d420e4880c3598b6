DEFAULT_DETECTOR_ID = "IDEA-Research/grounding-dino-tiny"
DEFAULT_SEGMENTER_ID = "facebook/sam-vit-huge"
