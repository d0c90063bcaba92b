"""The media stage: inputs over a limit become chunks, tiles or downscaled copies that fit."""
