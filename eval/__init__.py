"""eval: metrics of generated video, as torchmetrics ``Metric`` objects that take frames.

- :mod:`eval.frechet` — the Fréchet distance (float64, symmetric eigenproblem, FD∞).
- :mod:`eval.fvd` — ``FrechetVideoDistance`` with I3D (:mod:`eval.i3d`), VideoMAE or the shipped
  ``synthvid-tiny-video`` (:mod:`eval.video_encoder`) features.
- :mod:`eval.clipsim` — ``CLIPSIM`` over any open_clip model (:mod:`eval.encoders`).
- :mod:`eval.temporal` — CLIP-Temp, VBench subject/background consistency and temporal flickering,
  warping error, motion magnitude and dynamic degree (flow: OpenCV DIS, or RAFT from :mod:`eval.raft`),
  streamed over a clip's frames (``TemporalStream``).
- :mod:`eval.quality` — VBench's aesthetic quality (LAION's head on CLIP) and imaging quality (MUSIQ,
  :mod:`eval.musiq`); :mod:`eval.amt` — VBench's motion smoothness (AMT-S frame interpolation).
- :mod:`eval.evaluate` and :mod:`eval.cli` — ``synthvid eval`` over folders of clips (the only place
  that reads files, through :mod:`provenance.media`).

Importing this package is cheap: torch, open_clip and torchmetrics load with the submodules that need them.
"""
