#!/usr/bin/env bash
# Reproduce the shipped default model python/personcls/models/person_PPLCNet_x1_0 in one command,
# from the repository root, on CPU:   bash benchmarks/train_default.sh
# (about 2h15 on a 2-core CPU: ~25 min for the segmenter teacher over the transfer set, once and
# cached; ~38 min for the ImageNet start; 18 epochs of ~3.6 min at 128 px; every training resumes
# where it stopped if killed)
#
# 1. transfer set: vww train (labeled) + ugi + frames of the training video clips + a third of
#    imagenette (benchmarks/make_transfer_set.py; held-out clips are kept apart);
# 2. ImageNet start ("SSLD-like", benchmarks/ssld_like.sh): the ImageNet MobileNetV2's outputs
#    distilled into PPLCNet_x1_0 (1000-class head) over 16,024 images (vww + ugi + all 13,394
#    imagenette photos + training-clip frames), 4 epochs; START=textori skips it (the previous
#    recipe's start, the text-orientation weights);
# 3. student: PPLCNet_x1_0 from that start, distilled from two external person teachers (DeepLab
#    v3 segmenter following each crop + VWW classifier on each view),
#    training/configs/PPLCNet_x1_0_person_teachers.yaml, 18 epochs; the LAST epoch is exported
#    (CKPT=best_model exports the best vww-val-accuracy epoch instead; see the model card for why);
# 4. export into $MODEL (Paddle program + OpenVINO IR + personcls.json), val figures recorded
#    (the decision threshold stays 0.5 unless PICK_THRESHOLD=1), INT8 IR calibrated on 400
#    training images, then the unselected figures (demo photos, held-out video clips) and the
#    agreement with the teachers: benchmarks/heldout_eval.py.
# Set MODEL=some/folder to export elsewhere (default: the packaged model folder), EPOCHS=N, SEED=N.
# STUDENT=mnv2 trains a MobileNetV2 student from the shared ImageNet MobileNetV2 instead of the
# PPLCNet_x1_0 from the ImageNet start (no step 2: its BatchNorm statistics are first recovered from
# the folded TFLite weights by benchmarks/bn_unfold.py, 1.5 min; its input mean / std 0.5).
# FEAT=<weight> adds a frozen ImageNet MobileNetV2 as a FeatureTeacher with DistillationFeatureLoss
# at that weight in the person stage (docs/training.md; about half the person stage's img/s here).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-output/person_teachers_ssld}
MODEL=${MODEL:-python/personcls/models/person_PPLCNet_x1_0}
EPOCHS=${EPOCHS:-18}
START=${START:-ssld}
CKPT=${CKPT:-latest}
SEED=${SEED:-42}
DATA=../shared/data
CFG=training/configs/PPLCNet_x1_0_person_teachers.yaml
SSLD_OUT=output/ssld_big
STUDENT=${STUDENT:-pplcnet}
MNV2_START=output/mnv2_unfolded/MobileNetV2_imagenet_unfolded
START_OPT=()
if [ "$STUDENT" = "mnv2" ]; then
  START=mnv2
  START_OPT=(-o "Arch.models.1.Student={name: MobileNetV2, class_num: 2, padding: tf_same, pretrained: $MNV2_START, dropout_prob: 0.2}"
    -o "Preprocess.mean=[0.5, 0.5, 0.5]" -o "Preprocess.std=[0.5, 0.5, 0.5]")
elif [ "$STUDENT" != "pplcnet" ]; then
  echo "STUDENT must be pplcnet or mnv2, got $STUDENT" >&2; exit 2
fi
[ "$START" = "ssld" ] && START_OPT=(-o Arch.models.1.Student.pretrained=$SSLD_OUT/PPLCNet_x1_0_ssld_like)
FEAT_OPT=()
[ -n "${FEAT:-}" ] && FEAT_OPT=(-o "Loss.Train.2={DistillationFeatureLoss: {weight: $FEAT}}"
  -o "Arch.models.2={FeatureTeacher: {name: MobileNetV2, class_num: 1000, padding: tf_same, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], pretrained: $DATA/pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams}}"
  -o "Arch.freeze_params_list=[True, False, True]")
COMMON=(-o Global.output_dir=$OUT -o Global.epochs=$EPOCHS -o Global.seed=$SEED "${START_OPT[@]}" "${FEAT_OPT[@]}" ${OVERRIDES:-})
start=$(date +%s)
echo "== transfer set"
python benchmarks/make_transfer_set.py --data $DATA --out output/transfer
if [ "$START" = "ssld" ] && [ ! -f $SSLD_OUT/PPLCNet_x1_0_ssld_like.pdparams ]; then
  echo "== ImageNet start (benchmarks/ssld_like.sh)"
  LISTS=big WHOLE=1 OFFLINE=1 EPOCHS=4 SCALE=0.5 LR=0.05 OUT=$SSLD_OUT bash benchmarks/ssld_like.sh
fi
if [ "$START" = "mnv2" ] && [ ! -f $MNV2_START.pdparams ]; then
  echo "== MobileNetV2 start (benchmarks/bn_unfold.py)"
  python benchmarks/bn_unfold.py --out $MNV2_START
fi
echo "== student (distillation from the external teachers)"
personcls train -c $CFG "${COMMON[@]}" 2>&1 | grep -E "epoch [0-9]+/|done:|distillation:|running|nothing to train"
echo "== export -> $MODEL"
personcls export -c $CFG "${COMMON[@]}" -o Global.pretrained_model=$OUT/DistillationModel/$CKPT \
  -o Global.save_inference_dir=$MODEL 2>&1 | grep -E "exported"
PICK=()
[ "${PICK_THRESHOLD:-0}" = "1" ] && PICK=(--pick-threshold)
python benchmarks/finish_model.py "$MODEL" --val $DATA/vww/val_list.txt "${PICK[@]}" --json "$OUT/finish.json"
echo "== INT8"
personcls quantize -o Global.inference_model_dir=$MODEL -o Quant.calib_list=output/transfer/calib_list.txt
echo "== unselected figures"
python benchmarks/heldout_eval.py --model "$MODEL" --teachers --json "$OUT/heldout.json"
echo "== done in $(( ($(date +%s) - start) / 60 )) min"
