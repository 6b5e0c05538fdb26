# X-Ray with its optional detection term on SimScenes: the full X-Ray
# student, plus the teacher's boxes scored >= 0.3 on the Object-Complete
# cloud appended to the student's ground truth each step
# (mmkd.XRayDistillModel, docs/methods/xray.md). Off in the default X-Ray
# config; the threshold is a first guess, not tuned.
_base_ = [
    './xray_centerpoint-pillar04-small-oc_centerpoint-pillar04-small_20e_'
    'simscenes.py'
]
model = dict(type='mmkd.XRayDistillModel', detection_term=dict(score_thr=0.3))
