# BPKD with mmkd's alternatives to the references' formula (each one's reason
# is in docs/methods/bpkd.md): the band around the label map's edge pixels
# (detect_then_onehot), no band along ignored pixels or the padding
# (ignore_mode='inside') and the edge loss averaged over the (sample, class)
# pairs that have an edge instead of summed over classes.
_base_ = ['./bpkd_fcn-r50w16_fcn-r18w16_2k_digit-scenes256-128x128.py']

mmkd_options = dict(edge_order='detect_then_onehot', ignore_mode='inside')
model = dict(
    losses=dict(
        edge=dict(class_reduction='mean', **mmkd_options),
        body=mmkd_options))
