"""`format: image_folder`: one subdirectory per class, per split (`{role: train, name: train/}`),
PNG/JPEG/BMP/GIF images, grayscale or RGB (`dataset.color`), resized to `dataset.image_size` when
set (else all images must have one size). Class names are the train split's sorted folder names;
label = position. Files with other extensions and hidden files are ignored. Examples are ordered
by a hash of their path, so the first N and the last N mix the classes. Streams from the
cached files (decoded by tf.data), or loads whole when small enough."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataFormatError
from .formats import Format
from .splits import STREAM_PARALLEL

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def list_images(root: Path) -> dict[str, list[str]]:
    """class name -> sorted image paths relative to root (class folders only; no links followed)."""
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and not p.is_symlink()):
        files = []
        for dirpath, dirnames, names in os.walk(d):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            files += [str(Path(dirpath, n).relative_to(root)) for n in names
                      if n.lower().endswith(EXTENSIONS) and not n.startswith(".")]
        out[d.name] = sorted(files)
    return out


def check_image(path: Path, max_pixels: int) -> tuple[int, int]:
    """Open and fully decode one image under a pixel cap (the size comes from the header, checked
    before decoding); returns (width, height). A truncated file, a broken checksum or a header
    declaring more pixels than `max_pixels` (dataset.max_image_pixels) is a DataFormatError."""
    from PIL import Image, UnidentifiedImageError

    expected = "a readable PNG/JPEG/BMP/GIF image"
    try:
        with Image.open(path) as im:
            size = im.size
            if size[0] * size[1] > max_pixels:
                raise DataFormatError(str(path), "image size", f"at most {max_pixels} pixels (dataset.max_image_pixels)",
                                      f"{size[0]}x{size[1]} = {size[0] * size[1]} pixels")
            im.verify()                                  # checksums (PNG)
        with Image.open(path) as im:
            im.load()                                    # every pixel decodes (a truncated JPEG does not)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataFormatError(str(path), "image", expected, f"{type(e).__name__}: {e}") from None
    return size


class ImageFolderFormat(Format):
    name = "image_folder"
    knows_classes = True
    streams = True
    whole_entry = True

    def check(self, ds: dict) -> list[str]:
        problems = [f"dataset.files[{i}].name: expected a directory ending in '/' for format=image_folder, got {f['name']!r}"
                    for i, f in enumerate(ds["files"]) if not str(f.get("name", "")).endswith("/")]
        if ds.get("color") not in ("rgb", "grayscale"):
            problems.append(f"dataset.color: expected 'rgb' or 'grayscale', got {ds.get('color')!r}")
        size = ds.get("image_size")
        if size is not None and not (len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            problems.append(f"dataset.image_size: expected null or [height, width] of positive integers, got {size!r}")
        return problems

    def verify(self, path: Path, role: str, ds) -> dict:
        classes = list_images(path)
        if not classes:
            raise DataFormatError(str(path), "class folders", "one subdirectory per class", "none")
        empty = [c for c, files in classes.items() if not files]
        if empty:
            raise DataFormatError(str(path / empty[0]), "class folder", f"at least one image ({'/'.join(EXTENSIONS)})",
                                  "no images")
        sizes = set()
        for rel in (f for files in classes.values() for f in files):
            sizes.add(check_image(path / rel, ds.max_image_pixels))
        if ds.image_size is None and len(sizes) > 1:
            raise DataFormatError(str(path), "image sizes", "one size (or set dataset.image_size)",
                                  sorted(sizes)[:5])
        w, h = sizes.pop()
        return {"records": sum(len(f) for f in classes.values()), "classes": list(classes),
                "counts": {c: len(f) for c, f in classes.items()}, "size": [h, w]}

    def combine(self, members: dict[str, list[dict]], ds) -> dict:
        train = members["train"][0]["info"]
        classes = train["classes"]
        for role, ms in members.items():
            for m in ms:
                extra = sorted(set(m["info"]["classes"]) - set(classes))
                if extra:
                    raise DataFormatError(m["path"], "class folders", f"classes of the train split {classes}",
                                          f"also {extra}")
        if ds.num_classes is not None and ds.num_classes != len(classes):
            raise DataFormatError(members["train"][0]["path"], "number of classes",
                                  f"dataset.num_classes={ds.num_classes}", f"{len(classes)} folders {classes}")
        h, w = ds.image_size or train["size"]
        shape = [h, w, 3] if ds.color == "rgb" else [h, w]
        return {"classes": classes, "num_classes": len(classes), "input_shape": shape,
                "records": {r: sum(m["info"]["records"] for m in ms) for r, ms in members.items()}}

    def items(self, members: list[dict], info: dict) -> list[tuple[str, int]]:
        """(image path, label) of a role, in a fixed order that mixes the classes: by a hash of each
        file's path in the folder (stable when files are added), so `limit_train` and the
        validation split are not one class."""
        import hashlib

        index = {c: i for i, c in enumerate(info["classes"])}
        out = []
        for m in members:
            root = Path(m["path"])
            for cls, files in list_images(root).items():
                out += [(hashlib.sha1(f.encode()).hexdigest(), str(root / f), index[cls]) for f in files]
        return [(path, label) for _, path, label in sorted(out)]

    def arrays(self, members: list[dict], ds, info: dict):
        from PIL import Image

        items = self.items(members, info)
        h, w = info["input_shape"][:2]
        x = np.empty((len(items), *info["input_shape"]), dtype=np.uint8)
        for i, (path, _) in enumerate(items):
            with Image.open(path) as im:
                im = im.convert("RGB" if ds.color == "rgb" else "L")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                x[i] = np.asarray(im)
        return x, np.array([label for _, label in items], dtype=np.int32)

    def batches(self, items, ds, info: dict):
        """Each item is one image file: decode it (its label comes from its class folder)."""
        read = self.decode(ds, info)
        return items.map(lambda path, offset, label: (offset, read(path), label),
                         num_parallel_calls=STREAM_PARALLEL).batch(256)

    def decode(self, ds, info: dict):
        """path (tf.string) -> the image as float32 raw pixel values in the input shape."""
        import tensorflow as tf

        shape = info["input_shape"]
        channels = 3 if ds.color == "rgb" else 1

        def read(path):
            img = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            img = tf.cast(img, tf.float32)
            if ds.image_size is not None:
                img = tf.image.resize(img, shape[:2])
            img = tf.ensure_shape(img, [*shape[:2], channels])
            return img if channels == 3 else img[..., 0]

        return read
