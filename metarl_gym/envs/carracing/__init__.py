"""MetaRL/CarRacing-v0: Gymnasium's CarRacing-v3 as a torch batch (track, car, rewards and 96x96 frames).

* :mod:`.track` — the track, generated with CarRacing-v3's own numpy calls per row at reset;
"""
