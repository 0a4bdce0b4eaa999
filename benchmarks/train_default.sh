#!/usr/bin/env bash
# Reproduce the shipped default model python/personcls/models/person_PPLCNet_x1_0 (issue 3 item 7)
# in one command, from the repository root, on CPU:   bash benchmarks/train_default.sh
# 1. teacher: MobileNetV2 from the ImageNet weights in ../shared/data/pretrained, fine-tuned on
#    vww/train_list.txt at 96 px (TF padding, mean = std = 0.5, folded BN kept frozen);
# 2. student: PPLCNet_x1_0 from the text-orientation start weights, distilled from the teacher's
#    offline outputs on vww train (labels: + CE) and the 1000 unlabeled UGI images;
# 3. export into $MODEL (legacy Paddle + OpenVINO IR + personcls.json), decision threshold picked
#    on vww/val_list.txt (best accuracy), then checked on the 14 demo photos.
# Set MODEL=some/folder to export elsewhere (default: the packaged model folder).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-output/default}
MODEL=${MODEL:-python/personcls/models/person_PPLCNet_x1_0}
EPOCHS=${EPOCHS:-8}
SEED=${SEED:-42}
DATA=../shared/data
SIZE=96
COMMON=(-o Global.seed=$SEED -o Global.use_visualdl=False -o Optimizer.lr.warmup_epoch=1
        -o Preprocess.resize_short=$SIZE -o Preprocess.crop_size=$SIZE
        -o "DataLoader.Train.dataset.transform_ops.1.RandCropImage.scale=[0.5,1.0]")
mkdir -p "$OUT"
TEACHER=${TEACHER:-$OUT/teacher/MobileNetV2/best_model}   # set TEACHER=... to distill from another teacher
if [ "$TEACHER" = "$OUT/teacher/MobileNetV2/best_model" ]; then
echo "== teacher"
personcls train -c training/configs/PPLCNet_x1_0.yaml "${COMMON[@]}" -o Global.epochs=6 \
  -o Arch.name=MobileNetV2 -o Arch.padding=tf_same -o Arch.freeze_bn=True -o Arch.use_ssld=False \
  -o Arch.pretrained=$DATA/pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams \
  -o "Preprocess.mean=[0.5,0.5,0.5]" -o "Preprocess.std=[0.5,0.5,0.5]" -o Optimizer.lr.learning_rate=0.0005 \
  -o Global.output_dir=$OUT/teacher 2>&1 | grep -E "epoch [0-9]+/|done:|nothing to train"
fi
echo "== student (distillation)"
DCFG=training/configs/PPLCNet_x1_0_distillation.yaml
DIST=(-c $DCFG "${COMMON[@]}" -o Global.epochs=$EPOCHS ${STUDENT_OVERRIDES:-}
      -o Arch.models.0.Teacher.name=MobileNetV2 -o Arch.models.0.Teacher.padding=tf_same
      -o "Arch.models.0.Teacher.mean=[0.5,0.5,0.5]" -o "Arch.models.0.Teacher.std=[0.5,0.5,0.5]"
      -o Arch.models.0.Teacher.pretrained=$TEACHER -o Arch.models.0.Teacher.offline=True)
personcls train "${DIST[@]}" -o Global.output_dir=$OUT/student 2>&1 | grep -E "epoch [0-9]+/|done:|distillation:|nothing to train"
echo "== export -> $MODEL"
personcls export "${DIST[@]}" -o Global.pretrained_model=$OUT/student/DistillationModel/best_model \
  -o Global.save_inference_dir=$MODEL 2>&1 | grep -E "exported"
python benchmarks/finish_model.py "$MODEL" --val $DATA/vww/val_list.txt --demo $DATA/demo --pick-threshold \
  --json "$OUT/finish.json"
