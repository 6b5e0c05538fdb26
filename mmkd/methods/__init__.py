# Copyright (c) mmkd contributors. All rights reserved.
"""One package per distillation method; importing this registers them."""
from . import bpkd, lpld, oadp, transkd, unidistill, xray  # noqa: F401
