# Copyright (c) mmkd contributors. All rights reserved.
"""Registries import what a config needs and nothing more: the engine
without mmdet3d or the method packages, a method's types on demand."""
import json
import subprocess
import sys
import textwrap

from mmkd.registry import LAZY_TYPES

# Run in a fresh interpreter: this process has imported everything already.
PROBE = textwrap.dedent('''
    import json, sys
    from mmengine.registry import Registry
    import mmkd.registry as R
    import mmkd.models.distillers
    out = dict(after_distillers=sorted(
        m for m in ('mmdet3d', 'mmkd.methods', 'mmkd.models.bev')
        if m in sys.modules))
    R.MODELS.get('MSEFeatureLoss')
    R.HOOKS.get('DistillHook')
    R.TRANSFORMS.get('MultiViewImageResizeCrop')
    out['after_engine_lookups'] = sorted(
        m for m in sys.modules
        if m.startswith(('mmkd.methods', 'mmkd.models.bev', 'mmdet3d')))
    registries = [r for r in vars(R).values() if isinstance(r, Registry)
                  and r.scope == 'mmkd']
    core = {r.name: set(r.module_dict) for r in registries}
    import mmkd.methods, mmkd.models.bev  # noqa: F401,E401
    out['lazy'] = {
        r.name: {k: v.__module__ for k, v in r.module_dict.items()
                 if k not in core[r.name]}
        for r in registries}
    print(json.dumps(out))
''')


def test_engine_imports_no_method_and_no_mmdet3d():
    proc = subprocess.run([sys.executable, '-c', PROBE],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['after_distillers'] == []
    assert out['after_engine_lookups'] == []
    # every type outside the engine is listed with the package that
    # registers it, and nothing else is listed
    found = {name: types for name, types in out['lazy'].items() if types}
    assert set(found) == set(LAZY_TYPES), (found, LAZY_TYPES)
    for name, types in found.items():
        assert set(types) == set(LAZY_TYPES[name]), (
            f'registry {name!r}: LAZY_TYPES should list exactly '
            f'{sorted(types)}')
        for type_name, module in types.items():
            assert module.startswith(LAZY_TYPES[name][type_name] + '.'), (
                type_name, module)


def test_lazy_type_is_found_in_any_scope():
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmkd.registry import MODELS, TRANSFORMS
    from mmkd.models.bev import BEVDetector
    from mmkd.methods.lpld import LPLDStrongAugment
    assert MODELS.get('BEVDetector') is BEVDetector
    assert ROOT_MODELS.get('mmkd.BEVDetector') is BEVDetector
    assert TRANSFORMS.get('mmkd.LPLDStrongAugment') is LPLDStrongAugment
    assert MODELS.get('NoSuchLoss') is None
