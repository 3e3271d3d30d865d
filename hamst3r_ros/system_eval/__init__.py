"""The whole system measured end to end against ground truth (``hamst3r eval-system``, and
the live scoring of ``hamst3r demo``).

Modules:
    scenes   the held-out scenes, rendered once into a cache folder
    truth    a rendered frame set's truth as the pipeline sees the images (within the crops)
    oracle   the ``oracle`` setting: true pointmaps, the network's human outputs
    runner   the real pipeline, built as the node builds it, on scenes in three settings
    report   pooled summaries, tables, JSON and the one-line yardstick
    live     scoring a running node's outputs (the demo)
    picture  the published cloud beside the ground truth
"""
