"""hunt_tf: tell AI-generated images from real ones, from a Gradient Hunt style folder.

    hunt-tf audit DATA                       # can format/size alone predict the label?
    hunt-tf train DATA --run runs/hunt       # model.keras, submission.csv, report/
    hunt-tf predict --run runs/hunt --images DIR --out submission.csv
"""

from gradient_hunt.runtime import quiet_tensorflow_imports

quiet_tensorflow_imports()  # before any module here imports Keras
