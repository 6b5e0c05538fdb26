# Copyright (c) mmkd contributors. All rights reserved.
"""tools/analysis_tools/benchmark_record_cache.py on a tiny cache: an entry
file holds its records' bytes only, and every read is timed."""
import importlib.util
import os.path as osp

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def test_entry_size_and_reads_are_measured(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'benchmark_record_cache',
        osp.join(ROOT, 'tools', 'analysis_tools',
                 'benchmark_record_cache.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tool.main([
        '--samples', '3', '--records', '5', '--dim', '4', '--repeats', '2',
        '--out', str(tmp_path / 'cache')
    ])
    # 5 x (4 float32 box coordinates + 4 float16 + float32 + int64)
    assert out['sizes'] == [5 * (16 + 8 + 4 + 8)] * 3
    assert len(out['get']) == len(out['pipeline']) == 6
    assert '| 5 | 0.2 KiB | 0.2 KiB |' in capsys.readouterr().out
