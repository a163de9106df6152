"""The synthetic demo domain: coloured-shape scenes, their videos and the small CLIP trained on them."""
