"""Training code for readable-fp's StyleGAN2 dog generator (not part of the installed package).

Run ``python gan_training/train.py --help``; see gan_training/README.md."""
