#!/usr/bin/env bash
# Reproduce the shipped default model python/personcls/models/person_PPLCNet_x1_0 in one command,
# from the repository root, on CPU:   bash benchmarks/train_default.sh
# (about 1h45 on a 2-core CPU: ~25 min for the segmenter teacher over the transfer set, once and
# cached; 22 epochs of ~3.4 min at 128 px; the training resumes where it stopped if killed)
#
# 1. transfer set: vww train (labeled) + ugi + frames of the training video clips + a third of
#    imagenette (benchmarks/make_transfer_set.py; held-out clips are kept apart);
# 2. student: PPLCNet_x1_0 from the text-orientation start weights, distilled from two external
#    person teachers (DeepLab v3 segmenter following each crop + VWW classifier on each view),
#    training/configs/PPLCNet_x1_0_person_teachers.yaml; best vww-val epoch kept;
# 3. export into $MODEL (Paddle program + OpenVINO IR + personcls.json), val figures recorded
#    (the decision threshold stays 0.5 unless PICK_THRESHOLD=1), INT8 IR calibrated on 400
#    training images, then the unselected figures (demo photos, held-out video clips) and the
#    agreement with the teachers: benchmarks/heldout_eval.py.
# Set MODEL=some/folder to export elsewhere (default: the packaged model folder), EPOCHS=N, SEED=N.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-output/person_teachers}
MODEL=${MODEL:-python/personcls/models/person_PPLCNet_x1_0}
EPOCHS=${EPOCHS:-22}
SEED=${SEED:-42}
DATA=../shared/data
CFG=training/configs/PPLCNet_x1_0_person_teachers.yaml
COMMON=(-o Global.output_dir=$OUT -o Global.epochs=$EPOCHS -o Global.seed=$SEED ${OVERRIDES:-})
start=$(date +%s)
echo "== transfer set"
python benchmarks/make_transfer_set.py --data $DATA --out output/transfer
echo "== student (distillation from the external teachers)"
personcls train -c $CFG "${COMMON[@]}" 2>&1 | grep -E "epoch [0-9]+/|done:|distillation:|running|nothing to train"
echo "== export -> $MODEL"
personcls export -c $CFG "${COMMON[@]}" -o Global.pretrained_model=$OUT/DistillationModel/best_model \
  -o Global.save_inference_dir=$MODEL 2>&1 | grep -E "exported"
PICK=()
[ "${PICK_THRESHOLD:-0}" = "1" ] && PICK=(--pick-threshold)
python benchmarks/finish_model.py "$MODEL" --val $DATA/vww/val_list.txt "${PICK[@]}" --json "$OUT/finish.json"
echo "== INT8"
personcls quantize -o Global.inference_model_dir=$MODEL -o Quant.calib_list=output/transfer/calib_list.txt
echo "== unselected figures"
python benchmarks/heldout_eval.py --model "$MODEL" --teachers --json "$OUT/heldout.json"
echo "== done in $(( ($(date +%s) - start) / 60 )) min"
