# X-Ray's baseline student on SimScenes: the CenterPoint-pillar of
# configs/sim_scenes (0.4 m pillars, a narrow SECOND, no GT-sampling, no
# CBGS) on the normal frames, unchanged.
#   python tools/dataset_converters/sim_scenes.py data/simscenes
_base_ = [
    '../sim_scenes/'
    'centerpoint_pillar04-small_second_secfpn_20e_simscenes-3d.py'
]
