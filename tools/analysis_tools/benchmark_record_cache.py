# Copyright (c) mmkd contributors. All rights reserved.
"""Size and read time of a record cache entry (:mod:`mmkd.utils.record_cache`).

Writes ``--samples`` entries of ``--records`` records each (xyxy boxes
float32, ``--dim``-d embeddings float16, scores float32, labels int64: what
OADP-style methods cache per image) into a temporary folder, then reads
every entry ``--repeats`` times and prints the median time per entry of:

- ``get``: :meth:`RecordCache.get` (``torch.load`` of one file), the page
  cache warm (the entries were just written; a cold read adds the disk);
- ``pipeline``: ``LoadCachedRecords`` + ``PackCachedRecords`` around an
  image-free ``PackDetInputs`` stand-in, boxes through a resize + flip
  homography, clipped and filtered;
- ``open``: :class:`RecordCache` with ``verify='size'`` (one ``stat`` per
  entry), per entry.

Example:
    python tools/analysis_tools/benchmark_record_cache.py --samples 200
"""
import argparse
import os
import os.path as osp
import shutil
import statistics
import tempfile
import time

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from mmkd.datasets.transforms import LoadCachedRecords, PackCachedRecords
from mmkd.utils.record_cache import RecordCache, RecordCacheWriter


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', type=int, default=200)
    parser.add_argument('--records', type=int, default=300)
    parser.add_argument('--dim', type=int, default=512)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--out', help='cache folder (default: a temporary one)')
    return parser.parse_args(argv)


class _Pack(BaseTransform):
    """The part of PackDetInputs the records need: a data sample."""

    def transform(self, results):
        return dict(
            data_samples=BaseDataElement(
                metainfo=dict(img_path=results['img_path'])))


def _entry(n, dim, gen):
    xy = torch.rand(n, 2, generator=gen) * 600
    wh = torch.rand(n, 2, generator=gen) * 200 + 1
    return dict(
        boxes=torch.cat([xy, xy + wh], 1),
        embeddings=torch.randn(n, dim, generator=gen),
        scores=torch.rand(n, generator=gen),
        labels=torch.randint(0, 80, (n, ), generator=gen))


def _median_ms(times):
    return 1000 * statistics.median(times)


def run(args):
    torch.set_num_threads(1)
    out = args.out or tempfile.mkdtemp(prefix='record_cache_')
    schema = dict(
        boxes=dict(dtype='float32', shape=(4, ), box='xyxy'),
        embeddings=dict(dtype='float16', shape=(args.dim, )),
        scores=dict(dtype='float32', shape=()),
        labels=dict(dtype='int64', shape=()))
    gen = torch.Generator().manual_seed(0)
    keys = [f'img/{i:06d}.jpg' for i in range(args.samples)]
    write = []
    with RecordCacheWriter(out, schema, 'benchmark') as writer:
        for key in keys:
            records = _entry(args.records, args.dim, gen)
            start = time.perf_counter()
            writer.add(key, records)
            write.append(time.perf_counter() - start)
    opens = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        cache = RecordCache(out, schema=schema, fingerprint='benchmark')
        opens.append((time.perf_counter() - start) / len(keys))
    entry_dir = osp.join(out, cache.entry_dir)
    sizes = [
        os.path.getsize(osp.join(entry_dir, r['file']))
        for r in cache.index.values()
    ]
    get = []
    for _ in range(args.repeats):
        for key in keys:
            start = time.perf_counter()
            cache.get(key)
            get.append(time.perf_counter() - start)
    load = LoadCachedRecords(cache, data_root='/data')
    pack = PackCachedRecords(_Pack())
    # a 0.5 resize, then a horizontal flip of the 400-wide image
    homography = np.array([[-.5, 0, 400], [0, .5, 0], [0, 0, 1]], np.float32)
    pipeline = []
    for _ in range(args.repeats):
        for key in keys:
            results = dict(
                img_path=f'/data/{key}',
                ori_shape=(600, 800),
                img_shape=(300, 400),
                flip=True,
                homography_matrix=homography)
            start = time.perf_counter()
            pack(load(results))
            pipeline.append(time.perf_counter() - start)
    tensors = cache.nbytes / len(keys)
    print(f'record cache {out}: {len(keys)} entries x {args.records} '
          f'records (boxes, {args.dim}-d float16 embeddings, scores, '
          f'labels), {args.repeats} reads each\n')
    print('| records | tensors / entry | file / entry | write | open | get '
          '| load + move boxes + pack |')
    print('|---|---|---|---|---|---|---|')
    print(f'| {args.records} | {tensors / 1024:.1f} KiB | '
          f'{statistics.median(sizes) / 1024:.1f} KiB | '
          f'{_median_ms(write):.2f} ms | {_median_ms(opens) * 1000:.1f} us '
          f'| {_median_ms(get):.3f} ms | {_median_ms(pipeline):.3f} ms |')
    if args.out is None:
        shutil.rmtree(out)
    return dict(write=write, get=get, pipeline=pipeline, sizes=sizes)


def main(argv=None):
    return run(parse_args(argv))


if __name__ == '__main__':
    main()
