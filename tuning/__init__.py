"""tuning: keras-tuner search over hunt_tf's classifier.

    hunt-tune DATA --run runs/tune --trials 12          # writes runs/tune/best_hparams.json
    hunt-tf train DATA --hparams runs/tune/best_hparams.json
"""

from gradient_hunt.runtime import quiet_tensorflow_imports

quiet_tensorflow_imports()  # before any module here imports Keras
