"""Contact sheets: rows of equally sized images with labels, as one float (H, W, 3) image."""

import cv2
import numpy as np

GAP = 4


def label_tile(text, height, width=150):
    """A white tile with ``text`` in black, vertically centred."""
    tile = np.ones((height, width, 3), np.float32)
    cv2.putText(tile, text, (6, height // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def sheet(rows, row_labels, column_labels=None):
    """``rows`` of images (H, W, 3 or 1, floats in [0, 1]) framed white, each row led by its label;
    ``column_labels`` on a header row."""
    height = rows[0][0].shape[0] + 2 * GAP
    lines = [np.concatenate([label_tile(label, height)] + [_framed(image) for image in row], axis=1)
             for label, row in zip(row_labels, rows)]
    if column_labels:
        width = rows[0][0].shape[1] + 2 * GAP
        lines.insert(0, np.concatenate([label_tile("", 24)] + [label_tile(text, 24, width) for text in column_labels],
                                       axis=1))
    return np.concatenate(lines, axis=0)


def _framed(image):
    image = np.asarray(image, np.float32)
    if image.ndim == 2 or image.shape[-1] == 1:
        image = np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=-1)
    return np.pad(np.clip(image, 0, 1), ((GAP, GAP), (GAP, GAP), (0, 0)), constant_values=1.0)
