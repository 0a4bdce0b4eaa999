#!/usr/bin/env bash
# Ablation of the tutorial's strategies on ../shared/data/vww (issue 4 item 5), PULC style:
#   scratch, + pretrained start, + EDA, + distillation (MobileNetV2 teacher trained here, with UGI),
#   + searched hyperparameters.
# Every row is a real `personcls train` run with the same budget (EPOCHS epochs, batch 64, seed 42)
# on vww/train_list.txt, evaluated on vww/val_list.txt. Runs are resumable: a finished run is not
# re-trained (delete its folder under $OUT to redo it). Results: $OUT/ablation.csv + docs/ablation.md.
#   bash benchmarks/ablation.sh            # all rows
#   bash benchmarks/ablation.sh scratch pretrained   # some rows
#   bash benchmarks/ablation.sh search searched      # the full-vww search (output/search_full), then its row
# Run from the repository root (relative paths such as ../shared/data resolve against it).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-output/ablation}
EPOCHS=${EPOCHS:-10}
SEED=${SEED:-42}
SIZE=${SIZE:-96}
DATA=../shared/data
CFG=training/configs/PPLCNet_x1_0.yaml
COMMON=(-o Global.epochs=$EPOCHS -o Global.seed=$SEED -o Global.use_visualdl=False
        -o Optimizer.lr.warmup_epoch=1
        -o Preprocess.resize_short=$SIZE -o Preprocess.crop_size=$SIZE)
NO_PRE=(-o Arch.pretrained=null)
PRE=(-o Arch.pretrained=$DATA/pretrained/PPLCNet_x1_0_textori_init.pdparams)
EDA=(-o DataLoader.Train.dataset.transform_ops.3.TimmAutoAugment.prob=0.5
     -o DataLoader.Train.dataset.transform_ops.5.RandomErasing.EPSILON=0.5)
TEACHER=(-o Arch.name=MobileNetV2 -o Arch.padding=tf_same -o Arch.freeze_bn=True -o Arch.use_ssld=False
         -o Arch.pretrained=$DATA/pretrained/MobileNetV2_imagenet_from_coral_int8.pdparams
         -o "Preprocess.mean=[0.5,0.5,0.5]" -o "Preprocess.std=[0.5,0.5,0.5]" -o Global.epochs=${TEACHER_EPOCHS:-6} -o Optimizer.lr.learning_rate=${TEACHER_LR:-0.002})
T_RUN=${T_RUN:-teacher}    # which teacher row teaches (docs/ablation.md: `teacher`; T_RUN=teacher2 for the other)
DISTILL=(-o Arch.models.0.Teacher.name=MobileNetV2 -o Arch.models.0.Teacher.padding=tf_same
         -o "Arch.models.0.Teacher.mean=[0.5,0.5,0.5]" -o "Arch.models.0.Teacher.std=[0.5,0.5,0.5]"
         -o Arch.models.0.Teacher.pretrained=$OUT/$T_RUN/MobileNetV2/best_model -o Arch.models.0.Teacher.offline=True)
DCFG=training/configs/PPLCNet_x1_0_distillation.yaml
# the settings `personcls search -c training/configs/PPLCNet_x1_0_search_vww.yaml` picked
# (output/search_full/results.md, docs/ablation.md "Search"); SEARCHED="-o ..." to try others
SEARCHED=${SEARCHED:-"-o Optimizer.lr.learning_rate=0.02 -o DataLoader.Train.dataset.transform_ops.1.RandCropImage.scale=[0.08,1.0]
  -o DataLoader.Train.dataset.transform_ops.3.TimmAutoAugment.prob=0.0 -o DataLoader.Train.dataset.transform_ops.5.RandomErasing.EPSILON=0.0
  -o Preprocess.resize_short=96 -o Preprocess.crop_size=96"}
S_T_RUN=${S_T_RUN:-teacher2}   # the searched row distills from the better teacher (the shipped model's)

run() {  # name, args...
  local name=$1; shift
  echo "=== $name: personcls $*" | tee -a "$OUT/commands.txt"
  personcls "$@" 2>&1 | grep -v -i "warn" | tee "$OUT/$name.log" | grep -E "epoch [0-9]+/|done:|eval " || true
}

mkdir -p "$OUT"
ROWS=("$@"); [ ${#ROWS[@]} -eq 0 ] && ROWS=(scratch pretrained eda teacher teacher2 distill)
for row in "${ROWS[@]}"; do
  case $row in
    scratch)    run scratch train -c $CFG "${COMMON[@]}" "${NO_PRE[@]}" -o Global.output_dir=$OUT/scratch ;;
    pretrained) run pretrained train -c $CFG "${COMMON[@]}" "${PRE[@]}" -o Global.output_dir=$OUT/pretrained ;;
    eda)        run eda train -c $CFG "${COMMON[@]}" "${PRE[@]}" "${EDA[@]}" -o Global.output_dir=$OUT/eda ;;
    distill)    # + distillation: frozen MobileNetV2 teacher (offline outputs), vww train + 1000 UGI images
                run distill_$T_RUN train -c $DCFG "${COMMON[@]}" "${EDA[@]}" "${DISTILL[@]}" -o Global.output_dir=$OUT/distill_$T_RUN ;;
    search)     # the greedy search whose picks are SEARCHED (~14 min here; resumable: rerun to continue)
                personcls search -c training/configs/PPLCNet_x1_0_search_vww.yaml 2>&1 | grep -v -i "warn" \
                  | grep -E "^\||best:|search |wrote" || true ;;
    searched)   # + the searched hyperparameters
                run searched train -c $DCFG "${COMMON[@]}" "${EDA[@]}" "${DISTILL[@]}" \
                    -o Arch.models.0.Teacher.pretrained=$OUT/$S_T_RUN/MobileNetV2/best_model $SEARCHED -o Global.output_dir=$OUT/searched ;;
    searched_crops50|shipped_10ep)  # separate the searched lr from the crop range: teacher2, crops 50-100%, no EDA,
                # lr 0.02 (searched) or 0.01 (the shipped recipe, here at the rows' 10 epochs)
                lr=0.02; [ $row = shipped_10ep ] && lr=0.01
                run $row train -c $DCFG "${COMMON[@]}" "${DISTILL[@]}" -o Arch.models.0.Teacher.pretrained=$OUT/$S_T_RUN/MobileNetV2/best_model \
                    -o Optimizer.lr.learning_rate=$lr -o "DataLoader.Train.dataset.transform_ops.1.RandCropImage.scale=[0.5,1.0]" \
                    -o Global.output_dir=$OUT/$row ;;
    teacher2)   # the same teacher with milder crops (>= 50% of the 96x96 image, so the person stays in it)
                run teacher2 train -c $CFG "${COMMON[@]}" "${TEACHER[@]}" -o Optimizer.lr.learning_rate=${TEACHER2_LR:-0.0005} \
                    -o "DataLoader.Train.dataset.transform_ops.1.RandCropImage.scale=[0.5,1.0]" -o Global.output_dir=$OUT/teacher2 ;;
    teacher)    # MobileNetV2 from the ImageNet weights (TF padding, mean = std = 0.5, BN folded -> frozen BN)
                run teacher train -c $CFG "${COMMON[@]}" "${TEACHER[@]}" -o Global.output_dir=$OUT/teacher ;;
    *) echo "unknown row $row" >&2; exit 2 ;;
  esac
done
