# X-Ray distillation between two mmdet3d CenterPoint detectors of one
# architecture (the teacher trained on Object-Complete frames): taps and
# losses for an X-Ray config, e.g.
#   taps=dict(student=_base_.xray_taps, teacher=_base_.xray_taps),
#   losses=dict(feature=_base_.xray_losses.feature,
#               heatmap=_base_.xray_losses.heatmap,
#               regression=dict(_base_.xray_losses.regression,
#                               mask=dict(type='BEVBoxFootprintMask',
#                                         point_cloud_range=...),
#                               mask_average=True))
# The mask's range is the detector's point_cloud_range (the head's grid
# covers it), which this file does not know. docs/methods/xray.md.

# CenterHead's tasks (nuScenes' six, which SimScenes keeps) and regression
# maps (common_heads)
xray_num_tasks = 6
xray_regression_maps = ['reg', 'height', 'dim', 'rot', 'vel']
xray_heatmaps = [f'heatmap{t}' for t in range(xray_num_tasks)]
xray_regressions = [
    f'{k}{t}' for t in range(xray_num_tasks) for k in xray_regression_maps
]
xray_taps = dict(
    # SECONDFPN returns a list of one BEV map
    neck=dict(path='pts_neck', index=0),
    # each task's SeparateHead returns a dict of maps (logits for heatmap)
    **{
        f'heatmap{t}': dict(
            path=f'pts_bbox_head.task_heads.{t}', index='heatmap')
        for t in range(xray_num_tasks)
    },
    **{
        f'{k}{t}': dict(path=f'pts_bbox_head.task_heads.{t}', index=k)
        for t in range(xray_num_tasks) for k in xray_regression_maps
    })
# Each loss of a list of taps is the sum over them (6 heat-maps, 30
# regression maps). The first guesses (feature 1, heat-map 10, regression
# 0.05) brought the three terms near the size of CenterPoint's own losses
# at the start of training; tuned on SimScenes (seed 100, val; one weight
# at a time, tools/analysis_tools/benchmarks/xray_simscenes_tuning.py),
# the heat-map weight became 3 (docs/methods/xray.md, "Tuning").
xray_losses = dict(
    # feature distillation on the BEV neck output (add a mask= to weight
    # it by the boxes' footprints)
    feature=dict(
        type='MSEFeatureLoss', loss_weight=1.0, student='neck',
        teacher='neck'),
    # response distillation: the heat-maps' probabilities everywhere
    heatmap=dict(
        type='MSEFeatureLoss',
        sigmoid=True,
        loss_weight=3.0,
        student=xray_heatmaps,
        teacher=xray_heatmaps),
    # and the regression maps inside the boxes' footprints
    regression=dict(
        type='L1FeatureLoss',
        loss_weight=0.05,
        student=xray_regressions,
        teacher=xray_regressions))
