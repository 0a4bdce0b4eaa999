"""Training side of personcls (installed as ``personcls.training``).

Models compatible with PaddleClas pretrained weights, data loading and augmentation, the
train / eval / infer / export engine, and export to the personcls model folder format.
Needs the ``train`` extra (paddlepaddle, visualdl, tqdm, matplotlib).
"""
