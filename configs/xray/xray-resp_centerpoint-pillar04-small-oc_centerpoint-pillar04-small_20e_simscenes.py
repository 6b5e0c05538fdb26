# X-Ray's response-only ablation on SimScenes: the X-Ray student with the
# dense head's terms alone (heat-map MSE, regression-map L1 in the boxes'
# footprints; no BEV neck term); everything else, the teacher and its
# Object-Complete cloud included, is the full student's. The benchmark's
# 'xray_resp' row (tools/analysis_tools/benchmarks/xray_simscenes.py).
_base_ = [
    './xray_centerpoint-pillar04-small-oc_centerpoint-pillar04-small_20e_'
    'simscenes.py'
]

model = dict(
    losses=dict(
        _delete_=True,
        heatmap=_base_.model.losses.heatmap,
        regression=_base_.model.losses.regression))
