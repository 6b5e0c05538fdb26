# Copyright (c) mmkd contributors. All rights reserved.
"""Detection sets distributed in the Pascal VOC folder layout."""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List

from mmdet.datasets import XMLDataset
from mmengine.fileio import list_from_file

from mmkd.registry import DATASETS


@DATASETS.register_module()
class VOCLayoutDataset(XMLDataset):
    """A detection set in the Pascal VOC layout with its own classes.

    ``<sub_data_root>/ImageSets/Main/<split>.txt`` lists image ids,
    ``Annotations/<id>.xml`` holds the boxes and ``JPEGImages/<id><suffix>``
    the images: the layout in which the domain-adaptive detection benchmarks
    are distributed (Cityscapes / Foggy Cityscapes, Sim10k, KITTI, Clipart1k,
    Watercolor2k). Unlike :class:`mmdet.datasets.VOCDataset` the classes come
    from ``metainfo`` and images may be PNG (KITTI).

    Args:
        img_suffix (str): Image file suffix. Defaults to ``'.jpg'``.
        unknown_classes (str): What an object whose name is not in
            ``metainfo['classes']`` does: ``'error'`` (a class list that does
            not match the annotations) or ``'skip'`` (a subset on purpose,
            e.g. only ``car``). Defaults to ``'error'``.
        **kwargs: Passed to :class:`mmdet.datasets.XMLDataset`; give
            ``metainfo=dict(classes=...)`` and
            ``data_prefix=dict(sub_data_root=...)``.
    """

    def __init__(self,
                 img_suffix: str = '.jpg',
                 unknown_classes: str = 'error',
                 **kwargs) -> None:
        if unknown_classes not in ('error', 'skip'):
            raise ValueError("unknown_classes must be 'error' or 'skip', "
                             f'got {unknown_classes!r}')
        self.img_suffix = img_suffix
        self.unknown_classes = unknown_classes
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        classes = self._metainfo.get('classes')
        if not classes:
            raise ValueError('VOCLayoutDataset needs metainfo=dict('
                             f'classes=...) ({self.ann_file})')
        self.cat2label = {cat: i for i, cat in enumerate(classes)}
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'image list {self.ann_file!r} not found: expected the VOC '
                'layout <root>/ImageSets/Main/<split>.txt, Annotations/, '
                'JPEGImages/')
        data_list = []
        for img_id in list_from_file(self.ann_file):
            img_id = img_id.strip()
            if not img_id:
                continue
            xml_path = osp.join(self.sub_data_root, self.ann_subdir,
                                f'{img_id}.xml')
            if not osp.isfile(xml_path):
                raise FileNotFoundError(
                    f'{xml_path!r} (listed in {self.ann_file!r}) not found')
            if self.unknown_classes == 'error':
                self._check_names(xml_path)
            data_list.append(
                self.parse_data_info(
                    dict(
                        img_id=img_id,
                        file_name=osp.join(self.img_subdir,
                                           img_id + self.img_suffix),
                        xml_path=xml_path)))
        return data_list

    def _check_names(self, xml_path: str) -> None:
        for obj in ET.parse(xml_path).getroot().findall('object'):
            name = obj.find('name').text
            if name not in self.cat2label:
                raise ValueError(
                    f'{xml_path!r}: object class {name!r} is not one of '
                    f'the classes {tuple(self.cat2label)}; fix '
                    "metainfo['classes'] or set unknown_classes='skip' to "
                    'train on a subset')
