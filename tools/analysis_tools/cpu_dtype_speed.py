# Copyright (c) mmkd contributors. All rights reserved.
"""Time a two-conv net's forward in float32, float16 and bfloat16 on the
CPU: what ``teacher_dtype`` costs on this machine (docs/benchmarks.md).

    python tools/analysis_tools/cpu_dtype_speed.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \\
        python tools/analysis_tools/cpu_dtype_speed.py   # AVX2 kernels only
"""
import time

import torch
import torch.nn as nn


def main(repeats: int = 5) -> dict:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1)).eval()
    x = torch.rand(8, 3, 128, 128)
    medians = {}
    for name, dtype in (('fp32', torch.float32), ('fp16', torch.float16),
                        ('bf16', torch.bfloat16)):
        model, inputs = net.to(dtype), x.to(dtype)
        with torch.no_grad():
            model(inputs)  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                model(inputs)
                times.append(time.perf_counter() - start)
        medians[name] = sorted(times)[repeats // 2]
    for name, seconds in medians.items():
        print(f'{name}: {seconds * 1e3:.1f} ms, '
              f'{seconds / medians["fp32"]:.2f} x fp32')
    return medians


if __name__ == '__main__':
    main()
