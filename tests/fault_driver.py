"""Runs the bertkit CLI with a fault injected at an optimizer step, for the resume tests (not a test file).

BERTKIT_FAULT=kill:N  SIGKILL this process right after step N (a crash, nothing saved at that moment)
BERTKIT_FAULT=term:N  SIGTERM this process after step N (what a cluster scheduler sends before preempting)
BERTKIT_FAULT=int:N   SIGINT (Ctrl-C) after step N
BERTKIT_FAULT=nan:N   the training loss becomes NaN from step N on
"""

import os
import signal
import sys

import torch

from bertkit.engine import engine as E

kind, _, at = os.environ.get("BERTKIT_FAULT", ":0").partition(":")
at = int(at or 0)
SIG = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "int": signal.SIGINT}

original_after_step = E.Engine._after_step
original_loss = E.Engine._loss


def after_step(self, epoch_end):
    original_after_step(self, epoch_end)
    if kind in SIG and self.state.step == at:
        os.kill(os.getpid(), SIG[kind])


def loss(self, model, batch, lb, window):
    out = original_loss(self, model, batch, lb, window)
    if kind == "nan" and self.state.step + 1 >= at:
        out = out * torch.tensor(float("nan"))
    return out


E.Engine._after_step = after_step
E.Engine._loss = loss

if __name__ == "__main__":
    from bertkit.cli.main import main

    sys.argv = ["bertkit", *sys.argv[1:]]
    main()
