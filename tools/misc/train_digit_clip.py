# Copyright (c) mmkd contributors. All rights reserved.
"""Train the small CLIP teacher of open-vocabulary DigitScenes and write
its text embeddings.

No OpenAI CLIP can be downloaded for DigitScenes' digits, so its teacher
is the same CLIP code (``mmkd.models.clip``), tiny, trained here on the
isolated digits of the train split, all ten of them (the generator's full
annotations, ``annotations/instances_train.json``: CLIP knows the novel
names too), each a square crop of ``--train-crop-scale`` times its longer
side, captioned with a template filled with its name (``'a photo of the
digit seven.'``; by default also ViLD's templates, whose ensemble the
bbox head's embeddings are). Two stages:

1. ``--pretrain-epochs``: the image tower classifies the digits against
   learned class prototypes (from scratch, both towers otherwise stay at
   the collapsed contrastive plateau: docs/methods/oadp.md);
2. ``--epochs``: contrastive, with a learned logit scale and UniCL's
   targets (``--targets classes``: all pairs of the same digit positive),
   the image tower locked (LiT; ``--unlock-image`` trains it too).

Written to ``--out-dir`` (default ``<data_root>/clip``, where the OADP
config reads the embeddings):

- ``clip_digits.pth``: an OpenAI-format state dict (``--clip`` of
  ``tools/misc/oadp_extract.py``);
- ``bpe_vocab.txt.gz``: its BPE vocabulary (learned on the prompts);
- ``text_embeddings_vild.pth``: ViLD's prompt ensemble of the ten names,
  not renormalised (the bbox head's);
- ``text_embeddings_ml.pth``: the teacher's own template, with a scale and
  bias fitted as a sigmoid classifier of the train crops (the other
  heads');
- ``clip_digits.json``: the settings, the losses, the time taken and the
  zero-shot accuracy on the val digits (base 0-6, novel 7-9, chance 10%).

Example:
    python tools/misc/train_digit_clip.py data/digit_scenes_ov --seed 0
"""
import argparse
import hashlib
import json
import math
import os
import os.path as osp
import platform
import time

import torch
import torch.nn.functional as F

from mmkd.datasets.open_vocabulary import (DIGIT_CLIP_TEMPLATE,
                                           DIGIT_PROMPT_NAMES,
                                           DIGIT_SCENES_BASE_CLASSES,
                                           DIGIT_SCENES_NOVEL_CLASSES,
                                           DigitCropDataset)
from mmkd.models.clip import (VILD_TEMPLATES, CLIPImageTower, CLIPTextTower,
                              CLIPTokenizer, clip_normalize, clip_param_groups,
                              clip_train_step, fit_sigmoid_scale_bias,
                              learn_bpe, openai_state_dict, prompt_ensemble,
                              save_text_embeddings, write_bpe,
                              zero_shot_accuracy)

CLASSES = DIGIT_SCENES_BASE_CLASSES + DIGIT_SCENES_NOVEL_CLASSES
#: ``--templates`` choices: the captions of the training digits
TRAIN_TEMPLATES = dict(
    photo=(DIGIT_CLIP_TEMPLATE, ),
    vild=(DIGIT_CLIP_TEMPLATE, ) + VILD_TEMPLATES)
FILES = dict(
    checkpoint='clip_digits.pth',
    vocab='bpe_vocab.txt.gz',
    vild='text_embeddings_vild.pth',
    ml='text_embeddings_ml.pth',
    report='clip_digits.json')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'data_root',
        nargs='?',
        default='data/digit_scenes_ov',
        help='a generated DigitScenes (tools/dataset_converters/'
        'digit_scenes.py). Defaults to data/digit_scenes_ov')
    parser.add_argument(
        '--out-dir', help='output folder. Defaults to <data_root>/clip')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--pretrain-epochs',
        type=int,
        default=40,
        help='stage 1: epochs of the image tower classifying the digits '
        '(all ten) against learned class prototypes. Defaults to 40')
    parser.add_argument(
        '--epochs',
        type=int,
        default=20,
        help='stage 2: contrastive epochs. Defaults to 20')
    parser.add_argument(
        '--unlock-image',
        action='store_true',
        help='train the image tower in stage 2 too (default: locked, '
        'LiT; only the text tower and the logit scale learn)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--weight-decay', type=float, default=0.05)
    parser.add_argument(
        '--warmup', type=float, default=0.1, help='warm-up fraction')
    arch = parser.add_argument_group('architecture (OpenAI ViT CLIP)')
    arch.add_argument('--input-resolution', type=int, default=32)
    arch.add_argument('--patch-size', type=int, default=8)
    arch.add_argument(
        '--width', type=int, default=64, help='image tower (heads: / 64)')
    arch.add_argument('--layers', type=int, default=2)
    arch.add_argument('--text-width', type=int, default=64)
    arch.add_argument('--text-layers', type=int, default=2)
    arch.add_argument('--context-length', type=int, default=77)
    arch.add_argument('--embed-dim', type=int, default=64)
    data = parser.add_argument_group('crops and captions')
    data.add_argument(
        '--train-crop-scale',
        type=float,
        nargs=2,
        default=(1.1, 2.5),
        metavar=('LOW', 'HIGH'),
        help='training crop side over the digit\'s longer side, drawn '
        'uniformly. Defaults to 1.1 2.5')
    data.add_argument(
        '--jitter',
        type=float,
        default=0.1,
        help='largest shift of a training crop, a fraction of its side')
    data.add_argument(
        '--crop-scale',
        type=float,
        default=2.,
        help='crop side over the longer side, to score (and fit the '
        'sigmoid of text_embeddings_ml.pth). Defaults to 2')
    data.add_argument(
        '--templates',
        default='vild',
        choices=sorted(TRAIN_TEMPLATES),
        help=f'captions: "photo" {TRAIN_TEMPLATES["photo"]}, "vild" that '
        'and ViLD\'s 74 templates, drawn uniformly. Defaults to vild')
    parser.add_argument(
        '--targets',
        default='classes',
        choices=('classes', 'pairs'),
        help='contrastive targets: "classes" (UniCL: every image-caption '
        'pair of the same digit is positive) or "pairs" (CLIP: only the '
        'pair itself). Defaults to classes: a batch holds many captions '
        'of each digit')
    parser.add_argument(
        '--no-cache',
        action='store_true',
        help='read the canvases for each crop (less memory)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch CPU threads. Defaults to 1: the tiny towers gain '
        'nothing from more, and spend CPU waiting on a busy machine')
    return parser.parse_args(argv)


def _sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _batches(dataset: DigitCropDataset, order, batch_size: int):
    for start in range(0, len(order), batch_size):
        items = [dataset[int(i)] for i in order[start:start + batch_size]]
        yield (clip_normalize(torch.stack([x['img'] for x in items])),
               [x['text']
                for x in items], torch.tensor([x['label'] for x in items]))


@torch.no_grad()
def encode_images(tower: CLIPImageTower, dataset: DigitCropDataset,
                  batch_size: int, device: str) -> tuple:
    """L2-normalised embeddings (N, D) and labels (N,) of a dataset's
    crops, in order."""
    tower.eval()
    embeddings, labels = [], []
    for images, _, batch_labels in _batches(dataset, range(len(dataset)),
                                            batch_size):
        embeddings.append(
            F.normalize(tower(images.to(device)).float(), dim=-1))
        labels.append(batch_labels)
    return torch.cat(embeddings).cpu(), torch.cat(labels)


def check_datasets(train: DigitCropDataset, val: DigitCropDataset) -> None:
    """Each class must have training digits (CLIP cannot learn a name it
    never sees) and val digits (or its accuracy is not measured)."""
    for dataset in (train, val):
        absent = [c for c, n in dataset.class_counts().items() if not n]
        if absent:
            raise ValueError(
                f'{dataset.ann_file} has no digit of the classes {absent}; '
                'the teacher learns and is scored on all ten digits (the '
                "generator's full annotations): generate more canvases")


def warmup_cosine(optimizer, total: int, warmup: float):
    """Linear warm-up over a ``warmup`` fraction of ``total`` steps, then
    a cosine decay to 0 at ``total``."""
    warmup = max(int(warmup * total), 1)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, 0.5 *
                         (1 + math.cos(math.pi * min(step, total) / total))))


def pretrain_image_tower(args, image_tower: CLIPImageTower,
                         train_set: DigitCropDataset,
                         logit_scale: float) -> list:
    """Stage 1: the image tower classifies the training digits (all ten)
    with cosine logits against learned class prototypes, at CLIP's initial
    logit scale; the prototypes are dropped afterwards. Returns the
    per-epoch losses.

    Why: trained from scratch on ten captions, both towers stay at the
    collapsed InfoNCE plateau (all embeddings alike) for many epochs: the
    untrained text tower gives the ten names nearly the same embedding,
    so the images get no direction to separate along.
    Prototypes drawn at random are far apart, and the tower learns the
    digits (slowly at first: about ten flat epochs); the contrastive stage
    then aligns the text tower to it (LiT, Zhai et al., CVPR 2022, with the
    image tower pretrained on the same ten labels the captions are made
    from).
    """
    prototypes = torch.nn.Parameter(
        torch.randn(len(CLASSES), image_tower.output_dim, device=args.device))
    groups = clip_param_groups(image_tower, weight_decay=args.weight_decay)
    groups[1]['params'].append(prototypes)
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    steps_per_epoch = math.ceil(len(train_set) / args.batch_size)
    scheduler = warmup_cosine(optimizer,
                              steps_per_epoch * args.pretrain_epochs,
                              args.warmup)
    shuffle = torch.Generator().manual_seed(args.seed)
    losses = []
    image_tower.train()
    for epoch in range(args.pretrain_epochs):
        train_set.set_epoch(epoch)
        order = torch.randperm(len(train_set), generator=shuffle)
        epoch_losses = []
        for images, _, labels in _batches(train_set, order, args.batch_size):
            logits = logit_scale * F.normalize(
                image_tower(images.to(args.device)), dim=-1) @ F.normalize(
                    prototypes, dim=-1).t()
            loss = F.cross_entropy(logits, labels.to(args.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            epoch_losses.append(loss.item())
        losses.append(sum(epoch_losses) / len(epoch_losses))
        print(
            f'pretrain epoch {epoch + 1}/{args.pretrain_epochs}: '
            f'loss {losses[-1]:.4f}',
            flush=True)
    return losses


def train(args, out_dir: str) -> dict:
    torch.manual_seed(args.seed)
    templates = TRAIN_TEMPLATES[args.templates]
    train_set = DigitCropDataset(
        args.data_root,
        'train',
        size=args.input_resolution,
        crop_scale=tuple(args.train_crop_scale),
        jitter=args.jitter,
        templates=templates,
        seed=args.seed,
        fast_resize=True,
        cache_images=not args.no_cache)
    val_set = DigitCropDataset(
        args.data_root,
        'val',
        size=args.input_resolution,
        crop_scale=args.crop_scale,
        cache_images=not args.no_cache)
    check_datasets(train_set, val_set)

    # the vocabulary covers every prompt written here: the training
    # captions and ViLD's ensemble
    prompts = [
        t.format(n) for t in set(templates) | set(VILD_TEMPLATES)
        | {DIGIT_CLIP_TEMPLATE} for n in DIGIT_PROMPT_NAMES
    ]
    vocab = write_bpe(osp.join(out_dir, FILES['vocab']), learn_bpe(prompts))
    tokenizer = CLIPTokenizer(vocab, args.context_length)

    image_tower = CLIPImageTower(
        width=args.width,
        layers=args.layers,
        patch_size=args.patch_size,
        input_resolution=args.input_resolution,
        output_dim=args.embed_dim).to(args.device)
    text_tower = CLIPTextTower(
        width=args.text_width,
        layers=args.text_layers,
        context_length=args.context_length,
        vocab_size=tokenizer.vocab_size,
        output_dim=args.embed_dim).to(args.device)
    start, cpu_start = time.time(), time.process_time()
    pretrain_losses = pretrain_image_tower(
        args, image_tower, train_set,
        text_tower.logit_scale.exp().item()) if args.pretrain_epochs else []
    towers = (image_tower, text_tower) if args.unlock_image else (text_tower, )
    image_tower.requires_grad_(args.unlock_image)
    optimizer = torch.optim.AdamW(
        clip_param_groups(*towers, weight_decay=args.weight_decay), lr=args.lr)
    steps_per_epoch = math.ceil(len(train_set) / args.batch_size)
    total = steps_per_epoch * args.epochs
    scheduler = warmup_cosine(optimizer, total, args.warmup)
    shuffle = torch.Generator().manual_seed(args.seed + 1)
    tokens = {}
    losses = []
    for epoch in range(args.epochs):
        # stage 2 draws new crops: its epochs follow stage 1's
        train_set.set_epoch(args.pretrain_epochs + epoch)
        # a locked tower stays in eval mode (LiT)
        image_tower.train(args.unlock_image)
        text_tower.train()
        order = torch.randperm(len(train_set), generator=shuffle)
        epoch_losses = []
        for images, texts, labels in _batches(train_set, order,
                                              args.batch_size):
            for text in set(texts) - set(tokens):
                tokens[text] = tokenizer.tokenize(text)[0]
            loss = clip_train_step(
                image_tower, text_tower, images.to(args.device),
                torch.stack([tokens[t] for t in texts]).to(args.device),
                optimizer,
                labels.to(args.device) if args.targets == 'classes' else None)
            scheduler.step()
            epoch_losses.append(loss)
        losses.append(sum(epoch_losses) / len(epoch_losses))
        cpu = time.process_time() - cpu_start
        print(
            f'epoch {epoch + 1}/{args.epochs}: loss {losses[-1]:.4f}, '
            f'logit scale {text_tower.logit_scale.exp().item():.2f}, '
            f'{time.time() - start:.0f} s ({cpu:.0f} s of CPU)',
            flush=True)
    image_tower.requires_grad_(True)
    return dict(
        image_tower=image_tower,
        text_tower=text_tower,
        pretrain_losses=pretrain_losses,
        tokenizer=tokenizer,
        train_set=train_set,
        val_set=val_set,
        vocab=vocab,
        losses=losses,
        train_seconds=time.time() - start,
        train_cpu_seconds=time.process_time() - cpu_start,
        steps=steps_per_epoch * (args.pretrain_epochs + args.epochs))


def evaluate_and_save(args, out_dir: str, trained: dict) -> dict:
    """Save the state dict, reload it strictly, and score and write the
    text embeddings of the reloaded towers (what the files hold)."""
    path = osp.join(out_dir, FILES['checkpoint'])
    torch.save(
        openai_state_dict(trained['image_tower'], trained['text_tower']), path)
    # strict reloads: what OAKE and clip_text_embeddings.py will read
    image_tower = CLIPImageTower(checkpoint=path).to(args.device).eval()
    text_tower = CLIPTextTower(checkpoint=path).to(args.device).eval()
    tokenizer = trained['tokenizer']
    groups = dict(
        base=DIGIT_SCENES_BASE_CLASSES, novel=DIGIT_SCENES_NOVEL_CLASSES)
    vild = prompt_ensemble(text_tower, tokenizer, DIGIT_PROMPT_NAMES,
                           VILD_TEMPLATES)
    photo = prompt_ensemble(
        text_tower,
        tokenizer,
        DIGIT_PROMPT_NAMES, [DIGIT_CLIP_TEMPLATE],
        renormalize=True)
    # the training digits at the scoring crop scale, without jitter
    train_eval = DigitCropDataset(
        args.data_root,
        'train',
        size=args.input_resolution,
        crop_scale=args.crop_scale,
        fast_resize=True,
        cache_images=not args.no_cache)
    train_eval.cache = trained['train_set'].cache
    accuracy = {}
    embeddings = {}
    for split, dataset in (('val', trained['val_set']), ('train', train_eval)):
        images, labels = encode_images(image_tower, dataset, args.batch_size,
                                       args.device)
        embeddings[split] = (images, labels)
        for name, classes in (('photo', photo), ('vild', vild)):
            accuracy[f'{split}_{name}'] = zero_shot_accuracy(
                images @ F.normalize(classes, dim=-1).t(), labels, CLASSES,
                groups)
    scale, bias = fit_sigmoid_scale_bias(embeddings['train'][0] @ photo.t(),
                                         embeddings['train'][1])
    meta = dict(
        checkpoint=path,
        vocab=trained['vocab'],
        prompt_names=json.dumps(DIGIT_PROMPT_NAMES))
    save_text_embeddings(
        osp.join(out_dir, FILES['vild']),
        CLASSES,
        vild,
        meta=dict(
            meta,
            templates='vild',
            num_templates=len(VILD_TEMPLATES),
            renormalized=False))
    save_text_embeddings(
        osp.join(out_dir, FILES['ml']),
        CLASSES,
        photo,
        scale=scale,
        bias=bias,
        meta=dict(
            meta,
            templates=json.dumps([DIGIT_CLIP_TEMPLATE]),
            num_templates=1,
            renormalized=True,
            scale_bias='sigmoid(cos * scale - bias) fitted by binary '
            'cross-entropy on the train crops (one positive class each)'))
    return dict(
        accuracy=accuracy,
        ml_scale=scale,
        ml_bias=bias,
        logit_scale=text_tower.logit_scale.exp().item(),
        checkpoint_sha256=_sha256(path))


def main(argv=None):
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args) -> dict:
    """Train, score and write the files; the report."""
    if not osp.isdir(args.data_root):
        raise FileNotFoundError(
            f'data_root {args.data_root!r} does not exist; generate '
            'DigitScenes first (python tools/dataset_converters/'
            f'digit_scenes.py {args.data_root} --img-size 448)')
    if args.epochs < 1 or args.pretrain_epochs < 0:
        raise ValueError(
            f'--epochs must be >= 1 (got {args.epochs}: the contrastive '
            'stage gives the text tower its embeddings) and '
            f'--pretrain-epochs >= 0 (got {args.pretrain_epochs})')
    out_dir = args.out_dir or osp.join(args.data_root, 'clip')
    os.makedirs(out_dir, exist_ok=True)
    start, cpu_start = time.time(), time.process_time()
    trained = train(args, out_dir)
    results = evaluate_and_save(args, out_dir, trained)
    val = results['accuracy']['val_photo']
    report = dict(
        settings=vars(args),
        templates=dict(
            caption=DIGIT_CLIP_TEMPLATE,
            train=args.templates,
            prompt_names=DIGIT_PROMPT_NAMES),
        counts=dict(
            train=trained['train_set'].class_counts(),
            val=trained['val_set'].class_counts()),
        steps=trained['steps'],
        pretrain_epoch_losses=trained['pretrain_losses'],
        epoch_losses=trained['losses'],
        train_seconds=round(trained['train_seconds'], 1),
        train_cpu_seconds=round(trained['train_cpu_seconds'], 1),
        total_seconds=round(time.time() - start, 1),
        total_cpu_seconds=round(time.process_time() - cpu_start, 1),
        threads=torch.get_num_threads(),
        machine=platform.processor() or platform.machine(),
        chance=1 / len(CLASSES),
        files={
            k: osp.join(out_dir, v)
            for k, v in FILES.items()
        },
        **results)
    with open(osp.join(out_dir, FILES['report']), 'w') as f:
        json.dump(report, f, indent=2)
    print(
        f'val zero-shot accuracy ({DIGIT_CLIP_TEMPLATE!r}): '
        f'all {val["all"]:.3f}, base {val["base"]:.3f}, novel '
        f'{val["novel"]:.3f} (chance {report["chance"]:.2f}); '
        f'{report["total_seconds"]:.0f} s ({report["total_cpu_seconds"]:.0f} '
        f's of CPU); files in {out_dir}')
    return report


if __name__ == '__main__':
    main()
