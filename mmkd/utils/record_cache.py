# Copyright (c) mmkd contributors. All rights reserved.
"""A variable number of records per sample, computed once and read back by
a data transform or by the model (teacher cache v2).

Methods that distil from region-level teacher outputs cache them per
image: CLIP embeddings of ~300 proposal boxes (boxes, 512-d embeddings,
scores), per-box or per-block embeddings, or a memory along a sequence. A
sample's entry is a dict of named fields, each a tensor whose first dim is
the sample's record count N (N varies per sample and may be 0), e.g.
``boxes (N, 4)`` float32, ``embeddings (N, 512)`` float16, ``scores (N,)``
and ``labels (N,)`` int64.

- The **schema** (field -> dtype, trailing shape and, for boxes, the box
  kind ``'xyxy'``: image boxes in the ORIGINAL image's coordinates) is
  declared when the cache is written and recorded in its metadata; an
  entry of another schema is refused when it is added, a cache of another
  schema, fingerprint or extra input file when it opens.
- Entries are keyed by a stable sample key (:func:`record_key`): the
  image path relative to ``data_root`` or a sample token, never by an
  augmentation, so that any sample can look up any entry (another frame
  of a sequence as well as its own).
- A fingerprint string (e.g. of the teacher that computed the records)
  and **extra input files** (a proposal file, a text-embedding file),
  whose bytes are hashed, are recorded and checked when the cache opens.
- :class:`RecordCacheWriter` writes into a new entry folder and swaps the
  metadata in when it closes, like the teacher tap cache (the shared
  layout: :mod:`mmkd.utils.cache_files`). An entry file is its fields'
  raw bytes (widest dtype first; no pickle), so a read is one ``readinto``
  and tensors over its buffer, and a subset of fields reads only theirs.
- :class:`RecordCache` reads entries by key (:meth:`RecordCache.get`,
  :meth:`RecordCache.lookup`) or for the model's data samples
  (:meth:`RecordCache.records_for`, :meth:`RecordCache.pack`, which sets
  ``data_sample.cached_records``); the data transforms
  ``mmkd.LoadCachedRecords``, ``mmkd.TransformCachedBoxes`` and
  ``mmkd.PackCachedRecords`` read them in the data pipeline, where box
  fields follow the sample's own resize, flip and crop
  (``homography_matrix``, :func:`transform_records`).

Example::

    schema = dict(boxes=dict(dtype='float32', shape=(4,), box='xyxy'),
                  embeddings=dict(dtype='float16', shape=(512,)),
                  scores=dict(dtype='float32', shape=()))
    with RecordCacheWriter('work_dirs/clip_boxes', schema, fingerprint,
                           extra_inputs=dict(proposals=proposal_file)) as w:
        for img_path, boxes, embeddings, scores in teacher_outputs:
            w.add(record_key(img_path, data_root),
                  dict(boxes=boxes, embeddings=embeddings, scores=scores))
    cache = RecordCache('work_dirs/clip_boxes', schema=schema)
    cache.get(record_key(prev_img_path, data_root))['embeddings']
"""
import math
import os
import os.path as osp
import sys
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor

from .cache_files import (META_FILE, check_target, check_verify_mode,
                          commit_meta, discard_build, entry_file_name,
                          file_identity, hash_file, new_entry_dir, read_json,
                          verify_entry_file, write_file)

#: ``meta.json``'s ``kind`` for a record cache (a tap cache has none)
RECORD_KIND = 'records'
RECORD_FORMAT_VERSION = 1
#: box kinds a field can declare: ``'xyxy'`` image boxes, in the
#: coordinates of the original image
BOX_KINDS = ('xyxy', )
DTYPES = {
    name: getattr(torch, name)
    for name in ('float16', 'bfloat16', 'float32', 'float64', 'uint8', 'int8',
                 'int16', 'int32', 'int64', 'bool')
}
REBUILD = 'rebuild the cache with RecordCacheWriter'
#: extra input files: name to path, or paths (named by themselves)
Inputs = Union[None, Mapping[str, str], Sequence[str]]


def _kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return 'bool'
    return 'float' if dtype.is_floating_point else 'int'


def normalize_schema(schema: Mapping[str, dict]) -> Dict[str, dict]:
    """Check a schema and write it as the metadata records it.

    Args:
        schema (dict): Field name to ``dict(dtype=..., shape=(...),
            box=None)``: the dtype (``torch.float16`` or ``'float16'``), the
            trailing shape of one record (``()`` for a scalar per record)
            and, for a box field, its kind (``'xyxy'``, shape ``(4,)``).

    Returns:
        dict: Field name to ``dict(dtype=str, shape=list, box=str|None)``.

    Raises:
        TypeError, ValueError: Naming the field at fault.
    """
    if not isinstance(schema, Mapping) or not schema:
        raise TypeError('a record schema maps field names to dict(dtype=..., '
                        f'shape=...), got {schema!r}')
    out = {}
    for field, spec in schema.items():
        if not (isinstance(field, str) and field.isidentifier()
                and not field.startswith('_')):
            raise ValueError('record schema: field names must be Python '
                             f'identifiers (they become attributes), got '
                             f'{field!r}')
        if not isinstance(spec, Mapping):
            raise TypeError(f'record schema: field {field!r} needs '
                            f'dict(dtype=..., shape=...), got {spec!r}')
        unknown = sorted(set(spec) - {'dtype', 'shape', 'box'})
        if unknown:
            raise ValueError(f'record schema: field {field!r} has unknown '
                             f'keys {unknown} (dtype, shape, box)')
        dtype = spec.get('dtype')
        name = str(dtype).replace('torch.', '') if dtype is not None else None
        if name not in DTYPES:
            raise ValueError(f'record schema: field {field!r} has dtype '
                             f'{dtype!r}; one of {sorted(DTYPES)}')
        shape = spec.get('shape', ())
        if isinstance(shape, int):
            shape = (shape, )
        if not (isinstance(shape, (list, tuple))
                and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f'record schema: field {field!r} has shape '
                             f'{shape!r}; the trailing shape of one record, '
                             'a tuple of sizes, e.g. (512,) or ()')
        box = spec.get('box')
        if box is not None:
            if box not in BOX_KINDS:
                raise ValueError(f'record schema: field {field!r} has box '
                                 f'kind {box!r}; one of {BOX_KINDS}')
            if list(shape) != [4] or _kind(DTYPES[name]) != 'float':
                raise ValueError(
                    f'record schema: box field {field!r} must be floating '
                    f'with shape (4,) ({box}), got {name} {tuple(shape)}')
        out[field] = dict(dtype=name, shape=list(shape), box=box)
    return out


def box_fields(schema: Mapping[str, dict]) -> List[str]:
    """The fields of a (normalized) schema that hold image boxes."""
    return [f for f, spec in schema.items() if spec.get('box')]


def _shape(spec: dict) -> str:
    return str(('N', *spec['shape']))


def _check_schema(root: str, expected: Dict[str, dict],
                  found: Dict[str, dict]) -> None:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise ValueError(
            f'record cache {root!r} has another schema: fields '
            f'{sorted(found)}, expected {sorted(expected)} (missing '
            f'{missing}, unexpected {extra}); {REBUILD}')
    for field, spec in expected.items():
        old = found[field]
        if old != spec:
            raise ValueError(
                f'record cache {root!r} has another schema: field '
                f'{field!r} is {old["dtype"]} {_shape(old)} (box '
                f'{old["box"]}), expected {spec["dtype"]} {_shape(spec)} '
                f'(box {spec["box"]}); {REBUILD}')


def record_key(value: Union[str, int], data_root: Optional[str] = None) -> str:
    """The stable key of a sample, independent of augmentation.

    Args:
        value (str | int): An image or point-cloud path, or a sample token
            (``sample_idx``, a nuScenes ``token``).
        data_root (str, optional): Paths are keyed relative to it (posix
            separators), so that a cache outlives a moved dataset; a path
            outside it is refused. Without it a path is keyed as given.

    Returns:
        str: The key.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if not isinstance(value, str) or not value:
        raise TypeError('a record key is a path or a sample token (str or '
                        f'int), got {value!r}')
    if data_root is None:
        return value.replace(os.sep, '/')
    rel = osp.relpath(osp.abspath(value), osp.abspath(data_root))
    if rel == '..' or rel.startswith('..' + os.sep) or osp.isabs(rel):
        raise ValueError(f'{value!r} is not under data_root {data_root!r}; '
                         'record keys are paths relative to data_root')
    return rel.replace(os.sep, '/')


def describe_inputs(extra_inputs: Inputs) -> Dict[str, dict]:
    """Record extra input files by name: path, size, modification time
    and blake2b hash of their bytes.

    Args:
        extra_inputs (dict | list, optional): Name to path, or paths
            (named by themselves).

    Returns:
        dict: Name to ``dict(path, bytes, mtime_ns, blake2b)``.
    """
    out = {}
    for name, path in _named_inputs(extra_inputs).items():
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'extra input {name!r}: {path} is not a file')
        size, mtime_ns = file_identity(path)
        out[name] = dict(
            path=osp.abspath(path),
            bytes=size,
            mtime_ns=mtime_ns,
            blake2b=hash_file(path))
    return out


def _named_inputs(extra_inputs) -> Dict[str, str]:
    if extra_inputs is None:
        return {}
    if isinstance(extra_inputs, str):
        extra_inputs = [extra_inputs]
    if not isinstance(extra_inputs, Mapping):
        extra_inputs = {str(p): p for p in extra_inputs}
    for name, path in extra_inputs.items():
        if not isinstance(path, str):
            raise TypeError(f'extra input {name!r} must be a path, got '
                            f'{path!r}')
    return dict(extra_inputs)


def _check_inputs(root: str, recorded: Dict[str, dict],
                  given: Optional[Dict[str, str]]) -> None:
    """Each recorded extra input file must have the bytes it had: ``given``
    names where the files are now (None: where they were)."""
    if given is not None:
        if sorted(given) != sorted(recorded):
            raise ValueError(
                f'record cache {root!r} was built from extra inputs '
                f'{sorted(recorded)}, this config gives {sorted(given)}; '
                f'{REBUILD}')
    for name, old in recorded.items():
        path = old['path'] if given is None else given[name]
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'record cache {root!r}: extra input {name!r}, {path}, is '
                'missing; pass extra_inputs with its current location')
        if file_identity(path) == [old['bytes'], old['mtime_ns']]:
            continue  # unchanged since it was hashed
        if hash_file(path) != old['blake2b']:
            raise ValueError(
                f'record cache {root!r}: extra input {name!r}, {path}, '
                f'changed since the cache was built ({old["bytes"]} bytes '
                f'then, {os.path.getsize(path)} now, other bytes); the '
                f'records were computed from the old file: {REBUILD}')


def _is_record_cache(meta: dict) -> bool:
    return meta.get('kind') == RECORD_KIND


def check_record_target(root: str) -> None:
    """Refuse to write a record cache into a folder that holds something
    else (a new or empty folder, or a record cache, are accepted)."""
    check_target(root, 'record cache', _is_record_cache)


def _as_tensor(value, key: str, field: str) -> Tensor:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Tensor):
        return value.detach().cpu()
    raise TypeError(f'record {key!r}, field {field!r}: expected a tensor or '
                    f'an array, got {type(value).__name__}')


def _cast(value: Tensor, dtype: torch.dtype, key: str, field: str) -> Tensor:
    """``value`` in the schema's dtype: floats to floats and integers to
    integers; a cast that changes values (overflow) is refused."""
    if value.dtype == dtype:
        return value
    if _kind(value.dtype) != _kind(dtype):
        raise TypeError(f'record {key!r}, field {field!r}: dtype '
                        f'{value.dtype}, the schema declares {dtype}')
    out = value.to(dtype)
    if _kind(dtype) == 'int':
        fits = torch.equal(out.to(value.dtype), value)
    else:  # values within range stay finite
        fits = bool((out.isfinite() | ~value.isfinite()).all())
    if not fits:
        raise ValueError(f'record {key!r}, field {field!r}: values do not '
                         f'fit {dtype} (from {value.dtype})')
    return out


def check_records(records: Mapping, schema: Dict[str, dict],
                  key: str) -> Dict[str, Tensor]:
    """One sample's records, checked against the schema and converted to
    its dtypes.

    Raises:
        TypeError, ValueError: Naming the key, the field and the shapes.
    """
    if not isinstance(records, Mapping):
        raise TypeError(f'record {key!r}: expected a dict of fields, got '
                        f'{type(records).__name__}')
    missing = sorted(set(schema) - set(records))
    extra = sorted(set(records) - set(schema))
    if missing or extra:
        raise ValueError(f'record {key!r} has fields {sorted(records)}, the '
                         f'schema {sorted(schema)} (missing {missing}, '
                         f'unexpected {extra})')
    out, counts = {}, {}
    for field, spec in schema.items():
        value = _as_tensor(records[field], key, field)
        if value.dim() < 1 or list(value.shape[1:]) != spec['shape']:
            raise ValueError(
                f'record {key!r}, field {field!r}: shape '
                f'{tuple(value.shape)}, the schema declares {_shape(spec)}')
        out[field] = _cast(value, DTYPES[spec['dtype']], key, field)
        counts[field] = value.shape[0]
    if len(set(counts.values())) > 1:
        shown = ', '.join(f'{f} {n}' for f, n in counts.items())
        raise ValueError(f'record {key!r}: the fields have different record '
                         f'counts (first dims): {shown}')
    for field in box_fields(schema):
        _check_boxes(out[field], key, field)
    return out


def _field_order(schema: Dict[str, dict]) -> List[str]:
    """The order of the fields in an entry file: widest dtype first, so
    that each field starts aligned to its dtype."""
    return sorted(schema, key=lambda f: -DTYPES[schema[f]['dtype']].itemsize)


def _layout(schema: Dict[str, dict], count: int):
    """Where each field lies in an entry file of ``count`` records: the
    fields' raw bytes one after another (:func:`_field_order`).

    Returns:
        tuple[dict, int]: Field to ``(offset, numel)``, and the file size.
    """
    spans, offset = {}, 0
    for field in _field_order(schema):
        numel = count * math.prod(schema[field]['shape'])
        spans[field] = (offset, numel)
        offset += numel * DTYPES[schema[field]['dtype']].itemsize
    return spans, offset


def encode_records(records: Dict[str, Tensor],
                   schema: Dict[str, dict]) -> bytes:
    """An entry's bytes: each field's values in C order and native byte
    order (recorded in the metadata), laid out by :func:`_layout`."""
    return b''.join(records[field].contiguous().reshape(-1).view(
        torch.uint8).numpy().tobytes() for field in _field_order(schema))


def _check_boxes(boxes: Tensor, key: str, field: str) -> None:
    bad = ~boxes.isfinite().all(1) | (boxes[:, 2] < boxes[:, 0]) | (
        boxes[:, 3] < boxes[:, 1])
    if bad.any():
        row = int(bad.nonzero()[0])
        raise ValueError(
            f'record {key!r}, field {field!r}: box {row} is '
            f'{boxes[row].tolist()}, not a finite (x1, y1, x2, y2) box with '
            f'x2 >= x1 and y2 >= y1 ({int(bad.sum())} such boxes)')


def map_boxes(boxes: Tensor, homography: np.ndarray) -> Tensor:
    """Boxes through a 3x3 homography: the bounding box of the projected
    corners (as mmdet's ``HorizontalBoxes.project_``), in ``boxes``' dtype.
    """
    # numpy: a dozen small ops, each far cheaper than torch's dispatch
    m = np.asarray(homography, dtype=np.float64)
    b = boxes.to(torch.float64).numpy().reshape(-1, 4)
    xs, ys = b[:, [0, 2, 0, 2]], b[:, [1, 1, 3, 3]]  # the 4 corners
    scale = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    px = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / scale
    py = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / scale
    out = np.stack([px.min(1), py.min(1), px.max(1), py.max(1)], 1)
    return torch.from_numpy(out).reshape(boxes.shape).to(boxes.dtype)


def transform_records(records: Dict[str, Tensor],
                      boxes: Sequence[str],
                      homography: Optional[np.ndarray],
                      img_shape: Optional[Sequence[int]],
                      clip: bool = True,
                      drop_outside: bool = True) -> Dict[str, Tensor]:
    """Move box fields from original-image coordinates into the augmented
    image, keeping the other fields aligned.

    Follows mmdet's geometric transforms: boxes are projected through
    ``homography`` (Resize, RandomFlip, RandomCrop, ... compose it into
    ``results['homography_matrix']``), clipped to ``img_shape`` and the
    records whose boxes lie outside the image are dropped from every field
    (as RandomCrop drops ground truth).

    Args:
        records (dict): Field name to tensor with N rows.
        boxes (list[str]): The box fields to move.
        homography (np.ndarray, optional): 3x3; None leaves boxes in place.
        img_shape (tuple, optional): ``(h, w)`` of the augmented image;
            None neither clips nor drops.
        clip (bool): Clip boxes to the image. Defaults to True.
        drop_outside (bool): Drop records whose boxes (any box field) are
            outside the image. Defaults to True.

    Returns:
        dict: The records, moved.
    """
    records = dict(records)
    keep = None
    for field in boxes:
        value = records[field]
        if homography is not None:
            value = map_boxes(value, homography)
        if img_shape is not None:
            h, w = img_shape[:2]
            if clip:
                value = torch.minimum(
                    value.clamp(min=0), value.new_tensor([w, h, w, h]))
            # partly inside, as mmdet's HorizontalBoxes.is_inside
            x1, y1, x2, y2 = value.unbind(1)
            inside = (x1 < w) & (y1 < h) & (x2 > 0) & (y2 > 0)
            keep = inside if keep is None else keep & inside
        records[field] = value
    if drop_outside and keep is not None and not bool(keep.all()):
        records = {f: v[keep] for f, v in records.items()}
    return records


def resolve_homography(homography, flip: bool,
                       img_shape: Optional[Sequence[int]],
                       load_shape: Optional[Sequence[int]],
                       where: str) -> Optional[np.ndarray]:
    """The homography from the original image to the augmented one; None
    for an image the pipeline did not move.

    mmdet's Resize, RandomFlip, RandomCrop and RandomAffine record
    ``homography_matrix``; mmcv's and mmseg's do not, and boxes cannot
    follow them: a flipped or reshaped image without a homography is
    refused rather than left with boxes in the wrong place.
    """
    if homography is not None:
        matrix = np.asarray(homography, dtype=np.float64)
        if matrix.shape != (3, 3):
            raise ValueError(f'{where}: homography_matrix has shape '
                             f'{matrix.shape}, expected (3, 3)')
        return matrix
    moved = []
    if flip:
        moved.append('flipped')
    if img_shape is not None and load_shape is not None and tuple(
            img_shape[:2]) != tuple(load_shape[:2]):
        moved.append(f'reshaped from {tuple(load_shape[:2])} to '
                     f'{tuple(img_shape[:2])}')
    if moved:
        raise ValueError(
            f'{where}: the image was {" and ".join(moved)} but no '
            'homography_matrix was recorded, so the cached boxes cannot '
            'follow it; use mmdet\'s Resize/RandomFlip/RandomCrop (mmcv\'s '
            'and mmseg\'s do not record it; RandomResize outside mmdet\'s '
            "scope builds mmcv's Resize: give it resize_type='mmdet.Resize')"
            ', and move boxes before Pad')
    return None


class RecordCacheWriter:
    """Write a record cache: one file per sample in a new entry folder, the
    metadata swapped in by :meth:`close` (the previous cache in ``root``
    stays complete and in use until then; an interrupted build leaves it).

    Use as a context manager, which closes on success and discards the
    entries on an error::

        with RecordCacheWriter(root, schema, fingerprint,
                               extra_inputs=dict(proposals=path)) as w:
            w.add(record_key(img_path, data_root), dict(boxes=..., ...))

    Args:
        root (str): The cache folder: new, empty or a record cache.
        schema (dict): See :func:`normalize_schema`.
        fingerprint (str): What determines the records (e.g. the teacher's
            config and checkpoint hash); :class:`RecordCache` can require it.
        extra_inputs (dict | list, optional): Files the records were
            computed from (name to path); their bytes are hashed now and
            checked when the cache opens.
    """

    def __init__(self,
                 root: str,
                 schema: Mapping[str, dict],
                 fingerprint: str = '',
                 extra_inputs: Inputs = None) -> None:
        if not isinstance(fingerprint, str):
            raise TypeError(f'fingerprint must be a str, got {fingerprint!r}')
        check_record_target(root)
        self.root = root
        self.schema = normalize_schema(schema)
        self.fingerprint = fingerprint
        self.extra_inputs = describe_inputs(extra_inputs)
        self.entry_dir = new_entry_dir()
        self.index: Dict[str, dict] = {}
        self.nbytes = 0
        self.records = 0
        self.closed = False
        os.makedirs(osp.join(root, self.entry_dir))

    def add(self, key: str, records: Mapping) -> None:
        """Write one sample's records.

        Args:
            key (str): Its key, e.g. ``record_key(img_path, data_root)``.
            records (dict): Field name to tensor (or array) with the
                sample's N records as first dim; cast to the schema's dtype
                (floats to floats, integers to integers).
        """
        if self.closed:
            raise RuntimeError(f'record cache {self.root!r} is closed')
        if not isinstance(key, str) or not key:
            raise TypeError(f'a record key is a non-empty str, got {key!r}')
        if key in self.index:
            raise ValueError(
                f'record cache {self.root!r}: key {key!r} was added twice '
                '(two samples with one key: key paths relative to data_root, '
                'not by file name)')
        entry = check_records(records, self.schema, key)
        data = encode_records(entry, self.schema)
        record = dict(file=entry_file_name(len(self.index), 'bin'))
        record.update(
            write_file(
                osp.join(self.root, self.entry_dir, record['file']), data))
        record['count'] = int(next(iter(entry.values())).shape[0])
        self.index[key] = record
        self.records += record['count']
        self.nbytes += len(data)

    def close(self) -> None:
        """Write the metadata, which makes this build the cache."""
        if self.closed:
            return
        for name, old in self.extra_inputs.items():
            try:
                identity = file_identity(old['path'])
            except FileNotFoundError:
                identity = None
            if identity != [old['bytes'], old['mtime_ns']]:
                self.discard()
                raise ValueError(
                    f'record cache {self.root!r}: extra input {name!r}, '
                    f'{old["path"]}, changed while the cache was written; '
                    'the build was discarded')
        meta = dict(
            kind=RECORD_KIND,
            version=RECORD_FORMAT_VERSION,
            fingerprint=self.fingerprint,
            schema=self.schema,
            byteorder=sys.byteorder,
            extra_inputs=self.extra_inputs,
            entries=len(self.index),
            records=self.records,
            nbytes=self.nbytes,
            entry_dir=self.entry_dir,
            index=self.index)
        commit_meta(self.root, meta, self.entry_dir)
        self.closed = True

    def discard(self) -> None:
        """Remove the entries of this build (the cache in ``root`` stays)."""
        discard_build(self.root, self.entry_dir)
        self.closed = True

    def __enter__(self) -> 'RecordCacheWriter':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


class RecordCache:
    """A record cache, opened for reading; only the index is held in
    memory, an entry is read when it is looked up.

    Args:
        root (str): The cache folder.
        schema (dict, optional): The schema the reader expects; a cache of
            another schema is refused, naming the field.
        fingerprint (str, optional): Required fingerprint.
        extra_inputs (dict | list, optional): Where the extra input files
            are now, by name (None: where they were at build time); each
            must have the bytes it had.
        verify (str): ``'size'`` stats each entry file when the cache
            opens; ``'hash'`` also hashes its bytes. Defaults to ``'size'``.

    Raises:
        FileNotFoundError: Without metadata, or naming a missing entry or
            extra input file.
        ValueError: For another schema, fingerprint or extra input file, a
            truncated or rewritten entry, naming them.
    """

    def __init__(self,
                 root: str,
                 schema: Optional[Mapping[str, dict]] = None,
                 fingerprint: Optional[str] = None,
                 extra_inputs: Inputs = None,
                 verify: str = 'size') -> None:
        check_verify_mode(verify)
        self.root = root
        meta = self._read_meta(root)
        self.schema = meta['schema']
        if schema is not None:
            _check_schema(root, normalize_schema(schema), self.schema)
        if meta.get('byteorder') != sys.byteorder:
            raise ValueError(
                f'record cache {root!r} was written on a '
                f'{meta.get("byteorder")}-endian machine, this one is '
                f'{sys.byteorder}-endian; {REBUILD}')
        self.fingerprint = meta['fingerprint']
        if fingerprint is not None and fingerprint != self.fingerprint:
            raise ValueError(
                f'record cache {root!r} was built with fingerprint '
                f'{self.fingerprint[:12]!r}, this config has '
                f'{fingerprint[:12]!r} (another teacher or settings); '
                f'{REBUILD}')
        self.extra_inputs = meta['extra_inputs']
        _check_inputs(
            root, self.extra_inputs,
            None if extra_inputs is None else _named_inputs(extra_inputs))
        self.index = meta['index']
        self.entry_dir = meta['entry_dir']
        self.nbytes = meta['nbytes']
        self.records = meta['records']
        if meta['entries'] != len(self.index):
            raise ValueError(
                f'record cache {root!r} records {meta["entries"]} entries but '
                f'its index lists {len(self.index)}; {REBUILD}')
        for key, record in self.index.items():
            verify_entry_file(
                self._path(record), record, verify,
                f'record cache {root!r}: the entry of {key!r}', REBUILD)

    @staticmethod
    def _read_meta(root: str) -> dict:
        meta_file = osp.join(root, META_FILE)
        if not osp.isfile(meta_file):
            raise FileNotFoundError(
                f'record cache {root!r} has no {META_FILE}; write it with '
                'RecordCacheWriter')
        meta = read_json(meta_file)
        if meta is None or not _is_record_cache(meta):
            raise ValueError(
                f'{root!r} is not a record cache (its {META_FILE} has kind '
                f'{(meta or {}).get("kind")!r}, a record cache '
                f'{RECORD_KIND!r}; a teacher tap cache of '
                'tools/cache_teacher.py is read by model.teacher_cache)')
        if meta.get('version') != RECORD_FORMAT_VERSION:
            raise ValueError(f'record cache {root!r} has format version '
                             f'{meta.get("version")}, this mmkd reads '
                             f'{RECORD_FORMAT_VERSION}; {REBUILD}')
        return meta

    def _path(self, record: dict) -> str:
        return osp.join(self.root, self.entry_dir, record['file'])

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def keys(self) -> Iterable[str]:
        return self.index.keys()

    @property
    def box_fields(self) -> List[str]:
        return box_fields(self.schema)

    def check_fields(self, fields: Optional[Sequence[str]]) -> List[str]:
        """``fields`` (None: all), each a field of the schema."""
        if fields is None:
            return list(self.schema)
        if isinstance(fields, str):
            fields = [fields]
        unknown = [f for f in fields if f not in self.schema]
        if unknown:
            raise KeyError(f'record cache {self.root!r} has no field(s) '
                           f'{unknown}; its fields: {sorted(self.schema)}')
        return list(fields)

    def get(self,
            key: str,
            fields: Optional[Sequence[str]] = None) -> Dict[str, Tensor]:
        """One sample's records by key (its own, or another sample's, e.g.
        the previous frame of a sequence).

        Raises:
            KeyError: Naming the key and the cache.
        """
        fields = self.check_fields(fields)
        record = self.index.get(key)
        if record is None:
            example = next(iter(self.index), None)
            raise KeyError(
                f'record cache {self.root!r} has no entry {key!r} '
                f'({len(self.index)} entries, keys like {example!r}): it was '
                'built for other data, or the key is not relative to the '
                "same data_root")
        path = self._path(record)
        count = record['count']
        spans, size = _layout(self.schema, count)
        whole = len(fields) == len(self.schema)
        out = {}
        with open(path, 'rb') as f:
            if whole:  # one read; the fields are views of its buffer
                buffer = self._read(f, 0, size, key, path)
            for field in fields:
                spec = self.schema[field]
                dtype = DTYPES[spec['dtype']]
                offset, numel = spans[field]
                if not whole:  # only the fields asked for are read
                    buffer = self._read(f, offset, numel * dtype.itemsize, key,
                                        path)
                    offset = 0
                if numel:
                    value = torch.frombuffer(
                        buffer, dtype=dtype, count=numel, offset=offset)
                else:
                    value = torch.empty(0, dtype=dtype)
                out[field] = value.reshape(count, *spec['shape'])
        return out

    def _read(self, f, offset: int, size: int, key: str,
              path: str) -> bytearray:
        buffer = bytearray(size)
        f.seek(offset)
        if f.readinto(buffer) != size:
            raise ValueError(
                f'record cache {self.root!r}: entry {key!r}, {path}, is '
                'shorter than its records (truncated since the cache '
                f'opened); {REBUILD}')
        return buffer

    def lookup(self,
               keys: Sequence[str],
               fields: Optional[Sequence[str]] = None) -> List[dict]:
        """The records of several samples by key, in order: a list of
        field-to-tensor dicts (:meth:`get`)."""
        return [self.get(key, fields) for key in keys]

    def records_for(self,
                    data_samples: Sequence,
                    key: str = 'img_path',
                    data_root: Optional[str] = None,
                    fields: Optional[Sequence[str]] = None,
                    clip: bool = True,
                    drop_outside: bool = True) -> List[InstanceData]:
        """The records of a batch's data samples, for the model side.

        Box fields are moved into each sample's augmented image with the
        ``homography_matrix`` of its metainfo (add it to the packing's
        ``meta_keys``); a sample that was flipped or resized without one
        is refused. See :func:`transform_records`.

        Args:
            data_samples (list): The batch's data samples.
            key (str): The metainfo entry keying a sample, e.g.
                ``'img_path'``, ``'sample_idx'``.
            data_root (str, optional): See :func:`record_key`.
            fields (list[str], optional): Fields to read (None: all).

        Returns:
            list[InstanceData]: One per sample, its records as fields.
        """
        fields = self.check_fields(fields)
        out = []
        for sample in data_samples:
            meta = sample.metainfo
            if key not in meta:
                raise KeyError(
                    f'record cache {self.root!r}: a data sample has no '
                    f'{key!r} in its metainfo (keys: {sorted(meta)})')
            name = record_key(meta[key], data_root)
            records = self.get(name, fields)
            boxes = [f for f in self.box_fields if f in fields]
            if boxes:
                homography = resolve_homography(
                    meta.get('homography_matrix'), bool(meta.get('flip')),
                    meta.get('img_shape'), meta.get('ori_shape'),
                    f'record cache {self.root!r}, sample {name!r}')
                records = transform_records(records, boxes, homography,
                                            meta.get('img_shape'), clip,
                                            drop_outside)
            out.append(InstanceData(**records))
        return out

    def pack(self,
             data_samples: Sequence,
             name: str = 'cached_records',
             **kwargs) -> None:
        """Set ``data_sample.<name>`` to its records (:meth:`records_for`,
        same keyword arguments), so that a loss gets them through the data
        samples."""
        for sample, records in zip(data_samples,
                                   self.records_for(data_samples, **kwargs)):
            sample.set_field(records, name)
