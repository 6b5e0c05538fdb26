# X-Ray's feature-only ablation on SimScenes: the X-Ray student with the BEV
# neck's MSE alone (no heat-map or regression-map terms); everything else,
# the teacher and its Object-Complete cloud included, is the full
# student's. The benchmark's 'xray_feat' row
# (tools/analysis_tools/benchmarks/xray_simscenes.py).
_base_ = [
    './xray_centerpoint-pillar04-small-oc_centerpoint-pillar04-small_20e_'
    'simscenes.py'
]

model = dict(losses=dict(_delete_=True, feature=_base_.model.losses.feature))
