"""gan_tf: a DCGAN (a subclassed keras.Model with its own train_step) that draws digits.

    gan-tf train --dataset mnist --epochs 30 --run runs/gan
    gan-tf sample --run runs/gan --n 64 --out samples/
    gan-tf evaluate --run runs/gan
"""

from gradient_hunt.runtime import quiet_tensorflow_imports

quiet_tensorflow_imports()  # before any module here imports Keras
