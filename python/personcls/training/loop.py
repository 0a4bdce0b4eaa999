"""One training epoch: batches through the network, the loss, the optimizer step.

Everything random in an epoch is a function of (``Global.seed``, epoch): the shuffle order
(the sampler), each sample's augmentation (seeded by (seed, epoch, index) in the dataset), a
batch op's draw (seeded by (seed, epoch, step)) and
Paddle's generator (dropout), seeded here at the start of the epoch. The learning rate is set
at every step from ``recipe.lr_at``. So an epoch run after a resume is the epoch an
uninterrupted run would have run.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..errors import ModelError
from .recipe import lr_at
from .runlog import progress

log = logging.getLogger("personcls.training")


@dataclass
class EpochStats:
    """Sums over one epoch's readable training images (all ranks once ``reduce``d)."""

    loss_sum: float = 0.0
    correct: float = 0.0      # argmax == label, over labeled images
    seen: float = 0.0         # images trained on
    labeled: float = 0.0      # of those, with a label (distillation lists may hold unlabeled ones)
    mixed: float = 0.0        # of those, views mixed by the batch op
    bad: List[int] = field(default_factory=list)  # dataset indices of unreadable images (this rank)
    n_bad: float = 0.0
    lr: float = 0.0           # the last step's learning rate
    seconds: float = 0.0      # time in the batch loop

    def reduce(self, nranks: int) -> None:
        """Sum the counts over the ranks of a data-parallel run (``bad`` stays this rank's)."""
        if nranks <= 1:
            self.n_bad = len(self.bad)
            return
        import paddle

        t = paddle.to_tensor([self.loss_sum, self.correct, self.seen, float(len(self.bad)), self.labeled, self.mixed],
                             dtype="float64")
        paddle.distributed.all_reduce(t)
        self.loss_sum, self.correct, self.seen, self.n_bad, self.labeled, self.mixed = t.numpy().tolist()

    def row(self) -> Dict[str, Any]:
        """The training columns of the epoch's metrics.csv row."""
        return {"lr": f"{self.lr:.6g}", "train_loss": f"{self.loss_sum / max(self.seen, 1):.6f}",
                "train_acc": f"{self.correct / max(self.labeled, 1):.6f}", "bad_images": int(self.n_bad),
                "mixed_views": int(self.mixed),
                "images_per_s": f"{self.seen / max(self.seconds, 1e-9):.2f}"}


@dataclass
class Step:
    """What one optimizer step needs, fixed for a run."""

    net: Any                   # the model, or its DataParallel wrapper
    opt: Any
    criterion: Callable        # (outputs, labels) -> (loss, parts)
    teach: Callable            # (outputs, x, labels, idx, boxes, mix) -> outputs with the teacher's added
    cfg: Dict[str, Any]
    steps_per_epoch: int
    scaler: Any = None         # paddle.amp.GradScaler when training with AMP
    amp_level: str = "O1"
    mix: Any = None            # the batch op (DataLoader.Train.dataset.batch_transform_ops) or None
    masks: Optional[Callable] = None  # (idx, boxes, h, w) -> [N, h, w] the views' person masks, for the batch op


def _drop_unreadable(batch, stats: EpochStats):
    """The batch without its unreadable images (their indices go to ``stats.bad``); None if empty."""
    import paddle

    x, y, idx, ok = batch[:4]
    box = batch[4].numpy() if len(batch) > 4 else None
    m = ok.numpy().astype(bool)
    if not m.all():
        stats.bad += [int(j) for j in idx.numpy()[~m]]
        if not m.any():
            return None
        x, y = paddle.to_tensor(x.numpy()[m]), paddle.to_tensor(y.numpy()[m])
        idx = paddle.to_tensor(idx.numpy()[m])
        box = box[m] if box is not None else None
    return x, y, idx, box, int(m.sum())


def _mix_batch(op, x, y, rng, masks=None):
    """Mix a batch with the batch op (``augment.CutMix`` / ``augment.PersonPaste``): (x, y, mix)
    with the mixed views' labels as the op sets them and ``mix`` (``augment.Mix``) for the
    teacher, or the batch unchanged and ``mix`` None. ``masks(h, w)``: the views' person masks."""
    import paddle

    xm, ym, mix = op.mix_batch(x.numpy(), y.numpy(), rng, masks)
    if mix is None:
        return x, y, None
    return paddle.to_tensor(xm), paddle.to_tensor(ym), mix


def _check_finite(loss, parts: Dict[str, float], where: str) -> None:
    """Stop the run on a loss that is not a finite number, before the step writes it into the
    weights: the checkpoints on disk stay the last good ones."""
    if not np.isfinite(float(loss)):
        bad = ", ".join(f"{k} {v:.4g}" for k, v in parts.items()) or "no part"
        raise ModelError(f"training diverged at {where}: loss {float(loss)} ({bad}); the checkpoints keep the "
                         f"last finished epoch; lower Optimizer.lr.learning_rate or the loss weight that blew up, "
                         f"then resume")


def _step(s: Step, x, y, idx, box, mix=None, where: str = ""):
    """Forward, loss, backward and optimizer step on one batch; returns (loss, outputs)."""
    import paddle

    if s.scaler is not None:
        with paddle.amp.auto_cast(level=s.amp_level):
            out = s.net(x)
        out = s.teach(out, x, y, idx, box, mix)
        loss, _ = s.criterion(out, y)  # the scaler skips a step whose gradients are not finite
        s.scaler.scale(loss).backward()
        s.scaler.step(s.opt)
        s.scaler.update()
    else:
        out = s.teach(s.net(x), x, y, idx, box, mix)
        loss, parts = s.criterion(out, y)
        _check_finite(loss, parts, where)
        loss.backward()
        s.opt.step()
    s.opt.clear_grad()
    return loss, out


def train_one_epoch(s: Step, loader, epoch: int, epochs: int, seed: int, sampler,
                    before: Optional[Callable[[], None]] = None, print_every: int = 0) -> EpochStats:
    """Train epoch ``epoch`` (1-based) of ``epochs``. ``before`` runs after the network is put in
    training mode (e.g. to keep BatchNorm statistics frozen)."""
    import paddle

    paddle.seed(seed * 1000 + epoch)  # dropout etc.: a function of (seed, epoch)
    sampler.set_epoch(epoch)
    s.net.train()
    if before is not None:
        before()
    stats = EpochStats()
    tty = sys.stderr.isatty()
    steps = s.steps_per_epoch
    t0 = time.time()
    for i, batch in enumerate(progress(loader, steps, f"epoch {epoch}/{epochs}")):
        kept = _drop_unreadable(batch, stats)
        if kept is None:
            continue
        x, y, idx, box, n = kept
        mix = None
        if s.mix is not None:  # a function of (seed, epoch, step), like everything else here
            views = None
            if s.masks is not None:  # set only for an op that needs them (engine)
                views = (lambda h, w, idx=idx, box=box: s.masks(idx.numpy(), box, h, w))
            x, y, mix = _mix_batch(s.mix, x, y, np.random.default_rng([seed, epoch, i, 1]), views)
            stats.mixed += 0 if mix is None else int((mix.partner >= 0).sum())
        stats.lr = lr_at((epoch - 1) * steps + i, steps, s.cfg)
        s.opt.set_lr(stats.lr)
        loss, out = _step(s, x, y, idx, box, mix, f"epoch {epoch} step {i + 1}")
        logits = out["Student"] if isinstance(out, dict) else out
        stats.loss_sum += float(loss) * n
        stats.correct += float((logits.argmax(axis=-1) == y).astype("float32").sum())
        stats.labeled += float((y >= 0).astype("float32").sum())
        stats.seen += n
        if not tty and print_every and (i + 1) % print_every == 0:
            log.info("epoch %d [%d/%d] lr %.5f loss %.4f acc %.4f", epoch, i + 1, steps, stats.lr,
                     stats.loss_sum / max(stats.seen, 1), stats.correct / max(stats.labeled, 1))
    stats.seconds = time.time() - t0
    return stats
