"""Reading inputs: images (converted, resized) and `.npy` arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_ig.cli._errors import CLIError, first_line
from keras_ig.cli._models import InputSpec


def read_image(
    path: Path, spec: InputSpec, resize: bool, stretched: list[str] | None = None
) -> np.ndarray:
    """An image as one model input row, in [0, 1].

    Args:
        path: the image file.
        spec: the model's input.
        resize: resize an image of another size (else a `CLIError`).
        stretched: if given, gets a note for an image whose aspect ratio the
            resize changes (it is stretched, not cropped).

    Returns:
        `float32[H, W]` or `float32[H, W, C]`, as `spec`.
    """
    from PIL import Image, UnidentifiedImageError

    if not spec.image_layout:
        raise CLIError(
            f"{path}: the model takes inputs of shape {spec.describe()}, not images; "
            "give .npy files"
        )
    if not spec.floating:
        raise CLIError(f"{path}: the model takes {spec.dtype} inputs, not images")
    channels = 1 if len(spec.shape) == 2 else spec.shape[-1]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    try:
        with Image.open(path) as img:
            picture = img.convert(mode)  # first frame; loads the pixels
    except (UnidentifiedImageError, OSError) as err:
        raise CLIError(f"{path}: not a readable image ({first_line(err)})") from None
    height, width = spec.shape[0], spec.shape[1]
    wanted = (width or picture.width, height or picture.height)
    if picture.size != wanted:
        if not resize:
            raise CLIError(
                f"{path}: image is {picture.width}x{picture.height} pixels; the model "
                f"expects {wanted[0]}x{wanted[1]} (leave out --no-resize to resize)"
            )
        _note_stretch(path, picture.size, wanted, stretched)
        picture = picture.resize(wanted, Image.Resampling.BILINEAR)
    row = np.asarray(picture, dtype=np.float32) / 255.0
    if len(spec.shape) == 3 and channels == 1:
        row = row[..., None]  # [H, W] -> [H, W, 1]
    return row


def _note_stretch(
    path: Path, size: tuple[int, int], wanted: tuple[int, int], stretched: list[str] | None
) -> None:
    """Record `path` when resizing `size` to `wanted` (both `(W, H)`) changes its shape."""
    if stretched is not None and size[0] * wanted[1] != size[1] * wanted[0]:
        stretched.append(f"{path} ({size[0]}x{size[1]})")


def read_array(
    path: Path, spec: InputSpec, resize: bool, stretched: list[str] | None = None
) -> list[np.ndarray]:
    """Rows of a .npy file: one input, or a batch along the first axis.

    Args: as `read_image`.
    """
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CLIError(f"{path}: not a readable .npy file ({first_line(err)})") from None
    if arr.dtype.kind not in "biuf":
        raise CLIError(f"{path}: holds {arr.dtype} values, not numbers")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise CLIError(f"{path}: contains NaN or inf")
    rank = len(spec.shape)
    if arr.ndim == rank:
        rows = [arr]
    elif arr.ndim == rank + 1:
        rows = list(arr)
        if not rows:
            raise CLIError(f"{path}: holds an empty batch")
    elif arr.ndim == rank - 1 and spec.shape[-1] == 1:
        rows = [arr[..., None]]  # greyscale [H, W] for a [H, W, 1] model
    else:
        raise CLIError(
            f"{path}: array of shape {arr.shape} does not fit the model's input "
            f"{spec.describe()} (one input, or a batch of them)"
        )
    if spec.floating:
        rows = [r.astype(np.float32) for r in rows]
    elif arr.dtype.kind == "f":
        raise CLIError(f"{path}: holds floats; the model takes {spec.dtype} inputs")
    else:
        rows = [r.astype(spec.dtype) for r in rows]
    return [_fit_row(r, spec, resize, path, stretched) for r in rows]


def _fit_row(
    row: np.ndarray, spec: InputSpec, resize: bool, path: Path, stretched: list[str] | None
) -> np.ndarray:
    mismatch = [e is not None and e != g for e, g in zip(spec.shape, row.shape, strict=True)]
    if not any(mismatch):
        return row
    # Only the spatial axes of an image-like array can be resized sensibly.
    spatial_only = spec.image_layout and not any(mismatch[2:]) and spec.floating
    if not resize or not spatial_only:
        hint = " (leave out --no-resize to resize it)" if spatial_only else ""
        raise CLIError(
            f"{path}: array of shape {row.shape}; the model expects {spec.describe()}{hint}"
        )
    import tensorflow as tf

    size = [spec.shape[0] or row.shape[0], spec.shape[1] or row.shape[1]]
    _note_stretch(path, (row.shape[1], row.shape[0]), (size[1], size[0]), stretched)
    image = row if row.ndim == 3 else row[..., None]
    resized = tf.image.resize(image, size, method="bilinear").numpy()
    return resized if row.ndim == 3 else resized[..., 0]
