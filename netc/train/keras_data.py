"""Training batches for Keras models: channels-last, augmented a whole batch at a time.

The random draws of an epoch (its shuffled order, every image's crop offset and flip) come from
one numpy generator seeded by ``(seed, epoch)``, so an epoch's batches are a pure function of the
recipe and the epoch number: a resumed run needs no data-RNG state, and Keras on TensorFlow and
on torch see the same images in the same order. Under TensorFlow the batches are assembled by a
``tf.data`` pipeline (gather, crop, flip, normalise as tensor ops, prefetched); on the other Keras
backends by a Python generator of numpy arrays, with the same batched operations in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from netc.train.data import DataSet
from netc.train.recipe import DATA_SEED_OFFSET, Recipe

_NORMALISE_CHUNK = 4096


@dataclass(frozen=True)
class EpochPlan:
    """One epoch's draws, one row per step: which images, where to crop them, which to flip."""

    order: np.ndarray    # (steps, batch) int64 indices into the training split
    offsets: np.ndarray  # (steps, batch, 2) int32 top-left corner of the crop in the padded image
    flips: np.ndarray    # (steps, batch) bool


def plan_epoch(count: int, steps: int, batch: int, recipe: Recipe, epoch: int) -> EpochPlan:
    padding = recipe.crop_padding if recipe.augment else 0
    rng = np.random.default_rng([recipe.seed, DATA_SEED_OFFSET, epoch])
    order = rng.permutation(count)[:steps * batch].reshape(steps, batch)
    offsets = rng.integers(0, 2 * padding + 1, size=(steps, batch, 2), dtype=np.int32)
    flips = rng.random((steps, batch)) < 0.5
    if not (recipe.augment and recipe.flip):
        flips[:] = False
    return EpochPlan(order, offsets, flips)


def to_channels_last(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) as the data sources give it -> (N, H, W, C), copied once, raw dtype kept."""
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1))


def normalised(images: np.ndarray, data: DataSet) -> np.ndarray:
    """Raw channels-last images -> float32 in the units the network trains on."""
    mean = np.asarray(data.mean, dtype=np.float32)
    std = np.asarray(data.std, dtype=np.float32)
    out = np.empty(images.shape, dtype=np.float32)
    for start in range(0, len(images), _NORMALISE_CHUNK):
        chunk = images[start:start + _NORMALISE_CHUNK].astype(np.float32) * data.pixel_scale
        out[start:start + _NORMALISE_CHUNK] = (chunk - mean) / std
    return out


# -- numpy (Keras on torch or JAX) -----------------------------------------------------------

def crop_numpy(images: np.ndarray, offsets: np.ndarray, padding: int) -> np.ndarray:
    """Crop each image of the zero-padded NHWC batch at its own offset, in one gather."""
    batch, height, width, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    rows = offsets[:, 0, None] + np.arange(height)
    cols = offsets[:, 1, None] + np.arange(width)
    return padded[np.arange(batch)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _numpy_stream(data: DataSet, recipe: Recipe, steps: int, first_epoch: int) -> Iterator:
    images = to_channels_last(data.train_x)
    labels = np.eye(data.num_classes, dtype=np.float32)[data.train_y]
    mean = np.asarray(data.mean, dtype=np.float32)
    std = np.asarray(data.std, dtype=np.float32)
    padding = recipe.crop_padding if recipe.augment else 0
    for epoch in range(first_epoch, recipe.epochs):
        plan = plan_epoch(len(images), steps, recipe.batch_size, recipe, epoch)
        for step in range(steps):
            indices = plan.order[step]
            batch = images[indices].astype(np.float32) * data.pixel_scale
            if padding:
                batch = crop_numpy(batch, plan.offsets[step], padding)
            flips = plan.flips[step]
            if flips.any():
                batch[flips] = batch[flips, :, ::-1]
            yield (batch - mean) / std, labels[indices]


# -- tf.data (Keras on TensorFlow) -------------------------------------------------------------

def crop_tf(images, offsets, padding: int):
    """``crop_numpy`` as TensorFlow ops: two batched gathers on the padded batch."""
    import tensorflow as tf

    height, width = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    rows = offsets[:, 0:1] + tf.range(height, dtype=offsets.dtype)
    cols = offsets[:, 1:2] + tf.range(width, dtype=offsets.dtype)
    picked = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(picked, cols, axis=2, batch_dims=1)


def _tf_stream(data: DataSet, recipe: Recipe, steps: int, first_epoch: int):
    import tensorflow as tf

    # Eager tensors captured by the map function are passed by reference, not baked into a
    # graph constant, so a large data set does not meet GraphDef's 2 GB limit.
    images = tf.convert_to_tensor(to_channels_last(data.train_x))
    labels = tf.convert_to_tensor(data.train_y)
    mean = tf.constant(data.mean, dtype=tf.float32)
    std = tf.constant(data.std, dtype=tf.float32)
    padding = recipe.crop_padding if recipe.augment else 0
    batch = recipe.batch_size

    def plan(epoch):
        drawn = plan_epoch(int(images.shape[0]), steps, batch, recipe, int(epoch))
        return drawn.order, drawn.offsets, drawn.flips

    def plan_tensors(epoch):
        # Once per epoch, on the host (a numpy_function, not from_generator: a generator's
        # iterator left open by an interrupted fit reports an error when Python exits).
        order, offsets, flips = tf.numpy_function(plan, [epoch], (tf.int64, tf.int32, tf.bool))
        return (tf.ensure_shape(order, (steps, batch)),
                tf.ensure_shape(offsets, (steps, batch, 2)),
                tf.ensure_shape(flips, (steps, batch)))

    def assemble(indices, offsets, flips):
        pixels = tf.cast(tf.gather(images, indices), tf.float32) * data.pixel_scale
        if padding:
            pixels = crop_tf(pixels, offsets, padding)
        pixels = tf.where(flips[:, None, None, None], tf.reverse(pixels, axis=[2]), pixels)
        one_hot = tf.one_hot(tf.gather(labels, indices), data.num_classes)
        return (pixels - mean) / std, one_hot

    epochs = tf.data.Dataset.range(first_epoch, recipe.epochs).map(plan_tensors)
    return (epochs.flat_map(lambda *drawn: tf.data.Dataset.from_tensor_slices(drawn))
            .map(assemble, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


_STREAMS: dict[str, Callable[[DataSet, Recipe, int, int], Any]] = {"tensorflow": _tf_stream}


def training_stream(data: DataSet, recipe: Recipe, steps: int, first_epoch: int,
                    keras_backend: str) -> Any:
    """The batches (images, one-hot labels) of epochs ``first_epoch`` .. ``recipe.epochs - 1``
    as one stream, which ``fit(steps_per_epoch=steps)`` consumes epoch after epoch: a
    ``tf.data.Dataset`` under TensorFlow, else a generator of numpy arrays."""
    return _STREAMS.get(keras_backend, _numpy_stream)(data, recipe, steps, first_epoch)
