"""Write the student of a DistillationModel checkpoint (``Student.*`` keys) as a plain state dict,
usable as ``Arch.pretrained`` / ``Arch.models.1.Student.pretrained`` of a later run.

    python benchmarks/extract_student.py output/ssld_like/DistillationModel/latest output/ssld_like/PPLCNet_x1_0_ssld_like
"""

import sys

import paddle

src, dst = sys.argv[1], sys.argv[2]
sd = paddle.load(src if src.endswith(".pdparams") else src + ".pdparams")
out = {k[len("Student."):]: v for k, v in sd.items() if k.startswith("Student.")}
if not out:
    sys.exit(f"{src}: no Student.* tensors")
paddle.save(out, dst if dst.endswith(".pdparams") else dst + ".pdparams")
print(f"{len(out)} tensors -> {dst}")
