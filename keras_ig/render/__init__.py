"""Render attributions as pictures: numpy arrays in, `PIL.Image.Image` out.

Nothing here imports TensorFlow, so pictures can be made from attributions
saved to disk. Anything array-like (numpy arrays, eager tensors) is accepted
and read with `np.asarray`.

Colours (see `keras_ig._numpy.colors`):

- signed maps: blue negative, white zero, red positive, after scaling by the
  `clip_percentile`-th percentile of `|attr|` (values beyond saturate);
- unsigned maps (`signed=False`): `|attr|` on a black - red - yellow - white
  ramp.

Small inputs (e.g. 28x28) are enlarged by a whole-number factor with
nearest-neighbour resampling, so each input pixel stays a crisp square block
and the picture never suggests detail the model did not see.
"""

from keras_ig.render.bars import bar_chart
from keras_ig.render.compose import grid, labelled, scale_text
from keras_ig.render.images import (
    OUTLINE_RGB,
    PANEL_TITLES,
    PanelBase,
    attribution_map,
    draw_panel,
    image_panel,
    overlay,
    panel_base,
)
from keras_ig.render.tokens import token_image

__all__ = [
    "attribution_map",
    "overlay",
    "image_panel",
    "token_image",
    "bar_chart",
    "grid",
    "labelled",
    # Building blocks of the pictures of explanations (and the callback's).
    "OUTLINE_RGB",
    "PANEL_TITLES",
    "PanelBase",
    "draw_panel",
    "panel_base",
    "scale_text",
]
