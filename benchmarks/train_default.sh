#!/usr/bin/env bash
# Reproduce the shipped default model python/personcls/models/person_MobileNetV2 in one command,
# from the repository root, on CPU:   bash benchmarks/train_default.sh
# (about 35 min on a 2-core CPU, most of it the segmenter teacher over the transfer set, ~15 min,
# once and cached, and the backbone's features, ~14 min)
#
# RECIPE=head (default, the shipped model):
# 1. transfer set: vww train (labeled) + ugi + frames of the training video clips + a third of
#    imagenette (benchmarks/make_transfer_set.py; held-out clips are kept apart);
# 2. backbone: the shared ImageNet MobileNetV2 with BatchNorm statistics recovered from its folded
#    TFLite weights (benchmarks/bn_unfold.py; the same function);
# 3. head: the backbone kept frozen, its 1280 -> 2 layer fitted to the teachers of
#    training/configs/PPLCNet_x1_0_person_teachers.yaml (DeepLab v3 segmenter + VWW classifier,
#    whole image, averaged) and the vww labels, over the transfer set, both mirror views
#    (benchmarks/fit_head.py; L2 strength by 5-fold CV on the transfer set);
# 4. export into $MODEL (Paddle program + OpenVINO IR + personcls.json; the folder's MODEL_CARD.md
#    is kept), val figures recorded (the decision threshold stays 0.5 unless PICK_THRESHOLD=1), INT8
#    IR calibrated on 300 training images, then the unselected figures (demo photos, held-out video
#    clips) and the agreement with the teachers: benchmarks/heldout_eval.py.
#
# RECIPE=pplcnet: the previous default, PPLCNet_x1_0 distilled from the same teachers
# (about 2h15): ImageNet start (benchmarks/ssld_like.sh: the ImageNet MobileNetV2's outputs
# distilled into PPLCNet_x1_0 over 16,024 images, 4 epochs; START=textori skips it), then 18 epochs
# on consistent targets (the segmenter's mask follows each crop, the VWW classifier judges each
# view); the LAST epoch is exported (CKPT=best_model: the best vww-val epoch). EPOCHS=N, SEED=N;
# FEAT=<weight> adds a frozen ImageNet MobileNetV2 as a FeatureTeacher with DistillationFeatureLoss
# (docs/training.md; about half the person stage's img/s here). Exports to output/person_PPLCNet_x1_0.
# Set MODEL=some/folder to export elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-output/person_teachers_ssld}
RECIPE=${RECIPE:-head}
case "$RECIPE" in
  head) MODEL=${MODEL:-python/personcls/models/person_MobileNetV2} ;;
  pplcnet) MODEL=${MODEL:-output/person_PPLCNet_x1_0} ;;
  *) echo "RECIPE must be head or pplcnet, got $RECIPE" >&2; exit 2 ;;
esac
EPOCHS=${EPOCHS:-18}
START=${START:-ssld}
CKPT=${CKPT:-latest}
SEED=${SEED:-42}
DATA=../shared/data
CFG=training/configs/PPLCNet_x1_0_person_teachers.yaml
SSLD_OUT=output/ssld_big
MNV2_START=output/mnv2_unfolded/MobileNetV2_imagenet_unfolded
START_OPT=()
[ "$START" = "ssld" ] && START_OPT=(-o Arch.models.1.Student.pretrained=$SSLD_OUT/PPLCNet_x1_0_ssld_like)
FEAT_OPT=()
[ -n "${FEAT:-}" ] && FEAT_OPT=(-o "Loss.Train.2={DistillationFeatureLoss: {weight: $FEAT}}"
  -o "Arch.models.2={FeatureTeacher: {name: MobileNetV2, class_num: 1000, padding: tf_same, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], pretrained: $DATA/pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams}}"
  -o "Arch.freeze_params_list=[True, False, True]")
COMMON=(-o Global.output_dir=$OUT -o Global.epochs=$EPOCHS -o Global.seed=$SEED "${START_OPT[@]}" "${FEAT_OPT[@]}" ${OVERRIDES:-})
start=$(date +%s)
echo "== transfer set"
python benchmarks/make_transfer_set.py --data $DATA --out output/transfer
if [ "$RECIPE" = "head" ]; then
  OUT=${HEAD_OUT:-output/mnv2_head}
  if [ ! -f $MNV2_START.pdparams ]; then
    echo "== backbone (benchmarks/bn_unfold.py)"
    python benchmarks/bn_unfold.py --out $MNV2_START
  fi
  echo "== head (benchmarks/fit_head.py)"
  python benchmarks/fit_head.py --config $CFG --weights $MNV2_START --out $OUT/DistillationModel/latest \
    --json $OUT/fit.json 2>&1 | grep -vi warn
  echo "== export -> $MODEL"
  personcls export -c $CFG -o "Arch.models.1.Student={name: MobileNetV2, class_num: 2, padding: tf_same}" \
    -o "Preprocess.mean=[0.5, 0.5, 0.5]" -o "Preprocess.std=[0.5, 0.5, 0.5]" \
    -o Global.pretrained_model=$OUT/DistillationModel/latest -o Global.save_inference_dir=$MODEL 2>&1 | grep -E "exported"
else
  if [ "$START" = "ssld" ] && [ ! -f $SSLD_OUT/PPLCNet_x1_0_ssld_like.pdparams ]; then
    echo "== ImageNet start (benchmarks/ssld_like.sh)"
    LISTS=big WHOLE=1 OFFLINE=1 EPOCHS=4 SCALE=0.5 LR=0.05 OUT=$SSLD_OUT bash benchmarks/ssld_like.sh
  fi
  echo "== student (distillation from the external teachers)"
  personcls train -c $CFG "${COMMON[@]}" 2>&1 | grep -E "epoch [0-9]+/|done:|distillation:|running|nothing to train"
  echo "== export -> $MODEL"
  personcls export -c $CFG "${COMMON[@]}" -o Global.pretrained_model=$OUT/DistillationModel/$CKPT \
    -o Global.save_inference_dir=$MODEL 2>&1 | grep -E "exported"
fi
PICK=()
[ "${PICK_THRESHOLD:-0}" = "1" ] && PICK=(--pick-threshold)
python benchmarks/finish_model.py "$MODEL" --val $DATA/vww/val_list.txt "${PICK[@]}" --json "$OUT/finish.json"
echo "== INT8"
personcls quantize -o Global.inference_model_dir=$MODEL -o Quant.calib_list=output/transfer/calib_list.txt
echo "== unselected figures"
python benchmarks/heldout_eval.py --model "$MODEL" --teachers --json "$OUT/heldout.json"
echo "== done in $(( ($(date +%s) - start) / 60 )) min"
