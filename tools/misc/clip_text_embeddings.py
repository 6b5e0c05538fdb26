# Copyright (c) mmkd contributors. All rights reserved.
"""Compute prompt-ensembled CLIP text embeddings of class names into a file
that ``mmkd.models.clip.load_text_embeddings`` reads.

Each template is filled with each class name and embedded by the CLIP text
tower; embeddings are L2-normalised per template and averaged over the
templates (ViLD's ensemble, used as is by OADP's bbox head); with
``--renormalize`` each average is made unit length again.

OpenAI's BPE vocabulary (``bpe_simple_vocab_16e6.txt.gz`` of the
openai/CLIP repository) is not shipped with mmkd: give its path.

Example:
    python tools/misc/clip_text_embeddings.py ViT-B/32 \\
        --vocab bpe_simple_vocab_16e6.txt.gz --templates vild \\
        --classes-file data/coco/ov_classes.txt --out data/prompts/vild.pth
"""
import argparse
import os
import os.path as osp

import torch

from mmkd.models.clip import (TEMPLATES, CLIPTextTower, CLIPTokenizer,
                              prompt_ensemble, save_text_embeddings)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'checkpoint',
        help='OpenAI CLIP checkpoint: a TorchScript archive or state dict '
        'file, or a model name such as ViT-B/32 (downloaded once)')
    parser.add_argument('--vocab', required=True, help='BPE merges file')
    names = parser.add_mutually_exclusive_group(required=True)
    names.add_argument('--classes', nargs='+', help='class names, in order')
    names.add_argument(
        '--classes-file', help='a text file with one class name a line')
    parser.add_argument(
        '--templates',
        default='vild',
        help=f'one of {sorted(TEMPLATES)}, or a text file with one template '
        '(with "{}" for the name) a line. Defaults to vild')
    parser.add_argument(
        '--renormalize',
        action='store_true',
        help='L2-normalise the averaged embeddings (ViLD does not)')
    parser.add_argument('--scale', type=float, help='classifier logit scale')
    parser.add_argument('--bias', type=float, help='classifier logit bias')
    parser.add_argument('--out', required=True, help='output file')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=256)
    return parser.parse_args(argv)


def _lines(path: str, what: str) -> list:
    with open(path, encoding='utf-8') as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        raise ValueError(f'{what} file {path!r} is empty')
    return lines


def main(argv=None):
    args = parse_args(argv)
    classes = args.classes or _lines(args.classes_file, 'classes')
    if args.templates in TEMPLATES:
        templates = list(TEMPLATES[args.templates])
    elif osp.isfile(args.templates):
        templates = _lines(args.templates, 'templates')
    else:
        raise FileNotFoundError(
            f'--templates {args.templates!r} is neither one of '
            f'{sorted(TEMPLATES)} nor a file')
    tower = CLIPTextTower(checkpoint=args.checkpoint).eval().to(args.device)
    tokenizer = CLIPTokenizer(args.vocab, tower.context_length)
    embeddings = prompt_ensemble(tower, tokenizer, classes, templates,
                                 args.renormalize, args.batch_size)
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    save_text_embeddings(
        args.out,
        classes,
        embeddings,
        scale=args.scale,
        bias=args.bias,
        meta=dict(
            checkpoint=args.checkpoint,
            templates=args.templates,
            num_templates=len(templates),
            renormalized=args.renormalize))
    print(f'{args.out}: {len(classes)} classes x {embeddings.shape[1]}, '
          f'{len(templates)} templates')


if __name__ == '__main__':
    with torch.no_grad():
        main()
