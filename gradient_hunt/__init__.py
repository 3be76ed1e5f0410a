"""gradient_hunt: the core that gan_tf, hunt_tf and tuning share, and the end-to-end demo.

    runtime    how TensorFlow runs: quiet import, devices, precision, XLA, strategy
    precision  the measured choice between float32 and bfloat16 on this CPU (cached)
    console    how a console script runs a command: one-line user errors, tracebacks for bugs
    errors     UserError, the base of every error that is the user's to fix
    atomic     files written in one step
    settings   dataclass configs whose comments are the --help text, saved as JSON
    rundir     run directories that continue only with the settings they were made with
    images     decoding any image file by content, within a memory budget
    nan_guard  stop fit at the first non-finite loss
    time_limit stop fit at the first epoch end past a number of seconds
    cache      ~/.cache/gradient-hunt
    demo       `make demo`: GAN -> hunt folder -> tune -> CNN -> score

Nothing here imports gan_tf, hunt_tf or tuning.
"""

from gradient_hunt.runtime import quiet_tensorflow_imports

quiet_tensorflow_imports()  # before any module here imports Keras
