"""The HAMSt3R network (torch only): MASt3R/DUSt3R/DUNE-compatible encoders, decoders and
heads, the optional human heads, checkpoint loading, preprocessing and the pair inference API.

Heavy submodules are imported on use; start from :mod:`.hamst3r` (``Hamst3rModel``) or
:mod:`.checkpoints` (``load_checkpoint``).
"""
