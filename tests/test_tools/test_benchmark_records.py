# Copyright (c) mmkd contributors. All rights reserved.
"""``benchmark.py --records``: a benchmark finished on another machine from
the records of its runs, with fake tools/train.py and tools/test.py runs;
records only count when every input matches."""
import hashlib
import json
import os
import os.path as osp
import re
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import benchmark  # noqa: E402
import benchmark_records  # noqa: E402
import tool_runs  # noqa: E402
from benchmark_fakes import FakeTools, write_spec  # noqa: E402

# a teacher once with a test-only row on other infos, a gated student, two
# students distilled from the teacher
SPEC = '''
SPEC = BenchmarkSpec(
    rows=[
        Row('teacher', {config!r}, per_seed=False),
        Row('teacher_other', {config!r}, options=['infos=other'],
            test_only=True, checkpoint='teacher'),
        Row('student', {config!r}, gate=True),
        Row('kd', {config!r}, teacher='teacher', baseline='student'),
        Row('kd2', {config!r}, teacher='teacher', baseline='student'),
    ],
    seeds=[0, 1],
    metrics=[Metric('mIoU')],
    splits=dict(
        val=Split(prepare=[('{tmp}/data.txt', ['python', 'make.py'])]),
        heldout=Split(options=['held=1'])),
    gate=Gate('mIoU', trivial=10.0, margin=5.0))
'''
VAL = dict(teacher=70, student=20, kd=25, kd2=30)


def score(run, split):
    """Per row; 1 more per seed; 10 less held out; teacher_other 5 less."""
    *seed, row = run.split(os.sep)
    value = VAL.get(row, VAL['teacher'] - 5) + (int(seed[0][4:])
                                                if seed else 0)
    return value - (10 if split == 'heldout' else 0)


class Machine:
    """A machine: its work dir, its fake tools and how its trainings come
    out (``salt``: a non-deterministic training gives other weights)."""

    def __init__(self, tmp_path, name, monkeypatch, salt=''):
        self.work_dir = str(tmp_path / name)
        self.tools = FakeTools(self.work_dir, score)
        self.salt = salt
        monkeypatch.setattr(tool_runs, 'run', self.tools)
        monkeypatch.setattr(benchmark_records, 'digest_of', self.digest)

    def digest(self, ckpt):
        with open(ckpt, 'rb') as f:
            return hashlib.sha256(f.read() + self.salt.encode()).hexdigest()

    def bench(self, spec, records, *args):
        return benchmark.main(
            [spec, '--work-dir', self.work_dir, '--records', records, *args])


def rows_results(result):
    return {name: row['results'] for name, row in result['rows'].items()}


@pytest.fixture
def first(tmp_path, monkeypatch):
    """The spec and its records dir after a full run on a first machine,
    with that run's result."""
    spec = write_spec(tmp_path, SPEC)
    (tmp_path / 'data.txt').write_text('scenes')  # what make.py made
    records = str(tmp_path / 'records')
    with monkeypatch.context() as m:
        m.setenv('OMP_NUM_THREADS', '2')
        result = Machine(tmp_path, 'first', monkeypatch).bench(spec, records)
    return spec, records, result


def test_every_finished_run_is_recorded(tmp_path, first):
    spec, records, result = first
    found = sorted(
        osp.relpath(osp.join(d, f), records)
        for d, _, files in os.walk(records) for f in files)
    assert found == ['seed0/kd.json', 'seed0/kd2.json', 'seed0/student.json',
                     'seed1/kd.json', 'seed1/kd2.json', 'seed1/student.json',
                     'teacher.json', 'teacher_other.json']
    with open(osp.join(records, 'seed1', 'kd.json')) as f:
        record = json.load(f)
    assert record['train']['seed'] == 1
    # the teacher's path (machine-specific) is not an input: its weights are
    assert record['train']['options'] == []
    with open(osp.join(records, 'teacher.json')) as f:
        teacher = json.load(f)
    assert record['train']['teacher_sha256'] == teacher['weights_sha256']
    assert record['tests']['val']['metrics']['mIoU'] == 26
    assert record['tests']['heldout']['metrics']['mIoU'] == 16
    assert record['tests']['heldout']['inputs']['options'] == ['held=1']
    assert record['curves']['mIoU'] == {'2': 13.0, '4': 26.0}
    assert record['data'] == {
        str(tmp_path / 'data.txt'):
        hashlib.sha256(b'scenes').hexdigest()
    }
    assert {'date', 'commit'} <= set(record['made'])
    assert record['made']['omp_num_threads'] == ['2']
    # the CPU and torch: kernels (AVX-512 or not) change float sums
    machine = record['made']['machine']
    assert machine['torch'] == torch.__version__
    assert set(machine['isa']) <= {'avx2', 'avx512f', 'avx512_bf16',
                                   'amx_tile'}
    assert machine['cpu'] and '/' in machine['cpu_family_model']
    with open(osp.join(records, 'teacher_other.json')) as f:
        other = json.load(f)
    assert other['train'] == dict(
        test_only_of='teacher', weights_sha256=teacher['weights_sha256'])
    assert other['tests']['val']['inputs']['options'] == ['infos=other']


def test_another_machine_finishes_from_the_records(tmp_path, monkeypatch,
                                                   first):
    spec, records, result = first
    second = Machine(tmp_path, 'second', monkeypatch)
    again = second.bench(spec, records)
    assert second.tools.calls == []  # nothing trained or tested
    assert rows_results(again) == rows_results(result)
    assert again['rows']['kd']['records']['1']['path'] == osp.relpath(
        osp.join(records, 'seed1', 'kd.json'), ROOT)
    with open(osp.join(second.work_dir, 'benchmark.md')) as f:
        md = f.read()
    assert '- 8 runs were not trained by this command' in md
    # the curves come from the records too
    assert osp.getsize(osp.join(second.work_dir, 'curves.png')) > 10_000


def test_a_missing_record_trains_its_run_and_the_teacher_it_needs(
        tmp_path, monkeypatch, first):
    spec, records, result = first
    os.remove(osp.join(records, 'seed1', 'kd.json'))
    second = Machine(tmp_path, 'second', monkeypatch)
    again = second.bench(spec, records)
    assert second.tools.trained() == [('teacher', 0),
                                      (osp.join('seed1', 'kd'), 1)]
    # the teacher, trained again to reproduce its record, with its threads
    assert second.tools.envs == [dict(OMP_NUM_THREADS='2'), None]
    # the retrained teacher has the recorded weights: its test-only row and
    # the other students stay recorded
    assert sorted(again['rows']['kd2']['records']) == ['0', '1']
    assert list(again['rows']['teacher_other']['records']) == ['once']
    assert rows_results(again) == rows_results(result)
    assert osp.isfile(osp.join(records, 'seed1', 'kd.json'))


def test_a_teacher_trained_again_with_other_weights_retrains_its_students(
        tmp_path, monkeypatch, first):
    spec, records, _ = first
    os.remove(osp.join(records, 'seed1', 'kd.json'))
    second = Machine(tmp_path, 'second', monkeypatch, salt='other weights')
    again = second.bench(spec, records)
    assert second.tools.trained() == [('teacher', 0)] + [
        (osp.join(f'seed{s}', row), s) for s in (0, 1)
        for row in ('kd', 'kd2')
    ]
    tested = [c[1] for c in second.tools.calls if c[0] == 'test']
    assert 'teacher_other' in tested
    assert again['rows']['student']['records'].keys() == {'0', '1'}
    assert again['rows']['kd']['records'] == {}
    with open(osp.join(records, 'teacher.json')) as f:
        teacher = json.load(f)
    with open(osp.join(records, 'seed0', 'kd2.json')) as f:
        assert json.load(f)['train']['teacher_sha256'] == \
            teacher['weights_sha256']


def test_a_missing_test_only_record_tests_the_retrained_teacher(
        tmp_path, monkeypatch, first):
    spec, records, _ = first
    os.remove(osp.join(records, 'teacher_other.json'))
    second = Machine(tmp_path, 'second', monkeypatch)
    second.bench(spec, records)
    assert second.tools.trained() == [('teacher', 0)]
    assert sorted(c[1] for c in second.tools.calls if c[0] == 'test') == [
        'teacher', osp.join('teacher', 'heldout'), 'teacher_other',
        osp.join('teacher_other', 'heldout')
    ]


@pytest.mark.parametrize('change, why', [
    ('config', r'its training inputs differ \(config_sha256\)'),
    ('cfg-options', r'its training inputs differ \(options\)'),
    ('split', r"its test on 'heldout' had other inputs"),
    ('data', r'.*data.txt is not the file it was made with \(made on .*, '
     r'torch .*, here .*\)'),
])
def test_records_of_other_inputs_are_not_used(tmp_path, monkeypatch, first,
                                              change, why, capsys):
    spec, records, _ = first
    second = Machine(tmp_path, 'second', monkeypatch)
    args = []
    if change == 'config':
        config = tmp_path / 'tiny.py'
        config.write_text(config.read_text() + 'lr = 0.5\n')
    elif change == 'cfg-options':
        args = ['--cfg-options', 'lr=0.5']
    elif change == 'data':  # the prepare step made other data here
        (tmp_path / 'data.txt').write_text('other scenes')
    else:
        with open(spec) as f:
            text = f.read()
        with open(spec, 'w') as f:
            f.write(text.replace("options=['held=1']", "options=['held=2']"))
    capsys.readouterr()
    second.bench(spec, records, *args)
    # every run: the teacher, 2 seeds x 3 students
    assert len(second.tools.trained()) == 7
    # each record not used says why (the students' records: their
    # teacher, trained again, counts as new once it is not taken over)
    out = capsys.readouterr().out
    assert re.search(r'record .*teacher.json not used: ' + why, out), out


def test_dry_run_names_the_recorded_runs(tmp_path, monkeypatch, first,
                                         capsys):
    spec, records, _ = first
    os.remove(osp.join(records, 'seed0', 'student.json'))
    second = Machine(tmp_path, 'second', monkeypatch)
    capsys.readouterr()
    second.bench(spec, records, '--dry-run')
    out = capsys.readouterr().out
    assert second.tools.calls == []
    assert 'train student (seed 0)' in out
    assert f'record kd (seed 0): {osp.join(records, "seed0", "kd.json")}' \
        in out
    assert 'record teacher (seed 0)' in out


def test_without_records_nothing_is_recorded_or_read(tmp_path, monkeypatch,
                                                     first):
    spec, records, _ = first
    second = Machine(tmp_path, 'second', monkeypatch)
    benchmark.main([spec, '--work-dir', second.work_dir])
    assert len(second.tools.trained()) == 7


# a teacher side (teacher.txt) made by a prepare step, which may differ
# between machines, and a teacher trained per seed
OWN_DATA_SPEC = '''
SPEC = BenchmarkSpec(
    rows=[
        Row('teacher', {config!r}),
        Row('student', {config!r}, gate=True),
        Row('kd', {config!r}, teacher='teacher', baseline='student'),
    ],
    seeds=[0, 1],
    metrics=[Metric('mIoU')],
    splits=dict(val=Split(prepare=[
        ('{tmp}/data.txt', ['python', 'make.py']),
        ('{tmp}/teacher.txt', ['python', 'make_teacher.py'])])),
    gate=Gate('mIoU', trivial=10.0, margin=5.0),
    per_seed_data=['{tmp}/teacher.txt'])
'''


@pytest.fixture
def own_data(tmp_path, monkeypatch):
    """The per_seed_data spec and its records after a first machine ran
    it; the second machine's teacher side came out other."""
    spec = write_spec(tmp_path, OWN_DATA_SPEC)
    (tmp_path / 'data.txt').write_text('scenes')
    (tmp_path / 'teacher.txt').write_text('first teacher side')
    records = str(tmp_path / 'records')
    with monkeypatch.context():
        first = Machine(tmp_path, 'first', monkeypatch)
        result = first.bench(spec, records)
    (tmp_path / 'teacher.txt').write_text('second teacher side')
    return spec, records, result


def _set_data(records, seed, row, path, digest):
    record_file = osp.join(records, f'seed{seed}', f'{row}.json')
    with open(record_file) as f:
        record = json.load(f)
    record['data'][path] = digest
    with open(record_file, 'w') as f:
        json.dump(record, f)


def test_a_seed_recorded_whole_counts_with_its_own_teacher_side(
        tmp_path, monkeypatch, own_data, capsys):
    spec, records, result = own_data
    second = Machine(tmp_path, 'second', monkeypatch)
    capsys.readouterr()
    again = second.bench(spec, records)
    assert second.tools.calls == []
    assert rows_results(again) == rows_results(result)
    out = capsys.readouterr().out
    teacher_side = str(tmp_path / 'teacher.txt')
    assert re.search(r'seed 1: its 3 records count together, made with '
                     rf'their own {re.escape(teacher_side)} \(on .*torch ',
                     out), out
    assert again['rows']['kd']['records']['1']['own_data'] == {
        teacher_side: hashlib.sha256(b'first teacher side').hexdigest()
    }
    with open(osp.join(second.work_dir, 'benchmark.md')) as f:
        md = f.read()
    assert f"- seed 0's runs were made with their own `{teacher_side}`" in md
    assert "- seed 1's runs" in md


def test_a_seed_recorded_in_part_is_trained_whole_on_this_teacher_side(
        tmp_path, monkeypatch, own_data, capsys):
    spec, records, _ = own_data
    os.remove(osp.join(records, 'seed1', 'kd.json'))
    second = Machine(tmp_path, 'second', monkeypatch)
    capsys.readouterr()
    again = second.bench(spec, records)
    # seed 0 from its records; seed 1's teacher and student are not paired
    # with a kd made on this teacher side: all three trained here
    assert second.tools.trained() == [
        (osp.join('seed1', row), 1) for row in ('teacher', 'student', 'kd')
    ]
    assert sorted(again['rows']['kd']['records']) == ['0']
    out = capsys.readouterr().out
    assert 'seed 0: its 3 records count together' in out
    assert re.search(r'record .*seed1.student.json not used: .*teacher.txt '
                     'is not the file it was made with', out), out
    with open(osp.join(records, 'seed1', 'student.json')) as f:
        assert json.load(f)['data'][str(tmp_path / 'teacher.txt')] == \
            hashlib.sha256(b'second teacher side').hexdigest()


@pytest.mark.parametrize('change', ['shared data', 'two teacher sides'])
def test_a_seed_counts_whole_only_on_one_teacher_side_and_the_same_data(
        tmp_path, monkeypatch, own_data, change):
    spec, records, _ = own_data
    if change == 'shared data':  # not per_seed_data: must be this machine's
        (tmp_path / 'data.txt').write_text('other scenes')
    else:  # seed 1's kd made on a third teacher side
        _set_data(records, 1, 'kd', str(tmp_path / 'teacher.txt'), 'third')
    second = Machine(tmp_path, 'second', monkeypatch)
    second.bench(spec, records)
    trained = sorted(second.tools.trained())
    seeds = (0, 1) if change == 'shared data' else (1, )
    assert trained == sorted((osp.join(f'seed{s}', row), s) for s in seeds
                             for row in ('teacher', 'student', 'kd'))


def test_per_seed_data_names_prepare_paths(tmp_path):
    spec = write_spec(
        tmp_path,
        OWN_DATA_SPEC.replace("per_seed_data=['{tmp}/teacher.txt']",
                              "per_seed_data=['{tmp}/teacher.pth']"))
    with pytest.raises(ValueError, match=r"per_seed_data: '.*teacher.pth' is "
                       r'not the path of a prepare step \(prepare paths: '):
        benchmark.main([spec, '--work-dir', str(tmp_path / 'w'), '--dry-run'])


def test_weights_digest_sees_the_weights_not_the_metadata(tmp_path):
    weights = dict(
        w=torch.arange(6.).reshape(2, 3),
        b=torch.zeros(2),
        num_batches_tracked=torch.tensor(3),  # a 0-d buffer
        half=torch.ones(2, dtype=torch.bfloat16))
    one, two, three = (str(tmp_path / f'{n}.pth') for n in 'abc')
    torch.save(dict(state_dict=weights, meta=dict(time='1')), one)
    torch.save(
        dict(
            state_dict=dict(reversed(list(weights.items()))),
            meta=dict(time='2'),
            optimizer=dict(lr=1)), two)
    changed = dict(weights, b=torch.tensor([0., 1e-7]))
    torch.save(dict(state_dict=changed, meta=dict(time='1')), three)
    digest = benchmark_records.weights_digest
    assert digest(one) == digest(two)
    assert digest(one) != digest(three)
    assert benchmark_records.data_digest(one) == digest(one)
    # a .pth of embeddings: names and values count
    embeddings = str(tmp_path / 'embeddings.pth')
    torch.save(dict(names=['0', '1'], embeddings=torch.eye(2)), embeddings)
    first = benchmark_records.data_digest(embeddings)
    torch.save(dict(names=['1', '0'], embeddings=torch.eye(2)), embeddings)
    assert benchmark_records.data_digest(embeddings) != first


def test_a_broken_record_names_its_file(tmp_path):
    book = benchmark_records.RecordBook(str(tmp_path))
    path = book.path('kd', 1)
    os.makedirs(osp.dirname(path))
    with open(path, 'w') as f:
        f.write('{"row": ')
    with pytest.raises(ValueError, match=r'seed1/kd\.json is not valid JSON'):
        book.load('kd', 1)


def test_a_run_locked_by_another_process_is_waited_for(tmp_path):
    """Two harness processes on one work dir: the second waits while the
    first holds a run, then takes it (here: once the holder exits); a lock
    left by a killed process is taken over at once."""
    import subprocess
    import threading
    import time
    run_dir = str(tmp_path / 'seed3' / 'baseline')
    os.makedirs(run_dir)
    lock = osp.join(run_dir, 'run.lock')
    holder = subprocess.Popen([sys.executable, '-c', 'import time; '
                               'time.sleep(1.5)'])
    # reaped as soon as it exits, as another harness process would be
    threading.Thread(target=holder.wait, daemon=True).start()
    with open(lock, 'w') as f:
        f.write(str(holder.pid))
    start = time.time()
    with tool_runs.RunLock(run_dir, poll=0.05):
        waited = time.time() - start
        with open(lock) as f:
            assert json.load(f)['pid'] == os.getpid()
    assert waited > 0.5
    assert not osp.exists(lock)
    # a dead process's lock
    with open(lock, 'w') as f:
        f.write(str(holder.pid))
    start = time.time()
    with tool_runs.RunLock(run_dir, poll=10):
        assert time.time() - start < 5


@pytest.mark.skipif(
    tool_runs._process_identity(os.getpid()) is None,
    reason='needs /proc to tell a process from a later one with its pid')
def test_a_lock_whose_pid_now_names_another_process_is_taken_over(
        tmp_path):
    """After a reboot (or pid wrap-around) the pid in a lock may name a
    live process that is not its holder: the start time and boot id in the
    lock tell them apart; the live holder's own lock is still waited for."""
    import subprocess
    run_dir = str(tmp_path / 'run')
    os.makedirs(run_dir)
    lock = osp.join(run_dir, 'run.lock')
    other = subprocess.Popen([sys.executable, '-c', 'import time; '
                              'time.sleep(30)'])
    try:
        identity = tool_runs._process_identity(other.pid)
        assert identity and identity != tool_runs._process_identity(
            os.getpid())
        with open(lock, 'w') as f:
            json.dump(dict(pid=other.pid, identity='another-boot:1'), f)
        assert tool_runs.RunLock(run_dir)._holder() is None
        with open(lock, 'w') as f:
            json.dump(dict(pid=other.pid, identity=identity), f)
        assert tool_runs.RunLock(run_dir)._holder() == other.pid
        os.remove(lock)
        with open(lock, 'w') as f:
            json.dump(dict(pid=other.pid, identity='another-boot:1'), f)
        with tool_runs.RunLock(run_dir, poll=10):
            with open(lock) as f:
                assert json.load(f)['pid'] == os.getpid()
    finally:
        other.kill()
        other.wait()


def test_a_lock_appears_with_its_holder_written(tmp_path, monkeypatch):
    """A waiting process that reads the lock the moment it appears finds
    its holder in it (an empty lock would look stale and be removed), and
    no helper file is left behind."""
    run_dir = str(tmp_path / 'run')
    seen = []
    link = os.link

    def link_and_read(src, dst):
        link(src, dst)
        seen.append(tool_runs.RunLock(run_dir)._holder())

    monkeypatch.setattr(os, 'link', link_and_read)
    with tool_runs.RunLock(run_dir):
        assert seen == [os.getpid()]
        assert os.listdir(run_dir) == ['run.lock']
    assert os.listdir(run_dir) == []


def test_a_checkpoint_given_with_ckpt_is_not_recorded(tmp_path, monkeypatch):
    """``--ckpt teacher=PATH`` was not trained from the row's inputs: no
    record claims it was; its students record its weights digest."""
    spec = write_spec(tmp_path, SPEC)
    (tmp_path / 'data.txt').write_text('scenes')
    given = tmp_path / 'given.pth'
    given.write_text('outside weights')
    records = str(tmp_path / 'records')
    machine = Machine(tmp_path, 'first', monkeypatch)
    machine.bench(spec, records, '--ckpt', f'teacher={given}')
    assert not osp.exists(osp.join(records, 'teacher.json'))
    with open(osp.join(records, 'seed0', 'kd.json')) as f:
        assert json.load(f)['train']['teacher_sha256'] == machine.digest(
            str(given))


def test_a_cache_meta_json_is_digested_by_its_content(tmp_path):
    """A split's prepared teacher cache: its ``meta.json`` names a random
    build folder and its inputs' modification times, which must not make
    two equal builds differ."""
    meta = dict(
        kind='records',
        entry_dir='entries-0123456789ab',
        extra_inputs=dict(
            proposals=dict(
                path='/a/p.pkl', bytes=5, mtime_ns=1, blake2b='f00')),
        index={'a.png': dict(file='0000000.bin', bytes=8, blake2b='cafe')})
    one, two = tmp_path / 'one' / 'meta.json', tmp_path / 'two' / 'meta.json'
    for path, entry_dir, where in ((one, 'entries-0123456789ab', '/a'),
                                   (two, 'entries-ba9876543210', '/b')):
        path.parent.mkdir()
        extra = dict(meta['extra_inputs']['proposals'], path=where + '/p.pkl',
                     mtime_ns=len(where))
        path.write_text(json.dumps(dict(
            meta, entry_dir=entry_dir, extra_inputs=dict(proposals=extra))))
    digest = benchmark_records.data_digest
    assert digest(str(one)) == digest(str(two))
    other = tmp_path / 'other.json'
    other.write_text(json.dumps(dict(meta, index={})))
    other = other.rename(tmp_path / 'meta.json')
    assert digest(str(other)) != digest(str(one))
    # any other JSON file: its bytes
    plain = tmp_path / 'split.json'
    plain.write_text('{"entry_dir": 1}')
    assert digest(str(plain)) == hashlib.sha256(
        b'{"entry_dir": 1}').hexdigest()
